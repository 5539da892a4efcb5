"""The records of the DHCPv6-PD client (RFC 8415 §18.2, §15), sans-I/O: where
an IA_PD stands (:class:`IaState`), the kinds of message exchange it runs
(:class:`ExchangeKind`), its delegated prefixes (:class:`Lease`), the IA_PD
itself (:class:`IaPd`) and one exchange under way (:class:`Exchange`). The
transitions between the states are in :mod:`host.core.pd_transitions`."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network

from host.core.events import MType
from host.core.retransmit import Retransmitter
from odm_wire.constants import INFINITY, MessageType
from odm_wire.dhcp6 import Duid, IAPrefix

__all__ = ["Exchange", "ExchangeKind", "IaPd", "IaState", "Lease"]


class IaState(enum.Enum):
    """Where one IA_PD stands."""

    SOLICITING = "soliciting"
    REQUESTING = "requesting"
    BOUND = "bound"
    RENEWING = "renewing"
    REBINDING = "rebinding"
    RELEASING = "releasing"
    IDLE = "idle"


class ExchangeKind(enum.Enum):
    """The client-initiated message exchanges (RFC 8415 §18.2), each with the
    message it sends (:attr:`message`). Two Requests and two Rebinds differ in
    what happens when they fail:

    - ``REQUEST``: after an Advertise, or straight to a known server; the
      IA_PD holds no prefix yet (state REQUESTING): failure → Solicit again;
    - ``REQUEST_BINDING``: after a Renew or Rebind answered NoBinding
      (§18.2.10.1); the IA_PD keeps its prefixes meanwhile (state BOUND):
      failure → keep them, Renew/Rebind at T1/T2 again;
    - ``REBIND``: at T2 (§18.2.5), until the valid lifetimes end;
    - ``REBIND_AFTER_MOVE``: after a possible link change or a restart, with
      Confirm-like timing (§18.2.12: CNF_MAX_DELAY, CNF_TIMEOUT, CNF_MAX_RT,
      CNF_MAX_RD); when that runs out, an ordinary ``REBIND`` follows.
    """

    SOLICIT = MessageType.SOLICIT
    REQUEST = MessageType.REQUEST
    REQUEST_BINDING = (MessageType.REQUEST, "binding")
    RENEW = MessageType.RENEW
    REBIND = MessageType.REBIND
    REBIND_AFTER_MOVE = (MessageType.REBIND, "move")
    RELEASE = MessageType.RELEASE

    @property
    def message(self) -> MessageType:
        """The msg-type this exchange sends."""
        v = self.value
        return v[0] if isinstance(v, tuple) else v


@dataclass
class Lease:
    """One delegated prefix held by an IA_PD. Lifetimes in seconds as granted;
    ``*_until`` on the core clock (``math.inf`` for infinity)."""

    prefix: IPv6Network
    mobility_type: MType
    preferred_lifetime: int
    valid_lifetime: int
    obtained: float
    preferred_until: float
    valid_until: float
    deprecated: bool = False

    def remaining(self, now: float) -> tuple[int, int]:
        """(preferred, valid) seconds left, 0xffffffff for infinity, rounded down."""
        def left(until: float) -> int:
            if until == math.inf:
                return INFINITY
            return max(0, min(INFINITY - 1, int(until - now)))
        return left(self.preferred_until), left(self.valid_until)


@dataclass
class IaPd:
    """One IA_PD: IAID, the type it asks for (None: legacy, no type sent), its
    leases, the server that granted them and its T1/T2 (core clock)."""

    iaid: int
    mobility_type: MType
    state: IaState = IaState.SOLICITING
    leases: dict[IPv6Network, Lease] = field(default_factory=dict)
    server_duid: Duid | None = None
    server_address: IPv6Address | None = None
    t1_at: float = math.inf
    t2_at: float = math.inf
    exchange: Exchange | None = None
    #: Keep acquiring it when it has no prefix (legacy and boot types do).
    persistent: bool = False
    created: float = 0.0
    #: whose share of the §14.1 send budget its messages use (a uid; None: the agent's)
    share: int | None = None


@dataclass
class Exchange:
    """One client-initiated message exchange (RFC 8415 §15)."""

    kind: ExchangeKind
    xid: int
    ia: IaPd
    rt: Retransmitter
    send_at: float
    server_duid: Duid | None = None
    hints: tuple[IAPrefix, ...] = ()
    rapid_commit: bool = False
    collect_until: float | None = None
    advertises: list = field(default_factory=list)
    refused_reported: bool = False

    @property
    def started(self) -> bool:
        return self.rt.started is not None

    @property
    def message(self) -> MessageType:
        return self.kind.message
