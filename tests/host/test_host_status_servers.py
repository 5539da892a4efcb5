"""``odm host status`` lists the DHCPv6 servers heard on the link the host
is on now: after a move the previous link's servers are forgotten (ar2's
server stayed listed after the host moved back to ar1). Host core and two
routers' servers on one fake-clock link (odm_sansio/linksim.py), the host
moved between them by carrier loss and return, by a carrier return whose
loss was not seen, and by a new default router without any carrier change
(host/core/moves.py)."""

from __future__ import annotations

from ipaddress import IPv6Address

from hosthelp import CLIENT, CLIENT_LL, advertise, config, drain, prefix, ra, reply, rng

from host.core.host import HostCore
from odm_sansio import linksim
from odm_wire import dhcp6
from odm_wire.constants import MobilityType as MT

AR1, AR2 = IPv6Address("fe80::1"), IPv6Address("fe80::2")
DUID1 = dhcp6.DuidLL(1, b"\x02\0\0\0\0\x01")
DUID2 = dhcp6.DuidLL(1, b"\x02\0\0\0\0\x03")
P_SL = "2001:db8:5000:100::/56"


def _server(duid):
    """A router's DHCPv6 server: delegates P_SL (SESSION_LASTING) to a
    Solicit, Request, Renew or Rebind (each router extends it, as RFC 8653
    §3.2 wants of a SESSION_LASTING prefix after a move)."""
    def answer(payload, kind, src):
        if kind != "dhcp6":
            return None
        m = dhcp6.decode_dhcp6(payload)
        pf = [prefix(P_SL, t=MT.SESSION_LASTING)]
        if type(m) is dhcp6.Solicit:
            return advertise(m, pf, pref=255, server=duid)
        if type(m) in (dhcp6.Request, dhcp6.Renew, dhcp6.Rebind):
            return reply(m, pf, server=duid)
        return None
    return linksim.Sink(answer)


def _servers(c, now) -> list[tuple[str, str]]:
    return [(s["duid"], s["address"]) for s in c.status(now)["servers"]]


S1 = (dhcp6.encode_duid(DUID1).hex(":"), str(AR1))
S2 = (dhcp6.encode_duid(DUID2).hex(":"), str(AR2))


def _on_ar1():
    c = HostCore(config(boot_types=(MT.SESSION_LASTING,), legacy_pd=False,
                        timer_profile="lab", timer_scale=0.02), CLIENT, b"k", rng=rng())
    link = linksim.Link()
    link.add("host", c, CLIENT_LL)
    link.add("ar1", _server(DUID1), AR1)
    link.add("ar2", _server(DUID2), AR2, attached=False)
    c.start(0.0)
    link.inject("host", ra(lifetime=1800, managed=True), AR1, kind="icmp6")
    link.run_until(1.0)
    drain(c)
    assert any(ia.leases for ia in c.pd.ias.values())
    assert _servers(c, link.now) == [S1]
    return c, link


def _move(c, link, to, router, *, loss_seen=True):
    link.attach(to, only=("ar1", "ar2"))
    if loss_seen:
        c.link_down(link.now)
    link.run_for(0.5)
    c.link_up(link.now)
    link.inject("host", ra(lifetime=1800, managed=True), router, kind="icmp6")
    link.run_for(1.0)
    drain(c)


def test_after_moving_to_ar2_and_back_only_ar1s_server_is_listed():
    c, link = _on_ar1()
    _move(c, link, "ar2", AR2)
    assert _servers(c, link.now) == [S2]
    _move(c, link, "ar1", AR1)
    assert _servers(c, link.now) == [S1]  # ar2's fe80::2 no longer listed
    # the IA_PD's own server is the one that answered its Rebind here
    (ia,) = c.pd.ias.values()
    assert ia.server_duid == DUID1 and ia.leases


def test_a_carrier_return_whose_loss_was_not_seen_forgets_the_old_servers_too():
    c, link = _on_ar1()
    _move(c, link, "ar2", AR2, loss_seen=False)
    assert _servers(c, link.now) == [S2]


def test_a_new_default_router_without_carrier_change_is_a_move_for_the_list_too():
    c, link = _on_ar1()
    link.attach("ar2", only=("ar1", "ar2"))
    link.inject("host", ra(lifetime=1800, managed=True), AR2, kind="icmp6")
    link.run_for(1.0)
    drain(c)
    assert _servers(c, link.now) == [S2]


def test_a_carrier_flap_on_the_same_link_lists_its_server_again():
    c, link = _on_ar1()
    _move(c, link, "ar1", AR1)
    assert _servers(c, link.now) == [S1]


def test_a_router_that_is_no_default_router_changes_nothing():
    c, link = _on_ar1()
    link.inject("host", ra(lifetime=0), AR2, kind="icmp6")
    link.run_for(1.0)
    assert _servers(c, link.now) == [S1]
