"""Router limits (router/core/limits.py, issue 7): per-type caps per client,
token-bucket rate limits per DUID and per source address, pool exhaustion
that keeps serving other clients and types, and a counter for every refusal.
Sans-I/O core, fake clock."""

from __future__ import annotations

import tomllib
from ipaddress import IPv6Address, IPv6Network

import pytest

from odm_wire.constants import MobilityType as MT
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import Advertise, Reply
from router.config import ConfigError, Limits, RateLimit, parse_config
from router.core.limits import TokenBuckets
from tests.router.conftest import (
    BASE_TOML,
    CLIENT_LL,
    SERVER_DUID,
    Client,
    Harness,
    net,
    prefixes_of,
)

REFUSALS = ("v6-allocation-fail-client-limit", "v6-allocation-fail-type-limit",
            "v6-allocation-fail-type-not-offered", "v6-allocation-fail-no-pools",
            "v6-allocation-fail-pool-exhausted", "pkt6-rate-limited-client",
            "pkt6-rate-limited-source")


def cfg(limits: str = "", **router):
    data = tomllib.loads(BASE_TOML + "\n[limits]\n" + limits)
    data["router"].update(router)
    return parse_config(data)


def bind(h, c, *ias):
    adv = h.one(c.solicit(*ias))
    assert type(adv) is Advertise
    return h.one(c.request(SERVER_DUID, *ias))


def ia_status(msg, iaid):
    for ia in msg.ia_pds:
        if ia.iaid == iaid:
            return ia.status
    raise KeyError(iaid)


def counters(h):
    return {k: v for k, v in h.core.status(h.clock())["counters"].items() if k in REFUSALS}


# ------------------------------------------------------------- per-type caps
def test_per_type_cap_refuses_the_next_prefix_of_that_type_only(clock, store, client):
    h = Harness(cfg("max_bindings_per_type = { fixed = 2 }"), store, clock)
    r = bind(h, client, client.typed(1, MT.FIXED), client.typed(2, MT.FIXED))
    assert len(prefixes_of(r)) == 2
    r = bind(h, client, client.typed(3, MT.FIXED), client.typed(4, MT.SESSION_LASTING))
    assert prefixes_of(r, 3) == []
    st = ia_status(r, 3)
    assert st.status_code == SC.NO_PREFIX_AVAIL and "per-type limit" in st.status_message
    (sl,) = prefixes_of(r, 4)
    assert sl.mobility_type == MT.SESSION_LASTING and sl.valid_lifetime > 0
    assert h.dhcp.stats["v6-allocation-fail-type-limit"] == 2  # Advertise and Reply
    assert h.dhcp.stats["v6-allocation-fail-client-limit"] == 0


def test_per_type_cap_is_per_client(clock, store, client):
    h = Harness(cfg("max_bindings_per_type = { fixed = 1 }"), store, clock)
    bind(h, client, client.typed(1, MT.FIXED))
    other = Client("020000000077")
    (p,) = prefixes_of(bind(h, other, other.typed(1, MT.FIXED)))
    assert p.mobility_type == MT.FIXED and p.valid_lifetime > 0


def test_binding_at_the_cap_is_still_renewed_and_a_release_frees_a_slot(clock, store, client):
    h = Harness(cfg("max_bindings_per_type = { fixed = 1 }"), store, clock)
    r = bind(h, client, client.typed(1, MT.FIXED))
    held = client.held(r.ia_pds[0])
    clock.advance(100)
    ren = h.one(client.renew(SERVER_DUID, held))
    (p,) = prefixes_of(ren)
    assert net(p) == net(held.prefixes[0]) and p.valid_lifetime == 2000
    assert prefixes_of(bind(h, client, client.typed(2, MT.FIXED))) == []
    h.one(client.release(SERVER_DUID, held))
    (p2,) = prefixes_of(bind(h, client, client.typed(2, MT.FIXED)))
    assert p2.valid_lifetime > 0


