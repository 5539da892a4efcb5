"""DHCPv6 Prefix Delegation client core (RFC 8415 §18.2, §15, §14.1), sans-I/O.

One :class:`IaPd` per acquisition: each requested mobility type gets its own
IA_PD with a fresh IAID, and an untyped (legacy) IA_PD carries the default
prefix with no odm option at all (spec §5.2). Each IA_PD runs its own message
exchanges (Solicit/Advertise/Request/Reply, Renew at T1, Rebind at T2, Release),
so a FIXED prefix with long lifetimes is not renewed at the pace of a short
NON_PERSISTENT one, and every message carries exactly one type — which is also
what lets ISC Kea classify it (below). The wire form of a typed IA_PD (DESIGN
§2): ORO lists 17 and 82; the IA_PD holds an IAPREFIX hint ``::/<hint>`` with
zero lifetimes whose IAprefix-options hold ``mobility_type_option(t, pen)``;
Requests, Renews, Rebinds and Releases repeat the type inside every IAPREFIX
(draft-moses M4).

Receiving (every datagram validated; a bad one is logged and dropped):

- wrong transaction-id, no Server Identifier, no or another client's Client
  Identifier → dropped (RFC 8415 §16.3, §16.10); an option whose length overruns
  its container → the whole datagram is invalid (the codec raises), except
  for the salvage policy below; an option the client does not use (e.g. NTP
  56 with a broken sub-option) is kept as octets and ignored;
- **salvage of trailing damage** (DESIGN "Strict codec, tolerant agents"):
  the codec refuses a whole Advertise/Reply and reports where the damage is.
  When the damage is confined to the last octets of the message — they do
  not form a whole option (fewer than 4 octets left, or a last option whose
  option-len runs past the end) — and that last, broken option is not one
  the client relies on (Client/Server Identifier, Preference, Status Code,
  Rapid Commit, Vendor-specific Information, IA_PD), the options before it
  are decoded (strictly) and used; a warning is logged and the message
  counted as ``salvaged-trailing-octets``. Damage inside a whole option, or
  a broken option the client relies on, refuses the message
  (``malformed``, ``damaged-essential-option``). Real servers do ship such
  trailing junk (a stray octet, a truncated padding option);
- top-level Status UnspecFail / UseMulticast → the Reply is ignored and the
  exchange keeps retransmitting (§18.2.10); any other top-level status (Kea's
  NoAddrsAvail summary for an IA_NA, a NoBinding summary) does not hide a good
  IA_PD: each IA_PD is judged on its own status (§21.13 scope rule);
- an IAPREFIX that cannot be a delegated prefix (:func:`not_delegable`:
  link-local, multicast, inside ::/8, site-local, length 0, bits set past
  its length) is discarded, in an Advertise (never hinted back) and in a
  Reply (never bound); with nothing usable left the client goes back to
  Solicit;
- every prefix a Reply commits that the client discards (unusable, of
  another type than asked, typed in an untyped IA_PD, preferred > valid) is
  released (§18.2.7), on a detached IA_PD of the same IAID;
- odm options the client ignores are logged and counted: a top-level
  mobility type outside "Kea's way" below (``top-level-type-ignored``), a
  second odm type option in one IAPREFIX (``duplicate-type-option``, a
  sender violation of §21.17; the first wins);
- an IA_PD with T1 > T2 (both non-zero) is discarded (§21.21); an IAPREFIX with
  preferred > valid is discarded (§21.22); a typed IAPREFIX in an IA_PD that
  asked no type is discarded (draft-moses M8); a reserved type value is
  ignored (M3: the prefix counts as untyped);
- a typed IA_PD answered with an untyped prefix means the server does not
  know odm (M6): :class:`RequestFailed` NOTSUPPORTED; a prefix already
  committed that way (Rapid Commit, Request) is released again;
- **Kea's way**: ISC Kea cannot put options inside an IAPREFIX, so it answers
  with a top-level odm vendor option MOBILITY_TYPE. The client accepts that
  top-level type for an IA_PD only when the message holds exactly one IA_PD and
  that IA_PD asked for exactly that type; in every other case the top-level
  type is ignored (it never types a legacy prefix). With ``top_level_type``
  set the client also *sends* the type at top level in messages that hold one
  typed IA_PD, which is what Kea classifies on (docs/kea-typed.md).

Timers: T1 = T2 = 0 → the client picks 0.5 / 0.8 of the shortest non-zero
preferred lifetime (never "now": at least 1 s); infinite T1/T2 → no renewal;
expiry happens at each prefix's valid lifetime (not at T2, not at a failed
Rebind). A Reply to Renew/Rebind with NoBinding in the IA_PD → Request for it,
keeping the prefix meanwhile (§18.2.10.1). A prefix with valid lifetime 0 in a
Reply is removed at once; preferred 0 deprecates it (GRACEFUL after a move).
Retransmission per §15 (:class:`~host.core.retransmit.Retransmitter`), sends
bounded by a §14.1 token bucket.

**The §14.1 budget shared fairly.** Every IA_PD has a ``share`` (the uid whose
setsc() started it; None for the agent's own: legacy, boot types, rotation).
A send that finds no token waits in its share's queue; each token that comes
back goes to the waiting share that has sent the fewest messages lately (a
count that decays with a time constant of ``rate_limit_interval``; ties to
the one that sent least recently, so equal shares take turns). One uid's
stream of acquisitions therefore never delays another uid's occasional
request by more than the wait for the next token per message: the light
share goes first (max-min fairness), the heavy one gets the tokens nobody
lighter waits for. While anything
waits, a new send queues too (it never jumps ahead of those waiting).
"""

from __future__ import annotations

import enum
import logging
import math
import random
import struct
from collections import deque
from dataclasses import dataclass, field, replace
from ipaddress import IPv6Address, IPv6Network

from host.config import HostConfig, Timers
from host.core.drops import DropLog
from host.core.events import (
    Event,
    FailureReason,
    MType,
    PrefixBound,
    PrefixDeprecated,
    PrefixExpired,
    PrefixRemoved,
    PrefixRenewed,
    RequestFailed,
    ServerSeen,
)
from host.core.retransmit import Retransmitter, RtParams, TokenBucket
from odm_sansio import Outgoing
from odm_wire import rules
from odm_wire.constants import (
    ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
    DHCP6_SERVER_PORT,
    INFINITY,
    MessageType,
    MobilityType,
    OptionCode,
)
from odm_wire.constants import (
    StatusCode as SC,
)
from odm_wire.dhcp6 import (
    IAPD,
    Advertise,
    ClientId,
    Duid,
    ElapsedTime,
    IAPrefix,
    Message,
    MobilityTypeSubOption,
    OdmVendorOpts,
    OptionRequest,
    Preference,
    RapidCommit,
    Rebind,
    Release,
    Renew,
    Reply,
    Request,
    ServerId,
    Solicit,
    SolMaxRt,
    SupportedTypesSubOption,
    decode_dhcp6,
    decode_duid,
    encode_dhcp6,
    encode_duid,
    mobility_type_option,
)
from odm_wire.errors import WireFormatError

log = logging.getLogger(__name__)

