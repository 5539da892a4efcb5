"""DHCPv6-PD client core (RFC 8415 §18.2) against scripted server answers."""

import itertools
from ipaddress import IPv6Address, IPv6Network

import pytest
from hosthelp import CLIENT, SERVER, SERVER_LL, advertise, config, decoded, prefix, reply, rng

from host.core.events import (
    FailureReason,
    PrefixBound,
    PrefixDeprecated,
    PrefixExpired,
    PrefixRemoved,
    PrefixRenewed,
    RequestFailed,
)
from host.core.pd_client import IaState, PdClient
from odm_wire import constants as C
from odm_wire.constants import INFINITY
from odm_wire.constants import MobilityType as MT
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import (
    IANA,
    ClientId,
    DuidLL,
    ElapsedTime,
    OdmVendorOpts,
    OptionRequest,
    RapidCommit,
    Rebind,
    Release,
    Renew,
    Request,
    ServerId,
    Solicit,
    StatusCode,
    UnknownOption,
    decode_dhcp6,
    encode_dhcp6,
)

P1 = "2001:db8:8000::/56"
P2 = "2001:db8:9000::/56"


def make(**kw):
    return PdClient(config(**kw), CLIENT, rng=rng())


def events(c):
    out = []
    while (e := c.next_event()) is not None:
        out.append(e)
    return out


def of(evs, cls):
    return [e for e in evs if type(e) is cls]


def bind(c, t=None, now=0.0, p=P1, **kw):
    """Solicit → Advertise(255) → Request → Reply; returns (iaid, now)."""
    iaid = c.acquire(t, now)
    sol = decoded(c.datagrams_to_send())[-1]
    c.handle_datagram(advertise(sol, [prefix(p, t=t)], pref=255, **kw), SERVER_LL, now)
    req = decoded(c.datagrams_to_send())[-1]
    assert type(req) is Request
    c.handle_datagram(reply(req, [prefix(p, t=t)], **kw), SERVER_LL, now)
    return iaid


# ------------------------------------------------------------------ Solicit --
def test_legacy_solicit_sends_no_type_anywhere():
    c = make()
    c.start(0.0)
    (sol,) = decoded(c.datagrams_to_send())
    assert type(sol) is Solicit
    assert sol.get(ClientId).duid == CLIENT
    assert sol.get(ElapsedTime).elapsed_time == 0
    assert set(sol.get(OptionRequest).requested_options) == {17, 82}
    (ia,) = sol.ia_pds
    (hint,) = ia.prefixes
    assert (hint.prefix, hint.prefix_length, hint.preferred_lifetime, hint.valid_lifetime) == (
        IPv6Address("::"), 64, 0, 0)
    assert not [o for _, o in sol.iter_options() if type(o) is OdmVendorOpts]


def test_typed_solicit_nests_type_in_iaprefix_and_uses_fresh_iaids():
    c = make()
    a = c.acquire(MT.SESSION_LASTING, 0.0)
    b = c.acquire(MT.SESSION_LASTING, 0.0)
    assert a != b
    s1, s2 = decoded(c.datagrams_to_send())
    assert s1.transaction_id != s2.transaction_id
    for s in (s1, s2):
        (ia,) = s.ia_pds
        assert ia.prefixes[0].mobility_type == MT.SESSION_LASTING
        assert s.get(OdmVendorOpts) is None  # not at top level unless configured


def test_top_level_type_sent_only_when_configured():
    c = make(top_level_type=True)
    c.acquire(MT.FIXED, 0.0)
    c.acquire(None, 0.0)
    typed, legacy = decoded(c.datagrams_to_send())
    assert typed.get(OdmVendorOpts).suboptions[0].mobility_type == MT.FIXED
    assert legacy.get(OdmVendorOpts) is None


def test_first_solicit_delayed_up_to_sol_max_delay():
    c = PdClient(config(first_solicit_delay=True), CLIENT, rng=rng(7))
    c.start(0.0)
    assert c.datagrams_to_send() == []
    t = c.get_timer()
    assert 0.0 <= t <= 1.0
    c.handle_timer(t)
    assert len(decoded(c.datagrams_to_send())) == 1


