"""Prefix allocation from DHCPv6-PD pools (Kea's pd-pool, iterative allocator).

A pool ``prefix`` of length P delegating length D holds ``2**(D-P)`` prefixes,
numbered 0..size-1. :class:`PoolAllocator` keeps the set of numbers in use and
a cursor that moves on after every allocation, so consecutive clients get
consecutive prefixes and a prefix just given up is not handed out again at
once. Reserved prefixes (host reservations inside a pool) are never handed
out to anyone else.

Hints (RFC 8415 §18.3.1/§21.22, Kea #1958, in this order):

* a specific prefix is honoured when it is one of the pool's prefixes (its
  length is the delegated length), free and not reserved for another client;
* a length (a ``::/L`` hint, or the length of a hint that cannot be honoured)
  puts the pools whose delegated length equals L first;
* ``::/0`` or no hint: pools in configuration order.

Lifetimes in a hint are ignored.

Random allocation and shared spaces (privacy, RFC 8653 §7): with the
interface's ``pd_allocator = "random"`` (Kea's name) a pool hands out a free
prefix drawn at random instead of the next one. Pools configured with
``shared_space = true`` on one prefix (one per type) share a single
used/reserved set and always allocate at random, so over time every prefix
of the space serves every type and a prefix seen on the wire, or as a source
address, does not tell its type; the type-specific lifetimes stay per pool.
The randomness is the ``rng`` handed in (the core never seeds it from a
clock).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from ipaddress import IPv6Address, IPv6Network

from router.config import InterfaceConfig, PdPool, Reservation

__all__ = ["Allocator", "PoolAllocator", "UsedBits"]

#: pools up to this many prefixes keep their usage as a bitmap (2 MiB at most)
BITMAP_MAX = 1 << 24
_NOT_FULL = re.compile(rb"[^\xff]")
_ZEROS = bytes(8 - bin(v).count("1") for v in range(256))


class UsedBits:
    """The indices in use of a pool of ``size`` prefixes, one bit each: a
    set of integers costs about 70 bytes per index in use (100,000 bindings:
    7 MB; this: 128 KiB for a pool of a million prefixes). Acts as the
    ``set`` it replaces (``in``, ``add``, ``discard``, ``len``)."""

    __slots__ = ("bits", "count", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.bits = bytearray((size + 7) >> 3)
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def __contains__(self, i: int) -> bool:
        return 0 <= i < self.size and bool(self.bits[i >> 3] >> (i & 7) & 1)

    def __iter__(self) -> Iterator[int]:
        bits = self.bits
        for j in range(len(bits)):
            v = bits[j]
            if v:
                for b in range(8):
                    if v >> b & 1:
                        yield (j << 3) | b

    def add(self, i: int) -> None:
        j, m = i >> 3, 1 << (i & 7)
        v = self.bits[j]
        if not v & m:
            self.bits[j] = v | m
            self.count += 1

    def discard(self, i: int) -> None:
        if not 0 <= i < self.size:
            return
        j, m = i >> 3, 1 << (i & 7)
        v = self.bits[j]
        if v & m:
            self.bits[j] = v & ~m
            self.count -= 1

    def next_clear(self, i: int) -> int | None:
        """The first index ≥ ``i`` not in use, or None."""
        bits, size = self.bits, self.size
        while i < size:
            j = i >> 3
            v = bits[j] >> (i & 7)
            if v != 0xFF >> (i & 7):  # a clear bit in this byte at or after i
                while v & 1:
                    v >>= 1
                    i += 1
                return i if i < size else None
            m = _NOT_FULL.search(bits, j + 1)
            if m is None:
                return None
            i = m.start() << 3
        return None

    def nth_clear(self, k: int) -> int | None:
        """The ``k``-th index not in use (0: the first), or None."""
        bits, size = self.bits, self.size
        step = 4096
        for j0 in range(0, len(bits), step):
            chunk = bits[j0:j0 + step]
            zeros = sum(chunk.translate(_ZEROS))
            if k >= zeros:
                k -= zeros
                continue
            for j in range(len(chunk)):
                z = _ZEROS[chunk[j]]
                if k >= z:
                    k -= z
                    continue
                v, i = chunk[j], (j0 + j) << 3
                while True:
                    if not v & 1:
                        if k == 0:
                            return i if i < size else None
                        k -= 1
                    v >>= 1
                    i += 1
        return None


def _used_set(size: int) -> UsedBits | set[int]:
    return UsedBits(size) if size <= BITMAP_MAX else set()


class PoolAllocator:
    """Free/used bookkeeping of one pool. Indices are ``int``s."""

    __slots__ = ("base", "cumulative", "cursor", "plen", "pool", "reclaimed", "reserved",
                 "rng", "shift", "size", "used")

    def __init__(self, pool: PdPool) -> None:
        self.pool = pool
        self.base = int(pool.prefix.network_address)
        self.plen = pool.delegated_length
        self.shift = 128 - pool.delegated_length
        self.size = pool.size
        self.used: UsedBits | set[int] = _used_set(self.size)
        self.reserved: dict[int, Reservation] = {}
        self.cursor = 0
        self.cumulative = 0
        """prefixes assigned since start (Kea cumulative-assigned-pds)"""
        self.reclaimed = 0
        """expired bindings reclaimed since start (Kea reclaimed-leases)"""
        self.rng: random.Random | None = None
        """set: a random free prefix is handed out (random allocator)"""

    def index(self, net: IPv6Network) -> int | None:
        """Index of ``net`` if it is one of this pool's prefixes, else None."""
        if net.prefixlen != self.plen:
            return None
        off = int(net.network_address) - self.base
        if off < 0:
            return None
        i = off >> self.shift
        return i if i < self.size else None

    def index_key(self, key: int) -> int | None:
        """:meth:`index` of the prefix ``key``
        (:func:`~router.core.bindings.prefix_key`)."""
        if key & 0xFF != self.plen:
            return None
        off = (key >> 8) - self.base
        if off < 0:
            return None
        i = off >> self.shift
        return i if i < self.size else None

    def contains(self, net: IPv6Network) -> bool:
        """True if ``net`` lies inside the pool's prefix (any length)."""
        return net.subnet_of(self.pool.prefix) if net.version == 6 else False

    def network(self, i: int) -> IPv6Network:
        return IPv6Network((self.base + (i << self.shift), self.plen))

    @property
    def assigned(self) -> int:
        """Prefixes in use (bindings, quarantined, held by others)."""
        return len(self.used)

    @property
    def total(self) -> int:
        return self.size

    def is_free(self, i: int, duid: bytes | None = None, iaid: int | None = None) -> bool:
        """Free for this client: not used, and not reserved for someone else."""
        if i in self.used:
            return False
        r = self.reserved.get(i)
        return r is None or (duid == r.duid and (r.iaid is None or r.iaid == iaid))

    def next_free(self) -> int | None:
        """The next unused, unreserved index at or after the cursor (wrapping);
        the cursor moves past it. None when the pool is full."""
        used, reserved, size = self.used, self.reserved, self.size
        blocked = len(used) + (sum(1 for i in reserved if i not in used) if reserved else 0)
        if blocked >= size:
            return None
        if self.rng is not None:
            return self._random_free(blocked, self.rng)
        i = self.cursor
        if type(used) is UsedBits:
            if i < size and not used.bits[i >> 3] >> (i & 7) & 1 and i not in reserved:
                self.cursor = i + 1  # the usual case: the one after the last
                return i
            # the bitmap finds the next clear bit itself; reserved ones are few
            for start in (i, 0):
                j = used.next_clear(start)
                while j is not None and j in reserved:
                    j = used.next_clear(j + 1)
                if j is not None:
                    self.cursor = j + 1
                    return j
            return None
        for _ in range(size):
            if i >= size:
                i = 0
            if i not in used and i not in reserved:
                self.cursor = i + 1
                return i
            i += 1
        return None

    def _random_free(self, blocked: int, rng: random.Random) -> int | None:
        """A free index drawn uniformly at random (from ``rng``, the pool's):
        random probes while the pool is mostly free, else a scan from a
        random start."""
        used, reserved, size = self.used, self.reserved, self.size
        if blocked * 2 <= size:
            for _ in range(64):
                i = rng.randrange(size)
                if i not in used and i not in reserved:
                    return i
        free = size - blocked
        k = rng.randrange(free)  # the k-th free index
        if type(used) is UsedBits:
            # the k-th clear bit, counted again past the reserved ones below it
            skip = sorted(r for r in reserved if r not in used)
            n = 0
            while True:
                c = used.nth_clear(k + n)
                if c is None:
                    return None
                m = sum(1 for r in skip if r <= c)
                if m == n and c not in reserved:
                    return c
                n = m if m != n else n + 1
        for i in range(size):
            if i not in used and i not in reserved:
                if k == 0:
                    return i
                k -= 1
        return None

    def claim(self, i: int) -> None:
        self.used.add(i)

    def free(self, i: int) -> None:
        self.used.discard(i)


