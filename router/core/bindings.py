"""Bindings: which client holds which delegated prefix until when.

A :class:`Binding` is one delegated prefix of one IA_PD (RFC 8415 §6.3: the
server's record of an IA and its leases). Times are **wall-clock** seconds
(POSIX epoch) so that they survive a restart; the core converts its monotonic
``now`` with a fixed offset. ``float('inf')`` means an infinite lifetime.

:class:`BindingTable` is the in-memory index the server core works on: by
prefix, by (DUID, IAID), per-DUID counts, and an expiry heap for reclamation.
The lease store (:mod:`router.core.store`) is the durable copy.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv6Address, IPv6Network

from odm_wire.constants import INFINITY, MobilityType

__all__ = ["Binding", "BindingState", "BindingTable", "remaining"]


class BindingState(str, Enum):  # noqa: UP042 - its str() is kept as stored and logged
    """``active``: delegated and extendable. ``declined``: quarantined after a
    Decline until ``valid_until`` (Kea's decline-probation-period), held by
    nobody. ``grace``: a GRACEFUL_REPLACEMENT prefix of another router, kept
    here with preferred 0 until its grace ends (:mod:`router.core.moves`)."""

    ACTIVE = "active"
    DECLINED = "declined"
    GRACE = "grace"


@dataclass(slots=True, eq=False)
class Binding:
    """One delegated prefix. ``duid``: client DUID (wire octets); ``iaid``:
    the IA_PD's IAID; ``mobility_type``: the type granted, ``None`` for a
    legacy client (the Reply then carries no vendor option); ``pool``: name of
    the pd_pool it came from (``None`` for reservations and prefixes of other
    routers); ``interface``: the access interface; ``client_ll``: the client's
    link-local address (next hop of the route; for relayed clients the relay's
    peer-address); ``anchor``: router id of the router that delegated it;
    ``served_by``: router id of the router the host is attached to now;
    ``preferred_lifetime``/``valid_lifetime``: seconds granted each time;
    ``preferred_until``/``valid_until``/``cltt`` (client last transaction
    time): wall-clock seconds."""

    prefix: IPv6Network
    duid: bytes
    iaid: int
    mobility_type: MobilityType | None
    pool: str | None
    interface: str
    client_ll: IPv6Address | None
    anchor: str
    served_by: str
    state: BindingState
    preferred_lifetime: int
    valid_lifetime: int
    preferred_until: float
    valid_until: float
    cltt: float

    def key(self) -> tuple[bytes, int]:
        return (self.duid, self.iaid)

    def extend(self, now: float) -> None:
        """Restart both lifetimes at ``now`` (wall clock)."""
        self.cltt = now
        self.preferred_until = _until(now, self.preferred_lifetime)
        self.valid_until = _until(now, self.valid_lifetime)

    def lifetimes_at(self, now: float) -> tuple[int, int]:
        """(preferred, valid) seconds left at ``now`` (wall clock), for an
        IAPREFIX: never more than what remains (RFC 8415 §18.2.10.1)."""
        return remaining(self.preferred_until, now), remaining(self.valid_until, now)


_INF = float("inf")


def _until(now: float, lifetime: int) -> float:
    return _INF if lifetime == INFINITY else now + lifetime


def remaining(until: float, now: float) -> int:
    """Whole seconds from ``now`` to ``until`` (0 when past, 0xffffffff for
    infinity), rounded down so an advertised lifetime never overstates."""
    if until == _INF:
        return INFINITY
    left = until - now
    if left <= 0:
        return 0
    return min(int(left), INFINITY - 1)


def _bump(counts: dict, key, delta: int) -> None:
    """Add ``delta`` to ``counts[key]``; a count that reaches 0 goes."""
    n = counts.get(key, 0) + delta
    if n > 0:
        counts[key] = n
    else:
        counts.pop(key, None)


class BindingTable:
    """In-memory index of one router's bindings (all its interfaces may share
    one table, or one each). Not thread-safe; owned by the core."""

    def __init__(self) -> None:
        self.by_prefix: dict[IPv6Network, Binding] = {}
        self.by_client: dict[tuple[bytes, int], list[Binding]] = {}
        self.per_duid: dict[bytes, int] = {}
        self.per_duid_type: dict[tuple[bytes, MobilityType | None], int] = {}
        self._heap: list[tuple[float, int, IPv6Network]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self.by_prefix)

    def __iter__(self) -> Iterator[Binding]:
        return iter(list(self.by_prefix.values()))

    def get(self, prefix: IPv6Network) -> Binding | None:
        return self.by_prefix.get(prefix)

    def client(self, duid: bytes, iaid: int) -> list[Binding]:
        return self.by_client.get((duid, iaid), [])

    def count_duid(self, duid: bytes) -> int:
        """Active bindings held by ``duid`` (the per-client limit counts these)."""
        return self.per_duid.get(duid, 0)

    def count_duid_type(self, duid: bytes, mobility_type: MobilityType | None) -> int:
        """Active bindings of ``mobility_type`` (``None`` = untyped) held by
        ``duid`` (the per-type limit counts these)."""
        return self.per_duid_type.get((duid, mobility_type), 0)

    def _count(self, b: Binding, delta: int) -> None:
        _bump(self.per_duid, b.duid, delta)
        _bump(self.per_duid_type, (b.duid, b.mobility_type), delta)

    def add(self, b: Binding) -> None:
        prefix = b.prefix
        by_prefix = self.by_prefix
        old = by_prefix.get(prefix)
        if old is not None:
            self.remove(old)
        by_prefix[prefix] = b
        key = (b.duid, b.iaid)
        lst = self.by_client.get(key)
        if lst is None:
            self.by_client[key] = [b]
        else:
            lst.append(b)
        if b.state is BindingState.ACTIVE:
            self._count(b, 1)
        if b.valid_until != _INF:  # (schedule(), inlined)
            self._seq += 1
            heapq.heappush(self._heap, (b.valid_until, self._seq, prefix))

    def remove(self, b: Binding) -> None:
        if self.by_prefix.get(b.prefix) is not b:
            return
        del self.by_prefix[b.prefix]
        lst = self.by_client.get((b.duid, b.iaid))
        if lst is not None:
            try:
                lst.remove(b)
            except ValueError:
                pass
            if not lst:
                del self.by_client[(b.duid, b.iaid)]
        if b.state is BindingState.ACTIVE:
            self._count(b, -1)

    def set_state(self, b: Binding, state: BindingState) -> None:
        if b.state is state:
            return
        if self.by_prefix.get(b.prefix) is b:
            if b.state is BindingState.ACTIVE:
                self._count(b, -1)
            elif state is BindingState.ACTIVE:
                self._count(b, 1)
        b.state = state

    def schedule(self, b: Binding) -> None:
        """(Re)enter ``b`` in the expiry heap at its current ``valid_until``;
        stale heap entries are skipped when popped."""
        if b.valid_until != _INF:
            self._seq += 1
            heapq.heappush(self._heap, (b.valid_until, self._seq, b.prefix))

    def next_expiry(self) -> float | None:
        """Wall-clock time of the earliest expiry in the heap (may be stale)."""
        h = self._heap
        while h:
            t, _, p = h[0]
            b = self.by_prefix.get(p)
            if b is None or b.valid_until != t:
                heapq.heappop(h)
                continue
            return t
        return None

    def pop_expired(self, now: float, limit: int = 100000) -> list[Binding]:
        """Remove from the heap and return the bindings whose valid lifetime
        ended at or before ``now`` (they stay in the table; the caller removes)."""
        out: list[Binding] = []
        seen: set[IPv6Network] = set()
        h = self._heap
        while h and h[0][0] <= now and len(out) < limit:
            t, _, p = heapq.heappop(h)
            b = self.by_prefix.get(p)
            if b is not None and b.valid_until == t and p not in seen:
                seen.add(p)  # a binding scheduled twice at one time expires once
                out.append(b)
        return out