def test_legacy_cap_counts_untyped_requests(clock, store, client):
    h = Harness(cfg("max_bindings_per_type = { legacy = 1 }"), store, clock)
    assert prefixes_of(bind(h, client, client.ia(1)))
    r = bind(h, client, client.ia(2), client.typed(3, MT.NON_PERSISTENT))
    assert prefixes_of(r, 2) == [] and ia_status(r, 2).status_code == SC.NO_PREFIX_AVAIL
    assert prefixes_of(r, 3)


def test_cap_zero_refuses_the_type_to_everyone(clock, store, client):
    h = Harness(cfg("max_bindings_per_type = { graceful-replacement = 0 }"), store, clock)
    r = h.one(client.solicit(client.typed(1, MT.GRACEFUL_REPLACEMENT)))
    assert prefixes_of(r) == []
    assert h.dhcp.stats["v6-allocation-fail-type-limit"] == 1


def test_unknown_ia_of_a_client_at_its_cap_is_not_recreated_on_rebind(clock, store, client):
    """A Rebind listing a free pool prefix the server does not know is
    re-created only within the caps (unknown IA policy)."""
    h = Harness(cfg("max_bindings_per_type = { fixed = 1 }"), store, clock)
    bind(h, client, client.typed(1, MT.FIXED))
    free = client.ia(9, MT.FIXED, "2001:db8:f000:f00::", 56)
    ans = h.one(client.rebind(free))
    (p,) = prefixes_of(ans)
    assert p.valid_lifetime == 0  # not appropriate for this client now
    assert len(h.store.load("ar1")) == 1


def test_default_caps_fixed_at_four(clock, store, client):
    assert Limits().type_cap(MT.FIXED) == 4 and Limits().type_cap(MT.SESSION_LASTING) is None
    h = Harness(cfg(), store, clock)
    r = bind(h, client, *(client.typed(i, MT.FIXED) for i in range(5)))
    assert sum(1 for p in prefixes_of(r) if p.valid_lifetime) == 4


def test_per_client_cap_counted(clock, store, client):
    h = Harness(cfg(max_bindings_per_client=2), store, clock)
    r = bind(h, client, *(client.typed(i, MT.SESSION_LASTING) for i in range(3)))
    assert sum(1 for p in prefixes_of(r) if p.valid_lifetime) == 2
    assert "per-client limit" in ia_status(r, 2).status_message
    assert h.dhcp.stats["v6-allocation-fail-client-limit"] == 1  # the Advertise held none


# ---------------------------------------------------------------- rate limits
def test_client_rate_limit_drops_beyond_the_burst_and_refills(clock, store, client):
    h = Harness(cfg("client_rate = { count = 3, interval = 6 }"), store, clock)
    for _ in range(3):
        assert len(h.exchange(client.solicit(client.typed(1, MT.NON_PERSISTENT)))) == 1
    assert h.exchange(client.solicit(client.typed(1, MT.NON_PERSISTENT))) == []
    assert h.dhcp.stats["pkt6-rate-limited-client"] == 1
    other = Client("020000000033")
    assert len(h.exchange(other.solicit(other.typed(1, MT.NON_PERSISTENT)))) == 1
    clock.advance(1.9)  # 0.5 token per second: not yet one token
    assert h.exchange(client.solicit(client.typed(1, MT.NON_PERSISTENT))) == []
    clock.advance(0.2)
    assert len(h.exchange(client.solicit(client.typed(1, MT.NON_PERSISTENT)))) == 1
    assert h.dhcp.stats["pkt6-rate-limited-client"] == 2


def test_client_rate_limit_keys_on_the_duid_not_the_address(clock, store, client):
    h = Harness(cfg("client_rate = { count = 2, interval = 100 }"), store, clock)
    for i in range(2):
        assert h.exchange(client.solicit(client.ia(1)), src=IPv6Address(f"fe80::{i + 1}"))
    assert h.exchange(client.solicit(client.ia(1)), src=IPv6Address("fe80::99")) == []


