"""``odm probe``: ask the network on an interface what it offers.

``odm probe ra``, ``odm probe pd``, ``odm probe types``; each runs on real
kernel sockets on ``--iface``, optionally inside ``--netns NAME`` (entered
with pyroute2.netns.setns before any socket opens). Rich tables for people,
``--json`` for scripts.

Exit status: 0 the probe got what it asked; 1 the network said no (a status
code, no router, no grantable type); 3 no answer / cannot probe; 4 only
malformed answers (the codec error names the offending octet).
"""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from odm.jsonout import dumps, type_json
from odm.probetools import EXIT_NO_ANSWER
from odm.tables import print_table
from odm_wire.constants import ODM_PEN, MobilityType

__all__ = ["probe"]


def _console() -> Console:
    from odm.tables import console
    return console()


def _common(f=None, *, iface_help: str = "Interface to probe on."):
    """The options of every probe (and monitor) command; ``iface_help`` says
    what the command does on ``--iface``."""
    def wrap(f):
        f = click.option("--pen", type=int, default=ODM_PEN, show_default=True,
                         help="Enterprise number of odm's vendor option.")(f)
        f = click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")(f)
        f = click.option("--netns", metavar="NAME",
                         help="Run inside this network namespace.")(f)
        return click.option("--iface", required=True, metavar="IF", help=iface_help)(f)
    return wrap if f is None else wrap(f)


def _setup(iface: str, netns: str | None):
    from odm.probetools.link import ProbeError, enter_netns, interface_info

    try:
        if netns:
            enter_netns(netns)
        return interface_info(iface)
    except ProbeError as exc:
        _fail(str(exc))


def _fail(text: str) -> None:
    click.echo(f"odm probe: {text}", err=True)
    sys.exit(EXIT_NO_ANSWER)


def _type_text(t) -> str:
    """A type for text output: its RFC 8653 name (also from its JSON spelling)."""
    if t is None or t == 0 or t == "legacy":
        return "untyped (legacy)"
    if isinstance(t, str):
        t = MobilityType.from_name(t)
    if isinstance(t, MobilityType):
        return t.name
    return f"reserved({int(t)})"


def _life(v) -> str:
    from odm.pcaptools.describe import lifetime
    return "" if v is None else lifetime(v)


def hexdump(raw: bytes, offset: int | None, width: int = 16) -> Text:
    """Hex dump of ``raw`` with the octet at ``offset`` highlighted (the one a
    WireFormatError names)."""
    out = Text()
    for line in range(0, len(raw), width):
        out.append(f"{line:04x}  ")
        for i in range(line, min(line + width, len(raw))):
            style = "bold white on red" if i == offset else None
            out.append(f"{raw[i]:02x}", style=style)
            out.append(" ")
        out.append("\n")
    return out


def _entry_json(e) -> dict:
    from odm.pcaptools.describe import message_name, summary, to_jsonable
    d = {"t": round(e.t, 4), "direction": e.direction, "peer": str(e.peer),
         "octets": e.raw.hex(), "notes": e.notes}
    if e.message is not None:
        d["message"] = message_name(e.message)
        d["summary"] = summary(e.message)
        d["decoded"] = to_jsonable(e.message)
    if e.error is not None:
        d["error"] = {"reason": e.error.reason, "offset": e.error.offset,
                      "octet": e.raw[e.error.offset] if 0 <= e.error.offset < len(e.raw)
                      else None}
    return d


def _print_log(con: Console, log, title: str) -> None:
    from odm.pcaptools.describe import message_name, summary
    t = Table(title=title, title_justify="left")
    for col in ("t (s)", "", "peer", "message", "content"):
        t.add_column(col, overflow="fold")
    for e in log:
        arrow = "→" if e.direction == "sent" else "←"
        if e.error is not None:
            t.add_row(f"{e.t:.3f}", arrow, str(e.peer), Text("MALFORMED", style="red"),
                      Text(f"{e.error.reason} at octet {e.error.offset}"))
        else:
            content = summary(e.message)
            if e.notes:
                content += " | " + "; ".join(e.notes)
            t.add_row(f"{e.t:.3f}", arrow, str(e.peer), message_name(e.message), Text(content))
    print_table(t, con)
    for e in log:
        if e.error is not None and e.error.offset >= 0:
            con.print(Text(f"malformed datagram from {e.peer}: {e.error.reason} "
                           f"(octet {e.error.offset} = 0x{e.raw[e.error.offset]:02x})"
                           if e.error.offset < len(e.raw) else
                           f"malformed datagram from {e.peer}: {e.error.reason}",
                           style="red"))
            con.print(hexdump(e.raw, e.error.offset))


