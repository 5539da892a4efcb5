"""The lease store against a local user who can read it, a store deleted or
replaced while the router runs, and a corrupt file at start (issue 13 points
8 and 9, docs/security.md "Router"). Real SQLite files in tmp_path, fake clock."""

from __future__ import annotations

import os
import sqlite3
import stat
from ipaddress import IPv6Address

import pytest

from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import decode_dhcp6, encode_dhcp6
from router.errors import StoreError
from router.store import SqliteLeaseStore
from tests.router.conftest import SERVER_DUID, Client, FakeClock, Harness, make_config, prefixes_of


def modes(path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()
            if p.name.startswith(path.name)}


def test_store_and_side_files_are_private(tmp_path):
    db = tmp_path / "leases.sqlite3"
    s = SqliteLeaseStore(db)
    assert modes(db) and set(modes(db).values()) == {0o600}
    assert {"leases.sqlite3", "leases.sqlite3-wal", "leases.sqlite3-shm"} <= set(modes(db))
    s.close()


def test_a_store_left_0644_is_made_private(tmp_path):
    db = tmp_path / "leases.sqlite3"
    sqlite3.connect(db).execute("CREATE TABLE x (a)").connection.close()
    db.chmod(0o644)
    SqliteLeaseStore(db).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def request(h, c, clock):
    h.core.handle_datagram(encode_dhcp6(c.request(SERVER_DUID, c.typed(1, MT.FIXED))),
                           IPv6Address("fe80::2"), clock(), kind="dhcp6")
    return h.core.datagrams_to_send()


def test_a_store_locked_by_another_process_costs_a_short_wait_and_is_counted(tmp_path):
    """Another process holds the write lock: the Request is not answered,
    counted as store-write-failed (not as a receive drop), the loop waits the
    busy timeout (0.2 s, not 5 s); once the lock is gone the retransmitted
    Request gets its prefix."""
    clock = FakeClock()
    db = tmp_path / "leases.sqlite3"
    s = SqliteLeaseStore(db)
    assert s._db.execute("PRAGMA busy_timeout").fetchone()[0] == 200
    h = Harness(make_config(), s, clock)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    c = Client()
    assert request(h, c, clock) == []
    st = h.dhcp.stats
    assert st["store-write-failed"] == 1 and st["pkt6-receive-drop"] == 0
    assert h.dhcp.bindings() == []
    other.execute("ROLLBACK")
    other.close()
    (o,) = request(h, c, clock)
    assert prefixes_of(decode_dhcp6(o.payload))
    s.close()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_store_deleted_or_replaced_while_running_commits_nothing_more(tmp_path, how):
    clock = FakeClock()
    db = tmp_path / "leases.sqlite3"
    s = SqliteLeaseStore(db)
    h = Harness(make_config(), s, clock)
    (_o,) = request(h, Client("020000000001"), clock)
    for p in tmp_path.iterdir():
        p.unlink()
    if how == "replaced":
        SqliteLeaseStore(db).close()
    assert request(h, Client("020000000002"), clock) == []  # not acknowledged
    assert h.dhcp.stats["store-commit-failed"] == 1
    with pytest.raises(StoreError, match=how):
        s.check_identity()
    s._close()


def test_a_corrupt_store_is_refused_at_start(tmp_path):
    db = tmp_path / "leases.sqlite3"
    s = SqliteLeaseStore(db, synchronous="off")
    c = s._db
    c.execute("CREATE TABLE pad (x)")
    c.executemany("INSERT INTO pad VALUES (?)", [(os.urandom(200),) for _ in range(300)])
    s.close()
    c = sqlite3.connect(db)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    data = bytearray(db.read_bytes())
    page = 4096
    for i in range(2 * page + 100, min(len(data), 6 * page)):  # scribble on b-tree pages
        data[i] = 0xA5
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"corrupt|malformed|not a database"):
        SqliteLeaseStore(db)


def test_a_symlinked_store_is_refused(tmp_path):
    real = tmp_path / "real.sqlite3"
    SqliteLeaseStore(real).close()
    (tmp_path / "leases.sqlite3").symlink_to(real)
    with pytest.raises(StoreError, match="symbolic link"):
        SqliteLeaseStore(tmp_path / "leases.sqlite3")


def test_opening_waits_for_another_router_opening_the_same_file(tmp_path):
    """Two routers sharing one SQLite store start together: the second failed
    with "database is locked" when the first held the file a little longer
    than the serving busy timeout (0.2 s) while opening. Opening waits up to
    OPEN_BUSY_TIMEOUT; serving keeps the short timeout."""
    import sqlite3
    import threading

    from router.store import SqliteLeaseStore

    path = tmp_path / "leases.sqlite3"
    SqliteLeaseStore(path).close()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    t = threading.Timer(0.6, lambda: other.execute("COMMIT"))
    t.start()
    try:
        store = SqliteLeaseStore(path)
    finally:
        t.join()
        other.close()
    assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] == 200
    store.close()
