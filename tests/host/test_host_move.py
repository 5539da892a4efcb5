"""Noticing a move (RFC 8653 §4.2, RFC 6059 spirit, RFC 8415 §18.2.12): after
carrier comes back, or when a new default router appears on the link, the host
sends an RS at once, forgets the old routers (their default routes go) and
Rebinds every IA_PD that holds prefixes, to the multicast address, with the
Confirm's retransmission parameters: at once, or after the Confirm's first
delay when ``move_rebind_delay`` is set."""

from ipaddress import IPv6Address

from hosthelp import CLIENT, ScriptedServer, alone, config, decoded, drain, of, ra, rng

from host.core.events import RouterExpired
from host.core.host import HostCore
from odm_wire.constants import MessageType
from odm_wire.constants import MobilityType as MT
from odm_wire.nd import RouterSolicitation, decode_nd

AR1 = IPv6Address("fe80::1")
AR2 = IPv6Address("fe80::2")
P_SL = "2001:db8:1002:1::/64"
P_NP = "2001:db8:1003:1::/64"
SCALE = 0.02


def bound_core(seed=None, **kw):
    c = HostCore(config(boot_types=(MT.SESSION_LASTING, MT.NON_PERSISTENT), legacy_pd=False,
                        timer_profile="lab", timer_scale=SCALE, **kw), CLIENT, b"k",
                 rng=rng() if seed is None else __import__("random").Random(seed))
    c.start(0.0)
    c.handle_datagram(ra(lifetime=1800, managed=True), AR1, 0.0, kind="icmp6", hop_limit=255)
    ScriptedServer(grants={MT.SESSION_LASTING: P_SL, MT.NON_PERSISTENT: P_NP}).serve(c, 0.0)
    drain(c)
    c.datagrams_to_send()
    assert len(c.pd.ias) == 2 and all(ia.leases for ia in c.pd.ias.values())
    return c


def run_until(c, t_end):
    """Fire timers up to ``t_end`` (``c`` alone on a link, hosthelp.alone);
    returns every datagram sent with its time."""
    link, sent = alone(c)
    link.run_until(t_end)
    return sent


def rebinds(sent):
    """The first transmission of each Rebind exchange (retransmissions keep
    the transaction-id)."""
    seen, out = set(), []
    for t, o in sent:
        for m in decoded([o]) if o.kind == "dhcp6" else ():
            if m.msg_type == MessageType.REBIND and m.transaction_id not in seen:
                seen.add(m.transaction_id)
                out.append((t, m))
    return out


def test_carrier_up_sends_rs_now_and_rebinds_every_bound_ia_pd():
    c = bound_core()
    c.link_up(10.0)
    evs = drain(c)
    assert [e.router for e in of(evs, RouterExpired)] == [AR1]
    sent = [(10.0, o) for o in c.datagrams_to_send()] + run_until(c, 10.0 + 1.0 * SCALE + 0.001)
    rs = [t for t, o in sent if o.kind == "icmp6"
          and isinstance(decode_nd(o.payload), RouterSolicitation)]
    assert rs and rs[0] == 10.0
    rb = rebinds(sent)
    assert {m.ia_pds[0].iaid for _, m in rb} == set(c.pd.ias)
    # Confirm-like timing: the first Rebind within CNF_MAX_DELAY (1 s, scaled)
    assert all(10.0 <= t <= 10.0 + 1.0 * SCALE for t, _ in rb)
    for _, m in rb:
        assert m.server_duid is None  # Rebind goes to any server (§18.2.5)
        assert [str(p.network) for p in m.ia_pds[0].prefixes] in ([P_SL], [P_NP])
    assert all(str(o.dst) == "ff02::1:2" for _, o in sent if o.kind == "dhcp6")


def test_a_new_default_router_without_carrier_change_triggers_rebind():
    c = bound_core()
    c.handle_datagram(ra(lifetime=1800), AR2, 5.0, kind="icmp6", hop_limit=255)
    drain(c)
    sent = run_until(c, 5.0 + 1.0 * SCALE + 0.001)
    assert len(rebinds(sent)) == 2


def test_the_same_router_again_or_a_non_default_router_triggers_nothing():
    c = bound_core()
    c.handle_datagram(ra(lifetime=1800), AR1, 5.0, kind="icmp6", hop_limit=255)
    c.handle_datagram(ra(lifetime=0), AR2, 5.0, kind="icmp6", hop_limit=255)
    drain(c)
    assert rebinds(run_until(c, 6.0)) == []


