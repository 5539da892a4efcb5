"""Lease store (real SQLite files in tmp_path, a real PostgreSQL server: every
test taking ``store_factory`` runs on both), restart persistence and the
durability rule: no Reply leaves before its binding is committed."""

from __future__ import annotations

import sqlite3
from ipaddress import IPv6Address, IPv6Network

import pytest

from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import decode_dhcp6
from router.core.bindings import Binding, BindingState
from router.errors import StoreError
from router.store import SqliteLeaseStore
from tests.router.conftest import (
    SERVER_DUID,
    Client,
    FakeClock,
    Harness,
    make_config,
    net,
    prefixes_of,
)


def mk(prefix="2001:db8::/56", duid=b"\x00\x03\x00\x01\x02\x00\x00\x00\x00\x02", iaid=1,
       served_by="ar1", valid_until=2000.0):
    return Binding(IPv6Network(prefix), duid, iaid, MT.FIXED, "p", "eth1",
                   IPv6Address("fe80::2"), "ar1", served_by, BindingState.ACTIVE, 100, 200,
                   1100.0, valid_until, 1000.0)


def test_store_round_trip_and_uniqueness(store_factory):
    s = store_factory("a")
    b = mk()
    assert s.insert(b)
    assert not s.insert(mk(duid=b"\x00\x01other"))  # the prefix is held
    s.commit()
    (got,) = s.load("ar1")
    assert (got.prefix, got.duid, got.iaid, got.mobility_type, got.client_ll, got.state) == (
        b.prefix, b.duid, b.iaid, b.mobility_type, b.client_ll, b.state)
    assert s.find_client(b.duid, 1)[0].prefix == b.prefix
    assert s.find_prefix(b.prefix).anchor == "ar1"
    assert s.load("ar2") == []
    s.close()


def test_infinite_lifetime_survives_the_store(store_factory):
    s = store_factory("a")
    b = mk()
    b.valid_until = float("inf")
    s.insert(b)
    s.commit()
    assert s.load("ar1")[0].valid_until == float("inf")
    s.close()


def test_conditional_delete_spares_a_binding_another_router_took_over(store_factory):
    s = store_factory("a")
    b = mk(served_by="ar2", valid_until=5000.0)
    s.insert(b)
    assert not s.delete(b.prefix, served_by="ar1")
    assert not s.delete(b.prefix, served_by="ar2", valid_until_max=4000.0)
    assert s.delete(b.prefix, served_by="ar2", valid_until_max=5000.0)
    s.close()


def test_rollback_forgets_uncommitted_writes(store_factory):
    s = store_factory("a")
    s.insert(mk())
    s.rollback()
    assert s.load("ar1") == [] and not s.pending
    s.close()


def test_meta_values_persist(store_factory):
    s = store_factory("a")
    s.set_meta("server_duid", "000100")
    s.close()
    s2 = store_factory("a")
    assert s2.get_meta("server_duid") == "000100" and s2.get_meta("x") is None
    s2.close()


def test_two_stores_on_one_file_see_each_other(store_factory):
    a = store_factory("shared")
    b = store_factory("shared")
    assert a.insert(mk())
    a.commit()
    assert not b.insert(mk(duid=b"\x00\x02xyz"))
    b.rollback()
    assert b.find_prefix(IPv6Network("2001:db8::/56")) is not None
    a.close()
    b.close()