def test_source_rate_limit_drops_before_decoding(clock, store):
    h = Harness(cfg("source_rate = { count = 2, interval = 10 }"), store, clock)
    a, b = Client("0200000000a1"), Client("0200000000a2")
    assert h.exchange(a.solicit(a.ia(1)))
    assert h.exchange(b.solicit(b.ia(1)))
    garbage = b"\x01\x00"  # would be a parse failure, but never gets that far
    assert h.feed_raw(garbage) == []
    assert h.exchange(a.solicit(a.ia(1))) == []
    assert h.dhcp.stats["pkt6-rate-limited-source"] == 2
    assert h.dhcp.stats["pkt6-parse-failed"] == 0
    assert h.exchange(a.solicit(a.ia(1)), src=IPv6Address("fe80::77"))
    clock.advance(5)
    assert h.exchange(b.solicit(b.ia(1)))


def test_rate_limit_off_answers_every_message(clock, store, client):
    h = Harness(cfg("client_rate = { count = 0 }"), store, clock)
    for _ in range(300):
        assert h.exchange(client.solicit(client.ia(1)))
    assert h.dhcp.stats["pkt6-rate-limited-client"] == 0


def test_default_client_rate_is_scaled_with_the_timer_profile():
    lim = cfg().limits  # BASE_TOML: profile scaled, scale 0.01
    assert lim.client_rate == RateLimit(100, pytest.approx(0.1))
    assert not lim.source_rate.enabled
    assert cfg("client_rate = { count = 7, interval = 2 }").limits.client_rate == RateLimit(7, 2)


def test_token_buckets_forget_the_least_recently_seen_key():
    tb = TokenBuckets(RateLimit(1, 100), max_tracked=2)
    assert tb.allow("a", 0) and tb.allow("b", 0)
    assert not tb.allow("a", 1)  # "a" seen again: most recent
    assert tb.allow("c", 1)  # evicts "b"
    assert len(tb) == 2
    assert not tb.allow("a", 2)
    assert tb.allow("b", 2)  # forgotten: a full bucket again


def test_token_buckets_forget_buckets_that_filled_up_again():
    # 100,000 clients once each (a fill, perfdhcp): buckets of the clients
    # of the last interval are kept, not one per client ever seen
    tb = TokenBuckets(RateLimit(10, 1.0), max_tracked=65536)
    for i in range(100_000):
        assert tb.allow(i, i * 0.01)
    assert len(tb) <= 3 * 100
    assert all(tb.allow("x", 50.0) for _ in range(10))
    assert not tb.allow("x", 50.0)  # a busy key keeps its bucket
    assert tb.tokens("x", 50.0) < 1.0


@pytest.mark.parametrize("text,key", [
    ("max_bindings_per_type = { fixd = 1 }", "limits.max_bindings_per_type.fixd"),
    ("max_bindings_per_type = { fixed = -1 }", "limits.max_bindings_per_type.fixed"),
    ("client_rate = { count = 5, interval = 0 }", "limits.client_rate.interval"),
    ("source_rate = { rate = 5 }", "limits.source_rate.rate"),
    ("max_trackd = 5", "limits.max_trackd"),
])
def test_limits_config_errors_name_the_key(text, key):
    with pytest.raises(ConfigError) as ei:
        cfg(text)
    assert ei.value.key == key


# ------------------------------------------------------------ pool exhaustion
SMALL_NP = BASE_TOML.replace('prefix = "2001:db8:3000::/52"', 'prefix = "2001:db8:3000::/54"')