def test_advertises_collected_for_first_rt_then_best_preference_wins():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    other = DuidLL(1, b"\x02\x00\x00\x00\x00\x09")
    c.handle_datagram(advertise(sol, [prefix(P1)], pref=10), SERVER_LL, 0.1)
    c.handle_datagram(advertise(sol, [prefix(P2)], pref=50, server=other),
                      IPv6Address("fe80::9"), 0.2)
    assert c.datagrams_to_send() == []  # still collecting
    first_rt = c.get_timer()
    assert 1.0 < first_rt <= 1.1
    c.handle_timer(first_rt)
    (req,) = decoded(c.datagrams_to_send())
    assert type(req) is Request
    assert req.get(ServerId).duid == other
    assert req.ia_pds[0].prefixes[0].prefix == IPv6Network(P2).network_address


def test_preference_255_taken_at_once():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1)], pref=255), SERVER_LL, 0.05)
    (req,) = decoded(c.datagrams_to_send())
    assert type(req) is Request and req.get(ServerId).duid == SERVER


def test_advertise_after_first_rt_taken_at_once():
    c = make()
    c.acquire(None, 0.0)
    c.datagrams_to_send()
    c.handle_timer(c.get_timer())
    sol2 = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol2, [prefix(P1)]), SERVER_LL, c.get_timer() - 0.5)
    assert type(decoded(c.datagrams_to_send())[0]) is Request


def test_full_exchange_binds_prefix_with_lifetimes():
    c = make()
    iaid = bind(c)
    evs = events(c)
    (b,) = of(evs, PrefixBound)
    assert b == PrefixBound(IPv6Network(P1), None, 3000, 4000, iaid, bytes(SERVER))
    ia = c.ias[iaid]
    assert ia.state == IaState.BOUND and ia.t1_at == 1000 and ia.t2_at == 2000


def test_rapid_commit_reply_binds_without_request():
    c = make(rapid_commit=True)
    iaid = c.acquire(MT.FIXED, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    assert sol.get(RapidCommit) is not None
    c.handle_datagram(reply(sol, [prefix(P1, t=MT.FIXED)], rapid=True), SERVER_LL, 0.01)
    assert c.datagrams_to_send() == []
    (b,) = of(events(c), PrefixBound)
    assert b.mobility_type == MT.FIXED and b.iaid == iaid


def test_reply_to_solicit_without_rapid_commit_option_dropped():
    c = make(rapid_commit=True)
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(sol, [prefix(P1)]), SERVER_LL, 0.01)
    assert not of(events(c), PrefixBound)


def test_noprefixavail_only_advertise_ignored_and_solicit_backs_off():
    c = make()
    c.acquire(MT.GRACEFUL_REPLACEMENT, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    t_first = c.get_timer()
    sends = [0.0]
    now = 0.0
    for _ in range(5):
        c.handle_datagram(advertise(sol, [], t1=0, t2=0, ia_status=SC.NO_PREFIX_AVAIL),
                          SERVER_LL, now + 0.01)
        assert c.datagrams_to_send() == []  # no Request, no storm
        now = c.get_timer()
        c.handle_timer(now)
        out = decoded(c.datagrams_to_send())
        assert [type(m) for m in out] == [Solicit]
        sol = out[0]
        sends.append(now)
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert gaps[0] == pytest.approx(t_first)
    for g0, g1 in itertools.pairwise(gaps):
        assert g1 >= 1.8 * g0
    fails = of(events(c), RequestFailed)
    assert fails and fails[0].reason == FailureReason.NOTSUPPORTED and not fails[0].final


def test_noaddrsavail_for_ia_na_and_at_top_level_do_not_hide_good_ia_pd():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    na = IANA(7, 0, 0, (StatusCode(SC.NO_ADDRS_AVAIL, "no addresses"),))
    c.handle_datagram(advertise(sol, [prefix(P1)], pref=255, status=SC.NO_ADDRS_AVAIL,
                                extra_ia=(na,)), SERVER_LL, 0.0)
    req = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(req, [prefix(P1)], status=SC.NO_ADDRS_AVAIL, extra_ia=(na,)),
                      SERVER_LL, 0.0)
    assert of(events(c), PrefixBound)


# ------------------------------------------------------------------- T1/T2 --
def test_t1_t2_zero_client_picks_half_and_eight_tenths_of_preferred():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1, 100, 200)], pref=255), SERVER_LL, 0.0)
    req = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(req, [prefix(P1, 100, 200)], t1=0, t2=0), SERVER_LL, 10.0)
    ia = next(iter(c.ias.values()))
    assert ia.t1_at == pytest.approx(60.0) and ia.t2_at == pytest.approx(90.0)


def test_t1_t2_zero_never_means_now():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1, 0, 200)], pref=255), SERVER_LL, 0.0)
    req = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(req, [prefix(P1, 0, 1)], t1=0, t2=0), SERVER_LL, 5.0)
    ia = next(iter(c.ias.values()))
    assert ia.t1_at >= 6.0
    assert c.datagrams_to_send() == []


