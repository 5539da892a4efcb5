"""What the host does with its addresses and leases after a move, per
mobility type (RFC 8653 §3.2, §4.2; DESIGN §2 "No Reconfigure"), sans-I/O.

A *move* is a change of the link the host is attached to (RFC 8653 §4.2): the
carrier comes back (:func:`link_changed`, from :meth:`HostCore.link_up`), or a
new default router advertises on the link without a carrier change, e.g.
behind a switch (:func:`router_seen`, RFC 6059 spirit). The host cannot know
whether the new link is served by the same router, so it asks: it forgets the
routers, solicits an RA at once, and Rebinds every delegated prefix at once
with the Confirm's retransmission parameters (RFC 8415 §18.2.12). The host never decides the fate of
a delegated prefix itself — **the router now on the link decides, per type,
and the host obeys the lifetimes in its Reply** (there is no Reconfigure).

:data:`AFTER_MOVE` is the table, one row per type:

============================  ==========================  =====================================
type (RFC 8653 §3.2)          on-link address (RA/SLAAC)  delegated prefix (DHCPv6-PD)
============================  ==========================  =====================================
FIXED                         deprecated (no new use),    Rebind; the router extends it and keeps
                              kept until its valid        it routed to the host ("valid for a
                              lifetime ends (the new      very long time ... moved")
                              link's RA may refresh it)
SESSION_LASTING               deprecated, kept until its  Rebind; the router extends it while a
                              valid lifetime ends         socket uses it ("even across a move")
NON_PERSISTENT                **dropped at once**: no     Rebind; the router answers lifetimes 0
                              router answers for it       ("no guarantee after a move"): the
                              after a move; the next RA   prefix is removed at once (PrefixRemoved
                              of this link forms it       "lifetime-0") and its address goes
                              again
GRACEFUL_REPLACEMENT          deprecated, kept until its  Rebind; the router answers preferred 0
                              valid lifetime ends         and a short valid lifetime next to a new
                                                          prefix: deprecated (no new use), its
                                                          sockets told the deadline
                                                          (``graceful-deadline``), gone when
                                                          the valid lifetime ends
untyped (legacy)              deprecated, kept until its  Rebind; the router decides (RFC 8415)
                              valid lifetime ends
============================  ==========================  =====================================

Where each step happens: the on-link drop in :func:`link_changed` (here);
the Rebind in :meth:`host.core.pd_client.PdClient.rebind_all`
(ExchangeKind.REBIND_AFTER_MOVE); a lifetime of 0 in the Reply removes the
prefix in :meth:`host.core.pd_receive.PdReceiver._bind`, and
:meth:`host.core.host.HostCore._address_gone` removes the address and tells
its sockets (``address-gone``); a preferred lifetime of 0 deprecates it
(:func:`deprecation_notice` words the notice). A carrier loss alone
(:func:`link_lost`) keeps every binding: the host may come back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from host.core.events import AppNotification
from odm_wire.constants import MobilityType

__all__ = ["AFTER_MOVE", "AfterMove", "Delegated", "OnLink", "deprecation_notice",
           "link_changed", "link_lost", "router_seen"]


class OnLink(enum.Enum):
    """What a move does to an address formed from an on-link (RA) prefix."""

    #: removed at once, its sockets told (``address-gone``, reason "moved")
    DROP = "drop"
    #: deprecated (preferred lifetime 0: no new use, RFC 4862 §5.5.4; its
    #: sockets told ``address-deprecated``) and kept until its valid lifetime
    #: ends, unless an RA of the new link advertises its prefix again
    DEPRECATE = "deprecate"


class Delegated(enum.Enum):
    """What a move does to a delegated prefix (DHCPv6-PD)."""

    #: Rebind (RFC 8415 §18.2.12) and obey the lifetimes of the Reply
    REBIND = "rebind"


@dataclass(frozen=True)
class AfterMove:
    """One row of :data:`AFTER_MOVE`: what happens to an on-link address and
    to a delegated prefix of a type, and what the new router is expected to
    answer to the Rebind (for the log and the reader)."""

    on_link: OnLink
    delegated: Delegated
    router_answers: str


#: mobility type (None: untyped) → what a move does (module docstring)
AFTER_MOVE: dict[MobilityType | None, AfterMove] = {
    MobilityType.FIXED: AfterMove(OnLink.DEPRECATE, Delegated.REBIND,
                                  "extended, still routed to the host"),
    MobilityType.SESSION_LASTING: AfterMove(OnLink.DEPRECATE, Delegated.REBIND,
                                            "extended while a socket uses it"),
    MobilityType.NON_PERSISTENT: AfterMove(OnLink.DROP, Delegated.REBIND,
                                           "lifetimes 0: removed at once"),
    MobilityType.GRACEFUL_REPLACEMENT: AfterMove(
        OnLink.DEPRECATE, Delegated.REBIND,
        "preferred 0, a short valid lifetime: deprecated until it ends"),
    None: AfterMove(OnLink.DEPRECATE, Delegated.REBIND, "as the router decides"),
}


def link_changed(core, now: float, address_gone) -> None:
    """The carrier came back on ``core``'s interface (a
    :class:`host.core.host.HostCore`): the host may be on another link
    (RFC 8653 §4.2). Forget the routers of the previous link (their default
    routes go), its DHCPv6 servers (``odm host status`` lists those of the
    current link) and the trust filter's per-link learning, send an RS at once,
    drop the on-link prefixes of the types :data:`AFTER_MOVE` drops —
    ``address_gone(prefix, reason)`` removes each one's address and tells its
    sockets — and Rebind every delegated prefix (every type's row says
    REBIND), at once unless ``move_rebind_delay`` is set
    (:meth:`~host.core.pd_client.PdClient.rebind_all` says why).

    When the carrier loss was seen (:func:`link_lost`), what was heard since
    belongs to the new link: nothing crosses a link without carrier. The new
    link's RA may be read before the carrier-up notice (they come on different
    sockets); its default route and the prefixes it advertised stay. Without a
    seen loss (the notice was missed), everything the host knew goes."""
    lost, core.carrier_lost_at = core.carrier_lost_at, None
    if lost is None:
        core.ra.forget_routers()
        core.link_routers.clear()
        core.trust.forget_links()
        core.pd.forget_servers()
    core.ra.solicit_now(now)
    for t, row in AFTER_MOVE.items():
        if row.on_link is OnLink.DROP and t is not None:
            for net in core.ra.forget_prefixes(t, heard_before=lost):
                address_gone(net, "moved")
        elif row.on_link is OnLink.DEPRECATE:
            _deprecate_old_link(core, t, lost, now)
    core.pd.rebind_all(now, delay=core.config.move_rebind_delay)


def _deprecate_old_link(core, t, heard_before: float | None, now: float) -> None:
    """No new use of the on-link addresses of type ``t`` from the previous
    link: their prefixes may not be on this one (RFC 6059: a new attachment
    invalidates what the host learnt of the old link), and source address
    selection (RFC 6724 rule 8, longest match) would still pick such an
    address for a new connection that a router of this link drops as a
    foreign source (BCP 38). Deprecated, not removed: a socket that uses one
    goes on while it can, and an RA of this link that advertises the prefix
    again makes it preferred again (RFC 4862 §5.5.3 e)."""
    for net, p in core.ra.prefixes.items():
        if p.mobility_type is not t or (heard_before is not None and p.heard_at >= heard_before):
            continue
        p.preferred_until = min(p.preferred_until, now)
        a = core.addrs.deprecate(net, now)
        if a is not None and a.refs:
            core._events.append(AppNotification(tuple(sorted(a.refs)),
                                                deprecation_notice(a, a.valid_until, now)))


def link_lost(core, now: float) -> None:
    """Carrier lost: the routers and servers of this link are no longer
    reachable; forget them (RouterExpired each, their default routes go). Bindings
    stay: the host may come back, or Rebind at the next router."""
    core.carrier_lost_at = now
    core.ra.forget_routers()
    core.link_routers.clear()
    core.trust.forget_links()
    core.pd.forget_servers()


def router_seen(core, router, lifetime: int, now: float) -> None:
    """A router advertises on the link. One not seen since the last carrier
    change, when another was seen before and it offers itself as a default
    router (RFC 6059 spirit: a different router is a hint of a move without
    a carrier change, e.g. behind an L2 switch): Rebind every delegated
    prefix, unless a Rebind started for this link change already. On-link
    addresses stay: their prefixes' RAs may still come."""
    if router in core.link_routers:
        return
    first = not core.link_routers
    core.link_routers.add(router)
    if first:
        return  # the first router after start or after a carrier change: nothing moved
    if lifetime == 0:
        return  # not a default router: no sign of a new attachment
    core.trust.forget_links()
    core.pd.forget_servers()
    core.pd.rebind_all(now, delay=core.config.move_rebind_delay)


def deprecation_notice(address, valid_until: float | None, now: float) -> dict:
    """The notice to the sockets of an address whose prefix was deprecated
    (preferred lifetime 0): for GRACEFUL_REPLACEMENT, whose old and new
    prefixes overlap after a move (RFC 8653 §3.2), the deadline of the grace
    period (``graceful-deadline``); for the others ``address-deprecated``."""
    t = address.mobility_type
    return {"event": "graceful-deadline" if t == MobilityType.GRACEFUL_REPLACEMENT
            else "address-deprecated",
            "address": str(address.address), "type": t.cli_name if t else None,
            "valid_for": None if valid_until is None else round(max(0.0, valid_until - now), 3)}
