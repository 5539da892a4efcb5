"""The lease store shared by several routers (SQLite file or PostgreSQL
database): two routers racing for one prefix, a bounded wait for another
router's lock, the schema version a router accepts, the ``odm router db``
commands, a PostgreSQL restart under an open store, and moves signalled by
LISTEN/NOTIFY."""

from __future__ import annotations

import multiprocessing
import re
import threading
import tomllib
from ipaddress import IPv6Network
from pathlib import Path

import pytest
from click.testing import CliRunner

from odm_wire.constants import MobilityType as MT
from odm_wire.constants import StatusCode as SC
from router.errors import StoreError
from router.store import SchemaVersionError
from tests.router.conftest import (
    BASE_TOML,
    CLIENT_LL,
    SERVER_DUID,
    Client,
    FakeClock,
    Harness,
    make_config,
)
from tests.router.test_moves import ar2_toml
from tests.router.test_store_and_restart import mk


def _run_together(*fns):
    """Run each function on its own thread, released at the same instant by a
    barrier; their results in order (an exception is re-raised)."""
    bar = threading.Barrier(len(fns))
    res: list = [None] * len(fns)

    def go(i, fn):
        bar.wait()
        try:
            res[i] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            res[i] = exc

    ts = [threading.Thread(target=go, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    for r in res:
        if isinstance(r, BaseException):
            raise r
    return res


# ------------------------------------------------------------------- races
def test_two_stores_inserting_one_prefix_at_once_only_one_wins(store_factory):
    """Two connections (two routers) insert and commit the same prefixes at
    the same instant, 20 times: each prefix has exactly one winner, and the
    row holds the winner's record."""
    a, b = store_factory("shared"), store_factory("shared")

    def claim(store, who, prefix):
        x = mk(prefix=prefix, duid=who.encode())
        x.anchor = x.served_by = who
        won = store.insert(x)
        store.commit()
        return won

    for i in range(20):
        p = f"2001:db8:{i:x}00::/56"
        wa, wb = _run_together(lambda p=p: claim(a, "ar1", p), lambda p=p: claim(b, "ar2", p))
        assert [wa, wb].count(True) == 1, (p, wa, wb)
        row = a.find_prefix(IPv6Network(p))
        assert row.anchor == ("ar1" if wa else "ar2") and row.duid == row.anchor.encode()


def test_the_loser_waits_for_the_winners_commit_then_gets_false(store_factory):
    """The contended path, without timing: router 1 holds the prefix in an
    uncommitted batch while router 2 inserts it; router 2 gets its answer
    only once router 1 commits, and it is False."""
    a, b = store_factory("shared"), store_factory("shared")
    assert a.insert(mk())
    t_res: list = []
    t = threading.Thread(target=lambda: t_res.append(b.insert(mk(duid=b"other"))))
    t.start()
    if store_factory.backend == "postgresql":
        _wait_for_lock_waiter(store_factory)
    a.commit()
    t.join(30)
    assert t_res == [False]
    b.commit()
    assert b.find_prefix(mk().prefix).duid == mk().duid


def _wait_for_lock_waiter(store_factory):
    """Until a session of the test server waits on a lock (bounded by tries,
    each a round trip to the server: no sleep, no clock)."""
    with store_factory.pg.admin("odm") as db:
        for _ in range(100_000):
            n = db.execute("SELECT count(*) FROM pg_stat_activity "
                           "WHERE wait_event_type = 'Lock'").fetchone()[0]
            if n:
                return
    raise AssertionError("the second router never waited for the first one's row")


def test_a_router_waiting_on_another_routers_lock_gives_up_with_store_error(store_factory):
    """A batch held open by another router (hung, or slow) stalls a write at
    most ``timeout``: then StoreError, and the batch rolls back cleanly."""
    a = store_factory("shared")
    b = store_factory("shared", timeout=0.2)
    assert a.insert(mk())
    with pytest.raises(StoreError):
        b.insert(mk(duid=b"other"))
        b.commit()
    b.rollback()
    a.commit()
    assert b.find_prefix(mk().prefix).duid == mk().duid and not b.pending


def one_prefix_toml(router_id: str) -> str:
    """A router whose FIXED pool holds exactly one /56, the same for both."""
    t = BASE_TOML if router_id == "ar1" else ar2_toml()
    return re.sub(r'(name = "fixed"\n  mobility_type = "fixed"\n  prefix = )"[^"]+"',
                  r'\1"2001:db8:fe00::/56"', t)


def test_two_live_routers_racing_for_the_last_prefix_only_one_delegates_it(store_factory):
    """Two router cores, one store, a FIXED pool of one prefix each, the
    same prefix: two clients Solicit (Rapid Commit) at the same instant, one
    at each router. One client gets the prefix, the other NoPrefixAvail;
    the store holds one binding."""
    clock = FakeClock()
    ar1 = Harness(make_config(one_prefix_toml("ar1")), store_factory("shared"), clock)
    ar2 = Harness(make_config(one_prefix_toml("ar2")), store_factory("shared"), clock)
    assert ar1.config.interface("veth0").pool("fixed").size == 1
    c1, c2 = Client("020000000011"), Client("020000000022")
    r1, r2 = _run_together(
        lambda: ar1.one(c1.solicit(c1.typed(1, MT.FIXED), rapid=True)),
        lambda: ar2.one(c2.solicit(c2.typed(1, MT.FIXED), rapid=True)))
    got = [[p for ia in r.ia_pds for p in ia.prefixes] for r in (r1, r2)]
    assert sorted(len(g) for g in got) == [0, 1]
    loser = (r1, r2)[[len(g) for g in got].index(0)]
    assert loser.ia_pds[0].status.status_code == SC.NO_PREFIX_AVAIL
    (b,) = ar1.store.all()
    assert b.prefix == IPv6Network("2001:db8:fe00::/56")
    assert (b.duid, b.anchor) == ((bytes(c1.duid), "ar1") if got[0] else (bytes(c2.duid), "ar2"))


# ------------------------------------------------------------- schema version
def _open_and_close(path: str, barrier, results) -> None:
    from router.store import SqliteLeaseStore
    barrier.wait()
    try:
        SqliteLeaseStore(path).close()
        results.put("ok")
    except StoreError as exc:
        results.put(str(exc))


def test_routers_opening_a_new_shared_file_at_once_all_open_it(tmp_path):
    """Three routers started together on one new SQLite file (the lab's two
    routers, a third for the odds): SQLite refuses one of them with
    "database is locked" without waiting (switching a new file to WAL while
    another connection reads it could deadlock); it was a failed start of a
    router in about one round in five. Processes, not threads: SQLite's
    locks are the file's, per process."""
    ctx = multiprocessing.get_context("fork")
    for i in range(25):
        path = str(tmp_path / f"leases-{i}.sqlite3")
        barrier, results = ctx.Barrier(3), ctx.Queue()
        procs = [ctx.Process(target=_open_and_close, args=(path, barrier, results))
                 for _ in range(3)]
        for p in procs:
            p.start()
        got = [results.get(timeout=30) for _ in procs]
        for p in procs:
            p.join(10)
        assert got == ["ok"] * 3, f"round {i}: {got}"


def _read_and_close(path: str) -> None:
    import sqlite3
    db = sqlite3.connect(path)
    db.execute("SELECT count(*) FROM meta").fetchall()
    db.close()


def test_another_process_closing_the_file_leaves_a_running_routers_wal(tmp_path):
    """A router's open store keeps SQLite's locks: another process that
    opens, reads and closes the shared file (a router stopping, an operator's
    sqlite3) must not take itself for the last user and delete the ``-wal``
    and ``-shm`` the router still writes to — the routers then went on apart,
    a Reply's binding in a deleted file. The store's own mode check (and a
    second store in the same process) used to close descriptors of the file,
    which drops every POSIX lock of the process (fcntl(2))."""
    from router.store import SqliteLeaseStore

    path = tmp_path / "leases.sqlite3"
    first = SqliteLeaseStore(path, synchronous="normal")
    second = SqliteLeaseStore(path, synchronous="normal")  # another router, this process
    try:
        first.set_meta("probe", "1")
        # a fresh process (spawn: a forked one shares SQLite's lock state)
        ctx = multiprocessing.get_context("spawn")
        p = ctx.Process(target=_read_and_close, args=(str(path),))
        p.start()
        p.join(30)
        assert p.exitcode == 0
        assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
        second.set_meta("probe", "2")
        assert first.get_meta("probe") == "2"  # still one database
    finally:
        first.close()
        second.close()


def test_sqlite_file_of_a_newer_schema_is_refused(tmp_path):
    import sqlite3

    from router.store import SqliteLeaseStore
    SqliteLeaseStore(tmp_path / "a.db").close()
    db = sqlite3.connect(tmp_path / "a.db")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(SchemaVersionError, match=r"schema version 99.*upgrade odm"):
        SqliteLeaseStore(tmp_path / "a.db")


def test_sqlite_file_with_an_older_versions_indexes_opens_and_answers_alike(tmp_path):
    """A file an older odm wrote (indexes bindings_served and bindings_anchor,
    written on every commit) opens; only the client's index and the partial
    one of moved bindings are kept, and the bindings come back the same by
    router, interface, client, prefix and move; the older version adds its
    indexes back when it opens the file again (what it runs each start)."""
    import sqlite3

    from router.store import SqliteLeaseStore
    path = tmp_path / "a.db"
    SqliteLeaseStore(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP INDEX bindings_moved")
    db.execute("CREATE INDEX bindings_served ON bindings (served_by, interface)")
    db.execute("CREATE INDEX bindings_anchor ON bindings (anchor)")
    db.commit()
    db.close()
    s = SqliteLeaseStore(path)
    here, moved = mk(), mk(prefix="2001:db8:0:100::/56", duid=b"\x00\x01moved",
                           served_by="ar2")
    assert s.insert(here) and s.insert(moved)
    s.commit()
    names = {r[0] for r in s._db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    assert names == {"bindings_client", "bindings_moved"}
    assert [b.prefix for b in s.load("ar1", "eth1")] == [here.prefix, moved.prefix]
    assert [b.prefix for b in s.load("ar2")] == [moved.prefix]
    assert [b.prefix for b in s.moved_away("ar1")] == [moved.prefix]
    assert s.moved_away("ar2") == []
    assert [b.prefix for b in s.find_client(moved.duid, 1)] == [moved.prefix]
    assert s.find_prefix(moved.prefix).served_by == "ar2"
    assert s.find_prefix(IPv6Network("2001:db8:0:200::/56")) is None
    s.close()
    db = sqlite3.connect(path)
    db.execute("CREATE INDEX IF NOT EXISTS bindings_served ON bindings (served_by, interface)")
    db.execute("CREATE INDEX IF NOT EXISTS bindings_anchor ON bindings (anchor)")
    db.commit()
    db.close()
    s = SqliteLeaseStore(path)
    assert [b.prefix for b in s.moved_away("ar1")] == [moved.prefix]
    s.close()


@pytest.fixture
def pg(pg_server, tmp_path):
    """A StoreFactory on the PostgreSQL backend only."""
    from tests.pg import StoreFactory
    f = StoreFactory("postgresql", tmp_path, pg_server)
    yield f
    f.finish()


def _open(pg, conninfo):
    from router.pgstore import PostgresLeaseStore
    from tests.pg import PASSWORD
    return PostgresLeaseStore(conninfo, password=PASSWORD)


def test_pg_store_refuses_an_uninitialised_database_naming_db_init(pg):
    ci = pg.conninfo("empty", init=False)
    with pytest.raises(SchemaVersionError) as ei:
        _open(pg, ci)
    msg = str(ei.value)
    assert "\n" not in msg and "odm router db init --config FILE" in msg


def test_pg_store_refuses_an_older_schema_until_db_upgrade(pg):
    from router.pgstore import PG_SCHEMA_VERSION, init_schema, schema_version, upgrade_schema
    ci = pg.conninfo("old", init=False)
    schema = pg.schemas["old"]
    with pg.pg.admin("odm") as db:
        db.execute(f"SET search_path = {schema}")
        db.execute("SET ROLE odm")
        init_schema(db, target=1)
    with pytest.raises(SchemaVersionError) as ei:
        _open(pg, ci)
    assert "\n" not in str(ei.value) and "odm router db upgrade --config FILE" in str(ei.value)
    with pg.pg.admin("odm") as db:
        db.execute(f"SET search_path = {schema}")
        db.execute("SET ROLE odm")
        assert upgrade_schema(db) == (1, PG_SCHEMA_VERSION)
        assert upgrade_schema(db) == (PG_SCHEMA_VERSION, PG_SCHEMA_VERSION)  # idempotent
        assert schema_version(db) == PG_SCHEMA_VERSION
    s = _open(pg, ci)
    assert s.insert(mk())
    s.commit()
    s.close()


def test_pg_store_refuses_a_newer_schema(pg):
    ci = pg.conninfo("new")
    with pg.pg.admin("odm") as db:
        db.execute(f"UPDATE {pg.schemas['new']}.schema_version SET version = 99")
    with pytest.raises(SchemaVersionError, match=r"schema version 99, newer.*upgrade odm"):
        _open(pg, ci)


def test_prefix_uniqueness_is_a_database_constraint(pg):
    """Whatever writes to the table (another tool, a buggy router), the
    database refuses a second row for a prefix."""
    import psycopg
    s = pg("shared")
    assert s.insert(mk())
    s.commit()
    with pg.pg.admin("odm") as db:
        db.execute(f"SET search_path = {pg.schemas['shared']}")
        with pytest.raises(psycopg.errors.UniqueViolation):
            db.execute("INSERT INTO bindings SELECT * FROM bindings")


# ------------------------------------------------------------ db commands
def _config_file(tmp_path, pg, name, *, init=True):
    from tests.pg import PASSWORD
    ci = pg.conninfo(name, init=init)
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    text = BASE_TOML + (f'\n[lease_store]\ntype = "postgresql"\nconninfo = "{ci}"\n'
                        f'password_file = "{tmp_path / "pw"}"\n')
    tomllib.loads(text)
    p = tmp_path / "router.toml"
    p.write_text(text)
    return p


def test_db_init_version_upgrade_commands(pg, tmp_path):
    from router.cli import router
    from router.config import load_config
    from router.pgstore import PG_SCHEMA_VERSION
    from router.store import open_store
    from tests.pg import PASSWORD
    cfg_path = _config_file(tmp_path, pg, "cli", init=False)
    cli = CliRunner()
    with pytest.raises(SchemaVersionError, match="db init"):
        open_store(load_config(cfg_path))  # what `odm router run` meets
    r = cli.invoke(router, ["db", "version", "--config", str(cfg_path)])
    assert r.exit_code == 1 and "schema version none" in r.output
    r = cli.invoke(router, ["db", "init", "--config", str(cfg_path)])
    assert r.exit_code == 0, r.output
    assert f"schema version {PG_SCHEMA_VERSION} created" in r.output
    r = cli.invoke(router, ["db", "init", "--config", str(cfg_path)])
    assert r.exit_code == 1 and "db upgrade" in r.output  # never over an existing schema
    r = cli.invoke(router, ["db", "upgrade", "--config", str(cfg_path)])
    assert r.exit_code == 0 and "nothing to do" in r.output
    r = cli.invoke(router, ["db", "version", "--config", str(cfg_path), "--json"])
    assert r.exit_code == 0 and f'"schema-version": {PG_SCHEMA_VERSION}' in r.output
    s = open_store(load_config(cfg_path))
    s.close()
    r = cli.invoke(router, ["check-config", str(cfg_path), "--json"])
    assert r.exit_code == 0 and "postgresql: host=" in r.output
    for out in (r.output,):
        assert PASSWORD not in out


def test_db_commands_on_the_sqlite_file(tmp_path):
    from router.cli import router
    p = tmp_path / "router.toml"
    p.write_text(BASE_TOML.replace('id = "ar1"', f'id = "ar1"\nlease_db = "{tmp_path}/l.db"'))
    cli = CliRunner()
    assert cli.invoke(router, ["db", "version", "--config", str(p)]).exit_code == 1
    r = cli.invoke(router, ["db", "init", "--config", str(p)])
    assert r.exit_code == 0 and (tmp_path / "l.db").exists()
    assert cli.invoke(router, ["db", "init", "--config", str(p)]).exit_code == 1
    assert cli.invoke(router, ["db", "upgrade", "--config", str(p)]).exit_code == 0
    assert cli.invoke(router, ["db", "version", "--config", str(p)]).exit_code == 0


def test_wrong_password_is_a_store_error_without_the_password(pg, tmp_path):
    from router.config import load_config
    from router.store import open_store
    cfg_path = _config_file(tmp_path, pg, "pw")
    (tmp_path / "pw").write_text("not-the-password\n")
    with pytest.raises(StoreError) as ei:
        open_store(load_config(cfg_path))
    assert "not-the-password" not in str(ei.value) and "password" in str(ei.value)


# --------------------------------------------------------- server restart
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_pg_restart_under_an_open_store(pg, mode):
    """PostgreSQL stops (cleanly, or as a crash) while a router's store is
    open, with a batch in flight: the store reports StoreError (never a
    half-success), the batch is not acknowledged, the next operation after
    the server is back reconnects, and every committed binding is there."""
    s = pg("shared")
    committed = [mk(prefix=f"2001:db8:{i:x}00::/56", duid=bytes([i])) for i in range(5)]
    for b in committed:
        assert s.insert(b)
    s.commit()
    assert s.insert(mk(prefix="2001:db8:ff00::/56", duid=b"unacked"))  # open batch
    pg.pg.down(mode)
    try:
        with pytest.raises(StoreError):
            s.commit()
        s.rollback()
        with pytest.raises(StoreError):
            s.find_prefix(committed[0].prefix)
    finally:
        pg.pg.up()
    got = {b.prefix for b in s.load("ar1")}  # reconnects
    assert got == {b.prefix for b in committed}
    assert s.reconnects == 1
    assert s.insert(mk(prefix="2001:db8:ff00::/56", duid=b"again"))
    s.commit()
    assert len(s.load("ar1")) == 6


def _feed_as_the_agent(h, msg):
    """What router/io/agent.py does with one datagram: a StoreError from the
    core is caught there (the datagram is lost, the client retransmits)."""
    from odm_wire.dhcp6 import encode_dhcp6
    try:
        h.core.handle_datagram(encode_dhcp6(msg), CLIENT_LL, h.clock(), kind="dhcp6")
    except StoreError:
        pass
    return h.core.datagrams_to_send()


@pytest.mark.parametrize("when", ["before the batch", "batch open"])
def test_core_on_pg_acknowledges_nothing_while_the_server_is_down_then_serves(pg, when):
    """The server stops before a Request is handled, or while its binding
    waits in the open batch: no Reply leaves (nothing acknowledged that is
    not committed), the core keeps running, and once the server is back the
    client's retransmission is answered and its binding is in the database."""
    clock = FakeClock()
    h = Harness(make_config(), pg("shared"), clock)
    c = Client()
    req = c.request(SERVER_DUID, c.typed(1, MT.FIXED))
    pg.pg.down("fast")
    try:
        if when == "batch open":
            pg.pg.up()
            from odm_wire.dhcp6 import encode_dhcp6
            h.core.handle_datagram(encode_dhcp6(req), CLIENT_LL, clock(), kind="dhcp6")
            assert h.store.pending
            pg.pg.down("fast")
            assert h.core.datagrams_to_send() == []  # and it does not raise
            assert h.dhcp.stats["store-commit-failed"] == 1
            assert _feed_as_the_agent(h, req) == []  # not served from a stale state
            assert h.dhcp.stats["store-unavailable"] == 1
        else:
            assert _feed_as_the_agent(h, req) == []
            assert h.dhcp.bindings() == []
    finally:
        pg.pg.up()
    rep = h.one(req)
    (p,) = [p for ia in rep.ia_pds for p in ia.prefixes]
    assert pg("shared").find_prefix(IPv6Network((p.prefix, p.prefix_length))) is not None


# ------------------------------------------------------------------ moves
def test_moves_are_signalled_to_the_anchor_by_listen_notify(pg):
    """ar2 takes over a binding anchored at ar1 (a Rebind after a move): ar1's
    listening connection turns readable and names the prefix and its new
    server; nothing is signalled before the commit; the move back and the
    deletion are signalled too; other anchors' moves are not."""
    import select
    ar1, ar2 = pg("shared"), pg("shared")
    fd = ar1.listen_moves("ar1")
    assert fd == ar1.listen_fd() and ar1.notifies_moves
    b = mk()
    assert ar1.insert(b)
    ar1.commit()
    other = mk(prefix="2001:db8:5500::/56")
    other.anchor = other.served_by = "ar3"
    ar2.insert(other)
    ar2.commit()
    b.served_by = "ar2"
    ar2.update(b)
    other.served_by = "ar2"
    ar2.update(other)
    assert ar1.drain_moves() == []  # not committed yet: nothing said
    ar2.commit()
    assert select.select([fd], [], [], 30)[0] == [fd]
    (n,) = ar1.drain_moves()
    assert (n.prefix, n.anchor, n.served_by) == (b.prefix, "ar1", "ar2")
    assert [m.prefix for m in ar1.moved_away("ar1")] == [b.prefix]  # the row agrees
    b.served_by = "ar1"
    ar1.update(b)
    ar1.commit()
    (n,) = ar1.drain_moves(timeout=30)
    assert n.served_by == "ar1"
    b.served_by = "ar2"
    ar2.update(b)
    ar2.commit()
    ar2.delete(b.prefix)
    ar2.commit()
    got = ar1.drain_moves(timeout=30)
    while len(got) < 1 or got[-1].served_by is not None:
        more = ar1.drain_moves(timeout=30)
        assert more, got
        got += more
    assert got[-1].prefix == b.prefix and got[-1].served_by is None


def test_sqlite_store_signals_no_moves(tmp_path):
    from router.store import SqliteLeaseStore
    s = SqliteLeaseStore(tmp_path / "a.db")
    assert not s.notifies_moves and s.listen_moves("ar1") is None and s.drain_moves() == []
    s.close()


# ------------------------------------------------------------------ config
@pytest.mark.parametrize("extra, key, reason", [
    ('type = "postgresql"\nconninfo = "host=db password=secret"', "lease_store.conninfo",
     "holds a password"),
    ('type = "postgresql"\nconninfo = "postgresql://odm:secret@db/odm"', "lease_store.conninfo",
     "holds a password"),
    ('type = "postgresql"\npassword = "secret"', "lease_store.password", "password_file"),
    ('type = "postgresql"\nconninfo = "host=db"\nhost = "db2"', "lease_store.host",
     "either conninfo or its parts"),
    ('type = "mysql"', "lease_store.type", "sqlite"),
    ('type = "sqlite"\nsynchronous = "sometimes"', "lease_store.synchronous", "full"),
])
def test_lease_store_config_errors_name_the_key(extra, key, reason):
    from router.config import ConfigError, parse_config
    with pytest.raises(ConfigError) as ei:
        parse_config(tomllib.loads(BASE_TOML + "\n[lease_store]\n" + extra + "\n"))
    assert ei.value.key == key and reason in ei.value.reason
    assert "secret" not in str(ei.value)


def test_lease_store_config_forms():
    from router.config import ConfigError, parse_config
    parts = parse_config(tomllib.loads(
        BASE_TOML + '\n[lease_store]\ntype = "postgresql"\nhost = "db.example"\nport = 5433\n'
        'dbname = "odm"\nuser = "odm"\npassword_env = "ODM_PW"\n'))
    assert parts.lease_store.conninfo == "host=db.example port=5433 dbname=odm user=odm"
    assert parts.store_description() == "postgresql: host=db.example port=5433 dbname=odm user=odm"
    sq = parse_config(tomllib.loads(
        BASE_TOML + '\n[lease_store]\ntype = "sqlite"\npath = "/tmp/x.db"\n'
        'synchronous = "normal"\n'))
    assert (sq.lease_store, str(sq.lease_db), sq.lease_db_synchronous) == (None, "/tmp/x.db",
                                                                         "normal")
    with pytest.raises(ConfigError) as ei:  # one place for the file, not two
        parse_config(tomllib.loads(BASE_TOML.replace('id = "ar1"', 'id = "ar1"\nlease_db = "/a"')
                                   + '\n[lease_store]\ntype = "sqlite"\npath = "/b"\n'))
    assert ei.value.key == "router.lease_db"
