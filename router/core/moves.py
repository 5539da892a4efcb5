"""The moved-host policy: what a router answers a host that moved here.

This docstring is odm's one description of the policy; the README and
DESIGN point here, the host obeys what it is told (lifetime 0 removes an
address, RFC 8415 §18.2.10.1), and the data plane that keeps a prefix routed
to its moved host lives in :mod:`router.dataplane.moves`.

On-Demand Mobility (RFC 8653 §3.2, §6.1; the type travels in DHCPv6 as
draft-moses-dmm-dhcp-ondemand-mobility carries it, DESIGN §2) gives every prefix a mobility type
and with it a promise about what happens to its addresses when the host
moves to another access router. There is no Reconfigure (DESIGN §2): after a
move the host Rebinds (RFC 8415 §18.2.5, a Rebind reaches every server on
the new link), and the new router answers each prefix of the Rebind that the
shared lease store (``anchor``: the router that delegated it; ``served_by``:
the router the host is attached to) shows served by another router, looked up
by (DUID, IAID) or by the prefix listed in the IA_PD, per type:

=========================== ==================================================
NON_PERSISTENT, untyped     :attr:`MoveAction.END` — not valid on this link any
                            more (RFC 8653 §3.2: no guarantee after a move,
                            replaced by the new gateway's prefix; a legacy
                            client's prefix is given no more): the old prefix
                            comes back with lifetimes 0, its record is
                            deleted, and a new prefix of the same type from
                            this router's pool joins the IA_PD.
GRACEFUL_REPLACEMENT        :attr:`MoveAction.GRACE` — the old prefix comes
                            back with preferred lifetime 0 and valid lifetime
                            ``graceful_replacement_grace`` (at most what it
                            had left), held here in state ``grace``, next to a
                            new prefix of the same type: old and new overlap
                            for the grace period (RFC 8653 §3.2).
SESSION_LASTING, FIXED      :attr:`MoveAction.KEEP` — extended with the
                            lifetimes it was granted and served from here
                            from now on (``served_by``) while ``anchor`` keeps
                            naming the router that delegated it; the core
                            reports :class:`~router.core.events.BindingMovedHere`
                            so the adapter routes it to the host and the
                            anchor forwards it here (RFC 8653 §3.2: valid
                            across moves; the data plane is odm's, DESIGN §4).
=========================== ==================================================

The table is :data:`MOVE_ACTIONS`; :func:`answer_moved` carries it out for
one IA_PD of a Rebind (:mod:`router.core.renew_rebind`), through the named
changes of :class:`~router.core.leases.Leases` (``serve_moved``,
``grace_moved``, ``end_moved``). A Renew is addressed to the server that
holds the binding (RFC 8415 §18.3.4) and never takes this path; a declined
prefix is never moved. ``moved-here-pds`` counts the prefixes answered here.

**The router the host left** (RFC 8653 §3.2: a NON_PERSISTENT prefix has no
guarantee after a move) learns what the new router did from the shared
store, not from the host: its adapter hands
:meth:`~router.core.dhcp_server.DhcpServer.follow_store` the store's records
of the bindings it serves of clients whose prefixes moved away (and of
prefixes a nudge named: :class:`~router.core.events.MovedBindingEnded` has
the new router's adapter nudge it when it ENDs one). A binding gone from the
store leaves memory, pool and route (``ended-elsewhere-pds``; it did not
expire, so not ``reclaimed-leases``); one served elsewhere now is counted
``moved-away-pds`` and, anchored here, says ``served_by`` the new router as
the store does (the anchor's redirect replaced its route), or, anchored
elsewhere, goes (:meth:`~router.core.leases.Leases.follow_store`).
"""

from __future__ import annotations

import logging
from enum import Enum
from ipaddress import IPv6Network

from odm_wire.constants import MobilityType
from odm_wire.dhcp6 import IAPD
from router.core.bindings import Binding, BindingState, remaining
from router.core.grants import Grants
from router.core.leases import Leases
from router.core.replies import Ctx, IaAnswer, Replies

