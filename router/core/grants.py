"""Offers and grants of prefixes: Solicit, Request and new bindings
(RFC 8415 §18.3.1, §18.3.2; DESIGN §2).

Typed delegation (draft-moses-dmm-dhcp-ondemand-mobility): the type a client
asks travels in odm's vendor option inside the IAPREFIX hint. The server
grants that type from its pool and labels the IAPREFIX; it labels nothing for
a client that did not ask (M7). A type not offered, or with an empty pool,
gets the IA_PD back with Status NoPrefixAvail and a message naming the type.
Legacy clients are served from the interface's default pool. A reserved
type value is ignored (the request counts as untyped, M3).

An IA_PD that holds a binding of the type asked gets it again (extended by a
Request); one that asks another type on the same IAID starts over (the old
binding ends, "replaced"). A new binding comes from a reservation for the
client, else from the pools: limits first (per-client, per-type, the grant
rate), then prefix after prefix until one is free. An offer (Advertise,
:meth:`Grants.offer`) writes nothing but is checked against the store, so
what is offered is what the Request gets; a grant (Request, Rapid Commit,
:meth:`Grants.grant`) inserts the binding. A prefix found taken in the store
makes the core re-read its pools' rows once, and the allocator tries on
until the pools are really full: a "pool exhausted" NoPrefixAvail means no
free prefix is left (an expired binding is reclaimed first).
"""

from __future__ import annotations

import logging
from collections import Counter
from ipaddress import IPv6Network

from odm_wire.constants import MobilityType
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import IAPD, IAPrefix, MobilityTypeSubOption, StatusCode, odm_suboptions
from router.config import InterfaceConfig, Reservation, RouterConfig
from router.core.allocator import Allocator, PoolAllocator
from router.core.bindings import Binding, BindingState
from router.core.leases import Leases
from router.core.limits import TokenBuckets, type_key
from router.core.next_hop import NextHops
from router.core.reclaim import Reclamation
from router.core.replies import Ctx, IaAnswer, Replies
from router.core.terms import Terms

__all__ = ["ASKABLE", "MAX_COLLISIONS", "Grants", "asked"]

log = logging.getLogger("router.dhcp")

_ACTIVE = BindingState.ACTIVE
_LIVE_MT = {int(m): m for m in MobilityType}
#: The types a request may ask (None: untyped / legacy).
ASKABLE = (None, *MobilityType)
#: How a type is named in status messages.
_LABELS = {m: "untyped" if m is None else m.cli_name for m in ASKABLE}
#: Insertions refused by the store (a row this core did not know of, written
#: by another router or another interface since the pools were last read)
#: that one allocation tolerates after re-reading the pools from the store.
MAX_COLLISIONS = 64


def asked(ia: IAPD) -> tuple[bool, MobilityType | None, IAPrefix | None]:
    """(typed?, type, first hint) of an IA_PD. A reserved type value is
    ignored (draft-moses M3): the request then counts as untyped."""
    hint = None
    for p in ia.options:
        if type(p) is IAPrefix:
            if hint is None:
                hint = p
            for s in odm_suboptions(p.options, MobilityTypeSubOption):
                if s.mobility_type in _LIVE_MT:
                    return True, _LIVE_MT[s.mobility_type], p
    return False, None, hint