def test_t1_greater_than_t2_discards_the_ia_pd():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1)], pref=255), SERVER_LL, 0.0)
    req = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(req, [prefix(P1)], t1=2000, t2=1000), SERVER_LL, 0.1)
    assert not of(events(c), PrefixBound)
    ia = next(iter(c.ias.values()))
    assert ia.state == IaState.REQUESTING  # still waiting for a usable Reply


def test_infinite_t1_t2_means_no_renewal():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    pfx = [prefix(P1, INFINITY, INFINITY)]
    c.handle_datagram(advertise(sol, pfx, pref=255), SERVER_LL, 0.0)
    req = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(req, pfx, t1=INFINITY, t2=INFINITY), SERVER_LL, 0.0)
    assert of(events(c), PrefixBound)
    assert c.get_timer() is None


# ------------------------------------------------------- Renew / Rebind --
def test_renew_at_t1_to_same_server_with_type_then_renewed():
    c = make()
    iaid = bind(c, MT.SESSION_LASTING)
    events(c)
    assert c.get_timer() == 1000
    c.handle_timer(1000)
    (ren,) = decoded(c.datagrams_to_send())
    assert type(ren) is Renew and ren.get(ServerId).duid == SERVER
    (p,) = ren.ia_pds[0].prefixes
    assert p.network == P1 and p.mobility_type == MT.SESSION_LASTING
    c.handle_datagram(reply(ren, [prefix(P1, 3000, 4000, t=MT.SESSION_LASTING)]), SERVER_LL,
                      1000.2)
    (r,) = of(events(c), PrefixRenewed)
    assert r.iaid == iaid
    assert c.ias[iaid].t1_at == pytest.approx(2000.2)


def test_rebind_at_t2_without_server_id_and_expiry_at_valid_lifetime():
    c = make()
    iaid = bind(c)
    events(c)
    now = 1000.0
    c.handle_timer(now)
    assert type(decoded(c.datagrams_to_send())[0]) is Renew
    kinds = []
    while True:
        now = c.get_timer()
        if now is None or now > 4000:
            break
        c.handle_timer(now)
        kinds += [type(m) for m in decoded(c.datagrams_to_send())]
        if of(events(c), PrefixExpired):
            break
    assert Rebind in kinds
    # the prefix is gone exactly at its valid lifetime (4000), not at T2 (2000)
    assert now == pytest.approx(4000.0)
    assert iaid not in c.ias or not c.ias[iaid].leases


def test_rebind_messages_carry_no_server_id():
    c = make()
    bind(c)
    c.handle_timer(2000.0)
    msgs = decoded(c.datagrams_to_send())
    assert type(msgs[-1]) is Rebind and msgs[-1].get(ServerId) is None


def test_nobinding_in_renew_reply_sends_request_and_keeps_prefix():
    c = make()
    iaid = bind(c)
    events(c)
    c.handle_timer(1000.0)
    ren = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(ren, [], t1=0, t2=0, ia_status=SC.NO_BINDING), SERVER_LL, 1000.1)
    (req,) = decoded(c.datagrams_to_send())
    assert type(req) is Request
    assert req.ia_pds[0].prefixes[0].network == P1
    assert IPv6Network(P1) in c.ias[iaid].leases
    assert not of(events(c), PrefixRemoved)
    c.handle_datagram(reply(req, [prefix(P1)]), SERVER_LL, 1000.2)
    assert of(events(c), PrefixRenewed)
    assert c.ias[iaid].state == IaState.BOUND


def test_reply_lifetime_zero_removes_prefix_now_and_preferred_zero_deprecates():
    c = make()
    bind(c, MT.NON_PERSISTENT, p=P1)
    events(c)
    c.rebind_all(10.0)
    c.handle_timer(c.get_timer())
    reb = decoded(c.datagrams_to_send())[0]
    assert type(reb) is Rebind
    c.handle_datagram(reply(reb, [prefix(P1, 0, 0, t=MT.NON_PERSISTENT)]), SERVER_LL, 11.0)
    evs = events(c)
    assert of(evs, PrefixRemoved)[0].reason == "lifetime-0"
    c2 = make()
    bind(c2, MT.GRACEFUL_REPLACEMENT)
    events(c2)
    c2.rebind_all(10.0)
    c2.handle_timer(c2.get_timer())
    reb = decoded(c2.datagrams_to_send())[0]
    c2.handle_datagram(reply(reb, [prefix(P1, 0, 30, t=MT.GRACEFUL_REPLACEMENT),
                                   prefix(P2, 3000, 4000, t=MT.GRACEFUL_REPLACEMENT)]),
                       SERVER_LL, 11.0)
    evs = events(c2)
    (d,) = of(evs, PrefixDeprecated)
    assert d.prefix == IPv6Network(P1) and d.valid_until == pytest.approx(41.0)
    assert of(evs, PrefixBound)[0].prefix == IPv6Network(P2)


