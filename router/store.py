"""The router's lease store: the durable copy of its bindings.

:class:`LeaseStore` is the backends' common base: the interface the sans-I/O
core declares (:class:`router.core.store.BindingStore`, called synchronously)
plus what the agent needs; :class:`SqliteLeaseStore` implements it on one
SQLite file in WAL mode. Writes of one batch (everything
the core did since its last :meth:`~LeaseStore.commit`) form one transaction,
and the core commits it *before* it hands out the Replies of that batch, so a
prefix a client was told about is on disk (RFC 8415 §18.3: the server records
the binding before it answers; Kea's memfile with ``persist`` does the same).

Several routers may share one file (the lab does): each row records the router
that delegated the prefix (``anchor``) and the router the host is attached to
now (``served_by``), which is how a router that receives a Rebind after a move
finds the binding, and how the anchoring router learns its prefix moved
(:meth:`LeaseStore.moved_away`). :class:`router.pgstore.PostgresLeaseStore`
implements the same methods with the same transaction rule on PostgreSQL, for
routers on several machines; :func:`open_store` opens the one the router
configuration names (SQLite by default).

Prefixes are keyed by 17 octets (16 of the network address, one of the prefix
length), so a prefix is held by at most one binding at a time (the PRIMARY
KEY); two routers racing for it are serialised by SQLite's write lock
(``BEGIN IMMEDIATE``) and the loser's :meth:`~LeaseStore.insert` returns
``False``. Times are wall-clock seconds (REAL, ``inf`` for infinity).
"""

from __future__ import annotations

import os
import random
import sqlite3
import stat
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from ipaddress import IPv6Network
from pathlib import Path
from typing import TYPE_CHECKING

from odm_wire.constants import MobilityType
from router.core.bindings import Binding, BindingState
from router.core.store import BindingStore
from router.errors import StoreError

if TYPE_CHECKING:
    from router.config import RouterConfig

__all__ = ["SCHEMA_VERSION", "LeaseStore", "MovedNotice", "SchemaVersionError",
           "SqliteLeaseStore", "open_store"]

SCHEMA_VERSION = 1
#: seconds opening the store may wait for a lock (routers sharing one file start
#: together); serving waits only the store's ``busy_timeout``
OPEN_BUSY_TIMEOUT = 5.0
"""version of the SQLite file's schema (``meta`` key ``schema_version``)"""


class SchemaVersionError(StoreError):
    """The store's schema is missing, older or newer than this odm knows; the
    message is one line naming what to run."""


@dataclass(frozen=True)
class MovedNotice:
    """A move signalled by the store: the binding of ``prefix``, anchored at
    ``anchor``, is served by ``served_by`` now (``None``: it was deleted)."""

    prefix: IPv6Network
    anchor: str
    served_by: str | None