class Grants:
    """New bindings for one interface's server (module docstring)."""

    def __init__(self, config: RouterConfig, iface: InterfaceConfig, leases: Leases,
                 terms: Terms, replies: Replies, next_hops: NextHops,
                 reclamation: Reclamation, source_buckets: TokenBuckets,
                 client_buckets: TokenBuckets, stats: Counter) -> None:
        self.config = config
        self.iface = iface
        self.ifname = iface.name
        self.router_id = config.router_id
        self.leases = leases
        self.terms = terms
        self.replies = replies
        self.next_hops = next_hops
        self.reclamation = reclamation
        self.source_buckets = source_buckets
        self.client_buckets = client_buckets
        self.stats = stats
        self._reservations = iface.reservations
        # looked up for every message; the config objects are frozen
        self._pools_for = {t: iface.pools_for(t) for t in ASKABLE}
        self._type_caps = {t: config.limits.type_cap(t) for t in ASKABLE}
        self._max_per_client = config.max_bindings_per_client

    # ============================================================ per IA_PD
    def _same_type(self, ctx: Ctx, ia: IAPD, mt) -> tuple[list[Binding], list[Binding]]:
        """(this IA's active bindings here of type ``mt``, those of another)."""
        held = self.leases.table.client(ctx.duid, ia.iaid)
        if not held:  # (a new client, the usual case, holds nothing)
            return [], []
        existing = [b for b in held if b.state is _ACTIVE and b.interface == self.ifname]
        same = [b for b in existing if b.mobility_type == mt]
        return same, [b for b in existing if b not in same]

    def offer_ia(self, ctx: Ctx, ia: IAPD) -> IaAnswer:
        """Answer one IA_PD of a Solicit answered with an Advertise: the
        existing binding with the lifetimes a Request would give it, or a
        prefix the Request would get; nothing is written."""
        a = IaAnswer(ia.iaid, [])
        _typed, mt, hint = asked(ia)
        same, _other = self._same_type(ctx, ia, mt)
        for b in same:
            if self.terms.lifetimes_for(b) is not None:
                self._add_offer(a, b, ctx)
        if a.prefixes:
            return a
        new, why = self.offer(ctx, ia.iaid, mt, hint)
        if new is None:
            a.status = StatusCode(SC.NO_PREFIX_AVAIL, why)
            return a
        self.replies.add(a, new, ctx.wall)
        return a

    def grant_ia(self, ctx: Ctx, ia: IAPD) -> IaAnswer:
        """Answer one IA_PD of a Request or a Rapid Commit Solicit: the
        existing binding extended, or a new one; NoPrefixAvail naming the
        type when none can be had."""
        a = IaAnswer(ia.iaid, [])
        _typed, mt, hint = asked(ia)
        same, other = self._same_type(ctx, ia, mt)
        for b in same:
            if self.next_hops.refresh(b, ctx):
                self.replies.add(a, b, ctx.wall)
            else:  # its pool or reservation is gone: a fresh prefix instead
                self.leases.end(b, "expired")
        if a.prefixes:
            return a
        for b in other:  # the IA asks another type now: start over
            self.leases.end(b, "replaced")
        new, why = self.grant(ctx, ia.iaid, mt, hint)
        if new is None:
            a.status = StatusCode(SC.NO_PREFIX_AVAIL, why)
            return a
        self.replies.add(a, new, ctx.wall)
        return a

    def _add_offer(self, a: IaAnswer, b: Binding, ctx: Ctx) -> None:
        """Show an existing binding in an Advertise with the lifetimes a
        Request would give it (nothing is written)."""
        lt = self.terms.lifetimes_for(b)
        pref, valid = lt if lt is not None else b.lifetimes_at(ctx.wall)
        tmp = Binding(b.prefix, b.duid, b.iaid, b.mobility_type, b.pool, b.interface,
                      b.client_ll, b.anchor, b.served_by, b.state, pref, valid, 0, 0, 0)
        tmp.extend(ctx.wall)
        self.replies.add(a, tmp, ctx.wall)

    # ========================================================== allocation
    def _fail(self, counter: str, why: str) -> tuple[None, str]:
        self.stats["v6-allocation-fail"] += 1
        self.stats[counter] += 1
        return None, why

    def _refused(self, ctx: Ctx, mt: MobilityType | None) -> tuple[None, str] | None:
        """The limits every new binding is held to (type offered,
        per-client, per-type), or None when within them."""
        label = _LABELS[mt]
        if mt is not None and mt not in self.iface.offered_types:
            return self._fail("v6-allocation-fail-type-not-offered",
                              f"mobility type {label} is not offered on this link")
        if self.leases.table.count_duid(ctx.duid) >= self._max_per_client:
            return self._fail("v6-allocation-fail-client-limit",
                              f"no {label} prefix: this client already holds "
                              f"{self._max_per_client} prefixes (per-client limit)")
        cap = self._type_caps[mt]
        if cap is not None and self.leases.table.count_duid_type(ctx.duid, mt) >= cap:
            return self._fail("v6-allocation-fail-type-limit",
                              f"no {label} prefix: this client already holds {cap} "
                              f"{type_key(mt)} prefixes (per-type limit)")
        return None

    def _no_pools(self, mt: MobilityType | None) -> tuple[None, str]:
        if mt is None:
            return self._fail("v6-allocation-fail-no-pools",
                              "no prefix for untyped requests: this link has no default pool")
        return self._fail("v6-allocation-fail-no-pools",
                          f"no {_LABELS[mt]} prefix available for this client")

    def _exhausted(self, mt: MobilityType | None) -> tuple[None, str]:
        return self._fail("v6-allocation-fail-pool-exhausted",
                          f"no {_LABELS[mt]} prefix available (pool exhausted)")

    def _free_reservation(self, ctx: Ctx, iaid: int, mt) -> tuple[Binding, PoolAllocator | None
                                                                  ] | None:
        """A binding of the client's reservation, when its prefix is free here."""
        r = self._reservation_for(ctx.duid, iaid, mt) if self._reservations else None
        if r is None or self.leases.table.get(r.prefix) is not None:
            return None
        b = self._new_binding(ctx, iaid, mt, r.prefix, None, *r.lifetimes())
        loc = self.leases.allocator.locate(r.prefix)
        return b, (loc[0] if loc else None)

    def offer(self, ctx: Ctx, iaid: int, mt: MobilityType | None, hint: IAPrefix | None
              ) -> tuple[Binding | None, str]:
        """A binding (not written) for (client, IAID) of type ``mt`` (None =
        legacy): (binding, "") or (None, the NoPrefixAvail message)."""
        refused = self._refused(ctx, mt)
        if refused is not None:
            return refused
        res = self._free_reservation(ctx, iaid, mt)
        if res is not None:
            return res[0], ""
        pools = self._pools_for[mt]
        if not pools:
            return self._no_pools(mt)
        for b, pa in self._candidates(ctx, iaid, mt, hint, pools):
            if self.leases.offerable(b, pa):
                return b, ""
        return self._exhausted(mt)

    def grant(self, ctx: Ctx, iaid: int, mt: MobilityType | None, hint: IAPrefix | None
              ) -> tuple[Binding | None, str]:
        """A new binding, inserted, for (client, IAID) of type ``mt``:
        (binding, "") or (None, the NoPrefixAvail message)."""
        refused = self._refused(ctx, mt)
        if refused is not None:
            return refused
        if not self._grant_token(ctx):
            return self._fail("v6-allocation-fail-rate-limited",
                              f"no {_LABELS[mt]} prefix: the request rate limit is reached "
                              "(each new prefix counts as one message)")
        res = self._free_reservation(ctx, iaid, mt)
        if res is not None and self.leases.add_new(*res):
            return res[0], ""
        pools = self._pools_for[mt]
        if not pools:
            return self._no_pools(mt)
        for b, pa in self._candidates(ctx, iaid, mt, hint, pools):
            if self.leases.add_new(b, pa):
                return b, ""
        return self._exhausted(mt)

    def _candidates(self, ctx: Ctx, iaid: int, mt, hint: IAPrefix | None, pools):
        """Bindings of free pool prefixes, one after the other; resumed, the
        last one was found taken (a collision)."""
        spec, hlen = (None, 0) if hint is None else Allocator.hint_of(hint.prefix,
                                                                      hint.prefix_length)
        leases = self.leases
        collisions = 0
        for sweep in (False, True):
            if sweep:
                # Exhausted: bindings that expired since the last sweep go back
                # to their pools now rather than at the next reclaim timer.
                if not self.reclamation.expired_by(ctx.wall):
                    break
                self.reclamation.sweep(ctx.wall)
            # every prefix tried and found taken is claimed, so this ends when
            # the pools are full: no cap on tries while a pool has free space
            alloc = leases.allocator
            for pa, net in alloc.candidates(pools, spec, hlen, ctx.duid, iaid, max_tries=None):
                p = pa.pool
                yield self._new_binding(ctx, iaid, mt, net, p.name, p.preferred_lifetime,
                                        p.valid_lifetime), pa
                collisions += 1
                if collisions == 1:
                    # the store holds rows this core did not know of (written
                    # since it loaded): read the pools' rows once, so the next
                    # candidates avoid them all
                    leases.note_others([alloc.pools[q.name] for q in pools
                                        if q.name in alloc.pools], ctx.wall)
                elif collisions > MAX_COLLISIONS:
                    break

    def recreate(self, ctx: Ctx, iaid: int, net: IPv6Network, mt: MobilityType | None
                 ) -> Binding | None:
        """Re-create a binding for a prefix a client still holds but this
        server does not know (the unknown IA policy of
        :mod:`router.core.renew_rebind`), if it may delegate it."""
        leases = self.leases
        if leases.table.get(net) is not None:
            return None
        if leases.table.count_duid(ctx.duid) >= self.config.max_bindings_per_client:
            return None
        cap = self.config.limits.type_cap(mt)
        if cap is not None and leases.table.count_duid_type(ctx.duid, mt) >= cap:
            return None
        r = self._reservation_for(ctx.duid, iaid, mt)
        if r is not None and r.prefix == net:
            b = self._new_binding(ctx, iaid, mt, net, None, *r.lifetimes())
            loc = leases.allocator.locate(net)
            return b if leases.add_new(b, loc[0] if loc else None) else None
        loc = leases.allocator.locate(net, self.iface.pools_for(mt))
        if loc is None:
            return None
        pa, i = loc
        if pa.pool not in self.iface.pools_for(mt) or not pa.is_free(i, ctx.duid, iaid):
            return None
        if mt is not None and mt not in self.iface.offered_types:
            return None
        if not self._grant_token(ctx):
            self.stats["v6-allocation-fail"] += 1
            self.stats["v6-allocation-fail-rate-limited"] += 1
            return None
        b = self._new_binding(ctx, iaid, mt, net, pa.pool.name, pa.pool.preferred_lifetime,
                              pa.pool.valid_lifetime)
        return b if leases.add_new(b, pa) else None

    def _grant_token(self, ctx: Ctx) -> bool:
        """Rate limits count what is granted, not only messages (issue 13
        point 14): the message's own token pays for its first new binding,
        each further one takes one more token from the per-source and the
        per-client bucket. False when either is empty: that IA_PD is refused
        (NoPrefixAvail), the rest of the message is answered."""
        ctx.grants += 1
        if ctx.grants == 1:
            return True
        src, cli = self.source_buckets, self.client_buckets
        if src.limit.count > 0 and src.tokens(ctx.client_ll, ctx.now) < 1.0:
            return False
        if ctx.duid and cli.limit.count > 0 and cli.tokens(ctx.duid, ctx.now) < 1.0:
            return False
        src.allow(ctx.client_ll, ctx.now)
        if ctx.duid:
            cli.allow(ctx.duid, ctx.now)
        return True

    def _reservation_for(self, duid: bytes, iaid: int, mt: MobilityType | None
                         ) -> Reservation | None:
        if mt is None:
            return None
        best = None
        for r in self._reservations:
            if r.duid == duid and r.mobility_type == mt:
                if r.iaid == iaid:
                    return r
                if r.iaid is None and best is None:
                    best = r
        return best

    def _new_binding(self, ctx: Ctx, iaid: int, mt, prefix: IPv6Network, pool: str | None,
                     preferred: int, valid: int) -> Binding:
        b = Binding(prefix, ctx.duid, iaid, mt, pool, self.ifname, ctx.client_ll,
                    self.router_id, self.router_id, _ACTIVE, preferred, valid, 0.0, 0.0, 0.0)
        b.extend(ctx.wall)
        return b
