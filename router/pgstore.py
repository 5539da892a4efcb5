"""The lease store on PostgreSQL (psycopg 3): one database shared by access
routers on several machines, as several kea-dhcp6 servers share one lease
database.

The rules are :class:`~router.store.LeaseStore`'s: the writes of a batch are
one transaction, and the core commits it before the Replies of that batch
leave (RFC 8415 §18.3), so nothing is acknowledged that the server has not
made durable (``synchronous_commit`` as the server is configured: on by
default). A prefix is held by at most one binding: the ``bindings`` table's
PRIMARY KEY on the prefix (``cidr``) is the database's constraint, not a check
of ours, so two routers allocating the same prefix at the same instant cannot
both win: the second one's ``INSERT … ON CONFLICT DO NOTHING`` waits for the
first one's transaction and then inserts nothing (:meth:`insert` returns
``False``), or inserts if the first one rolled back.

Schema. The tables carry a version (table ``schema_version``);
:data:`MIGRATIONS` takes a database from one version to the next, each step in
one transaction with its version bump. ``odm router db init`` creates the
schema of an empty database, ``odm router db upgrade`` applies the missing
steps (:func:`init_schema`, :func:`upgrade_schema`), in the spirit of
``kea-admin db-init pgsql`` / ``db-upgrade``. A router never changes the schema
itself: it refuses a database that is not initialised, older or newer than it
knows, with one line naming the command to run (:class:`SchemaVersionError`).

Connection faults. Any error that leaves the connection broken (server
restarted, network gone) closes it and raises
:class:`~router.errors.StoreError`; the next call connects again. A read, or
the start of a batch, that finds the connection dead (the server restarted
since the last call) connects again at once and retries, once: nothing was
done on the dead connection. A batch open
when the connection went is lost with it: the writes of the batch and the
commit raise :class:`StoreError` until :meth:`~PostgresLeaseStore.rollback`, so
its Replies are never sent (the clients retransmit). ``timeout`` bounds how
long a statement, a lock wait on another router's uncommitted row included,
may take.

Moves (version 2). A trigger on ``bindings`` sends ``NOTIFY odm_binding_moved``
with a JSON payload ``{"anchor", "prefix", "served_by"}`` whenever a binding's
serving router changes (a host Rebound at another router, or came back), or a
binding served away from its anchor is deleted. PostgreSQL delivers a
notification only when the transaction that wrote the row commits, so a router
that hears one reads a committed row: the table stays the source of truth, the
notification only says when to look (:meth:`PostgresLeaseStore.listen_moves`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import select
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

from odm_wire.constants import MobilityType
from router.core.bindings import Binding, BindingState
from router.errors import StoreError
from router.store import LeaseStore, MovedNotice, SchemaVersionError

__all__ = ["MIGRATIONS", "MOVED_CHANNEL", "PG_SCHEMA_VERSION", "PostgresLeaseStore",
           "init_schema", "schema_version", "upgrade_schema"]

log = logging.getLogger(__name__)

MOVED_CHANNEL = "odm_binding_moved"

#: version → the statements that take a database from version-1 to it
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE schema_version (
               version    integer NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE bindings (
               prefix             cidr PRIMARY KEY CHECK (family(prefix) = 6),
               duid               bytea NOT NULL,
               iaid               bigint NOT NULL CHECK (iaid BETWEEN 0 AND 4294967295),
               mobility_type      smallint CHECK (mobility_type BETWEEN 1 AND 7),
               pool               text,
               interface          text NOT NULL,
               client_ll          inet,
               anchor             text NOT NULL,
               served_by          text NOT NULL,
               state              text NOT NULL,
               preferred_lifetime bigint NOT NULL,
               valid_lifetime     bigint NOT NULL,
               preferred_until    double precision NOT NULL,
               valid_until        double precision NOT NULL,
               cltt               double precision NOT NULL)""",
        "CREATE INDEX bindings_client ON bindings (duid, iaid)",
        "CREATE INDEX bindings_served ON bindings (served_by, interface)",
        "CREATE INDEX bindings_anchor ON bindings (anchor)",
        "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
    ),
    2: (
        f"""CREATE FUNCTION odm_binding_moved() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'DELETE' THEN
                IF OLD.served_by <> OLD.anchor THEN
                  PERFORM pg_notify('{MOVED_CHANNEL}', json_build_object(
                    'anchor', OLD.anchor, 'prefix', OLD.prefix::text,
                    'served_by', NULL)::text);
                END IF;
                RETURN OLD;
              END IF;
              IF (TG_OP = 'INSERT' AND NEW.served_by <> NEW.anchor)
                 OR (TG_OP = 'UPDATE' AND (NEW.served_by IS DISTINCT FROM OLD.served_by
                                           OR NEW.anchor IS DISTINCT FROM OLD.anchor)) THEN
                PERFORM pg_notify('{MOVED_CHANNEL}', json_build_object(
                  'anchor', NEW.anchor, 'prefix', NEW.prefix::text,
                  'served_by', NEW.served_by)::text);
                IF TG_OP = 'UPDATE' AND OLD.anchor <> NEW.anchor THEN
                  PERFORM pg_notify('{MOVED_CHANNEL}', json_build_object(
                    'anchor', OLD.anchor, 'prefix', OLD.prefix::text,
                    'served_by', NEW.served_by)::text);
                END IF;
              END IF;
              RETURN NEW;
            END $$""",
        """CREATE TRIGGER bindings_moved AFTER INSERT OR UPDATE OR DELETE ON bindings
               FOR EACH ROW EXECUTE FUNCTION odm_binding_moved()""",
    ),
}
PG_SCHEMA_VERSION = max(MIGRATIONS)

