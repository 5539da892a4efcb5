"""DHCPv6-PD server core: every message type, typed and legacy, hints,
Renew/Rebind cases, NoPrefixAvail, relay, reclamation. Every Advertise and
Reply is checked by the harness (conftest.check_answer)."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest

from odm_wire.constants import MobilityType as MT
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import (
    IANA,
    IAPD,
    Advertise,
    ClientId,
    ElapsedTime,
    IAAddr,
    IAPrefix,
    InformationRequest,
    InterfaceId,
    MobilityTypeSubOption,
    OdmVendorOpts,
    OptionRequest,
    Preference,
    RapidCommit,
    RelayForw,
    RelayMsg,
    RelayRepl,
    Reply,
    ServerId,
    Solicit,
    UnknownOption,
    encode_dhcp6,
)
from router.core.events import PrefixDelegated, PrefixReleased, PrefixRenewed
from tests.router.conftest import (
    BASE_TOML,
    CLIENT_LL,
    SERVER_DUID,
    Client,
    Harness,
    make_config,
    net,
    prefixes_of,
    supported_types,
)

POOLS = {
    MT.FIXED: IPv6Network("2001:db8:f000::/52"),
    MT.SESSION_LASTING: IPv6Network("2001:db8:5000::/52"),
    MT.NON_PERSISTENT: IPv6Network("2001:db8:3000::/52"),
    MT.GRACEFUL_REPLACEMENT: IPv6Network("2001:db8:4000::/52"),
}
LEGACY = IPv6Network("2001:db8:8000::/52")


def bind(h, c, *ias):
    """Solicit + Request; returns the Reply."""
    adv = h.one(c.solicit(*ias))
    assert type(adv) is Advertise
    return h.one(c.request(SERVER_DUID, *ias))


# ----------------------------------------------------------------- Solicit
@pytest.mark.parametrize("mt", list(MT))
def test_typed_solicit_is_advertised_from_the_pool_of_its_type(h, client, mt):
    adv = h.one(client.solicit(client.typed(1, mt)))
    assert type(adv) is Advertise
    (p,) = prefixes_of(adv)
    assert net(p).subnet_of(POOLS[mt]) and p.prefix_length == 56
    assert p.mobility_type == mt
    assert adv.get(Preference).preference == 255
    assert supported_types(adv) == tuple(MT)
    assert len(h.store.load("ar1")) == 0  # an Advertise commits nothing


def test_legacy_client_gets_the_default_pool_and_no_vendor_option(h, client):
    adv = h.one(client.solicit(client.ia(7), oro=(23,)))
    (p,) = prefixes_of(adv)
    assert net(p).subnet_of(LEGACY)
    assert p.options == ()
    assert supported_types(adv) is None  # ORO did not list 17
    assert not any(type(o) is OdmVendorOpts for o in adv.options)


def test_legacy_client_listing_17_gets_supported_types_but_an_unlabelled_prefix(h, client):
    adv = h.one(client.solicit(client.ia(7)))
    (p,) = prefixes_of(adv)
    assert p.mobility_type is None
    assert supported_types(adv) == tuple(MT)


@pytest.mark.parametrize("raw_type", [0, 5, 7, 255])
def test_reserved_type_value_is_ignored_and_the_request_counts_as_untyped(h, client, raw_type):
    ia = IAPD(1, 0, 0, (IAPrefix(0, 0, 56, IPv6Address("::"), (
        OdmVendorOpts((MobilityTypeSubOption(raw_type),)),)),))
    adv = h.one(client.solicit(ia))
    (p,) = prefixes_of(adv)
    assert net(p).subnet_of(LEGACY) and p.mobility_type is None


def test_foreign_enterprise_vendor_option_is_ignored(h, client):
    from odm_wire.dhcp6 import VendorOpts
    ia = IAPD(1, 0, 0, (IAPrefix(0, 0, 56, IPv6Address("::"), (VendorOpts(9, b"\x00\x01"),)),))
    adv = h.one(client.solicit(ia))
    (p,) = prefixes_of(adv)
    assert net(p).subnet_of(LEGACY)


def test_solicit_with_server_id_or_without_client_id_is_discarded(h, client):
    s = client.solicit(client.typed(1, MT.FIXED))
    assert h.exchange(Solicit(s.transaction_id, s.options + (ServerId(SERVER_DUID),))) == []
    assert h.exchange(Solicit(1, (ElapsedTime(0), client.typed(1, MT.FIXED)))) == []
    assert h.dhcp.stats["pkt6-receive-drop"] == 2


def test_solicit_without_any_ia_gets_a_top_level_status(h, client):
    adv = h.one(client.solicit())
    assert adv.status.status_code == SC.NO_ADDRS_AVAIL


def test_ia_na_is_answered_no_addrs_avail(h, client):
    s = client.solicit(client.typed(1, MT.FIXED))
    adv = h.one(Solicit(s.transaction_id, s.options + (IANA(9),)))
    (na,) = adv.get_all(IANA)
    assert na.iaid == 9 and na.get(type(adv.get(ClientId))) is None
    assert na.options[0].status_code == SC.NO_ADDRS_AVAIL
    assert len(prefixes_of(adv)) == 1


# ------------------------------------------------------------ NoPrefixAvail
def test_type_not_offered_gets_no_prefix_avail_naming_the_type(clock, store, client):
    cfg = make_config(BASE_TOML.replace('name = "veth0"',
                                        'name = "veth0"\noffered_types = ["fixed", '
                                        '"session-lasting"]'))
    h = Harness(cfg, store, clock)
    adv = h.one(client.solicit(client.typed(1, MT.NON_PERSISTENT), client.typed(2, MT.FIXED)))
    ia1, ia2 = adv.ia_pds
    assert ia1.prefixes == [] and ia1.status.status_code == SC.NO_PREFIX_AVAIL
    assert "non-persistent" in ia1.status.status_message
    assert ia1.t1 == ia1.t2 == 0
    assert ia2.prefixes and ia2.status is None
    assert supported_types(adv) == (MT.FIXED, MT.SESSION_LASTING)
    assert h.dhcp.stats["v6-allocation-fail-type-not-offered"] == 1


def test_empty_pool_gets_no_prefix_avail_naming_the_type(clock, store):
    toml = BASE_TOML.replace('prefix = "2001:db8:4000::/52"', 'prefix = "2001:db8:4000::/55"')
    h = Harness(make_config(toml, max_bindings_per_client=100), store, clock)
    c = Client()
    got = []
    for iaid in range(3):
        r = bind(h, c, c.typed(iaid, MT.GRACEFUL_REPLACEMENT))
        got.append(r)
    assert all(prefixes_of(r) for r in got[:2])
    (ia,) = got[2].ia_pds
    assert ia.status.status_code == SC.NO_PREFIX_AVAIL and not ia.prefixes
    assert "graceful-replacement" in ia.status.status_message
    assert "exhausted" in ia.status.status_message


def test_no_default_pool_means_no_prefix_avail_for_legacy(clock, store, client):
    toml = BASE_TOML.replace('default_pool = "legacy"\n', "").replace(
        '  name = "legacy"\n', '  name = "legacy"\n  mobility_type = "non-persistent"\n'
    ).replace('prefix = "2001:db8:8000::/52"', 'prefix = "2001:db8:8000::/52"')
    h = Harness(make_config(toml), store, clock)
    adv = h.one(client.solicit(client.ia(1)))
    (ia,) = adv.ia_pds
    assert ia.status.status_code == SC.NO_PREFIX_AVAIL and "untyped" in ia.status.status_message


def test_per_client_limit_stops_one_duid_draining_a_pool(clock, store):
    h = Harness(make_config(max_bindings_per_client=3), store, clock)
    c = Client()
    for iaid in range(3):
        assert prefixes_of(bind(h, c, c.typed(iaid, MT.NON_PERSISTENT)))
    r = bind(h, c, c.typed(99, MT.NON_PERSISTENT))
    (ia,) = r.ia_pds
    assert ia.status.status_code == SC.NO_PREFIX_AVAIL and "limit" in ia.status.status_message
    other = Client("020000000099")
    assert prefixes_of(bind(h, other, other.typed(1, MT.NON_PERSISTENT)))


# --------------------------------------------------------- Request / Reply
def test_request_commits_a_typed_binding_durably(h, client):
    r = bind(h, client, client.typed(1, MT.SESSION_LASTING))
    assert type(r) is Reply
    (p,) = prefixes_of(r)
    assert p.mobility_type == MT.SESSION_LASTING
    assert (p.preferred_lifetime, p.valid_lifetime) == (800, 1600)
    ia = r.ia_pds[0]
    assert (ia.t1, ia.t2) == (400, 640)
    (b,) = h.store.load("ar1")
    assert b.prefix == net(p) and b.iaid == 1 and b.mobility_type == MT.SESSION_LASTING
    assert b.client_ll == CLIENT_LL and b.anchor == "ar1" and b.interface == "veth0"
    (ev,) = h.take_events(PrefixDelegated)
    assert ev.prefix == net(p) and ev.client_ll == CLIENT_LL


def test_request_gets_the_advertised_prefix(h, client):
    ia = client.typed(1, MT.FIXED)
    adv = h.one(client.solicit(ia))
    (offered,) = prefixes_of(adv)
    r = h.one(client.request(SERVER_DUID, IAPD(1, 0, 0, (offered,))))
    assert net(prefixes_of(r)[0]) == net(offered)


def test_request_for_a_known_ia_returns_the_same_binding(h, client):
    r1 = bind(h, client, client.typed(1, MT.FIXED))
    r2 = h.one(client.request(SERVER_DUID, client.typed(1, MT.FIXED)))
    assert net(prefixes_of(r1)[0]) == net(prefixes_of(r2)[0])
    assert len(h.store.load("ar1")) == 1


def test_request_asking_another_type_on_the_same_iaid_replaces_the_binding(h, client):
    r1 = bind(h, client, client.typed(1, MT.FIXED))
    r2 = h.one(client.request(SERVER_DUID, client.typed(1, MT.NON_PERSISTENT)))
    assert net(prefixes_of(r2)[0]).subnet_of(POOLS[MT.NON_PERSISTENT])
    assert [b.prefix for b in h.store.load("ar1")] == [net(prefixes_of(r2)[0])]
    assert any(e.reason == "replaced" and e.prefix == net(prefixes_of(r1)[0])
               for e in h.take_events(PrefixReleased))


def test_request_with_wrong_or_missing_server_id_is_discarded(h, client):
    from odm_wire.dhcp6 import DuidLL, Request
    assert h.exchange(client.request(DuidLL(1, b"\x02\x00\x00\x00\x00\x63"),
                                     client.typed(1, MT.FIXED))) == []
    assert h.exchange(Request(5, client.base() + (client.typed(1, MT.FIXED),))) == []
    assert h.store.load("ar1") == []


def test_one_message_with_four_types_gets_four_labelled_prefixes_and_one_t1_t2(h, client):
    ias = [client.typed(10 + i, mt) for i, mt in enumerate(MT)]
    r = bind(h, client, *ias)
    assert [ia.iaid for ia in r.ia_pds] == [10, 11, 12, 13]
    for ia, mt in zip(r.ia_pds, MT, strict=False):
        (p,) = ia.prefixes
        assert p.mobility_type == mt and net(p).subnet_of(POOLS[mt])
    assert len({(ia.t1, ia.t2) for ia in r.ia_pds}) == 1
    # the shortest: graceful pool's explicit 100/200
    assert (r.ia_pds[0].t1, r.ia_pds[0].t2) == (100, 200)


def test_rapid_commit_solicit_gets_a_committed_reply(h, client):
    r = h.one(client.solicit(client.typed(1, MT.NON_PERSISTENT), rapid=True))
    assert type(r) is Reply and r.get(RapidCommit) is not None
    assert len(h.store.load("ar1")) == 1


def test_rapid_commit_disabled_answers_advertise(clock, store, client):
    h = Harness(make_config(rapid_commit=False), store, clock)
    adv = h.one(client.solicit(client.typed(1, MT.NON_PERSISTENT), rapid=True))
    assert type(adv) is Advertise and adv.get(RapidCommit) is None
    assert store.load("ar1") == []


def test_preference_zero_is_left_out(clock, store, client):
    h = Harness(make_config(preference=0), store, clock)
    assert h.one(client.solicit(client.ia(1))).get(Preference) is None


# ------------------------------------------------------------------ hints
def test_zero_length_hint_means_no_hint(h, client):
    adv = h.one(client.solicit(client.ia(1, MT.FIXED, "::", 0)))
    assert prefixes_of(adv)[0].prefix_length == 56


def test_length_hint_prefers_a_pool_of_that_delegated_length(clock, store, client):
    toml = BASE_TOML + """
  [[interface.pd_pool]]
  name = "np60"
  mobility_type = "non-persistent"
  prefix = "2001:db8:3100::/52"
  delegated_length = 60
