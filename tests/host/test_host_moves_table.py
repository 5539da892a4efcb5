"""What a move does to each type (host/core/moves.py, RFC 8653 §3.2, §4.2):
the table has a row for every type, and the host drops after a carrier
change exactly the on-link addresses whose row says DROP, and Rebinds every
delegated prefix whatever its type."""

from ipaddress import IPv6Address, IPv6Network

import pytest
from hosthelp import CLIENT, config, drain, pio, ra, rng

from host.core.events import AddressRemoved, AddressUpdated, AppNotification
from host.core.host import HostCore
from host.core.moves import AFTER_MOVE, Delegated, OnLink
from host.core.pd_model import ExchangeKind
from odm_wire.constants import MobilityType as MT

AR1 = IPv6Address("fe80::1")


def test_every_type_and_the_untyped_prefix_have_a_row():
    assert set(AFTER_MOVE) == set(MT) | {None}
    assert {t for t, r in AFTER_MOVE.items() if r.on_link is OnLink.DROP} == {MT.NON_PERSISTENT}
    assert all(r.delegated is Delegated.REBIND for r in AFTER_MOVE.values())


@pytest.mark.parametrize("t", [*MT, None])
def test_a_carrier_change_drops_the_on_link_address_as_its_row_says(t):
    c = HostCore(config(legacy_pd=False), CLIENT, b"k", rng=rng())
    c.start(0.0)
    c.handle_datagram(ra([pio("2001:db8:a1::/64", t=t or 0)]), AR1, 0.0, kind="icmp6",
                      hop_limit=255)
    drain(c)
    assert IPv6Network("2001:db8:a1::/64") in c.addrs.by_prefix
    c.link_up(1.0)
    gone = [e for e in drain(c) if isinstance(e, AddressRemoved)]
    dropped = AFTER_MOVE[t].on_link is OnLink.DROP
    assert [e.reason for e in gone] == (["moved"] if dropped else [])
    assert (IPv6Network("2001:db8:a1::/64") in c.addrs.by_prefix) is not dropped


@pytest.mark.parametrize("t", [t for t in [*MT, None] if AFTER_MOVE[t].on_link is OnLink.DEPRECATE])
def test_a_carrier_change_deprecates_the_kept_on_link_address_until_its_prefix_is_heard(t):
    """The address of the link left gets no new use (preferred 0; a router of
    the new link drops it as a foreign source, BCP 38), its socket is told;
    an RA of the new link with the same prefix makes it preferred again."""
    net = IPv6Network("2001:db8:a1::/64")
    c = HostCore(config(legacy_pd=False), CLIENT, b"k", rng=rng())
    c.start(0.0)
    c.handle_datagram(ra([pio(str(net), t=t or 0)]), AR1, 0.0, kind="icmp6", hop_limit=255)
    drain(c)
    a = c.addrs.by_prefix[net]
    c.address_ready(a.address, 0.5)
    if t is not None:
        c.setsc(1, 7, t, 0.6)
    drain(c)
    c.link_up(1.0)
    evs = drain(c)
    (upd,) = [e for e in evs if isinstance(e, AddressUpdated) and e.prefix == net]
    assert upd.preferred_lifetime == 0 and upd.valid_lifetime > 0
    assert c.addrs.by_prefix[net].deprecated
    if t is not None:
        (n,) = [e for e in evs if isinstance(e, AppNotification)]
        assert n.owners == (7,) and n.message["event"] in ("address-deprecated",
                                                          "graceful-deadline")
    c.handle_datagram(ra([pio(str(net), t=t or 0)]), AR1, 2.0, kind="icmp6", hop_limit=255)
    drain(c)
    assert not c.addrs.by_prefix[net].deprecated


def test_a_carrier_change_rebinds_every_delegated_prefix_with_the_move_kind():
    from test_host_core_setsc import serve_all
    types = (MT.FIXED, MT.SESSION_LASTING, MT.NON_PERSISTENT, MT.GRACEFUL_REPLACEMENT)
    c = HostCore(config(boot_types=types, legacy_pd=False), CLIENT, b"k", rng=rng())
    c.start(0.0)
    serve_all(c, 0.0, {MT.FIXED: "2001:db8:f::/56", MT.SESSION_LASTING: "2001:db8:5::/56",
                       MT.NON_PERSISTENT: "2001:db8:1::/56",
                       MT.GRACEFUL_REPLACEMENT: "2001:db8:4::/56"})
    drain(c)
    assert {ia.mobility_type for ia in c.pd.ias.values() if ia.leases} == set(types)
    c.link_up(5.0)
    assert all(ia.exchange is not None and ia.exchange.kind is ExchangeKind.REBIND_AFTER_MOVE
               for ia in c.pd.ias.values())