_COLUMNS = ("prefix, duid, iaid, mobility_type, pool, interface, client_ll, anchor, "
            "served_by, state, preferred_lifetime, valid_lifetime, preferred_until, "
            "valid_until, cltt")
_SELECT = f"SELECT {_COLUMNS} FROM bindings"
_VALUES = ", ".join(["%s"] * 15)
_INSERT = f"INSERT INTO bindings ({_COLUMNS}) VALUES ({_VALUES}) ON CONFLICT (prefix) DO NOTHING"
_UPSERT = (f"INSERT INTO bindings ({_COLUMNS}) VALUES ({_VALUES}) ON CONFLICT (prefix) DO "
           "UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}"
                                     for c in _COLUMNS.split(", ")[1:]))
_MT = {int(m): m for m in MobilityType}
_STATES = {s.value: s for s in BindingState}
_STATE_TEXT = {s: s.value for s in BindingState}
_LOCK_KEY = 0x6F646D  # "odm": pg_advisory_xact_lock key serialising schema changes


def _psycopg():
    try:
        import psycopg
    except ImportError as exc:
        raise StoreError("the PostgreSQL lease store needs psycopg 3: "
                         "pip install 'odm[postgresql]'") from exc
    return psycopg


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ------------------------------------------------------------ the schema --
def schema_version(db) -> int | None:
    """The schema version of the database behind connection ``db``, or
    ``None`` when it holds no odm schema."""
    row = db.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not row[0]:
        return None
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return None if row[0] is None else int(row[0])


def _migrate(db, start: int | None, target: int) -> list[int]:
    done = []
    v = start or 0
    for nv in range(v + 1, target + 1):
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            now = schema_version(db) or 0
            if now >= nv:  # another operator's upgrade got there first
                continue
            for sql in MIGRATIONS[nv]:
                db.execute(sql)
            if nv == 1:
                db.execute("INSERT INTO schema_version (version) VALUES (1)")
            else:
                db.execute("UPDATE schema_version SET version = %s, applied_at = now()",
                           (nv,))
        done.append(nv)
    return done


