"""Events the host core hands its adapter through ``next_event()``.

Small frozen dataclasses, one per happening (aioquic style). Prefixes are
:class:`ipaddress.IPv6Network`, addresses :class:`ipaddress.IPv6Address`,
lifetimes in seconds as granted (0xffffffff = infinity), absolute times are
the core's monotonic ``now`` clock. ``mobility_type`` is a
:class:`~odm_wire.constants.MobilityType` or None for an untyped (legacy) prefix.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from ipaddress import IPv6Address, IPv6Network
from typing import Any

from odm_wire.constants import MobilityType

MType = MobilityType | None


class FailureReason(enum.Enum):
    """Why an acquisition failed; the values are the spec's setsc() errors
    (draft-ietf-dmm-ondemand-mobility §6.1)."""

    NOTSUPPORTED = "EAI_REQUIREDIPNOTSUPPORTED"  #: the network does not offer the type
    FAILED = "EAI_REQUIREDIPFAILED"              #: it offers it but could not deliver
    #: the host's own policy refused the caller (host/core/policy.py); nothing was
    #: asked of the network. Not one of the spec's codes: odm's own.
    DENIED = "ODM_POLICY_DENIED"


class Event:
    """Base of all host-core events."""

    def describe(self) -> str:
        """One log line: the event's name and its fields as ``key=value``,
        addresses and prefixes in full, types by their RFC 8653 names, IAIDs in
        0x hex and DUIDs in colon hex as Wireshark shows them, lifetimes in
        seconds; core-clock instants are left out (they mean nothing to a
        reader)."""
        parts = []
        for f in fields(self):  # type: ignore[arg-type]
            k, v = f.name, getattr(self, f.name)
            if k.endswith("_until") or (isinstance(v, (dict, tuple)) and not v):
                continue
            key = {"mobility_type": "type", "preferred_lifetime": "preferred",
                   "valid_lifetime": "valid"}.get(k, k).replace("_", "-")
            if isinstance(v, bool):
                if v:
                    parts.append(key)
                continue
            if k == "mobility_type":
                v = v.name if isinstance(v, MobilityType) else ("untyped" if v is None else v)
            elif k == "iaid":
                v = f"0x{v:08x}"
            elif isinstance(v, bytes):
                if not v:
                    continue
                v = v.hex(":")
            elif isinstance(v, enum.Enum):
                v = v.value
            elif k.endswith("_lifetime"):
                v = "infinity" if v == 0xFFFFFFFF else f"{v}s"
            elif isinstance(v, tuple):
                v = ",".join(x.name if isinstance(x, MobilityType) else str(x) for x in v)
            elif isinstance(v, dict):
                continue
            parts.append(f"{key}={v}")
        return f"{type(self).__name__}: " + " ".join(parts)


# ------------------------------------------------------------- DHCPv6-PD --
@dataclass(frozen=True)
class PrefixBound(Event):
    """A delegated prefix was bound (Reply to Request, or Rapid Commit)."""

    prefix: IPv6Network
    mobility_type: MType
    preferred_lifetime: int
    valid_lifetime: int
    iaid: int
    server_duid: bytes = b""


@dataclass(frozen=True)
class PrefixRenewed(Event):
    """A bound prefix's lifetimes were refreshed by a Reply to Renew/Rebind/Request."""

    prefix: IPv6Network
    mobility_type: MType
    preferred_lifetime: int
    valid_lifetime: int
    iaid: int
    server_duid: bytes = b""


@dataclass(frozen=True)
class PrefixDeprecated(Event):
    """The prefix's preferred lifetime is over (or the server set it to 0,
    GRACEFUL_REPLACEMENT after a move): no new use; it stays valid until
    ``valid_until`` (core clock, None = never)."""

    prefix: IPv6Network
    mobility_type: MType
    iaid: int
    valid_until: float | None


@dataclass(frozen=True)
class PrefixExpired(Event):
    """The prefix's valid lifetime ran out (RFC 8415 §18.2.10.1); it is gone."""

    prefix: IPv6Network
    mobility_type: MType
    iaid: int


