"""Message-sequence (ladder) diagrams of a capture, written as SVG.

One vertical lane per IPv6 address (in order of first appearance; multicast
groups labelled with their RFC names), one arrow per DHCPv6 / ND packet from
its source lane to its destination lane, labelled with the frame number, the
message name, the transaction-id, and per IA_PD its IAID with the mobility
types or the status (per PIO for RAs). Times run down the left margin.

:func:`flow_svg` returns the SVG text; :func:`write_flow` writes ``.svg`` or,
through ``rsvg-convert`` (Debian librsvg2-bin), ``.png``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from odm.pcaptools.describe import lifetime, packet_summary, status_name, top_level_types, type_name
from odm.pcaptools.packets import Packet
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import MessageType

__all__ = ["FlowError", "arrow_labels", "flow_svg", "write_flow"]

GROUP_NAMES = {
    "ff02::1:2": "All DHCP Relay Agents and Servers",
    "ff02::1": "All Nodes", "ff02::2": "All Routers",
}
_CLIENT = {MessageType.SOLICIT, MessageType.REQUEST, MessageType.CONFIRM, MessageType.RENEW,
           MessageType.REBIND, MessageType.RELEASE, MessageType.DECLINE,
           MessageType.INFORMATION_REQUEST, MessageType.RELAY_FORW}
COLOURS = {"client": "#1f5fbf", "server": "#1a7f37", "nd": "#b35900", "bad": "#c62828"}
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
_FAILURES = ("NoPrefixAvail", "NoBinding", "UnspecFail", "NotOnLink", "UseMulticast",
             "NoAddrsAvail", "MALFORMED")
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
            lines.append(f"IA_PD {ia.iaid}: " + (", ".join(parts) if parts else "(empty)"))
    return lines, cls


def packet_summary_name(msg) -> str:
    from odm.pcaptools.describe import message_name
    return message_name(msg)


def _lane_title(addr: str) -> tuple[str, str]:
    return addr, GROUP_NAMES.get(addr, "multicast" if addr.startswith("ff") else "")


def flow_svg(packets: list[Packet], title: str = "") -> str:
    """The ladder diagram of the DHCPv6 / ND packets in ``packets`` as SVG."""
    pkts = [p for p in packets if p.kind is not None and p.src is not None]
    lanes: list[str] = []
    for p in pkts:
        for a in (str(p.src), str(p.dst)):
            if a not in lanes:
                lanes.append(a)
    # unicast lanes in order of appearance, multicast groups to the right
    lanes.sort(key=lambda a: a.startswith("ff"))
    rows = [(p, *arrow_labels(p)) for p in pkts]
    longest = max((len(line) for _, lines, _ in rows for line in lines), default=20)
    gap = max(260.0, min(620.0, longest * CHAR_W + 60))
    left = 90.0
    lane_x = {a: left + gap / 2 + i * gap for i, a in enumerate(lanes)}
    width = int(left + gap * max(len(lanes), 1) + 20)
    top = 70.0 if title else 40.0
    head_h = 46.0
    y = top + head_h + 24
    items: list[str] = []
    t0 = pkts[0].time if pkts else 0.0
    for p, lines, cls in rows:
        colour = COLOURS[cls]
        sx, dx = lane_x[str(p.src)], lane_x[str(p.dst)]
        text_y = y
        arrow_y = y + LINE_H * (len(lines) - 1) + 10
        mid = (sx + dx) / 2
        anchor = "middle"
        if sx == dx:  # to itself: a loop to the right
            mid, anchor = sx + 12, "start"
        items.append(f'<text x="{left - 12}" y="{arrow_y + 4:.1f}" class="time">'
                     f'+{p.time - t0:.3f} s</text>')
        for i, line in enumerate(lines):
            weight = ' font-weight="bold"' if i == 0 else ""
            fill = COLOURS["bad"] if any(w in line for w in _FAILURES) else colour
            items.append(f'<text x="{mid:.1f}" y="{text_y + i * LINE_H:.1f}" '
                         f'text-anchor="{anchor}" fill="{fill}"{weight} class="label">'
                         f'{escape(line)}</text>')
        if sx == dx:
            items.append(f'<path d="M{sx},{arrow_y - 6} h30 v12 h-28" fill="none" '
                         f'stroke="{colour}" stroke-width="1.6" marker-end="url(#a-{cls})"/>')
        else:
            end = dx - 2 if dx > sx else dx + 2
            dash = ' stroke-dasharray="6,4"' if str(p.dst).startswith("ff") else ""
            items.append(f'<line x1="{sx}" y1="{arrow_y}" x2="{end}" y2="{arrow_y}" '
                         f'stroke="{colour}" stroke-width="1.6"{dash} '
                         f'marker-end="url(#a-{cls})"/>')
        y = arrow_y + 30
    height = int(y + 20)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="12">'),
           "<defs>"]
    for cls, colour in COLOURS.items():
        out.append(f'<marker id="a-{cls}" viewBox="0 0 10 10" refX="9" refY="5" '
                   f'markerWidth="9" markerHeight="9" orient="auto-start-reverse">'
                   f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>')
    out.append("</defs>")
    out.append('<style>.time{font-size:11px;fill:#555;text-anchor:end}'
               '.label{paint-order:stroke;stroke:white;stroke-width:4px;stroke-linejoin:round}'
               '.lane{font-weight:bold;font-size:13px}.sub{font-size:11px;fill:#555}</style>')
    out.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    if title:
        out.append(f'<text x="20" y="32" font-size="16" font-weight="bold">'
                   f'{escape(title)}</text>')
    for a in lanes:
        x = lane_x[a]
        name, sub = _lane_title(a)
        bw = max(len(name), len(sub)) * CHAR_W + 24
        out.append(f'<rect x="{x - bw / 2:.1f}" y="{top}" width="{bw:.1f}" height="{head_h}" '
                   f'rx="6" fill="#f0f3f8" stroke="#8a99b3"/>')
        out.append(f'<text x="{x}" y="{top + 19}" text-anchor="middle" class="lane">'
                   f'{escape(name)}</text>')
        if sub:
            out.append(f'<text x="{x}" y="{top + 36}" text-anchor="middle" class="sub">'
                       f'{escape(sub)}</text>')
        out.append(f'<line x1="{x}" y1="{top + head_h}" x2="{x}" y2="{height - 10}" '
                   f'stroke="#b8c2d3" stroke-width="1.2"/>')
    out.extend(items)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_flow(packets: list[Packet], out: str | Path, title: str = "") -> Path:
    """Write the diagram to ``out`` (``.svg``, or ``.png`` through
    rsvg-convert). Raises :class:`FlowError` for another suffix or when no
    converter is installed for PNG."""
    out = Path(out)
    svg = flow_svg(packets, title)
    suffix = out.suffix.lower()
    if suffix == ".svg":
        out.write_text(svg)
        return out
    if suffix != ".png":
        raise FlowError(f"{out}: write .svg or .png")
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
