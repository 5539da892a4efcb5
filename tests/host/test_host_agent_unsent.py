"""The host agent's adapter keeps a datagram the kernel refused because the
interface's link-local address is still tentative (DAD after start-up or
link-up, RFC 4862 §5.4: sendto fails with EADDRNOTAVAIL) and sends it once the
address is usable, instead of losing the Solicit or RS until the core's next
retransmission seconds later. Fake loop and sockets: no kernel needed."""

from __future__ import annotations

import errno
from ipaddress import IPv6Address

import pytest
from hosthelp import config

from host.io import agent as agent_mod
from host.io.agent import HostAgent
from odm_sansio import Outgoing


class FakeLoop:
    def __init__(self) -> None:
        self.t = 0.0
        self.calls: list[tuple[float, object]] = []

    def time(self) -> float:
        return self.t

    def call_later(self, delay, fn, *args):
        self.calls.append((self.t + delay, lambda: fn(*args)))
        return self

    def cancel(self) -> None:  # the handle
        pass

    def run_until(self, t: float) -> None:
        while self.calls and min(c[0] for c in self.calls) <= t:
            self.calls.sort(key=lambda c: c[0])
            at, fn = self.calls.pop(0)
            self.t = at
            fn()
        self.t = t


class FakeSocket:
    """Refuses with EADDRNOTAVAIL until ``ready_at`` (loop time)."""

    def __init__(self, loop: FakeLoop, ready_at: float, err: int = errno.EADDRNOTAVAIL):
        self.loop, self.ready_at, self.err = loop, ready_at, err
        self.sent: list[tuple[float, bytes]] = []
        self.anc: list[list] = []

    def sendto(self, payload, dst) -> int:
        return self.sendmsg([payload], [], 0, dst)

    def sendmsg(self, buffers, ancdata, flags, dst) -> int:
        if self.loop.t < self.ready_at:
            raise OSError(self.err, "refused")
        self.sent.append((self.loop.t, buffers[0]))
        self.anc.append(ancdata)
        return len(buffers[0])


class FakeNl:
    index = 7
    ll = IPv6Address("fe80::2")

    def link_local(self):
        return self.ll


def agent(ready_at: float, err: int = errno.EADDRNOTAVAIL) -> tuple[HostAgent, FakeSocket]:
    a = HostAgent(config(state_file=None))
    a.loop = FakeLoop()
    a.nl = FakeNl()
    a.dhcp = FakeSocket(a.loop, ready_at, err)
    a.icmp = FakeSocket(a.loop, ready_at, err)
    a._ll = a._link_local()
    return a, a.dhcp


def solicit(n: int) -> Outgoing:
    return Outgoing(bytes((1, 0, 0, n)), IPv6Address("ff02::1:2"), "dhcp6", 547)


@pytest.mark.parametrize("err", [errno.EADDRNOTAVAIL, errno.EINVAL])
def test_datagram_refused_during_dad_goes_out_when_the_address_is_usable(err):
    """EADDRNOTAVAIL: the kernel chose the tentative source; EINVAL: the
    link-local named by IPV6_PKTINFO is tentative (what a DHCPv6 send meets)."""
    a, sock = agent(ready_at=1.2, err=err)
    assert a._send(solicit(1)) is False
    assert a._send(solicit(2)) is False
    a.loop.run_until(1.1)
    assert sock.sent == []
    a.loop.run_until(1.5)
    sent = [(round(t, 2), p[3]) for t, p in sock.sent]
    assert [p for _, p in sent] == [1, 2]
    assert all(1.2 <= t <= 1.2 + 2 * agent_mod.UNSENT_RETRY for t, _ in sent)
    assert a._unsent == [] and a.loop.calls == []


def test_held_datagrams_are_dropped_after_a_while_and_bounded():
    a, sock = agent(ready_at=1e9)
    for n in range(agent_mod.UNSENT_MAX + 5):
        a._send(solicit(n))
    assert len(a._unsent) == agent_mod.UNSENT_MAX
    assert a._unsent[0][1].payload[3] == 5  # the oldest went first
    a.loop.run_until(agent_mod.UNSENT_FOR + 1)
    assert a._unsent == [] and a.loop.calls == [] and sock.sent == []


def test_other_send_errors_are_not_retried():
    a, _ = agent(ready_at=1e9, err=errno.ENETUNREACH)
    assert a._send(solicit(1)) is False
    assert a._unsent == [] and a.loop.calls == []


def test_dhcpv6_to_ff02_1_2_leaves_from_the_link_local_address():
    """RFC 8415 §7.1: the client sends from its link-local address. With the
    kernel choosing, a tentative link-local made it pick a global address, and
    the server answered a destination it had no route to."""
    import socket
    import struct

    a, sock = agent(ready_at=0.0)
    assert a._send(solicit(1)) is True
    ((level, kind, data),) = sock.anc[0]
    assert (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO)
    assert data == IPv6Address("fe80::2").packed + struct.pack("@I", FakeNl.index)


def test_retransmissions_held_during_dad_leave_once_not_in_a_burst():
    """The core retransmits every RT while the link-local address is
    tentative; every copy was held and all left at once when DAD ended
    (seen as ten identical Solicits within a millisecond in a demo capture)."""
    a, sock = agent(ready_at=1.0)
    for _ in range(10):
        a._send(solicit(1))
        a._send(solicit(2))
    assert len(a._unsent) == 2
    a.loop.run_until(1.5)
    assert sorted(p[3] for _, p in sock.sent) == [1, 2]
