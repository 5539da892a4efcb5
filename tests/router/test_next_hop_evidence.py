"""Issue 13 point 11: a prefix's route moves to a new next hop on the same
link only on evidence that the old one is gone (docs/security.md, "next hop
of a delegated prefix"). An on-link node that copied a client's DUID and
IAID from its multicast Request and sends a Renew, Rebind or Request from its
own address gets an answer, but the route stays with the client."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import Reply, encode_dhcp6
from router.core.events import NextHopCheck, PrefixRenewed
from router.core.next_hop import NEXT_HOP_PENDING
from router.errors import StoreError
from tests.router.conftest import CLIENT_LL, SERVER_DUID, net, prefixes_of

ATTACKER = IPv6Address("fe80::bad")


def bound(h, client, mt=MT.SESSION_LASTING):
    ia = client.typed(1, mt)
    h.one(client.solicit(ia))
    r = h.one(client.request(SERVER_DUID, ia))
    (p,) = prefixes_of(r)
    h.take_events()
    return r, net(p)


def stored_next_hop(h, prefix):
    (b,) = [b for b in h.store.load("ar1") if b.prefix == prefix]
    return b.client_ll


@pytest.mark.parametrize("kind", ["rebind", "renew", "request"])
def test_a_message_from_another_address_does_not_move_the_route(h, client, kind):
    r, prefix = bound(h, client)
    held = client.held(r.ia_pds[0])
    msg = {"rebind": lambda: client.rebind(held),
           "renew": lambda: client.renew(SERVER_DUID, held),
           "request": lambda: client.request(SERVER_DUID, held)}[kind]()
    answer = h.one(msg, src=ATTACKER)
    assert type(answer) is Reply and net(prefixes_of(answer)[0]) == prefix  # still answered
    assert h.dhcp.table.get(prefix).client_ll == CLIENT_LL
    assert stored_next_hop(h, prefix) == CLIENT_LL
    assert not [e for e in h.take_events(PrefixRenewed) if e.client_ll == ATTACKER]
    assert h.take_events(NextHopCheck) == [NextHopCheck("veth0", CLIENT_LL)]
    assert h.dhcp.stats["next-hop-change-deferred"] == 1
    assert h.dhcp.stats["next-hop-changed"] == 0


def test_the_route_moves_when_the_old_next_hop_is_found_gone(h, client):
    r, prefix = bound(h, client)
    new = IPv6Address("fe80::2:2")
    h.one(client.rebind(client.held(r.ia_pds[0])), src=new)
    assert h.dhcp.table.get(prefix).client_ll == CLIENT_LL
    h.clock.advance(10)
    assert h.dhcp.next_hop_unreachable(CLIENT_LL, h.clock()) == 1
    h.flush()
    (ev,) = h.take_events(PrefixRenewed)
    assert ev.prefix == prefix and ev.client_ll == new
    assert stored_next_hop(h, prefix) == new
    assert h.dhcp.stats["next-hop-changed"] == 1


def test_a_message_after_the_verdict_moves_at_once(h, client):
    r, prefix = bound(h, client)
    h.dhcp.next_hop_unreachable(CLIENT_LL, h.clock())
    new = IPv6Address("fe80::2:2")
    h.one(client.renew(SERVER_DUID, client.held(r.ia_pds[0])), src=new)
    assert stored_next_hop(h, prefix) == new
    assert not h.take_events(NextHopCheck)


def test_a_verdict_long_after_the_message_moves_nothing(h, client):
    r, prefix = bound(h, client)
    h.one(client.rebind(client.held(r.ia_pds[0])), src=ATTACKER)
    h.clock.advance(NEXT_HOP_PENDING + 1)
    assert h.dhcp.next_hop_unreachable(CLIENT_LL, h.clock()) == 0
    assert stored_next_hop(h, prefix) == CLIENT_LL


def test_a_verdict_on_another_next_hop_moves_nothing(h, client):
    r, prefix = bound(h, client)
    h.one(client.rebind(client.held(r.ia_pds[0])), src=ATTACKER)
    assert h.dhcp.next_hop_unreachable(IPv6Address("fe80::77"), h.clock()) == 0
    assert stored_next_hop(h, prefix) == CLIENT_LL


def test_a_failed_next_hop_write_acknowledges_nothing_of_its_batch(h, client, monkeypatch):
    """The verdict's write fails: the store's open batch is rolled back, and
    with it every Reply queued for that batch (a lease is durable before its
    Reply leaves), not only the route change."""
    from tests.router.conftest import Client
    r, prefix = bound(h, client)
    h.one(client.rebind(client.held(r.ia_pds[0])), src=ATTACKER)
    other = Client("020000000099")
    ia = other.typed(1, MT.FIXED)
    h.one(other.solicit(ia))
    # the Request is answered but not handed out yet: its binding is in the
    # store's open batch
    h.core.handle_datagram(encode_dhcp6(other.request(SERVER_DUID, ia)), CLIENT_LL,
                           h.clock(), kind="dhcp6")

    def fail(b):
        raise StoreError("disk full")
    monkeypatch.setattr(h.store, "update", fail)
    assert h.dhcp.next_hop_unreachable(CLIENT_LL, h.clock()) == 0
    monkeypatch.undo()
    assert [o for o in h.core.datagrams_to_send() if o.kind == "dhcp6"] == []
    assert h.dhcp.stats["store-write-failed"] == 1
    assert [b.prefix for b in h.store.load("ar1")] == [prefix]  # the other's is gone
    assert stored_next_hop(h, prefix) == CLIENT_LL
