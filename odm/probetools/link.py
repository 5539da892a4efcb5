"""Kernel sockets and interface facts for the probes.

* :func:`enter_netns` moves this process into a named network namespace
  (pyroute2.netns.setns, never creating it) — call it before opening sockets.
* :func:`interface_info` reads ifindex, MAC and the usable (non-tentative)
  link-local address over netlink, waiting for DAD to finish.
* :class:`Icmp6Socket` (raw ICMPv6, hop limit 255, RFC 4861 §6.1) and
  :class:`Dhcp6ClientSocket` (UDP 546 → ff02::1:2 port 547, RFC 8415 §7.1)
  return ``(payload, source, hop_limit)`` from :meth:`recv`.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass
from ipaddress import IPv6Address

from odm.netsock import (
    ICMP6_FILTER,
    IPV6_RECVHOPLIMIT,
    SO_BINDTODEVICE,
    icmp6_filter,
    recv_icmp6,
)
from odm_wire.constants import DHCP6_CLIENT_PORT, DHCP6_SERVER_PORT

__all__ = [
    "Dhcp6ClientSocket",
    "Icmp6Socket",
    "InterfaceInfo",
    "ProbeError",
    "enter_netns",
    "interface_info",
]

IFA_F_TENTATIVE = 0x40
IFA_F_DADFAILED = 0x08
ALL_DHCP_RELAY_AGENTS_AND_SERVERS = IPv6Address("ff02::1:2")


class ProbeError(RuntimeError):
    """The probe cannot run: no such namespace or interface, no link-local
    address, a socket that cannot be opened. The message says which."""


def enter_netns(name: str) -> None:
    """Move the calling process into network namespace ``name`` (must exist).
    Raises :class:`ProbeError` otherwise."""
    from pyroute2 import netns

    if name not in netns.listnetns():
        raise ProbeError(f"no network namespace {name!r}")
    try:
        netns.setns(name, flags=0)
    except OSError as exc:
        raise ProbeError(f"cannot enter namespace {name!r}: {exc}") from None


@dataclass(frozen=True)
class InterfaceInfo:
    """``name``, ``index``, ``mac`` (6 octets, or b"" on links without one),
    ``link_local`` (usable fe80:: address, or None)."""

    name: str
    index: int
    mac: bytes
    link_local: IPv6Address | None


def interface_info(name: str, wait: float = 3.0) -> InterfaceInfo:
    """Facts about interface ``name``, waiting up to ``wait`` seconds for its
    link-local address to leave DAD (RFC 4862 §5.4). Raises
    :class:`ProbeError` for an unknown interface or one that is down."""
    from pyroute2 import IPRoute

    deadline = time.monotonic() + wait
    with IPRoute() as ipr:
        links = ipr.link_lookup(ifname=name)
        if not links:
            raise ProbeError(f"no interface {name!r} here")
        index = links[0]
        link = ipr.get_links(index)[0]
        mac_text = link.get_attr("IFLA_ADDRESS") or ""
        mac = bytes(int(x, 16) for x in mac_text.split(":")) if mac_text else b""
        if not link["flags"] & 1:
            raise ProbeError(f"interface {name} is down")
        while True:
            ll = None
            for a in ipr.get_addr(family=socket.AF_INET6, index=index):
                addr = IPv6Address(a.get_attr("IFA_ADDRESS"))
                flags = a.get_attr("IFA_FLAGS") or a["flags"]
                if addr.is_link_local and not flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
                    ll = addr
                    break
            if ll is not None or time.monotonic() >= deadline:
                return InterfaceInfo(name, index, mac, ll)
            time.sleep(0.05)


class _Sock:
    sock: socket.socket

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def recv(self, timeout: float) -> tuple[bytes, IPv6Address, int | None] | None:
        """One datagram within ``timeout`` seconds: (payload, source address,
        IPv6 hop limit or None), or None on timeout."""
        timeout = max(timeout, 0)
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        return recv_icmp6(self.sock, missing=None)


class Icmp6Socket(_Sock):
    """Raw ICMPv6 socket on one interface that sees only ``types`` (ICMP6_FILTER)
    and sends with hop limit 255 (RFC 4861 §6.1). The kernel fills in the
    checksum."""

    def __init__(self, info: InterfaceInfo, types: tuple[int, ...] = (134,)) -> None:
        try:
            s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        except PermissionError:
            raise ProbeError("a raw ICMPv6 socket needs root (CAP_NET_RAW)") from None
        self.sock = s
        self.info = info
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, info.name.encode())
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, info.index)
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        s.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, icmp6_filter(types))

    def send(self, message: bytes, dst: IPv6Address) -> None:
        """Send an ICMPv6 message (checksum left to the kernel)."""
        self.sock.sendto(message, (str(dst), 0, 0, self.info.index))


class Dhcp6ClientSocket(_Sock):
    """UDP socket on port 546 of one interface (RFC 8415 §7.1); sends to
    All_DHCP_Relay_Agents_and_Servers (ff02::1:2) port 547 by default."""

    def __init__(self, info: InterfaceInfo, port: int = DHCP6_CLIENT_PORT) -> None:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock = s
        self.info = info
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, info.name.encode())
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, info.index)
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
            s.bind(("::", port, 0, 0))
        except OSError as exc:
            s.close()
            raise ProbeError(f"cannot open UDP port {port} on {info.name}: "
                             f"{exc.strerror or exc}") from None

    def send(self, payload: bytes, dst: IPv6Address = ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
             port: int = DHCP6_SERVER_PORT) -> None:
        self.sock.sendto(payload, (str(dst), port, 0, self.info.index))


def now() -> float:
    """Monotonic seconds (the probes' clock)."""
    return time.monotonic()

