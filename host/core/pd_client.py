"""DHCPv6 Prefix Delegation client core (RFC 8415 §18.2, §15, §14.1), sans-I/O.

One :class:`IaPd` per acquisition: each requested mobility type gets its own
IA_PD with a fresh IAID, and an untyped (legacy) IA_PD carries the default
prefix with no odm option at all (spec §5.2). Each IA_PD runs its own message
exchanges (Solicit/Advertise/Request/Reply, Renew at T1, Rebind at T2, Release),
so a FIXED prefix with long lifetimes is not renewed at the pace of a short
NON_PERSISTENT one, and every message carries exactly one type — which is also
what lets ISC Kea classify it (:mod:`host.core.pd_kea`). The wire form of a
typed IA_PD (DESIGN §2): ORO lists 17 and 82; the IA_PD holds an IAPREFIX hint
``::/<hint>`` with zero lifetimes whose IAprefix-options hold
``mobility_type_option(t, pen)``; Requests, Renews, Rebinds and Releases repeat
the type inside every IAPREFIX (draft-moses M4).

Where the parts are:

- the records (IaState, ExchangeKind, Lease, IaPd, Exchange):
  :mod:`host.core.pd_model`;
- judging what is received (validation, salvage of trailing damage, the
  :class:`~host.core.pd_judge.Verdict` on each IA_PD): :mod:`host.core.pd_judge`;
- the transitions, as tables keyed on (state, exchange kind, verdict):
  :mod:`host.core.pd_transitions`; this module runs them
  (:meth:`PdClient._on_reply`, :meth:`PdClient._on_rt_expired`) and sets every
  state through :meth:`PdClient._set_state`, which logs each transition;
- Kea's top-level type, the workaround for one server: :mod:`host.core.pd_kea`;
- the release of late Replies to cancelled exchanges, and of prefixes a Reply
  committed that the client does not use: :mod:`host.core.pd_release`;
- the §14.1 send budget shared fairly among uids: :mod:`host.core.pd_budget`.

Timers: T1 = T2 = 0 → the client picks 0.5 / 0.8 of the shortest non-zero
preferred lifetime (never "now": at least 1 s); infinite T1/T2 → no renewal;
expiry happens at each prefix's valid lifetime (not at T2, not at a failed
Rebind). A Reply to Renew/Rebind with NoBinding in the IA_PD → Request for it,
keeping the prefix meanwhile (§18.2.10.1). A prefix with valid lifetime 0 in a
Reply is removed at once; preferred 0 deprecates it (GRACEFUL after a move:
:mod:`host.core.moves`). Retransmission per §15
(:class:`~host.core.retransmit.Retransmitter`).
"""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from dataclasses import replace
from ipaddress import IPv6Address, IPv6Network

from host.config import HostConfig, Timers
from host.core import pd_kea
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
from host.core.pd_budget import FairBudget
from host.core.pd_judge import Judgement, Verdict, judge, net_of, salvage, supported_types
from host.core.pd_model import Exchange, ExchangeKind, IaPd, IaState, Lease
from host.core.pd_release import ABANDONED_MAX, ABANDONED_WINDOW, LateReplies, unused_grants
from host.core.pd_transitions import ON_GIVE_UP, ON_REPLY, Action
from host.core.retransmit import Retransmitter, RtParams
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
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import (
    IAPD,
    Advertise,
    ClientId,
    Duid,
    ElapsedTime,
    IAPrefix,
    Message,
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
    decode_dhcp6,
    decode_duid,
    encode_dhcp6,
    encode_duid,
    mobility_type_option,
)
from odm_wire.errors import WireFormatError

log = logging.getLogger(__name__)

__all__ = ["ABANDONED_MAX", "ABANDONED_WINDOW", "MIN_CLIENT_T1", "Exchange", "ExchangeKind",
           "IaPd", "IaState", "Lease", "PdClient", "Verdict"]

