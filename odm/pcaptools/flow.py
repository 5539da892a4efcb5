"""Message-sequence (ladder) diagrams of captures, written as SVG.

One vertical lane per node (a name given to addresses and prefixes, else
the node's role — mh, ar1, ar2, cn, relay, server — with its address as a
sub-label: :class:`Lanes`, :func:`lab_names`; every multicast group in one
narrow lane on the right, the group's RFC name at each arrow's head), a
legend of the colours, one arrow per DHCPv6 / RS / RA message from
its source lane to its destination lane, labelled with the frame number, the
message name, the transaction-id, and per IA_PD its IAID with the mobility
types or the status (per PIO for RAs). Times run down the left margin.

Several captures (one per link, e.g. ``pcaps/demo-4.2/``) are merged by time:
a message seen on several links is drawn once, the links it was seen on
written under its time, frames labelled ``capture#number``, and a dashed
rule across the ladder where the host moved (:func:`find_moves`; in a single
capture of the host's link, :func:`find_router_moves`). Optionally (``data``) the rest of the IPv6 traffic —
TCP, UDP, ICMPv6 errors, SRv6 / IPv6-in-IPv6 / VXLAN tunnels — is drawn in grey, one
dotted arrow per burst of a conversation, so an application's session can be
followed across a move. NS/NA/Redirect are left out unless asked.

:func:`flow_svg` returns the SVG text; :func:`write_flow` writes ``.svg`` or,
through ``rsvg-convert`` (Debian librsvg2-bin), ``.png``.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from xml.sax.saxutils import escape

from odm.pcaptools.describe import lifetime, packet_summary, status_name, top_level_types, type_name
from odm.pcaptools.packets import Packet
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import MessageType

__all__ = ["Arrow", "FlowError", "Lanes", "arrow_labels", "build_arrows", "find_moves", "find_router_moves", "flow_svg",
           "host_lane", "lab_names",
           "output_problem", "write_flow"]

GROUP_NAMES = {
    "ff02::1:2": "All DHCP Relay Agents and Servers",
    "ff02::1": "All Nodes", "ff02::2": "All Routers",
}
_CLIENT = {MessageType.SOLICIT, MessageType.REQUEST, MessageType.CONFIRM, MessageType.RENEW,
           MessageType.REBIND, MessageType.RELEASE, MessageType.DECLINE,
           MessageType.INFORMATION_REQUEST, MessageType.RELAY_FORW}
COLOURS = {"client": "#1f5fbf", "server": "#1a7f37", "nd": "#b35900", "bad": "#c62828",
           "data": "#6b6b6b", "tunnel": "#7b3fa0"}
LEGEND = (("client", "DHCPv6 client", ""), ("server", "DHCPv6 server", ""),
          ("nd", "RS / RA", ""), ("data", "data", "2,3"), ("tunnel", "tunnel", "2,3"),
          ("bad", "refusal / error", ""), ("client", "to a multicast group", "6,4"))
MAX_WIDTH = 1600  # px: the default scale fits a landscape page
MCAST_W = 150.0   # px: the one narrow lane of every multicast group
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
_FAILURES = ("NoPrefixAvail", "NoBinding", "UnspecFail", "NotOnLink", "UseMulticast",
             "NoAddrsAvail", "MALFORMED", "RST", "Unreachable")
CHAR_W = 7.0   # average width of a 12 px DejaVu Sans character, px
LINE_H = 16


class FlowError(RuntimeError):
    """The diagram cannot be written (no PNG converter, unknown suffix)."""


def _inner(msg):
    while isinstance(msg, d6.RelayMessage) and msg.relayed is not None:
        msg = msg.relayed
    return msg


def arrow_labels(pkt: Packet) -> tuple[list[str], str]:
    """(label lines, colour class) of one packet's arrow."""
    name, _ = packet_summary(pkt)
    if pkt.message is None:
        if pkt.error is None and not pkt.framing_error:
            # a well-formed ND message odm does not model (NS, NA, Redirect)
            return [f"#{pkt.number} {name}"], "nd"
        why = pkt.error.reason if pkt.error is not None else pkt.framing_error
        return [f"#{pkt.number} {name}", f"MALFORMED: {why}"[:90]], "bad"
    msg = pkt.message
    if isinstance(msg, nd.RouterAdvertisement):
        lines = [f"#{pkt.number} RA  router lifetime {msg.router_lifetime} s"]
        for p in msg.prefixes:
            t = type_name(p.mobility_type) if p.mobility_type else "untyped"
            lines.append(f"PIO {p.network} {t} {lifetime(p.preferred_lifetime)}/"
                         f"{lifetime(p.valid_lifetime)} s")
        return lines, "nd"
    if isinstance(msg, nd.RouterSolicitation):
        return [f"#{pkt.number} RS"], "nd"
    inner = _inner(msg)
    head = f"#{pkt.number} {name}"
    if inner is not msg:
        head += f" » {packet_summary_name(inner)}"
    if isinstance(inner, d6.Message):
        head += f"  xid 0x{inner.transaction_id:06x}"
        if inner.get(d6.RapidCommit):
            head += "  RapidCommit"
    lines = [head]
    cls = "client" if getattr(inner, "msg_type", None) in _CLIENT else "server"
    if isinstance(inner, d6.Message):
        if inner.status is not None:
            lines.append(f"status {status_name(inner.status.status_code)}")
            if inner.status.status_code:
                cls = "bad"
        sup, top = top_level_types(inner)
        if top:
            lines.append("top-level type " + ", ".join(type_name(t) for t in top))
        if sup:
            lines.append("SUPPORTED_TYPES " + ", ".join(type_name(t) for t in sup))
        for ia in inner.ia_pds:
            parts = []
            for p in ia.prefixes:
                t = type_name(p.mobility_type) if p.mobility_type is not None else "untyped"
                if p.prefix.is_unspecified and not p.valid_lifetime:
                    parts.append(f"{t} (hint /{p.prefix_length})")
                else:
                    parts.append(f"{t} {p.network}")
            if ia.status is not None:
                parts.append(status_name(ia.status.status_code))
            lines.append(f"IA_PD 0x{ia.iaid:08x}: " + (", ".join(parts) if parts else "(empty)"))
    return lines, cls