@click.group()
def probe() -> None:
    """Ask the network on an interface: routers, prefix delegation, types."""


# ---------------------------------------------------------------------- ra --
@probe.command()
@_common
@click.option("--wait", type=float, default=3.0, show_default=True,
              help="Seconds to collect Router Advertisements.")
def ra(iface: str, netns: str | None, as_json: bool, pen: int, wait: float) -> None:
    """Send an RS and show every RA: one row per router and prefix with its
    mobility type by name, PIO flags, lifetimes and the router lifetime."""
    from odm.probetools.link import Icmp6Socket, ProbeError, now
    from odm.probetools.ra import probe_ra

    info = _setup(iface, netns)
    try:
        with Icmp6Socket(info) as sock:
            res = probe_ra(sock, now, mac=info.mac if info.link_local else None, wait=wait)
    except (ProbeError, OSError) as exc:
        _fail(str(exc))
    _show_ra(res, iface, as_json)
    sys.exit(res.exit_code)


def _ra_rows_json(res) -> list[dict]:
    return [{"router": str(r.router), "router_lifetime": r.router_lifetime,
             "ra_flags": r.ra_flags, "prefix": r.prefix, "flags": r.flags,
             "mobility_type": type_json(r.mobility_type),
             "legacy": not r.mobility_type,
             "preferred_lifetime": r.preferred_lifetime, "valid_lifetime": r.valid_lifetime,
             "violations": r.violations} for r in res.rows]


def _show_ra(res, iface: str, as_json: bool) -> None:
    if as_json:
        click.echo(dumps({"iface": iface, "routers": _ra_rows_json(res),
                               "log": [_entry_json(e) for e in res.log]}, indent=1))
        return
    con = _console()
    if not res.rows:
        con.print(f"[red]no Router Advertisement on {iface}[/]")
        if res.malformed:
            _print_log(con, res.log, "datagrams")
        return
    t = Table(title=f"Routers on {iface}", title_justify="left")
    for col in ("router", "router lifetime", "RA flags", "prefix", "PIO flags", "type",
                "preferred", "valid", "notes"):
        t.add_column(col, overflow="fold")
    for r in res.rows:
        ty = _type_text(r.mobility_type)
        t.add_row(str(r.router), f"{r.router_lifetime} s", r.ra_flags or "-", r.prefix or "-",
                  r.flags or "-", Text(ty, style="dim" if not r.mobility_type else "bold"),
                  _life(r.preferred_lifetime), _life(r.valid_lifetime),
                  Text("; ".join(r.violations)))
    print_table(t, con)


# ---------------------------------------------------------------------- pd --
def _client_setup(iface: str, netns: str | None, duid_hex: str | None):
    """(interface facts, client DUID) for a DHCPv6 client probe: the
    interface needs a usable link-local address (RFC 8415 §7.1, clients send
    from one)."""
    info = _setup(iface, netns)
    if info.link_local is None:
        _fail(f"{iface} has no usable link-local address")
    return info, _client_duid(info, duid_hex)


def _client_duid(info, duid_hex: str | None):
    from odm.probetools.pd import duid_ll
    from odm_wire.dhcp6 import decode_duid
    from odm_wire.errors import WireFormatError

    if duid_hex:
        try:
            raw = bytes.fromhex(duid_hex.replace(":", ""))
        except ValueError:
            raise click.BadParameter(f"{duid_hex!r} is not hex octets (like 00:01:00:01:…)",
                                     param_hint="--duid") from None
        try:
            return decode_duid(raw)
        except (ValueError, WireFormatError) as exc:
            raise click.BadParameter(f"{duid_hex!r} is not a DUID: {exc}",
                                     param_hint="--duid") from None
    if not info.mac:
        raise click.BadParameter(f"{info.name} has no MAC; give --duid", param_hint="--duid")
    return duid_ll(info.mac)


