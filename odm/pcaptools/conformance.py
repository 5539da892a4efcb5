"""Conformance replay: play one side of a golden capture to a live agent and
compare what it says with what the capture says.

Two directions:

* **against a router** (:func:`conform_router`): every client message of the
  capture (Solicit, Request, Renew, Rebind, Release, Decline, Confirm,
  Information-request, RS) is sent, in order, to the router; its answer (the
  server message with the same transaction-id; an RA after an RS) is compared
  with the capture's answer. Before sending, a message is rewritten for the
  live peer: its Server Identifier becomes the DUID the live server used in
  its place, and each delegated prefix the one the live server gave in its
  place (both learned from earlier answers).
* **against a host** (:func:`conform_host`): the capture's server side is
  played to the host. Each DHCPv6 message the host sent in the capture must
  come from the live host next (retransmissions of a message already matched
  are skipped) and is compared; each Advertise/Reply/RA of the capture is
  sent when reached, rewritten with the live host's transaction-id, DUID and
  IAIDs. What made the host act in the capture (a setsc(), a socket closed, a
  move) is replayed from the capture's *actions* (:class:`Action`, recorded
  by ``pcaps/regenerate.py`` in ``pcaps/golden.toml``). RSs are not compared:
  the kernel sends its own next to the agent's, in no fixed number.

Messages are normalised before they are compared
(:mod:`odm.pcaptools.normaliser`: transaction-ids, DUIDs, Elapsed Time, MACs,
status texts hidden; lifetimes with a slack; prefixes named P1, P2 … unless
``exact_prefixes``: a router with a fresh lease store and the capture's
configuration delegates the same prefixes). Against a host, IAIDs are named
I1, I2 … too (the host picks fresh ones).

The first difference stops the run and is reported with its path, e.g.
``Reply/IA_PD[iaid=1]/IAPREFIX[P1]/VENDOR_OPTS(odm)/MOBILITY_TYPE``:
capture ``SESSION_LASTING``, live ``FIXED`` (:meth:`Report.lines`).

Peers: :mod:`odm.pcaptools.corepeers` drives odm's sans-I/O cores in memory
on a fake clock; :mod:`odm.pcaptools.livepeers` has the
kernel-socket peers (``odm pcap replay --against``, tests/replay).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from ipaddress import IPv6Address

import odm_wire
from odm.pcaptools.describe import message_name
from odm.pcaptools.normaliser import CompareOptions, Lifetime, Normaliser, first_difference
from odm.pcaptools.packets import Packet
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import ODM_PEN, MessageType
from odm_wire.errors import WireFormatError

__all__ = [
    "CLIENT_MESSAGES",
    "SERVER_MESSAGES",
    "Action",
    "CompareOptions",
    "ConformanceError",
    "Lifetime",
    "Normaliser",
    "Report",
    "Step",
    "conform_host",
    "conform_router",
    "first_difference",
]

CLIENT_MESSAGES = frozenset({
    MessageType.SOLICIT, MessageType.REQUEST, MessageType.CONFIRM, MessageType.RENEW,
    MessageType.REBIND, MessageType.RELEASE, MessageType.DECLINE,
    MessageType.INFORMATION_REQUEST})
SERVER_MESSAGES = frozenset({MessageType.ADVERTISE, MessageType.REPLY,
                             MessageType.RECONFIGURE})
_CLIENT_CODES = frozenset(int(t) for t in CLIENT_MESSAGES)
_SERVER_CODES = frozenset(int(t) for t in SERVER_MESSAGES)
ND_RS, ND_RA = 133, 134


class ConformanceError(RuntimeError):
    """A replay that cannot go on for a reason outside the comparison: an
    action the peer cannot perform, a socket that cannot be opened."""


# ----------------------------------------------------------------- actions --
@dataclass(frozen=True)
class Action:
    """Something done to the live agents before capture frame ``before_frame``
    (1-based) is played: ``do`` is ``"setsc"`` (``args``: ``type`` name,
    ``owner`` int, ``on_net`` bool), ``"close"`` (``owner``: the application
    socket closes), ``"move"`` (``router``: the host moves there) or
    ``"wait"`` (``seconds``)."""

    before_frame: int
    do: str
    args: dict = field(default_factory=dict)

    def __str__(self) -> str:
        a = " ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.do} {a}".strip()

    @classmethod
    def from_dict(cls, d: dict) -> Action:
        """From a ``pcaps/golden.toml`` entry ``{before_frame=…, do=…, …}``.
        Raises ValueError for a missing ``before_frame``/``do``."""
        d = dict(d)
        try:
            frame, do = int(d.pop("before_frame")), str(d.pop("do"))
        except KeyError as exc:
            raise ValueError(f"action {d} lacks {exc.args[0]}") from None
        return cls(frame, do, d)

    def as_dict(self) -> dict:
        return {"before_frame": self.before_frame, "do": self.do, **self.args}


# ------------------------------------------------------------------ report --
@dataclass
class Step:
    """One exchange of the replay. ``frame``: the capture frame played or
    expected; ``what``: e.g. ``Solicit → Advertise``; ``capture_frame``: the
    capture frame the live message was compared with; ``difference``:
    ``(path, capture, live)`` or None; ``note``: what happened besides."""

    frame: int
    what: str
    capture_frame: int | None = None
    difference: tuple[str, str, str] | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.difference is None


@dataclass
class Report:
    """The outcome of a conformance replay: its steps in order; ``error`` when
    it could not go on, including when the peer was silent from the start
    or no live message was compared at all. ``ok`` when every step matched
    and no error."""

    side: str = "router"
    steps: list[Step] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(s.ok for s in self.steps)

    @property
    def compared(self) -> int:
        """How many live messages were compared with the capture."""
        return sum(1 for s in self.steps if s.capture_frame is not None)

    def first_failure(self) -> Step | None:
        return next((s for s in self.steps if not s.ok), None)

    def describe_failure(self) -> str:
        """The first difference in a few lines ('' when conformant)."""
        s = self.first_failure()
        if s is None:
            return self.error or ""
        path, want, got = s.difference
        where = f" (capture frame #{s.capture_frame})" if s.capture_frame else ""
        return (f"frame #{s.frame} {s.what}{where} differs at {path}:\n"
                f"    capture: {want}\n    live:    {got}")

    def lines(self) -> list[str]:
        """Human-readable lines, one per step, then the verdict."""
        out = []
        for s in self.steps:
            if s.ok:
                tail = f" (= capture #{s.capture_frame})" if s.capture_frame else ""
                out.append(f"✓ #{s.frame} {s.what}{tail}{'  ' + s.note if s.note else ''}")
            else:
                path, want, got = s.difference
                where = f" capture #{s.capture_frame}" if s.capture_frame else ""
                out.append(f"✗ #{s.frame} {s.what}: differs from{where} at {path}")
                out.append(f"    capture: {want}")
                out.append(f"    live:    {got}")
        if self.error:
            out.append(f"✗ {self.error}")
        out.append(f"conformant ({self.compared} messages compared)" if self.ok
                   else "NOT conformant")
        return out


# ------------------------------------------------------------ router side --
def _odm_packets(packets: list[Packet]) -> list[Packet]:
    return [p for p in packets if p.message is not None
            and isinstance(p.message, (d6.Message, nd.RouterSolicitation,
                                       nd.RouterAdvertisement))]


def _answer_for(pkts: list[Packet], i: int) -> Packet | None:
    """The capture's answer to client packet ``pkts[i]``: the next server
    message with its transaction-id (the next RA for an RS)."""
    ask = pkts[i].message
    for p in pkts[i + 1:]:
        m = p.message
        if isinstance(ask, nd.RouterSolicitation):
            if isinstance(m, nd.RouterAdvertisement):
                return p
            continue
        if isinstance(m, d6.Message) and m.msg_type in SERVER_MESSAGES \
                and m.transaction_id == ask.transaction_id:
            return p
    return None


def _duid_key(duid) -> bytes:
    return d6.encode_duid(duid)


def _rewrite_client(msg: d6.Message, servers: dict[bytes, d6.Duid],
                    prefixes: dict[str, tuple[IPv6Address, int]]) -> d6.Message:
    """The captured client message for the live router (module docstring)."""
    opts = []
    for o in msg.options:
        if isinstance(o, d6.ServerId) and _duid_key(o.duid) in servers:
            o = d6.ServerId(servers[_duid_key(o.duid)])
        elif isinstance(o, d6.IAPD):
            ps = []
            for p in o.options:
                if isinstance(p, d6.IAPrefix) and p.network in prefixes:
                    addr, plen = prefixes[p.network]
                    p = dataclasses.replace(p, prefix=addr, prefix_length=plen)
                ps.append(p)
            o = dataclasses.replace(o, options=tuple(ps))
        opts.append(o)
    return dataclasses.replace(msg, options=tuple(opts))


def _learn_prefixes(want, got, prefixes: dict) -> None:
    """Pair the capture's prefixes with the live ones, IA_PD by IA_PD."""
    if isinstance(want, nd.RouterAdvertisement):
        return
    live = {ia.iaid: ia for ia in got.ia_pds}
    for ia in want.ia_pds:
        other = live.get(ia.iaid)
        if other is None:
            continue
        for a, b in zip([p for p in ia.prefixes if not p.prefix.is_unspecified],
                        [p for p in other.prefixes if not p.prefix.is_unspecified],
                        strict=False):
            prefixes[a.network] = (b.prefix, b.prefix_length)


