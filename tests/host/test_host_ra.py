"""RA processing: RFC 4861 §6.1.2 validation, §6.3.4 routers, RFC 4862 §5.5.3 PIOs."""

from ipaddress import IPv6Address, IPv6Network

import pytest
from hosthelp import ROUTER_LL, pio, ra, rng

from host.config import Timers
from host.core.events import OnLinkPrefix, RaRejected, RouterExpired, RouterSeen
from host.core.ra_listener import RaListener
from odm_wire.constants import MobilityType as MT
from odm_wire.nd import RouterSolicitation, decode_nd

P = "2001:db8:1::/64"


def make():
    return RaListener(Timers.rfc(), rng=rng(), router_memory=100.0, mac=b"\x02\0\0\0\0\x02")


def evs(r):
    out = []
    while (e := r.next_event()) is not None:
        out.append(e)
    return out


def test_valid_ra_new_router_then_known_and_typed_prefix():
    r = make()
    r.handle_ra(ra([pio(P, t=MT.NON_PERSISTENT)]), ROUTER_LL, 255, 0.0)
    e = evs(r)
    assert e[0] == RouterSeen(ROUTER_LL, 1800, True, False, False)
    assert e[1] == OnLinkPrefix(IPv6Network(P), MT.NON_PERSISTENT, 1800, 3600, ROUTER_LL)
    r.handle_ra(ra([pio(P)]), ROUTER_LL, 255, 1.0)
    e = evs(r)
    assert e[0].new is False
    assert e[1].mobility_type is None


@pytest.mark.parametrize("src,hop,code", [
    (ROUTER_LL, 254, 0), (IPv6Address("2001:db8::1"), 255, 0), (ROUTER_LL, 255, 1)])
def test_invalid_ra_rejected(src, hop, code):
    r = make()
    r.handle_ra(ra([pio(P)], code=code), src, hop, 0.0)
    e = evs(r)
    assert [type(x) for x in e] == [RaRejected]
    assert not r.routers and not r.prefixes


def test_zero_length_option_drops_ra():
    r = make()
    data = ra([pio(P)]) + b"\x19\x00" + b"\x00" * 6
    r.handle_ra(data, ROUTER_LL, 255, 0.0)
    assert [type(x) for x in evs(r)] == [RaRejected]
    assert not r.prefixes


def test_short_ra_rejected():
    r = make()
    r.handle_ra(ra()[:12], ROUTER_LL, 255, 0.0)
    assert [type(x) for x in evs(r)] == [RaRejected]


def test_router_lifetime_zero_still_gives_prefixes_and_flags():
    r = make()
    r.handle_ra(ra([pio(P, t=MT.FIXED)], lifetime=0, managed=True), ROUTER_LL, 255, 0.0)
    e = evs(r)
    assert e[0] == RouterSeen(ROUTER_LL, 0, True, True, False)
    assert isinstance(e[1], OnLinkPrefix) and e[1].mobility_type == MT.FIXED
    # remembered for router_memory, then forgotten
    r.handle_timer(100.0)
    assert evs(r) == [RouterExpired(ROUTER_LL)]


@pytest.mark.parametrize("bad", [
    pio(P, a=False), pio("fe80::/64"), pio(P, pl=4000, vl=3600), pio("2001:db8:1::/48"),
    pio(P, vl=0, pl=0)])
def test_pio_not_usable_for_slaac(bad):
    r = make()
    r.handle_ra(ra([bad]), ROUTER_LL, 255, 0.0)
    assert [type(x) for x in evs(r)] == [RouterSeen]
    assert not r.prefixes


def test_p_flag_left_to_pd():
    r = make()
    r.handle_ra(ra([pio(P, p=True)]), ROUTER_LL, 255, 0.0)
    assert not r.prefixes


def test_reserved_type_bits_count_as_untyped():
    r = make()
    r.handle_ra(ra([pio(P, t=6)]), ROUTER_LL, 255, 0.0)
    assert evs(r)[1].mobility_type is None


def test_two_hour_rule():
    r = make()
    net = IPv6Network(P)
    r.handle_ra(ra([pio(P, pl=100, vl=3 * 3600)]), ROUTER_LL, 255, 0.0)
    # remaining 3 h > 2 h, advertised 60 s → valid set to 2 h
    r.handle_ra(ra([pio(P, pl=30, vl=60)]), ROUTER_LL, 255, 0.0)
    assert r.prefixes[net].valid_until == pytest.approx(7200.0)
    assert r.prefixes[net].preferred_until == pytest.approx(30.0)
    # remaining ≤ 2 h and advertised smaller → ignored
    r.handle_ra(ra([pio(P, pl=0, vl=10)]), ROUTER_LL, 255, 1000.0)
    assert r.prefixes[net].valid_until == pytest.approx(7200.0)
    # advertised longer than remaining → taken
    r.handle_ra(ra([pio(P, pl=10, vl=7000)]), ROUTER_LL, 255, 1000.0)
    assert r.prefixes[net].valid_until == pytest.approx(8000.0)


def test_router_solicitations_at_start_until_ra():
    r = make()
    r.start(0.0)
    t = r.get_timer()
    assert 0.0 <= t <= 1.0
    r.handle_timer(t)
    (o,) = r.datagrams_to_send()
    assert o.kind == "icmp6" and str(o.dst) == "ff02::2"
    assert isinstance(decode_nd(o.payload), RouterSolicitation)
    t2 = r.get_timer()
    assert t2 == pytest.approx(t + 4.0)
    r.handle_ra(ra(), ROUTER_LL, 255, t2 - 1)
    assert r.get_timer() != pytest.approx(t2)
    r2 = make()
    r2.start(0.0)
    n = 0
    while (t := r2.get_timer()) is not None and t < 100:
        r2.handle_timer(t)
        n += len(r2.datagrams_to_send())
    assert n == 3


def test_a_repeated_ra_is_unchanged_and_its_unusable_pio_logged_once(caplog):
    # routers repeat their RA every few seconds (RFC 4861 §6.2.4): operators
    # read what changed at INFO (as radvd and dhcpcd log), repeats at DEBUG
    r = make()
    caplog.set_level("DEBUG", logger="host.core.ra_listener")

    def info_lines():
        return [x.getMessage() for x in caplog.records
                if x.levelname == "INFO" and "not used for SLAAC" in x.getMessage()]

    r.handle_ra(ra([pio(P, a=False)]), ROUTER_LL, 255, 0.0)
    assert evs(r)[0].changed is True
    assert len(info_lines()) == 1
    for t in (4.0, 8.0):
        r.handle_ra(ra([pio(P, a=False)]), ROUTER_LL, 255, t)
        assert evs(r)[0].changed is False
    assert len(info_lines()) == 1
    r.handle_ra(ra([pio(P, a=False)], lifetime=0), ROUTER_LL, 255, 12.0)
    assert evs(r)[0].changed is True  # no longer a default router
    r.handle_ra(ra([pio(P, a=False)], lifetime=0, other=True), ROUTER_LL, 255, 16.0)
    assert evs(r)[0].changed is True  # O flag
    r.handle_ra(ra([pio("2001:db8:2::/64", a=False)]), ROUTER_LL, 255, 20.0)
    assert len(info_lines()) == 2  # another prefix is news
