"""Kernel-socket peers of the conformance replay (:mod:`odm.pcaptools.conformance`).

* :class:`LiveRouterPeer` plays the *client* side to a live router: UDP port
  546 and raw ICMPv6 (RA in, RS out, hop limit 255) on one interface of the
  namespace it is opened in (the host's ``mh0`` in the lab). Nothing else may
  hold UDP 546 there (no host agent).
* :class:`LiveHostPeer` plays the *server* side to a live host: per router
  namespace, UDP port 547 joined to ff02::1:2 and ff05::1:3, the groups of a
  server (RFC 8415 §7.1), and raw ICMPv6
  to send RAs, on the router's access interface. No router agent may run in
  those namespaces. Sockets are opened inside each namespace (``setns(2)`` of
  the calling thread, then back), so one process serves several routers.

Actions (:class:`~odm.pcaptools.conformance.Action`) are delegated to
callables: ``mover(router)`` (the lab's move), ``app`` (an object with
``setsc(owner, type, on_net)`` and ``close(owner)``, e.g.
:class:`odm.pcaptools.labrun.SetscApp`).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from ipaddress import IPv6Address

from odm.pcaptools.conformance import Action, ConformanceError
from odm_wire.constants import (
    ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
    ALL_DHCP_SERVERS,
    DHCP6_CLIENT_PORT,
    DHCP6_SERVER_PORT,
)

__all__ = ["ApiApp", "LiveHostPeer", "LiveRouterPeer", "in_netns", "run_against"]

ALL_DHCP = IPv6Address(ALL_DHCP_RELAY_AGENTS_AND_SERVERS)
_SERVER_GROUPS = (ALL_DHCP, IPv6Address(ALL_DHCP_SERVERS))
ALL_ROUTERS = IPv6Address("ff02::2")
_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
_ICMP6_FILTER = 1


@contextlib.contextmanager
def in_netns(name: str | None):
    """Run the body with the calling thread in network namespace ``name``
    (``/run/netns/NAME``), then return to the namespace it was in. Sockets
    made inside stay in ``name``. ``None``: stay where we are. Raises
    :class:`ConformanceError` if the namespace cannot be entered."""
    if name is None:
        yield
        return
    from pyroute2 import netns

    try:
        back = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        there = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConformanceError(f"namespace {name}: {exc.strerror or exc}") from None
    try:
        netns.setns(there, flags=0)
        try:
            yield
        finally:
            netns.setns(back, flags=0)
    finally:
        os.close(back)
        os.close(there)


def _ifindex(iface: str) -> int:
    try:
        return socket.if_nametoindex(iface)
    except OSError:
        raise ConformanceError(f"no interface {iface!r} here") from None


def _drain(sock: socket.socket) -> None:
    while select.select([sock], [], [], 0)[0]:
        sock.recvfrom(65535)


def _icmp6_socket(iface: str, index: int, types: tuple[int, ...]) -> socket.socket:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, iface.encode())
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    blocked = [0xFFFFFFFF] * 8
    for t in types:
        blocked[t >> 5] &= ~(1 << (t & 31))
    s.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *blocked))
    return s


class LiveRouterPeer:
    """The client side on interface ``iface`` (current namespace, or
    ``netns``); ``mover(router)`` performs a ``move`` action. Waits up to
    ``dad_wait`` seconds for the interface's link-local address to leave DAD
    (RFC 4862 §5.4): nothing can be sent from a tentative one."""

    def __init__(self, iface: str, *, netns: str | None = None,
                 mover: Callable[[str], None] | None = None, dad_wait: float = 5.0) -> None:
        from odm.probetools.link import ProbeError, interface_info

        self.iface, self.mover = iface, mover
        with in_netns(netns):
            try:
                info = interface_info(iface, wait=dad_wait)
            except ProbeError as exc:
                raise ConformanceError(str(exc)) from None
            if info.link_local is None:
                raise ConformanceError(f"{iface} has no usable link-local address")
            self.index = info.index
            self.udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            try:
                self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self.udp.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, iface.encode())
                self.udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.index)
                self.udp.bind(("::", DHCP6_CLIENT_PORT, 0, 0))
                self.icmp = _icmp6_socket(iface, self.index, (134,))
            except OSError as exc:
                self.udp.close()
                raise ConformanceError(f"cannot open the client sockets on {iface}: "
                                       f"{exc.strerror or exc}") from None

    def ask(self, kind: str, payload: bytes, accept, timeout: float) -> bytes | None:
        sock = self.udp if kind == "dhcp6" else self.icmp
        _drain(sock)  # an RA sent before the RS (or before a move) is no answer
        if kind == "dhcp6":
            sock.sendto(payload, (str(ALL_DHCP), DHCP6_SERVER_PORT, 0, self.index))
        else:
            sock.sendto(payload, (str(ALL_ROUTERS), 0, 0, self.index))
        deadline = time.monotonic() + timeout
        while timeout > 0:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                return None
            data, _ = sock.recvfrom(65535)
            if accept(data):
                return data
        return None

    def act(self, action: Action) -> str | None:
        if action.do == "move":
            if self.mover is None:
                raise ConformanceError("a move needs the lab (odm pcap replay --lab PREFIX)")
            self.mover(action.args["router"])
            return f"moved to {action.args['router']}"
        if action.do == "wait":
            time.sleep(float(action.args.get("seconds", 0)))
            return None
        return "(host action: nothing to do against a router)"

    def close(self) -> None:
        self.udp.close()
        self.icmp.close()


class _ServerSide:
    def __init__(self, netns: str | None, iface: str) -> None:
        with in_netns(netns):
            self.index = _ifindex(iface)
            self.udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            try:
                u = self.udp
                u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                u.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, iface.encode())
                u.bind(("::", DHCP6_SERVER_PORT, 0, 0))
                for group in _SERVER_GROUPS:
                    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                                 group.packed + struct.pack("@I", self.index))
                self.icmp = _icmp6_socket(iface, self.index, ())
            except OSError as exc:
                self.udp.close()
                raise ConformanceError(f"cannot open the server sockets on {iface} in "
                                       f"{netns}: {exc.strerror or exc}") from None

    def close(self) -> None:
        self.udp.close()
        self.icmp.close()


class LiveHostPeer:
    """The server side: ``routers`` maps a router name to ``(netns, iface)``;
    the host starts on ``attached`` (default the first); ``mover(router)``
    and ``app`` perform the actions (module docstring)."""

    def __init__(self, routers: dict[str, tuple[str | None, str]], attached: str | None = None,
                 *, mover: Callable[[str], None] | None = None, app=None) -> None:
        self.sides: dict[str, _ServerSide] = {}
        try:
            for name, (ns, iface) in routers.items():
                self.sides[name] = _ServerSide(ns, iface)
        except ConformanceError:
            self.close()
            raise
        self.attached = attached or next(iter(routers))
        self.mover, self.app = mover, app

    @property
    def side(self) -> _ServerSide:
        return self.sides[self.attached]

    def expect(self, accept, timeout: float):
        deadline = time.monotonic() + timeout
        sock = self.side.udp
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                return None
            data, addr = sock.recvfrom(65535)
            if accept(data):
                return data, IPv6Address(addr[0].split("%")[0])

    def send(self, kind: str, payload: bytes, dst) -> None:
        s = self.side
        if kind == "dhcp6":
            s.udp.sendto(payload, (str(dst), DHCP6_CLIENT_PORT, 0, s.index))
        else:
            s.icmp.sendto(payload, (str(dst), 0, 0, s.index))

    def act(self, action: Action) -> str | None:
        a = action.args
        if action.do == "move":
            router = a.get("router")
            if router not in self.sides:
                raise ConformanceError(f"no server side for router {router!r}")
            if self.mover is None:
                raise ConformanceError("a move needs the lab (odm pcap replay --lab PREFIX)")
            self.mover(router)
            self.attached = router
            return f"moved to {router}"
        if action.do == "wait":
            time.sleep(float(a.get("seconds", 0)))
            return None
        if self.app is None:
            raise ConformanceError("setsc()/close need the host agent's API socket "
                                   "(odm pcap replay --host-socket PATH)")
        if action.do == "setsc":
            self.app.setsc(int(a.get("owner", 1)), a["type"], bool(a.get("on_net", False)))
        elif action.do == "close":
            self.app.close(int(a.get("owner", 1)))
        else:
            raise ConformanceError(f"unknown action {action.do!r}")
        return None

    def close(self) -> None:
        for s in self.sides.values():
            s.close()


class ApiApp:
    """setsc() and close through the host agent's API socket from this
    process (``odm pcap replay --against host --host-socket PATH``): each
    owner gets a UDP socket here; the calls run in threads (a setsc() waits
    for the answers this replay sends). ``results`` collects their outcomes."""

    def __init__(self, socket_path: str) -> None:
        self.path = socket_path
        self.socks: dict[int, socket.socket] = {}
        self.results: list[tuple[int, str]] = []

    def setsc(self, owner: int, t: str, on_net: bool = False) -> None:
        import threading

        from host import api
        from odm_wire.constants import IPV6_REQUIRE_SRC_ON_NET

        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        if on_net:
            api.set_addr_preferences(s, IPV6_REQUIRE_SRC_ON_NET)
        self.socks[owner] = s

        def ask() -> None:
            try:
                self.results.append((owner, str(api.setsc(s, t, path=self.path))))
            except api.SetscError as exc:
                self.results.append((owner, exc.name))
        threading.Thread(target=ask, daemon=True).start()

    def close(self, owner: int) -> None:
        from host import api

        s = self.socks.pop(owner, None)
        if s is not None:
            api.release(s)
            s.close()

    def stop(self) -> None:
        for owner in list(self.socks):
            self.close(owner)


def run_against(packets, side: str, iface: str, *, netns: str | None = None,
                actions=(), routers: dict[str, tuple[str | None, str]] | None = None,
                mover: Callable[[str], None] | None = None, host_socket: str | None = None,
                timeout: float = 3.0, options=None, pen: int | None = None):
    """``odm pcap replay --against``: a conformance replay of dissected
    ``packets`` with kernel sockets. ``side="router"``: the client side from
    ``iface`` (in ``netns``) to the router on that link. ``side="host"``:
    the server side from ``iface`` (in ``netns``) — or from each router of
    ``routers`` (name → (netns, iface)) — to the host agent on that link,
    ``host_socket`` performing its setsc()/close actions. Returns a
    :class:`~odm.pcaptools.conformance.Report` (``error`` set when the
    sockets cannot be opened)."""
    from odm.pcaptools.conformance import Report, conform_host, conform_router
    from odm_wire.constants import ODM_PEN

    pen = ODM_PEN if pen is None else pen
    try:
        if side == "router":
            peer = LiveRouterPeer(iface, netns=netns, mover=mover)
        else:
            app = ApiApp(host_socket) if host_socket else None
            peer = LiveHostPeer(routers or {"router": (netns, iface)}, mover=mover, app=app)
    except ConformanceError as exc:
        return Report(side, error=str(exc))
    try:
        if side == "router":
            return conform_router(packets, peer, actions=list(actions), timeout=timeout,
                                  pen=pen, **({"options": options} if options else {}))
        return conform_host(packets, peer, actions=list(actions), timeout=timeout,
                            options=options, pen=pen)
    except OSError as exc:
        return Report(side, error=f"cannot send on {iface}: {exc.strerror or exc}")
    finally:
        peer.close()
        if side == "host" and peer.app is not None:
            peer.app.stop()