def init_schema(db, target: int = PG_SCHEMA_VERSION) -> int:
    """Create odm's tables in the empty database of connection ``db`` (at
    version ``target``; the newest by default). Refuses a database that already
    has them (:class:`SchemaVersionError`): that one is upgraded."""
    v = schema_version(db)
    if v is not None:
        raise SchemaVersionError(f"the lease database already holds odm schema version {v}: "
                                 f"use 'odm router db upgrade'")
    _migrate(db, None, target)
    return target


def upgrade_schema(db, target: int = PG_SCHEMA_VERSION) -> tuple[int, int]:
    """Apply the missing migrations; returns (version before, version after).
    Refuses an uninitialised database and one newer than this odm."""
    v = schema_version(db)
    if v is None:
        raise SchemaVersionError("the lease database holds no odm schema: "
                                 "run 'odm router db init' first")
    if v > PG_SCHEMA_VERSION:
        raise SchemaVersionError(f"the lease database has schema version {v}, newer than "
                                 f"this odm knows ({PG_SCHEMA_VERSION}): upgrade odm")
    _migrate(db, v, target)
    return v, max(v, target)


@dataclass
class _Listener:
    anchor: str
    conn: object


class PostgresLeaseStore(LeaseStore):
    """:class:`~router.store.LeaseStore` on a PostgreSQL database.

    ``conninfo``: a libpq connection string or URI; ``password``: given apart
    from it so it never appears in a message; ``where``: how the database is
    named in messages (default ``conninfo``). ``check_schema``: refuse a
    database whose schema version is not :data:`PG_SCHEMA_VERSION`
    (:class:`~router.store.SchemaVersionError`); the ``db`` commands open it
    with ``False``.
    """

    def __init__(self, conninfo: str = "", *, password: str | None = None,
                 connect_timeout: float = 5.0, timeout: float = 5.0,
                 where: str | None = None, check_schema: bool = True) -> None:
        self._pg = _psycopg()
        self._conninfo = conninfo
        self._password = password
        self._connect_timeout = max(1, math.ceil(connect_timeout))
        self._timeout_ms = max(1, round(timeout * 1000))
        self.where = where or f"postgresql: {conninfo}"
        self._check_schema = check_schema
        self._db = None
        self._in_txn = False
        self._aborted = False   # the open batch is lost (connection gone, or a failed statement)
        self._listener: _Listener | None = None
        self.reconnects = 0
        self._connect_timeout_s = connect_timeout
        self._timeout_s = timeout
        self._db = self._connect()

    @property
    def remote(self) -> bool:
        return True

    def clone(self) -> PostgresLeaseStore:
        """Another store on the same database (a connection of its own), for
        the agent's commit thread. Raises StoreError."""
        return PostgresLeaseStore(self._conninfo, password=self._password,
                                  connect_timeout=self._connect_timeout_s,
                                  timeout=self._timeout_s, where=self.where,
                                  check_schema=self._check_schema)

    # -- connection ----------------------------------------------------------
    def _open_connection(self):
        kw = {"autocommit": True, "connect_timeout": self._connect_timeout,
              "application_name": "odm-router", "keepalives": 1, "keepalives_idle": 10,
              "keepalives_interval": 5, "keepalives_count": 3}
        if self._password is not None:
            kw["password"] = self._password
        try:
            db = self._pg.connect(self._conninfo, **kw)
        except self._pg.Error as exc:
            raise StoreError(f"cannot connect to the lease database ({self.where}): "
                             f"{_first_line(exc)}") from None
        return db

    def _connect(self):
        db = self._open_connection()
        try:
            db.execute(f"SET statement_timeout = {self._timeout_ms}")
            db.execute(f"SET lock_timeout = {self._timeout_ms}")
            if self._check_schema:
                v = schema_version(db)
                if v != PG_SCHEMA_VERSION:
                    db.close()
                    raise SchemaVersionError(_version_problem(v))
        except self._pg.Error as exc:
            db.close()
            raise StoreError(f"lease database ({self.where}): {_first_line(exc)}") from None
        return db

    def _conn(self):
        if self._db is None:
            if self._in_txn:
                raise StoreError(f"lease database ({self.where}): connection lost, the open "
                                 "batch is gone (roll back)")
            self._db = self._connect()
            self.reconnects += 1
            log.info("lease database connection re-established (%s)", self.where)
        return self._db

    def _failed(self, what: str, exc: Exception) -> StoreError:
        """The StoreError for ``exc``; drops a broken connection, marks the
        open batch lost."""
        db = self._db
        if db is not None and (db.closed or db.broken):
            self._drop()
            log.warning("lease database connection lost (%s): %s", self.where,
                        _first_line(exc))
        if self._in_txn:
            self._aborted = True
        return StoreError(f"lease database ({self.where}) {what} failed: {_first_line(exc)}")

    def _drop(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(Exception):  # already broken
                db.close()

    def _retrying(self, what: str, fn):
        """``fn(connection)``; outside a batch, once more on a new connection
        when the first one turns out dead (a server restart since the last
        call: nothing was done on it, so nothing is lost or done twice)."""
        db = self._conn()
        try:
            return fn(db)
        except self._pg.Error as exc:
            err = self._failed(what, exc)
            if self._in_txn or self._db is not None:
                raise err from None
        try:
            return fn(self._conn())
        except self._pg.Error as exc:
            raise self._failed(what, exc) from None

    def _begin(self):
        if self._aborted:
            raise StoreError(f"lease database ({self.where}): the open batch failed "
                             "(roll back)")
        if not self._in_txn:
            self._retrying("begin", lambda db: db.execute("BEGIN"))
            self._in_txn = True
        return self._db

    # -- rows ------------------------------------------------------------------
    @staticmethod
    def _row(b: Binding) -> tuple:
        mt = b.mobility_type
        return (b.prefix, b.duid, b.iaid, None if mt is None else int(mt), b.pool,
                b.interface, b.client_ll, b.anchor, b.served_by, _STATE_TEXT[b.state],
                b.preferred_lifetime, b.valid_lifetime, b.preferred_until, b.valid_until,
                b.cltt)

    @staticmethod
    def _binding(r: tuple, same=lambda v, _: v) -> Binding:
        ll = r[6]
        if ll is not None and not isinstance(ll, IPv6Address):
            ll = ll.ip  # an inet with a netmask loads as an interface
        p = r[0]
        if not isinstance(p, IPv6Network):
            p = IPv6Network(p)
        return Binding.from_key(
            (int(p.network_address) << 8) | p.prefixlen, bytes(r[1]), r[2], _MT.get(r[3]),
            same(r[4], r[4]), same(r[5], r[5]), None if ll is None else int(ll),
            same(r[7], r[7]), same(r[8], r[8]), _STATES.get(r[9], BindingState.ACTIVE),
            same(r[10], r[10]), same(r[11], r[11]), r[12], r[13], r[14])

    def _query(self, sql: str, args: tuple = ()) -> list[Binding]:
        if self._aborted:
            raise StoreError(f"lease database ({self.where}): the open batch failed "
                             "(roll back)")
        conv = self._binding

        def read(db):
            # converted as fetched, a few thousand rows at a time; the values
            # rows repeat (pool, interface, router ids, lifetimes) kept once
            # (router.store.read_bindings)
            cur = db.execute(sql, args)
            out: list[Binding] = []
            memo: dict = {}
            same = memo.setdefault
            while rows := cur.fetchmany(4096):
                out.extend([conv(r, same) for r in rows])
            return out
        return self._retrying("read", read)

    def _write(self, what: str, sql: str, args) -> int:
        db = self._begin()
        try:
            return db.execute(sql, args).rowcount
        except self._pg.Error as exc:
            raise self._failed(what, exc) from None

    # -- LeaseStore ----------------------------------------------------------------
    @property
    def pending(self) -> bool:
        return self._in_txn

    def load(self, router_id: str, interface: str | None = None) -> list[Binding]:
        if interface is None:
            return self._query(f"{_SELECT} WHERE served_by = %s OR anchor = %s",
                               (router_id, router_id))
        return self._query(
            f"{_SELECT} WHERE (served_by = %s AND interface = %s) "
            f"OR (anchor = %s AND served_by <> %s)",
            (router_id, interface, router_id, router_id))

    def others_in(self, router_id: str, interface: str, network: IPv6Network
                  ) -> list[Binding]:
        # cidr orders by address, then length: a range of the primary key's
        # index holds every prefix inside ``network``; <<= makes it exact
        hi = IPv6Network(f"{network.broadcast_address}/128")
        return self._query(
            f"{_SELECT} WHERE prefix >= %s AND prefix <= %s AND prefix <<= %s AND NOT ("
            f"(served_by = %s AND interface = %s) OR (anchor = %s AND served_by <> %s))",
            (network, hi, network, router_id, interface, router_id, router_id))

    def insert(self, b: Binding) -> bool:
        return self._write(f"insert of {b.prefix}", _INSERT, self._row(b)) == 1

    def update(self, b: Binding) -> None:
        self._write(f"update of {b.prefix}", _UPSERT, self._row(b))

    def delete(self, prefix: IPv6Network, *, served_by: str | None = None,
               valid_until_max: float | None = None) -> bool:
        sql = "DELETE FROM bindings WHERE prefix = %s"
        args: list = [prefix]
        if served_by is not None:
            sql += " AND served_by = %s"
            args.append(served_by)
        if valid_until_max is not None:
            sql += " AND valid_until <= %s"
            args.append(valid_until_max)
        return self._write(f"delete of {prefix}", sql, args) > 0

    def find_client(self, duid: bytes, iaid: int) -> list[Binding]:
        return self._query(f"{_SELECT} WHERE duid = %s AND iaid = %s", (duid, iaid))

    def find_prefix(self, prefix: IPv6Network) -> Binding | None:
        rows = self._query(f"{_SELECT} WHERE prefix = %s", (prefix,))
        return rows[0] if rows else None

    def moved_away(self, anchor: str) -> list[Binding]:
        return self._query(f"{_SELECT} WHERE anchor = %s AND served_by <> %s",
                           (anchor, anchor))

    def all(self) -> list[Binding]:
        """Every binding in the database (for status and tests)."""
        return self._query(_SELECT)

    def commit(self) -> None:
        if not self._in_txn:
            return
        if self._db is None or self._aborted:
            raise StoreError(f"lease database ({self.where}) commit failed: the batch was "
                             "lost before it")
        try:
            cur = self._db.execute("COMMIT")
        except self._pg.Error as exc:
            raise self._failed("commit", exc) from None
        # PostgreSQL answers ROLLBACK, not an error, to COMMIT of a failed transaction
        if cur.statusmessage != "COMMIT":
            self._in_txn = False
            raise StoreError(f"lease database ({self.where}) commit failed: the server "
                             f"answered {cur.statusmessage}")
        self._in_txn = False

    def rollback(self) -> None:
        if not self._in_txn:
            return
        self._in_txn = False
        self._aborted = False
        db = self._db
        if db is None:
            return
        try:
            db.execute("ROLLBACK")
        except self._pg.Error:
            if db.closed or db.broken:
                self._drop()

    def get_meta(self, key: str) -> str | None:
        r = self._retrying("read", lambda db: db.execute(
            "SELECT value FROM meta WHERE key = %s", (key,)).fetchone())
        return None if r is None else r[0]

    def set_meta(self, key: str, value: str) -> None:
        sql = ("INSERT INTO meta (key, value) VALUES (%s, %s) "
               "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
        if self._in_txn:
            self._write("meta write", sql, (key, value))
            return
        self._retrying("meta write", lambda db: db.execute(sql, (key, value)))

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self._drop()
            self._close_listener()

    # -- moves: LISTEN/NOTIFY ---------------------------------------------------
    @property
    def notifies_moves(self) -> bool:
        return True

    def listen_moves(self, anchor: str) -> int:
        """Start listening, on a connection of its own, for moves of the
        bindings anchored at ``anchor``; returns the file descriptor to wait
        on for readability (``loop.add_reader``). Call :meth:`drain_moves`
        when it is readable. Raises :class:`StoreError`."""
        self._close_listener()
        db = self._open_connection()
        try:
            db.execute(f"LISTEN {MOVED_CHANNEL}")
        except self._pg.Error as exc:
            db.close()
            raise StoreError(f"lease database ({self.where}) LISTEN failed: "
                             f"{_first_line(exc)}") from None
        self._listener = _Listener(anchor, db)
        return db.fileno()

    def listen_fd(self) -> int | None:
        """The descriptor of the listening connection, or ``None``."""
        lst = self._listener
        return None if lst is None or lst.conn.closed else lst.conn.fileno()

    def drain_moves(self, timeout: float = 0.0) -> list[MovedNotice]:
        """The moves notified since the last call (waiting up to ``timeout``
        seconds for the first), for the anchor given to :meth:`listen_moves`,
        oldest first, each prefix once. Raises :class:`StoreError` when the
        listening connection is lost: then the caller reads
        :meth:`moved_away` (moves may have been missed) and calls
        :meth:`listen_moves` again."""
        lst = self._listener
        if lst is None:
            return []
        db = lst.conn
        try:
            if timeout > 0:
                select.select([db.fileno()], [], [], timeout)
            gen = db.notifies(timeout=0, stop_after=None)
            got = list(gen)
        except self._pg.Error as exc:
            self._close_listener()
            raise StoreError(f"lease database ({self.where}) notifications lost: "
                             f"{_first_line(exc)}") from None
        out: dict[IPv6Network, MovedNotice] = {}
        for n in got:
            try:
                d = json.loads(n.payload)
                if d.get("anchor") != lst.anchor:
                    continue
                p = IPv6Network(d["prefix"])
            except (ValueError, KeyError, TypeError):
                log.warning("malformed %s payload ignored: %r", MOVED_CHANNEL, n.payload)
                continue
            out.pop(p, None)
            out[p] = MovedNotice(p, d["anchor"], d.get("served_by"))
        return list(out.values())

    def _close_listener(self) -> None:
        lst, self._listener = self._listener, None
        if lst is not None:
            with contextlib.suppress(Exception):
                lst.conn.close()


def _version_problem(v: int | None) -> str:
    if v is None:
        return ("the lease database holds no odm schema: run "
                "'odm router db init --config FILE'")
    if v < PG_SCHEMA_VERSION:
        return (f"the lease database has schema version {v}, this odm needs "
                f"{PG_SCHEMA_VERSION}: run 'odm router db upgrade --config FILE'")
    return (f"the lease database has schema version {v}, newer than this odm knows "
            f"({PG_SCHEMA_VERSION}): upgrade odm on this router")


def connect_admin(conninfo: str, password: str | None, connect_timeout: float,
                  where: str):
    """An autocommit connection for the ``db`` commands. Raises StoreError."""
    pg = _psycopg()
    kw = {"autocommit": True, "connect_timeout": max(1, math.ceil(connect_timeout)),
          "application_name": "odm-router-db"}
    if password is not None:
        kw["password"] = password
    try:
        return pg.connect(conninfo, **kw)
    except pg.Error as exc:
        raise StoreError(f"cannot connect to the lease database ({where}): "
                         f"{_first_line(exc)}") from None
