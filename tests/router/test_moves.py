"""A host moving between two router cores that share one lease store (one
SQLite file or one PostgreSQL database, two connections, as in the lab): the per-type answers to the
Rebind at the new router (DESIGN §2 "No Reconfigure", RFC 8653 §3.2), the
events the adapters route by, the move back, and the anchor's stale copy."""

from __future__ import annotations

import re

import pytest

from odm_wire.constants import MobilityType as MT
from router.core.events import BindingMovedHere, PrefixReleased
from tests.router.conftest import (
    BASE_TOML,
    Client,
    FakeClock,
    Harness,
    make_config,
    net,
    prefixes_of,
)

AR2_LL = "fe80::ff:fe00:2"  # the host keeps its link-local address across the move


def ar2_toml() -> str:
    t = BASE_TOML.replace('id = "ar1"', 'id = "ar2"').replace(
        "2001:db8:1::/64", "2001:db8:2::/64")
    return re.sub(r'prefix = "(2001:db8:[0-9a-f]+)::/52"', r'prefix = "\1:1000::/52"', t)


@pytest.fixture
def two(store_factory):
    clock = FakeClock()
    s1 = store_factory("shared")
    s2 = store_factory("shared")
    ar1 = Harness(make_config(graceful_replacement_grace=30), s1, clock)
    ar2 = Harness(make_config(ar2_toml(), graceful_replacement_grace=30), s2, clock)
    yield ar1, ar2, clock
    s1.close()
    s2.close()


def attach(h: Harness, c: Client, *ias):
    """Solicit + Request at ``h``; the Reply's IA_PDs by IAID."""
    adv = h.one(c.solicit(*ias))
    rep = h.one(c.request(adv.server_duid, *ias))
    return {ia.iaid: ia for ia in rep.ia_pds}


def by_iaid(msg):
    return {ia.iaid: ia for ia in msg.ia_pds}


def test_rebind_at_the_new_router_answers_each_type_per_its_guarantee(two):
    ar1, ar2, clock = two
    c = Client()
    got = attach(ar1, c, c.typed(1, MT.FIXED), c.typed(2, MT.SESSION_LASTING),
                 c.typed(3, MT.NON_PERSISTENT), c.typed(4, MT.GRACEFUL_REPLACEMENT))
    old = {i: net(ia.prefixes[0]) for i, ia in got.items()}
    ar1.take_events()
    clock.advance(5)

    rep = ar2.one(c.rebind(*(c.held(ia) for ia in got.values())))
    ans = by_iaid(rep)
    # FIXED and SESSION_LASTING: the same prefix, extended with its full lifetimes
    for i, valid in ((1, 2000), (2, 1600)):
        (p,) = ans[i].prefixes
        assert net(p) == old[i] and p.valid_lifetime == valid and p.preferred_lifetime > 0
    # NON_PERSISTENT: the old prefix with lifetimes 0, next to a new one of ar2's pool
    np = {net(p): p for p in ans[3].prefixes}
    assert (np[old[3]].preferred_lifetime, np[old[3]].valid_lifetime) == (0, 0)
    (new_np,) = [n for n in np if n != old[3]]
    assert new_np.subnet_of(ar2.config.interface("veth0").pool("np").prefix)
    assert np[new_np].mobility_type is MT.NON_PERSISTENT and np[new_np].valid_lifetime > 0
    # GRACEFUL_REPLACEMENT: the old prefix deprecated with the grace as valid, plus a new one
    gr = {net(p): p for p in ans[4].prefixes}
    assert (gr[old[4]].preferred_lifetime, gr[old[4]].valid_lifetime) == (0, 30)
    (new_gr,) = [n for n in gr if n != old[4]]
    assert gr[new_gr].mobility_type is MT.GRACEFUL_REPLACEMENT and gr[new_gr].valid_lifetime > 30

    moved = {e.prefix: e for e in ar2.take_events(BindingMovedHere)}
    assert set(moved) == {old[1], old[2], old[4]}
    assert all(e.anchor == "ar1" for e in moved.values())
    # the shared store now says who serves what
    s = ar2.store
    assert s.find_prefix(old[1]).served_by == "ar2" and s.find_prefix(old[1]).anchor == "ar1"
    assert s.find_prefix(old[3]) is None
    assert {b.prefix for b in s.moved_away("ar1")} == {old[1], old[2], old[4]}


def test_the_grace_ends_at_the_new_router_and_the_prefix_is_released(two):
    ar1, ar2, _clock = two
    c = Client()
    got = attach(ar1, c, c.typed(4, MT.GRACEFUL_REPLACEMENT))
    old = net(got[4].prefixes[0])
    ar2.one(c.rebind(c.held(got[4])))
    ar2.take_events()
    ar2.advance(29)
    assert not ar2.take_events(PrefixReleased)
    ar2.advance(2)
    assert [e.prefix for e in ar2.take_events(PrefixReleased)] == [old]
    assert ar2.store.find_prefix(old) is None


def test_anchor_stale_copy_expiring_does_not_release_a_prefix_served_elsewhere(two):
    """ar1 keeps its copy of a SESSION_LASTING binding after the host left; when
    that copy's lifetime passes while ar2 keeps extending the binding, ar1 must
    neither announce a release (its adapter would drop the redirect) nor hand
    the prefix to another client."""
    ar1, ar2, clock = two
    c = Client()
    got = attach(ar1, c, c.typed(2, MT.SESSION_LASTING))
    old = net(got[2].prefixes[0])
    ar1.take_events()
    clock.advance(10)
    ar2.one(c.rebind(c.held(got[2])))
    for _ in range(3):  # the host renews at ar2 past ar1's original valid lifetime
        clock.advance(700)
        rep = ar2.one(c.renew(ar2.core.dhcp.server_duid, c.held(got[2])))
        assert net(prefixes_of(rep)[0]) == old and prefixes_of(rep)[0].valid_lifetime == 1600
    ar1.advance(1)
    assert not ar1.take_events(PrefixReleased)
    assert ar1.store.find_prefix(old).served_by == "ar2"
    other = Client("020000000077")
    for i in range(4):
        rep = ar1.one(other.request(ar1.core.dhcp.server_duid, other.typed(10 + i,
                                                                           MT.SESSION_LASTING)))
        assert old not in [net(p) for p in prefixes_of(rep)]


def test_move_back_to_the_anchor_serves_the_prefix_there_again(two):
    ar1, ar2, clock = two
    c = Client()
    got = attach(ar1, c, c.typed(1, MT.FIXED))
    old = net(got[1].prefixes[0])
    ar2.one(c.rebind(c.held(got[1])))
    clock.advance(3)
    rep = ar1.one(c.rebind(c.held(got[1])))
    (p,) = prefixes_of(rep)
    assert net(p) == old and p.valid_lifetime == 2000
    b = ar1.store.find_prefix(old)
    assert (b.anchor, b.served_by) == ("ar1", "ar1")
    assert ar1.store.moved_away("ar1") == []


def test_release_at_the_serving_router_ends_the_binding_everywhere(two):
    ar1, ar2, _clock = two
    c = Client()
    got = attach(ar1, c, c.typed(2, MT.SESSION_LASTING))
    old = net(got[2].prefixes[0])
    ar2.one(c.rebind(c.held(got[2])))
    ar2.take_events()
    ar2.one(c.release(ar2.core.dhcp.server_duid, c.held(got[2])))
    assert [e.prefix for e in ar2.take_events(PrefixReleased)] == [old]
    assert ar2.store.find_prefix(old) is None and ar1.store.moved_away("ar1") == []
