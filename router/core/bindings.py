"""Bindings: which client holds which delegated prefix until when.

A :class:`Binding` is one delegated prefix of one IA_PD (RFC 8415 §6.3: the
server's record of an IA and its leases). Times are **wall-clock** seconds
(POSIX epoch) so that they survive a restart; the core converts its monotonic
``now`` with a fixed offset. ``float('inf')`` means an infinite lifetime.

:class:`BindingTable` is the in-memory index the server core works on: by
prefix, by DUID, and an expiry heap for reclamation.
The lease store (:mod:`router.core.store`) is the durable copy.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from enum import Enum
from ipaddress import IPv6Address, IPv6Network

from odm_wire.constants import INFINITY, MobilityType

__all__ = ["Binding", "BindingState", "BindingTable", "address_of", "network_of", "prefix_key",
           "remaining"]


class BindingState(str, Enum):  # noqa: UP042 - its str() is kept as stored and logged
    """``active``: delegated and extendable. ``declined``: quarantined after a
    Decline until ``valid_until`` (Kea's decline-probation-period), held by
    nobody. ``grace``: a GRACEFUL_REPLACEMENT prefix of another router, kept
    here with preferred 0 until its grace ends (:mod:`router.core.moves`)."""

    ACTIVE = "active"
    DECLINED = "declined"
    GRACE = "grace"


def prefix_key(net: IPv6Network) -> int:
    """The compact key of ``net``: its network address shifted left by 8 bits,
    or'ed with its length; as 17 big-endian octets it is the lease store's
    primary key (:mod:`router.store`)."""
    return (int(net.network_address) << 8) | net.prefixlen


def _slow_network(key: int) -> IPv6Network:
    return IPv6Network((key >> 8, key & 0xFF))


_new = object.__new__
_NETMASKS = tuple(IPv6Network((0, n)).netmask for n in range(129))


def _fast_address(ip: int) -> IPv6Address:
    # what IPv6Address(int).__init__ leaves, without its range check (the
    # integers here came from addresses)
    a = _new(IPv6Address)
    a._ip = ip  # type: ignore[attr-defined]
    a._scope_id = None  # type: ignore[attr-defined]
    return a


def _fast_network(key: int) -> IPv6Network:
    # what IPv6Network((address, length)).__init__ leaves, without its text
    # parsing and checks (the key holds a valid network); a /127 or /128
    # gets a ``hosts`` attribute there, so those are made the public way
    plen = key & 0xFF
    if plen >= 127:
        return _slow_network(key)
    a = _new(IPv6Address)
    a._ip = key >> 8  # type: ignore[attr-defined]
    a._scope_id = None  # type: ignore[attr-defined]
    n = _new(IPv6Network)
    n.network_address = a
    n.netmask = _NETMASKS[plen]
    n._prefixlen = plen  # type: ignore[attr-defined]
    return n


def _same(a, b) -> bool:
    return (type(a) is type(b) and a == b and hash(a) == hash(b) and str(a) == str(b)
            and all(getattr(x, s, 0) == getattr(y, s, 0)
                    for x, y in ((a, b), (getattr(a, "network_address", a),
                                          getattr(b, "network_address", b)))
                    for s in ("_ip", "_scope_id"))
            and (type(a) is IPv6Address or vars(a) == vars(b)))


def _pick():
    """:func:`_fast_network` and :func:`_fast_address` if they make exactly
    what the public constructors make on this Python (the attributes they
    set are ipaddress's private ones), else the public constructors."""
    try:
        keys = [prefix_key(IPv6Network(t)) for t in
                ("::/0", "2001:db8::/32", "2001:db8:8000:ff00::/56", "fd00::1:0/112")]
        if (all(_same(_fast_network(k), _slow_network(k)) for k in keys)
                and all(_same(_fast_address(k >> 8), IPv6Address(k >> 8)) for k in keys)):
            return _fast_network, _fast_address
    except Exception:  # noqa: BLE001 - any difference: the public way
        pass
    return _slow_network, IPv6Address


#: ``network_of(prefix_key(net)) == net``: the :class:`IPv6Network` of a key,
#: made in about a sixth of the public constructor's time; ``address_of(i)``:
#: the :class:`IPv6Address` of an integer, in about half
network_of, address_of = _pick()


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
    time): wall-clock seconds.

    A router holds one per binding, a million of them at scale, so the
    prefix and the next hop are kept as integers (``key``:
    :func:`prefix_key`; ``ll``: the address, or ``None``); ``prefix`` and
    ``client_ll`` make the :mod:`ipaddress` objects when asked. Equality is
    identity."""

    __slots__ = ("anchor", "cltt", "duid", "iaid", "interface", "key", "ll", "mobility_type",
                 "pool", "preferred_lifetime", "preferred_until", "served_by", "state",
                 "valid_lifetime", "valid_until")

    def __init__(self, prefix: IPv6Network, duid: bytes, iaid: int,
                 mobility_type: MobilityType | None, pool: str | None, interface: str,
                 client_ll: IPv6Address | None, anchor: str, served_by: str,
                 state: BindingState, preferred_lifetime: int, valid_lifetime: int,
                 preferred_until: float, valid_until: float, cltt: float) -> None:
        self.key = (int(prefix.network_address) << 8) | prefix.prefixlen
        self.duid = duid
        self.iaid = iaid
        self.mobility_type = mobility_type
        self.pool = pool
        self.interface = interface
        self.ll = None if client_ll is None else int(client_ll)
        self.anchor = anchor
        self.served_by = served_by
        self.state = state
        self.preferred_lifetime = preferred_lifetime
        self.valid_lifetime = valid_lifetime
        self.preferred_until = preferred_until
        self.valid_until = valid_until
        self.cltt = cltt

    @classmethod
    def from_key(cls, key: int, duid: bytes, iaid: int, mobility_type: MobilityType | None,
                 pool: str | None, interface: str, ll: int | None, anchor: str,
                 served_by: str, state: BindingState, preferred_lifetime: int,
                 valid_lifetime: int, preferred_until: float, valid_until: float,
                 cltt: float) -> Binding:
        """A binding of the prefix ``key`` (:func:`prefix_key`) routed via
        the address ``ll`` (an integer), as the lease stores read them."""
        b = _new(cls)
        b.key = key
        b.duid = duid
        b.iaid = iaid
        b.mobility_type = mobility_type
        b.pool = pool
        b.interface = interface
        b.ll = ll
        b.anchor = anchor
        b.served_by = served_by
        b.state = state
        b.preferred_lifetime = preferred_lifetime
        b.valid_lifetime = valid_lifetime
        b.preferred_until = preferred_until
        b.valid_until = valid_until
        b.cltt = cltt
        return b

    @property
    def prefix(self) -> IPv6Network:
        return network_of(self.key)

    @property
    def prefixlen(self) -> int:
        return self.key & 0xFF

    @property
    def network_address(self) -> IPv6Address:
        """The prefix's first address (an IAPREFIX's ``prefix``)."""
        return address_of(self.key >> 8)

    @property
    def client_ll(self) -> IPv6Address | None:
        ll = self.ll
        return None if ll is None else address_of(ll)

    @client_ll.setter
    def client_ll(self, address: IPv6Address | None) -> None:
        self.ll = None if address is None else int(address)

    def __repr__(self) -> str:
        return (f"Binding({self.prefix}, duid={self.duid.hex()}, iaid={self.iaid}, "
                f"{self.mobility_type}, pool={self.pool}, {self.interface}, "
                f"via {self.client_ll}, anchor={self.anchor}, served_by={self.served_by}, "
                f"{self.state.value}, {self.preferred_lifetime}/{self.valid_lifetime} s, "
                f"until {self.preferred_until}/{self.valid_until}, cltt {self.cltt})")

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
_ACTIVE = BindingState.ACTIVE


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


class BindingTable:
    """In-memory index of one router's bindings (all its interfaces may share
    one table, or one each). Not thread-safe; owned by the core.

    ``by_prefix``: binding by prefix key (:func:`prefix_key`); ``by_duid``:
    each client's bindings (one binding, or a list when it holds several),
    from which the per-client and per-type counts of the limits are counted
    when asked (a client holds a few; a count per client and per client and
    type kept beside cost more memory than the bindings' own records); the
    expiry heap holds (valid_until, prefix key)."""

    def __init__(self) -> None:
        self.by_prefix: dict[int, Binding] = {}
        self.by_duid: dict[bytes, Binding | list[Binding]] = {}
        self._heap: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self.by_prefix)

    def __iter__(self) -> Iterator[Binding]:
        return iter(list(self.by_prefix.values()))

    def get(self, prefix: IPv6Network) -> Binding | None:
        return self.by_prefix.get((int(prefix.network_address) << 8) | prefix.prefixlen)

    def get_key(self, key: int) -> Binding | None:
        """The binding of the prefix ``key`` (:func:`prefix_key`), or None."""
        return self.by_prefix.get(key)

    def of_duid(self, duid: bytes) -> list[Binding]:
        """Every binding of ``duid`` in the table, oldest first."""
        v = self.by_duid.get(duid)
        if v is None:
            return []
        return [v] if isinstance(v, Binding) else list(v)

    def client(self, duid: bytes, iaid: int) -> list[Binding]:
        """The bindings of the IA_PD (``duid``, ``iaid``), oldest first (a new list)."""
        v = self.by_duid.get(duid)
        if v is None:
            return []
        if isinstance(v, Binding):
            return [v] if v.iaid == iaid else []
        return [b for b in v if b.iaid == iaid]

    def count_duid(self, duid: bytes) -> int:
        """Active bindings held by ``duid`` (the per-client limit counts these)."""
        v = self.by_duid.get(duid)
        if v is None:
            return 0
        if isinstance(v, Binding):
            return 1 if v.state is _ACTIVE else 0
        return sum(1 for b in v if b.state is _ACTIVE)

    def count_duid_type(self, duid: bytes, mobility_type: MobilityType | None) -> int:
        """Active bindings of ``mobility_type`` (``None`` = untyped) held by
        ``duid`` (the per-type limit counts these)."""
        v = self.by_duid.get(duid)
        if v is None:
            return 0
        if isinstance(v, Binding):
            return 1 if v.state is _ACTIVE and v.mobility_type == mobility_type else 0
        return sum(1 for b in v
                   if b.state is _ACTIVE and b.mobility_type == mobility_type)

    def add(self, b: Binding) -> None:
        key = b.key
        by_prefix = self.by_prefix
        old = by_prefix.get(key)
        if old is not None:
            self.remove(old)
        by_prefix[key] = b
        duid = b.duid
        by_duid = self.by_duid
        v = by_duid.get(duid)
        if v is None:
            by_duid[duid] = b
        elif isinstance(v, Binding):
            by_duid[duid] = [v, b]
        else:
            v.append(b)
        if b.valid_until != _INF:  # (schedule(), inlined)
            heapq.heappush(self._heap, (b.valid_until, key))

    def remove(self, b: Binding) -> None:
        key = b.key
        if self.by_prefix.get(key) is not b:
            return
        del self.by_prefix[key]
        duid = b.duid
        v = self.by_duid.get(duid)
        if v is b:
            del self.by_duid[duid]
        elif v is not None and not isinstance(v, Binding):
            lst: list[Binding] = v
            try:
                lst.remove(b)
            except ValueError:
                pass
            if len(lst) == 1:
                self.by_duid[duid] = lst[0]
            elif not lst:
                del self.by_duid[duid]

    def set_state(self, b: Binding, state: BindingState) -> None:
        b.state = state

    def schedule(self, b: Binding) -> None:
        """(Re)enter ``b`` in the expiry heap at its current ``valid_until``;
        stale heap entries are skipped when popped."""
        if b.valid_until != _INF:
            heapq.heappush(self._heap, (b.valid_until, b.key))

    def next_expiry(self) -> float | None:
        """Wall-clock time of the earliest expiry in the heap (may be stale)."""
        h = self._heap
        while h:
            t, k = h[0]
            b = self.by_prefix.get(k)
            if b is None or b.valid_until != t:
                heapq.heappop(h)
                continue
            return t
        return None

    def pop_expired(self, now: float, limit: int = 100000) -> list[Binding]:
        """Remove from the heap and return the bindings whose valid lifetime
        ended at or before ``now`` (they stay in the table; the caller removes)."""
        out: list[Binding] = []
        seen: set[int] = set()
        h = self._heap
        while h and h[0][0] <= now and len(out) < limit:
            t, k = heapq.heappop(h)
            b = self.by_prefix.get(k)
            if b is not None and b.valid_until == t and k not in seen:
                seen.add(k)  # a binding scheduled twice at one time expires once
                out.append(b)
        return out