def packet_summary_name(msg) -> str:
    from odm.pcaptools.describe import message_name
    return message_name(msg)


# ---------------------------------------------------------------- lanes --
class Lanes:
    """Which lane an address is drawn on.

    ``names`` maps addresses or prefixes (``"fe80::1"``, ``"2001:db8:1000::/36"``)
    to lane names; an address takes the name of its exact entry, else of the
    longest prefix holding it. Otherwise: an address inside a prefix delegated
    (IA_PD) to a client goes to that client's lane, a global address whose
    modified EUI-64 interface identifier (RFC 4291 App. A) is that of a
    link-local address seen goes to that address's lane (SLAAC, RFC 4862), and
    anything else is its own lane. Named lanes are drawn in the order the
    names first appear in ``names``, then the others in order of appearance.

    Addresses without a name are named by the role they play in the capture
    (:meth:`assign_roles`, :meth:`note_peer`): ``ar1``, ``ar2``… for the
    senders of RAs in order, ``mh`` for a DHCPv6 client, ``relay`` for the
    sender of a Relay-forw, ``server`` for a DHCPv6 server that sends no RA,
    ``cn`` for the other end of the host's data traffic; the address itself
    is the lane's sub-label.
    """

    def __init__(self, names: dict[str, str] | None = None) -> None:
        self.exact: dict[IPv6Address, str] = {}
        self.nets: list[tuple[IPv6Network, str]] = []
        for k, v in (names or {}).items():
            if "/" in k:
                self.nets.append((IPv6Network(k, strict=False), v))
            else:
                self.exact[IPv6Address(k)] = v
        self.nets.sort(key=lambda x: -x[0].prefixlen)
        self.order = list(dict.fromkeys((names or {}).values()))
        self.delegated: list[tuple[IPv6Network, IPv6Address]] = []
        self.link_locals: dict[bytes, IPv6Address] = {}
        self.first_address: dict[str, str] = {}
        self.roles: dict[IPv6Address, str] = {}
        self._used = set(self.order)

    def _named(self, addr: IPv6Address) -> bool:
        return addr in self.exact or addr in self.roles or \
            any(addr in net for net, _ in self.nets)

    def _role(self, addr: IPv6Address | None, base: str, numbered: bool = False) -> None:
        if addr is None or addr.is_multicast or addr.is_unspecified or self._named(addr):
            return
        k = 1
        while True:
            name = f"{base}{k}" if numbered else base if k == 1 else f"{base}{k}"
            if name not in self._used:
                break
            k += 1
        self._used.add(name)
        self.roles[addr] = name

    def assign_roles(self, packets: list[Packet]) -> None:
        """Name unnamed addresses by their role (class docstring): RA senders
        first (a router that answers DHCPv6 is a router), then DHCPv6 relays,
        clients and servers, in order of appearance."""
        for p in packets:
            if isinstance(p.message, nd.RouterAdvertisement):
                self._role(p.src, "ar", numbered=True)
        for p in packets:
            m = p.message
            if not isinstance(m, d6.Message) and not isinstance(m, d6.RelayMessage):
                continue
            t = getattr(m, "msg_type", None)
            if t == MessageType.RELAY_FORW:
                self._role(p.src, "relay")
            elif t == MessageType.RELAY_REPL:
                self._role(p.src, "server")
            elif t in _CLIENT:
                self._role(p.src, "mh")
            elif t in (MessageType.ADVERTISE, MessageType.REPLY):
                self._role(p.src, "server")

    def note_peer(self, a: IPv6Address, b: IPv6Address) -> None:
        """Data between ``a`` and ``b``: an unnamed global address talking
        with a host lane (``mh``…) is a correspondent node, ``cn``."""
        for me, other in ((a, b), (b, a)):
            lane = self(me)
            if (lane == "mh" or (lane.startswith("mh") and lane[2:].isdigit())) and \
                    not (other.is_link_local or other.is_multicast or other.is_loopback
                         or other.is_unspecified) and self._name(other, 0) == str(other):
                self._role(other, "cn")

    def learn(self, pkt: Packet) -> None:
        """Note the link-local source and the prefixes a Reply delegates."""
        if pkt.src is not None and pkt.src.is_link_local:
            self.link_locals.setdefault(pkt.src.packed[8:], pkt.src)
        msg = _inner(pkt.message) if pkt.message is not None else None
        if isinstance(msg, d6.Message) and msg.msg_type in (MessageType.REPLY,
                                                            MessageType.ADVERTISE):
            for ia in msg.ia_pds:
                for p in ia.prefixes:
                    if p.valid_lifetime and not p.prefix.is_unspecified and \
                            pkt.dst is not None:
                        net = IPv6Network(p.network, strict=False)
                        if (net, pkt.dst) not in self.delegated:
                            self.delegated.append((net, pkt.dst))

    def __call__(self, addr: IPv6Address, _depth: int = 0) -> str:
        name = self._name(addr, _depth)
        self.first_address.setdefault(name, str(addr))
        return name

    def _name(self, addr: IPv6Address, depth: int) -> str:
        if addr in self.exact:
            return self.exact[addr]
        for net, name in self.nets:
            if addr in net:
                return name
        if addr in self.roles:
            return self.roles[addr]
        if addr.is_multicast or depth > 3:
            return str(addr)
        for net, client in self.delegated:
            if addr in net:
                return self(client, depth + 1)
        if not addr.is_link_local and addr.packed[11:13] == b"\xff\xfe":
            ll = self.link_locals.get(addr.packed[8:])
            if ll is not None:
                return self(ll, depth + 1)
        return str(addr)


