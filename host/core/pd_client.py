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
  :mod:`host.core.pd_transitions`; what a received message does
  (:mod:`host.core.pd_receive`, a part of :class:`PdClient`) and what the end
  of an unanswered exchange does (:meth:`PdClient._on_rt_expired`) are looked
  up there; every state is set through :meth:`PdClient._set_state`, which
  logs each transition;
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

import hashlib
import logging
import math
import random
from collections import deque
from ipaddress import IPv6Address

from host.config import HostConfig, Timers
from host.core.droplog import DropLog
from host.core.events import (
    Event,
    FailureReason,
    MType,
    PrefixDeprecated,
    PrefixExpired,
    PrefixRemoved,
    RequestFailed,
)
from host.core.pd_budget import FairBudget
from host.core.pd_judge import Verdict
from host.core.pd_model import Exchange, ExchangeKind, IaPd, IaState, Lease
from host.core.pd_receive import MIN_CLIENT_T1, PdReceiver
from host.core.pd_release import ABANDONED_MAX, ABANDONED_WINDOW, LateReplies
from host.core.pd_transitions import ON_GIVE_UP, Action
from host.core.retransmit import Retransmitter, RtParams
from host.core.trust import TrustFilter
from odm_sansio import Outgoing
from odm_wire.constants import (
    ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
    DHCP6_SERVER_PORT,
    MessageType,
    MobilityType,
)
from odm_wire.dhcp6 import (
    Duid,
    IAPrefix,
    encode_duid,
)

log = logging.getLogger(__name__)

__all__ = ["ABANDONED_MAX", "ABANDONED_WINDOW", "MIN_CLIENT_T1", "Exchange", "ExchangeKind",
           "IaPd", "IaState", "Lease", "PdClient", "Verdict"]

ALL_SERVERS = IPv6Address(ALL_DHCP_RELAY_AGENTS_AND_SERVERS)


