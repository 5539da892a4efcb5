"""Events the router core reports to its adapter, drained with ``next_event()``.

Small frozen dataclasses, one per happening (aioquic style). Times are
seconds; prefixes are :class:`ipaddress.IPv6Network`; ``duid`` is the client's
DUID in wire octets. The adapter acts on them: install or remove the route of a
delegated prefix, tunnel a prefix anchored elsewhere (issue 5), exit after the
final RAs.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

from odm_wire.constants import MobilityType

__all__ = [
    "BindingMovedHere",
    "Event",
    "MovedBindingEnded",
    "PrefixDelegated",
    "PrefixReleased",
    "PrefixRenewed",
    "RaShutdownComplete",
]


class Event:
    """Base of router core events."""


@dataclass(frozen=True)
class _BindingEvent(Event):
    """A binding's prefix and what routing it needs (the fields of the two
    events below)."""

    prefix: IPv6Network
    duid: bytes
    iaid: int
    mobility_type: MobilityType | None
    """None for a legacy (untyped) client"""
    client_ll: IPv6Address | None
    interface: str
    preferred_lifetime: int
    valid_lifetime: int
    """seconds, as granted"""


@dataclass(frozen=True)
class PrefixDelegated(_BindingEvent):
    """A prefix was committed to a client (Request, Rapid-Commit Solicit, or a
    Renew/Rebind that re-created a binding): route ``prefix`` via
    ``client_ll`` on ``interface``."""


@dataclass(frozen=True)
class PrefixRenewed(_BindingEvent):
    """An existing binding was extended (Renew, Rebind, repeated Request).
    ``client_ll`` may have changed: replace the route."""


@dataclass(frozen=True)
class PrefixReleased(Event):
    """A binding ended: remove the route of ``prefix``. ``reason`` is
    ``"release"``, ``"decline"``, ``"expired"``, ``"replaced"`` (the client
    asked another type on the same IAID), ``"moved"`` (another router now
    serves it) or ``"ended-elsewhere"`` (the shared store has no record of
    it any more: the router the host moved to ended it, or it was released
    there)."""

    prefix: IPv6Network
    client_ll: IPv6Address | None
    interface: str
    reason: str


@dataclass(frozen=True)
class BindingMovedHere(Event):
    """A host Rebound here with a prefix another router served, which this
    router now keeps routed to ``client_ll`` for ``valid_lifetime`` seconds
    (and the anchor forwards here). Which types do, and for how long, is the
    moved-host policy of :mod:`router.core.moves`."""

    prefix: IPv6Network
    anchor: str
    """router id of the router that delegated the prefix"""
    client_ll: IPv6Address | None
    mobility_type: MobilityType | None
    interface: str
    duid: bytes
    iaid: int
    valid_lifetime: int


@dataclass(frozen=True)
class MovedBindingEnded(Event):
    """A host Rebound here with a prefix ``served_by`` (another router)
    served, which this router ended (the moved-host policy of
    :mod:`router.core.moves`: its record is deleted). The adapter tells
    ``served_by`` so it drops its copy without waiting for its next look at
    the store (:meth:`~router.core.dhcp_server.DhcpServer.follow_store`)."""

    prefix: IPv6Network
    served_by: str
    anchor: str


@dataclass(frozen=True)
class NextHopCheck(Event):
    """A client message for a binding whose next hop is ``next_hop`` came from
    another address on ``interface``: the route stays until the adapter finds
    ``next_hop`` no longer answers neighbour discovery (RFC 4861 §7.3.3:
    its neighbour entry FAILED, INCOMPLETE or gone) and reports it with
    :meth:`~router.core.dhcp_server.DhcpServer.next_hop_unreachable`."""

    interface: str
    next_hop: IPv6Address


@dataclass(frozen=True)
class RaShutdownComplete(Event):
    """The final RAs (router lifetime 0) of ``interface`` have all been handed
    out by ``datagrams_to_send()``; the adapter may close the interface."""

    interface: str