def lab_names(config=None) -> dict[str, str]:
    """Lane names of the lab's address plan (``lab.config.LabConfig``, the
    default one unless given): each router's access link-local, access
    address, core address and core link-local; cn's core address; the host's
    link-local and every PD pool and access prefix (the host's addresses)."""
    from lab.config import LabConfig
    from odm.pcaptools.craft import mac_bytes

    cfg = config or LabConfig()

    def eui64(mac: str) -> str:
        b = bytearray(mac_bytes(mac))
        return str(IPv6Address(b"\xfe\x80" + b"\0" * 6 + bytes([b[0] ^ 2]) + bytes(b[1:3])
                               + b"\xff\xfe" + bytes(b[3:6])))

    names = {eui64(cfg.host_mac): "mh"}
    for i, r in enumerate(cfg.routers):
        names[str(r.access_link_local)] = r.name
        names[str(r.access_address)] = r.name
        names[str(r.core_address)] = r.name
        names[eui64(r.core_mac)] = r.name
        try:  # the SRv6 SIDs the lab's agents give the routers
            from lab.agents import sid_of
            names[str(sid_of(i)[1])] = r.name
        except ImportError:
            pass
        names[str(r.pd_pool)] = "mh"
        names[str(r.access_prefix)] = "mh"
    names[str(cfg.cn_address)] = "cn"
    return names


