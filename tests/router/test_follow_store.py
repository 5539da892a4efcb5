"""The router a host left follows the shared lease store
(:meth:`router.core.dhcp_server.DhcpServer.follow_store`, RFC 8653 §3.2,
DESIGN §2): a binding the new router ENDed (NON_PERSISTENT) leaves the old
router's memory, pool and route — counted ``ended-elsewhere-pds``, never
``reclaimed-leases`` — and one the new router serves now says so there. A
user trial found both stale on ar1 until their old valid lifetime ended."""

from __future__ import annotations

from odm_wire.constants import MobilityType as MT
from router.core.events import MovedBindingEnded, PrefixReleased
from tests.router.conftest import Client, net
from tests.router.test_moves import attach, two

__all__ = ["two"]


def _held(h, duids=(), prefixes=()):
    """What the adapter reads: the store's record of each binding served by
    ``h`` of the clients ``duids`` (DUID octets) and of ``prefixes``."""
    mine = h.dhcp.served_here(duids)
    for p in prefixes:
        b = h.dhcp.table.get(p)
        if b is not None:
            mine[b.key] = b
    return {k: h.store.find_key(k) for k in mine}


def _pool(h, name):
    return next(p for p in h.dhcp.pool_stats() if p["pool"] == name)


def test_the_router_left_drops_the_ended_binding_and_follows_the_moved_one(two):
    ar1, ar2, clock = two
    c = Client()
    got = attach(ar1, c, c.typed(2, MT.SESSION_LASTING), c.typed(3, MT.NON_PERSISTENT))
    sl, np_ = net(got[2].prefixes[0]), net(got[3].prefixes[0])
    ar1.take_events()
    assert _pool(ar1, "np")["assigned-pds"] == 1
    clock.advance(5)
    ar2.one(c.rebind(c.held(got[2]), c.held(got[3])))
    # the new router tells the adapter whom to nudge for the ended prefix
    assert [(e.prefix, e.served_by) for e in ar2.take_events(MovedBindingEnded)] == [
        (np_, "ar1")]
    assert ar2.store.find_prefix(np_) is None

    duid = bytes(c.duid)
    held = _held(ar1, duids=[duid])
    assert set(held) == {ar1.dhcp.table.get(sl).key, ar1.dhcp.table.get(np_).key}
    assert ar1.dhcp.follow_store(held, clock()) == 2
    ar1.flush()
    # NP: gone, its route with it, its pool's count freed, not "reclaimed"
    assert ar1.dhcp.table.get(np_) is None
    assert [(e.prefix, e.reason) for e in ar1.take_events(PrefixReleased)] == [
        (np_, "ended-elsewhere")]
    assert _pool(ar1, "np")["assigned-pds"] == 0
    assert ar1.dhcp.stats["ended-elsewhere-pds"] == 1
    assert ar1.dhcp.stats["reclaimed-leases"] == 0
    # SL (anchored here): the copy says what the store says; no route event
    b = ar1.dhcp.table.get(sl)
    rec = ar1.store.find_prefix(sl)
    assert (b.anchor, b.served_by, b.valid_until) == ("ar1", "ar2", rec.valid_until)
    assert ar1.dhcp.stats["moved-away-pds"] == 1
    assert _pool(ar1, "sl")["assigned-pds"] == 1
    st = {x["prefix"]: x for x in ar1.core.status(clock())["bindings"]}
    assert set(st) == {str(sl)} and st[str(sl)]["served-by"] == "ar2"
    # looked at again: nothing more changes
    assert ar1.dhcp.follow_store(_held(ar1, duids=[duid]), clock()) == 0
    # the copy's old valid lifetime passing (the store's is later) reclaims nothing
    old_until = rec.cltt - 5 + 1600
    assert old_until < rec.valid_until
    ar1.advance(old_until + 1 - clock())
    assert ar1.dhcp.stats["reclaimed-leases"] == 0 and not ar1.take_events(PrefixReleased)
    assert ar1.dhcp.table.get(sl) is not None


def test_a_copy_anchored_elsewhere_goes_when_the_host_moves_back(two):
    ar1, ar2, clock = two
    c = Client()
    got = attach(ar1, c, c.typed(2, MT.SESSION_LASTING))
    sl = net(got[2].prefixes[0])
    ar2.one(c.rebind(c.held(got[2])))
    ar2.take_events()
    assert ar2.dhcp.table.get(sl).served_by == "ar2"
    clock.advance(5)
    ar1.one(c.rebind(c.held(got[2])))  # back at the anchor
    assert ar1.store.find_prefix(sl).served_by == "ar1"
    assert ar2.dhcp.follow_store(_held(ar2, prefixes=[sl]), clock()) == 1
    ar2.flush()
    assert ar2.dhcp.table.get(sl) is None
    assert [(e.prefix, e.reason) for e in ar2.take_events(PrefixReleased)] == [(sl, "moved")]
    assert ar2.dhcp.stats["moved-away-pds"] == 1 and ar2.dhcp.stats["reclaimed-leases"] == 0


def test_bindings_still_served_here_or_unknown_are_left_alone(two):
    ar1, _ar2, clock = two
    c = Client()
    got = attach(ar1, c, c.typed(3, MT.NON_PERSISTENT))
    np_ = net(got[3].prefixes[0])
    ar1.take_events()
    held = _held(ar1, prefixes=[np_])
    assert ar1.dhcp.follow_store(held, clock()) == 0
    assert ar1.dhcp.follow_store({12345: None}, clock()) == 0
    ar1.flush()
    assert ar1.dhcp.table.get(np_) is not None and not ar1.take_events(PrefixReleased)


def test_a_record_older_than_the_copy_here_changes_nothing(two):
    """What the store said before this router's own later write (a poll's
    read racing a Rebind here) must not undo that write."""
    ar1, ar2, clock = two
    c = Client()
    got = attach(ar1, c, c.typed(2, MT.SESSION_LASTING))
    sl = net(got[2].prefixes[0])
    ar2.one(c.rebind(c.held(got[2])))
    seen = ar1.store.find_prefix(sl)  # served by ar2, read now...
    clock.advance(5)
    ar1.one(c.rebind(c.held(got[2])))  # ...the host came back meanwhile
    ar1.take_events()
    key = ar1.dhcp.table.get(sl).key
    assert ar1.dhcp.follow_store({key: seen}, clock()) == 0
    assert ar1.dhcp.table.get(sl).served_by == "ar1"


def test_the_anchors_copy_goes_when_the_host_releases_at_the_new_router(two):
    ar1, ar2, clock = two
    c = Client()
    got = attach(ar1, c, c.typed(2, MT.SESSION_LASTING))
    sl = net(got[2].prefixes[0])
    ar1.take_events()
    clock.advance(5)
    ar2.one(c.rebind(c.held(got[2])))
    ar1.dhcp.follow_store(_held(ar1, duids=[bytes(c.duid)]), clock())
    assert ar1.dhcp.table.get(sl).served_by == "ar2"
    ar2.one(c.release(ar2.dhcp.server_duid, c.held(got[2])))
    assert ar2.store.find_prefix(sl) is None
    # the anchor's poll finds its redirect's record gone and looks at the prefix
    assert ar1.dhcp.follow_store(_held(ar1, prefixes=[sl]), clock()) == 1
    ar1.flush()
    assert ar1.dhcp.table.get(sl) is None
    assert [(e.prefix, e.reason) for e in ar1.take_events(PrefixReleased)] == [
        (sl, "ended-elsewhere")]
    assert _pool(ar1, "sl")["assigned-pds"] == 0
    assert ar1.dhcp.stats["reclaimed-leases"] == 0