#: msg-types whose trailing damage the client may salvage (Advertise, Reply)
_SALVAGEABLE = frozenset((int(MessageType.ADVERTISE), int(MessageType.REPLY)))
#: top-level options the client relies on: when one of them is the damaged
#: last option, the message is refused, not salvaged
_RELIED_ON = frozenset(int(c) for c in (
    OptionCode.CLIENTID, OptionCode.SERVERID, OptionCode.PREFERENCE, OptionCode.STATUS_CODE,
    OptionCode.RAPID_COMMIT, OptionCode.VENDOR_OPTS, OptionCode.IA_PD))
_OPT_HDR = struct.Struct(">HH")

ALL_SERVERS = IPv6Address(ALL_DHCP_RELAY_AGENTS_AND_SERVERS)
ORO_CODES = (int(OptionCode.VENDOR_OPTS), int(OptionCode.SOL_MAX_RT))
#: Seconds a cancelled Request / Rapid Commit Solicit is remembered after
#: :meth:`PdClient.cancel`, and how many at most: a Reply to it that arrives
#: late still commits a binding at the server, which the client then releases.
ABANDONED_WINDOW = 30.0
ABANDONED_MAX = 64
#: Shortest T1 the client picks itself when the server leaves T1/T2 to it.
MIN_CLIENT_T1 = 1.0


class IaState(enum.Enum):
    """Where one IA_PD stands."""

    SOLICITING = "soliciting"
    REQUESTING = "requesting"
    BOUND = "bound"
    RENEWING = "renewing"
    REBINDING = "rebinding"
    RELEASING = "releasing"
    IDLE = "idle"


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

    kind: MessageType
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
    confirm_like: bool = False
    keep_leases_on_failure: bool = False

    @property
    def started(self) -> bool:
        return self.rt.started is not None


@dataclass(frozen=True)
class _Verdict:
    kind: str  # ok | absent | discard | nobinding | refused
    grants: tuple = ()
    untyped: bool = False
    t1: int = 0
    t2: int = 0
    status: int = 0
    detail: str = ""
    #: IAPREFIXes with a valid lifetime that the client does not use (to be
    #: released when the message committed them, RFC 8415 §18.2.7)
    dropped: tuple = ()


def not_delegable(p: IAPrefix) -> str | None:
    """Why the IAPREFIX ``p`` cannot be a delegated prefix, or None.

    A delegated prefix is handed to the requesting router to number links
    with global unicast addresses (RFC 8415 §6.3; RFC 4291 §2.4, §2.5.4), so
    the client refuses (RFC 8415 §18.2.10.1: a prefix the client cannot use is
    discarded) a prefix:

    * of length 0 (the whole address space) — a zero-length IAPREFIX is only
      ever a hint, never a grant;
    * with bits set past its length: the grant is ambiguous (the server's
      record, and its route, may be either value), so it is refused rather
      than normalised;
    * inside ::/8 (RFC 4291 §2.4/§2.5.2-§2.5.5: unspecified, loopback, the
      IPv4-compatible and IPv4-mapped ranges), multicast ff00::/8 (§2.7),
      link-local fe80::/10 (§2.5.6) or the deprecated site-local fec0::/10
      (RFC 3879).

    Unique local (fc00::/7) and documentation (2001:db8::/32) prefixes are
    usable: both are unicast prefixes a site may delegate."""
    n = p.prefix_length
    if n == 0 or n > 128:
        return f"prefix length {n}"
    a = int(p.prefix)
    if a & ((1 << (128 - n)) - 1):
        return "bits set past the prefix length"
    addr = p.prefix
    if a >> 120 == 0:
        return "inside ::/8 (unspecified, loopback or IPv4-embedded; RFC 4291 §2.4)"
    if addr.is_multicast:
        return "multicast (RFC 4291 §2.7)"
    if addr.is_link_local:
        return "link-local (RFC 4291 §2.5.6)"
    if addr.is_site_local:
        return "site-local (deprecated, RFC 3879)"
    return None


def _finite(v: float) -> float | None:
    return None if v == math.inf else v


def _int_or_none(v) -> int | None:
    return None if v is None else int(v)


def _mtype(v) -> MobilityType | None:
    return None if v is None else MobilityType(v)


def _net(p: IAPrefix) -> IPv6Network:
    return IPv6Network((p.prefix, p.prefix_length), strict=False)


def _real_type(v) -> MobilityType | None:
    """A MobilityType, or None for "no type" / a reserved value (draft-moses M3)."""
    return v if isinstance(v, MobilityType) else None


def _top_level_type(msg: Message) -> MobilityType | None:
    for o in msg.options:
        if type(o) is OdmVendorOpts:
            for s in o.suboptions:
                if type(s) is MobilityTypeSubOption:
                    return _real_type(s.mobility_type)
    return None


def _supported_types(msg: Message) -> tuple[MobilityType, ...] | None:
    for o in msg.options:
        if type(o) is OdmVendorOpts:
            for s in o.suboptions:
                if type(s) is SupportedTypesSubOption:
                    return tuple(t for t in s.types if isinstance(t, MobilityType))
    return None


