"""Reclamation: bindings whose valid lifetime ended go back to their pools.

A binding is not extended past its valid lifetime (RFC 8415 §18.3.4: a
server may reclaim a lease whose lifetime expired); Kea reclaims on a timer
(``reclaim-timer-wait-time``), and so does odm: :class:`Reclamation` sweeps
at the earliest expiry, at most once per ``reclaim_interval`` seconds
(:meth:`Reclamation.get_timer`), through:

* this interface's bindings that expired — deleted from the store unless
  another router extended them meanwhile (the host moved: only the stale
  copy here goes), their prefixes back in the pool, their routes removed
  (``reclaimed-leases``, :class:`~router.core.events.PrefixReleased` "expired");
  a declined prefix comes out of quarantine;
* the rows of others lying in this interface's pools (a renamed or removed
  interface, another router sharing the store) whose valid lifetime ended:
  still expired in the store, they are deleted and their prefixes go back to
  the pool (``reclaimed-leftover-leases``).

An allocation that finds the pools full sweeps first (:meth:`Reclamation.sweep`)
rather than wait for the timer. The changes themselves are
:class:`~router.core.leases.Leases`'s (:meth:`~router.core.leases.Leases.reclaim`,
:meth:`~router.core.leases.Leases.reclaim_leftovers`).
"""

from __future__ import annotations

import logging

from router.core.leases import Leases
from router.errors import StoreError

__all__ = ["Reclamation"]

log = logging.getLogger("router.dhcp")


class Reclamation:
    """When and what to reclaim for one interface's :class:`Leases`.
    ``offset``: wall-clock seconds minus the core's monotonic clock;
    ``interval``: the least time between two sweeps (seconds)."""

    def __init__(self, leases: Leases, offset: float, interval: float) -> None:
        self.leases = leases
        self.offset = offset
        self.interval = interval
        self.last_sweep: float | None = None

    def get_timer(self) -> float | None:
        """Monotonic time of the next sweep, or None."""
        exp = self.leases.next_expiry()
        if exp is None:
            return None
        t = exp - self.offset
        if self.last_sweep is not None:
            t = max(t, self.last_sweep + self.interval)
        return t

    def due(self, now: float) -> bool:
        """True (and the sweep is timed from ``now``) when the timer has fired."""
        t = self.get_timer()
        if t is None or now < t:
            return False
        self.last_sweep = now
        return True

    def expired_by(self, wall: float) -> bool:
        """True when something expired at or before ``wall`` (wall clock)."""
        exp = self.leases.next_expiry()
        return exp is not None and exp <= wall

    def sweep(self, wall: float) -> None:
        """Reclaim everything expired at ``wall`` (wall clock); a store
        failure leaves that binding for the next sweep."""
        leases = self.leases
        ifname = leases.ifname
        if leases.others:
            try:
                leases.reclaim_leftovers(wall)
            except StoreError as exc:
                log.error("%s: cannot reclaim leftover bindings: %s", ifname, exc)
        for b in leases.expired(wall):
            try:
                leases.reclaim(b, wall)
            except StoreError as exc:
                log.error("%s: cannot reclaim %s: %s", ifname, b.prefix, exc)
                leases.reschedule(b)
