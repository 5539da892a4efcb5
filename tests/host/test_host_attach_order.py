"""The new link's RA may be read before the host agent reads the carrier-up
notice: the two come on different sockets (an RA sent at once when a station
attaches, or an unsolicited one that happens to go then). What is heard
between a seen carrier loss and the carrier coming back belongs to the new
link (host/core/moves.py, ``link_changed``) and must not be forgotten."""

from ipaddress import IPv6Address

from hosthelp import CLIENT, config, drain, pio, ra, rng

from host.core.events import AddressRemoved, RouterExpired
from host.core.host import HostCore
from odm_wire.constants import MobilityType as MT

AR1 = IPv6Address("fe80::1")
AR2 = IPv6Address("fe80::2")


def core():
    c = HostCore(config(legacy_pd=False, timer_profile="lab", timer_scale=0.02), CLIENT,
                 b"k", rng=rng())
    c.start(0.0)
    c.handle_datagram(ra([pio("2001:db8:a1::/64", t=MT.NON_PERSISTENT)]), AR1, 0.0,
                      kind="icmp6", hop_limit=255)
    drain(c)
    return c


def np_addresses(c):
    return {str(a.prefix) for a in c.addrs.by_prefix.values()
            if a.mobility_type is MT.NON_PERSISTENT}


def test_the_new_routers_ra_heard_before_carrier_up_is_kept():
    c = core()
    c.link_down(1.0)
    assert [e.router for e in drain(c) if isinstance(e, RouterExpired)] == [AR1]
    # the new router's attach RA, read before the carrier-up notice
    c.handle_datagram(ra([pio("2001:db8:a2::/64", t=MT.NON_PERSISTENT)]), AR2, 1.001,
                      kind="icmp6", hop_limit=255)
    drain(c)
    c.link_up(1.002)
    evs = drain(c)
    assert not [e for e in evs if isinstance(e, RouterExpired)]  # AR2 stays the default
    assert list(c.ra.routers) == [AR2]
    # the old link's NON_PERSISTENT address goes, the new link's stays
    gone = {str(e.address) for e in evs if isinstance(e, AddressRemoved)}
    assert any(g.startswith("2001:db8:a1:") for g in gone)
    assert np_addresses(c) == {"2001:db8:a2::/64"}


def test_without_a_seen_carrier_loss_everything_of_the_old_link_goes():
    """A carrier-up with no loss seen (the notice was missed): the host cannot
    tell when the old link ended, so every router and NON_PERSISTENT prefix it
    knew goes, as before."""
    c = core()
    c.handle_datagram(ra([pio("2001:db8:a2::/64", t=MT.NON_PERSISTENT)]), AR2, 1.001,
                      kind="icmp6", hop_limit=255)
    drain(c)
    c.link_up(1.002)
    evs = drain(c)
    assert {e.router for e in evs if isinstance(e, RouterExpired)} == {AR1, AR2}
    assert np_addresses(c) == set()


def test_the_same_link_again_forms_its_address_once_more():
    c = core()
    c.link_down(1.0)
    c.link_up(1.5)  # back on the same link, nothing heard in between
    assert np_addresses(c) == set()
    c.handle_datagram(ra([pio("2001:db8:a1::/64", t=MT.NON_PERSISTENT)]), AR1, 1.6,
                      kind="icmp6", hop_limit=255)
    assert np_addresses(c) == {"2001:db8:a1::/64"}