"""
    h = Harness(make_config(toml), store, clock)
    p60 = prefixes_of(h.one(client.solicit(client.ia(1, MT.NON_PERSISTENT, "::", 60))))[0]
    assert p60.prefix_length == 60 and net(p60).subnet_of(IPv6Network("2001:db8:3100::/52"))
    p56 = prefixes_of(h.one(client.solicit(client.ia(2, MT.NON_PERSISTENT, "::", 56))))[0]
    assert p56.prefix_length == 56
    # a length no pool has: the first pool of the type
    p48 = prefixes_of(h.one(client.solicit(client.ia(3, MT.NON_PERSISTENT, "::", 48))))[0]
    assert p48.prefix_length == 56


def test_specific_free_prefix_inside_the_pool_is_honoured(h, client):
    want = "2001:db8:3000:700::"
    r = bind(h, client, client.ia(1, MT.NON_PERSISTENT, want, 56))
    assert str(net(prefixes_of(r)[0])) == want + "/56"


def test_specific_prefix_already_taken_gives_another(h, client):
    want = "2001:db8:3000:700::"
    bind(h, client, client.ia(1, MT.NON_PERSISTENT, want, 56))
    other = Client("020000000077")
    r = bind(h, other, other.ia(1, MT.NON_PERSISTENT, want, 56))
    got = net(prefixes_of(r)[0])
    assert got != IPv6Network(want + "/56") and got.subnet_of(POOLS[MT.NON_PERSISTENT])


@pytest.mark.parametrize("hint", ["2001:db8:9999::", "2001:db8:5000:100::"])
def test_specific_prefix_outside_the_pool_of_the_type_is_not_honoured(h, client, hint):
    r = bind(h, client, client.ia(1, MT.NON_PERSISTENT, hint, 56))
    assert net(prefixes_of(r)[0]).subnet_of(POOLS[MT.NON_PERSISTENT])


def test_lifetimes_in_a_hint_are_ignored(h, client):
    r = bind(h, client, client.ia(1, MT.NON_PERSISTENT, "::", 56, pref=99999, valid=99999))
    (p,) = prefixes_of(r)
    assert (p.preferred_lifetime, p.valid_lifetime) == (400, 800)


def test_hint_with_host_bits_set_uses_only_its_length(h, client):
    r = bind(h, client, client.ia(1, MT.NON_PERSISTENT, "2001:db8:3000:7::1", 56))
    assert prefixes_of(r)[0].prefix_length == 56


# ------------------------------------------------------------ reservations
RES_TOML = BASE_TOML + """
  [[interface.reservation]]
  duid = "00:03:00:01:02:00:00:00:00:02"
  prefix = "2001:db8:f000:ab00::/56"

  [[interface.reservation]]
  duid = "00:03:00:01:02:00:00:00:00:02"
  iaid = 77
  prefix = "2001:db8:ee00::/56"
