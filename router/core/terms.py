"""The lifetimes and T1/T2 a binding is given (RFC 8415 §21.21, §21.22).

A binding this router delegated takes its pool's preferred and valid
lifetimes (or its reservation's); one anchored at another router keeps the
lifetimes it was granted there. T1/T2 come from the pool or reservation, or
are 0.5/0.8 of the preferred lifetime. A binding whose pool or reservation is
gone from the configuration cannot be extended here (:meth:`Terms.lifetimes_for`
says ``None``).
"""

from __future__ import annotations

from collections.abc import Callable

from router.config.model import InterfaceConfig, PdPool, Reservation, t1_t2
from router.core.allocator import Allocator
from router.core.bindings import Binding

__all__ = ["Terms"]


class Terms:
    """Lifetimes and timers for the bindings of one interface served by
    router ``router_id``; ``allocator()`` returns the current allocator (it
    is rebuilt when the state is re-read)."""

    def __init__(self, iface: InterfaceConfig, router_id: str,
                 allocator: Callable[[], Allocator]) -> None:
        self.router_id = router_id
        self._allocator = allocator
        self._reservations = iface.reservations
        self._pool_timers = {p.name: p.timers() for p in iface.pools}

    def pool_of(self, b: Binding) -> PdPool | None:
        if b.pool is None or b.anchor != self.router_id:
            return None
        pa = self._allocator().pools.get(b.pool)
        return pa.pool if pa is not None else None

    def reservation_of(self, b: Binding) -> Reservation | None:
        for r in self._reservations:
            if r.prefix == b.prefix and r.duid == b.duid and (r.iaid is None or r.iaid == b.iaid):
                return r
        return None

    def timers_for(self, b: Binding) -> tuple[int, int]:
        """(T1, T2) for ``b`` before the message's common values are taken."""
        p = self.pool_of(b)
        if p is not None:
            return self._pool_timers[p.name]
        r = self.reservation_of(b) if b.anchor == self.router_id else None
        if r is not None:
            return t1_t2(r.lifetimes()[0], r.t1, r.t2)
        return t1_t2(b.preferred_lifetime, None, None)

    def lifetimes_for(self, b: Binding) -> tuple[int, int] | None:
        """(preferred, valid) to extend ``b`` with, or None when this server
        cannot extend it (its pool or reservation is gone from the config)."""
        if b.anchor != self.router_id:
            return b.preferred_lifetime, b.valid_lifetime
        p = self.pool_of(b)
        if p is not None:
            return p.preferred_lifetime, p.valid_lifetime
        r = self.reservation_of(b)
        if r is not None:
            return r.lifetimes()
        return None