class PdClient(PdReceiver):
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
                 timers: Timers | None = None, iaid_key: bytes | None = None) -> None:
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
        # RFC 8415 §12: a client's IAIDs stay the same across its restarts,
        # kept in non-volatile storage (the state file, when there is one:
        # restore_state) or made by an algorithm that gives the same ones while
        # its configuration is unchanged: the first from a hash of ``iaid_key``
        # (the host's secret, interface and DUID), the next ones counted from
        # it, in the order the IA_PDs are made (the legacy one and the boot
        # types first). A restart without a state file (a crash) then asks for
        # the same IA_PDs, and the server gives back their bindings instead of
        # keeping them, unused, until they expire.
        self._next_iaid = (int.from_bytes(hashlib.sha256(b"odm IAID " + iaid_key).digest()[:3])
                           or 1) if iaid_key is not None else self.rng.randrange(1, 1 << 24)
        self._first_solicit_done = not config.first_solicit_delay
        self.sol_max_rt = self.timers.sol_max_rt
        #: Types the network is known to offer (SUPPORTED_TYPES, grants, RA bits).
        self.network_types: set[MobilityType] = set()
        #: server DUID octets → (address, supported types or None) of the
        #: servers heard on the current link (:meth:`forget_servers`)
        self.servers: dict[bytes, tuple[IPv6Address, tuple | None]] = {}
        #: datagrams dropped (total), and per named reason with the parts of
        #: messages ignored or salvaged (host/core/droplog.py)
        self.dropped = 0
        self.drops = DropLog(log)
        self._now: float | None = None
        #: the host's trust filter (host/core/trust.py), applied to what is
        #: salvaged from a damaged message (the filter passes what it cannot decode)
        self.trust: TrustFilter | None = None

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
            self._start_request(ia, now, server, hints=(), why="acquire from a known server")
        else:
            self._start_solicit(ia, now, "acquire")
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
        self._set_state(ia, IaState.IDLE, "cancelled")
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

    def rebind_all(self, now: float, *, delay: bool = True) -> None:
        """After a possible link change (a move, :mod:`host.core.moves`), or a
        restart: Rebind every IA_PD that holds prefixes, with the Confirm's
        retransmission parameters (RFC 8415 §18.2.12: IRT CNF_TIMEOUT, MRT
        CNF_MAX_RT, MRD CNF_MAX_RD; then the ordinary Rebind until the valid
        lifetimes end); restart Solicits.

        ``delay``: the first Rebind also waits a random 0..CNF_MAX_DELAY, the
        first-message delay of a Confirm (§18.2.3). §18.2.12 borrows the
        Confirm's *retransmission* parameters (§7.6 lists CNF_MAX_DELAY apart,
        as a transmission parameter), so the delay is a choice: it spreads
        hosts that see one event together (a restart, a switch coming back);
        after a move the host is alone in its event, and the delay would hold
        every prefix's traffic (the router's re-routing waits for the
        Rebind)."""
        t = self.timers
        for ia in list(self.ias.values()):
            if ia.state == IaState.RELEASING:
                continue
            if ia.leases:
                self._end_exchange(ia)
                self._set_state(ia, IaState.REBINDING, "link change or restart")
                self._new_exchange(
                    ExchangeKind.REBIND_AFTER_MOVE, ia,
                    RtParams(t.cnf_timeout, t.cnf_max_rt, 0, t.cnf_max_rd),
                    now + (self.rng.uniform(0, t.cnf_max_delay) if delay else 0.0),
                    hints=self._lease_hints(ia))
            elif ia.state in (IaState.SOLICITING, IaState.REQUESTING):
                self._end_exchange(ia)
                self._start_solicit(ia, now, "link change or restart")

    def forget_servers(self) -> None:
        """The host left the link (a move, :mod:`host.core.moves`): the
        servers heard there are no longer the ones it talks to, and
        ``odm host status`` shows only those heard on the current link. Each
        IA_PD keeps its own server (DUID, address) until a Reply of the new
        link replaces it; nothing else reads this table."""
        self.servers.clear()

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

    # ------------------------------------------------------------- internals --
    def _set_state(self, ia: IaPd, state: IaState, why: str) -> None:
        """The one place an IA_PD's state changes; every change is logged
        (DEBUG) with ``why`` (the input that caused it)."""
        if ia.state is not state:
            log.debug("IA_PD 0x%08x (%s): %s -> %s (%s)", ia.iaid,
                      ia.mobility_type.name if ia.mobility_type else "untyped",
                      ia.state.name, state.name, why)
            ia.state = state

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

    def _lease_hints(self, ia: IaPd) -> tuple[IAPrefix, ...]:
        return tuple(IAPrefix(0, 0, le.prefix.prefixlen, le.prefix.network_address)
                     for le in ia.leases.values())

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

    def _start_solicit(self, ia: IaPd, now: float, why: str) -> None:
        t = self.timers
        delay = 0.0
        if not self._first_solicit_done:
            delay = self.rng.uniform(0, t.sol_max_delay)
            self._first_solicit_done = True
        self._set_state(ia, IaState.SOLICITING, why)
        ex = self._new_exchange(ExchangeKind.SOLICIT, ia,
                                RtParams(t.sol_timeout, self.sol_max_rt), now + delay,
                                first_rt_above_irt=True)
        ex.rapid_commit = self.config.rapid_commit
        if delay == 0.0:
            self._transmit(ex, now)

    def _start_request(self, ia: IaPd, now: float, server: Duid | None, hints, *,
                       kind: ExchangeKind = ExchangeKind.REQUEST,
                       why: str = "Advertise chosen") -> None:
        """A Request to ``server``: ``REQUEST`` for a new binding (REQUESTING),
        ``REQUEST_BINDING`` after NoBinding (the IA_PD stays BOUND)."""
        t = self.timers
        if kind is ExchangeKind.REQUEST:
            self._set_state(ia, IaState.REQUESTING, why)
        ex = self._new_exchange(kind, ia, RtParams(t.req_timeout, t.req_max_rt, t.req_max_rc),
                                now, server_duid=server, hints=hints)
        self._transmit(ex, now)

    def _start_rebind(self, ia: IaPd, now: float) -> None:
        """The ordinary Rebind (RFC 8415 §18.2.5), until the last valid lifetime ends."""
        t = self.timers
        mrd = max(le.valid_until for le in ia.leases.values()) - now
        ex = self._new_exchange(ExchangeKind.REBIND, ia,
                                RtParams(t.reb_timeout, t.reb_max_rt, 0,
                                         0.0 if mrd == math.inf else mrd),
                                now, hints=self._lease_hints(ia))
        self._transmit(ex, now)

    def _start_release(self, ia: IaPd, server_duid: Duid | None, hints, now: float
                       ) -> None:
        """Release (RFC 8415 §18.2.7) the prefixes ``hints`` of ``ia``, which
        is no longer kept (RELEASING; any Reply ends it)."""
        ia.persistent = False
        self._set_state(ia, IaState.RELEASING, "release")
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

    def _build(self, ex: Exchange, now: float) -> Outgoing:
        return Outgoing(ex.encode(self.duid, self.config, now), ALL_SERVERS, "dhcp6",
                        DHCP6_SERVER_PORT)

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
            self._start_solicit(ia, now, "no prefix left (RFC 8415 §18.2.5)")
        else:
            self._set_state(ia, IaState.IDLE, "no prefix left")
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
            self._set_state(ia, IaState.REBINDING, "T2")
            self._start_rebind(ia, now)
        elif ia.state == IaState.BOUND and ia.exchange is None and now >= ia.t1_at:
            self._set_state(ia, IaState.RENEWING, "T1")
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
            log.info("Release of IA_PD 0x%08x: no Reply after %d tries", ia.iaid, ex.rt.count)
            self._forget(ia)
        elif action is Action.REQUEST_FAILED:
            detail = f"no Reply to Request after {ex.rt.count} transmissions (REQ_MAX_RC)"
            self._emit(RequestFailed(ia.mobility_type, self.failure_reason(ia.mobility_type),
                                     detail, ia.iaid, False))
            self._start_solicit(ia, now, f"{ex.kind.name} unanswered")
        elif action is Action.KEEP_BINDING:
            assert state is not None  # ON_GIVE_UP names it
            self._set_state(ia, state, f"{ex.kind.name} unanswered")
            if now >= ia.t1_at:
                ia.t1_at = ia.t2_at
        elif action is Action.REBIND and ia.leases:
            self._start_rebind(ia, now)
        elif action is Action.REBIND_AT_T2:
            assert state is not None  # ON_GIVE_UP names it
            self._set_state(ia, state, f"{ex.kind.name} unanswered")  # T2 takes over
            ia.t1_at = ia.t2_at
        else:  # KEEP_TO_EXPIRY: wait for the valid lifetimes to end
            if ia.leases:
                self._set_state(ia, IaState.BOUND, f"{ex.kind.name} unanswered")
            ia.t1_at = ia.t2_at = math.inf

    # ------------------------------------------------------------- state --
    def export_state(self) -> dict:
        """The client's durable part (the state file, host/state.py): the next
        IAID and every IA_PD that holds prefixes and is not being released
        (:meth:`IaPd.export`); times absolute on the core clock (None:
        infinity)."""
        return {"next_iaid": self._next_iaid,
                "ias": [ia.export() for ia in self.ias.values()
                        if ia.state != IaState.RELEASING and ia.leases]}

    def restore_state(self, doc: dict, now: float, shift: float) -> None:
        """Take back what :meth:`export_state` wrote (``doc``: a dict with its
        keys), before :meth:`start`; ``shift`` is added to every time in it
        (the old core clock onto this one, less the time the agent was down).
        Prefixes whose valid lifetime ended meanwhile are dropped, and an IA_PD
        left with none; the others come back BOUND (the caller Rebinds them:
        RFC 8415 §18.2.12)."""
        for d in doc.get("ias", []):
            ia = IaPd.restore(d, now, shift)
            if ia is not None:
                self.ias[ia.iaid] = ia
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
                "server": encode_duid(ia.server_duid).hex(":") if ia.server_duid else None,
                "t1_in": None if ia.t1_at == math.inf else round(ia.t1_at - now, 1),
                "t2_in": None if ia.t2_at == math.inf else round(ia.t2_at - now, 1),
                "prefixes": [{"prefix": str(le.prefix),
                              "preferred": le.remaining(now)[0], "valid": le.remaining(now)[1],
                              "deprecated": le.deprecated} for le in ia.leases.values()],
            })
        return out
