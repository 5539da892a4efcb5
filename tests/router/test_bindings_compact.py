"""The router's bindings as kept in memory: prefixes and next hops as
integers, :mod:`ipaddress` objects made when asked, equal to those the
public constructors make; the table's per-client look-ups and counts; the
lease store reading them back with the values rows repeat kept once."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network
from itertools import islice

from hypothesis import given
from hypothesis import strategies as st

from odm_wire.constants import MobilityType as MT
from router.core.bindings import (
    Binding,
    BindingState,
    BindingTable,
    network_of,
    prefix_key,
)
from router.store import SqliteLeaseStore

ACTIVE, DECLINED, GRACE = BindingState.ACTIVE, BindingState.DECLINED, BindingState.GRACE


@st.composite
def networks(draw) -> IPv6Network:
    plen = draw(st.integers(0, 128))
    addr = draw(st.integers(0, 2**128 - 1))
    return IPv6Network((addr >> (128 - plen) << (128 - plen) if plen else 0, plen))


@given(networks())
def test_network_of_a_key_is_the_network_the_public_constructor_makes(net):
    got = network_of(prefix_key(net))
    assert type(got) is IPv6Network
    # the same attributes (before any cached property is made; a /127 or /128
    # has a ``hosts`` of its own)
    public = vars(IPv6Network(str(net)))
    assert vars(got).keys() == public.keys()
    assert {k: v for k, v in vars(got).items() if k != "hosts"} == {
        k: v for k, v in public.items() if k != "hosts"}
    assert list(islice(got.hosts(), 2)) == list(islice(net.hosts(), 2))
    assert got == net and hash(got) == hash(net) and str(got) == str(net)
    assert got.prefixlen == net.prefixlen and got.netmask == net.netmask
    assert got.network_address == net.network_address
    assert got.broadcast_address == net.broadcast_address
    assert {got: 1}[net] == 1 and got.subnet_of(IPv6Network("::/0"))


def test_prefix_key_is_the_stores_17_octet_key():
    net = IPv6Network("2001:db8:8000:ff00::/56")
    assert prefix_key(net).to_bytes(17, "big") == net.network_address.packed + bytes([56])


def _b(i: int, duid: bytes = b"\x00\x03\x00\x01\x02\x00\x00\x00\x00\x01", iaid: int = 1,
       mt: MT | None = None, state: BindingState = ACTIVE, until: float = 1000.0) -> Binding:
    return Binding(IPv6Network((0x20010DB8_8000_0000 << 64 | i << 72, 56)), duid, iaid, mt,
                   "legacy", "eth1", IPv6Address(0xFE80 << 112 | i), "ar1", "ar1", state,
                   600, 900, until - 300, until, until - 900)


def test_a_binding_gives_back_the_prefix_and_next_hop_it_was_made_with():
    net, ll = IPv6Network("2001:db8:8000:100::/56"), IPv6Address("fe80::1:2")
    b = Binding(net, b"\x00\x01", 7, MT.FIXED, "fixed", "eth1", ll, "ar1", "ar2", ACTIVE,
                600, 900, 1.0, 2.0, 0.5)
    assert b.prefix == net and type(b.prefix) is IPv6Network and b.prefixlen == 56
    assert b.client_ll == ll and type(b.client_ll) is IPv6Address
    b.client_ll = IPv6Address("fe80::9")
    assert b.client_ll == IPv6Address("fe80::9") and b.ll == int(IPv6Address("fe80::9"))
    b.client_ll = None
    assert b.client_ll is None and b.ll is None
    assert "2001:db8:8000:100::/56" in repr(b)
    c = Binding.from_key(b.key, b.duid, 7, MT.FIXED, "fixed", "eth1", None, "ar1", "ar2",
                         ACTIVE, 600, 900, 1.0, 2.0, 0.5)
    assert c.prefix == net and c.client_ll is None and c is not b


def test_table_looks_up_by_prefix_and_by_client_and_counts_active_ones():
    t = BindingTable()
    d1, d2 = b"\x00\x01", b"\x00\x02"
    a, b, c = _b(1, d1, 1), _b(2, d1, 2, MT.FIXED), _b(3, d1, 1, MT.FIXED)
    other = _b(4, d2, 1)
    for x in (a, b, c, other):
        t.add(x)
    assert len(t) == 4 and t.get(a.prefix) is a and t.get_key(c.key) is c
    assert t.client(d1, 1) == [a, c] and t.client(d1, 2) == [b] and t.client(d1, 3) == []
    assert t.client(d2, 1) == [other] and t.client(b"\x00\x09", 1) == []
    assert t.count_duid(d1) == 3 and t.count_duid_type(d1, MT.FIXED) == 2
    assert t.count_duid_type(d1, None) == 1 and t.count_duid_type(d2, MT.FIXED) == 0
    t.set_state(c, DECLINED)
    assert t.count_duid(d1) == 2 and t.count_duid_type(d1, MT.FIXED) == 1
    assert t.client(d1, 1) == [a, c]  # a declined binding is still the client's record
    t.remove(a)
    assert t.get(a.prefix) is None and t.client(d1, 1) == [c] and t.count_duid(d1) == 1
    t.remove(a)  # twice: nothing
    t.remove(c)
    t.remove(b)
    assert t.client(d1, 1) == [] and t.count_duid(d1) == 0 and not t.by_duid.get(d1)
    # a binding of a prefix already held replaces the old one everywhere
    again = _b(4, d1, 5)
    t.add(again)
    assert t.get(other.prefix) is again and t.client(d2, 1) == [] and t.client(d1, 5) == [again]
    # the list handed out is the caller's
    t.client(d1, 5).clear()
    assert t.client(d1, 5) == [again]


def test_table_expiry_returns_each_binding_once_at_its_latest_expiry():
    t = BindingTable()
    a, b, c = _b(1, until=100.0), _b(2, until=50.0), _b(3, until=float("inf"))
    for x in (a, b, c):
        t.add(x)
    assert t.next_expiry() == 50.0
    b.valid_until = 150.0  # extended: the old heap entry is stale
    t.schedule(b)
    t.schedule(b)  # scheduled twice at one time: expires once
    assert t.next_expiry() == 100.0
    assert t.pop_expired(99.0) == []
    assert t.pop_expired(120.0) == [a]
    assert t.pop_expired(1e9) == [b]  # still in the table: the caller removes
    assert t.next_expiry() is None and t.get(c.prefix) is c


def test_store_reads_back_every_field_and_keeps_repeated_values_once(tmp_path):
    s = SqliteLeaseStore(tmp_path / "l.sqlite3", synchronous="off")
    made = [_b(i, bytes([0, 3, i]), i, MT.SESSION_LASTING if i % 2 else None,
               GRACE if i == 3 else ACTIVE, until=1000.0 + i) for i in range(1, 40)]
    made[4].client_ll = None
    for b in made:
        assert s.insert(b)
    s.commit()
    got = {b.key: b for b in s.load("ar1", "eth1")}
    fields = list(Binding.__slots__)
    for b in made:
        assert {f: getattr(got[b.key], f) for f in fields} == {f: getattr(b, f) for f in fields}
    assert got[made[4].key].client_ll is None
    rows = list(got.values())
    for f in ("pool", "interface", "anchor", "served_by", "preferred_lifetime",
              "valid_lifetime"):
        assert len({id(getattr(b, f)) for b in rows}) == 1, f
    s.close()