def test_exhausted_pool_keeps_serving_other_types_clients_and_renewals(clock, store):
    h = Harness(parse_config(tomllib.loads(SMALL_NP)), store, clock)
    clients = [Client(f"0200000001{i:02x}") for i in range(5)]
    held = []
    for c in clients[:4]:
        r = bind(h, c, c.typed(1, MT.NON_PERSISTENT))
        held.append((c, c.held(r.ia_pds[0])))
    last = clients[4]
    r = bind(h, last, last.typed(1, MT.NON_PERSISTENT), last.typed(2, MT.SESSION_LASTING))
    assert prefixes_of(r, 1) == []
    st = ia_status(r, 1)
    assert st.status_code == SC.NO_PREFIX_AVAIL and "pool exhausted" in st.status_message
    assert prefixes_of(r, 2)[0].valid_lifetime > 0
    assert h.dhcp.stats["v6-allocation-fail-pool-exhausted"] == 2
    c0, ia0 = held[0]
    (p,) = prefixes_of(h.one(c0.renew(SERVER_DUID, ia0)))
    assert p.valid_lifetime == 800  # existing bindings are extended
    h.one(c0.release(SERVER_DUID, ia0))
    (p,) = prefixes_of(bind(h, last, last.typed(1, MT.NON_PERSISTENT)))
    assert net(p) == net(ia0.prefixes[0])


def test_exhausted_pool_reclaims_expired_bindings_on_demand(clock, store):
    h = Harness(parse_config(tomllib.loads(SMALL_NP)), store, clock)
    for i in range(4):
        c = Client(f"0200000002{i:02x}")
        bind(h, c, c.typed(1, MT.NON_PERSISTENT))
    clock.advance(801)  # every binding expired; no reclaim timer has run
    assert len(h.dhcp.bindings()) == 4
    late = Client("0200000002ff")
    (p,) = prefixes_of(bind(h, late, late.typed(1, MT.NON_PERSISTENT)))
    assert p.valid_lifetime == 800 and net(p).subnet_of(IPv6Network("2001:db8:3000::/54"))
    assert h.dhcp.stats["reclaimed-leases"] == 4
    assert h.dhcp.stats["v6-allocation-fail-pool-exhausted"] == 0


# ------------------------------------------- leftover rows in the lease store
WIDE_LEGACY = BASE_TOML.replace('prefix = "2001:db8:8000::/52"', 'prefix = "2001:db8:8000::/48"')


def _row(i: int, *, interface: str, until: float, router: str = "ar1"):
    """A stored binding of the i-th /56 of 2001:db8:8000::/48."""
    from router.core.bindings import Binding, BindingState
    p = IPv6Network((int(IPv6Address("2001:db8:8000::")) + (i << 72), 56))
    return Binding(p, bytes.fromhex("00030001020000000f") + bytes([i]), i, None, "legacy",
                   interface, CLIENT_LL, router, router, BindingState.ACTIVE, 600, 1200,
                   until - 600, until, until - 1200)


def _nth(i: int) -> IPv6Network:
    return _row(i, interface="x", until=0).prefix


def _put(store, rows):
    for b in rows:
        assert store.insert(b)
    store.commit()


def _solicit_request(h, c, iaid=1):
    """(prefix advertised, Reply to the Request for it)."""
    adv = h.one(c.solicit(c.ia(iaid)))
    assert type(adv) is Advertise
    (offered,) = prefixes_of(adv)
    rep = h.one(c.request(SERVER_DUID, c.held(adv.ia_pds[0])))
    assert type(rep) is Reply
    return net(offered), rep