def _mtype(ctx, param, value):
    if value is None:
        return None
    try:
        return MobilityType.from_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _hint(ctx, param, value):
    from ipaddress import IPv6Network
    try:
        n = IPv6Network(value if "/" in value else value + "/64", strict=False)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an IPv6 prefix (like 2001:db8::/56)"
                                 ) from None
    return f"{n.network_address}/{n.prefixlen}"


@probe.command()
@_common
@click.option("--type", "mtype", callback=_mtype, metavar="T",
              help="Mobility type to ask for (fixed, session-lasting, non-persistent, "
                   "graceful-replacement, or 1-4). Without it the IA_PD is untyped.")
@click.option("--hint", default="::/64", callback=_hint, show_default=True,
              metavar="PREFIX/LEN", help="Prefix hint in the IAPREFIX.")
@click.option("--rapid-commit", is_flag=True, help="Ask for a two-message exchange.")
@click.option("--release", is_flag=True, help="Release the prefixes at the end.")
@click.option("--duid", "duid_hex", metavar="HEX",
              help="Client DUID (default: DUID-LL from the interface MAC).")
@click.option("--timeout", type=float, default=5.0, show_default=True,
              help="Seconds each phase (Solicit, Request, Release) may take.")
def pd(iface, netns, as_json, pen, mtype, hint, rapid_commit, release, duid_hex,
       timeout) -> None:
    """One DHCPv6 prefix-delegation exchange; lists every message and the
    prefixes granted with their types and lifetimes, or the status code."""
    from odm.probetools.link import Dhcp6ClientSocket, ProbeError, now
    from odm.probetools.pd import pd_exchange

    info, duid = _client_setup(iface, netns, duid_hex)
    try:
        with Dhcp6ClientSocket(info) as sock:
            res = pd_exchange(sock, now, client_duid=duid, types=[mtype], hint=hint,
                              rapid_commit=rapid_commit, release=release, timeout=timeout,
                              pen=pen)
    except (ProbeError, OSError) as exc:
        _fail(str(exc))
    _show_pd(res, iface, as_json)
    sys.exit(res.exit_code)


def pd_json(res) -> dict:
    """A JSON-ready dict of a :class:`~odm.probetools.pd.PdResult`."""
    from odm_wire.dhcp6 import encode_duid
    return {
        "outcome": res.outcome, "client_duid": encode_duid(res.client_duid).hex(":"),
        "server_duid": encode_duid(res.server_duid).hex(":") if res.server_duid else None,
        "server_address": str(res.server_address) if res.server_address else None,
        "status": res.status, "status_message": res.status_message,
        "supported_types": [type_json(t) for t in res.supported_types],
        "released": res.released,
        "ia_pds": [{"iaid": o.iaid, "asked": type_json(o.asked),
                    "status": o.status, "status_message": o.status_message,
                    "t1": o.t1, "t2": o.t2, "legacy": o.legacy, "discarded": o.discarded,
                    "prefixes": [{"prefix": g.prefix,
                                  "mobility_type": type_json(g.mobility_type),
                                  "preferred_lifetime": g.preferred_lifetime,
                                  "valid_lifetime": g.valid_lifetime} for g in o.grants]}
                   for o in res.ias],
        "log": [_entry_json(e) for e in res.log]}


