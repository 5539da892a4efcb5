"""The next hop of a binding when it is extended (issue 13 point 11).

The route of a binding points to the address its client wrote from. A later
message from another address moves it only when the adapter has found the
old address gone from the link (no answer to neighbour discovery, RFC 4861
§7.3): the message is answered, the change waits for
:meth:`NextHops.unreachable` (:class:`~router.core.events.NextHopCheck` asks
for it). DHCPv6 has no authentication (RFC 8415 §22): anyone on the link who
copied a client's DUID and IAID from its multicast messages can send a Renew
or Rebind, so the source of a message is no evidence that the client moved.
"""

from __future__ import annotations

import logging
from collections import Counter
from ipaddress import IPv6Address, IPv6Network

from odm_sansio.ratelog import RateLimitedLog
from router.core.bindings import Binding, BindingState
from router.core.events import NextHopCheck
from router.core.leases import Leases
from router.core.replies import Ctx
from router.core.terms import Terms
from router.errors import StoreError

__all__ = ["MAX_NEXT_HOP_FACTS", "NEXT_HOP_PENDING", "NextHops"]

log = logging.getLogger("router.dhcp")

#: How long a next hop asked for by a message from a new source address waits
#: for the adapter's verdict on the old one (seconds), and how long a verdict
#: "the old next hop no longer answers neighbour discovery" is believed.
NEXT_HOP_PENDING = 60.0
#: At most this many pending next-hop changes and verdicts are kept.
MAX_NEXT_HOP_FACTS = 4096


class NextHops:
    """Extension of the bindings of one interface and the evidence that
    moves their routes (module docstring)."""

    def __init__(self, leases: Leases, terms: Terms, stats: Counter,
                 bad: RateLimitedLog) -> None:
        self.leases = leases
        self.terms = terms
        self.stats = stats
        self.bad = bad
        self.ifname = leases.ifname
        #: prefix -> (next hop its latest message came from, until when the
        #: change waits for the adapter's verdict on the current next hop)
        self.pending: dict[IPv6Network, tuple[IPv6Address, float]] = {}
        #: next hops the adapter found gone (no answer to neighbour discovery)
        #: -> until when that verdict holds
        self.gone: dict[IPv6Address, float] = {}

    def refresh(self, b: Binding, ctx: Ctx) -> bool:
        """Extend ``b`` from now (Request of a known IA, Renew, Rebind).
        Returns False when it cannot be extended (then it is left alone)."""
        lt = self.terms.lifetimes_for(b)
        if lt is None:
            return False
        old = b.client_ll
        if old is not None and old != ctx.client_ll and not self._may_move(b, ctx, old):
            self.leases.extend_same_route(b, lt, ctx.wall)
            return True
        self.pending.pop(b.prefix, None)
        self.leases.extend(b, lt, ctx.wall, ctx.client_ll)
        if old is not None and old != ctx.client_ll:
            self.stats["next-hop-changed"] += 1
            log.info("%s: %s now via %s (was via %s, which no longer answers neighbour "
                     "discovery)", self.ifname, b.prefix, ctx.client_ll, old)
        return True

    def _may_move(self, b: Binding, ctx: Ctx, old: IPv6Address) -> bool:
        """May ``b``'s route move from its next hop ``old`` to
        ``ctx.client_ll``? Only when the adapter has found the current next
        hop gone from the link (RFC 4861 §7.3.3); otherwise the change waits
        for the verdict."""
        until = self.gone.get(old)
        if until is not None and until >= ctx.now:
            return True
        self.stats["next-hop-change-deferred"] += 1
        first = b.prefix not in self.pending
        if len(self.pending) >= MAX_NEXT_HOP_FACTS and first:
            self._expire(ctx.now)
        if len(self.pending) < MAX_NEXT_HOP_FACTS or not first:
            self.pending[b.prefix] = (ctx.client_ll, ctx.now + NEXT_HOP_PENDING)
        self.leases.events.append(NextHopCheck(self.ifname, old))
        self.bad("next-hop", ctx.now, "%s: %s for %s came from %s, but its next hop %s has "
                 "not been found gone from the link; the route stays until it is",
                 self.ifname, type(ctx.msg).__name__, b.prefix, ctx.client_ll, old,
                 level=logging.INFO)
        return False

    def _expire(self, now: float) -> None:
        self.pending = {p: v for p, v in self.pending.items() if v[1] >= now}
        self.gone = {a: t for a, t in self.gone.items() if t >= now}

    def unreachable(self, next_hop: IPv6Address, now: float) -> int:
        """The adapter's verdict: ``next_hop`` no longer answers neighbour
        discovery. Bindings routed via it whose client wrote from another
        address in the last :data:`NEXT_HOP_PENDING` seconds move there now;
        a message arriving in that time moves its binding at once. Returns
        the number of bindings moved; raises StoreError (nothing more moved)."""
        if len(self.gone) >= MAX_NEXT_HOP_FACTS:
            self._expire(now)
            if len(self.gone) >= MAX_NEXT_HOP_FACTS:
                self.gone.clear()
        self.gone[next_hop] = now + NEXT_HOP_PENDING
        moved = 0
        table = self.leases.table
        for prefix, (new, until) in list(self.pending.items()):
            b = table.get(prefix)
            if b is None or until < now:
                del self.pending[prefix]
                continue
            if b.client_ll != next_hop or b.state is not BindingState.ACTIVE:
                continue
            del self.pending[prefix]
            try:
                self.leases.reroute(b, new)
            except StoreError as exc:
                log.error("%s: lease store write failed, %s stays via %s: %s", self.ifname,
                          prefix, next_hop, exc)
                raise
            self.stats["next-hop-changed"] += 1
            moved += 1
            log.info("%s: %s now via %s (was via %s, which no longer answers neighbour "
                     "discovery)", self.ifname, prefix, new, next_hop)
        return moved