def test_rebind_all_uses_confirm_timing():
    c = make()
    bind(c)
    c.rebind_all(100.0)
    t0 = c.get_timer()
    assert 100.0 <= t0 <= 101.0  # CNF_MAX_DELAY
    c.handle_timer(t0)
    assert type(decoded(c.datagrams_to_send())[0]) is Rebind
    t1 = c.get_timer()
    assert 0.9 <= t1 - t0 <= 1.1  # CNF_TIMEOUT


# ------------------------------------------------------------ validation --
@pytest.mark.parametrize("mutation", ["xid", "no-server-id", "foreign-client", "no-client"])
def test_bad_replies_dropped(mutation):
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1)], pref=255), SERVER_LL, 0.0)
    req = decoded(c.datagrams_to_send())[0]
    data = reply(req, [prefix(P1)])
    m = decode_dhcp6(data)
    if mutation == "xid":
        m = type(m)(m.transaction_id ^ 1, m.options)
    elif mutation == "no-server-id":
        m = type(m)(m.transaction_id, tuple(o for o in m.options if type(o) is not ServerId))
    elif mutation == "foreign-client":
        m = type(m)(m.transaction_id, tuple(
            ClientId(DuidLL(1, b"\x02\0\0\0\0\x07")) if type(o) is ClientId else o
            for o in m.options))
    else:
        m = type(m)(m.transaction_id, tuple(o for o in m.options if type(o) is not ClientId))
    before = c.dropped
    c.handle_datagram(encode_dhcp6(m), SERVER_LL, 0.1)
    assert c.dropped == before + 1
    assert not of(events(c), PrefixBound)


def test_malformed_option_of_no_interest_ignored_rest_used():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1)], pref=255), SERVER_LL, 0.0)
    req = decoded(c.datagrams_to_send())[0]
    # NTP server option (56) whose sub-option claims 200 octets but has 2
    ntp = UnknownOption(56, b"\x00\x01\x00\xc8\xab\xcd")
    c.handle_datagram(reply(req, [prefix(P1)], extra=(ntp,)), SERVER_LL, 0.1)
    assert of(events(c), PrefixBound)


def _requested():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1)], pref=255), SERVER_LL, 0.0)
    return c, decoded(c.datagrams_to_send())[0]


@pytest.mark.parametrize("junk", [
    b"\x00",                          # a stray octet
    b"\x00\x00\x00",                  # three: no whole option header
    b"\x00\x38\x00\x40\x01",          # option 56 (NTP), len 64, 1 octet there
    b"\x00\x00\x00\x08\x00\x00",      # option 0 (padding?), len 8, 2 octets there
])
def test_trailing_octets_that_are_no_whole_option_are_salvaged(junk, caplog):
    """Issue 14, strict codec / tolerant host: the codec refuses the Reply
    (and says where); the host uses the intact options before the damage,
    warns and counts it."""
    import logging

    from odm_wire.errors import WireFormatError
    c, req = _requested()
    data = reply(req, [prefix(P1)]) + junk
    with pytest.raises(WireFormatError) as ei:
        decode_dhcp6(data)
    assert ei.value.offset >= len(data) - len(junk)
    with caplog.at_level(logging.WARNING, logger="host.core.pd_client"):
        c.handle_datagram(data, SERVER_LL, 0.1)
    (b,) = of(events(c), PrefixBound)
    assert b.prefix == IPv6Network(P1)
    assert c.drops.counts["salvaged-trailing-octets"] == 1 and c.dropped == 0
    assert any("[salvaged-trailing-octets]" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("junk,counter", [
    (b"\x00\x19\x00\x40\x01", "damaged-essential-option"),   # IA_PD cut short
    (b"\x00\x02\x00\x0a\x00\x03", "damaged-essential-option"),  # Server Identifier
    (b"\x00\x0d\x00\x08\x00", "damaged-essential-option"),       # Status Code
    # a whole IA_PD whose IAPREFIX overruns it: damage inside a whole option
    (b"\x00\x19\x00\x10" + bytes(12) + b"\x00\x1a\x00\x64", "malformed"),
])
def test_damage_to_what_the_host_relies_on_refuses_the_message(junk, counter):
    c, req = _requested()
    c.handle_datagram(reply(req, [prefix(P1)]) + junk, SERVER_LL, 0.1)
    assert not of(events(c), PrefixBound)
    assert c.drops.counts[counter] == 1 and c.dropped == 1
    assert c.drops.counts["salvaged-trailing-octets"] == 0


def test_advertise_with_a_stray_trailing_octet_is_used():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1)], pref=255) + b"\xff", SERVER_LL, 0.0)
    (req,) = decoded(c.datagrams_to_send())
    assert type(req).__name__ == "Request"
    assert c.drops.counts["salvaged-trailing-octets"] == 1


