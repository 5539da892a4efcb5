"""odm.netsock, the kernel sockets both agents and the probes open: the
ICMP6_FILTER they install (RFC 3542 §3.2), the hop limit read with each
datagram (RFC 3542 §6.3; RFC 4861 §6.1 needs it), the socket options of the
agents' DHCPv6 and ICMPv6 sockets. Loopback only."""

from __future__ import annotations

import socket
import struct
import sys
from ipaddress import IPv6Address

import pytest

from odm import netsock


def _willpass(filt: bytes, t: int) -> bool:
    """ICMP6_FILTER_WILLPASS as Linux reads the filter: eight host-order u32."""
    words = struct.unpack("8I", filt)
    return not words[t >> 5] & (1 << (t & 31))


@pytest.mark.parametrize("passed", [(134,), (133, 134), (), (0, 31, 32, 255)])
def test_icmp6_filter_passes_exactly_the_given_types(passed):
    filt = netsock.icmp6_filter(passed)
    assert len(filt) == 32
    assert [t for t in range(256) if _willpass(filt, t)] == sorted(passed)


@pytest.mark.skipif(sys.byteorder != "little", reason="the byte-wise form is little-endian's")
def test_icmp6_filter_is_the_bytes_the_agents_installed():
    for passed in ((134,), (133, 134)):
        filt = bytearray(b"\xff" * 32)
        for t in passed:
            filt[t >> 3] &= ~(1 << (t & 7)) & 0xFF
        assert netsock.icmp6_filter(passed) == bytes(filt)


def _pair(recv_hop_limit: bool):
    rx = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    rx.bind(("::1", 0))
    if recv_hop_limit:
        rx.setsockopt(socket.IPPROTO_IPV6, netsock.IPV6_RECVHOPLIMIT, 1)
    tx.bind(("::1", 0))
    tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 7)
    return rx, tx


def test_recv_icmp6_reports_source_and_hop_limit():
    rx, tx = _pair(True)
    with rx, tx:
        tx.sendto(b"abc", rx.getsockname())
        data, src, hop = netsock.recv_icmp6(rx)
    assert (data, src, hop) == (b"abc", IPv6Address("::1"), 7)


@pytest.mark.parametrize("missing", [-1, None])
def test_recv_icmp6_without_a_reported_hop_limit(missing):
    rx, tx = _pair(False)
    with rx, tx:
        tx.sendto(b"x", rx.getsockname())
        assert netsock.recv_icmp6(rx, missing=missing)[2] == missing


def _opt(s, level, name):
    return s.getsockopt(level, name)


def _open(make):
    try:
        return make()
    except PermissionError:
        pytest.skip("SO_BINDTODEVICE and raw sockets need CAP_NET_RAW")


def _lo():
    try:
        return socket.if_nametoindex("lo")
    except OSError:
        pytest.skip("no loopback interface named lo")


def test_udp6_socket_options():
    idx = _lo()
    with _open(lambda: netsock.udp6_socket("lo", idx, 0, v6only=True, rcvbuf=256 * 1024)) as s:
        assert not s.getblocking()
        assert _opt(s, socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
        assert _opt(s, socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP) == 0
        assert _opt(s, socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF) == idx
        assert _opt(s, socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert s.getsockopt(socket.SOL_SOCKET, netsock.SO_BINDTODEVICE, 16).rstrip(b"\0") == b"lo"
        assert _opt(s, socket.SOL_SOCKET, socket.SO_RCVBUF) > 0


def test_raw_icmp6_socket_options():
    idx = _lo()
    with _open(lambda: netsock.raw_icmp6_socket("lo", idx, (133, 134))) as s:
        assert not s.getblocking()
        assert _opt(s, socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS) == 255
        assert _opt(s, socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) == 255
        assert _opt(s, socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP) == 0
        assert _opt(s, socket.IPPROTO_IPV6, netsock.IPV6_RECVHOPLIMIT) == 1
        assert s.getsockopt(socket.IPPROTO_ICMPV6, netsock.ICMP6_FILTER, 32) == \
            netsock.icmp6_filter((133, 134))