def test_wal_mode(tmp_path):
    s = SqliteLeaseStore(tmp_path / "a.db")
    s.close()
    db = sqlite3.connect(tmp_path / "a.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


# ----------------------------------------------------------------- restart
def test_restart_keeps_bindings_same_duid_iaid_same_prefix(store_factory):
    clock = FakeClock()
    cfg = make_config()
    c = Client()
    s1 = store_factory("leases")
    h1 = Harness(cfg, s1, clock)
    h1.one(c.solicit(c.typed(1, MT.SESSION_LASTING), c.typed(2, MT.FIXED), c.ia(3)))
    r1 = h1.one(c.request(SERVER_DUID, c.typed(1, MT.SESSION_LASTING), c.typed(2, MT.FIXED),
                          c.ia(3)))
    before = {ia.iaid: net(ia.prefixes[0]) for ia in r1.ia_pds}
    s1.close()  # the agent stops

    clock.advance(100)
    s2 = store_factory("leases")
    h2 = Harness(cfg, s2, clock)  # a new core loads the bindings
    assert len(h2.dhcp.bindings()) == 3
    r2 = h2.one(c.request(SERVER_DUID, c.typed(1, MT.SESSION_LASTING), c.typed(2, MT.FIXED),
                          c.ia(3)))
    after = {ia.iaid: net(ia.prefixes[0]) for ia in r2.ia_pds}
    assert after == before
    # and a new client does not get any of them
    other = Client("020000000042")
    r3 = h2.one(other.request(SERVER_DUID, other.typed(1, MT.SESSION_LASTING)))
    assert net(prefixes_of(r3)[0]) not in before.values()
    pools = {p["pool"]: p["assigned-pds"] for p in h2.dhcp.pool_stats()}
    assert pools == {"fixed": 1, "sl": 2, "np": 0, "gr": 0, "legacy": 1}
    s2.close()


def test_bindings_expired_while_down_are_reclaimed_after_restart(store_factory):
    clock = FakeClock()
    c = Client()
    s1 = store_factory("leases")
    h1 = Harness(make_config(), s1, clock)
    h1.one(c.request(SERVER_DUID, c.typed(1, MT.NON_PERSISTENT)))
    s1.close()
    clock.advance(10000)
    s2 = store_factory("leases")
    h2 = Harness(make_config(), s2, clock)
    h2.advance(0.2)
    assert s2.load("ar1") == []
    s2.close()


def test_restart_with_a_different_monotonic_clock(store_factory):
    """Bindings are stored in wall-clock time: a new boot's monotonic clock
    (a different clock_offset) keeps their remaining lifetimes."""
    from router.core import RouterCore
    c = Client()
    s1 = store_factory("leases")
    core1 = RouterCore(make_config(), "veth0", s1, SERVER_DUID, clock_offset=1_700_000_000.0)
    core1.start(50.0)
    from odm_wire.dhcp6 import encode_dhcp6
    core1.handle_datagram(encode_dhcp6(c.request(SERVER_DUID, c.typed(1, MT.FIXED))),
                          IPv6Address("fe80::2"), 50.0, kind="dhcp6")
    core1.datagrams_to_send()
    s1.close()
    s2 = store_factory("leases")
    # rebooted: monotonic restarted at 5.0, wall clock 1000 s later
    core2 = RouterCore(make_config(), "veth0", s2, SERVER_DUID,
                       clock_offset=1_700_000_000.0 + 50.0 + 1000.0 - 5.0)
    st = core2.status(5.0)
    (b,) = st["bindings"]
    assert b["valid-left"] == 2000 - 1000
    s2.close()


# ------------------------------------------------------------- durability
class RecordingStore:
    """A lease store (of either backend) whose commits are logged, and fail
    (``fail``) as a full disk or a lost database would."""

    def __init__(self, inner, fail=False):
        self.inner = inner
        self.log: list[str] = []
        self.fail = fail

    def __getattr__(self, name):
        return getattr(self.inner, name)

    @property
    def pending(self):
        return self.inner.pending

    def commit(self):
        self.log.append("commit")
        if self.fail and self.inner.pending:
            self.inner.rollback()
            raise StoreError("disk full")
        self.inner.commit()


def test_reply_is_handed_out_only_after_the_commit(store_factory):
    clock = FakeClock()
    s = RecordingStore(store_factory("a"))
    h = Harness(make_config(), s, clock)
    c = Client()
    h.core.handle_datagram(_raw(c.request(SERVER_DUID, c.typed(1, MT.FIXED))),
                           IPv6Address("fe80::2"), clock(), kind="dhcp6")
    assert s.pending and s.log == []  # written, not yet committed, nothing handed out
    out = h.core.datagrams_to_send()
    assert s.log == ["commit"] and len(out) == 1 and not s.pending
    other = store_factory("a")
    assert len(other.load("ar1")) == 1  # durable: another connection sees it
    other.close()
    s.close()


def test_a_batch_shares_one_commit(store_factory):
    clock = FakeClock()
    s = RecordingStore(store_factory("a"))
    h = Harness(make_config(), s, clock)
    for i in range(20):
        c = Client(f"0200000001{i:02x}")
        h.core.handle_datagram(_raw(c.request(SERVER_DUID, c.typed(1, MT.NON_PERSISTENT))),
                               IPv6Address(f"fe80::{i + 10:x}"), clock(), kind="dhcp6")
    out = h.core.datagrams_to_send()
    assert len(out) == 20 and s.log == ["commit"]
    s.close()


def test_failed_commit_drops_the_replies_and_the_state(store_factory):
    clock = FakeClock()
    s = RecordingStore(store_factory("a"), fail=True)
    h = Harness(make_config(), s, clock)
    c = Client()
    h.core.handle_datagram(_raw(c.request(SERVER_DUID, c.typed(1, MT.FIXED))),
                           IPv6Address("fe80::2"), clock(), kind="dhcp6")
    assert h.core.datagrams_to_send() == []
    assert h.dhcp.bindings() == [] and h.dhcp.stats["store-commit-failed"] == 1
    assert h.core.next_event() is None  # no route for a binding that does not exist
    s.fail = False
    (o,) = list(_feed(h, c.request(SERVER_DUID, c.typed(1, MT.FIXED))))
    assert prefixes_of(decode_dhcp6(o.payload))
    s.close()


def _raw(msg):
    from odm_wire.dhcp6 import encode_dhcp6
    return encode_dhcp6(msg)


def _feed(h, msg):
    h.core.handle_datagram(_raw(msg), IPv6Address("fe80::2"), h.clock(), kind="dhcp6")
    return h.core.datagrams_to_send()


@pytest.mark.slow
def test_startup_with_100k_bindings_loads_them_all(tmp_path):
    """(The time it takes is measured by bench/router_vs_kea.py, not here.)"""
    path = tmp_path / "big.db"
    s = SqliteLeaseStore(path, synchronous="off")
    base = int(IPv6Network("2001:db8:8000::/52").network_address)
    cfg = make_config(make_config.__defaults__[0].replace(
        'prefix = "2001:db8:8000::/52"', 'prefix = "2001:db8:8000::/36"'))
    for i in range(100_000):
        b = mk(prefix=str(IPv6Network((base + (i << 72), 56))), duid=i.to_bytes(8, "big"),
               valid_until=1e12)
        b.pool, b.interface, b.mobility_type = "legacy", "veth0", None
        s.insert(b)
    s.close()
    s2 = SqliteLeaseStore(path)
    h = Harness(cfg, s2, FakeClock())
    assert len(h.dhcp.bindings()) == 100_000
    legacy = next(p for p in h.dhcp.pool_stats() if p["pool"] == "legacy")
    assert legacy["assigned-pds"] == 100_000
    s2.close()