def test_typed_prefix_in_untyped_ia_discarded():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1, t=MT.FIXED)], pref=255), SERVER_LL, 0.0)
    assert c.datagrams_to_send() == []  # nothing usable: Advertise ignored
    assert not of(events(c), PrefixBound)


def test_reserved_type_value_ignored():
    from odm_wire.dhcp6 import MobilityTypeSubOption
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    reserved = OdmVendorOpts((MobilityTypeSubOption(6),))
    c.handle_datagram(advertise(sol, [prefix(P1, extra=(reserved,))], pref=255), SERVER_LL, 0)
    req = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(req, [prefix(P1, extra=(reserved,))]), SERVER_LL, 0.1)
    (b,) = of(events(c), PrefixBound)
    assert b.mobility_type is None


def test_iaprefix_preferred_above_valid_discarded():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1, 500, 400), prefix(P2)], pref=255),
                      SERVER_LL, 0.0)
    req = decoded(c.datagrams_to_send())[0]
    assert [p.network for p in req.ia_pds[0].prefixes] == [P2]


# --------------------------------------------------- Kea and plain servers --
def test_kea_top_level_type_accepted_for_single_ia_pd_that_asked_it():
    c = make()
    c.acquire(MT.NON_PERSISTENT, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1)], top_type=MT.NON_PERSISTENT, pref=255),
                      SERVER_LL, 0.0)
    req = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(req, [prefix(P1)], top_type=MT.NON_PERSISTENT), SERVER_LL, 0.1)
    (b,) = of(events(c), PrefixBound)
    assert b.mobility_type == MT.NON_PERSISTENT


def test_kea_top_level_type_of_another_type_not_accepted():
    c = make()
    c.acquire(MT.NON_PERSISTENT, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1)], top_type=MT.FIXED, pref=255), SERVER_LL, 0)
    assert c.datagrams_to_send() == []
    assert of(events(c), RequestFailed)[0].reason == FailureReason.NOTSUPPORTED


def test_top_level_type_never_types_a_legacy_prefix():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1)], top_type=MT.SESSION_LASTING, pref=255),
                      SERVER_LL, 0.0)
    req = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(req, [prefix(P1)], top_type=MT.SESSION_LASTING), SERVER_LL, 0.1)
    (b,) = of(events(c), PrefixBound)
    assert b.mobility_type is None


def test_untyped_prefix_for_typed_request_with_rapid_commit_is_released():
    c = make(rapid_commit=True)
    c.acquire(MT.FIXED, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(sol, [prefix(P1)], rapid=True), SERVER_LL, 0.01)
    (rel,) = decoded(c.datagrams_to_send())
    assert type(rel) is Release and rel.ia_pds[0].prefixes[0].network == P1
    (f,) = of(events(c), RequestFailed)
    assert f.reason == FailureReason.NOTSUPPORTED and f.final
    assert not of(events(c), PrefixBound)


def test_noprefixavail_from_network_offering_the_type_is_failed():
    c = make()
    c.acquire(MT.FIXED, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [], ia_status=SC.NO_PREFIX_AVAIL,
                                supported=[MT.FIXED, MT.NON_PERSISTENT]), SERVER_LL, 0.0)
    (f,) = of(events(c), RequestFailed)
    assert f.reason == FailureReason.FAILED


def test_request_exhausting_req_max_rc_fails_and_resolicits():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(advertise(sol, [prefix(P1)], pref=255), SERVER_LL, 0.0)
    sent = decoded(c.datagrams_to_send())
    while not any(type(m) is Solicit for m in sent):
        c.handle_timer(c.get_timer())
        sent += decoded(c.datagrams_to_send())
    assert sum(type(m) is Request for m in sent) == C.REQ_MAX_RC
    (f,) = of(events(c), RequestFailed)
    assert "REQ_MAX_RC" in f.detail