# --------------------------------------------------------------- arrows --
@dataclass
class Arrow:
    """One arrow of the diagram: ``src``/``dst`` lane names, label ``lines``,
    colour class, the ``links`` (capture names) it was seen on, its time."""

    time: float
    src: str
    dst: str
    lines: list[str]
    cls: str
    links: list[str] = field(default_factory=list)
    key: object = None
    events: dict = field(default_factory=dict)
    packets: int = 1
    both_ways: bool = False
    last: float = 0.0


def _traffic_lines(a: Arrow, t, number: int, lanes: Lanes) -> list[str]:
    inner = t.innermost
    ports = f" {inner.sport}→{inner.dport}" if inner.sport is not None else ""
    way = " ⇄" if a.both_ways else ""
    head = f"#{number} {inner.proto}{ports}{way}"
    if t.tunnel:
        head = f"#{number} {t.tunnel} tunnel: {inner.proto}{ports}{way}"
    evs = []
    for ev, (n, octets) in a.events.items():
        if ev == "ACK" and len(a.events) > 1:
            continue
        if ev == "data":
            evs.append(f"data {octets} B" + (f" in {n}" if n > 1 else ""))
        else:
            evs.append(ev + (f" ×{n}" if n > 1 else ""))
    lines = [head, ", ".join(evs) + f"  ({a.packets} packet{'s' if a.packets > 1 else ''})"]
    if t.tunnel:
        lines.append(f"inner {lanes(inner.src)} {inner.src} → {lanes(inner.dst)} {inner.dst}")
    return lines


def build_arrows(items: list[tuple[str, Packet]], lanes: Lanes, *, data: bool = False,
                 neighbor: bool = False, same_within: float = 0.05,
                 burst_gap: float = 1.0) -> list[Arrow]:
    """The arrows of ``items`` (``(link name, packet)`` pairs, any order):
    merged by time; a message seen on several links is one arrow (same
    addresses and octets within ``same_within`` seconds) naming every link;
    NS/NA/Redirect only with ``neighbor``; with ``data``, the other IPv6
    traffic too, consecutive packets of one conversation (less than
    ``burst_gap`` seconds apart, no DHCPv6/RA in between) as one arrow."""
    from odm.pcaptools.traffic import summarise

    items = sorted(items, key=lambda x: x[1].time)
    for _, p in items:
        lanes.learn(p)
    lanes.assign_roles([p for _, p in items])
    arrows: list[Arrow] = []
    recent: dict[object, Arrow] = {}
    open_conv: dict[tuple, tuple[Arrow, object, int]] = {}
    for link, p in items:
        if p.kind is not None and p.src is not None:
            if p.kind == "icmp6" and p.icmp_type not in (133, 134) and not neighbor:
                continue
            key = (p.src, p.dst, p.payload)
            old = recent.get(key)
            if old is not None and p.time - old.time <= same_within:
                if link not in old.links:
                    old.links.append(link)
                continue
            lines, cls = arrow_labels(p)
            a = Arrow(p.time, lanes(p.src), lanes(p.dst), lines, cls, [link], key)
            recent[key] = a
            arrows.append(a)
            open_conv.clear()  # a protocol message ends every burst
            continue
        if not data:
            continue
        t = summarise(p.frame)
        if t is None:
            continue
        old = recent.get(t.key)
        if old is not None and p.time - old.last <= same_within:
            if link not in old.links:
                old.links.append(link)
            continue
        conv = t.conversation()
        cur = open_conv.get(conv)
        if cur is not None and p.time - cur[0].last <= burst_gap:
            a, first, number = cur
            a.packets += 1
            a.last = p.time
            if (t.src, t.dst) != (first.src, first.dst):
                a.both_ways = True
            if link not in a.links:
                a.links.append(link)
        else:
            lanes.note_peer(t.innermost.src, t.innermost.dst)
            a = Arrow(p.time, lanes(t.src), lanes(t.dst), [], "tunnel" if t.tunnel else "data",
                      [link], t.key, last=p.time)
            first, number = t, p.number
            open_conv[conv] = (a, first, number)
            arrows.append(a)
        n, octets = a.events.get(t.innermost.event, (0, 0))
        a.events[t.innermost.event] = (n + 1, octets + t.innermost.length)
        recent[t.key] = a
        a.lines = _traffic_lines(a, first, number, lanes)
        if any(w in t.innermost.event for w in ("RST", "Unreachable")):
            a.cls = "bad"
    return arrows


