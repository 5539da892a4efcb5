"""Renew and Rebind: extending bindings (RFC 8415 §18.3.4, §18.3.5).

A **Renew** is sent to the server that delegated the prefixes (it carries
that server's Server Identifier, checked by the dispatcher): each IA_PD's
bindings here are extended (:meth:`Extension.renew_ia`). A **Rebind** goes to
every server on the link after the Renews went unanswered — or at once after
a move — and carries no Server Identifier: first the prefixes the shared
store shows served by another router are answered by the moved-host policy
(:func:`router.core.moves.answer_moved`), then the rest as for a Renew
(:meth:`Extension.rebind_ia`).

Bindings extended: the lifetimes restart from now (their pool's, their
reservation's, or as granted by the anchor), the route follows the client
only with evidence (:mod:`router.core.next_hop`); an empty IA_PD gets its
existing bindings; a binding this server can no longer extend (its pool or
reservation is gone from the configuration) comes back with lifetimes 0 and
ends; a GRACEFUL_REPLACEMENT prefix held in ``grace`` is shown with what it
has left.

**Unknown IA policy.** For a listed prefix with no binding here and none for
it in the shared store: one this server could delegate to this client (one
of its pool's prefixes of the type asked, free, not reserved for another
client) is re-created — the server lost its state; any other comes back with
lifetimes 0 (RFC 8415 §18.3.4, §18.3.5: not appropriate for this link); an
IA_PD left with nothing (empty, or only ``::/L`` hints) gets NoBinding, and
the client goes back to Request/Solicit (§18.2.10.1). Renew and Rebind never
create a binding from a length-only hint.
"""

from __future__ import annotations

from ipaddress import IPv6Network

from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import IAPD, IAPrefix, StatusCode
from router.core.bindings import BindingState
from router.core.grants import Grants, asked
from router.core.leases import Leases
from router.core.moves import answer_moved
from router.core.next_hop import NextHops
from router.core.replies import Ctx, IaAnswer, Replies

__all__ = ["Extension"]

_ACTIVE = BindingState.ACTIVE
_GRACE = BindingState.GRACE


class Extension:
    """Renew and Rebind for one interface's server (module docstring);
    ``grace_limit``: ``graceful_replacement_grace`` (seconds)."""

    def __init__(self, leases: Leases, grants: Grants, next_hops: NextHops,
                 replies: Replies, grace_limit: int) -> None:
        self.leases = leases
        self.grants = grants
        self.next_hops = next_hops
        self.replies = replies
        self.grace_limit = grace_limit

    def renew_ia(self, ctx: Ctx, ia: IAPD) -> IaAnswer:
        """Answer one IA_PD of a Renew (RFC 8415 §18.3.4)."""
        a = IaAnswer(ia.iaid, [])
        handled: set[IPv6Network] = set()
        listed = self._listed(ia, a)
        self._extend_held(ctx, ia, a, handled)
        self._unknown(ctx, ia, listed, a, handled)
        return a

    def rebind_ia(self, ctx: Ctx, ia: IAPD) -> IaAnswer:
        """Answer one IA_PD of a Rebind (RFC 8415 §18.3.5): the prefixes of a
        host that moved here first (:mod:`router.core.moves`), then as a Renew."""
        a = IaAnswer(ia.iaid, [])
        handled: set[IPv6Network] = set()
        listed = self._listed(ia, a)
        answer_moved(self.leases, self.grants, self.replies, self.grace_limit, ctx, ia,
                     listed, a, handled)
        self._extend_held(ctx, ia, a, handled)
        self._unknown(ctx, ia, listed, a, handled)
        return a

    def _listed(self, ia: IAPD, a: IaAnswer) -> dict[IPv6Network, IAPrefix]:
        """The prefixes the IA_PD lists (length-only hints left out); one
        with host bits set is not ours to extend: lifetimes 0 at once."""
        listed: dict[IPv6Network, IAPrefix] = {}
        for p in ia.prefixes:
            if p.prefix.is_unspecified or p.prefix_length == 0:
                continue
            try:
                listed.setdefault(IPv6Network((p.prefix, p.prefix_length)), p)
            except ValueError:
                a.prefixes.append(self.replies.zero(p))
        return listed

    def _extend_held(self, ctx: Ctx, ia: IAPD, a: IaAnswer, handled: set) -> None:
        """Extend this IA's bindings on this interface not answered yet."""
        leases = self.leases
        ifname = leases.ifname
        for b in list(leases.table.client(ctx.duid, ia.iaid)):
            if b.prefix in handled or b.interface != ifname:
                continue
            if b.state is _ACTIVE:
                handled.add(b.prefix)
                if self.next_hops.refresh(b, ctx):
                    self.replies.add(a, b, ctx.wall)
                else:
                    a.prefixes.append(self.replies.iaprefix(b, 0, 0))
                    leases.end(b, "expired")
            elif b.state is _GRACE:
                handled.add(b.prefix)
                self.replies.add(a, b, ctx.wall)

    def _unknown(self, ctx: Ctx, ia: IAPD, listed: dict, a: IaAnswer, handled: set) -> None:
        """The unknown IA policy (module docstring) for the listed prefixes
        not answered yet; NoBinding when the IA_PD is left with nothing."""
        _typed, mt, _ = asked(ia)
        for net, p in listed.items():
            if net in handled:
                continue
            handled.add(net)
            b = self.grants.recreate(ctx, ia.iaid, net, mt)
            if b is not None:
                self.replies.add(a, b, ctx.wall)
            else:
                a.prefixes.append(self.replies.zero(p))
        if not a.prefixes:
            a.status = StatusCode(SC.NO_BINDING, "no binding for this IA_PD")
