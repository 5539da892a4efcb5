"""A fake-clock link that joins sans-I/O cores in memory.

One simulator for every place that runs odm's cores without sockets: the
host/router pair tests, the fuzz engine, the recorded sessions and the
conformance replay of golden captures. Each member of a :class:`Link` is an
object answering :class:`odm_sansio.Core` (a real core, a stand-in that rewrites
a core's answers, or a :class:`Sink` that plays a scripted peer) with its own
link-local address.

Delivery (RFC 4291 §2.7, RFC 4861 §6.2.6, RFC 8415 §7.1): a datagram to a
multicast destination reaches every other member attached to the link; one to a
unicast destination reaches the member holding that address. A member that is
not attached (a router the host has moved away from) keeps running its timers,
and what it sends is consumed and dropped. ``up = False`` drops everything
(carrier down). What cannot be delivered is kept in :attr:`Link.unrouted`.

The clock is the link's: :meth:`Link.run_until` advances it to the earliest
member timer, fires every timer that is due, delivers what that produced, and
repeats until the next timer lies past the end. Within one :meth:`Link.pump`
members are drained in the order they were added, and a round repeats while
anything moved (bounded by ``rounds``).

Hooks, for what callers need to see or change:

- ``on_send(member, out)``: every datagram a member sends (captures, recorders);
- ``mutate(payload) -> payload``: applied to each datagram in flight (fault
  injection);
- ``Member.on_event(event) -> bool``: called for each of a member's events,
  true if it gave the core work (:meth:`Link.dad_done`: the kernel's duplicate
  address detection done); a member without it keeps its events for the
  caller to drain;
- :class:`Tamper`: a core whose outgoing datagrams pass through a function
  (rewritten or dropped) before the link sees them.

This module imports only the standard library and :mod:`odm_sansio`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import Any

from odm_sansio.contract import Outgoing

__all__ = ["Link", "Member", "Received", "Sink", "Tamper"]


@dataclass
class Member:
    """One core on the link: ``name``, the ``core``, its link-local
    ``address``; ``attached`` false: its sends are dropped and nothing reaches
    it; ``on_event``: see the module docstring."""

    name: str
    core: Any
    address: IPv6Address
    attached: bool = True
    on_event: Callable[[Any], bool] | None = None


@dataclass(frozen=True)
class Received:
    """A datagram a :class:`Sink` received: ``payload``, ``kind``, ``src`` and
    the link's clock when it arrived (``at``)."""

    payload: bytes
    kind: str
    src: IPv6Address
    at: float


@dataclass
class Sink:
    """A scripted peer: keeps what it receives in ``inbox`` and, if
    ``answer(payload, kind, src)`` is given, sends back what it returns
    (bytes: one datagram of the same kind to the sender; None: nothing). It
    answers the :class:`odm_sansio.Core` calls, with no timer and no events."""

    answer: Callable[[bytes, str, IPv6Address], bytes | None] | None = None
    inbox: list[Received] = field(default_factory=list)
    _out: list[Outgoing] = field(default_factory=list)

    def handle_datagram(self, data: bytes, src: IPv6Address, now: float, *,
                        kind: str = "dhcp6", **meta: Any) -> None:
        self.inbox.append(Received(data, kind, src, now))
        if self.answer is not None:
            ans = self.answer(data, kind, src)
            if ans is not None:
                self._out.append(Outgoing(ans, src, kind,  # type: ignore[arg-type]
                                          547 if kind == "dhcp6" else None))

    def handle_timer(self, now: float) -> None:
        return None

    def get_timer(self) -> float | None:
        return None

    def datagrams_to_send(self) -> list[Outgoing]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Any:
        return None

    def take(self, accept: Callable[[Received], bool] = lambda r: True) -> Received | None:
        """Remove and return the first received datagram ``accept`` takes;
        those before it that it refused are dropped."""
        while self.inbox:
            r = self.inbox.pop(0)
            if accept(r):
                return r
        return None


class Tamper:
    """``core`` with every outgoing datagram passed through ``fn(out)``: an
    :class:`Outgoing` (the same or rewritten) is sent, None dropped. All other
    attributes are the core's."""

    def __init__(self, core: Any, fn: Callable[[Outgoing], Outgoing | None]) -> None:
        self.core, self.fn = core, fn

    def __getattr__(self, name: str) -> Any:
        return getattr(self.core, name)

    def datagrams_to_send(self) -> list[Outgoing]:
        return [o for o in map(self.fn, self.core.datagrams_to_send()) if o is not None]


