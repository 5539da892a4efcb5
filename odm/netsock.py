"""Kernel sockets on one interface, shared by both agents' I/O (``host/io``,
``router/io``) and the probes (``odm/probetools``).

* :func:`raw_icmp6_socket`: raw ICMPv6 bound to the interface, passing only
  the given ICMPv6 types (``ICMP6_FILTER``, RFC 3542 §3.2), reporting each
  packet's hop limit (``IPV6_RECVHOPLIMIT``, RFC 3542 §6.3: Neighbor Discovery
  checks it is 255, RFC 4861 §6.1), sending with hop limit 255 (§4.1, §4.2).
  The kernel fills in and checks the ICMPv6 checksum.
* :func:`udp6_socket`: UDP on ``[::]:port`` bound to the interface, multicast
  sent out of it (the DHCPv6 client and server sockets, RFC 8415 §7.1).
* :func:`recv_icmp6`: one datagram with its source and hop limit.

Linux numbers are the fallbacks where the :mod:`socket` module lacks a name.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from ipaddress import IPv6Address

__all__ = [
    "ICMP6_FILTER",
    "IPV6_HOPLIMIT",
    "IPV6_RECVHOPLIMIT",
    "SO_BINDTODEVICE",
    "icmp6_filter",
    "join_group",
    "raw_icmp6_socket",
    "recv_icmp6",
    "udp6_socket",
]

IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
ICMP6_FILTER = 1
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
_EADDRINUSE = 98


def icmp6_filter(passed: Iterable[int]) -> bytes:
    """``struct icmp6_filter`` (eight 32-bit words in host order) passing only
    the ICMPv6 types ``passed``: a set bit blocks its type (the Linux
    convention, RFC 3542 §3.2's ICMP6_FILTER_SETBLOCKALL then SETPASS)."""
    words = [0xFFFFFFFF] * 8
    for t in passed:
        words[t >> 5] &= ~(1 << (t & 31))
    return struct.pack("8I", *words)


def join_group(s: socket.socket, group: str | IPv6Address, ifindex: int) -> None:
    """Join IPv6 multicast ``group`` on interface ``ifindex`` (already joined
    is fine)."""
    mreq = IPv6Address(group).packed + struct.pack("@I", ifindex)
    try:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    except OSError as exc:
        if exc.errno != _EADDRINUSE:
            raise


def raw_icmp6_socket(iface: str, ifindex: int, passed: Iterable[int], *,
                     groups: Iterable[str | IPv6Address] = ()) -> socket.socket:
    """Non-blocking raw ICMPv6 socket on ``iface`` (index ``ifindex``) as the
    module docstring says, passing only the types ``passed``, joined to
    ``groups`` there, multicast loopback off (the agent does not hear what it
    sends). Raises :class:`OSError` (EPERM without CAP_NET_RAW)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    with _closed_on_error(s):
        _on_interface(s, iface, ifindex)
        s.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, icmp6_filter(passed))
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
        _join_and_unblock(s, ifindex, groups)
    return s


def udp6_socket(iface: str, ifindex: int, port: int, *, v6only: bool = False,
                rcvbuf: int | None = None,
                groups: Iterable[str | IPv6Address] = ()) -> socket.socket:
    """Non-blocking UDP socket on ``[::]:port`` bound to ``iface`` (index
    ``ifindex``; SO_REUSEADDR, so every interface can have its own socket on
    the port), multicast sent out of it with loopback off, joined to
    ``groups`` there; ``v6only`` sets IPV6_V6ONLY, ``rcvbuf`` asks for that
    receive buffer (SO_RCVBUFFORCE when privileged, else SO_RCVBUF, capped by
    net.core.rmem_max). Raises :class:`OSError` (EADDRINUSE, EPERM)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    with _closed_on_error(s):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _on_interface(s, iface, ifindex)
        if v6only:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if rcvbuf is not None:
            _big_rcvbuf(s, rcvbuf)
        s.bind(("::", port))
        _join_and_unblock(s, ifindex, groups)
    return s


@contextmanager
def _closed_on_error(s: socket.socket) -> Iterator[None]:
    try:
        yield
    except OSError:
        s.close()
        raise


def _on_interface(s: socket.socket, iface: str, ifindex: int) -> None:
    """Bound to ``iface``; multicast goes out of it and is not looped back."""
    s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)


def _join_and_unblock(s: socket.socket, ifindex: int,
                      groups: Iterable[str | IPv6Address]) -> None:
    for group in groups:
        join_group(s, group, ifindex)
    s.setblocking(False)


def _big_rcvbuf(s: socket.socket, size: int) -> None:
    force = getattr(socket, "SO_RCVBUFFORCE", 33)
    try:
        s.setsockopt(socket.SOL_SOCKET, force, size)
    except OSError:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        except OSError:
            pass


def recv_icmp6(s: socket.socket, missing: int | None = -1
               ) -> tuple[bytes, IPv6Address, int | None]:
    """One datagram: (octets, source address without its zone, IPv6 hop
    limit; ``missing`` when the kernel did not report it: the socket must
    have IPV6_RECVHOPLIMIT set). Raises :class:`BlockingIOError` on a
    non-blocking socket when none is waiting."""
    data, anc, _flags, addr = s.recvmsg(65535, socket.CMSG_SPACE(4))
    hop = missing
    for level, kind, cdata in anc:
        if level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT and len(cdata) >= 4:
            hop = struct.unpack("i", cdata[:4])[0]
    return data, IPv6Address(addr[0].split("%")[0]), hop