MCAST = "multicast"


def _is_group(lane: str) -> bool:
    return lane.startswith("ff")


def host_lane(arrows: list[Arrow]) -> str | None:
    """The lane that sends most DHCPv6 client messages (the host), if any."""
    counts: dict[str, int] = {}
    for a in arrows:
        if a.cls == "client" or (a.cls == "bad" and a.lines and
                                 any(m in a.lines[0] for m in _CLIENT_NAMES)):
            counts[a.src] = counts.get(a.src, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


_CLIENT_NAMES = (" Solicit", " Request", " Renew", " Rebind", " Release", " Confirm")


def find_moves(arrows: list[Arrow], host: str | None) -> list[tuple[int, list[str], list[str]]]:
    """Where ``host`` changed links, from the captures its packets were seen
    on: ``(index of the first arrow on the new link, old links, new links)``.

    A capture that saw every packet of the host (its own link) tells nothing;
    the others that carried its DHCPv6 / ND (the routers' access links, not a
    core link its tunnelled data crossed) say where it was attached. The
    host moved when its packets stop appearing on one set of those and
    appear on another, disjoint one — e.g. the first packet of mh on ar2's
    access link after packets on ar1's."""
    if host is None:
        return []
    mine = [(i, set(a.links)) for i, a in enumerate(arrows) if host in (a.src, a.dst)]
    # the links that carried the host's own DHCPv6 / ND (link-scoped), not a
    # core link its tunnelled data also crossed; less the host's own link
    proto = [set(arrows[i].links) for i, _ in mine
             if arrows[i].cls not in ("data", "tunnel")]
    if not proto:
        return []
    access = set.union(*proto) - set.intersection(*proto)
    out: list[tuple[int, list[str], list[str]]] = []
    where: set[str] | None = None
    for i, links in mine:
        at = links & access
        if not at:
            continue
        if where is not None and at.isdisjoint(where):
            out.append((i, sorted(where), sorted(at)))
        where = at
    return out


def find_router_moves(arrows: list[Arrow],
                      host: str | None) -> list[tuple[int, list[str], list[str]]]:
    """Where ``host`` changed routers, in a single capture of its own link:
    ``(index, [old router], [new router])``. A router is a lane that sends
    RAs or DHCPv6 answers to the host; its messages in a row form a run. The
    host moved where a run of at least two messages of one router is
    followed by a run of at least two of another (two servers answering the
    same Solicits alternate, run by run of one, and are not a move). The
    rule goes after the old router's run, before the host's next message
    (typically the RS it sends on the new link)."""
    if host is None:
        return []
    served = [i for i, a in enumerate(arrows)
              if a.src != host and a.cls in ("server", "nd", "bad")
              and (a.dst == host or _is_group(a.dst))]
    runs: list[list[int]] = []
    for i in served:
        if runs and arrows[runs[-1][-1]].src == arrows[i].src:
            runs[-1].append(i)
        else:
            runs.append([i])
    out: list[tuple[int, list[str], list[str]]] = []
    for old, new in itertools.pairwise(runs):
        if len(old) >= 2 and len(new) >= 2:
            j = next((k for k in range(old[-1] + 1, new[0])
                      if host in (arrows[k].src, arrows[k].dst)), new[0])
            out.append((j, [arrows[old[0]].src], [arrows[new[0]].src]))
    return out


def _lane_head(lane: str, lanes: Lanes, groups: list[str]) -> tuple[str, list[str]]:
    """(title, sub-label lines) of a lane's head."""
    if lane == MCAST:
        if len(groups) == 1:
            return groups[0], [GROUP_NAMES.get(groups[0], "multicast")]
        return MCAST, groups
    first = lanes.first_address.get(lane)
    return lane, ([first] if first and first != lane else [])


def _wrap(line: str, limit: int) -> list[str]:
    """``line`` cut at ', ' or spaces into pieces of at most ``limit``
    characters (continuations indented); an address is never cut."""
    out: list[str] = []
    while len(line) > limit:
        cut = line.rfind(", ", 0, limit)
        step = 2
        if cut <= limit // 3:
            cut, step = line.rfind(" ", 0, limit), 1
        if cut <= limit // 3:
            break
        out.append(line[:cut + (1 if step == 2 else 0)])
        line = "  " + line[cut + step:]
    out.append(line)
    return out


def flow_svg(packets: list[Packet], title: str = "", *, links: list[str] | None = None,
             names: dict[str, str] | None = None, data: bool = False,
             neighbor: bool = False) -> str:
    """The ladder diagram of ``packets`` as SVG text.

    ``links``: the capture (link) name of each packet, when they come from
    several captures: merged by time, one arrow per message with every link
    it was seen on in the margin, frames labelled ``capture#number`` (unique
    across the captures), and a horizontal rule where the host moved
    (:func:`find_moves`). ``names``: lane names of addresses or prefixes
    (:class:`Lanes`, :func:`lab_names`); unnamed ones are named by role.
    ``data``: draw the other IPv6 traffic too (TCP, UDP, ICMPv6 errors,
    tunnels), one arrow per burst of a conversation. ``neighbor``: draw
    NS/NA/Redirect as well. Every multicast group shares one narrow lane on
    the right; a legend explains the colours. The width stays within
    :data:`MAX_WIDTH` (long labels wrap)."""
    lanes = Lanes(names)
    tags = links if links is not None else [""] * len(packets)
    arrows = build_arrows(list(zip(tags, packets)), lanes, data=data, neighbor=neighbor)
    multi = len({t for t in tags if t}) > 1
    if multi:
        for a in arrows:
            if a.lines and a.lines[0].startswith("#"):
                a.lines[0] = a.links[0] + a.lines[0]
    host = host_lane(arrows)
    found = find_moves(arrows, host) if multi else find_router_moves(arrows, host)
    moves = {i: (old, new) for i, old, new in found}
    order: list[str] = []
    groups: list[str] = []
    for a in arrows:
        for lane in (a.src, a.dst):
            if _is_group(lane):
                if lane not in groups:
                    groups.append(lane)
            elif lane not in order:
                order.append(lane)
    # named lanes in the names' order, the others as they came
    order.sort(key=lambda a: lanes.order.index(a) if a in lanes.order else len(lanes.order))
    margin_tag = max((len(", ".join(a.links)) for a in arrows), default=0) if multi else 0
    left = 90.0 + (max(0, margin_tag * 6.2 - 70) if multi else 0)
    mcast_w = MCAST_W if groups else 0.0
    n = max(len(order), 1)
    longest = max((len(line) for a in arrows for line in a.lines), default=20)
    gap = max(160.0, min(max(240.0, longest * CHAR_W / 2 + 60),
                         (MAX_WIDTH - left - 20 - mcast_w) / n))
    lane_x = {a: left + gap / 2 + i * gap for i, a in enumerate(order)}
    if groups:
        lane_x[MCAST] = left + n * gap + mcast_w / 2 - 20
    width = int(left + n * gap + mcast_w + 20)

    def x_of(lane: str) -> float:
        return lane_x[MCAST if _is_group(lane) else lane]

    # legend: one row (or more) of samples under the title
    legend: list[str] = []
    lx, ly = 20.0, (58.0 if title else 24.0)
    entries = [e for e in LEGEND if e[0] != "bad" or any(a.cls == "bad" for a in arrows)]
    entries = [e for e in entries if not (e[1] in ("data", "tunnel") and
                                          not any(a.cls == e[0] for a in arrows))]
    extra = []
    if moves:
        extra.append(("move", "host moved (links it is seen on changed)", "10,4"))
    if multi:
        extra.append((None, "frame labels: capture#frame", ""))
    for cls, text, dash in entries + extra:
        w = 34 + len(text) * 6.6 + 22
        if lx + w > width - 10:
            lx, ly = 20.0, ly + 18
        if cls is not None:
            colour = "#333" if cls == "move" else COLOURS[cls]
            d = f' stroke-dasharray="{dash}"' if dash else ""
            sw = "2" if cls == "move" else "1.6"
            legend.append(f'<path d="M{lx:.1f},{ly - 4:.1f} h28" stroke="{colour}" '
                          f'stroke-width="{sw}"{d} fill="none" class="legend-sample"/>')
            legend.append(f'<text x="{lx + 34:.1f}" y="{ly:.1f}" class="legend">'
                          f'{escape(text)}</text>')
        else:
            legend.append(f'<text x="{lx:.1f}" y="{ly:.1f}" class="legend">{escape(text)}</text>')
        lx += w
    top = ly + 20
    heads = {lane: _lane_head(lane, lanes, groups) for lane in [*order, *([MCAST] if groups
                                                                            else [])]}
    head_h = 24.0 + 15.0 * max((len(sub) for _, sub in heads.values()), default=1)
    head_h = max(head_h, 46.0)
    y = top + head_h + 24
    items: list[str] = []
    t0 = arrows[0].time if arrows else 0.0
    for idx, a in enumerate(arrows):
        if idx in moves:
            old, new = moves[idx]
            y += 12
            items.append(f'<line x1="10" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" '
                         f'stroke="#333" stroke-width="2" stroke-dasharray="10,4" '
                         f'class="move"/>')
            words = (f"move: {host} now seen on {' + '.join(new)} (was on {' + '.join(old)})"
                     if multi else f"move: {host} now served by {new[0]} (was {old[0]})")
            items.append(f'<text x="14" y="{y - 5:.1f}" class="move">{escape(words)}</text>')
            y += 22
        colour = COLOURS[a.cls]
        sx, dx = x_of(a.src), x_of(a.dst)
        span = abs(dx - sx)
        limit = max(40, int(max(span, 2 * gap) / CHAR_W) - 2)
        lines = [piece for line in a.lines for piece in _wrap(line, limit)]
        text_y = y
        arrow_y = y + LINE_H * (len(lines) - 1) + 10
        mid = (sx + dx) / 2
        anchor = "middle"
        if sx == dx:  # to itself: a loop to the right
            mid, anchor = sx + 12, "start"
        else:  # keep the label inside the picture
            half = max(len(line) for line in lines) * CHAR_W / 2
            mid = min(max(mid, left + half), width - 6 - half)
        items.append(f'<text x="{left - 12}" y="{arrow_y + 4:.1f}" class="time">'
                     f'+{a.time - t0:.3f} s</text>')
        if multi:
            items.append(f'<text x="{left - 12}" y="{arrow_y + 17:.1f}" class="link">'
                         f'{escape(", ".join(a.links))}</text>')
        for i, line in enumerate(lines):
            weight = ' font-weight="bold"' if i == 0 else ""
            fill = COLOURS["bad"] if any(w in line for w in _FAILURES) else colour
            kind = "label head" if i == 0 else "label"
            items.append(f'<text x="{mid:.1f}" y="{text_y + i * LINE_H:.1f}" '
                         f'text-anchor="{anchor}" fill="{fill}"{weight} class="{kind}">'
                         f'{escape(line)}</text>')
        if sx == dx:
            items.append(f'<path d="M{sx},{arrow_y - 6} h30 v12 h-28" fill="none" '
                         f'stroke="{colour}" stroke-width="1.6" marker-end="url(#a-{a.cls})"/>')
        else:
            end = dx - 2 if dx > sx else dx + 2
            dash = ' stroke-dasharray="6,4"' if _is_group(a.dst) else ""
            if a.cls in ("data", "tunnel"):
                dash = ' stroke-dasharray="2,3"'
            back = ' marker-start="url(#b-data)"' if a.both_ways else ""
            items.append(f'<line x1="{sx}" y1="{arrow_y}" x2="{end}" y2="{arrow_y}" '
                         f'stroke="{colour}" stroke-width="1.6"{dash}{back} '
                         f'marker-end="url(#a-{a.cls})"/>')
            if _is_group(a.dst):  # which group, by its RFC name, at the arrow's head
                tx, anc = (end - 8, "end") if dx > sx else (end + 8, "start")
                items.append(f'<text x="{tx:.1f}" y="{arrow_y + 13:.1f}" text-anchor="{anc}" '
                             f'class="group">{escape(GROUP_NAMES.get(a.dst, a.dst))}</text>')
        y = arrow_y + (34 if multi else 30)
    height = int(y + 20)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="12">'),
           "<defs>"]
    for cls, colour in COLOURS.items():
        out.append(f'<marker id="a-{cls}" viewBox="0 0 10 10" refX="9" refY="5" '
                   f'markerWidth="9" markerHeight="9" orient="auto-start-reverse">'
                   f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>')
    out.append(f'<marker id="b-data" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
               f'markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
               f'fill="{COLOURS["data"]}"/></marker>')
    out.append("</defs>")
    out.append('<style>.time{font-size:11px;fill:#555;text-anchor:end}'
               '.link{font-size:10px;fill:#8a6d3b;text-anchor:end}'
               '.label{paint-order:stroke;stroke:white;stroke-width:4px;stroke-linejoin:round}'
               '.lane{font-weight:bold;font-size:13px}.sub{font-size:11px;fill:#555}'
               '.legend{font-size:11px;fill:#333}'
               '.group{font-size:10px;fill:#555;font-style:italic}'
               '.move{font-size:12px;font-weight:bold;fill:#333}</style>')
    out.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    if title:
        out.append(f'<text x="20" y="32" font-size="16" font-weight="bold">'
                   f'{escape(title)}</text>')
    out.extend(legend)
    for a, (name, sub) in heads.items():
        x = lane_x[a]
        bw = max(len(name), *(len(t) for t in sub)) * CHAR_W + 24 if sub else \
            len(name) * CHAR_W + 24
        if a == MCAST:
            bw = min(bw, mcast_w - 8)
        out.append(f'<rect x="{x - bw / 2:.1f}" y="{top}" width="{bw:.1f}" height="{head_h}" '
                   f'rx="6" fill="#f0f3f8" stroke="#8a99b3"/>')
        out.append(f'<text x="{x}" y="{top + 19}" text-anchor="middle" class="lane">'
                   f'{escape(name)}</text>')
        for i, line in enumerate(sub):
            out.append(f'<text x="{x}" y="{top + 36 + 15 * i}" text-anchor="middle" '
                       f'class="sub">{escape(line)}</text>')
        out.append(f'<line x1="{x}" y1="{top + head_h}" x2="{x}" y2="{height - 10}" '
                   f'stroke="#b8c2d3" stroke-width="{1.2 if a != MCAST else 4}"/>')
    out.extend(items)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def output_problem(out: str | Path) -> str | None:
    """Why ``out`` cannot be written as a new or replaced file, in one line
    (None when it can): its directory missing or not a directory, ``out``
    itself a directory. The directory is not created, as tshark -w and
    tcpdump -w do not create one."""
    out = Path(out)
    parent = out.parent
    if out.is_dir():
        return f"{out} is a directory; give a file name"
    if not parent.exists():
        return f"cannot write {out}: no directory {parent} (create it first)"
    if not parent.is_dir():
        return f"cannot write {out}: {parent} is not a directory"
    return None


def write_flow(packets: list[Packet], out: str | Path, title: str = "", **kw) -> Path:
    """Write the diagram to ``out`` (``.svg``, or ``.png`` through
    rsvg-convert); ``kw`` as for :func:`flow_svg`. Raises :class:`FlowError`
    for another suffix or when no converter is installed for PNG."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".svg", ".png"):
        raise FlowError(f"{out}: write .svg or .png")
    problem = output_problem(out)
    if problem:
        raise FlowError(problem)
    svg = flow_svg(packets, title, **kw)
    if suffix == ".svg":
        try:
            out.write_text(svg)
        except OSError as exc:
            raise FlowError(f"cannot write {out}: {exc.strerror or exc}") from None
        return out
    conv = shutil.which("rsvg-convert")
    if conv is None:
        raise FlowError("PNG needs rsvg-convert (Debian: librsvg2-bin); write .svg instead")
    with tempfile.NamedTemporaryFile("w", suffix=".svg", delete=False) as fh:
        fh.write(svg)
        tmp = fh.name
    try:
        res = subprocess.run([conv, "-f", "png", "-o", str(out), tmp], capture_output=True,
                             text=True, timeout=60, check=False)
        if res.returncode != 0:
            raise FlowError(f"rsvg-convert failed: {res.stderr.strip()}")
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out
