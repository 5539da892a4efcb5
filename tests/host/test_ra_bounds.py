"""Issue 13 point 12: what a flood of RAs can make the host take is bounded:
at most MAX_ROUTERS routers and MAX_ONLINK_PREFIXES on-link prefixes (the
kernel's own max_addresses default for SLAAC), and so a bounded state file."""

import json
from ipaddress import IPv6Address

from hosthelp import CLIENT, config, drain, pio, ra, rng

from host.core.events import OnLinkPrefix, RouterSeen
from host.core.host import HostCore
from host.core.ra_listener import MAX_ONLINK_PREFIXES, MAX_ROUTERS


def core():
    c = HostCore(config(), CLIENT, b"secret", rng=rng())
    c.start(0.0)
    drain(c)
    return c


def flood(c, routers=100, pios=50, now=1.0):
    """The issue's attack: ``routers`` RAs, each from its own link-local
    address, each with ``pios`` PIOs of /64 prefixes never seen before."""
    n = 0
    for r in range(routers):
        pios_ = [pio(f"2001:db8:{r:x}:{i:x}::/64") for i in range(pios)]
        c.handle_datagram(ra(pios_), IPv6Address(f"fe80::{r + 1:x}"), now, kind="icmp6")
        n += len(pios_)
    return n


def test_a_flood_of_ras_leaves_at_most_16_on_link_prefixes_and_16_routers():
    c = core()
    flood(c)
    evs = drain(c)
    assert len(c.ra.routers) == MAX_ROUTERS == 16
    assert len(c.ra.prefixes) == MAX_ONLINK_PREFIXES == 16
    assert len({e.prefix for e in evs if type(e) is OnLinkPrefix}) == 16
    assert len({e.router for e in evs if type(e) is RouterSeen}) == 16
    assert sum(1 for a in c.addrs.by_prefix.values() if a.source == "ra") == 16
    drops = c.ra.drops.snapshot()
    assert drops["ra-too-many-routers"] == 100 - 16
    assert drops["pio-too-many-prefixes"] == 16 * 50 - 16


def test_the_state_file_stays_small_under_the_flood():
    c = core()
    flood(c)
    drain(c)
    doc = json.dumps(c.export_state({}))
    assert len(doc) < 16 * 1024, len(doc)


def test_known_prefixes_are_refreshed_and_room_comes_back_when_they_expire():
    c = core()
    flood(c, routers=1, pios=40)
    drain(c)
    first = set(c.ra.prefixes)
    c.handle_datagram(ra([pio(str(p)) for p in first]), IPv6Address("fe80::1"), 2.0,
                      kind="icmp6")
    assert set(c.ra.prefixes) == first
    # all of them expire (valid lifetime 3600 s): new prefixes are taken again
    c.handle_timer(4000.0)
    drain(c)
    c.handle_datagram(ra([pio("2001:db8:ffff::/64")]), IPv6Address("fe80::1"), 4001.0,
                      kind="icmp6")
    assert any(str(p) == "2001:db8:ffff::/64" for p in c.ra.prefixes)
