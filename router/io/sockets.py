"""Kernel sockets of the router agent, one set per access interface.

* :func:`dhcp6_server_socket`: UDP ``[::]:547`` bound to the interface
  (``SO_BINDTODEVICE``, so several interfaces can each have their own socket on
  the same port and every datagram's interface is known), joined on that
  interface to the two groups a server belongs to (RFC 8415 §7.1):
  All_DHCP_Relay_Agents_and_Servers ``ff02::1:2`` (clients on the link) and
  All_DHCP_Servers ``ff05::1:3`` (relays that do not know the servers'
  addresses, ISC ``dhcrelay -6``'s default). Unicast to one of the router's
  addresses (a relay configured with it, RFC 8415 §19) arrives on the same
  socket.
* :func:`icmp6_router_socket`: raw ICMPv6 bound to the interface, passing only
  RS (133) and RA (134) (``ICMP6_FILTER``), reporting each packet's hop limit
  (``IPV6_RECVHOPLIMIT``, RFC 4861 §6.1.1 requires 255), sending with hop limit
  255 (§4.2) and joined to All-Routers ``ff02::2`` so RSs are received even
  when forwarding is off. The kernel fills in the ICMPv6 checksum.

Both are non-blocking; multicast loopback is off, so the agent does not hear
its own RAs.
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv6Address

from odm_wire.constants import (
    ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
    ALL_DHCP_SERVERS,
    ALL_ROUTERS,
    DHCP6_SERVER_PORT,
)

__all__ = [
    "DHCP6_SERVER_GROUPS",
    "RCVBUF",
    "dhcp6_server_socket",
    "icmp6_router_socket",
    "join_group",
    "recv_icmp6",
]

IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
ICMP6_FILTER = 1
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
ND_ROUTER_SOLICIT = 133
ND_ROUTER_ADVERT = 134
#: Receive buffer of the DHCPv6 socket (octets of kernel memory, about 1 KiB
#: per queued datagram): ~500 datagrams, 0.1 s of work at full load. Larger
#: only queues requests whose clients have given up (RFC 8415 §15: a Solicit
#: is retransmitted after ~1 s), so answering them wastes the time of fresh
#: ones; smaller drops bursts. SO_RCVBUFFORCE when privileged, else capped at
#: net.core.rmem_max.
RCVBUF = 512 * 1024
_EADDRINUSE = 98
#: The multicast groups every DHCPv6 server socket joins (RFC 8415 §7.1).
DHCP6_SERVER_GROUPS = (ALL_DHCP_RELAY_AGENTS_AND_SERVERS, ALL_DHCP_SERVERS)


def join_group(s: socket.socket, group: str, ifindex: int) -> None:
    """Join IPv6 multicast ``group`` on interface ``ifindex`` (already joined
    is fine)."""
    mreq = IPv6Address(group).packed + struct.pack("@I", ifindex)
    try:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    except OSError as exc:
        if exc.errno != _EADDRINUSE:
            raise


def _big_rcvbuf(s: socket.socket, size: int) -> None:
    force = getattr(socket, "SO_RCVBUFFORCE", 33)
    try:
        s.setsockopt(socket.SOL_SOCKET, force, size)
    except OSError:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        except OSError:
            pass


def dhcp6_server_socket(iface: str, ifindex: int, *, port: int = DHCP6_SERVER_PORT
                        ) -> socket.socket:
    """UDP socket on ``[::]:port`` (547) bound to ``iface`` (index ``ifindex``),
    member of ff02::1:2 and ff05::1:3 there (:data:`DHCP6_SERVER_GROUPS`);
    non-blocking. Raises :class:`OSError` (for
    example EADDRINUSE when another DHCPv6 server holds the port on the same
    interface, EPERM without CAP_NET_RAW/NET_BIND_SERVICE)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        _big_rcvbuf(s, RCVBUF)
        s.bind(("::", port))
        for group in DHCP6_SERVER_GROUPS:
            join_group(s, group, ifindex)
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


def icmp6_router_socket(iface: str, ifindex: int) -> socket.socket:
    """Raw ICMPv6 socket on ``iface`` for RS in / RA out (module docstring).
    Raises :class:`OSError` (EPERM without CAP_NET_RAW)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
        # struct icmp6_filter: a set bit blocks the type (Linux convention)
        filt = bytearray(b"\xff" * 32)
        for t in (ND_ROUTER_SOLICIT, ND_ROUTER_ADVERT):
            filt[t >> 3] &= ~(1 << (t & 7)) & 0xFF
        s.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, bytes(filt))
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        join_group(s, ALL_ROUTERS, ifindex)
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


def recv_icmp6(s: socket.socket) -> tuple[bytes, IPv6Address, int]:
    """One ICMPv6 message: (octets, source address, IPv6 hop limit; -1 if the
    kernel did not report it). Raises :class:`BlockingIOError` when none is
    waiting."""
    data, anc, _flags, addr = s.recvmsg(65535, socket.CMSG_SPACE(4))
    hop = -1
    for level, kind, cdata in anc:
        if level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT and len(cdata) >= 4:
            hop = struct.unpack("i", cdata[:4])[0]
    return data, IPv6Address(addr[0].split("%")[0]), hop
