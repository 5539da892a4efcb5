"""Release and Decline: a client gives prefixes back (RFC 8415 §18.3.7,
§18.3.8).

The Reply carries Status Success; an IA_PD with no binding here (or naming
only prefixes it does not hold) gets NoBinding, and so does every IA_NA (odm
delegates no addresses). Released bindings end at once, their prefixes back
in the pool. A declined prefix of this router's pools is quarantined for
``decline_probation_period``, held by nobody, as Kea does with declined
leases; any other declined prefix (a reservation, one anchored elsewhere)
simply ends. The Server Identifier is checked by the dispatcher
(:mod:`router.core.dhcp_server`).
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv6Network

from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import IANA, IAPD, Reply, StatusCode
from router.core.bindings import Binding, BindingState
from router.core.leases import Leases
from router.core.replies import Ctx, Replies

__all__ = ["decline", "release"]


def _returned(leases: Leases, ctx: Ctx, opts: list) -> Iterator[Binding]:
    """The bindings a Release or Decline names (each IA_PD's bindings here,
    or those of its listed prefixes); an IA_PD with none gets NoBinding in
    ``opts``. Yields one IA_PD's bindings before it looks at the next, so an
    IAID listed twice is given back once."""
    for ia in ctx.msg.ia_pds:
        mine = [b for b in leases.table.client(ctx.duid, ia.iaid)
                if b.state is not BindingState.DECLINED and b.interface == leases.ifname]
        if not mine:
            opts.append(IAPD(ia.iaid, 0, 0, (StatusCode(SC.NO_BINDING,
                                                        "no binding for this IA_PD"),)))
            continue
        listed = set()
        for p in ia.prefixes:
            try:
                listed.add(IPv6Network((p.prefix, p.prefix_length)))
            except ValueError:
                pass
        yield from (b for b in mine if not listed or b.prefix in listed)


def _no_ia_na(ctx: Ctx, opts: list) -> Reply:
    for ia in ctx.msg.get_all(IANA):
        opts.append(IANA(ia.iaid, 0, 0, (StatusCode(SC.NO_BINDING,
                                                    "no binding for this IA_NA"),)))
    return Reply(ctx.msg.transaction_id, tuple(opts))


def release(leases: Leases, replies: Replies, ctx: Ctx) -> Reply:
    """The Reply to a Release; the bindings it names end."""
    opts = [*replies.ids(ctx), StatusCode(SC.SUCCESS, "Release processed")]
    for b in _returned(leases, ctx, opts):
        leases.end(b, "release")
    return _no_ia_na(ctx, opts)


def decline(leases: Leases, replies: Replies, ctx: Ctx, until: float) -> Reply:
    """The Reply to a Decline; the prefixes it names of this router's pools
    are quarantined until ``until`` (wall clock), the others end."""
    opts = [*replies.ids(ctx), StatusCode(SC.SUCCESS, "Decline processed")]
    for b in _returned(leases, ctx, opts):
        if b.anchor == leases.router_id and b.pool is not None:
            leases.quarantine(b, until)
        else:
            leases.end(b, "decline")
    return _no_ia_na(ctx, opts)
