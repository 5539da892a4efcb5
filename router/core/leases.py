"""Every change to a binding, in one place.

:class:`Leases` holds one interface's bindings (the in-memory
:class:`~router.core.bindings.BindingTable`), its pools' usage (the
:class:`~router.core.allocator.Allocator`), the prefixes of others lying in
its pools, and the lease store; each named method below changes all of them
and reports the matching event (:mod:`router.core.events`), so the four never
disagree. Nothing else in the core writes the store, the table or the pools.
The writes join the store's open batch; they become durable, and their
Replies and events leave, together (:mod:`router.core.durable`).

**Rows of others in the pools.** The store may hold rows inside this
interface's pools that this core does not serve: of another interface (or a
renamed or removed one), of another router sharing the store, expired long
ago or live. Their prefixes are kept out of the pools (read at start-up, and
again when an insertion finds a prefix taken) and each is looked at when its
valid lifetime ends (:mod:`router.core.reclaim`).
"""

from __future__ import annotations

import heapq
import logging
import random
from collections import Counter, deque
from ipaddress import IPv6Address, IPv6Network

from router.config import InterfaceConfig
from router.core.allocator import Allocator, PoolAllocator
from router.core.bindings import Binding, BindingState, BindingTable, network_of
from router.core.events import (
    BindingMovedHere,
    Event,
    MovedBindingEnded,
    PrefixDelegated,
    PrefixReleased,
    PrefixRenewed,
)
from router.core.store import BindingStore

__all__ = ["Leases", "State"]

log = logging.getLogger("router.dhcp")

_INF = float("inf")
_ACTIVE = BindingState.ACTIVE
_GRACE = BindingState.GRACE
_DECLINED = BindingState.DECLINED

#: (this interface's bindings, the rows of others inside its pools)
State = tuple[list[Binding], list[Binding]]


def _event(cls, b: Binding):
    return cls(b.prefix, b.duid, b.iaid, b.mobility_type, b.client_ll, b.interface,
               b.preferred_lifetime, b.valid_lifetime)