"""


def test_reservation_backs_fixed(clock, store, client):
    h = Harness(make_config(RES_TOML), store, clock)
    r = bind(h, client, client.typed(1, MT.FIXED))
    assert str(net(prefixes_of(r)[0])) == "2001:db8:f000:ab00::/56"
    assert prefixes_of(r)[0].mobility_type == MT.FIXED
    r77 = bind(h, client, client.typed(77, MT.FIXED))
    (p,) = prefixes_of(r77)
    assert str(net(p)) == "2001:db8:ee00::/56"
    assert (p.preferred_lifetime, p.valid_lifetime) == (1000, 2000)  # the fixed pool's


def test_reserved_prefix_is_never_given_to_another_client(clock, store):
    toml = RES_TOML.replace('prefix = "2001:db8:f000::/52"', 'prefix = "2001:db8:f000:a800::/53"')
    toml = toml.replace("2001:db8:f000:ab00::/56", "2001:db8:f000:a800::/56")
    toml += "\n[limits]\nmax_bindings_per_type = {}\n"  # no FIXED cap: take the whole pool
    h = Harness(make_config(toml, max_bindings_per_client=100), store, clock)
    other = Client("020000000055")
    got = set()
    for iaid in range(10):
        for p in prefixes_of(bind(h, other, other.typed(iaid, MT.FIXED))):
            got.add(str(net(p)))
    assert "2001:db8:f000:a800::/56" not in got
    assert len(got) == 7  # 8 in the pool, one reserved


def test_reservation_is_not_used_for_another_type(clock, store, client):
    h = Harness(make_config(RES_TOML), store, clock)
    r = bind(h, client, client.typed(1, MT.SESSION_LASTING))
    assert net(prefixes_of(r)[0]).subnet_of(POOLS[MT.SESSION_LASTING])


# ------------------------------------------------------------------ Renew
def test_renew_extends_the_binding(h, client):
    r = bind(h, client, client.typed(1, MT.SESSION_LASTING))
    (b0,) = h.store.load("ar1")
    h.advance(300)
    rn = h.one(client.renew(SERVER_DUID, client.held(r.ia_pds[0])))
    (p,) = prefixes_of(rn)
    assert (p.preferred_lifetime, p.valid_lifetime) == (800, 1600)
    assert p.mobility_type == MT.SESSION_LASTING
    (b1,) = h.store.load("ar1")
    assert b1.valid_until == pytest.approx(b0.valid_until + 300)
    assert h.take_events(PrefixRenewed)


def test_renew_with_an_empty_ia_pd_returns_the_existing_binding(h, client):
    r = bind(h, client, client.typed(1, MT.FIXED))
    rn = h.one(client.renew(SERVER_DUID, IAPD(1, 0, 0, ())))
    assert net(prefixes_of(rn)[0]) == net(prefixes_of(r)[0])
    assert prefixes_of(rn)[0].mobility_type == MT.FIXED


def test_renew_of_a_prefix_this_server_cannot_extend_returns_lifetimes_zero(h, client):
    bind(h, client, client.typed(1, MT.FIXED))
    foreign = IAPrefix(0, 0, 56, IPv6Address("2001:db8:dead::"))
    rn = h.one(client.renew(SERVER_DUID, IAPD(1, 0, 0, (foreign,))))
    ps = {str(net(p)): p for p in prefixes_of(rn)}
    assert ps["2001:db8:dead::/56"].valid_lifetime == 0
    assert ps["2001:db8:dead::/56"].preferred_lifetime == 0
    assert len(ps) == 2 and all(p.valid_lifetime for k, p in ps.items() if "dead" not in k)


def test_renew_of_a_prefix_held_by_another_client_returns_lifetimes_zero(h, client):
    r = bind(h, client, client.typed(1, MT.FIXED))
    thief = Client("020000000066")
    rn = h.one(thief.renew(SERVER_DUID, thief.held(r.ia_pds[0])))
    (p,) = prefixes_of(rn)
    assert p.valid_lifetime == 0
    (b,) = h.store.load("ar1")
    assert b.duid == bytes(client.duid)


def test_renew_for_an_unknown_ia_recreates_a_free_prefix_of_the_pool(h, client):
    """Unknown IA policy: the server lost its state; the prefix is free and ours."""
    held = IAPD(5, 0, 0, (IAPrefix(0, 0, 56, IPv6Address("2001:db8:3000:500::"),
                                   (OdmVendorOpts((MobilityTypeSubOption(MT.NON_PERSISTENT),)),)),))
    rn = h.one(client.renew(SERVER_DUID, held))
    (p,) = prefixes_of(rn)
    assert str(net(p)) == "2001:db8:3000:500::/56" and p.valid_lifetime == 800
    assert p.mobility_type == MT.NON_PERSISTENT
    assert [str(b.prefix) for b in h.store.load("ar1")] == ["2001:db8:3000:500::/56"]


def test_renew_for_an_unknown_empty_ia_gets_no_binding(h, client):
    rn = h.one(client.renew(SERVER_DUID, IAPD(3, 0, 0, ()),
                            client.ia(4, MT.FIXED, "::", 56)))
    for ia in rn.ia_pds:
        assert ia.status.status_code == SC.NO_BINDING and not ia.prefixes
    assert h.store.load("ar1") == []


def test_renew_with_wrong_server_id_is_discarded(h, client):
    from odm_wire.dhcp6 import DuidLL
    r = bind(h, client, client.typed(1, MT.FIXED))
    assert h.exchange(client.renew(DuidLL(1, b"\x02\x00\x00\x00\x00\x99"),
                                   client.held(r.ia_pds[0]))) == []


def test_renew_after_the_pool_was_removed_returns_lifetimes_zero(store_factory, clock):
    c = Client()
    s1 = store_factory("l")
    h1 = Harness(make_config(), s1, clock)
    r = bind(h1, c, c.typed(1, MT.GRACEFUL_REPLACEMENT))
    s1.close()
    toml = BASE_TOML.replace('  name = "gr"\n  mobility_type = "graceful-replacement"\n'
                             '  prefix = "2001:db8:4000::/52"',
                             '  name = "gr2"\n  mobility_type = "graceful-replacement"\n'
                             '  prefix = "2001:db8:4100::/52"')
    s2 = store_factory("l")
    h2 = Harness(make_config(toml), s2, clock)
    rn = h2.one(c.renew(SERVER_DUID, c.held(r.ia_pds[0])))
    (p,) = prefixes_of(rn)
    assert net(p) == net(prefixes_of(r)[0]) and p.valid_lifetime == 0
    assert s2.load("ar1") == []
    s2.close()


# ------------------------------------------------------------------ Rebind
def test_rebind_extends_and_carries_no_server_id(h, client):
    r = bind(h, client, client.typed(1, MT.NON_PERSISTENT))
    h.advance(500)
    rb = h.one(client.rebind(client.held(r.ia_pds[0])))
    (p,) = prefixes_of(rb)
    assert p.valid_lifetime == 800 and net(p) == net(prefixes_of(r)[0])


def test_rebind_with_a_server_id_is_discarded(h, client):
    r = bind(h, client, client.typed(1, MT.NON_PERSISTENT))
    assert h.exchange(client.rebind(client.held(r.ia_pds[0]), server_duid=SERVER_DUID)) == []


def test_rebind_for_an_iaid_never_seen(h, client):
    """Documented policy: free prefixes of our pools are re-created, others
    returned with lifetimes 0, an IA with nothing left gets NoBinding."""
    ours = IAPrefix(0, 0, 56, IPv6Address("2001:db8:8000:900::"))
    foreign = IAPrefix(0, 0, 56, IPv6Address("2001:db8:aaaa::"))
    rb = h.one(client.rebind(IAPD(40, 0, 0, (ours, foreign)), IAPD(41, 0, 0, ())))
    ia40, ia41 = rb.ia_pds
    lt = {str(net(p)): p.valid_lifetime for p in ia40.prefixes}
    assert lt == {"2001:db8:8000:900::/56": 1200, "2001:db8:aaaa::/56": 0}
    assert ia41.status.status_code == SC.NO_BINDING


# ------------------------------------------------------------ Release/Decline
def test_release_ends_the_binding_and_frees_the_prefix(h, client):
    r = bind(h, client, client.typed(1, MT.FIXED), client.typed(2, MT.NON_PERSISTENT))
    h.take_events()
    rel = h.one(client.release(SERVER_DUID, client.held(r.ia_pds[0])))
    assert rel.status.status_code == SC.SUCCESS and rel.ia_pds == []
    assert [b.iaid for b in h.store.load("ar1")] == [2]
    (ev,) = h.take_events(PrefixReleased)
    assert ev.reason == "release" and ev.prefix == net(prefixes_of(r, 1)[0])
    pools = {p["pool"]: p for p in h.dhcp.pool_stats()}
    assert pools["fixed"]["assigned-pds"] == 0 and pools["np"]["assigned-pds"] == 1


def test_release_of_an_unknown_ia_answers_no_binding(h, client):
    rel = h.one(client.release(SERVER_DUID, IAPD(9, 0, 0, ())))
    assert rel.status.status_code == SC.SUCCESS
    (ia,) = rel.ia_pds
    assert ia.iaid == 9 and ia.status.status_code == SC.NO_BINDING


def test_release_without_server_id_is_discarded(h, client):
    from odm_wire.dhcp6 import Release
    r = bind(h, client, client.typed(1, MT.FIXED))
    assert h.exchange(Release(3, (ClientId(client.duid), r.ia_pds[0]))) == []
    assert len(h.store.load("ar1")) == 1


def test_decline_quarantines_the_prefix_until_probation_ends(clock, store):
    toml = BASE_TOML.replace('prefix = "2001:db8:3000::/52"', 'prefix = "2001:db8:3000::/56"')
    h = Harness(make_config(toml, decline_probation_period=50), store, clock)
    c = Client()
    r = bind(h, c, c.typed(1, MT.NON_PERSISTENT))
    d = h.one(c.decline(SERVER_DUID, c.held(r.ia_pds[0])))
    assert d.status.status_code == SC.SUCCESS
    assert h.take_events(PrefixReleased)[-1].reason == "decline"
    other = Client("020000000033")
    (ia,) = bind(h, other, other.typed(1, MT.NON_PERSISTENT)).ia_pds
    assert ia.status.status_code == SC.NO_PREFIX_AVAIL  # the only prefix is quarantined
    h.advance(51)
    assert prefixes_of(bind(h, other, other.typed(2, MT.NON_PERSISTENT)))


# --------------------------------------------------------- Confirm / Inf-req
def test_confirm_checks_addresses_against_on_link_prefixes(h, client):
    from odm_wire.dhcp6 import Confirm

    def confirm(addr):
        return Confirm(4, (ClientId(client.duid), ElapsedTime(0),
                           IANA(1, 0, 0, (IAAddr(IPv6Address(addr), 0, 0),))))
    assert h.one(confirm("2001:db8:1::5")).status.status_code == SC.SUCCESS
    assert h.one(confirm("2001:db8:99::5")).status.status_code == SC.NOT_ON_LINK
    assert h.exchange(Confirm(5, (ClientId(client.duid), client.typed(1, MT.FIXED)))) == []


def test_information_request_returns_dns_and_supported_types(h, client):
    r = h.one(InformationRequest(8, (ClientId(client.duid), ElapsedTime(0),
                                     OptionRequest((23, 17)))))
    dns = [o for o in r.options if type(o) is UnknownOption and o.option_code == 23]
    assert dns and dns[0].data == IPv6Address("2001:db8::53").packed
    assert supported_types(r) == tuple(MT)
    assert r.server_duid == SERVER_DUID


def test_information_request_with_an_ia_is_discarded(h, client):
    assert h.exchange(InformationRequest(8, (ClientId(client.duid), IAPD(1)))) == []


# ------------------------------------------------------------------- relay
def test_relayed_solicit_gets_relay_repl_with_interface_id(h, client):
    relay = IPv6Address("2001:db8:1::1")
    peer = IPv6Address("fe80::ff:fe00:77")
    inner = client.solicit(client.typed(1, MT.SESSION_LASTING))
    fw = RelayForw(0, IPv6Address("2001:db8:1::1"), peer,
                   (InterfaceId(b"eth7"), RelayMsg(inner)))
    ((out, rr),) = h.exchange(fw, src=relay)
    assert type(rr) is RelayRepl and out.dst == relay and out.dst_port == 547
    assert rr.peer_address == peer and rr.link_address == fw.link_address
    assert rr.get(InterfaceId).interface_id == b"eth7"
    assert type(rr.relayed) is Advertise
    assert prefixes_of(rr.relayed)[0].mobility_type == MT.SESSION_LASTING


def test_doubly_relayed_request_commits_with_the_relay_as_next_hop(h, client):
    relay = IPv6Address("2001:db8:1::1")
    inner = client.solicit(client.typed(1, MT.FIXED), rapid=True)
    fw1 = RelayForw(0, IPv6Address("2001:db8:2::1"), IPv6Address("fe80::2"),
                    (RelayMsg(inner),))
    fw2 = RelayForw(1, IPv6Address("2001:db8:1::1"), IPv6Address("fe80::9"),
                    (RelayMsg(fw1), InterfaceId(b"\x00\x01")))
    ((_out, rr),) = h.exchange(fw2, src=relay)
    assert rr.hop_count == 1 and rr.get(InterfaceId).interface_id == b"\x00\x01"
    rr1 = rr.relayed
    assert type(rr1) is RelayRepl and rr1.hop_count == 0 and rr1.get(InterfaceId) is None
    assert type(rr1.relayed) is Reply
    (b,) = h.store.load("ar1")
    assert b.client_ll == relay


def test_relay_forw_without_a_client_message_is_dropped(h):
    fw = RelayForw(0, IPv6Address("::"), IPv6Address("fe80::9"), (InterfaceId(b"x"),))
    assert h.exchange(fw, src=IPv6Address("fe80::1")) == []
    assert h.dhcp.stats["pkt6-receive-drop"] == 1


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize("data", [b"", b"\x01", b"\x01\x00\x00",
                                  b"\x03\x00\x00\x01\x00\x01\x00\x10",
                                  b"\x0c" + b"\x00" * 20, b"\xff\x00\x00\x00"])
def test_malformed_datagrams_are_counted_not_raised(h, data):
    assert h.feed_raw(data) == []
    assert h.dhcp.stats["pkt6-parse-failed"] == 1


@pytest.mark.parametrize("cls_name", ["Advertise", "Reply", "Reconfigure"])
def test_server_to_client_messages_are_dropped(h, cls_name):
    import odm_wire.dhcp6 as d
    msg = getattr(d, cls_name)(1, (ServerId(SERVER_DUID),))
    assert h.feed_raw(encode_dhcp6(msg)) == []
    assert h.dhcp.stats["pkt6-receive-drop"] == 1


def test_internal_error_is_counted_and_the_agent_keeps_serving(h, client, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("bug")
    monkeypatch.setattr(h.dhcp.grants, "offer_ia", boom)
    assert h.exchange(client.solicit(client.typed(1, MT.FIXED))) == []
    # a local fault is counted apart from the peers' bad input (issue 12)
    assert h.dhcp.stats["internal-errors"] == 1 and h.dhcp.stats["pkt6-receive-drop"] == 0
    monkeypatch.undo()
    assert prefixes_of(h.one(client.solicit(client.typed(1, MT.FIXED))))


# ------------------------------------------------------------ reclamation
def test_expired_bindings_are_reclaimed(h, client):
    r = bind(h, client, client.typed(1, MT.NON_PERSISTENT))
    p = net(prefixes_of(r)[0])
    h.take_events()
    h.advance(799)
    assert len(h.store.load("ar1")) == 1
    h.advance(2)
    assert h.store.load("ar1") == []
    (ev,) = h.take_events(PrefixReleased)
    assert ev.prefix == p and ev.reason == "expired"
    pools = {x["pool"]: x for x in h.dhcp.pool_stats()}
    assert pools["np"]["assigned-pds"] == 0 and pools["np"]["reclaimed-leases"] == 1
    assert h.dhcp.stats["reclaimed-leases"] == 1


def test_renewed_binding_is_not_reclaimed_at_its_old_expiry(h, client):
    r = bind(h, client, client.typed(1, MT.NON_PERSISTENT))
    h.advance(700)
    h.one(client.renew(SERVER_DUID, client.held(r.ia_pds[0])))
    h.advance(200)
    assert len(h.store.load("ar1")) == 1


def test_counters_use_keas_names(h, client):
    bind(h, client, client.typed(1, MT.FIXED))
    st = h.dhcp.stats
    assert st["pkt6-received"] == 2 and st["pkt6-solicit-received"] == 1
    assert st["pkt6-request-received"] == 1 and st["pkt6-advertise-sent"] == 1
    assert st["pkt6-reply-sent"] == 1 and st["pkt6-sent"] == 2
    assert st["cumulative-assigned-pds"] == 1
    fixed = next(p for p in h.dhcp.pool_stats() if p["pool"] == "fixed")
    assert fixed["total-pds"] == 16 and fixed["assigned-pds"] == 1
    assert fixed["cumulative-assigned-pds"] == 1


# ------------------------------------------------------------- the log
def test_each_exchange_is_one_info_line_that_follows_the_client(h, client, caplog):
    """Operators grep the log for a client (issue 16): one INFO line per
    exchange with the xid, the DUID in colon hex, the IAID in 0x hex as
    Wireshark shows it, the type's RFC name, the prefix and its lifetimes, or
    the status that refused it."""
    import logging
    caplog.set_level(logging.INFO, logger="router.dhcp")
    rep = bind(h, client, client.typed(0x2A, MT.SESSION_LASTING))
    (p,) = prefixes_of(rep)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO
             and r.name == "router.dhcp"]
    assert len(lines) == 2, lines  # the Solicit's Advertise, the Request's Reply
    from odm_wire.dhcp6 import encode_duid
    duid = encode_duid(client.duid).hex(":")
    assert lines[1].startswith(f"veth0: Request xid 0x{rep.transaction_id:06x} DUID {duid} "
                               f"from {CLIENT_LL}: ")
    assert lines[1].endswith(f": Reply IA_PD 0x0000002a SESSION_LASTING {net(p)} pref "
                             f"{p.preferred_lifetime}s valid {p.valid_lifetime}s")
    caplog.clear()
    cfg = make_config(BASE_TOML.replace('name = "veth0"', 'name = "veth0"\noffered_types = '
                                        '["fixed"]'))
    h2 = Harness(cfg, h.store, h.clock)
    h2.one(client.solicit(client.typed(7, MT.NON_PERSISTENT)))
    (line,) = [r.getMessage() for r in caplog.records if " xid " in r.getMessage()]
    assert ": Advertise IA_PD 0x00000007 NoPrefixAvail \"" in line and "non-persistent" in line


def test_a_release_line_names_what_the_client_gave_back(h, client, caplog):
    """The Reply to a Release carries no IA_PD, and its line said only
    "Reply -": an operator could not tell which prefix went."""
    import logging
    rep = bind(h, client, client.typed(0x2A, MT.SESSION_LASTING))
    (p,) = prefixes_of(rep)
    caplog.set_level(logging.INFO, logger="router.dhcp")
    h.one(client.release(SERVER_DUID, client.held(rep.ia_pds[0])))
    (line,) = [r.getMessage() for r in caplog.records if ": Release xid " in r.getMessage()]
    assert line.endswith(f": Reply IA_PD 0x0000002a released {net(p)}"), line