def test_elapsed_time_grows_on_retransmission():
    c = make()
    c.acquire(None, 0.0)
    c.datagrams_to_send()
    t = c.get_timer()
    c.handle_timer(t)
    (sol2,) = decoded(c.datagrams_to_send())
    assert sol2.get(ElapsedTime).elapsed_time == round(t * 100)


# ----------------------------------------------------------------- Release --
def test_release_stops_use_first_then_sends_release_up_to_rel_max_rc():
    c = make()
    iaid = bind(c, MT.SESSION_LASTING)
    events(c)
    c.release(iaid, 50.0)
    (rm,) = of(events(c), PrefixRemoved)
    assert rm.reason == "released"
    sent = decoded(c.datagrams_to_send())
    assert type(sent[0]) is Release and sent[0].get(ServerId).duid == SERVER
    assert sent[0].ia_pds[0].prefixes[0].mobility_type == MT.SESSION_LASTING
    while c.get_timer() is not None:
        c.handle_timer(c.get_timer())
        sent += decoded(c.datagrams_to_send())
    assert len(sent) == C.REL_MAX_RC
    assert iaid not in c.ias


def test_any_reply_ends_release():
    c = make()
    iaid = bind(c)
    c.release(iaid, 50.0)
    rel = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(rel, [], t1=0, t2=0, status=SC.NO_BINDING,
                            ia_status=SC.NO_BINDING), SERVER_LL, 50.1)
    assert c.get_timer() is None and iaid not in c.ias


# -------------------------------------------------------------- rate limit --
def test_send_rate_limited_to_twenty_per_twenty_seconds():
    c = make()
    for _ in range(30):
        c.acquire(MT.NON_PERSISTENT, 0.0)
    assert len(c.datagrams_to_send()) == 20
    c.handle_timer(0.5)
    assert c.datagrams_to_send() == []
    t = c.get_timer()
    assert t == pytest.approx(1.0, abs=0.01)
    c.handle_timer(t)
    assert len(c.datagrams_to_send()) == 1


def test_request_to_known_server_for_on_demand_type():
    c = make()
    bind(c)
    c.acquire(MT.FIXED, 5.0)
    (req,) = decoded(c.datagrams_to_send())
    assert type(req) is Request and req.get(ServerId).duid == SERVER
    assert req.ia_pds[0].prefixes[0].mobility_type == MT.FIXED


# ----------------------------------------- a Reply after the IA_PD was cancelled --
@pytest.mark.parametrize("via", ["rapid-commit", "request"])
def test_late_reply_to_a_cancelled_ia_pd_is_released(via):
    """setsc() gave up (cancel) while its Rapid Commit Solicit or Request was
    on the wire; the server's Reply arrives after that. The server has
    committed the prefix (RFC 8415 §18.3.1, §18.3.2), so the client releases
    it at once (§18.2.7) instead of leaving it bound until its valid lifetime
    ends; nothing is configured on the host."""
    c = make(rapid_commit=(via == "rapid-commit"))
    iaid = c.acquire(MT.NON_PERSISTENT, 0.0)
    (msg,) = decoded(c.datagrams_to_send())
    if via == "request":
        c.handle_datagram(advertise(msg, [prefix(P1, t=MT.NON_PERSISTENT)]), SERVER_LL, 0.01)
        c.handle_timer(c.get_timer())
        (msg,) = decoded(c.datagrams_to_send())
        assert type(msg) is Request
    c.cancel(iaid, 0.5)
    assert iaid not in c.ias and c.datagrams_to_send() == []
    c.handle_datagram(reply(msg, [prefix(P1, t=MT.NON_PERSISTENT)], rapid=True), SERVER_LL, 1.0)
    assert not of(events(c), PrefixBound)
    (rel,) = decoded(c.datagrams_to_send())
    assert type(rel) is Release and rel.server_duid == SERVER
    (ia_pd,) = rel.ia_pds
    assert ia_pd.iaid == iaid and [p.network for p in ia_pd.prefixes] == [P1]
    # the Release runs outside the client's IA_PDs: a new request for the same
    # type is not held up by it (nor shown in the status)
    assert iaid not in c.ias and c.snapshot(1.0) == []
    new = c.acquire(MT.NON_PERSISTENT, 1.05)
    (ask,) = decoded(c.datagrams_to_send())
    assert type(ask) in (Solicit, Request) and ask.ia_pds[0].iaid == new != iaid
    c.handle_datagram(reply(rel), SERVER_LL, 1.1)  # the Release is acknowledged
    assert new in c.ias  # ... and ending it leaves the new IA_PD alone
    assert iaid not in c.ias and c.datagrams_to_send() == []
    # the same late Reply again (a retransmission): nothing more to do
    c.handle_datagram(reply(msg, [prefix(P1, t=MT.NON_PERSISTENT)], rapid=True), SERVER_LL, 1.2)
    assert c.datagrams_to_send() == []
    assert not of(events(c), PrefixBound)