class Leases:
    """The bindings of interface ``iface`` served by router ``router_id``
    (module docstring). ``events``: where the events go (the outbox's);
    ``stats``: the server's counters."""

    def __init__(self, iface: InterfaceConfig, router_id: str, store: BindingStore,
                 events: deque[Event], stats: Counter, rng: random.Random | None) -> None:
        self.iface = iface
        self.ifname = iface.name
        self.router_id = router_id
        self.store = store
        self.events = events
        self.stats = stats
        self._rng = rng
        self.table = BindingTable()
        self.allocator = Allocator(iface, rng)
        #: rows of the store inside this interface's pools that this core does
        #: not serve: heap of (valid_until, prefix key), and each one's expiry
        self.others: list[tuple[float, int]] = []
        self.other_until: dict[int, float] = {}

    # ================================================================ state
    def fetch_state(self, store: BindingStore) -> State:
        """Read what :meth:`install_state` needs from ``store``: this
        interface's bindings and the rows of others inside its pools. Touches
        nothing here, so an adapter may run it on a thread of its own. Raises
        StoreError."""
        bindings = store.load(self.router_id, self.ifname)
        others: list[Binding] = []
        for space in dict.fromkeys(p.prefix for p in self.iface.pools):
            others.extend(store.others_in(self.router_id, self.ifname, space))
        return bindings, others

    def install_state(self, state: State) -> None:
        """Rebuild the table and the pools from what :meth:`fetch_state` read."""
        bindings, others = state
        self.table = BindingTable()
        self.allocator = Allocator(self.iface, self._rng)
        self.others = []
        self.other_until = {}
        add = self.table.add
        pools = self.allocator.pools
        mark_used = self.allocator.mark_used_key
        me = self.router_id
        for b in bindings:
            add(b)
            if b.anchor != me:
                continue
            pa = pools.get(b.pool) if b.pool is not None else None
            i = pa.index_key(b.key) if pa is not None else None
            if pa is not None and i is not None:
                pa.used.add(i)
            else:
                mark_used(b.key)
        log.info("%s: loaded %d bindings from the lease store", self.ifname, len(bindings))
        n = 0
        for b in others:
            if self.table.get_key(b.key) is None:
                self.note_other(b)
                n += 1
        if n:
            log.info("%s: %d bindings of other interfaces or routers lie in this interface's "
                     "pools; their prefixes stay out of the pools until they expire",
                     self.ifname, n)

    def note_others(self, pas, wall: float | None = None) -> int:
        """Read the store's rows inside the pools ``pas`` that this core does
        not serve and keep their prefixes out of the pools; each is looked at
        again when its valid lifetime ends (:meth:`reclaim_leftover`); with
        ``wall`` (the time now), rows already expired stay allocatable (an
        insertion reclaims them). Returns how many were noted."""
        seen: set[IPv6Network] = set()
        n = 0
        for pa in pas:
            space = pa.pool.prefix
            if space in seen:
                continue
            seen.add(space)
            for b in self.store.others_in(self.router_id, self.ifname, space):
                if self.table.get_key(b.key) is None:
                    self.note_other(b, wall)
                    n += 1
        return n

    def note_other(self, b: Binding, wall: float | None = None) -> None:
        if wall is None or b.valid_until > wall:
            self.allocator.mark_used_key(b.key)
        if b.valid_until != _INF and self.other_until.get(b.key) != b.valid_until:
            self.other_until[b.key] = b.valid_until
            heapq.heappush(self.others, (b.valid_until, b.key))

    def next_expiry(self) -> float | None:
        """Wall-clock time of the earliest expiry among this interface's
        bindings and the other rows in its pools."""
        exp = self.table.next_expiry()
        if self.others:
            t = self.others[0][0]
            if exp is None or t < exp:
                return t
        return exp

    def pool_stats(self) -> list[dict]:
        """Per pool: Kea's ``total-pds``, ``assigned-pds``,
        ``cumulative-assigned-pds``, ``reclaimed-leases``, plus name, prefix,
        delegated length, mobility type and utilisation (0..1)."""
        out = []
        for name, pa in self.allocator.pools.items():
            p = pa.pool
            out.append({
                "interface": self.ifname, "pool": name, "prefix": str(p.prefix),
                "delegated-length": p.delegated_length,
                "mobility-type": p.mobility_type.cli_name if p.mobility_type else "legacy",
                "default": name == self.iface.default_pool,
                "shared-space": p.shared_space,
                "total-pds": pa.total, "assigned-pds": pa.assigned,
                "cumulative-assigned-pds": pa.cumulative, "reclaimed-leases": pa.reclaimed,
                "utilisation": pa.assigned / pa.total if pa.total else 0.0,
            })
        return out

    def _save(self, b: Binding) -> None:
        self.store.update(b)
        self.table.schedule(b)

    # ============================================================ new ones
    def offerable(self, b: Binding, pa: PoolAllocator) -> bool:
        """For an offer (nothing written): True if the store holds no live
        row for ``b``'s prefix (an expired one is reclaimed by the Request);
        else the row is noted and its prefix claimed, like a refused
        insertion. Kea's allocation engine checks offers too: never offer
        what the Request would then find taken."""
        held = self.store.find_key(b.key)
        if held is None or held.valid_until <= b.cltt:
            return True
        loc = pa.index_key(b.key)
        if loc is not None:
            pa.claim(loc)
        if self.table.get_key(b.key) is None:
            self.note_other(held)
        return False

    def add_new(self, b: Binding, pa: PoolAllocator | None) -> bool:
        """Insert a new binding (:class:`PrefixDelegated`); False if the store
        says its prefix is taken (another router, or a record this core does
        not hold in memory). A row in the way whose valid lifetime has ended
        is reclaimed and the insertion retried; a live one is noted (kept out
        of the pool until it expires)."""
        store = self.store
        if not store.insert(b):
            held = store.find_prefix(b.prefix)
            if (held is not None and held.valid_until <= b.cltt
                    and self.table.get_key(b.key) is None
                    and store.delete(b.prefix, valid_until_max=b.cltt)):
                self.stats["reclaimed-leases"] += 1
                self.stats["reclaimed-leftover-leases"] += 1
                log.info("%s: expired binding %s of interface %s (router %s) reclaimed",
                         self.ifname, b.prefix, held.interface, held.served_by)
                if store.insert(b):
                    return self._added(b, pa)
                held = store.find_prefix(b.prefix)
            if pa is not None:
                loc = pa.index_key(b.key)
                if loc is not None:
                    pa.claim(loc)
            if held is not None and self.table.get_key(b.key) is None:
                self.note_other(held)
            return False
        return self._added(b, pa)

    def _added(self, b: Binding, pa: PoolAllocator | None) -> bool:
        self.table.add(b)
        if pa is not None:
            i = pa.index_key(b.key)  # not None: ``pa`` is the pool ``b`` came from
            if i is not None:
                pa.claim(i)
            pa.cumulative += 1
        self.stats["cumulative-assigned-pds"] += 1
        self.events.append(_event(PrefixDelegated, b))
        return True

    # ============================================================ extended
    def extend(self, b: Binding, lifetimes: tuple[int, int], wall: float,
               next_hop: IPv6Address) -> None:
        """Restart ``b`` at ``wall`` with ``lifetimes`` (preferred, valid),
        routed via ``next_hop`` (:class:`PrefixRenewed`: the adapter replaces
        the route)."""
        b.preferred_lifetime, b.valid_lifetime = lifetimes
        b.client_ll = next_hop
        b.extend(wall)
        self._save(b)
        self.events.append(_event(PrefixRenewed, b))

    def extend_same_route(self, b: Binding, lifetimes: tuple[int, int], wall: float) -> None:
        """Restart ``b`` at ``wall`` with ``lifetimes`` (preferred, valid);
        its route stays as it is (no event)."""
        b.preferred_lifetime, b.valid_lifetime = lifetimes
        b.extend(wall)
        self._save(b)

    def reroute(self, b: Binding, next_hop: IPv6Address) -> None:
        """Route ``b`` via ``next_hop`` from now on (:class:`PrefixRenewed`)."""
        b.client_ll = next_hop
        self._save(b)
        self.events.append(_event(PrefixRenewed, b))

    # ============================================================== moved
    def _arrived(self, r: Binding, wall: float, next_hop: IPv6Address) -> None:
        old = self.table.get_key(r.key)
        if old is not None:  # a stale copy from before the host left
            self.table.remove(old)
        self.stats["moved-here-pds"] += 1
        r.interface = self.ifname
        r.client_ll = next_hop
        r.cltt = wall
        r.served_by = self.router_id

    def serve_moved(self, r: Binding, wall: float, next_hop: IPv6Address) -> None:
        """Serve from here the binding ``r`` another router served, extended
        with the lifetimes it was granted; ``anchor`` keeps naming the router
        that delegated it (:class:`BindingMovedHere`, or
        :class:`PrefixRenewed` when that is this router)."""
        self._arrived(r, wall, next_hop)
        r.state = _ACTIVE
        r.extend(wall)
        self._save(r)
        self.table.add(r)
        if r.anchor == self.router_id:
            self.allocator.mark_used_key(r.key)
            self.events.append(_event(PrefixRenewed, r))
        else:
            self.events.append(BindingMovedHere(
                r.prefix, r.anchor, next_hop, r.mobility_type, self.ifname, r.duid, r.iaid,
                r.valid_lifetime))

    def grace_moved(self, r: Binding, wall: float, next_hop: IPv6Address, grace: int) -> None:
        """Hold here the binding ``r`` another router served, in state
        ``grace``: preferred lifetime over now, valid for ``grace`` seconds
        (:class:`BindingMovedHere`)."""
        self._arrived(r, wall, next_hop)
        r.state = _GRACE
        r.preferred_until = wall
        r.valid_until = wall + grace
        self._save(r)
        self.table.add(r)
        if r.anchor == self.router_id:
            self.allocator.mark_used_key(r.key)
        self.events.append(BindingMovedHere(
            r.prefix, r.anchor, next_hop, r.mobility_type, self.ifname, r.duid, r.iaid, grace))

    def end_moved(self, r: Binding, wall: float, next_hop: IPv6Address) -> None:
        """End the binding ``r`` another router served: its record is deleted
        (the anchor's routes go with it, :mod:`router.dataplane.moves`);
        :class:`MovedBindingEnded` names the router that served it."""
        was = r.served_by
        self._arrived(r, wall, next_hop)
        self.store.delete(r.prefix)
        if was != self.router_id:
            self.events.append(MovedBindingEnded(r.prefix, was, r.anchor))

    # ===================================================== the store moved on
    def follow_store(self, held: dict[int, Binding | None], wall: float) -> int:
        """Make the bindings served here follow what the shared store says
        of them (``held``: prefix key -> the store's record, or None when it
        has none), after the host moved to another router (RFC 8653 §3.2,
        DESIGN §2). For each binding of the table this router serves:

        * the store has no record (the new router ended it when it answered
          the moved host's Rebind, :mod:`router.core.moves`, or it was
          released or deleted elsewhere; also a copy kept here of a binding
          anchored here and served elsewhere): out of the table, its prefix back
          in its pool, :class:`PrefixReleased` ``"ended-elsewhere"`` (the
          adapter removes its route); counted ``ended-elsewhere-pds``, not
          ``reclaimed-leases`` (it did not expire);
        * another router serves it (counted ``moved-away-pds``): anchored
          here, its ``served_by``, state and lifetimes become the store's
          (the copy stays, as its prefix stays out of the pool), with no
          event: the anchor's redirect to the serving router, the data
          plane's, replaced the route to the host; anchored elsewhere, this
          router neither delegated nor serves it: the copy goes,
          :class:`PrefixReleased` ``"moved"`` (its route goes).

        Keys of bindings not in the table, copies of bindings served
        elsewhere whose record is there, and records older than the copy here (``cltt``) are
        skipped. The store is not written. Returns how many bindings
        changed."""
        me = self.router_id
        table = self.table
        n = 0
        for key, rec in held.items():
            b = table.get_key(key)
            if b is None or (rec is not None and (b.served_by != me or rec.cltt < b.cltt)):
                continue  # (a record older than the copy: a write of ours not read back)
            if rec is None:
                table.remove(b)
                if b.anchor == me:
                    self.allocator.mark_free_key(b.key)
                self.stats["ended-elsewhere-pds"] += 1
                log.info("%s: binding %s of DUID %s IA_PD 0x%08x is gone from the shared "
                         "lease store (ended by another router's answer to the moved host, or "
                         "released there); dropped here", self.ifname, b.prefix,
                         b.duid.hex(":"), b.iaid)
                if b.state is not _DECLINED:
                    self.events.append(PrefixReleased(b.prefix, b.client_ll, b.interface,
                                                      "ended-elsewhere"))
            elif rec.served_by != me and b.anchor != me:
                table.remove(b)
                self.stats["moved-away-pds"] += 1
                log.info("%s: binding %s of DUID %s IA_PD 0x%08x anchored at %s is served by "
                         "%s now (the host moved); dropped here", self.ifname, b.prefix,
                         b.duid.hex(":"), b.iaid, b.anchor, rec.served_by)
                self.events.append(PrefixReleased(b.prefix, b.client_ll, b.interface, "moved"))
            elif rec.served_by != me:
                b.served_by = rec.served_by
                table.set_state(b, rec.state)
                b.preferred_lifetime = rec.preferred_lifetime
                b.valid_lifetime = rec.valid_lifetime
                b.preferred_until = rec.preferred_until
                b.valid_until = rec.valid_until
                b.cltt = rec.cltt
                table.schedule(b)
                self.stats["moved-away-pds"] += 1
                log.info("%s: binding %s of DUID %s IA_PD 0x%08x is served by %s now (the "
                         "host moved)", self.ifname, b.prefix, b.duid.hex(":"), b.iaid,
                         rec.served_by)
            else:
                continue
            n += 1
        return n

    # ============================================================== ended
    def end(self, b: Binding, reason: str) -> None:
        """``b`` ends now (Release, Decline, an operator's deletion, a binding
        that cannot be extended, an IA that asks another type): out of the
        store and the table, its prefix back in its pool
        (:class:`PrefixReleased` with ``reason``)."""
        prefix = b.prefix
        self.store.delete(prefix)
        self.table.remove(b)
        if b.anchor == self.router_id:
            self.allocator.mark_free_key(b.key)
        if b.state is not _DECLINED:
            self.events.append(PrefixReleased(prefix, b.client_ll, b.interface, reason))

    def quarantine(self, b: Binding, until: float) -> None:
        """A declined prefix held by nobody until ``until`` (wall clock),
        Kea's decline-probation-period (RFC 8415 §18.3.8)."""
        self.events.append(PrefixReleased(b.prefix, b.client_ll, b.interface, "decline"))
        self.table.set_state(b, _DECLINED)
        b.valid_until = b.preferred_until = until
        self._save(b)
        self.stats["declined-pds"] += 1

    def expired(self, wall: float) -> list[Binding]:
        """The bindings whose valid lifetime ended by ``wall`` (taken off the
        expiry schedule; :meth:`reclaim` each, or :meth:`reschedule`)."""
        return self.table.pop_expired(wall)

    def reschedule(self, b: Binding) -> None:
        """Look at ``b`` again at its expiry (a reclamation that failed)."""
        self.table.schedule(b)

    def reclaim(self, b: Binding, wall: float) -> None:
        """``b``'s valid lifetime ended by ``wall``: deleted from the store
        unless another router extended it meanwhile (then only this stale
        copy goes: the host moved, the prefix stays out of the pool and its
        routes, the anchor's redirect, are left be); its prefix back in its
        pool (:class:`PrefixReleased` "expired"). Raises StoreError with
        nothing changed."""
        gone = self.store.delete(b.prefix, served_by=self.router_id,
                                 valid_until_max=b.valid_until)
        held = None if gone else self.store.find_prefix(b.prefix)
        if held is not None and held.valid_until > wall:
            self.table.remove(b)
            log.debug("%s: %s is served by %s now; stale copy dropped", self.ifname,
                      b.prefix, held.served_by)
            return
        pa = None
        self.table.remove(b)
        if b.anchor == self.router_id:
            pa = self.allocator.mark_free_key(b.key)
        if b.state is _DECLINED:
            log.info("%s: declined prefix %s back in its pool", self.ifname, b.prefix)
            return
        if pa is not None:
            pa.reclaimed += 1
        self.stats["reclaimed-leases"] += 1
        log.info("%s: binding %s of DUID %s IA_PD 0x%08x expired", self.ifname, b.prefix,
                 b.duid.hex(":"), b.iaid)
        self.events.append(PrefixReleased(b.prefix, b.client_ll, b.interface, "expired"))

    def reclaim_leftovers(self, wall: float) -> None:
        """The rows of others noted by :meth:`note_others` whose valid
        lifetime has ended by ``wall``: deleted from the store if still
        expired there (a leftover; ``reclaimed-leftover-leases``), their
        prefixes freed; a row its holder extended meanwhile is looked at
        again at its new expiry. Raises StoreError."""
        h = self.others
        while h and h[0][0] <= wall:
            t, key = heapq.heappop(h)
            if self.other_until.get(key) != t:
                continue  # noted again later with another expiry
            del self.other_until[key]
            if self.table.get_key(key) is not None:
                continue  # ours now
            prefix = network_of(key)
            gone = self.store.delete(prefix, valid_until_max=wall)
            held = None if gone else self.store.find_prefix(prefix)
            if held is not None:
                if self.table.get_key(key) is None and held.valid_until != _INF:
                    t = max(held.valid_until, wall + 1.0)
                    self.other_until[key] = t
                    heapq.heappush(h, (t, key))
                continue
            pa = self.allocator.mark_free_key(key)
            if gone:
                if pa is not None:
                    pa.reclaimed += 1
                self.stats["reclaimed-leases"] += 1
                self.stats["reclaimed-leftover-leases"] += 1
                log.info("%s: expired binding %s of another interface or router reclaimed "
                         "into this interface's pool", self.ifname, prefix)
