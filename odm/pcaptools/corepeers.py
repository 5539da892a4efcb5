"""In-memory peers of the conformance replay (:mod:`odm.pcaptools.conformance`):
odm's sans-I/O cores on a fake-clock link (:mod:`odm_sansio.linksim`).

:class:`CoreRouterPeer` is the router side, :class:`CoreHostPeer` the host
side; the replay plays the other side as a :class:`~odm_sansio.linksim.Sink`
member of the same link. :mod:`odm.pcaptools.livepeers` has the kernel-socket
peers.
"""

from __future__ import annotations

from ipaddress import IPv6Address

from odm.pcaptools.conformance import Action, ConformanceError
from odm_sansio import linksim

__all__ = ["CoreHostPeer", "CoreRouterPeer"]

_CLIENT_LL = IPv6Address("fe80::ff:fe00:2")


class CoreRouterPeer:
    """Routers as sans-I/O cores (odm's core contract) on a fake clock.

    ``routers``: ``{name: core}``; the client is attached to ``attached``
    (default: the first) and a ``move`` action re-attaches it; the routers it
    is not attached to keep running their timers, unheard. ``src``: the
    client's link-local address; ``router_ll``: each router's (default:
    ``fe80::a:<n>``). ``now``: the clock's start (seconds)."""

    def __init__(self, routers: dict, attached: str | None = None, *, now: float = 1000.0,
                 src: IPv6Address = _CLIENT_LL, router_ll: dict | None = None) -> None:
        if not hasattr(routers, "items"):
            routers = {"router": routers}
        self.routers = dict(routers)
        self.attached = attached or next(iter(self.routers))
        self.src = src
        self.router_ll = dict(router_ll or {})
        self.link = linksim.Link(now)
        self.client = linksim.Sink()
        self.link.add("client", self.client, src)
        self._sync()

    def _sync(self) -> None:
        """Make the link's members ``routers``, attached as ``attached`` says
        (both may be changed by the caller)."""
        members = self.link.members
        for name in [n for n in members if n != "client" and n not in self.routers]:
            del members[name]
        for i, (name, core) in enumerate(self.routers.items()):
            if name not in members or members[name].core is not core:
                ll = self.router_ll.get(name, IPv6Address(f"fe80::a:{i + 1}"))
                self.link.add(name, core, ll)
            members[name].attached = name == self.attached

    @property
    def now(self) -> float:
        return self.link.now

    @property
    def core(self):
        return self.routers[self.attached]

    def ask(self, kind: str, payload: bytes, accept, timeout: float):
        self._sync()
        self.link.pump()
        self.client.inbox.clear()  # what was sent before is not an answer
        self.link.inject(self.attached, payload, self.src, kind)

        def answer():
            return self.client.take(lambda r: r.kind == kind and accept(r.payload))

        if timeout <= 0:
            self.link.pump()
            got = answer()
        else:
            got = self.link.wait_for(answer, self.link.now + timeout)
        return None if got is None else got.payload

    def act(self, action: Action) -> str | None:
        if action.do == "move":
            router = action.args.get("router")
            if router not in self.routers:
                raise ConformanceError(f"no router {router!r} here")
            self.attached = router
            self._sync()
            return f"client now on {router}"
        if action.do == "wait":
            self._sync()
            self.link.run_for(float(action.args.get("seconds", 0)))
            return None
        return "(host action: nothing to do against a router)"


class CoreHostPeer:
    """A host as a sans-I/O core (:class:`host.core.host.HostCore`) on a fake
    clock. The kernel's part is played: every address the core adds is
    reported ready at once (DAD done). ``router_ll``: the source of what is
    sent to it (per router name: ``{"ar1": fe80::1, ...}``); ``host_ll``: the
    host's link-local address."""

    def __init__(self, core, router_ll: dict | IPv6Address, attached: str | None = None,
                 *, now: float = 1000.0, host_ll: IPv6Address = _CLIENT_LL) -> None:
        self.core = core
        self.router_ll = router_ll if isinstance(router_ll, dict) else {"router": router_ll}
        self.attached = attached or next(iter(self.router_ll))
        self.events: list = []
        self._rid = 0
        self.link = linksim.Link(now)
        self.router = linksim.Sink()
        from host.core.events import AddressAdded

        self._host = self.link.add("host", core, host_ll, on_event=self.link.dad_done(
            core, AddressAdded, self.events, nodad_too=True))
        self._router = self.link.add("router", self.router, self.router_ll[self.attached])

    @property
    def now(self) -> float:
        return self.link.now

    @property
    def host_ll(self) -> IPv6Address:
        return self._host.address

    @host_ll.setter
    def host_ll(self, addr: IPv6Address) -> None:
        self._host.address = IPv6Address(addr)

    @property
    def completed(self) -> list:
        """The setsc() requests the host answered so far."""
        from host.core.events import SetscCompleted

        return [e for e in self.events if isinstance(e, SetscCompleted)]

    def start(self) -> None:
        self.core.start(self.now)
        self.link.pump()

    def advance(self, until: float) -> None:
        """Run the host's timers up to ``until``; what it sends is kept."""
        self.link.run_until(until)

    def expect(self, accept, timeout: float):
        def found():
            return self.router.take(lambda r: r.kind == "dhcp6" and accept(r.payload))

        got = self.link.wait_for(found, self.now + timeout)
        return None if got is None else (got.payload, got.src)

    def send(self, kind: str, payload: bytes, dst) -> None:
        self.link.inject("host", payload, self._router.address, kind)
        self.link.pump()

    def act(self, action: Action) -> str | None:
        a = action.args
        if action.do == "setsc":
            self._rid += 1
            self.core.setsc(self._rid, int(a.get("owner", 1)), a["type"], self.now,
                            on_net=bool(a.get("on_net", False)))
        elif action.do == "close":
            self.core.close_owner(int(a.get("owner", 1)), self.now)
        elif action.do == "move":
            if a.get("router") not in self.router_ll:
                raise ConformanceError(f"no router {a.get('router')!r} here")
            self.attached = a["router"]
            self._router.address = IPv6Address(self.router_ll[self.attached])
            self.core.link_up(self.now)
        elif action.do == "wait":
            self.advance(self.now + float(a.get("seconds", 0)))
        else:
            raise ConformanceError(f"unknown action {action.do!r}")
        self.link.pump()
        return None
