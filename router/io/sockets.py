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
its own RAs. They are made by :mod:`odm.netsock`, which the host agent's
sockets share.
"""

from __future__ import annotations

import socket

from odm.netsock import join_group, raw_icmp6_socket, recv_icmp6, udp6_socket
from odm_wire.constants import (
    ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
    ALL_DHCP_SERVERS,
    ALL_ROUTERS,
    DHCP6_SERVER_PORT,
    Icmp6Type,
)

__all__ = [
    "DHCP6_SERVER_GROUPS",
    "RCVBUF",
    "dhcp6_server_socket",
    "icmp6_router_socket",
    "join_group",
    "recv_icmp6",
]

#: Receive buffer of the DHCPv6 socket (octets of kernel memory, about 1 KiB
#: per queued datagram): ~500 datagrams, 0.1 s of work at full load. Larger
#: only queues requests whose clients have given up (RFC 8415 §15: a Solicit
#: is retransmitted after ~1 s), so answering them wastes the time of fresh
#: ones; smaller drops bursts. SO_RCVBUFFORCE when privileged, else capped at
#: net.core.rmem_max.
RCVBUF = 512 * 1024
#: The multicast groups every DHCPv6 server socket joins (RFC 8415 §7.1).
DHCP6_SERVER_GROUPS = (ALL_DHCP_RELAY_AGENTS_AND_SERVERS, ALL_DHCP_SERVERS)


def dhcp6_server_socket(iface: str, ifindex: int, *, port: int = DHCP6_SERVER_PORT
                        ) -> socket.socket:
    """UDP socket on ``[::]:port`` (547) bound to ``iface`` (index ``ifindex``),
    member of ff02::1:2 and ff05::1:3 there (:data:`DHCP6_SERVER_GROUPS`);
    non-blocking. Raises :class:`OSError` (for
    example EADDRINUSE when another DHCPv6 server holds the port on the same
    interface, EPERM without CAP_NET_RAW/NET_BIND_SERVICE)."""
    return udp6_socket(iface, ifindex, port, v6only=True, rcvbuf=RCVBUF,
                       groups=DHCP6_SERVER_GROUPS)


def icmp6_router_socket(iface: str, ifindex: int) -> socket.socket:
    """Raw ICMPv6 socket on ``iface`` for RS in / RA out (module docstring).
    Raises :class:`OSError` (EPERM without CAP_NET_RAW)."""
    return raw_icmp6_socket(iface, ifindex, (Icmp6Type.ROUTER_SOLICITATION,
                                             Icmp6Type.ROUTER_ADVERTISEMENT),
                            groups=(ALL_ROUTERS,))