def _act(peer, action: Action, report: Report) -> bool:
    try:
        note = peer.act(action)
    except ConformanceError as exc:
        report.error = f"before frame #{action.before_frame}: cannot {action}: {exc}"
        return False
    report.steps.append(Step(action.before_frame, f"[{action}]", note=note or ""))
    return True


def conform_router(packets: list[Packet], peer, *, actions: list[Action] = (),
                   timeout: float = 3.0,
                   options: CompareOptions = CompareOptions(),  # noqa: B008 - frozen
                   pen: int = ODM_PEN) -> Report:
    """Play the client side of ``packets`` (a dissected golden capture) to the
    router ``peer`` and compare its answers (module docstring).

    ``peer`` has ``ask(kind, payload, accept, timeout) -> bytes | None`` (send
    ``payload``, ``"dhcp6"`` or ``"icmp6"``, and return the first answer that
    ``accept(octets)`` takes within ``timeout`` seconds; ``timeout`` 0: send
    only) and ``act(action) -> str | None`` (perform an :class:`Action`, raise
    :class:`ConformanceError` if it cannot). ``actions`` are performed before
    the frames they name. Returns a :class:`Report`; stops at the first
    difference."""
    report = Report("router")
    pkts = _odm_packets(packets)
    todo = sorted(actions, key=lambda a: a.before_frame)
    want_n, got_n = Normaliser(options), Normaliser(options)
    servers: dict[bytes, d6.Duid] = {}
    prefixes: dict[str, tuple[IPv6Address, int]] = {}
    compared_ra: set[int] = set()
    for i, p in enumerate(pkts):
        while todo and todo[0].before_frame <= p.number:
            if not _act(peer, todo.pop(0), report):
                return report
        m = p.message
        if isinstance(m, nd.RouterSolicitation):
            kind, payload = "icmp6", p.payload

            def accept(raw):
                return len(raw) >= 16 and raw[0] == ND_RA
        elif isinstance(m, d6.Message) and m.msg_type in CLIENT_MESSAGES:
            kind = "dhcp6"
            new = _rewrite_client(m, servers, prefixes)
            payload = p.payload if new == m else odm_wire.encode(new)
            xid = m.transaction_id

            def accept(raw, xid=xid):
                return len(raw) >= 4 and raw[0] in _SERVER_CODES and \
                    int.from_bytes(raw[1:4], "big") == xid
        else:
            continue
        ans = _answer_for(pkts, i)
        name = message_name(m)
        if ans is None or (kind == "icmp6" and ans.number in compared_ra):
            peer.ask(kind, payload, accept, 0)
            why = "RA already compared" if ans is not None else "no answer in the capture"
            report.steps.append(Step(p.number, f"{name} sent", note=f"({why})"))
            continue
        what = f"{name} → {message_name(ans.message)}"
        step = Step(p.number, what, ans.number)
        report.steps.append(step)
        raw = peer.ask(kind, payload, accept, timeout)
        if raw is None:
            step.difference = ("answer", f"{message_name(ans.message)} (frame #{ans.number})",
                               f"nothing within {timeout:g} s")
            if report.compared == 1:  # silent from the start: no router there to judge
                report.error = (f"no router answered the first {name} within {timeout:g} s: "
                                "is a router agent running on that link?")
            return report
        try:
            got = odm_wire.decode(raw, pen)
        except WireFormatError as exc:
            step.difference = ("answer", "a well-formed message", f"malformed: {exc}")
            return report
        diff = first_difference(want_n(ans.message), got_n(got), slack=options.lifetime_slack)
        if diff:
            step.difference = diff
            return report
        if kind == "icmp6":
            compared_ra.add(ans.number)
        else:
            _learn_prefixes(ans.message, got, prefixes)
            if ans.message.server_duid is not None and got.server_duid is not None:
                servers[_duid_key(ans.message.server_duid)] = got.server_duid
    for a in todo:  # actions after the last frame
        if not _act(peer, a, report):
            return report
    return _nothing_compared(report, "the capture has no RS or client message answered in it")


