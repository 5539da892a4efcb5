"""What the DHCPv6-PD client does with the Advertises and Replies it
receives (RFC 8415 §18.2.9, §18.2.10), sans-I/O: a part of
:class:`host.core.pd_client.PdClient` (a mixin; it uses the client's
records, exchanges and outputs). Each message is judged first
(:func:`host.core.pd_judge.judge`); a Reply then runs the transition that
:data:`host.core.pd_transitions.ON_REPLY` gives for the IA_PD's state, the
exchange kind and the verdict.
"""

from __future__ import annotations

import logging
import math
from ipaddress import IPv6Address
from typing import TYPE_CHECKING

from host.config import HostConfig, Timers
from host.core import pd_kea
from host.core.droplog import DropLog
from host.core.events import (
    Event,
    FailureReason,
    MType,
    PrefixBound,
    PrefixDeprecated,
    PrefixRenewed,
    RequestFailed,
    ServerSeen,
)
from host.core.pd_judge import Judgement, Verdict, judge, net_of, salvage, supported_types
from host.core.pd_model import Exchange, ExchangeKind, IaPd, IaState, Lease
from host.core.pd_release import LateReplies, unused_grants
from host.core.pd_transitions import ON_REPLY, Action
from host.core.trust import TrustFilter
from odm_wire import rules
from odm_wire.constants import INFINITY, MessageType, MobilityType
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import (
    Advertise,
    ClientId,
    Duid,
    IAPrefix,
    Message,
    Preference,
    RapidCommit,
    RelayMessage,
    Reply,
    SolMaxRt,
    decode_dhcp6,
    encode_duid,
)
from odm_wire.errors import WireFormatError

__all__ = ["MIN_CLIENT_T1", "PdReceiver"]

#: the PD client has one logger, whichever of its modules speaks
log = logging.getLogger("host.core.pd_client")

#: Shortest T1 the client picks itself when the server leaves T1/T2 to it.
MIN_CLIENT_T1 = 1.0


class PdReceiver:
    """The receiving half of :class:`host.core.pd_client.PdClient`."""

    if TYPE_CHECKING:  # what it uses of the client (pd_client.py)
        config: HostConfig
        timers: Timers
        trust: TrustFilter | None
        duid_bytes: bytes
        ias: dict[int, IaPd]
        _exchanges: dict[int, Exchange]
        _late: LateReplies
        _now: float | None
        dropped: int
        drops: DropLog
        network_types: set[MobilityType]
        servers: dict[bytes, tuple[IPv6Address, tuple | None]]

        def _emit(self, ev: Event) -> None: ...
        def _set_state(self, ia: IaPd, state: IaState, why: str) -> None: ...
        def _end_exchange(self, ia: IaPd) -> None: ...
        def _lease_hints(self, ia: IaPd) -> tuple[IAPrefix, ...]: ...
        def _start_solicit(self, ia: IaPd, now: float, why: str) -> None: ...
        def _start_request(self, ia: IaPd, now: float, server: Duid | None, hints, *,
                           kind: ExchangeKind = ..., why: str = ...) -> None: ...
        def _start_release(self, ia: IaPd, server_duid: Duid | None, hints, now: float
                       ) -> None: ...
        def _drop_lease(self, ia: IaPd, lease: Lease, reason: str) -> None: ...
        def _ia_empty(self, ia: IaPd, now: float) -> None: ...
        def failure_reason(self, t: MType) -> FailureReason: ...

    def handle_datagram(self, data: bytes, src: IPv6Address, now: float, *, kind: str = "dhcp6",
                        hop_limit: int = 255, ifname: str | None = None) -> None:
        """One UDP payload received on port 546 from ``src``, judged
        (:mod:`host.core.pd_judge`) before it changes anything."""
        if kind != "dhcp6":
            return
        self._now = now
        msg: Message | RelayMessage | None
        try:
            msg = decode_dhcp6(data, self.config.pen)
        except WireFormatError as exc:
            msg = salvage(data, exc, src, now, pen=self.config.pen, drop=self._drop,
                          drops=self.drops, trust=self.trust)
            if msg is None:
                return
        if not isinstance(msg, (Advertise, Reply)):
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

    def _drop(self, src, name: str, why: str, now: float | None = None) -> None:
        """Drop a received datagram: counted under ``name`` in :attr:`drops`
        and logged (rate-limited) with ``why``."""
        self.dropped += 1
        self.drops(name, now, "dropped DHCPv6 datagram from %s: %s", src, why)

    def _note_server(self, msg: Message, src: IPv6Address) -> None:
        assert msg.server_duid is not None  # checked in handle_datagram
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
            self.drops("advertise-without-prefix", now, "Advertise from %s for IA_PD 0x%08x "
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
            log.info("Release of IAID 0x%08x acknowledged by %s", ia.iaid, src)
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
            self._start_solicit(ia, now, f"Reply to {ex.kind.name}: {v.verdict.value}")
            return
        self._end_exchange(ia)
        if action is Action.BIND:
            self._bind(ia, v, msg, src, now, f"Reply to {ex.kind.name}")
            return
        assert state is not None  # ON_REPLY names it for every other action
        self._set_state(ia, state, f"Reply to {ex.kind.name}: {v.verdict.value}")
        if action is Action.REQUEST_BINDING:
            log.info("NoBinding for IA_PD 0x%08x from %s: Request (RFC 8415 §18.2.10.1)",
                     ia.iaid, src)
            self._start_request(ia, now, msg.server_duid, self._lease_hints(ia) or (),
                                kind=ExchangeKind.REQUEST_BINDING, why="NoBinding")
            return
        log.info("%s for IA_PD 0x%08x refused (%s): keeping prefixes until they expire",
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
        rel = IaPd(ia.iaid, ia.mobility_type, IaState.RELEASING, persistent=False, created=now)
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

    def _bind(self, ia: IaPd, v: Judgement, msg: Message, src: IPv6Address, now: float,
              why: str) -> None:
        assert msg.server_duid is not None  # checked in handle_datagram
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
        self._set_state(ia, IaState.BOUND, why)
        self._set_t1_t2(ia, v.t1, v.t2, now)

    def _set_t1_t2(self, ia: IaPd, t1: int, t2: int, now: float) -> None:
        if t1 == INFINITY or (t1 and t2 == INFINITY and t1 == INFINITY):
            ia.t1_at = ia.t2_at = math.inf
            return
        live = list(ia.leases.values())
        prefs = [le.preferred_lifetime for le in live
                 if le.preferred_lifetime not in (0, INFINITY)]
        if not prefs:
            prefs = [le.valid_lifetime for le in live if le.valid_lifetime != INFINITY]
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