__all__ = ["MOVE_ACTIONS", "MoveAction", "answer_moved"]

log = logging.getLogger("router.dhcp")


class MoveAction(Enum):
    """What a router does with a prefix of a host that moved here."""

    KEEP = "keep"
    """extended and served from here; the anchor keeps it routed to the host"""
    GRACE = "grace"
    """preferred 0, valid for the grace period, next to a new prefix"""
    END = "end"
    """lifetimes 0, record deleted, a new prefix instead"""


#: The moved-host policy (module docstring): mobility type (None: a legacy
#: client's untyped prefix) -> action.
MOVE_ACTIONS: dict[MobilityType | None, MoveAction] = {
    MobilityType.FIXED: MoveAction.KEEP,
    MobilityType.SESSION_LASTING: MoveAction.KEEP,
    MobilityType.GRACEFUL_REPLACEMENT: MoveAction.GRACE,
    MobilityType.NON_PERSISTENT: MoveAction.END,
    None: MoveAction.END,
}


def moved_records(leases: Leases, ctx: Ctx, ia: IAPD, listed: dict) -> list[Binding]:
    """The shared store's records of this IA_PD (by DUID and IAID, and by
    each listed prefix of the same client) served by another router."""
    store = leases.store
    recs = {r.prefix: r for r in store.find_client(ctx.duid, ia.iaid)}
    for net in listed:
        if net not in recs:
            r = store.find_prefix(net)
            if r is not None and r.duid == ctx.duid and r.iaid == ia.iaid:
                recs[net] = r
    return [r for r in recs.values()
            if r.served_by != leases.router_id and r.state is not BindingState.DECLINED]


def answer_moved(leases: Leases, grants: Grants, replies: Replies, grace_limit: int,
                 ctx: Ctx, ia: IAPD, listed: dict, a: IaAnswer,
                 handled: set[IPv6Network]) -> None:
    """Answer the prefixes of IA_PD ``ia`` (of a Rebind) that another router
    served, per :data:`MOVE_ACTIONS`, into ``a``; the prefixes answered are
    added to ``handled``. ``grace_limit``: ``graceful_replacement_grace``."""
    ifname = leases.ifname
    need_new: list[MobilityType | None] = []
    for r in moved_records(leases, ctx, ia, listed):
        handled.add(r.prefix)
        mt = r.mobility_type
        action = MOVE_ACTIONS[mt]
        if action is MoveAction.KEEP:
            leases.serve_moved(r, ctx.wall, ctx.client_ll)
            replies.add(a, r, ctx.wall)
            log.info("%s: %s %s anchored at %s moved here (%s)", ifname,
                     mt.cli_name if mt else "untyped", r.prefix, r.anchor, ctx.client_ll)
        elif action is MoveAction.GRACE:
            grace = min(grace_limit, remaining(r.valid_until, ctx.wall))
            leases.grace_moved(r, ctx.wall, ctx.client_ll, grace)
            a.prefixes.append(replies.iaprefix(r, 0, grace))
            need_new.append(mt)
            log.info("%s: graceful-replacement %s of %s: %d s of grace", ifname,
                     r.prefix, r.anchor, grace)
        else:
            leases.end_moved(r, ctx.wall, ctx.client_ll)
            a.prefixes.append(replies.iaprefix(r, 0, 0))
            need_new.append(mt)
            log.info("%s: %s %s of %s ended after a move", ifname,
                     mt.cli_name if mt else "untyped", r.prefix, r.anchor)
    for mt in dict.fromkeys(need_new):
        if any(b.mobility_type == mt and b.state is BindingState.ACTIVE
               for b in leases.table.client(ctx.duid, ia.iaid)):
            continue
        b, _why = grants.grant(ctx, ia.iaid, mt, None)
        if b is not None:
            handled.add(b.prefix)
            replies.add(a, b, ctx.wall)
