"""Kernel sockets of the host agent: DHCPv6 client (UDP 546, bound to the
interface) and raw ICMPv6 for RS out / RA in (with the received hop limit),
made by :mod:`odm.netsock`, which the router agent's sockets share.
"""

from __future__ import annotations

import socket

from odm.netsock import raw_icmp6_socket, recv_icmp6, udp6_socket
from odm_wire.constants import DHCP6_CLIENT_PORT, Icmp6Type

__all__ = ["dhcp6_client_socket", "icmp6_socket", "recv_icmp6"]


def dhcp6_client_socket(iface: str, ifindex: int) -> socket.socket:
    """UDP socket on [::]:546 bound to ``iface`` (non-blocking); multicast goes
    out of ``iface`` (IPV6_MULTICAST_IF)."""
    return udp6_socket(iface, ifindex, DHCP6_CLIENT_PORT)


def icmp6_socket(iface: str, ifindex: int) -> socket.socket:
    """Raw ICMPv6 socket bound to ``iface`` passing only Router Advertisements
    (ICMP6_FILTER), reporting each packet's hop limit (IPV6_RECVHOPLIMIT), and
    sending with hop limit 255 (RFC 4861 §4.1). The kernel computes and checks
    the ICMPv6 checksum."""
    return raw_icmp6_socket(iface, ifindex, (Icmp6Type.ROUTER_ADVERTISEMENT,))