@dataclass(frozen=True)
class PrefixRemoved(Event):
    """The prefix was dropped before expiry: ``reason`` is ``"released"``,
    ``"lifetime-0"`` (server sent valid lifetime 0) or ``"discarded"``."""

    prefix: IPv6Network
    mobility_type: MType
    iaid: int
    reason: str


@dataclass(frozen=True)
class RequestFailed(Event):
    """An acquisition of a type (None: legacy) was refused or gave up.

    ``final`` is False when the client keeps trying by itself (RFC 8415 keeps
    soliciting); the setsc layer decides whether anyone still wants it."""

    mobility_type: MType
    reason: FailureReason
    detail: str
    iaid: int
    final: bool = False


@dataclass(frozen=True)
class ServerSeen(Event):
    """A valid Advertise or Reply from a server: its DUID, source address and the
    odm SUPPORTED_TYPES it announced (None: no odm option)."""

    server_duid: bytes
    address: IPv6Address
    supported_types: tuple[MobilityType, ...] | None


# ------------------------------------------------------------------- RA --
@dataclass(frozen=True)
class RouterSeen(Event):
    """A valid RA from ``router`` (link-local). ``new``: the router was not in
    the router list (never seen, or forgotten); ``lifetime`` 0 = not a default
    router (RFC 4861 §6.3.4). ``changed``: new, or its lifetime or M/O flags
    differ from its previous RA (the agent logs those at INFO, repeats at
    DEBUG)."""

    router: IPv6Address
    lifetime: int
    new: bool
    managed: bool = False
    other: bool = False
    changed: bool = True


@dataclass(frozen=True)
class RouterExpired(Event):
    """A router left the list (its lifetime, or the memory of a lifetime-0
    router, ran out)."""

    router: IPv6Address


@dataclass(frozen=True)
class OnLinkPrefix(Event):
    """A PIO accepted for SLAAC (RFC 4862 §5.5.3), with its type from the flag
    octet's low bits (None: no type stated)."""

    prefix: IPv6Network
    mobility_type: MType
    preferred_lifetime: int
    valid_lifetime: int
    router: IPv6Address


@dataclass(frozen=True)
class RaRejected(Event):
    """An RA dropped by RFC 4861 §6.1.2 validation (``reason``)."""

    source: IPv6Address
    reason: str


# ------------------------------------------------------------ addresses --
@dataclass(frozen=True)
class AddressAdded(Event):
    """Install ``address/prefix_length`` on the interface with kernel lifetimes
    (IFA_CACHEINFO, seconds, 0xffffffff = forever). ``nodad``: IFA_F_NODAD
    (the prefix is unique to this host); ``noprefixroute``: IFA_F_NOPREFIXROUTE."""

    address: IPv6Address
    prefix_length: int
    mobility_type: MType
    preferred_lifetime: int
    valid_lifetime: int
    nodad: bool
    noprefixroute: bool
    prefix: IPv6Network
    source: str  #: "dhcpv6-pd" or "ra"


@dataclass(frozen=True)
class AddressUpdated(AddressAdded):
    """New lifetimes for an installed address (same fields as AddressAdded)."""


@dataclass(frozen=True)
class AddressRemoved(Event):
    """Remove the address from the interface."""

    address: IPv6Address
    prefix_length: int
    mobility_type: MType
    reason: str


# ---------------------------------------------------------------- setsc --
@dataclass(frozen=True)
class SetscCompleted(Event):
    """Answer to the setsc() request ``request_id``: an address, or an error."""

    request_id: int
    address: IPv6Address | None
    error: FailureReason | None = None
    detail: str = ""


@dataclass(frozen=True)
class AppNotification(Event):
    """A message for the applications holding ``owners`` (API connections):
    ``{"event": "address-gone" | "graceful-deadline" | "address-deprecated", ...}``."""

    owners: tuple[int, ...]
    message: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class ReleaseDecided(Event):
    """The last reference to ``address`` ended; ``action`` is "release" or "keep"."""

    address: IPv6Address
    mobility_type: MType
    action: str
