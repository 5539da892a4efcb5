"""Message-sequence (ladder) diagrams of captures, written as SVG.

One vertical lane per node (a name given to addresses and prefixes, else
the node's role — mh, ar1, ar2, cn, relay, server — with its address as a
sub-label: :mod:`odm.pcaptools.flowlanes`; every multicast group in one
narrow lane on the right, the group's RFC name at each arrow's head), a
legend of the colours, one arrow per DHCPv6 / RS / RA message from
its source lane to its destination lane, labelled with the frame number, the
message name, the transaction-id, and per IA_PD its IAID with the mobility
types or the status (per PIO for RAs). Times run down the left margin.

Several captures (one per link, e.g. ``pcaps/demo-4.2/``) are merged by time:
a message seen on several links is drawn once, the links it was seen on
written under its time, frames labelled ``capture#number``, and a dashed rule across the ladder
where the host moved (:func:`~odm.pcaptools.flowarrows.find_moves`; in a single capture of the
host's link, :func:`~odm.pcaptools.flowarrows.find_router_moves`). Optionally (``data``) the rest
of the IPv6 traffic — TCP, UDP, ICMPv6 errors, SRv6 / IPv6-in-IPv6 / VXLAN tunnels — is drawn in
grey, one dotted arrow per burst of a conversation, so an application's session can be
followed across a move. NS/NA/Redirect are left out unless asked.

:func:`flow_svg` returns the SVG text; :func:`write_flow` writes ``.svg`` or,
through ``rsvg-convert`` (Debian librsvg2-bin), ``.png``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from odm.pcaptools.flowarrows import (
    MCAST,
    _is_group,
    build_arrows,
    find_moves,
    find_router_moves,
    host_lane,
)
from odm.pcaptools.flowlanes import Lanes, lab_names
from odm.pcaptools.packets import Packet

# lab_names (odm.pcaptools.flowlanes) is named here too: ``odm pcap flow``
# imports it from this module
__all__ = ["FlowError", "flow_svg", "lab_names", "output_problem", "write_flow"]

GROUP_NAMES = {
    "ff02::1:2": "All DHCP Relay Agents and Servers",
    "ff02::1": "All Nodes", "ff02::2": "All Routers",
}
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
    arrows = build_arrows(list(zip(tags, packets, strict=False)), lanes, data=data,
                          neighbor=neighbor)
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
