"""A lease is durable before its Reply leaves: the server's outbox.

RFC 8415 §18.3 has the server record a binding before it answers (Kea's
memfile with ``persist`` does the same). Every datagram the DHCPv6 server
makes and every event it reports waits in an :class:`Outbox` with the store
writes that produced it, and leaves only after those writes are committed:

* a local store (SQLite): :meth:`Outbox.hand_out` commits the store's open
  batch, then hands out the datagrams (``datagrams_to_send``). A commit that
  fails raises :class:`~router.errors.StoreError` with nothing handed out:
  the clients retransmit (RFC 8415 §15).
* a deferred store (a database one round trip away,
  :class:`router.io.commits.DeferredStore`): :meth:`Outbox.take_held` hands
  the datagrams and the events over together as one :class:`Held`; the
  adapter commits the writes of the same batch off its loop and sends them
  only when that commit is in (:mod:`router.io.commits`).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from ipaddress import IPv6Address

from odm_sansio import Outgoing
from odm_wire.dhcp6 import Advertise, RelayMessage, encode_dhcp6
from router.core.events import Event
from router.core.store import BindingStore
from router.errors import StoreError

__all__ = ["Held", "Outbox"]


@dataclass(slots=True)
class Held:
    """What a core queued since its last hand-over, waiting for the commit of
    the same writes (deferred store): datagrams, events, how many of the
    datagrams are Replies (acknowledgements; an Advertise is none)."""

    out: list[Outgoing]
    events: list[Event]
    acks: int


class Outbox:
    """Datagrams and events of one server, held until the store writes behind
    them are durable (module docstring)."""

    def __init__(self, store: BindingStore, stats: Counter) -> None:
        self.store = store
        self.stats = stats
        self.out: list[Outgoing] = []
        self.events: deque[Event] = deque()
        self.acks = 0

    def send(self, msg, dst: IPv6Address, port: int) -> None:
        """Queue ``msg`` (an Advertise, a Reply or a Relay-Repl) for ``dst``."""
        self.out.append(Outgoing(encode_dhcp6(msg), dst, "dhcp6", port))
        st = self.stats
        st["pkt6-sent"] += 1
        inner = msg
        while isinstance(inner, RelayMessage):
            inner = inner.relayed
        if type(inner) is Advertise:
            st["pkt6-advertise-sent"] += 1
        else:
            st["pkt6-reply-sent"] += 1
            self.acks += 1

    def drop(self) -> int:
        """Forget the queued datagrams and events (their writes were rolled
        back); returns how many datagrams went."""
        n = len(self.out)
        self.out = []
        self.events.clear()
        self.acks = 0
        return n

    def hand_out(self) -> list[Outgoing]:
        """Commit the store's open batch, then hand out the datagrams queued
        since the last call. If the commit fails, the store is rolled back,
        the datagrams and events are dropped and StoreError is raised."""
        out = self.out
        store = self.store
        if not out and not store.pending:
            return []
        self.out = []
        self.acks = 0
        if store.pending:
            try:
                store.commit()
            except StoreError:
                store.rollback()
                self.events.clear()
                raise
        return out

    def take_held(self) -> Held | None:
        """For a deferred store: everything queued since the last call, held
        until the adapter has committed the writes of the same batch.
        ``None`` when nothing is queued."""
        if not self.out and not self.events:
            return None
        held = Held(self.out, list(self.events), self.acks)
        self.out = []
        self.events.clear()
        self.acks = 0
        return held

    def next_event(self) -> Event | None:
        return self.events.popleft() if self.events else None

    def take_events(self) -> list[Event]:
        if not self.events:
            return []
        out = list(self.events)
        self.events.clear()
        return out