_MT = {int(m): m for m in MobilityType}
_STATES = {s.value: s for s in BindingState}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bindings (
    prefix          BLOB PRIMARY KEY,   -- 16 octets network address + 1 octet length
    duid            BLOB NOT NULL,
    iaid            INTEGER NOT NULL,
    mobility_type   INTEGER,            -- NULL: legacy client, no type granted
    pool            TEXT,
    interface       TEXT NOT NULL,
    client_ll       BLOB,               -- 16 octets, next hop of the route
    anchor          TEXT NOT NULL,      -- router id that delegated the prefix
    served_by       TEXT NOT NULL,      -- router id the host is attached to now
    state           TEXT NOT NULL,
    preferred_lifetime INTEGER NOT NULL,
    valid_lifetime  INTEGER NOT NULL,
    preferred_until REAL NOT NULL,
    valid_until     REAL NOT NULL,
    cltt            REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bindings_client ON bindings (duid, iaid);
DROP INDEX IF EXISTS bindings_served;
DROP INDEX IF EXISTS bindings_anchor;
CREATE INDEX IF NOT EXISTS bindings_moved ON bindings (anchor) WHERE served_by <> anchor;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Indexes cost every commit a page each (the commit per Request is most of
# the store's CPU per exchange): only the client's (random DUIDs: a random
# page) and the moved bindings' (few rows, written on a move only) are kept.
# A start-up load scans the table (one router's rows are most of it: faster
# than an index walk plus a primary-key lookup per row). Older odm versions
# opening the file add their indexes back (IF NOT EXISTS), and queries are
# right with any set of indexes.

_COLUMNS = ("prefix, duid, iaid, mobility_type, pool, interface, client_ll, anchor, "
            "served_by, state, preferred_lifetime, valid_lifetime, preferred_until, "
            "valid_until, cltt")
_SELECT = f"SELECT {_COLUMNS} FROM bindings"
_PLACEHOLDERS = ", ".join("?" * 15)
# built once: a statement text made per call costs its formatting and a fresh
# hash for sqlite3's statement cache on every write
_INSERT = f"INSERT OR IGNORE INTO bindings ({_COLUMNS}) VALUES ({_PLACEHOLDERS})"
_UPSERT = f"INSERT OR REPLACE INTO bindings ({_COLUMNS}) VALUES ({_PLACEHOLDERS})"
_FIND_PREFIX = f"{_SELECT} WHERE prefix = ?"
_STATE_TEXT = {s: s.value for s in BindingState}


def _key(prefix: IPv6Network) -> bytes:
    """17 octets: the 16 of the network address, then the prefix length
    (:func:`~router.core.bindings.prefix_key` as big-endian octets)."""
    return ((int(prefix.network_address) << 8) | prefix.prefixlen).to_bytes(17, "big")


def _binding(r: tuple) -> Binding:
    """The :class:`Binding` of one row of ``_SELECT``."""
    ll = r[6]
    return Binding.from_key(
        int.from_bytes(r[0], "big"), r[1], r[2], _MT.get(r[3]), r[4], r[5],
        None if ll is None else int.from_bytes(ll, "big"), r[7], r[8],
        _STATES.get(r[9], BindingState.ACTIVE), r[10], r[11], r[12], r[13], r[14])


def read_bindings(cur: sqlite3.Cursor) -> list[Binding]:
    """The bindings of the rows of ``_SELECT`` that ``cur`` yields.

    At start-up this reads every binding (100,000 or a million): rows are
    converted as they are fetched, a few thousand at a time (all rows as
    tuples *and* all bindings at once doubled the agent's peak memory), and
    the values every row repeats (pool, interface, router ids, lifetimes)
    are kept once, not once per binding."""
    out: list[Binding] = []
    append = out.append
    memo: dict = {}
    same = memo.setdefault
    mts = _MT.get
    states = _STATES.get
    active = BindingState.ACTIVE
    new = Binding.from_key
    frombytes = int.from_bytes
    while rows := cur.fetchmany(4096):
        for k, duid, iaid, mt, pool, iface, ll, anchor, srv, st, pl, vl, pu, vu, cltt in rows:
            append(new(frombytes(k, "big"), duid, iaid, mts(mt), same(pool, pool),
                       same(iface, iface), None if ll is None else frombytes(ll, "big"),
                       same(anchor, anchor), same(srv, srv), states(st, active),
                       same(pl, pl), same(vl, vl), pu, vu, cltt))
    return out


class LeaseStore(BindingStore, ABC):
    """The common base of the lease store backends: what the router core
    calls (:class:`router.core.store.BindingStore`, whose docstrings are the
    contract, the transaction rule included) plus what only the agent calls:
    the bindings that moved away, persisted settings, move signals, close.
    Every method raises :class:`~router.errors.StoreError` when the backend
    fails.
    """

    @abstractmethod
    def moved_away(self, anchor: str) -> list[Binding]:
        """Bindings anchored at ``anchor`` and served by another router now
        (the prefixes ``anchor`` must forward to where their host went)."""

    @abstractmethod
    def get_meta(self, key: str) -> str | None:
        """A persisted setting (for example the server DUID), or ``None``."""

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None:
        """Persist a setting at once (its own transaction)."""

    @abstractmethod
    def close(self) -> None:
        """Commit any open batch and release the backend."""

    @property
    def remote(self) -> bool:
        """True when the store is a server one network round trip away (the
        agent then commits off its loop, :mod:`router.io.commits`)."""
        return False

    # moves signalled by the store (PostgreSQL LISTEN/NOTIFY); a store without
    # them (SQLite) leaves the anchor to its UDP nudge and its polling
    @property
    def notifies_moves(self) -> bool:
        """True when :meth:`listen_moves` can signal moves."""
        return False

    def listen_moves(self, anchor: str) -> int | None:
        """Start listening for moves of the bindings anchored at ``anchor``;
        the file descriptor that turns readable when one is signalled, or
        ``None`` when this store cannot signal them."""
        return None

    def listen_fd(self) -> int | None:
        """The descriptor :meth:`listen_moves` returned, or ``None``."""
        return None

    def drain_moves(self, timeout: float = 0.0) -> list[MovedNotice]:
        """The moves signalled since the last call (empty without signals)."""
        return []


class SqliteLeaseStore(LeaseStore):
    """:class:`LeaseStore` on the SQLite file ``path`` (created with its
    parent directory if missing), in WAL mode.

    ``synchronous``: SQLite's ``PRAGMA synchronous`` — ``"full"`` (default)
    fsyncs the WAL on every commit, so an acknowledged binding survives a power
    loss; ``"normal"`` survives a crash or SIGKILL of the agent but may lose the
    last commits on power loss; ``"off"`` is for bulk loading in tests and
    benchmarks only. ``busy_timeout``: seconds to wait for another router's
    write lock on a shared file before :class:`StoreError` (short: the agent's
    event loop waits meanwhile; a client whose message could not be stored
    retransmits).

    Hardening (docs/security.md): the file and its ``-wal`` and ``-shm`` are
    mode 0600 (created so, and made so when found looser: a process that can
    read them can take SQLite's locks and stall every commit); the file is not
    opened through a symlink; ``PRAGMA quick_check`` must pass at open; and
    every commit first checks that the path still names the file opened
    (device and inode): a store deleted or replaced while the router runs
    fails the commit loudly instead of acknowledging bindings into a file
    nobody will open again.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "full",
                 busy_timeout: float = 0.2) -> None:
        if synchronous not in ("extra", "full", "normal", "off"):
            raise ValueError(f"synchronous must be extra, full, normal or off, "
                             f"not {synchronous!r}")
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.is_symlink():
                raise StoreError(f"lease store {self.path} is a symbolic link: not opened")
            v = self._open(synchronous, max(busy_timeout, OPEN_BUSY_TIMEOUT))
            st = os.stat(self.path)
            self._identity = (st.st_dev, st.st_ino)
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open lease store {self.path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot open lease store {self.path}: {exc}") from exc
        if str(v) != str(SCHEMA_VERSION):
            self._close()
            raise SchemaVersionError(
                f"lease store {self.path} has schema version {v}, this odm knows "
                f"{SCHEMA_VERSION}: " + ("upgrade odm on this router" if _newer(v) else
                                         "run 'odm router db upgrade --config FILE'"))
        self._in_txn = False

    def _open(self, synchronous: str, timeout: float) -> str:
        """Connect, switch to WAL, create the schema, check the file; the
        schema version found. Routers sharing the file may open it at the
        same moment: SQLite then answers "database is locked" at once,
        without waiting in its busy handler, where waiting could deadlock
        (two connections of a new file in rollback mode, each holding a
        shared lock and asking for the exclusive one WAL mode needs). Such
        an open is tried again from the start until ``timeout`` seconds
        have passed; any other error, or the last one, is raised."""
        deadline = time.monotonic() + timeout
        while True:
            old = os.umask(0o077)
            try:
                self._db = sqlite3.connect(self.path, isolation_level=None, timeout=timeout,
                                           check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
                self._db.executescript(_SCHEMA)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                                 (str(SCHEMA_VERSION),))
                v = self._db.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
                self._private()
                check = self._db.execute("PRAGMA quick_check").fetchall()
            except sqlite3.OperationalError as exc:
                self._close()
                if not _busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(random.uniform(0.002, 0.02))
                continue
            finally:
                os.umask(old)
            if check != [("ok",)]:
                raise StoreError(f"lease store {self.path} is corrupt (quick_check: "
                                 f"{'; '.join(str(r[0]) for r in check[:5])}): not used")
            return str(v)

    def _private(self) -> None:
        """The store and its side files mode 0600 (without following a symlink).

        Through ``O_PATH`` descriptors: closing any other descriptor of a file
        drops every POSIX lock this process holds on it (fcntl(2)), SQLite's
        included — the next process to close the database then took itself
        for its last user, checkpointed and deleted the ``-wal`` and ``-shm``
        a running router still wrote to, and the routers sharing the file
        went on apart (https://sqlite.org/howtocorrupt.html §2.2). The
        kernel releases no lock when an ``O_PATH`` descriptor closes."""
        for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            try:
                fd = os.open(p, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
                    os.chmod(f"/proc/self/fd/{fd}", 0o600)
            finally:
                os.close(fd)

    def check_identity(self) -> None:
        """Raise :class:`StoreError` when the path no longer names the file
        this store opened (deleted, or replaced by another file)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise StoreError(f"lease store {self.path} was deleted while the router runs: "
                             "nothing more is committed; restore it and restart") from None
        except OSError as exc:
            raise StoreError(f"lease store {self.path}: {exc}") from exc
        if (st.st_dev, st.st_ino) != self._identity:
            raise StoreError(f"lease store {self.path} was replaced by another file while "
                             "the router runs: nothing more is committed; restart")

    # -- rows ------------------------------------------------------------------
    @staticmethod
    def _row(b: Binding) -> tuple:
        mt = b.mobility_type
        ll = b.ll
        return (b.key.to_bytes(17, "big"), b.duid, b.iaid, None if mt is None else int(mt),
                b.pool, b.interface, None if ll is None else ll.to_bytes(16, "big"), b.anchor,
                b.served_by, _STATE_TEXT[b.state], b.preferred_lifetime, b.valid_lifetime,
                b.preferred_until, b.valid_until, b.cltt)

    def _begin(self) -> None:
        if not self._in_txn:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_txn = True

    def _query(self, sql: str, args: tuple = ()) -> list[Binding]:
        try:
            return read_bindings(self._db.execute(sql, args))
        except sqlite3.Error as exc:
            raise StoreError(f"lease store read failed: {exc}") from exc

    # -- LeaseStore ----------------------------------------------------------------
    @property
    def pending(self) -> bool:
        return self._in_txn

    def load(self, router_id: str, interface: str | None = None) -> list[Binding]:
        if interface is None:
            return self._query(f"{_SELECT} WHERE served_by = ? OR anchor = ?",
                               (router_id, router_id))
        return self._query(
            f"{_SELECT} WHERE (served_by = ? AND interface = ?) "
            f"OR (anchor = ? AND served_by <> ?)",
            (router_id, interface, router_id, router_id))

    def others_in(self, router_id: str, interface: str, network: IPv6Network
                  ) -> list[Binding]:
        # the key orders by network address, then length: one range of the
        # primary key holds every prefix inside ``network``
        lo = network.network_address.packed + b"\x00"
        hi = network.broadcast_address.packed + b"\xff"
        rows = self._query(
            f"{_SELECT} WHERE prefix >= ? AND prefix <= ? AND NOT ("
            f"(served_by = ? AND interface = ?) OR (anchor = ? AND served_by <> ?))",
            (lo, hi, router_id, interface, router_id, router_id))
        return [b for b in rows if b.key & 0xFF >= network.prefixlen]

    def insert(self, b: Binding) -> bool:
        try:
            self._begin()
            cur = self._db.execute(_INSERT, self._row(b))
        except sqlite3.Error as exc:
            raise StoreError(f"lease store insert of {b.prefix} failed: {exc}") from exc
        return cur.rowcount == 1

    def update(self, b: Binding) -> None:
        try:
            self._begin()
            self._db.execute(_UPSERT, self._row(b))
        except sqlite3.Error as exc:
            raise StoreError(f"lease store update of {b.prefix} failed: {exc}") from exc

    def delete(self, prefix: IPv6Network, *, served_by: str | None = None,
               valid_until_max: float | None = None) -> bool:
        sql = "DELETE FROM bindings WHERE prefix = ?"
        args: list = [_key(prefix)]
        if served_by is not None:
            sql += " AND served_by = ?"
            args.append(served_by)
        if valid_until_max is not None:
            sql += " AND valid_until <= ?"
            args.append(valid_until_max)
        try:
            self._begin()
            cur = self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(f"lease store delete of {prefix} failed: {exc}") from exc
        return cur.rowcount > 0

    def find_client(self, duid: bytes, iaid: int) -> list[Binding]:
        return self._query(f"{_SELECT} WHERE duid = ? AND iaid = ?", (duid, iaid))

    def find_prefix(self, prefix: IPv6Network) -> Binding | None:
        return self.find_key((int(prefix.network_address) << 8) | prefix.prefixlen)

    def find_key(self, key: int) -> Binding | None:
        # asked for every offer: one row, no batch machinery
        try:
            r = self._db.execute(_FIND_PREFIX, (key.to_bytes(17, "big"),)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"lease store read failed: {exc}") from exc
        return None if r is None else _binding(r)

    def moved_away(self, anchor: str) -> list[Binding]:
        # "served_by <> anchor" (not "<> ?"): the partial index bindings_moved
        return self._query(f"{_SELECT} WHERE anchor = ? AND served_by <> anchor", (anchor,))

    def all(self) -> list[Binding]:
        """Every binding in the file (for status and tests)."""
        return self._query(_SELECT)

    def commit(self) -> None:
        if not self._in_txn:
            return
        self.check_identity()
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"lease store commit failed: {exc}") from exc
        self._in_txn = False

    def rollback(self) -> None:
        if not self._in_txn:
            return
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # nothing to undo if SQLite already rolled back on the error
        self._in_txn = False

    def get_meta(self, key: str) -> str | None:
        try:
            r = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"lease store read failed: {exc}") from exc
        return None if r is None else r[0]

    def set_meta(self, key: str, value: str) -> None:
        try:
            if self._in_txn:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            else:
                with self._db:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        except sqlite3.Error as exc:
            raise StoreError(f"lease store meta write failed: {exc}") from exc

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self._close()

    def _close(self) -> None:
        db = getattr(self, "_db", None)
        if db is None:
            return
        try:
            db.close()
        except sqlite3.Error:
            pass


def _busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (with any extended code)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc)


def _newer(v) -> bool:
    try:
        return int(v) > SCHEMA_VERSION
    except ValueError:
        return True


def open_store(config: RouterConfig, *, check_schema: bool = True) -> LeaseStore:
    """The lease store ``config`` names: the SQLite file ``lease_db`` (created
    if missing), or the PostgreSQL database of ``[lease_store]`` (which
    ``odm router db init`` must have prepared). Raises :class:`StoreError`
    (:class:`SchemaVersionError` for a schema this odm does not know); no
    message holds the database password."""
    lsc = config.lease_store
    if lsc is None:
        return SqliteLeaseStore(config.lease_db, synchronous=config.lease_db_synchronous)
    from router.pgstore import PostgresLeaseStore
    try:
        password = lsc.password()
    except OSError as exc:
        raise StoreError(f"cannot read the lease database password file "
                         f"{lsc.password_file}: {exc.strerror or exc}") from None
    return PostgresLeaseStore(lsc.conninfo, password=password,
                              connect_timeout=lsc.connect_timeout, timeout=lsc.timeout,
                              where=lsc.describe(), check_schema=check_schema)