def test_late_reply_without_a_grant_or_past_the_window_sends_nothing():
    from host.core.pd_release import ABANDONED_WINDOW

    c = make(rapid_commit=True)
    for late, prefixes, status in ((1.0, [], SC.NO_PREFIX_AVAIL),
                                   (ABANDONED_WINDOW + 1, [prefix(P1, t=MT.FIXED)], None)):
        iaid = c.acquire(MT.FIXED, 0.0)
        (sol,) = decoded(c.datagrams_to_send())
        c.cancel(iaid, 0.1)
        c.handle_datagram(reply(sol, prefixes, rapid=True, ia_status=status), SERVER_LL, late)
        assert c.datagrams_to_send() == [] and not of(events(c), PrefixBound)
        assert iaid not in c.ias


def test_every_dropped_datagram_is_counted_by_name_and_logged_rate_limited(caplog):
    """Issue 14: each datagram the client drops is counted under a named
    counter and logged with why, at most one line per counter per second of
    the core's clock (the suppressed ones are counted in the next line)."""
    import logging
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    with caplog.at_level(logging.INFO, logger="host.core.pd_client"):
        for t in (0.0, 0.1, 0.2):
            c.handle_datagram(b"\x07\x00", SERVER_LL, t)               # malformed
        c.handle_datagram(advertise(sol, [prefix(P1)])[:4], SERVER_LL, 0.3)  # no Server Id
        stray = decode_dhcp6(advertise(sol, [prefix(P1)]))
        c.handle_datagram(encode_dhcp6(type(stray)(stray.transaction_id ^ 5, stray.options)),
                          SERVER_LL, 0.4)
        c.handle_datagram(b"\x07\x00", SERVER_LL, 1.5)
    assert c.drops.counts["malformed"] == 4
    assert c.drops.counts["unknown-transaction"] == 1
    assert c.drops.counts["no-server-id"] == 1
    assert c.dropped == 6
    lines = [r.getMessage() for r in caplog.records if "[malformed]" in r.getMessage()]
    assert len(lines) == 2 and "2 more like this" in lines[1]
    assert any("[unknown-transaction]" in r.getMessage() for r in caplog.records)


# --------------------------------------- issue 14: prefixes that cannot be delegated
BAD_PREFIXES = [
    ("fe80::/64", "link-local"),
    ("ff05::/56", "multicast"),
    ("::/56", "::/8"),
    ("::1/128", "::/8"),
    ("::ffff:0:0/96", "::/8"),
    ("fec0::/56", "site-local"),
]


def _iaprefix(addr: str, plen: int, **kw):
    from odm_wire.dhcp6 import IAPrefix
    return IAPrefix(kw.get("pl", 3000), kw.get("vl", 4000), plen, IPv6Address(addr), ())


@pytest.mark.parametrize("text,why", BAD_PREFIXES)
def test_not_delegable_names_the_rule(text, why):
    from host.core.pd_judge import not_delegable
    net = IPv6Network(text)
    assert why in not_delegable(_iaprefix(str(net.network_address), net.prefixlen))


def test_not_delegable_rules_on_length_and_host_bits_and_accepts_ula_and_doc():
    from host.core.pd_judge import not_delegable
    assert "bits set past" in not_delegable(_iaprefix("2001:db8:8000:1::", 56))
    assert "length 0" in not_delegable(_iaprefix("::", 0))
    for ok in ("2001:db8:8000::", "fd00:1:2::", "2a00:1::"):
        assert not_delegable(_iaprefix(ok, 56)) is None


@pytest.mark.parametrize("bad", [("fe80::", 64), ("ff05::", 56), ("2001:db8:8000:1::", 56)])
def test_unusable_prefix_in_a_reply_is_not_bound_but_released(bad):
    """RFC 8415 §18.2.10.1 / RFC 4291: a granted prefix that is no usable
    global unicast prefix is neither bound nor hinted back; it was committed
    (Rapid Commit), so it is released (§18.2.7); nothing usable left → the
    client goes back to discovery."""
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(sol, [_iaprefix(*bad)], rapid=True), SERVER_LL, 0.01)
    assert not of(events(c), PrefixBound)
    assert c.drops.counts["prefix-not-usable"] == 1
    rel = [m for m in decoded(c.datagrams_to_send()) if type(m).__name__ == "Release"]
    assert len(rel) == 1
    (p,) = rel[0].ia_pds[0].prefixes
    assert (str(p.prefix), p.prefix_length) == bad