def _show_pd(res, iface: str, as_json: bool) -> None:
    if as_json:
        click.echo(dumps(pd_json(res), indent=1))
        return
    con = _console()
    _print_log(con, res.log, f"DHCPv6 on {iface}")
    if res.outcome in ("no-answer", "malformed"):
        con.print(f"[red]{'no answer' if res.outcome == 'no-answer' else 'only malformed answers'}"
                  "[/] from any DHCPv6 server")
        return
    t = Table(title=f"IA_PDs (server {res.server_address})", title_justify="left")
    for col in ("IAID", "asked", "prefix", "type", "preferred", "valid", "T1/T2", "status"):
        t.add_column(col, overflow="fold")
    for o in res.ias:
        iaid = f"0x{o.iaid:08x}"  # as the ladder above and the router's lines
        asked = o.asked.name if o.asked else "untyped"
        st = o.status + (f" ({o.status_message})" if o.status_message else "")
        if not o.grants:
            t.add_row(iaid, asked, "-", "-", "", "", "", Text(st, style="red"))
        for g in o.grants:
            ty = (_type_text(g.mobility_type) if g.mobility_type is not None
                  else ("untyped (legacy server)" if o.asked else "untyped"))
            t.add_row(iaid, asked, g.prefix, ty, _life(g.preferred_lifetime),
                      _life(g.valid_lifetime), f"{_life(o.t1)}/{_life(o.t2)}", st)
        for d in o.discarded:
            t.add_row(iaid, asked, d, "", "", "", "", Text("discarded", style="yellow"))
    print_table(t, con)
    if res.supported_types:
        con.print("SUPPORTED_TYPES: " + ", ".join(_type_text(x) for x in res.supported_types))
    if res.released:
        con.print(f"Release: {res.released}")
    colour = {"granted": "green", "partial": "yellow"}.get(res.outcome, "red")
    con.print(f"[{colour}]{res.outcome}[/]")


# ------------------------------------------------------------------- types --
@probe.command("types")
@_common
@click.option("--wait", type=float, default=2.0, show_default=True,
              help="Seconds to collect Router Advertisements.")
@click.option("--timeout", type=float, default=3.0, show_default=True,
              help="Seconds each DHCPv6 phase may take.")
@click.option("--duid", "duid_hex", metavar="HEX",
              help="Client DUID (default: DUID-LL from the interface MAC).")
def types_cmd(iface, netns, as_json, pen, wait, timeout, duid_hex) -> None:
    """The mobility types the network offers (RA type bits, SUPPORTED_TYPES)
    and which it can grant right now (one typed PD exchange per type, each
    Released at once)."""
    from odm.probetools.link import Dhcp6ClientSocket, Icmp6Socket, ProbeError, now
    from odm.probetools.ra import probe_ra
    from odm.probetools.types import probe_types

    info, duid = _client_setup(iface, netns, duid_hex)
    try:
        with Icmp6Socket(info) as s:
            ra_res = probe_ra(s, now, mac=info.mac, wait=wait)
        with Dhcp6ClientSocket(info) as sock:
            res = probe_types(sock, now, ra_res, client_duid=duid, timeout=timeout, pen=pen)
    except (ProbeError, OSError) as exc:
        _fail(str(exc))
    if as_json:
        click.echo(dumps({
            "iface": iface,
            "types": [{"type": type_json(r.mobility_type), "in_ra": r.in_ra,
                       "in_supported_types": r.in_supported, "result": r.result,
                       "prefix": r.prefix, "released": r.released} for r in res.rows],
            "routers": _ra_rows_json(ra_res),
            "exchanges": {type_json(t): pd_json(x) for t, x in res.exchanges.items()}}, indent=1))
    else:
        con = _console()
        _show_ra(ra_res, iface, False)
        t = Table(title=f"Mobility types on {iface}", title_justify="left")
        for col in ("type", "in RA", "SUPPORTED_TYPES", "now", "prefix", "released"):
            t.add_column(col)
        for r in res.rows:
            style = {"granted": "green", "legacy": "yellow"}.get(r.result, "red")
            t.add_row(r.mobility_type.name, "yes" if r.in_ra else "no",
                      "yes" if r.in_supported else "no",
                      Text(r.result if r.result != "legacy"
                           else "legacy (untyped prefix)", style=style),
                      r.prefix or "-", r.released or "-")
        print_table(t, con)
    sys.exit(res.exit_code)
