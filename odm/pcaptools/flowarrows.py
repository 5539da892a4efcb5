"""The arrows of a ladder diagram (:mod:`odm.pcaptools.flow`): one per
DHCPv6 / RS / RA message (its label lines and colour class,
:func:`arrow_labels`), captures of several links merged by time
(:func:`build_arrows`), bursts of other traffic as one arrow, and where the
host moved (:func:`find_moves` across links, :func:`find_router_moves` in one
capture of the host's link)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from odm.pcaptools.describe import lifetime, packet_summary, status_name, top_level_types, type_name
from odm.pcaptools.flowlanes import _CLIENT, Lanes, _inner
from odm.pcaptools.packets import Packet
from odm_wire import dhcp6 as d6
from odm_wire import nd

__all__ = ["MCAST", "Arrow", "arrow_labels", "build_arrows", "find_moves", "find_router_moves",
           "host_lane"]


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
