"""Kernel sockets of the host agent: DHCPv6 client (UDP 546, bound to the
interface) and raw ICMPv6 for RS out / RA in (with the received hop limit).
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv6Address

from odm_wire.constants import DHCP6_CLIENT_PORT

IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
ICMP6_FILTER = 1
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


def dhcp6_client_socket(iface: str, ifindex: int) -> socket.socket:
    """UDP socket on [::]:546 bound to ``iface`` (non-blocking); multicast goes
    out of ``iface`` (IPV6_MULTICAST_IF)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        s.bind(("::", DHCP6_CLIENT_PORT))
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


def icmp6_socket(iface: str, ifindex: int) -> socket.socket:
    """Raw ICMPv6 socket bound to ``iface`` passing only Router Advertisements
    (ICMP6_FILTER), reporting each packet's hop limit (IPV6_RECVHOPLIMIT), and
    sending with hop limit 255 (RFC 4861 §4.1). The kernel computes and checks
    the ICMPv6 checksum."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
        # struct icmp6_filter: a set bit blocks the type (Linux convention)
        filt = bytearray(b"\xff" * 32)
        filt[134 >> 3] &= ~(1 << (134 & 7)) & 0xFF
        s.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, bytes(filt))
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


def recv_icmp6(s: socket.socket) -> tuple[bytes, IPv6Address, int]:
    """One ICMPv6 message: (octets, source, hop limit; -1 if not reported)."""
    data, anc, _flags, addr = s.recvmsg(65535, socket.CMSG_SPACE(4))
    hop = -1
    for level, kind, cdata in anc:
        if level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT and len(cdata) >= 4:
            hop = struct.unpack("i", cdata[:4])[0]
    return data, IPv6Address(addr[0].split("%")[0]), hop