def test_advertise_selection_skips_unusable_prefixes_and_hints_only_usable_ones():
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    # only an unusable prefix: ignored, the Solicit goes on
    c.handle_datagram(advertise(sol, [_iaprefix("fe80::", 64)], pref=255), SERVER_LL, 0.0)
    assert c.drops.counts["advertise-without-prefix"] == 1
    assert [type(m).__name__ for m in decoded(c.datagrams_to_send())] == []
    c.handle_datagram(advertise(sol, [_iaprefix("ff02::", 56), prefix(P1)], pref=255),
                      SERVER_LL, 0.1)
    (req,) = decoded(c.datagrams_to_send())
    assert type(req).__name__ == "Request"
    assert [str(p.network) for p in req.ia_pds[0].prefixes] == [P1]


def test_prefix_of_another_type_than_asked_is_released():
    """Issue 14 point 8: a Reply granting a prefix of another type than the
    one asked fails the request, and the committed grant is released."""
    c = make()
    c.acquire(MT.FIXED, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(sol, [prefix(P1, t=MT.SESSION_LASTING)], rapid=True),
                      SERVER_LL, 0.01)
    assert not of(events(c), PrefixBound)
    assert c.drops.counts["prefix-of-another-type"] == 1
    rel = [m for m in decoded(c.datagrams_to_send()) if type(m).__name__ == "Release"]
    assert len(rel) == 1 and [str(p.network) for p in rel[0].ia_pds[0].prefixes] == [P1]


def test_typed_extra_prefix_next_to_a_good_one_is_released_and_the_good_one_bound():
    c = make()
    c.acquire(MT.FIXED, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(sol, [prefix(P1, t=MT.FIXED), prefix(P2, t=MT.NON_PERSISTENT)],
                            rapid=True), SERVER_LL, 0.01)
    (b,) = of(events(c), PrefixBound)
    assert b.prefix == IPv6Network(P1)
    rel = [m for m in decoded(c.datagrams_to_send()) if type(m).__name__ == "Release"]
    assert len(rel) == 1 and [str(p.network) for p in rel[0].ia_pds[0].prefixes] == [P2]
    assert rel[0].ia_pds[0].iaid == b.iaid
    assert c.ias[b.iaid].leases  # the bound IA_PD keeps its prefix


def test_ignored_odm_options_are_counted():
    """Issue 14 point 9: a top-level mobility type that is not used, and two
    odm type options in one IAPREFIX (the first wins), are logged and counted."""
    c = make()
    c.acquire(None, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    c.handle_datagram(reply(sol, [prefix(P1)], rapid=True, top_type=MT.FIXED), SERVER_LL, 0.01)
    assert of(events(c), PrefixBound)
    assert c.drops.counts["top-level-type-ignored"] == 1

    c = make()
    c.acquire(MT.FIXED, 0.0)
    sol = decoded(c.datagrams_to_send())[0]
    from odm_wire.dhcp6 import mobility_type_option
    twice = prefix(P1, t=MT.FIXED, extra=(mobility_type_option(MT.SESSION_LASTING),))
    c.handle_datagram(reply(sol, [twice], rapid=True), SERVER_LL, 0.01)
    (b,) = of(events(c), PrefixBound)
    assert b.mobility_type == MT.FIXED
    assert c.drops.counts["duplicate-type-option"] == 1


def test_an_operators_renew_sends_renew_now_bounded_by_t2():
    """``odm host renew`` (dhcpcd -n): a bound IA_PD Renews at once, to its
    server (RFC 8415 §18.2.4), not at T1; an idle client sends nothing."""
    from odm_wire.dhcp6 import Renew
    c = make()
    c.renew_all(5.0)
    assert c.datagrams_to_send() == []
    iaid = bind(c)
    c.datagrams_to_send()
    ia = c.ias[iaid]
    assert ia.t1_at == 1000
    c.renew_all(50.0)
    (ren,) = decoded(c.datagrams_to_send())
    assert type(ren) is Renew and ren.server_duid == SERVER
    assert ia.state == IaState.RENEWING and ia.t2_at == 2000