def test_leftover_rows_of_a_renamed_interface_do_not_exhaust_the_pool(clock, store):
    """Issue 14: rows of an interface that was renamed (or removed), some
    expired long ago, stay 'active' in the store. They must neither be offered
    (an Advertise never offers what the Request is then refused) nor make a
    nearly empty pool "exhausted"; the expired ones are reclaimed, the live
    ones when they expire."""
    now = clock()
    _put(store, [_row(i, interface="eth-old", until=now - 10) for i in range(20)]
         + [_row(i, interface="eth-old", until=now + 5000) for i in range(20, 40)])
    h = Harness(parse_config(tomllib.loads(WIDE_LEGACY)), store, clock)
    c = Client("020000000301")
    offered, rep = _solicit_request(h, c)
    (p,) = prefixes_of(rep)
    assert net(p) == offered and p.valid_lifetime == 1200
    assert offered not in {_nth(i) for i in range(20, 40)}
    assert h.dhcp.stats["v6-allocation-fail-pool-exhausted"] == 0
    # the expired leftovers go back to the pool at the next reclaim
    h.advance(1)
    assert h.dhcp.stats["reclaimed-leftover-leases"] == 20
    assert all(store.find_prefix(_nth(i)) is None for i in range(20))
    assert all(store.find_prefix(_nth(i)).interface == "eth-old" for i in range(20, 40))
    # the live ones when their valid lifetime ends
    h.advance(5000)
    assert h.dhcp.stats["reclaimed-leftover-leases"] == 40
    assert all(store.find_prefix(_nth(i)) is None for i in range(20, 40))
    assert store.find_prefix(offered) is None  # the client's own binding expired too


def test_rows_written_after_start_do_not_exhaust_the_pool(clock, store):
    """Rows this core did not load (another router or interface writing into
    the same pool space after start-up) collide with the prefixes it tries;
    it must go on past them (reclaiming the expired ones it meets) while the
    pool has free space, not give up after a few collisions."""
    h = Harness(parse_config(tomllib.loads(WIDE_LEGACY)), store, clock)
    now = clock()
    _put(store, [_row(i, interface="eth9", until=now + 5000, router="ar2") for i in range(40)]
         + [_row(i, interface="eth9", until=now - 1, router="ar2") for i in range(40, 45)])
    c = Client("020000000302")
    offered, rep = _solicit_request(h, c)
    (p,) = prefixes_of(rep)
    assert p.valid_lifetime == 1200 and net(p) == offered == _nth(40)
    assert h.dhcp.stats["reclaimed-leftover-leases"] == 1  # the expired row in the way
    assert store.find_prefix(net(p)).duid == h.dhcp.bindings()[0].duid
    assert h.dhcp.stats["v6-allocation-fail-pool-exhausted"] == 0
    # after one collision the pool was re-read: the next client is offered a
    # prefix its Request then gets
    c2 = Client("020000000303")
    offered2, rep2 = _solicit_request(h, c2)
    assert net(prefixes_of(rep2)[0]) == offered2


def test_a_pool_full_of_live_rows_of_others_is_still_exhausted(clock, store):
    """A pool really full of rows written by another router after start-up:
    NoPrefixAvail, already in the Advertise."""
    small = SMALL_NP  # np pool 2001:db8:3000::/54: 4 prefixes
    h = Harness(parse_config(tomllib.loads(small)), store, clock)
    from router.core.bindings import Binding, BindingState
    now = clock()
    for i in range(4):
        p = IPv6Network((int(IPv6Address("2001:db8:3000::")) + (i << 72), 56))
        assert store.insert(Binding(p, b"\x00\x03" + bytes([i]), i, MT.NON_PERSISTENT, "np",
                                    "eth9", CLIENT_LL, "ar2", "ar2", BindingState.ACTIVE,
                                    400, 800, now + 400, now + 800, now))
    store.commit()
    c = Client("020000000304")
    # the Advertise already says so: it offers nothing the Request would not get
    adv = h.one(c.solicit(c.typed(1, MT.NON_PERSISTENT)))
    assert prefixes_of(adv) == []
    st = ia_status(adv, 1)
    assert st.status_code == SC.NO_PREFIX_AVAIL and "pool exhausted" in st.status_message
    r = h.one(c.request(SERVER_DUID, c.typed(1, MT.NON_PERSISTENT)))
    assert ia_status(r, 1).status_code == SC.NO_PREFIX_AVAIL