# -------------------------------------------------------------- host side --
def _rewrite_server(msg: d6.Message, xid: int, client: d6.Duid | None,
                    iaids: dict[int, int]) -> d6.Message:
    opts = []
    for o in msg.options:
        if isinstance(o, d6.ClientId) and client is not None:
            o = d6.ClientId(client)
        elif isinstance(o, d6.IAPD) and o.iaid in iaids:
            o = dataclasses.replace(o, iaid=iaids[o.iaid])
        opts.append(o)
    return dataclasses.replace(msg, transaction_id=xid, options=tuple(opts))


def conform_host(packets: list[Packet], peer, *, actions: list[Action] = (),
                 timeout: float = 3.0, options: CompareOptions | None = None,
                 pen: int = ODM_PEN) -> Report:
    """Play the server side of ``packets`` to the host ``peer`` and compare
    the host's DHCPv6 messages with the capture's (module docstring).

    ``peer`` has ``expect(accept, timeout) -> (octets, source) | None`` (the
    next DHCPv6 message from the host that ``accept`` takes, others dropped),
    ``send(kind, payload, dst)`` and ``act(action)``. Waiting for a host
    message allows ``timeout`` seconds plus 1.5 times the gap before it in
    the capture (timers such as T1 run on the host). ``options`` default:
    IAIDs named, prefixes exact. Returns a :class:`Report`."""
    options = options or CompareOptions(exact_prefixes=True, exact_iaids=False)
    report = Report("host")
    pkts = _odm_packets(packets)
    todo = sorted(actions, key=lambda a: a.before_frame)
    norm = [Normaliser(options), Normaliser(options)]  # capture, live
    xids: dict[int, int] = {}  # capture transaction-id -> live one
    matched: set[int] = set()  # live transaction-ids already matched
    early: set[int] = set()  # capture frames matched before their turn
    client: d6.Duid | None = None
    host_addr: IPv6Address | None = None
    prev_time = pkts[0].time if pkts else 0.0

    def is_client(j: int) -> bool:
        m = pkts[j].message
        return isinstance(m, d6.Message) and m.msg_type in CLIENT_MESSAGES

    def window(i: int) -> list[int]:
        """Capture client frames that may come now: from ``i`` up to the
        next action (concurrent exchanges may leave the host in any order)."""
        stop = todo[0].before_frame if todo else None
        return [j for j in range(i, len(pkts)) if is_client(j) and j not in early
                and (stop is None or pkts[j].number < stop or j == i)]

    def try_match(j: int, live) -> bool:
        trial = [n.copy() for n in norm]
        if first_difference(trial[0](pkts[j].message), trial[1](live),
                            slack=options.lifetime_slack) is None:
            norm[:] = trial
            return True
        return False

    for i, p in enumerate(pkts):
        while todo and todo[0].before_frame <= p.number:
            if not _act(peer, todo.pop(0), report):
                return report
        m = p.message
        gap, prev_time = max(0.0, p.time - prev_time), p.time
        if isinstance(m, nd.RouterSolicitation):
            continue
        if isinstance(m, nd.RouterAdvertisement):
            peer.send("icmp6", p.payload, p.dst)
            report.steps.append(Step(p.number, "RA sent"))
            continue
        if not isinstance(m, d6.Message):
            continue
        if m.msg_type in CLIENT_MESSAGES:
            if i in early:
                continue
            step = Step(p.number, f"host sent {message_name(m)}", p.number)
            wait = timeout + 1.5 * gap
            for _ in range(32):  # bounded: retransmissions the capture lacks are dropped
                got = peer.expect(_is_client_message, wait)
                if got is None:
                    step.difference = ("message", f"{message_name(m)} (frame #{p.number})",
                                       f"nothing within {wait:.1f} s")
                    report.steps.append(step)
                    if not matched:  # silent from the start: no host there to judge
                        report.error = (f"no DHCPv6 message from a host within {wait:.1f} s: "
                                        "is a host agent running on that link?")
                    return report
                raw, src = got
                try:
                    live = odm_wire.decode(raw, pen)
                except WireFormatError as exc:
                    step.difference = ("message", "a well-formed message", f"malformed: {exc}")
                    report.steps.append(step)
                    return report
                lx = live.transaction_id
                cands = [j for j in window(i)
                         if (xids.get(pkts[j].message.transaction_id) == lx) == (lx in matched)
                         and (lx in matched or pkts[j].message.transaction_id not in xids)]
                if lx in matched and not cands:
                    continue  # a retransmission the capture does not have
                hit = next((j for j in ([i] if i in cands else []) + cands if try_match(j, live)),
                           None)
                if hit is None:
                    step.difference = first_difference(
                        norm[0](m), norm[1](live), slack=options.lifetime_slack) or (
                        "message", f"frame #{p.number}", "another client message")
                    report.steps.append(step)
                    return report
                cm = pkts[hit].message
                xids[cm.transaction_id] = lx
                matched.add(lx)
                client, host_addr = live.client_duid or client, src
                if hit == i:
                    report.steps.append(step)
                    break
                early.add(hit)
                report.steps.append(Step(pkts[hit].number, f"host sent {message_name(cm)}",
                                         pkts[hit].number, note=f"(before #{p.number})"))
        elif m.msg_type in SERVER_MESSAGES:
            if m.transaction_id not in xids:
                report.steps.append(Step(p.number, f"{message_name(m)} not sent",
                                         note="(answers a message the live host did not send)"))
                continue
            iaids = {a: norm[1].iaid_of(name) for a, name in norm[0].iaids.items()}
            out = _rewrite_server(m, xids[m.transaction_id], client,
                                  {a: b for a, b in iaids.items() if b is not None})
            peer.send("dhcp6", odm_wire.encode(out), host_addr or p.dst)
            report.steps.append(Step(p.number, f"{message_name(m)} sent"))
    for a in todo:
        if not _act(peer, a, report):
            return report
    return _nothing_compared(report, "the capture has no DHCPv6 message from the host")


def _nothing_compared(report: Report, why: str) -> Report:
    """A replay that compared no live message checked nothing: an error (the
    CLI exits 2), never 'conformant'."""
    if report.error is None and report.compared == 0:
        report.error = f"nothing compared: {why}, so no live message was checked"
    return report


def _is_client_message(raw: bytes) -> bool:
    return len(raw) >= 4 and raw[0] in _CLIENT_CODES