class Allocator:
    """The pools of one interface, by name, with lookups by prefix and type."""

    def __init__(self, iface: InterfaceConfig, rng: random.Random | None = None) -> None:
        self.iface = iface
        self.pools: dict[str, PoolAllocator] = {p.name: PoolAllocator(p) for p in iface.pools}
        self._list = list(self.pools.values())
        spaces: dict[IPv6Network, PoolAllocator] = {}
        for pa in self._list:
            shared = pa.pool.shared_space
            if shared or iface.pd_allocator == "random":
                pa.rng = rng if rng is not None else random.Random()
            if shared:
                first = spaces.setdefault(pa.pool.prefix, pa)
                if first is not pa:  # one used/reserved set for the whole space
                    pa.used = first.used
                    pa.reserved = first.reserved
        for r in iface.reservations:
            for pa in self._list:
                i = pa.index(r.prefix)
                if i is not None:
                    pa.reserved[i] = r

    def locate(self, net: IPv6Network, among: tuple[PdPool, ...] = ()
               ) -> tuple[PoolAllocator, int] | None:
        """(pool, index) of a delegable prefix of one of the pools, or None;
        the pools ``among`` are looked at first (in a shared space, several
        pools hold the same prefix)."""
        for p in among:
            pa = self.pools.get(p.name)
            if pa is None:
                continue
            i = pa.index(net)
            if i is not None:
                return pa, i
        for pa in self._list:
            i = pa.index(net)
            if i is not None:
                return pa, i
        return None

    def locate_key(self, key: int) -> tuple[PoolAllocator, int] | None:
        """:meth:`locate` (no pools first) of the prefix ``key``
        (:func:`~router.core.bindings.prefix_key`)."""
        for pa in self._list:
            i = pa.index_key(key)
            if i is not None:
                return pa, i
        return None

    def mark_used(self, net: IPv6Network) -> PoolAllocator | None:
        return self.mark_used_key((int(net.network_address) << 8) | net.prefixlen)

    def mark_free(self, net: IPv6Network) -> PoolAllocator | None:
        return self.mark_free_key((int(net.network_address) << 8) | net.prefixlen)

    def mark_used_key(self, key: int) -> PoolAllocator | None:
        loc = self.locate_key(key)
        if loc is None:
            return None
        loc[0].used.add(loc[1])
        return loc[0]

    def mark_free_key(self, key: int) -> PoolAllocator | None:
        loc = self.locate_key(key)
        if loc is None:
            return None
        loc[0].used.discard(loc[1])
        return loc[0]

    def candidates(self, pools: tuple[PdPool, ...], hint: IPv6Network | None,
                   hint_length: int, duid: bytes, iaid: int,
                   max_tries: int | None = 16) -> Iterator[tuple[PoolAllocator, IPv6Network]]:
        """Prefixes to try for a client, best first (see the module docstring).
        ``hint``: a specific prefix hint or None; ``hint_length``: 0 = none.
        Yields at most ``max_tries`` prefixes after the specific hint (None:
        until the pools are full; the caller must claim every prefix it
        yields, kept or found taken, or this does not end). The caller claims
        the one it keeps (:meth:`PoolAllocator.claim`)."""
        pas = [self.pools[p.name] for p in pools if p.name in self.pools]
        if hint is not None:
            for pa in pas:
                i = pa.index(hint)
                if i is not None and pa.is_free(i, duid, iaid):
                    yield pa, hint  # == pa.network(i): index() takes only pool prefixes
                    break
        if hint_length:
            pas = sorted(pas, key=lambda pa: pa.plen != hint_length)
        n = 0
        limit = max_tries if max_tries is not None else float("inf")
        for pa in pas:
            while n < limit:
                i = pa.next_free()
                if i is None:
                    break
                n += 1
                yield pa, pa.network(i)

    @staticmethod
    def hint_of(prefix: IPv6Address, length: int) -> tuple[IPv6Network | None, int]:
        """(specific prefix or None, length hint or 0) from an IAPREFIX hint."""
        if length == 0 or length > 128:
            return None, 0
        if prefix.is_unspecified:
            return None, length
        try:
            # from the integer: IPv6Network((IPv6Address, L)) goes through
            # the address's text form (several µs per message)
            return IPv6Network((int(prefix), length)), length
        except ValueError:  # host bits set: only the length is usable
            return None, length