def test_every_refusal_counter_shows_in_status_at_zero(h):
    assert counters(h) == dict.fromkeys(REFUSALS, 0)


def test_rate_limited_relay_forw_counts_the_inner_client(clock, store, client):
    from odm_wire.dhcp6 import InterfaceId, RelayForw, RelayMsg
    h = Harness(cfg("client_rate = { count = 1, interval = 100 }"), store, clock)

    def relayed():
        return RelayForw(0, IPv6Address("2001:db8:1::1"), CLIENT_LL,
                         (RelayMsg(client.solicit(client.ia(1))), InterfaceId(b"p1")))
    assert h.exchange(relayed(), src=IPv6Address("2001:db8:1::1"))
    assert h.exchange(relayed(), src=IPv6Address("2001:db8:1::1")) == []
    assert h.dhcp.stats["pkt6-rate-limited-client"] == 1
    assert type(h.one(Client("0200000000cc").solicit(client.ia(1)))) in (Advertise, Reply)


def big_cfg(limits: str, **router):
    """cfg() with a legacy pool of 256 prefixes."""
    data = tomllib.loads(BASE_TOML.replace('prefix = "2001:db8:8000::/52"',
                                           'prefix = "2001:db8:8000::/48"')
                         + "\n[limits]\n" + limits)
    data["router"].update(router)
    return parse_config(data)


def _granted(msg) -> int:
    return sum(1 for ia in msg.ia_pds if ia.prefixes and ia.prefixes[0].valid_lifetime)


def test_rate_limits_count_granted_prefixes_not_messages(clock, store):
    """Issue 13 point 14: a Rapid Commit Solicit with 16 IA_PDs costs 16
    tokens, not 1. With a per-source bucket of 20, one source gets 20 new
    prefixes per bucket whatever it packs into its messages (before: 16 per
    message, 320 per second at the recommended 20 messages per second)."""
    h = Harness(big_cfg("source_rate = { count = 20, interval = 10 }\n"
                        "client_rate = { count = 0 }", max_bindings_per_client=100),
                store, clock)
    a, b = Client("0200000000a1"), Client("0200000000a2")
    first = h.one(a.solicit(*(a.ia(i) for i in range(16)), rapid=True))
    assert type(first) is Reply and _granted(first) == 16
    second = h.one(b.solicit(*(b.ia(i) for i in range(16)), rapid=True))
    assert _granted(second) == 4  # 20 tokens, 20 new prefixes
    refused = [ia for ia in second.ia_pds if not ia.prefixes]
    assert len(refused) == 12
    assert all(ia.status.status_code == SC.NO_PREFIX_AVAIL and "rate limit" in
               ia.status.status_message for ia in refused)
    assert h.dhcp.stats["v6-allocation-fail-rate-limited"] == 12
    assert len(h.store.load("ar1")) == 20
    clock.advance(10)  # the bucket refills: 20 more, not 20 messages of 16
    c = Client("0200000000a3")
    third = h.one(c.solicit(*(c.ia(i) for i in range(16)), rapid=True))
    assert _granted(third) == 16


def test_each_new_prefix_also_costs_the_client_bucket(clock, store):
    h = Harness(cfg("client_rate = { count = 4, interval = 10 }", max_bindings_per_client=100),
                store, clock)
    a = Client("0200000000a1")
    rep = h.one(a.solicit(*(a.ia(i) for i in range(8)), rapid=True))
    assert _granted(rep) == 4
    # an Advertise takes nothing from the pool and only its message's token
    h2 = Harness(cfg("client_rate = { count = 4, interval = 10 }",
                     max_bindings_per_client=100), store, clock, ifname="veth0", seed=2)
    b = Client("0200000000b1")
    adv = h2.one(b.solicit(*(b.ia(i) for i in range(8))))
    assert type(adv) is Advertise and sum(1 for ia in adv.ia_pds if ia.prefixes) == 8