class PdClient:
    """The DHCPv6-PD client state machine for one interface.

    Inputs: :meth:`handle_datagram` (UDP payloads from port 547),
    :meth:`handle_timer`, and the API calls :meth:`start`, :meth:`acquire`,
    :meth:`cancel`, :meth:`release`, :meth:`release_all`, :meth:`rebind_all`.
    Outputs: :meth:`datagrams_to_send` (to ff02::1:2 port 547),
    :meth:`get_timer`, :meth:`next_event`. ``rng`` drives xids, IAIDs and the
    §15 randomisation (inject a seeded :class:`random.Random` in tests).
    """

    def __init__(self, config: HostConfig, duid: Duid, *, rng: random.Random | None = None,
                 timers: Timers | None = None) -> None:
        self.config = config
        self.duid = duid
        self.duid_bytes = encode_duid(duid)
        self.rng = rng or random.Random()
        self.timers = timers or config.timers
        self.ias: dict[int, IaPd] = {}
        self._exchanges: dict[int, Exchange] = {}
        #: xid → (IA_PD, forget-at) of cancelled exchanges that may commit
        self._abandoned: dict[int, tuple[IaPd, float]] = {}
        self._out: list[Outgoing] = []
        #: share → its exchanges waiting for a §14.1 token; the next token goes
        #: to the waiting share that sent fewest lately (``_used``: share →
        #: [decayed count, when]), then least recently (``_served``: share →
        #: sequence number of its last send)
        self._deferred: dict[int | None, deque[Exchange]] = {}
        self._served: dict[int | None, int] = {}
        self._used: dict[int | None, list[float]] = {}
        self._send_seq = 0
        self._events: deque[Event] = deque()
        self._bucket = TokenBucket(self.timers.rate_limit_count, self.timers.rate_limit_interval)
        self._next_iaid = self.rng.randrange(1, 1 << 24)
        self._first_solicit_done = not config.first_solicit_delay
        self.sol_max_rt = self.timers.sol_max_rt
        #: Types the network is known to offer (SUPPORTED_TYPES, grants, RA bits).
        self.network_types: set[MobilityType] = set()
        #: server DUID octets → (address, supported types or None)
        self.servers: dict[bytes, tuple[IPv6Address, tuple | None]] = {}
        #: datagrams dropped (total), and per named reason with the parts of
        #: messages ignored or salvaged (host/core/drops.py)
        self.dropped = 0
        self.drops = DropLog(log)
        self._now: float | None = None
        #: the host's trust filter (host/core/trust.py), applied to what is salvaged
        #: from a damaged message (the filter passes what it cannot decode)
        self.trust = None

    # ------------------------------------------------------------------ API --
    def start(self, now: float) -> None:
        """Begin acquiring the legacy IA_PD (if configured) and the boot types."""
        if self.config.legacy_pd:
            self.acquire(None, now, persistent=True)
        for t in self.config.boot_types:
            self.acquire(t, now, persistent=True)

    def acquire(self, mobility_type: MType, now: float, *, persistent: bool = False,
                via: str = "auto", share: int | None = None) -> int:
        """Start acquiring a new prefix of ``mobility_type`` (None: untyped) in a
        fresh IA_PD; returns its IAID. ``via``: ``"solicit"`` (with Rapid
        Commit if configured), ``"request"`` (straight to the server that
        granted a prefix before), or ``"auto"`` (request when such a server is
        known and no move is pending, else solicit). ``share``: whose part of
        the §14.1 budget its messages use (module docstring)."""
        iaid = self._new_iaid()
        ia = IaPd(iaid, mobility_type, persistent=persistent, created=now, share=share)
        self.ias[iaid] = ia
        server = self._known_server() if via in ("auto", "request") else None
        if server is not None:
            self._start_request(ia, now, server, hints=(), from_solicit=False)
        else:
            self._start_solicit(ia, now)
        return iaid

    def cancel(self, iaid: int, now: float, *, release: bool = True) -> None:
        """Stop wanting IA ``iaid``: end its exchange; release its prefixes if it
        holds any and ``release``; forget it."""
        ia = self.ias.get(iaid)
        if ia is None or ia.state == IaState.RELEASING:
            return
        if ia.leases and release:
            self.release(iaid, now)
            return
        if ia.exchange is not None:
            # a message of this exchange not yet handed to the adapter is
            # withdrawn: a Solicit with Rapid Commit for a forgotten IA_PD
            # would have the server commit a prefix nobody releases
            ex = ia.exchange
            xid = ex.xid.to_bytes(3, "big")
            self._out = [o for o in self._out if o.payload[1:4] != xid]
            # one already sent may still be answered: see _on_abandoned_reply
            if ex.kind == MessageType.REQUEST or (
                    ex.kind == MessageType.SOLICIT and ex.rapid_commit):
                self._abandon(ex, now)
        self._end_exchange(ia)
        for lease in list(ia.leases.values()):
            self._drop_lease(ia, lease, "discarded")
        ia.state = IaState.IDLE
        del self.ias[iaid]

    def release(self, iaid: int, now: float) -> None:
        """Release IA ``iaid`` (RFC 8415 §18.2.7): its prefixes stop being used
        at once (PrefixRemoved "released"), then Release is sent up to
        REL_MAX_RC times; any Reply ends the exchange."""
        ia = self.ias.get(iaid)
        if ia is None:
            return
        self._end_exchange(ia)
        if not ia.leases or ia.server_duid is None:
            for lease in list(ia.leases.values()):
                self._drop_lease(ia, lease, "released")
            del self.ias[iaid]
            return
        hints = self._lease_hints(ia)
        for lease in list(ia.leases.values()):
            self._drop_lease(ia, lease, "released")
        ia.state = IaState.RELEASING
        ia.persistent = False
        t = self.timers
        ex = self._new_exchange(MessageType.RELEASE, ia, RtParams(t.rel_timeout, 0, t.rel_max_rc),
                                now, server_duid=ia.server_duid, hints=hints)
        self._transmit(ex, now)

    def release_all(self, now: float) -> None:
        """Release every IA_PD that holds prefixes (agent shutdown)."""
        for iaid in list(self.ias):
            self.release(iaid, now)

    def renew_all(self, now: float) -> None:
        """An operator's ``odm host renew`` (``dhcpcd -n``): every bound IA_PD
        that is not in an exchange Renews now, as if T1 had come (RFC 8415
        §18.2.4), its retransmissions bounded by its T2 as usual."""
        for ia in list(self.ias.values()):
            if ia.state == IaState.BOUND and ia.exchange is None and ia.leases:
                ia.t1_at = min(ia.t1_at, now)
                self._ia_timers(ia, now)

    def rebind_all(self, now: float) -> None:
        """After a possible link change (a move): Rebind every IA_PD that holds
        prefixes, with Confirm-like timing (RFC 8415 §18.2.12: delay up to
        CNF_MAX_DELAY, IRT CNF_TIMEOUT, MRT CNF_MAX_RT, MRD CNF_MAX_RD; then the
        ordinary Rebind until the valid lifetimes end); restart Solicits."""
        t = self.timers
        for ia in list(self.ias.values()):
            if ia.state == IaState.RELEASING:
                continue
            if ia.leases:
                self._end_exchange(ia)
                ia.state = IaState.REBINDING
                ex = self._new_exchange(
                    MessageType.REBIND, ia, RtParams(t.cnf_timeout, t.cnf_max_rt, 0, t.cnf_max_rd),
                    now + self.rng.uniform(0, t.cnf_max_delay), hints=self._lease_hints(ia))
                ex.confirm_like = True
            elif ia.state in (IaState.SOLICITING, IaState.REQUESTING):
                self._end_exchange(ia)
                self._start_solicit(ia, now)

    def note_network_types(self, types) -> None:
        """Tell the client types the network is known to offer (e.g. from RA PIO
        type bits); used to tell NOTSUPPORTED from FAILED."""
        self.network_types.update(t for t in types if isinstance(t, MobilityType))

    def failure_reason(self, t: MType) -> FailureReason:
        """FAILED when the network is known to offer ``t``, else NOTSUPPORTED."""
        return FailureReason.FAILED if t is None or t in self.network_types \
            else FailureReason.NOTSUPPORTED

    # ------------------------------------------------------- core contract --
    def datagrams_to_send(self) -> list[Outgoing]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        # called after every input: plain comparisons, no min() calls (this
        # loop over every IA_PD and lease was most of a setsc()'s core time)
        t = math.inf
        for ex in self._exchanges.values():
            if not ex.started:
                t = min(t, ex.send_at)
            else:
                t = min(t, ex.rt.deadline)
                if ex.collect_until is not None and ex.advertises and ex.collect_until < t:
                    t = ex.collect_until
        bound, renewing = IaState.BOUND, IaState.RENEWING
        for ia in self.ias.values():
            st = ia.state
            if st is bound:
                t = min(t, ia.t1_at)
                t = min(t, ia.t2_at)
            elif st is renewing and ia.t2_at < t:
                t = ia.t2_at
            for lease in ia.leases.values():
                t = min(t, lease.valid_until)
                if not lease.deprecated and lease.preferred_until < t:
                    t = lease.preferred_until
        if self._deferred:
            t = min(t, self._bucket.next_available(self._bucket.stamp or 0.0))
        return None if t == math.inf else t

    def _send_deferred(self, now: float) -> None:
        """Send waiting messages while there are tokens: each token to the
        share that has waited longest since it last sent (module docstring)."""
        q = self._deferred
        while q:
            share = min(q, key=lambda k: (round(self._use_of(k, now), 6),
                                          self._served.get(k, -1)))
            waiting = q[share]
            while waiting and self._exchanges.get(waiting[0].xid) is not waiting[0]:
                waiting.popleft()  # ended meanwhile: costs no token
            if not waiting:
                del q[share]
                continue
            if not self._bucket.take(now):
                return
            self._sent_by(share, now)
            self._out.append(self._build(waiting.popleft(), now))
            if not waiting:
                del q[share]

    def _use_of(self, share: int | None, now: float) -> float:
        u = self._used.get(share)
        if u is None:
            return 0.0
        tau = self.timers.rate_limit_interval or 1.0
        return u[0] * math.exp(-max(0.0, now - u[1]) / tau)

    def _sent_by(self, share: int | None, now: float) -> None:
        self._used[share] = [self._use_of(share, now) + 1.0, now]
        self._served[share] = self._send_seq
        self._send_seq += 1
        if len(self._served) > 4096:  # forget shares that wait for nothing
            self._served = {k: v for k, v in self._served.items() if k in self._deferred}
            self._used = {k: v for k, v in self._used.items() if k in self._deferred}

    def deferred_count(self) -> int:
        """Messages waiting for a §14.1 token."""
        return sum(len(v) for v in self._deferred.values())

    def handle_timer(self, now: float) -> None:
        # deferred sends first (rate limit)
        self._send_deferred(now)
        for ex in list(self._exchanges.values()):
            if self._exchanges.get(ex.xid) is not ex:
                continue
            if not ex.started:
                if now >= ex.send_at:
                    self._transmit(ex, now)
                continue
            if ex.collect_until is not None and ex.advertises and now >= ex.collect_until:
                self._choose_advertise(ex, now)
                continue
            if now >= ex.rt.deadline:
                self._on_rt_expired(ex, now)
        for ia in list(self.ias.values()):
            self._ia_timers(ia, now)

    def handle_datagram(self, data: bytes, src: IPv6Address, now: float, *, kind: str = "dhcp6",
                        hop_limit: int = 255, ifname: str | None = None) -> None:
        """One UDP payload received on port 546 from ``src``."""
        if kind != "dhcp6":
            return
        self._now = now
        try:
            msg = decode_dhcp6(data, self.config.pen)
        except WireFormatError as exc:
            msg = self._salvage(data, exc, src, now)
            if msg is None:
                return
        if type(msg) not in (Advertise, Reply):
            self._drop(src, "not-for-a-client", f"{type(msg).__name__} is not for a client", now)
            return
        ex = self._exchanges.get(msg.transaction_id)
        if ex is None:
            if self._on_abandoned_reply(msg, src, now):
                return
            self._drop(src, "unknown-transaction",
                       f"{type(msg).__name__} xid {msg.transaction_id:#x} matches no exchange",
                       now)
            return
        if msg.server_duid is None:
            self._drop(src, "no-server-id", "no Server Identifier (RFC 8415 §16.3/§16.10)", now)
            return
        cd = msg.get(ClientId)
        if cd is None or encode_duid(cd.duid) != self.duid_bytes:
            self._drop(src, "client-id-mismatch",
                       "missing or foreign Client Identifier (RFC 8415 §16.3/§16.10)", now)
            return
        self._note_server(msg, src)
        tl = _top_level_type(msg)
        if tl is not None and not (len(msg.ia_pds) == 1 and ex.ia.mobility_type == tl
                                   and msg.ia_pds[0].iaid == ex.ia.iaid):
            self.drops("top-level-type-ignored", now, "%s from %s: top-level mobility type %s "
                       "ignored (used only for the one IA_PD of a message that asked that "
                       "type: Kea's way)", type(msg).__name__, src, tl.name)
        if type(msg) is Advertise:
            if ex.kind != MessageType.SOLICIT:
                self._drop(src, "advertise-outside-solicit", "Advertise outside a Solicit exchange",
                           now)
                return
            self._on_advertise(ex, msg, src, now)
        else:
            self._on_reply(ex, msg, src, now)

    def _salvage(self, data: bytes, exc: WireFormatError, src, now: float):
        """The salvage policy (module docstring) for ``data``, which the codec
        refused with ``exc``: the message decoded from the octets before its
        trailing damage, or None (dropped and counted)."""
        n = len(data)
        if n < 4 or data[0] not in _SALVAGEABLE:
            self._drop(src, "malformed", f"malformed: {exc}", now)
            return None
        off = 4
        while off + 4 <= n:
            code, ln = _OPT_HDR.unpack_from(data, off)
            end = off + 4 + ln
            if end > n:
                break
            if off <= exc.offset < end:
                self._drop(src, "malformed", f"malformed: {exc}", now)
                return None
            off = end
        if off >= n or exc.offset < off:
            self._drop(src, "malformed", f"malformed: {exc}", now)
            return None
        if n - off >= 4:
            code = _OPT_HDR.unpack_from(data, off)[0]
            if code in _RELIED_ON:
                self._drop(src, "damaged-essential-option",
                           f"option {code} at octet {off}, which the client relies on, "
                           f"is damaged: {exc}", now)
                return None
        try:
            msg = decode_dhcp6(data[:off], self.config.pen)
        except WireFormatError as exc2:
            self._drop(src, "malformed", f"malformed: {exc2}", now)
            return None
        if self.trust is not None and not self.trust.answer_allowed(msg, src, now):
            return None
        self.drops("salvaged-trailing-octets", now, "%s from %s: the last %d octets (from "
                   "octet %d) do not form a whole option (%s); the %d octets before them "
                   "are used", type(msg).__name__, src, n - off, off, exc.reason, off,
                   level=logging.WARNING)
        return msg

    # ------------------------------------------------------------- internals --
    def _drop(self, src, name: str, why: str, now: float | None = None) -> None:
        """Drop a received datagram: counted under ``name`` in :attr:`drops`
        and logged (rate-limited) with ``why``."""
        self.dropped += 1
        self.drops(name, now, "dropped DHCPv6 datagram from %s: %s", src, why)

    def _emit(self, ev: Event) -> None:
        self._events.append(ev)

    def _new_iaid(self) -> int:
        iaid = self._next_iaid
        self._next_iaid = (self._next_iaid + 1) % (1 << 32) or 1
        return iaid

    def _new_xid(self) -> int:
        while True:
            x = self.rng.getrandbits(24)
            if x not in self._exchanges:
                return x

    def _known_server(self) -> Duid | None:
        for ia in self.ias.values():
            if ia.leases and ia.server_duid is not None and ia.state in (
                    IaState.BOUND, IaState.RENEWING):
                return ia.server_duid
        return None

    def _note_server(self, msg: Message, src: IPv6Address) -> None:
        sup = _supported_types(msg)
        if sup:
            self.network_types.update(sup)
        key = encode_duid(msg.server_duid)
        prev = self.servers.get(key)
        self.servers[key] = (src, sup if sup is not None else (prev[1] if prev else None))
        if prev is None or prev[0] != src or (sup is not None and prev[1] != sup):
            self._emit(ServerSeen(key, src, sup))
        sm = msg.get(SolMaxRt)
        if sm is not None and 60 <= sm.sol_max_rt <= 86400:  # RFC 8415 §21.24
            self.sol_max_rt = sm.sol_max_rt * (self.timers.sol_max_rt / 3600.0)

    def _lease_hints(self, ia: IaPd) -> tuple[IAPrefix, ...]:
        return tuple(IAPrefix(0, 0, l.prefix.prefixlen, l.prefix.network_address)
                     for l in ia.leases.values())

    def _new_exchange(self, kind: MessageType, ia: IaPd, params: RtParams, send_at: float, *,
                      server_duid: Duid | None = None, hints=(), first_rt_above_irt=False
                      ) -> Exchange:
        ex = Exchange(kind, self._new_xid(), ia,
                      Retransmitter(params, self.rng, first_rt_above_irt=first_rt_above_irt),
                      send_at, server_duid=server_duid, hints=tuple(hints))
        self._exchanges[ex.xid] = ex
        ia.exchange = ex
        return ex

    def _end_exchange(self, ia: IaPd) -> None:
        ex = ia.exchange
        if ex is not None:
            self._exchanges.pop(ex.xid, None)
            ia.exchange = None
            waiting = self._deferred.get(ia.share)
            if waiting:  # a send waiting for a §14.1 token is moot now
                kept = deque(e for e in waiting if e is not ex)
                if kept:
                    self._deferred[ia.share] = kept
                else:
                    del self._deferred[ia.share]

    def _start_solicit(self, ia: IaPd, now: float) -> None:
        t = self.timers
        delay = 0.0
        if not self._first_solicit_done:
            delay = self.rng.uniform(0, t.sol_max_delay)
            self._first_solicit_done = True
        ia.state = IaState.SOLICITING
        ex = self._new_exchange(MessageType.SOLICIT, ia, RtParams(t.sol_timeout, self.sol_max_rt),
                                now + delay, first_rt_above_irt=True)
        ex.rapid_commit = self.config.rapid_commit
        if delay == 0.0:
            self._transmit(ex, now)

    def _start_request(self, ia: IaPd, now: float, server: Duid, hints, *,
                       from_solicit: bool = True, keep_leases: bool = False) -> None:
        t = self.timers
        if not keep_leases:
            ia.state = IaState.REQUESTING
        ex = self._new_exchange(MessageType.REQUEST, ia,
                                RtParams(t.req_timeout, t.req_max_rt, t.req_max_rc), now,
                                server_duid=server, hints=hints)
        ex.keep_leases_on_failure = keep_leases
        self._transmit(ex, now)

    def _transmit(self, ex: Exchange, now: float) -> None:
        """(Re)send ``ex`` now, subject to the §14.1 rate limit."""
        if not ex.started:
            ex.rt.start(now)
            if ex.kind == MessageType.SOLICIT:
                ex.collect_until = ex.rt.deadline
        if not self._deferred and self._bucket.take(now):
            self._sent_by(ex.ia.share, now)
            self._out.append(self._build(ex, now))
            return
        waiting = self._deferred.get(ex.ia.share)
        if waiting is None:
            waiting = self._deferred[ex.ia.share] = deque()
        if not any(e is ex for e in waiting):
            log.info("send rate limit reached (RFC 8415 §14.1): %s of share %s deferred",
                     ex.kind.name, "agent" if ex.ia.share is None else f"uid {ex.ia.share}")
            waiting.append(ex)
        self._send_deferred(now)

    def _type_opts(self, t: MType) -> tuple:
        return (mobility_type_option(t, self.config.pen),) if t is not None else ()

    def _build(self, ex: Exchange, now: float) -> Outgoing:
        ia = ex.ia
        topts = self._type_opts(ia.mobility_type)
        if ex.hints:
            prefixes = tuple(replace(h, preferred_lifetime=0, valid_lifetime=0, options=topts)
                             for h in ex.hints)
        elif ex.kind in (MessageType.SOLICIT, MessageType.REQUEST):
            prefixes = (IAPrefix(0, 0, self.config.prefix_length_hint, IPv6Address("::"), topts),)
        else:
            prefixes = ()
        opts: list = [ClientId(self.duid)]
        if ex.server_duid is not None and ex.kind in (
                MessageType.REQUEST, MessageType.RENEW, MessageType.RELEASE):
            opts.append(ServerId(ex.server_duid))
        opts.append(ElapsedTime(ex.rt.elapsed_centis(now)))
        if ex.kind != MessageType.RELEASE:
            opts.append(OptionRequest(ORO_CODES))
        if ex.kind == MessageType.SOLICIT and ex.rapid_commit:
            opts.append(RapidCommit())
        opts.append(IAPD(ia.iaid, 0, 0, prefixes))
        if self.config.top_level_type and ia.mobility_type is not None:
            opts.append(mobility_type_option(ia.mobility_type, self.config.pen))
        cls = {MessageType.SOLICIT: Solicit, MessageType.REQUEST: Request,
               MessageType.RENEW: Renew, MessageType.REBIND: Rebind,
               MessageType.RELEASE: Release}[ex.kind]
        payload = encode_dhcp6(cls(ex.xid, tuple(opts)))
        return Outgoing(payload, ALL_SERVERS, "dhcp6", DHCP6_SERVER_PORT)

    # ---- evaluating one IA_PD of a server message
    def _judge(self, ia: IaPd, msg: Message) -> _Verdict:
        mine = [o for o in msg.ia_pds if o.iaid == ia.iaid]
        if not mine:
            return _Verdict("absent", detail="no IA_PD with our IAID")
        iapd = mine[0]
        if not rules.ia_pd_timers_valid(iapd):
            return _Verdict("discard", detail=f"T1 {iapd.t1} > T2 {iapd.t2} (RFC 8415 §21.21)")
        st = rules.ia_status(iapd)
        if st == SC.NO_BINDING:
            return _Verdict("nobinding", status=int(st))
        if st != SC.SUCCESS:
            msgtext = iapd.status.status_message if iapd.status else ""
            return _Verdict("refused", status=int(st), detail=f"status {int(st)} {msgtext!r}")
        top = None
        if ia.mobility_type is not None and len(msg.ia_pds) == 1:
            tl = _top_level_type(msg)
            if tl == ia.mobility_type:
                top = tl
        grants = []
        dropped = []
        untyped = False
        now = self._now
        for p in iapd.prefixes:
            why = not_delegable(p)
            if why is not None:
                self.drops("prefix-not-usable", now, "IAPREFIX %s/%d discarded: %s",
                           p.prefix, p.prefix_length, why)
                dropped.append(p)
                continue
            if not rules.iaprefix_usable(p):
                self.drops("prefix-lifetimes-invalid", now, "IAPREFIX %s discarded: preferred "
                           "%d > valid %d (RFC 8415 §21.22)", p.network, p.preferred_lifetime,
                           p.valid_lifetime)
                dropped.append(p)
                continue
            n_types = sum(1 for o in p.options if type(o) is OdmVendorOpts
                          and any(type(x) is MobilityTypeSubOption for x in o.suboptions))
            if n_types > 1:
                self.drops("duplicate-type-option", now, "IAPREFIX %s carries %d odm type "
                           "options (RFC 8415 §21.17: one per enterprise); the first wins",
                           p.network, n_types)
            mt = _real_type(p.mobility_type)
            if p.mobility_type is not None and mt is None:
                self.drops("reserved-type-ignored", now, "IAPREFIX %s: reserved mobility type "
                           "%r ignored (draft-moses §3)", p.network, p.mobility_type)
            if ia.mobility_type is None:
                if mt is not None:
                    self.drops("typed-prefix-in-untyped-ia", now, "IAPREFIX %s typed %s in an "
                               "untyped IA_PD: discarded (draft-moses M8)", p.network, mt.name)
                    dropped.append(p)
                    continue
                grants.append((p, None))
                continue
            if mt is None:
                mt = top
            if mt is None:
                untyped = True
                dropped.append(p)
                continue
            if mt != ia.mobility_type:
                self.drops("prefix-of-another-type", now, "IAPREFIX %s has type %s, asked %s: "
                           "discarded", p.network, mt.name, ia.mobility_type.name)
                dropped.append(p)
                continue
            grants.append((p, mt))
        dropped_t = tuple(p for p in dropped if p.valid_lifetime)
        if not grants:
            return _Verdict("refused", untyped=untyped, status=int(SC.NO_PREFIX_AVAIL),
                            detail="untyped prefix for a typed IA_PD (draft-moses M6)"
                            if untyped else "no usable prefix", dropped=dropped_t)
        return _Verdict("ok", tuple(grants), untyped, iapd.t1, iapd.t2, dropped=dropped_t)

    def _refusal(self, ia: IaPd, ex: Exchange, v: _Verdict, *, final: bool = False) -> None:
        if ex.refused_reported and not final:
            return
        ex.refused_reported = True
        if v.untyped:
            reason = FailureReason.NOTSUPPORTED
        else:
            reason = self.failure_reason(ia.mobility_type)
        self._emit(RequestFailed(ia.mobility_type, reason, v.detail, ia.iaid, final))

    # ---- Advertise
    def _on_advertise(self, ex: Exchange, msg: Message, src: IPv6Address, now: float) -> None:
        ia = ex.ia
        v = self._judge(ia, msg)
        if v.kind != "ok" or not any(p.valid_lifetime for p, _ in v.grants):
            # RFC 8415 §18.2.9: an Advertise with no prefix is ignored; the
            # Solicit keeps backing off.
            self.drops("advertise-without-prefix", now, "Advertise from %s for IAID %d "
                       "ignored: %s", src, ia.iaid, v.detail or v.kind)
            if v.kind == "refused" and ia.mobility_type is not None:
                self._refusal(ia, ex, v)
            return
        pref = msg.get(Preference)
        pv = pref.preference if pref else 0
        ex.advertises.append((pv, len(ex.advertises), msg, v, src))
        if pv == 255 or (ex.collect_until is not None and now >= ex.collect_until):
            self._choose_advertise(ex, now)

    def _choose_advertise(self, ex: Exchange, now: float) -> None:
        best = max(ex.advertises, key=lambda a: (a[0], -a[1]))
        _, _, msg, v, src = best
        ia = ex.ia
        self._end_exchange(ia)
        ia.server_address = src
        hints = tuple(p for p, _ in v.grants)
        self._start_request(ia, now, msg.server_duid, hints)

    # ---- Reply
    def _on_reply(self, ex: Exchange, msg: Message, src: IPv6Address, now: float) -> None:
        ia = ex.ia
        if ex.kind == MessageType.RELEASE:
            log.info("Release of IAID %d acknowledged by %s", ia.iaid, src)
            self._end_exchange(ia)
            self._forget(ia)
            return
        if ex.kind == MessageType.SOLICIT and msg.get(RapidCommit) is None:
            self._drop(src, "reply-without-rapid-commit",
                       "Reply to Solicit without Rapid Commit (RFC 8415 §18.2.1)", now)
            return
        top = rules.message_status(msg)
        if top in (SC.UNSPEC_FAIL, SC.USE_MULTICAST):
            self.drops("reply-status-retransmit", now, "Reply from %s with top-level status "
                       "%d: ignored, retransmitting", src, int(top))
            return
        v = self._judge(ia, msg)
        if v.kind in ("absent", "discard"):
            self.drops("reply-ia-pd-unusable", now, "Reply from %s: IA_PD %d %s; ignored",
                       src, ia.iaid, v.detail)
            return
        kind = ex.kind
        if v.dropped and not (v.untyped and v.kind == "refused"
                              and kind in (MessageType.SOLICIT, MessageType.REQUEST)):
            # committed by the server (this is a Reply), not used here: give
            # them back (RFC 8415 §18.2.7)
            self._release_dropped(ia, v.dropped, msg, now)
        if kind in (MessageType.SOLICIT, MessageType.REQUEST) and not ex.keep_leases_on_failure:
            if v.kind == "ok":
                self._end_exchange(ia)
                self._bind(ia, v, msg, src, now)
                return
            if v.untyped and v.kind == "refused":
                self._refusal(ia, ex, v, final=True)
                # a server that does not know odm committed an untyped prefix:
                # give it back (only possible with Rapid Commit / Request).
                self._release_untyped(ia, msg, src, now)
                return
            if kind == MessageType.SOLICIT:  # Rapid Commit Reply without prefix
                if ia.mobility_type is not None:
                    self._refusal(ia, ex, v)
                return
            # Request refused
            if ia.mobility_type is not None:
                self._refusal(ia, ex, v)
            self._end_exchange(ia)
            self._start_solicit(ia, now)
            return
        # Renew / Rebind / Request after NoBinding
        if v.kind == "nobinding":
            log.info("NoBinding for IAID %d from %s: Request (RFC 8415 §18.2.10.1)", ia.iaid, src)
            self._end_exchange(ia)
            ia.state = IaState.BOUND
            self._start_request(ia, now, msg.server_duid, self._lease_hints(ia) or (),
                                keep_leases=True)
            return
        if v.kind == "refused":
            log.info("%s for IAID %d refused (%s): keeping prefixes until they expire",
                     kind.name, ia.iaid, v.detail)
            self._end_exchange(ia)
            ia.state = IaState.BOUND
            if kind == MessageType.RENEW:
                ia.t1_at = ia.t2_at
            else:
                ia.t1_at = ia.t2_at = math.inf
            return
        self._end_exchange(ia)
        self._bind(ia, v, msg, src, now)

    def _forget(self, ia: IaPd) -> None:
        """Drop ``ia`` from :attr:`ias` if it is there (a Release of a cancelled
        IA_PD runs outside it, and its IAID may be in use again)."""
        if self.ias.get(ia.iaid) is ia:
            del self.ias[ia.iaid]

    def _abandon(self, ex: Exchange, now: float) -> None:
        ab = self._abandoned
        for xid, (_, until) in list(ab.items()):
            if until <= now:
                del ab[xid]
        while len(ab) >= ABANDONED_MAX:
            del ab[next(iter(ab))]
        ab[ex.xid] = (ex.ia, now + ABANDONED_WINDOW)

    def _on_abandoned_reply(self, msg: Message, src: IPv6Address, now: float) -> bool:
        """A Reply to a Request or Rapid Commit Solicit of an IA_PD that was
        cancelled while it was on the wire (a setsc() that timed out): the
        server has committed the prefixes in it to this client, which no longer
        wants them, so they are released at once (RFC 8415 §18.2.7) instead of
        staying bound at the server until their valid lifetime ends. True when
        the message was such a Reply (handled), False otherwise."""
        entry = self._abandoned.get(msg.transaction_id)
        if entry is None or type(msg) is not Reply or msg.server_duid is None:
            return False
        ia, until = entry
        cd = msg.get(ClientId)
        if now > until or cd is None or encode_duid(cd.duid) != self.duid_bytes:
            return False
        del self._abandoned[msg.transaction_id]
        granted = [p for o in msg.ia_pds if o.iaid == ia.iaid
                   and rules.ia_status(o) == SC.SUCCESS
                   for p in o.prefixes if p.valid_lifetime > 0]
        if not granted:
            log.info("late Reply from %s for cancelled IA_PD %d: nothing granted", src, ia.iaid)
            return True
        log.info("late Reply from %s grants %s to cancelled IA_PD %d: releasing", src,
                 ", ".join(p.network for p in granted), ia.iaid)
        # The Release runs on the cancelled IA_PD, which stays out of self.ias:
        # nothing else (status, a new setsc() of the same type) may see it.
        ia.leases.clear()
        ia.exchange = None
        ia.persistent = False
        ia.state = IaState.RELEASING
        t = self.timers
        ex = self._new_exchange(MessageType.RELEASE, ia, RtParams(t.rel_timeout, 0, t.rel_max_rc),
                                now, server_duid=msg.server_duid,
                                hints=tuple(IAPrefix(0, 0, p.prefix_length, p.prefix)
                                            for p in granted))
        self._transmit(ex, now)
        return True

    def _release_dropped(self, ia: IaPd, dropped: tuple, msg: Message, now: float) -> None:
        """Release the prefixes of ``dropped`` that a Reply committed to
        ``ia`` and the client does not use, on a detached IA_PD of the same
        IAID (like a late grant's Release), so ``ia`` itself keeps its state
        and exchanges."""
        held = {_net(p) for p in dropped} & set(ia.leases)
        todo = tuple(p for p in dropped if _net(p) not in held)
        if not todo:
            return
        self.drops("grant-released", now, "releasing %s granted to IA_PD %d and not used "
                   "(RFC 8415 §18.2.7)", ", ".join(f"{p.prefix}/{p.prefix_length}"
                                                 for p in todo), ia.iaid)
        rel = IaPd(ia.iaid, ia.mobility_type, persistent=False, created=now)
        rel.state = IaState.RELEASING
        t = self.timers
        ex = self._new_exchange(MessageType.RELEASE, rel,
                                RtParams(t.rel_timeout, 0, t.rel_max_rc), now,
                                server_duid=msg.server_duid,
                                hints=tuple(IAPrefix(0, 0, p.prefix_length, p.prefix,
                                                     p.options) for p in todo))
        self._transmit(ex, now)

    def _release_untyped(self, ia: IaPd, msg: Message, src: IPv6Address, now: float) -> None:
        mine = [o for o in msg.ia_pds if o.iaid == ia.iaid]
        hints = tuple(IAPrefix(0, 0, p.prefix_length, p.prefix) for p in mine[0].prefixes) \
            if mine else ()
        self._end_exchange(ia)
        ia.persistent = False
        if not hints:
            self.ias.pop(ia.iaid, None)
            return
        ia.state = IaState.RELEASING
        t = self.timers
        ex = self._new_exchange(MessageType.RELEASE, ia, RtParams(t.rel_timeout, 0, t.rel_max_rc),
                                now, server_duid=msg.server_duid, hints=hints)
        self._transmit(ex, now)

    def _bind(self, ia: IaPd, v: _Verdict, msg: Message, src: IPv6Address, now: float) -> None:
        server = encode_duid(msg.server_duid)
        ia.server_duid = msg.server_duid
        ia.server_address = src
        for p, mt in v.grants:
            net = _net(p)
            if mt is not None:
                self.network_types.add(mt)
            old = ia.leases.get(net)
            if p.valid_lifetime == 0:
                if old is not None:
                    self._drop_lease(ia, old, "lifetime-0")
                continue
            pu = math.inf if p.preferred_lifetime == INFINITY else now + p.preferred_lifetime
            vu = math.inf if p.valid_lifetime == INFINITY else now + p.valid_lifetime
            lease = Lease(net, mt, p.preferred_lifetime, p.valid_lifetime, now, pu, vu)
            ia.leases[net] = lease
            cls = PrefixBound if old is None else PrefixRenewed
            self._emit(cls(net, mt, p.preferred_lifetime, p.valid_lifetime, ia.iaid, server))
            if p.preferred_lifetime == 0:
                lease.deprecated = True
                self._emit(PrefixDeprecated(net, mt, ia.iaid, None if vu == math.inf else vu))
        if not ia.leases:
            self._ia_empty(ia, now)
            return
        ia.state = IaState.BOUND
        self._set_t1_t2(ia, v.t1, v.t2, now)

    def _set_t1_t2(self, ia: IaPd, t1: int, t2: int, now: float) -> None:
        if t1 == INFINITY or (t1 and t2 == INFINITY and t1 == INFINITY):
            ia.t1_at = ia.t2_at = math.inf
            return
        live = [l for l in ia.leases.values()]
        prefs = [l.preferred_lifetime for l in live if l.preferred_lifetime not in (0, INFINITY)]
        if not prefs:
            prefs = [l.valid_lifetime for l in live if l.valid_lifetime != INFINITY]
        base = min(prefs) if prefs else math.inf
        if t1 == 0:
            t1f = max(MIN_CLIENT_T1, 0.5 * base) if base != math.inf else math.inf
        else:
            t1f = float(t1)
        if t2 == 0:
            t2f = max(t1f, 0.8 * base) if base != math.inf else math.inf
        elif t2 == INFINITY:
            t2f = math.inf
        else:
            t2f = max(float(t2), t1f) if t1f != math.inf else float(t2)
        ia.t1_at = now + t1f
        ia.t2_at = now + t2f

    def _drop_lease(self, ia: IaPd, lease: Lease, reason: str) -> None:
        ia.leases.pop(lease.prefix, None)
        if reason == "expired":
            self._emit(PrefixExpired(lease.prefix, lease.mobility_type, ia.iaid))
        else:
            self._emit(PrefixRemoved(lease.prefix, lease.mobility_type, ia.iaid, reason))

    def _ia_empty(self, ia: IaPd, now: float) -> None:
        """All prefixes of ``ia`` are gone (RFC 8415 §18.2.5: back to Solicit)."""
        self._end_exchange(ia)
        ia.t1_at = ia.t2_at = math.inf
        if ia.persistent:
            self._start_solicit(ia, now)
        else:
            ia.state = IaState.IDLE
            self.ias.pop(ia.iaid, None)

    def _ia_timers(self, ia: IaPd, now: float) -> None:
        if ia.state == IaState.RELEASING:
            return
        for lease in list(ia.leases.values()):
            if now >= lease.valid_until:
                self._drop_lease(ia, lease, "expired")
            elif not lease.deprecated and now >= lease.preferred_until:
                lease.deprecated = True
                self._emit(PrefixDeprecated(lease.prefix, lease.mobility_type, ia.iaid,
                                            None if lease.valid_until == math.inf
                                            else lease.valid_until))
        if not ia.leases:
            if ia.state in (IaState.BOUND, IaState.RENEWING, IaState.REBINDING) or (
                    ia.state == IaState.REQUESTING and ia.exchange is not None
                    and ia.exchange.keep_leases_on_failure):
                self._ia_empty(ia, now)
            return
        t = self.timers
        if ia.state in (IaState.BOUND, IaState.RENEWING) and now >= ia.t2_at and (
                ia.exchange is None or ia.exchange.kind != MessageType.REQUEST):
            self._end_exchange(ia)
            ia.state = IaState.REBINDING
            mrd = max(l.valid_until for l in ia.leases.values()) - now
            ex = self._new_exchange(MessageType.REBIND, ia,
                                    RtParams(t.reb_timeout, t.reb_max_rt, 0,
                                             0.0 if mrd == math.inf else mrd),
                                    now, hints=self._lease_hints(ia))
            self._transmit(ex, now)
        elif ia.state == IaState.BOUND and ia.exchange is None and now >= ia.t1_at:
            ia.state = IaState.RENEWING
            mrd = ia.t2_at - now
            ex = self._new_exchange(MessageType.RENEW, ia,
                                    RtParams(t.ren_timeout, t.ren_max_rt, 0,
                                             0.0 if mrd == math.inf else max(mrd, 1e-3)),
                                    now, server_duid=ia.server_duid,
                                    hints=self._lease_hints(ia))
            self._transmit(ex, now)

    def _on_rt_expired(self, ex: Exchange, now: float) -> None:
        ia = ex.ia
        if ex.rt.expire(now):
            if ex.kind == MessageType.SOLICIT and ex.advertises:
                self._choose_advertise(ex, now)
                return
            self._transmit(ex, now)
            return
        # the exchange failed (MRC / MRD)
        self._end_exchange(ia)
        t = self.timers
        if ex.kind == MessageType.RELEASE:
            log.info("Release of IAID %d: no Reply after %d tries", ia.iaid, ex.rt.count)
            self._forget(ia)
        elif ex.kind == MessageType.REQUEST:
            if ex.keep_leases_on_failure:
                ia.state = IaState.BOUND
                if now >= ia.t1_at:
                    ia.t1_at = ia.t2_at
                return
            detail = f"no Reply to Request after {ex.rt.count} transmissions (REQ_MAX_RC)"
            self._emit(RequestFailed(ia.mobility_type, self.failure_reason(ia.mobility_type),
                                     detail, ia.iaid, False))
            self._start_solicit(ia, now)
        elif ex.kind == MessageType.REBIND and ex.confirm_like and ia.leases:
            mrd = max(l.valid_until for l in ia.leases.values()) - now
            nex = self._new_exchange(MessageType.REBIND, ia,
                                     RtParams(t.reb_timeout, t.reb_max_rt, 0,
                                              0.0 if mrd == math.inf else mrd),
                                     now, hints=self._lease_hints(ia))
            self._transmit(nex, now)
        elif ex.kind == MessageType.RENEW:
            ia.state = IaState.BOUND  # T2 takes over (Rebind)
            ia.t1_at = ia.t2_at
        else:
            ia.state = IaState.BOUND if ia.leases else ia.state
            ia.t1_at = ia.t2_at = math.inf  # wait for the valid lifetimes to end

    # ------------------------------------------------------------- state --
    def export_state(self) -> dict:
        """The client's durable part (the state file, host/state.py): the next
        IAID and every IA_PD that holds prefixes and is not being released,
        with its leases; times absolute on the core clock (None: infinity).
        ``"acquirer"`` of an IA_PD is its :attr:`IaPd.share`."""
        ias = []
        for ia in self.ias.values():
            if ia.state == IaState.RELEASING or not ia.leases:
                continue
            ias.append({
                "iaid": ia.iaid, "type": _int_or_none(ia.mobility_type),
                "persistent": ia.persistent,
                "server_duid": encode_duid(ia.server_duid).hex() if ia.server_duid else None,
                "server_address": str(ia.server_address) if ia.server_address else None,
                "acquirer": ia.share,
                "leases": [{"prefix": str(le.prefix), "type": _int_or_none(le.mobility_type),
                            "preferred_lifetime": le.preferred_lifetime,
                            "valid_lifetime": le.valid_lifetime, "obtained": le.obtained,
                            "preferred_until": _finite(le.preferred_until),
                            "valid_until": _finite(le.valid_until),
                            "deprecated": le.deprecated}
                           for le in ia.leases.values()],
            })
        return {"next_iaid": self._next_iaid, "ias": ias}

    def restore_state(self, doc: dict, now: float, shift: float) -> None:
        """Take back what :meth:`export_state` wrote (``doc``: a dict with its
        keys), before :meth:`start`; ``shift`` is added to every time in it
        (the old core clock onto this one, less the time the agent was down).
        Prefixes whose valid lifetime ended meanwhile are dropped, and an IA_PD
        left with none; the others come back BOUND (the caller Rebinds them:
        RFC 8415 §18.2.12)."""
        def t(v):
            return math.inf if v is None else float(v) + shift

        for d in doc.get("ias", []):
            sd: Duid | None = decode_duid(bytes.fromhex(d["server_duid"])) \
                if d.get("server_duid") else None
            ia = IaPd(int(d["iaid"]), _mtype(d["type"]), state=IaState.BOUND,
                      server_duid=sd,
                      server_address=IPv6Address(d["server_address"])
                      if d.get("server_address") else None,
                      persistent=bool(d["persistent"]), created=now)
            for ld in d["leases"]:
                vu = t(ld["valid_until"])
                if vu <= now:
                    log.info("restored prefix %s expired while the agent was down",
                             ld["prefix"])
                    continue
                pu = min(t(ld["preferred_until"]), vu)
                net = IPv6Network(ld["prefix"])
                ia.leases[net] = Lease(net, _mtype(ld["type"]), int(ld["preferred_lifetime"]),
                                       int(ld["valid_lifetime"]),
                                       float(ld["obtained"]) + shift, pu, vu,
                                       deprecated=bool(ld["deprecated"]) or pu <= now)
            if not ia.leases:
                continue
            self.ias[ia.iaid] = ia
            if d.get("acquirer") is not None:
                ia.share = int(d["acquirer"])
        if self.ias:
            self._next_iaid = max(int(doc.get("next_iaid", 1)),
                                  max(self.ias) + 1) % (1 << 32) or 1
            # a Request may go straight to a known server (no Solicit) again
            for ia in self.ias.values():
                if ia.server_duid is not None and ia.server_address is not None:
                    key = encode_duid(ia.server_duid)
                    self.servers.setdefault(key, (ia.server_address, None))

    # ------------------------------------------------------------ status --
    def snapshot(self, now: float) -> list[dict]:
        """The IA_PDs as plain dicts (for ``odm host status``)."""
        out = []
        for ia in self.ias.values():
            out.append({
                "iaid": ia.iaid,
                "type": ia.mobility_type.cli_name if ia.mobility_type else None,
                "state": ia.state.value,
                "server": encode_duid(ia.server_duid).hex() if ia.server_duid else None,
                "t1_in": None if ia.t1_at == math.inf else round(ia.t1_at - now, 1),
                "t2_in": None if ia.t2_at == math.inf else round(ia.t2_at - now, 1),
                "prefixes": [{"prefix": str(l.prefix),
                              "preferred": l.remaining(now)[0], "valid": l.remaining(now)[1],
                              "deprecated": l.deprecated} for l in ia.leases.values()],
            })
        return out