class Link:
    """Members joined on one link with one fake clock (module docstring).
    ``now``: the clock's start, seconds; ``rounds``: the most delivery rounds
    one :meth:`pump` runs; ``hop_limit``: the Hop Limit every datagram arrives
    with (255: sent on the link itself, RFC 4861 §6.1)."""

    def __init__(self, now: float = 0.0, *, rounds: int = 50, hop_limit: int = 255,
                 on_send: Callable[[Member, Outgoing], None] | None = None,
                 mutate: Callable[[bytes], bytes] | None = None) -> None:
        self.now = now
        self.rounds = rounds
        self.hop_limit = hop_limit
        self.on_send = on_send
        self.mutate = mutate
        self.up = True
        self.members: dict[str, Member] = {}
        self.unrouted: list[tuple[str, Outgoing]] = []

    # ----------------------------------------------------------- members --
    def add(self, name: str, core: Any, address: IPv6Address | str, *,
            attached: bool = True, on_event: Callable[[Any], bool] | None = None) -> Member:
        """Put ``core`` on the link as ``name`` with ``address``."""
        m = Member(name, core, IPv6Address(address), attached, on_event)
        self.members[name] = m
        return m

    def dad_done(self, core: Any, added: type, keep: list[Any] | None = None, *,
                 nodad_too: bool = False) -> Callable[[Any], bool]:
        """An ``on_event`` hook for a host core, playing the kernel's part:
        each ``added`` event (an address the core put on its interface) is
        reported back at once with ``core.address_ready(address, now)``:
        duplicate address detection done (RFC 4862 §5.4), unless the event
        says ``nodad`` (an address added without DAD; ``nodad_too``: those as
        well). Every event is appended to ``keep`` when given."""

        def hook(ev: Any) -> bool:
            if keep is not None:
                keep.append(ev)
            if not isinstance(ev, added):
                return False
            a: Any = ev
            if not nodad_too and a.nodad:
                return False
            core.address_ready(a.address, self.now)
            return True
        return hook

    def __getitem__(self, name: str) -> Any:
        return self.members[name].core

    def attach(self, name: str, *, only: Iterable[str] = ()) -> None:
        """Attach ``name``; members named in ``only`` other than it are
        detached (a host moving from one router to another)."""
        for other in only:
            self.members[other].attached = other == name
        self.members[name].attached = True

    def detach(self, name: str) -> None:
        self.members[name].attached = False

    # ---------------------------------------------------------- delivery --
    def inject(self, to: str, payload: bytes, src: IPv6Address | str, kind: str = "dhcp6",
               **meta: Any) -> None:
        """Hand ``payload`` to member ``to`` as if it came from ``src``."""
        meta.setdefault("hop_limit", self.hop_limit)
        self.members[to].core.handle_datagram(payload, IPv6Address(src), self.now, kind=kind,
                                              **meta)

    def _receivers(self, sender: Member, out: Outgoing) -> list[Member]:
        others = [m for m in self.members.values() if m is not sender and m.attached]
        if out.dst.is_multicast:
            return others
        return [m for m in others if m.address == out.dst]

    def _deliver(self, sender: Member) -> bool:
        moved = False
        for out in sender.core.datagrams_to_send():
            moved = True
            if self.on_send is not None:
                self.on_send(sender, out)
            if not sender.attached:
                continue
            to = self._receivers(sender, out)
            if not to:
                self.unrouted.append((sender.name, out))
                continue
            data = self.mutate(out.payload) if self.mutate is not None else out.payload
            if not self.up:
                continue
            for m in to:
                m.core.handle_datagram(data, sender.address, self.now, kind=out.kind,
                                       hop_limit=self.hop_limit)
        return moved

    def _events(self, m: Member) -> bool:
        if m.on_event is None:
            return False
        moved = False
        while (ev := m.core.next_event()) is not None:
            moved = m.on_event(ev) or moved
        return moved

    def pump(self) -> None:
        """Deliver until no member has anything left to send (at most
        ``rounds`` rounds)."""
        for _ in range(self.rounds):
            moved = False
            for m in list(self.members.values()):
                moved = self._deliver(m) or moved
            for m in list(self.members.values()):
                moved = self._events(m) or moved
            if not moved:
                return

    # ------------------------------------------------------------- clock --
    def next_timer(self) -> float | None:
        """The earliest timer of any member, None if none is set."""
        ts = [t for t in (m.core.get_timer() for m in self.members.values()) if t is not None]
        return min(ts) if ts else None

    def fire(self) -> None:
        """Run every member's timer that is due at ``now``."""
        for m in list(self.members.values()):
            t = m.core.get_timer()
            if t is not None and t <= self.now:
                m.core.handle_timer(self.now)

    def step(self, end: float) -> bool:
        """Advance to the next timer if it is at or before ``end``, fire what
        is due and deliver; False (clock unchanged) if there is none."""
        t = self.next_timer()
        if t is None or t > end:
            return False
        self.now = max(self.now, t)
        self.fire()
        self.pump()
        return True

    def run_until(self, end: float) -> None:
        """Let the clock run to ``end``: timers fire in order, what they send
        is delivered."""
        while self.step(end):
            pass
        self.now = max(self.now, end)
        self.pump()

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def wait_for(self, found: Callable[[], Any], end: float) -> Any:
        """Run timers until ``found()`` returns something true (returned) or
        the next timer lies past ``end`` (None; the clock stays at the last
        timer that fired)."""
        self.pump()
        while True:
            got = found()
            if got:
                return got
            if not self.step(end):
                return None
