"""One DHCPv6 prefix-delegation exchange, as a probe (RFC 8415 §18.2).

:func:`pd_exchange` sends Solicit (optionally with Rapid Commit), takes the
best Advertise (highest Preference, 255 at once; RFC 8415 §18.2.1, §18.2.9),
sends Request, reads the Reply, and optionally Releases what it got
(§18.2.7). Each IA_PD asks for one mobility type (odm DESIGN §2): a hint
IAPREFIX (``::/64`` by default, zero lifetimes) carrying odm's vendor option,
and ORO 17, 82. Every datagram sent and received is logged with its decode
or the codec error (which names the offending octet).

The exchange talks through a *transport* with ``send(payload, dst)`` and
``recv(timeout) -> (payload, src, hop_limit) | None`` and a ``clock()``
returning monotonic seconds, so tests can drive it without a network.
Retransmission is RFC 8415 §15 with the §7.6 initial timeouts (SOL_TIMEOUT,
REQ_TIMEOUT, REL_TIMEOUT = 1 s), doubling, without jitter (a probe needs to
be predictable), all bounded by the caller's ``timeout``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from ipaddress import IPv6Address

import odm_wire
from odm_wire import dhcp6 as d6
from odm_wire import rules
from odm_wire.constants import (
    ODM_PEN,
    MessageType,
    MobilityType,
    OptionCode,
    status_name,
)
from odm_wire.errors import WireFormatError
from odm_wire.pd_messages import client_message, iaprefix, supported_types

__all__ = [
    "Grant",
    "IaOutcome",
    "LogEntry",
    "PdResult",
    "build_ia_pd",
    "duid_ll",
    "pd_exchange",
]

ALL_DHCP = IPv6Address("ff02::1:2")


@dataclass
class LogEntry:
    """One datagram: ``t`` (seconds since the probe started), ``direction``
    (``"sent"``/``"received"``), ``peer`` address, ``message`` (decoded) or
    ``error`` (the codec's), ``raw`` octets, and ``notes`` (rule violations,
    why it was ignored)."""

    t: float
    direction: str
    peer: IPv6Address
    raw: bytes
    message: object | None = None
    error: WireFormatError | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Grant:
    """A prefix the server delegated: ``prefix`` (``a::/n``), ``mobility_type``
    as granted (None: the server stated none), lifetimes in seconds."""

    prefix: str
    mobility_type: MobilityType | int | None
    preferred_lifetime: int
    valid_lifetime: int


@dataclass
class IaOutcome:
    """What became of one IA_PD: ``asked`` type (None: untyped), ``grants``,
    ``status`` (RFC name) and ``status_message``, T1/T2 in seconds,
    ``discarded`` prefixes (typed although no type was asked, draft-moses §3
    M8) and ``legacy`` (a type was asked, the prefix came back without one:
    the server does not know odm's option, M6)."""

    iaid: int
    asked: MobilityType | None
    grants: list[Grant] = field(default_factory=list)
    status: str = "Success"
    status_message: str = ""
    t1: int = 0
    t2: int = 0
    discarded: list[str] = field(default_factory=list)

    @property
    def legacy(self) -> bool:
        return self.asked is not None and bool(self.grants) and all(
            g.mobility_type is None for g in self.grants)

    @property
    def granted(self) -> bool:
        return bool(self.grants) and self.status == "Success"


@dataclass
class PdResult:
    """The whole exchange. ``outcome``: ``granted`` (every IA_PD got a
    prefix), ``partial``, ``refused`` (the network said no: a status code,
    no prefix), ``no-answer``, ``malformed`` (only malformed answers)."""

    client_duid: d6.Duid
    log: list[LogEntry] = field(default_factory=list)
    ias: list[IaOutcome] = field(default_factory=list)
    server_duid: d6.Duid | None = None
    server_address: IPv6Address | None = None
    status: str | None = None
    status_message: str = ""
    supported_types: list = field(default_factory=list)
    outcome: str = "no-answer"
    released: str | None = None  # status of the Release's Reply, "no-answer", or None

    @property
    def exit_code(self) -> int:
        from odm.probetools import EXIT_MALFORMED, EXIT_NO_ANSWER, EXIT_OK, EXIT_REFUSED
        return {"granted": EXIT_OK, "partial": EXIT_REFUSED, "refused": EXIT_REFUSED,
                "no-answer": EXIT_NO_ANSWER, "malformed": EXIT_MALFORMED}[self.outcome]


def duid_ll(mac: bytes) -> d6.DuidLL:
    """DUID-LL of an Ethernet MAC (RFC 8415 §11.4, hardware type 1)."""
    return d6.DuidLL(1, bytes(mac))


def build_ia_pd(iaid: int, mobility_type: MobilityType | None, hint: str = "::/64",
                pen: int = ODM_PEN) -> d6.IAPD:
    """An IA_PD asking for a prefix: T1/T2 0 and a hint IAPREFIX ``hint``
    with zero lifetimes, carrying odm's MOBILITY_TYPE when ``mobility_type``
    is set (DESIGN §2, RFC 8415 §18.2.1)."""
    net, _, plen = hint.partition("/")
    return d6.IAPD(iaid, 0, 0, (iaprefix(net, int(plen or 64), mobility_type, pen),))


class _Run:
    def __init__(self, transport, clock, pen, duid, timeout):
        self.tr, self.clock, self.pen, self.duid = transport, clock, pen, duid
        self.t0 = clock()
        self.deadline = self.t0 + timeout
        self.log: list[LogEntry] = []
        self.malformed = 0

    def send(self, msg, dst=ALL_DHCP):
        raw = odm_wire.encode(msg)
        self.tr.send(raw, dst)
        # log what went on the wire, as the codec reads it back
        self.log.append(LogEntry(self.clock() - self.t0, "sent", dst, raw,
                                 odm_wire.decode(raw, self.pen)))

    def exchange(self, make, accept, first_rt: float, max_rt: float, max_rc: int = 0,
                 collect: bool = False):
        """Send ``make(elapsed_cs)``, retransmit (RFC 8415 §15), return the
        accepted answers: the first, or with ``collect`` all that arrive before
        the first RT ends (Advertise collection, §18.2.1)."""
        start = self.clock()
        rt, count, got = first_rt, 0, []
        while self.clock() < self.deadline:
            elapsed = min(int((self.clock() - start) * 100), 0xFFFF)
            self.send(make(elapsed))
            count += 1
            rt_end = min(self.clock() + rt, self.deadline)
            while True:
                left = rt_end - self.clock()
                if left <= 0:
                    break
                item = self.tr.recv(left)
                if item is None:
                    break
                msg = self.receive(*item)
                if msg is not None and accept(msg):
                    got.append(msg)
                    if not collect or _pref(msg) == 255:
                        return got
            if got:
                return got
            if max_rc and count >= max_rc:
                break
            rt = min(rt * 2, max_rt) if max_rt else rt * 2
        return got

    def receive(self, raw, src, hop_limit=None):
        e = LogEntry(self.clock() - self.t0, "received", src, raw)
        self.log.append(e)
        try:
            msg = odm_wire.decode(raw, self.pen)
        except WireFormatError as exc:
            e.error = exc
            e.notes.append("malformed: ignored (RFC 8415 §16)")
            self.malformed += 1
            return None
        e.message = msg
        if not isinstance(msg, d6.Message):
            e.notes.append("not a client/server message: ignored")
            return None
        return e

    def note(self, entry, text):
        entry.notes.append(text)


def _pref(e: LogEntry) -> int:
    p = e.message.get(d6.Preference)
    return p.preference if p else 0


def pd_exchange(transport, clock, *, client_duid: d6.Duid,
                types: list[MobilityType | None], hint: str = "::/64",
                rapid_commit: bool = False, release: bool = False, timeout: float = 5.0,
                pen: int = ODM_PEN, rng: random.Random | None = None) -> PdResult:
    """Run one PD exchange through ``transport``; one IA_PD per entry of
    ``types`` (None = no type asked). ``timeout`` bounds each phase (Solicit,
    Request, Release) in seconds. Never raises for what the network sends;
    returns a :class:`PdResult` with the log and the outcome."""
    rng = rng or random.SystemRandom()
    run = _Run(transport, clock, pen, client_duid, timeout)
    res = PdResult(client_duid)
    iaids = []
    while len(iaids) < len(types):
        i = rng.randrange(1, 0xFFFFFFFF)
        if i not in iaids:
            iaids.append(i)
    asked = dict(zip(iaids, types, strict=False))
    typed = any(t is not None for t in types)
    oro = ((OptionCode.VENDOR_OPTS, OptionCode.SOL_MAX_RT) if typed
           else (OptionCode.SOL_MAX_RT,))
    ia_pds = [build_ia_pd(i, t, hint, pen) for i, t in asked.items()]

    def matches(xid, kinds, server=None):
        def ok(e: LogEntry) -> bool:
            m = e.message
            if m.transaction_id != xid or m.msg_type not in kinds:
                e.notes.append("not for this exchange: ignored")
                return False
            if server is not None and m.server_duid != server:
                e.notes.append("from another server: ignored")
                return False
            if m.client_duid != client_duid:
                e.notes.append("Client Identifier is not ours: ignored (RFC 8415 §16)")
                return False
            if m.server_duid is None:
                e.notes.append("no Server Identifier: ignored (RFC 8415 §16)")
                return False
            for v in rules.check_server_message(m):
                e.notes.append(f"rule: {v}")
            return True
        return ok

    # -- Solicit / Advertise (or Reply with Rapid Commit) -------------------
    xid = rng.randrange(0, 1 << 24)

    def solicit(el):
        return client_message(MessageType.SOLICIT, xid, client_duid, ia_pds, elapsed=el,
                              oro=oro, rapid_commit=rapid_commit)

    kinds = {MessageType.ADVERTISE} | ({MessageType.REPLY} if rapid_commit else set())
    got = run.exchange(solicit, matches(xid, kinds), 1.0, 3600, collect=True)
    res.log = run.log
    if not got:
        res.outcome = "malformed" if run.malformed else "no-answer"
        return res
    replies = [e for e in got if e.message.msg_type == MessageType.REPLY
               and e.message.get(d6.RapidCommit)]
    if replies:
        chosen = replies[0]
    else:
        ads = [e for e in got if e.message.msg_type == MessageType.ADVERTISE]
        if not ads:
            res.outcome = "malformed" if run.malformed else "no-answer"
            return res
        # RFC 8415 §18.2.9: prefer Advertises that offer prefixes, then Preference
        ads.sort(key=lambda e: (_offers(e.message), _pref(e)), reverse=True)
        chosen = ads[0]
    _read_answer(res, chosen, asked, pen)
    if chosen.message.msg_type == MessageType.ADVERTISE:
        if not _offers(chosen.message):
            res.outcome = "refused"
            return res
        # -- Request / Reply -------------------------------------------------
        sid = chosen.message.server_duid
        req_ias = [_echo(ia, asked.get(ia.iaid), pen) for ia in chosen.message.ia_pds
                   if ia.iaid in asked and ia.prefixes and ia.status is None]
        xid2 = rng.randrange(0, 1 << 24)

        def request(el):
            return client_message(MessageType.REQUEST, xid2, client_duid, req_ias, elapsed=el,
                                  server_duid=sid, oro=oro)

        run.deadline = clock() + timeout
        got = run.exchange(request, matches(xid2, {MessageType.REPLY}, sid), 1.0, 30, 10)
        if not got:
            res.outcome = "malformed" if run.malformed else "no-answer"
            return res
        _read_answer(res, got[0], asked, pen)
    res.outcome = _outcome(res)
    # -- Release ------------------------------------------------------------
    if release and any(o.grants for o in res.ias):
        sid = res.server_duid
        rel_ias = [d6.IAPD(o.iaid, 0, 0, tuple(
            _grant_prefix(g, o.asked, pen) for g in o.grants)) for o in res.ias if o.grants]
        xid3 = rng.randrange(0, 1 << 24)

        def rel(el):
            return client_message(MessageType.RELEASE, xid3, client_duid, rel_ias, elapsed=el,
                                  server_duid=sid)

        run.deadline = clock() + timeout
        got = run.exchange(rel, matches(xid3, {MessageType.REPLY}, sid), 1.0, 0, 4)
        if got:
            st = got[0].message.status
            res.released = status_name(st.status_code) if st else "Success"
        else:
            res.released = "no-answer"
    return res


def _offers(msg) -> bool:
    return any(ia.prefixes and ia.status is None for ia in msg.ia_pds)


def _grant_prefix(g: Grant, asked, pen) -> d6.IAPrefix:
    net, plen = g.prefix.split("/")
    return iaprefix(net, int(plen), g.mobility_type if asked is not None else None, pen)


def _echo(ia: d6.IAPD, asked, pen) -> d6.IAPD:
    """The IA_PD of a Request: the Advertise's prefixes, with the type kept
    when one was asked (draft-moses §3 M4), lifetimes as advertised."""
    return d6.IAPD(ia.iaid, 0, 0, tuple(
        iaprefix(p.prefix, p.prefix_length, p.mobility_type if asked is not None else None, pen,
                 preferred_lifetime=p.preferred_lifetime, valid_lifetime=p.valid_lifetime)
        for p in ia.prefixes))


def _read_answer(res: PdResult, e: LogEntry, asked: dict, pen: int) -> None:
    m = e.message
    res.server_duid = m.server_duid
    res.server_address = e.peer
    st = m.status
    res.status = status_name(st.status_code) if st else None
    res.status_message = st.status_message if st else ""
    res.supported_types = supported_types(m.options)
    by_iaid = {ia.iaid: ia for ia in m.ia_pds}
    res.ias = []
    for iaid, t in asked.items():
        out = IaOutcome(iaid, t)
        ia = by_iaid.get(iaid)
        if ia is None:
            out.status = res.status or "missing"
            out.status_message = "the answer has no IA_PD with this IAID"
            res.ias.append(out)
            continue
        out.t1, out.t2 = ia.t1, ia.t2
        if ia.status is not None:
            out.status = status_name(ia.status.status_code)
            out.status_message = ia.status.status_message
        elif res.status not in (None, "Success"):
            out.status = res.status
        bad_ia = bool(rules.check_ia_pd(ia)) and not rules.ia_pd_timers_valid(ia)
        for p in ia.prefixes:
            if not p.valid_lifetime:
                continue
            if bad_ia or not rules.iaprefix_usable(p):
                out.discarded.append(f"{p.network} (RFC 8415 §21.21/§21.22: discarded)")
                continue
            mt = p.mobility_type
            if mt is not None and t is None:
                out.discarded.append(f"{p.network} typed {mt!s} but no type asked "
                                     "(draft-moses §3: discarded)")
                continue
            out.grants.append(Grant(p.network, mt, p.preferred_lifetime, p.valid_lifetime))
        if not out.grants and out.status == "Success" and not out.discarded:
            out.status = "NoPrefixAvail" if not ia.prefixes else out.status
        res.ias.append(out)


def _outcome(res: PdResult) -> str:
    ok = [o for o in res.ias if o.granted]
    if ok and len(ok) == len(res.ias):
        return "granted"
    if ok:
        return "partial"
    return "refused"