def test_the_first_router_after_carrier_up_does_not_rebind_twice():
    c = bound_core()
    c.link_up(10.0)
    c.handle_datagram(ra(lifetime=1800), AR2, 10.005, kind="icmp6", hop_limit=255)
    drain(c)
    sent = [(10.0, o) for o in c.datagrams_to_send()] + run_until(c, 10.0 + 1.0 * SCALE + 0.001)
    assert len(rebinds(sent)) == 2  # one per IA_PD, not two each


def test_carrier_loss_forgets_routers_at_once_and_keeps_the_bindings():
    """The old router's default route must go when the carrier does: packets
    sent during the gap then fail at once instead of queueing on the old
    router's neighbour entry, where TCP would not retransmit them."""
    c = bound_core()
    c.link_down(10.0)
    evs = drain(c)
    assert [e.router for e in of(evs, RouterExpired)] == [AR1]
    assert all(ia.leases for ia in c.pd.ias.values())
    assert rebinds([(10.0, o) for o in c.datagrams_to_send()]) == []
    c.link_up(10.05)
    assert not of(drain(c), RouterExpired)  # nothing left to forget
    sent = [(10.05, o) for o in c.datagrams_to_send()] + run_until(c, 10.05 + SCALE + 0.001)
    assert len(rebinds(sent)) == 2


def test_a_non_persistent_address_from_an_ra_goes_at_a_move_and_others_stay():
    """A fresh-clone try: an address formed from a NON_PERSISTENT on-link prefix
    (SLAAC, RA PIO type bits) stayed preferred after a move, although nothing
    answers for it on another link (RFC 8653 §3.2: no promise after a move).
    At carrier up it goes and its applications are told; an untyped one stays
    (RFC 4862 keeps addresses); on the same link the next RA forms it again."""
    from hosthelp import pio

    from host.core.events import AddressRemoved, AppNotification
    c = HostCore(config(legacy_pd=False, timer_profile="lab", timer_scale=SCALE), CLIENT,
                 b"k", rng=rng())
    c.start(0.0)
    np_pio, plain_pio = pio("2001:db8:a1::/64", t=MT.NON_PERSISTENT), pio("2001:db8:b1::/64")
    c.handle_datagram(ra([np_pio, plain_pio]), AR1, 0.0, kind="icmp6", hop_limit=255)
    drain(c)
    addrs = {a.prefix: a for a in c.addrs.by_prefix.values()}
    np_addr = next(a for a in addrs.values() if a.mobility_type is MT.NON_PERSISTENT)
    np_addr.refs.add(7)
    c.link_down(1.0)
    c.link_up(1.1)
    evs = drain(c)
    gone = [e for e in evs if isinstance(e, AddressRemoved)]
    assert [(e.address, e.reason) for e in gone] == [(np_addr.address, "moved")]
    told = [e for e in evs if isinstance(e, AppNotification)]
    assert told and told[0].owners == (7,) and told[0].message["event"] == "address-gone"
    assert any(a.mobility_type is None for a in c.addrs.by_prefix.values())
    c.handle_datagram(ra([np_pio]), AR1, 1.2, kind="icmp6", hop_limit=255)
    drain(c)
    assert any(a.address == np_addr.address for a in c.addrs.by_prefix.values())


def test_the_rebind_after_a_move_goes_at_once_and_waits_only_when_asked():
    """The Rebind after a move held every prefix's traffic for a random
    0..CNF_MAX_DELAY (the router re-routes a moved prefix when it answers the
    Rebind); RFC 8415 §18.2.12 takes only the Confirm's retransmission
    parameters, so it now goes at once; ``move_rebind_delay`` brings the
    Confirm's first delay (§18.2.3) back for links where many hosts move
    together."""
    c = bound_core()
    c.link_up(10.0)
    drain(c)
    sent = [(10.0, o) for o in c.datagrams_to_send()] + run_until(c, 10.1)
    assert [t for t, _ in rebinds(sent)] == [10.0, 10.0]
    firsts = []
    for seed in range(8):
        c = bound_core(seed, move_rebind_delay=True)
        c.link_up(10.0)
        drain(c)
        sent = [(10.0, o) for o in c.datagrams_to_send()] + run_until(c, 10.1)
        firsts += [t for t, _ in rebinds(sent)]
    assert len(firsts) == 16 and all(10.0 <= t <= 10.0 + 1.0 * SCALE for t in firsts)
    assert max(firsts) > 10.0 + 0.1 * SCALE  # spread, not at once


def test_odm_host_rebind_goes_at_once():
    c = bound_core(move_rebind_delay=True)
    c.rebind_all(10.0)
    sent = [(10.0, o) for o in c.datagrams_to_send()] + run_until(c, 10.1)
    assert [t for t, _ in rebinds(sent)] == [10.0, 10.0]
