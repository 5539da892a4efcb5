"""The records of the DHCPv6-PD client (RFC 8415 §18.2, §15), sans-I/O: where
an IA_PD stands (:class:`IaState`), the kinds of message exchange it runs
(:class:`ExchangeKind`), its delegated prefixes (:class:`Lease`), the IA_PD
itself (:class:`IaPd`) and one exchange under way (:class:`Exchange`). The
transitions between the states are in :mod:`host.core.pd_transitions`."""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network

from host.core import pd_kea
from host.core.events import MType
from host.core.retransmit import Retransmitter
from odm_wire.constants import INFINITY, MessageType, MobilityType, OptionCode
from odm_wire.dhcp6 import (
    IAPD,
    ClientId,
    Duid,
    ElapsedTime,
    IAPrefix,
    OptionRequest,
    RapidCommit,
    Rebind,
    Release,
    Renew,
    Request,
    ServerId,
    Solicit,
    decode_duid,
    encode_dhcp6,
    encode_duid,
    mobility_type_option,
)

__all__ = ["ORO_CODES", "Exchange", "ExchangeKind", "IaPd", "IaState", "Lease"]

#: the PD client has one logger, whichever of its modules speaks
log = logging.getLogger("host.core.pd_client")

#: the options a client asks for (ORO, RFC 8415 §21.7): vendor options (odm)
#: and SOL_MAX_RT
ORO_CODES = (int(OptionCode.VENDOR_OPTS), int(OptionCode.SOL_MAX_RT))
_MESSAGE_CLASS = {MessageType.SOLICIT: Solicit, MessageType.REQUEST: Request,
                  MessageType.RENEW: Renew, MessageType.REBIND: Rebind,
                  MessageType.RELEASE: Release}


def _finite(v: float) -> float | None:
    return None if v == math.inf else v


def _int_or_none(v) -> int | None:
    return None if v is None else int(v)


def _mtype(v) -> MobilityType | None:
    return None if v is None else MobilityType(v)


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
      the Confirm's retransmission parameters (§18.2.12: CNF_TIMEOUT,
      CNF_MAX_RT, CNF_MAX_RD; the first-message delay CNF_MAX_DELAY after a
      restart, after a move only with ``move_rebind_delay``); when that runs
      out, an ordinary ``REBIND`` follows.
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
    leases, the server that granted them and its T1/T2 (core clock).
    :meth:`export` / :meth:`restore`: its form in the state file."""

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

    def export(self) -> dict:
        """Plain data for the state file (host/state.py); times absolute on
        the core clock, None for infinity; ``"acquirer"`` is :attr:`share`."""
        return {
            "iaid": self.iaid, "type": _int_or_none(self.mobility_type),
            "persistent": self.persistent,
            "server_duid": encode_duid(self.server_duid).hex() if self.server_duid else None,
            "server_address": str(self.server_address) if self.server_address else None,
            "acquirer": self.share,
            "leases": [{"prefix": str(le.prefix), "type": _int_or_none(le.mobility_type),
                        "preferred_lifetime": le.preferred_lifetime,
                        "valid_lifetime": le.valid_lifetime, "obtained": le.obtained,
                        "preferred_until": _finite(le.preferred_until),
                        "valid_until": _finite(le.valid_until), "deprecated": le.deprecated}
                       for le in self.leases.values()],
        }

    @classmethod
    def restore(cls, d: dict, now: float, shift: float) -> IaPd | None:
        """The IA_PD :meth:`export` wrote, BOUND, its times moved by
        ``shift``; its prefixes whose valid lifetime ended are dropped, and
        with none left it is None."""
        def t(v):
            return math.inf if v is None else float(v) + shift

        sd: Duid | None = decode_duid(bytes.fromhex(d["server_duid"])) \
            if d.get("server_duid") else None
        ia = cls(int(d["iaid"]), _mtype(d["type"]), state=IaState.BOUND, server_duid=sd,
                 server_address=IPv6Address(d["server_address"])
                 if d.get("server_address") else None,
                 persistent=bool(d["persistent"]), created=now)
        for ld in d["leases"]:
            vu = t(ld["valid_until"])
            if vu <= now:
                log.info("restored prefix %s expired while the agent was down", ld["prefix"])
                continue
            pu = min(t(ld["preferred_until"]), vu)
            net = IPv6Network(ld["prefix"])
            ia.leases[net] = Lease(net, _mtype(ld["type"]), int(ld["preferred_lifetime"]),
                                   int(ld["valid_lifetime"]), float(ld["obtained"]) + shift,
                                   pu, vu, deprecated=bool(ld["deprecated"]) or pu <= now)
        if not ia.leases:
            return None
        if d.get("acquirer") is not None:
            ia.share = int(d["acquirer"])
        return ia


_UNSPECIFIED = IPv6Address(0)


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

    def encode(self, duid: Duid, config, now: float) -> bytes:
        """This exchange's message as sent now (DESIGN §2; RFC 8415 §18.2:
        Server Identifier in Request, Renew and Release; ORO but in Release;
        the IA_PD with the hints, or a ``::/<hint>`` IAPREFIX, each with the
        type's odm option)."""
        ia = self.ia
        msg_type = self.message
        t = ia.mobility_type
        topts = (mobility_type_option(t, config.pen),) if t is not None else ()
        if self.hints:
            prefixes = tuple(IAPrefix(0, 0, h.prefix_length, h.prefix, topts)
                             for h in self.hints)
        elif msg_type in (MessageType.SOLICIT, MessageType.REQUEST):
            prefixes = (IAPrefix(0, 0, config.prefix_length_hint, _UNSPECIFIED, topts),)
        else:
            prefixes = ()
        opts: list = [ClientId(duid)]
        if self.server_duid is not None and msg_type in (
                MessageType.REQUEST, MessageType.RENEW, MessageType.RELEASE):
            opts.append(ServerId(self.server_duid))
        opts.append(ElapsedTime(self.rt.elapsed_centis(now)))
        if msg_type != MessageType.RELEASE:
            opts.append(OptionRequest(ORO_CODES))
        if msg_type == MessageType.SOLICIT and self.rapid_commit:
            opts.append(RapidCommit())
        opts.append(IAPD(ia.iaid, 0, 0, prefixes))
        opts.extend(pd_kea.sent_options(config, ia))
        return encode_dhcp6(_MESSAGE_CLASS[msg_type](self.xid, tuple(opts)))