ALL_SERVERS = IPv6Address(ALL_DHCP_RELAY_AGENTS_AND_SERVERS)
ORO_CODES = (int(OptionCode.VENDOR_OPTS), int(OptionCode.SOL_MAX_RT))
#: Shortest T1 the client picks itself when the server leaves T1/T2 to it.
MIN_CLIENT_T1 = 1.0
_MESSAGE_CLASS = {MessageType.SOLICIT: Solicit, MessageType.REQUEST: Request,
                  MessageType.RENEW: Renew, MessageType.REBIND: Rebind,
                  MessageType.RELEASE: Release}


def _finite(v: float) -> float | None:
    return None if v == math.inf else v


def _int_or_none(v) -> int | None:
    return None if v is None else int(v)


def _mtype(v) -> MobilityType | None:
    return None if v is None else MobilityType(v)


class PdClient:
    """The DHCPv6-PD client state machine for one interface.

    Inputs: :meth:`handle_datagram` (UDP payloads from port 547),
    :meth:`handle_timer`, and the API calls :meth:`start`, :meth:`acquire`,
    :meth:`cancel`, :meth:`release`, :meth:`release_all`, :meth:`rebind_all`.
    Outputs: :meth:`datagrams_to_send` (to ff02::1:2 port 547),
    :meth:`get_timer`, :meth:`next_event`. ``rng`` drives xids, IAIDs and the
    §15 randomisation (inject a seeded :class:`random.Random` in tests).
    State for the state file: :meth:`export_state`, :meth:`restore_state`.
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
        self._late = LateReplies()
        self._out: list[Outgoing] = []
        self._budget = FairBudget(self.timers.rate_limit_count, self.timers.rate_limit_interval)
        self._events: deque[Event] = deque()
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
        #: the host's trust filter (host/core/trust.py), applied to what is
        #: salvaged from a damaged message (the filter passes what it cannot decode)
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
        the §14.1 budget its messages use (:mod:`host.core.pd_budget`)."""
        iaid = self._new_iaid()
        ia = IaPd(iaid, mobility_type, persistent=persistent, created=now, share=share)
        self.ias[iaid] = ia
        server = self._known_server() if via in ("auto", "request") else None
        if server is not None:
            self._start_request(ia, now, server, hints=())
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
            # one already sent may still be answered (host/core/pd_release.py)
            if ex.kind in (ExchangeKind.REQUEST, ExchangeKind.REQUEST_BINDING) or (
                    ex.kind == ExchangeKind.SOLICIT and ex.rapid_commit):
                self._late.remember(ex.xid, ex.ia, now)
        self._end_exchange(ia)
        for lease in list(ia.leases.values()):
            self._drop_lease(ia, lease, "discarded")
        self._set_state(ia, IaState.IDLE)
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
        self._start_release(ia, ia.server_duid, hints, now)

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
        """After a possible link change (a move, :mod:`host.core.moves`), or a
        restart: Rebind every IA_PD that holds prefixes, with Confirm-like
        timing (RFC 8415 §18.2.12: delay up to CNF_MAX_DELAY, IRT CNF_TIMEOUT,
        MRT CNF_MAX_RT, MRD CNF_MAX_RD; then the ordinary Rebind until the
        valid lifetimes end); restart Solicits."""
        t = self.timers
        for ia in list(self.ias.values()):
            if ia.state == IaState.RELEASING:
                continue
            if ia.leases:
                self._end_exchange(ia)
                self._set_state(ia, IaState.REBINDING)
                self._new_exchange(
                    ExchangeKind.REBIND_AFTER_MOVE, ia,
                    RtParams(t.cnf_timeout, t.cnf_max_rt, 0, t.cnf_max_rd),
                    now + self.rng.uniform(0, t.cnf_max_delay), hints=self._lease_hints(ia))
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

    def deferred_count(self) -> int:
        """Messages waiting for a §14.1 token."""
        return self._budget.count()

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
        token = self._budget.next_token()
        if token is not None:
            t = min(t, token)
        return None if t == math.inf else t

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
        """One UDP payload received on port 546 from ``src``, judged
        (:mod:`host.core.pd_judge`) before it changes anything."""
        if kind != "dhcp6":
            return
        self._now = now
        try:
            msg = decode_dhcp6(data, self.config.pen)
        except WireFormatError as exc:
            msg = salvage(data, exc, src, now, pen=self.config.pen, drop=self._drop,
                          drops=self.drops, trust=self.trust)
            if msg is None:
                return
        if type(msg) not in (Advertise, Reply):
            self._drop(src, "not-for-a-client", f"{type(msg).__name__} is not for a client", now)
            return
        ex = self._exchanges.get(msg.transaction_id)
        if ex is None:
            if self._on_late_reply(msg, src, now):
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
        pd_kea.note_ignored(msg, ex.ia, src, now, self.drops)
        if type(msg) is Advertise:
            if ex.kind != ExchangeKind.SOLICIT:
                self._drop(src, "advertise-outside-solicit", "Advertise outside a Solicit exchange",
                           now)
                return
            self._on_advertise(ex, msg, src, now)
        else:
            self._on_reply(ex, msg, src, now)

    # ------------------------------------------------------------- internals --
    def _set_state(self, ia: IaPd, state: IaState) -> None:
        """The one place an IA_PD's state changes; every change is logged
        (DEBUG) with the exchange under way."""
        if ia.state is not state:
            log.debug("IA_PD %d (%s): %s -> %s%s", ia.iaid,
                      ia.mobility_type.name if ia.mobility_type else "untyped",
                      ia.state.name, state.name,
                      f" ({ia.exchange.kind.name})" if ia.exchange is not None else "")
            ia.state = state

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
        sup = supported_types(msg)
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

    def _new_exchange(self, kind: ExchangeKind, ia: IaPd, params: RtParams, send_at: float, *,
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
            self._budget.withdraw(ex)

    def _start_solicit(self, ia: IaPd, now: float) -> None:
        t = self.timers
        delay = 0.0
        if not self._first_solicit_done:
            delay = self.rng.uniform(0, t.sol_max_delay)
            self._first_solicit_done = True
        self._set_state(ia, IaState.SOLICITING)
        ex = self._new_exchange(ExchangeKind.SOLICIT, ia,
                                RtParams(t.sol_timeout, self.sol_max_rt), now + delay,
                                first_rt_above_irt=True)
        ex.rapid_commit = self.config.rapid_commit
        if delay == 0.0:
            self._transmit(ex, now)

    def _start_request(self, ia: IaPd, now: float, server: Duid, hints, *,
                       kind: ExchangeKind = ExchangeKind.REQUEST) -> None:
        """A Request to ``server``: ``REQUEST`` for a new binding (REQUESTING),
        ``REQUEST_BINDING`` after NoBinding (the IA_PD stays BOUND)."""
        t = self.timers
        if kind is ExchangeKind.REQUEST:
            self._set_state(ia, IaState.REQUESTING)
        ex = self._new_exchange(kind, ia, RtParams(t.req_timeout, t.req_max_rt, t.req_max_rc),
                                now, server_duid=server, hints=hints)
        self._transmit(ex, now)

    def _start_rebind(self, ia: IaPd, now: float) -> None:
        """The ordinary Rebind (RFC 8415 §18.2.5), until the last valid lifetime ends."""
        t = self.timers
        mrd = max(l.valid_until for l in ia.leases.values()) - now
        ex = self._new_exchange(ExchangeKind.REBIND, ia,
                                RtParams(t.reb_timeout, t.reb_max_rt, 0,
                                         0.0 if mrd == math.inf else mrd),
                                now, hints=self._lease_hints(ia))
        self._transmit(ex, now)

    def _start_release(self, ia: IaPd, server_duid: Duid, hints, now: float) -> None:
        """Release (RFC 8415 §18.2.7) the prefixes ``hints`` of ``ia``, which
        is no longer kept (RELEASING; any Reply ends it)."""
        ia.persistent = False
        self._set_state(ia, IaState.RELEASING)
        t = self.timers
        ex = self._new_exchange(ExchangeKind.RELEASE, ia,
                                RtParams(t.rel_timeout, 0, t.rel_max_rc), now,
                                server_duid=server_duid, hints=hints)
        self._transmit(ex, now)

    def _transmit(self, ex: Exchange, now: float) -> None:
        """(Re)send ``ex`` now, subject to the §14.1 budget (pd_budget.py)."""
        if not ex.started:
            ex.rt.start(now)
            if ex.kind == ExchangeKind.SOLICIT:
                ex.collect_until = ex.rt.deadline
        if self._budget.try_send(ex.ia.share, now):
            self._out.append(self._build(ex, now))
            return
        self._budget.defer(ex, now)
        self._send_deferred(now)

    def _send_deferred(self, now: float) -> None:
        self._budget.release_ready(now, lambda ex: self._exchanges.get(ex.xid) is ex,
                                   lambda ex: self._out.append(self._build(ex, now)))

    def _type_opts(self, t: MType) -> tuple:
        return (mobility_type_option(t, self.config.pen),) if t is not None else ()

    def _build(self, ex: Exchange, now: float) -> Outgoing:
        ia = ex.ia
        msg_type = ex.message
        topts = self._type_opts(ia.mobility_type)
        if ex.hints:
            prefixes = tuple(replace(h, preferred_lifetime=0, valid_lifetime=0, options=topts)
                             for h in ex.hints)
        elif msg_type in (MessageType.SOLICIT, MessageType.REQUEST):
            prefixes = (IAPrefix(0, 0, self.config.prefix_length_hint, IPv6Address("::"), topts),)
        else:
            prefixes = ()
        opts: list = [ClientId(self.duid)]
        if ex.server_duid is not None and msg_type in (
                MessageType.REQUEST, MessageType.RENEW, MessageType.RELEASE):
            opts.append(ServerId(ex.server_duid))
        opts.append(ElapsedTime(ex.rt.elapsed_centis(now)))
        if msg_type != MessageType.RELEASE:
            opts.append(OptionRequest(ORO_CODES))
        if msg_type == MessageType.SOLICIT and ex.rapid_commit:
            opts.append(RapidCommit())
        opts.append(IAPD(ia.iaid, 0, 0, prefixes))
        opts.extend(pd_kea.sent_options(self.config, ia))
        payload = encode_dhcp6(_MESSAGE_CLASS[msg_type](ex.xid, tuple(opts)))
        return Outgoing(payload, ALL_SERVERS, "dhcp6", DHCP6_SERVER_PORT)

    def _refusal(self, ia: IaPd, ex: Exchange, v: Judgement, *, final: bool = False) -> None:
        if ex.refused_reported and not final:
            return
        ex.refused_reported = True
        if v.verdict is Verdict.UNTYPED:
            reason = FailureReason.NOTSUPPORTED
        else:
            reason = self.failure_reason(ia.mobility_type)
        self._emit(RequestFailed(ia.mobility_type, reason, v.detail, ia.iaid, final))

    # ---- Advertise
    def _on_advertise(self, ex: Exchange, msg: Message, src: IPv6Address, now: float) -> None:
        ia = ex.ia
        v = judge(ia, msg, self.drops, self._now)
        if v.verdict is not Verdict.OK or not any(p.valid_lifetime for p, _ in v.grants):
            # RFC 8415 §18.2.9: an Advertise with no prefix is ignored; the
            # Solicit keeps backing off.
            self.drops("advertise-without-prefix", now, "Advertise from %s for IAID %d "
                       "ignored: %s", src, ia.iaid, v.detail or v.verdict.value)
            if v.verdict.refused and ia.mobility_type is not None:
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
        """A Reply to ``ex``: judged, then the transition of
        :data:`~host.core.pd_transitions.ON_REPLY` for (state, exchange kind,
        verdict) runs."""
        ia = ex.ia
        if ex.kind == ExchangeKind.RELEASE:
            log.info("Release of IAID %d acknowledged by %s", ia.iaid, src)
            self._end_exchange(ia)
            self._forget(ia)
            return
        if ex.kind == ExchangeKind.SOLICIT and msg.get(RapidCommit) is None:
            self._drop(src, "reply-without-rapid-commit",
                       "Reply to Solicit without Rapid Commit (RFC 8415 §18.2.1)", now)
            return
        top = rules.message_status(msg)
        if top in (SC.UNSPEC_FAIL, SC.USE_MULTICAST):
            self.drops("reply-status-retransmit", now, "Reply from %s with top-level status "
                       "%d: ignored, retransmitting", src, int(top))
            return
        v = judge(ia, msg, self.drops, self._now)
        action, state = ON_REPLY[(ia.state, ex.kind, v.verdict)]
        if action is Action.IGNORE:
            self.drops("reply-ia-pd-unusable", now, "Reply from %s: IA_PD %d %s; ignored",
                       src, ia.iaid, v.detail)
            return
        if v.dropped and not (v.verdict is Verdict.UNTYPED and ex.message in (
                MessageType.SOLICIT, MessageType.REQUEST)):
            # committed by the server (this is a Reply), not used here: give
            # them back (RFC 8415 §18.2.7, host/core/pd_release.py)
            self._release_unused(ia, v.dropped, msg, now)
        if action is Action.REPORT:
            if ia.mobility_type is not None:
                self._refusal(ia, ex, v)
            return
        if action is Action.RELEASE_UNTYPED:
            self._refusal(ia, ex, v, final=True)
            self._release_untyped(ia, msg, now)
            return
        if action is Action.RESOLICIT:
            if ia.mobility_type is not None:
                self._refusal(ia, ex, v)
            self._end_exchange(ia)
            self._start_solicit(ia, now)
            return
        self._end_exchange(ia)
        if action is Action.BIND:
            self._bind(ia, v, msg, src, now)
            return
        self._set_state(ia, state)
        if action is Action.REQUEST_BINDING:
            log.info("NoBinding for IAID %d from %s: Request (RFC 8415 §18.2.10.1)", ia.iaid, src)
            self._start_request(ia, now, msg.server_duid, self._lease_hints(ia) or (),
                                kind=ExchangeKind.REQUEST_BINDING)
            return
        log.info("%s for IAID %d refused (%s): keeping prefixes until they expire",
                 ex.message.name, ia.iaid, v.detail)
        if action is Action.REBIND_AT_T2:
            ia.t1_at = ia.t2_at
        else:  # KEEP_TO_EXPIRY
            ia.t1_at = ia.t2_at = math.inf

    def _forget(self, ia: IaPd) -> None:
        """Drop ``ia`` from :attr:`ias` if it is there (a Release of a cancelled
        IA_PD runs outside it, and its IAID may be in use again)."""
        if self.ias.get(ia.iaid) is ia:
            del self.ias[ia.iaid]

    def _on_late_reply(self, msg: Message, src: IPv6Address, now: float) -> bool:
        """A Reply to a Request or Rapid Commit Solicit of an IA_PD cancelled
        while it was on the wire: its grants are released at once
        (host/core/pd_release.py). True when the message was such a Reply."""
        got = self._late.take(msg, self.duid_bytes, src, now)
        if got is None:
            return False
        ia, granted = got
        if granted:
            # the Release runs on the cancelled IA_PD, which stays out of self.ias
            ia.leases.clear()
            ia.exchange = None
            self._start_release(ia, msg.server_duid,
                                tuple(IAPrefix(0, 0, p.prefix_length, p.prefix)
                                      for p in granted), now)
        return True

    def _release_unused(self, ia: IaPd, dropped: tuple, msg: Message, now: float) -> None:
        """Release the prefixes of ``dropped`` that a Reply committed to
        ``ia`` and the client does not use, on a detached IA_PD of the same
        IAID, so ``ia`` itself keeps its state and exchanges."""
        todo = unused_grants(dropped, ia.leases)
        if not todo:
            return
        self.drops("grant-released", now, "releasing %s granted to IA_PD %d and not used "
                   "(RFC 8415 §18.2.7)", ", ".join(f"{p.prefix}/{p.prefix_length}"
                                                 for p in todo), ia.iaid)
        rel = IaPd(ia.iaid, ia.mobility_type, persistent=False, created=now)
        self._start_release(rel, msg.server_duid,
                            tuple(IAPrefix(0, 0, p.prefix_length, p.prefix, p.options)
                                  for p in todo), now)

    def _release_untyped(self, ia: IaPd, msg: Message, now: float) -> None:
        """A server without odm committed untyped prefixes to the typed
        ``ia`` (draft-moses M6): give them back."""
        mine = [o for o in msg.ia_pds if o.iaid == ia.iaid]
        hints = tuple(IAPrefix(0, 0, p.prefix_length, p.prefix) for p in mine[0].prefixes) \
            if mine else ()
        self._end_exchange(ia)
        ia.persistent = False
        if not hints:
            self.ias.pop(ia.iaid, None)
            return
        self._start_release(ia, msg.server_duid, hints, now)

    def _bind(self, ia: IaPd, v: Judgement, msg: Message, src: IPv6Address, now: float) -> None:
        server = encode_duid(msg.server_duid)
        ia.server_duid = msg.server_duid
        ia.server_address = src
        for p, mt in v.grants:
            net = net_of(p)
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
        self._set_state(ia, IaState.BOUND)
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
            self._set_state(ia, IaState.IDLE)
            self.ias.pop(ia.iaid, None)

    def _ia_timers(self, ia: IaPd, now: float) -> None:
        """Lifetimes and T1/T2 of ``ia`` (pd_transitions.py: timer-driven)."""
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
                    and ia.exchange.kind is ExchangeKind.REQUEST_BINDING):
                self._ia_empty(ia, now)
            return
        t = self.timers
        if ia.state in (IaState.BOUND, IaState.RENEWING) and now >= ia.t2_at and (
                ia.exchange is None or ia.exchange.message != MessageType.REQUEST):
            self._end_exchange(ia)
            self._set_state(ia, IaState.REBINDING)
            self._start_rebind(ia, now)
        elif ia.state == IaState.BOUND and ia.exchange is None and now >= ia.t1_at:
            self._set_state(ia, IaState.RENEWING)
            mrd = ia.t2_at - now
            ex = self._new_exchange(ExchangeKind.RENEW, ia,
                                    RtParams(t.ren_timeout, t.ren_max_rt, 0,
                                             0.0 if mrd == math.inf else max(mrd, 1e-3)),
                                    now, server_duid=ia.server_duid,
                                    hints=self._lease_hints(ia))
            self._transmit(ex, now)

    def _on_rt_expired(self, ex: Exchange, now: float) -> None:
        """A retransmission timer of ``ex`` ran out: send again, or (MRC/MRD
        reached) the transition of :data:`~host.core.pd_transitions.ON_GIVE_UP`."""
        ia = ex.ia
        if ex.rt.expire(now):
            if ex.kind == ExchangeKind.SOLICIT and ex.advertises:
                self._choose_advertise(ex, now)
                return
            self._transmit(ex, now)
            return
        action, state = ON_GIVE_UP[(ia.state, ex.kind)]
        self._end_exchange(ia)
        if action is Action.FORGET:
            log.info("Release of IAID %d: no Reply after %d tries", ia.iaid, ex.rt.count)
            self._forget(ia)
        elif action is Action.REQUEST_FAILED:
            detail = f"no Reply to Request after {ex.rt.count} transmissions (REQ_MAX_RC)"
            self._emit(RequestFailed(ia.mobility_type, self.failure_reason(ia.mobility_type),
                                     detail, ia.iaid, False))
            self._start_solicit(ia, now)
        elif action is Action.KEEP_BINDING:
            self._set_state(ia, state)
            if now >= ia.t1_at:
                ia.t1_at = ia.t2_at
        elif action is Action.REBIND and ia.leases:
            self._start_rebind(ia, now)
        elif action is Action.REBIND_AT_T2:
            self._set_state(ia, state)  # T2 takes over (Rebind)
            ia.t1_at = ia.t2_at
        else:  # KEEP_TO_EXPIRY: wait for the valid lifetimes to end
            if ia.leases:
                self._set_state(ia, IaState.BOUND)
            ia.t1_at = ia.t2_at = math.inf

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
