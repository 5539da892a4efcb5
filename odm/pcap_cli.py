"""``odm pcap``: look at, check, draw and replay captures of odm's protocols.

Commands: ``show``, ``check``, ``flow``, ``replay``, ``lua-path``. The work is
done in :mod:`odm.pcaptools`; this module is the click + rich surface.
Exit statuses: 0 all well; 1 ``check`` found faults, or ``replay --against``
found a difference; 2 usage error or unreadable file (click's convention),
``check`` with nothing to check (no DHCPv6 / ND packet), or a conformance
replay that could not run or compared nothing (no such interface or lab, an
action it cannot perform, no agent answering on the link). A capture cut
short is read up to the damage, with a warning on stderr, as tshark does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from odm.jsonout import dumps
from odm.pcaptools.capture import CaptureError, read_capture_until_damage
from odm.pcaptools.packets import Packet, dissect_all
from odm.tables import print_table
from odm_wire.constants import ODM_PEN

__all__ = ["pcap"]


def _console() -> Console:
    from odm.tables import console
    return console()


def _load(path: str, pen: int) -> list[Packet]:
    """The dissected frames of ``path``; a capture cut short is read up to the
    damage (as tshark does) with a warning on stderr naming where it ends."""
    return _load_with_damage(path, pen)[0]


def _load_with_damage(path: str, pen: int) -> tuple[list[Packet], CaptureError | None]:
    try:
        frames, damage = read_capture_until_damage(path)
    except CaptureError as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror}") from None
    if damage is not None:
        click.echo(f"warning: {path}: capture cut short {damage.where()}; "
                   f"read the {len(frames)} whole frame(s) before it", err=True)
    return dissect_all(frames, pen), damage


def _capture_paths(items: tuple[str, ...]) -> list[Path]:
    """FILES as given, a directory standing for its .pcap/.pcapng files
    (sorted by name), as `odm lab demo` writes one per link."""
    paths: list[Path] = []
    for f in items:
        p = Path(f)
        if p.is_dir():
            found = sorted(x for x in p.iterdir() if x.suffix in (".pcap", ".pcapng"))
            if not found:
                raise click.ClickException(f"{p}: no .pcap or .pcapng files")
            paths.extend(found)
        else:
            paths.append(p)
    return paths


def _pen_option(f):
    return click.option("--pen", type=int, default=ODM_PEN, show_default=True,
                        help="Enterprise number of odm's vendor option.")(f)


@click.group()
def pcap() -> None:
    """Show, check, draw and replay captures of DHCPv6-PD and RS/RA."""


@pcap.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--filter", "filter_text", metavar="EXPR", default="",
              help="Keep packets matching EXPR, e.g. 'msg==reply and type==fixed', "
                   "'ra', 'iaid==3 or malformed'.")
@click.option("--tree", is_flag=True, help="One tree per packet, every option by name.")
@click.option("--json", "as_json", is_flag=True,
              help="JSON lines for scripts (with a \"file\" key when several captures).")
@_pen_option
def show(files: tuple[str, ...], filter_text: str, tree: bool, as_json: bool, pen: int) -> None:
    """Dissect every DHCPv6 / ND packet of FILES with odm's codec.

    FILES: captures, or a directory of them (one per link, as `odm lab demo`
    writes), each shown in turn. Mobility types, message types and status
    codes are shown by name. Frames that are neither DHCPv6 nor ND are left
    out.
    """
    from odm.pcaptools.describe import packet_json, packet_summary, packet_tree
    from odm.pcaptools.filters import FilterError, compile_filter

    paths = _capture_paths(files)
    try:
        pred = compile_filter(filter_text)
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None
    con = _console()
    for path in paths:
        pkts = _load(str(path), pen)
        t0 = pkts[0].time if pkts else 0.0
        chosen = [p for p in pkts if p.kind is not None and pred(p)]
        if as_json:
            extra = {"file": str(path)} if len(paths) > 1 else {}
            for p in chosen:
                click.echo(dumps({**extra, **packet_json(p, t0, full=tree)}, indent=None))
            continue
        if tree:
            if len(paths) > 1:
                con.print(Text(f"== {path}", style="bold"))
            for p in chosen:
                con.print(packet_tree(p, t0))
            continue
        table = Table(title=f"{path.name if len(paths) == 1 else path}: "
                            f"{len(chosen)} of {len(pkts)} frames",
                      title_justify="left", expand=False)
        for col, kw in (("#", {"justify": "right"}), ("time", {"justify": "right"}),
                        ("source", {}), ("destination", {}), ("message", {"style": "bold"}),
                        ("content", {"overflow": "fold"})):
            table.add_column(col, **kw)
        for p in chosen:
            name, text = packet_summary(p)
            style = "red" if (p.error is not None or p.framing_error) else None
            table.add_row(str(p.number), f"{p.time - t0:.3f}", str(p.src), str(p.dst), name,
                          Text(text), style=style)
        print_table(table, con)


@pcap.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--no-checksums", is_flag=True,
              help="Do not verify UDP/ICMPv6 checksums.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per finding, then one result object per capture.")
@click.option("--strict", is_flag=True,
              help="Exit 1 on warnings (SHOULD-level deviations) too.")
@_pen_option
def check(files: tuple[str, ...], no_checksums: bool, as_json: bool, strict: bool,
          pen: int) -> None:
    """Validate every DHCPv6 / ND packet of FILES against the codec and the RFC
    rules; report each fault with its frame, rule and RFC section.

    FILES: captures, or a directory of them (as `odm pcap flow` takes).
    Errors are MUST violations and undecodable packets; warnings are
    SHOULD-level deviations (for example T2 above the shortest preferred
    lifetime, RFC 8415 §21.21), which real servers ship. Wrong checksums are
    listed apart (captures taken on a veth sender with TX offload on have
    them). A capture cut short is checked up to the damage, with a warning.
    Exits 1 when an error or a wrong checksum is found, or with --strict a
    warning or a cut-short capture; 2 when there was nothing to check (no
    DHCPv6 / ND packet in any of FILES); 0 otherwise.
    """
    from odm.pcaptools.check import check_packets

    con = _console()
    total = 0
    checked = 0
    for path in _capture_paths(files):
        file = str(path)
        pkts, damage = _load_with_damage(file, pen)
        found = check_packets(pkts, checksums=not no_checksums)
        total += sum(1 for f in found if strict or f.severity != "warning")
        total += 1 if strict and damage is not None else 0
        n_odm = sum(1 for p in pkts if p.kind is not None)
        checked += n_odm
        faults = [f for f in found if f.category != "checksum" and f.severity != "warning"]
        warns = [f for f in found if f.category != "checksum" and f.severity == "warning"]
        sums = [f for f in found if f.category == "checksum"]
        if as_json:
            for f in found:
                click.echo(dumps({"file": file, **f.as_dict()}, indent=None))
            result = ("nothing-to-check" if not n_odm else "faults" if faults or sums
                      else "warnings" if warns else "clean")
            click.echo(dumps({
                "file": file, "result": result, "frames": len(pkts), "packets": n_odm,
                "errors": len(faults), "warnings": len(warns), "checksums": len(sums),
                "cut_short": None if damage is None else {
                    "after_frame": len(damage.frames), "file_offset": damage.offset,
                    "reason": damage.reason}}, indent=None))
            continue
        if not n_odm:
            con.print(Text(f"? {file}: {len(pkts)} frame(s), no DHCPv6/ND packet: "
                           "nothing to check"), style="yellow")
            continue
        if not found:
            con.print(f"[green]✓[/] {file}: {n_odm} DHCPv6/ND packets, no faults")
            continue
        mark = "[red]✗[/]" if faults or sums or strict else "[yellow]![/]"
        con.print(f"{mark} {file}: {len(faults)} fault(s), {len(warns)} warning(s) (SHOULD), "
                  f"{len(sums)} wrong checksum(s) in {n_odm} DHCPv6/ND packets")
        for title, group in (("faults", faults), ("warnings (SHOULD)", warns),
                             ("checksums", sums)):
            if not group:
                continue
            t = Table(title=title, title_justify="left")
            for col in ("frame", "category", "rule", "RFC", "where", "detail"):
                t.add_column(col, overflow="fold")
            for f in group:
                detail = f.detail + (f" (frame octet {f.offset})" if f.offset is not None
                                     else "")
                t.add_row(str(f.frame), f.category, f.rule, f.section, Text(f.where),
                          Text(detail))
            print_table(t, con)
    if total:
        sys.exit(1)
    if not checked:
        if not as_json:
            click.echo("nothing to check: no DHCPv6 or ND (RS/RA) packet in "
                       + ", ".join(files), err=True)
        sys.exit(2)


@pcap.command("lua-path")
def lua_path_cmd() -> None:
    """Print the path of odm's Wireshark Lua dissector (for scripts)."""
    from odm.wireshark import lua_path

    click.echo(str(lua_path()))


@pcap.command("wireshark")
@click.option("--install", is_flag=True,
              help="Also link odm.lua into the personal Wireshark plugin folder "
                   "(~/.local/lib/wireshark/plugins).")
def wireshark_cmd(install: bool) -> None:
    """Show how to load odm's Lua dissector in tshark / Wireshark.

    The dissector names odm's vendor sub-options inside IAPREFIX
    (MOBILITY_TYPE, SUPPORTED_TYPES) and the PIO mobility-type bits, and adds
    the filter fields odm.mobility_type, odm.supported_type,
    odm.pio.mobility_type, odm.iaid and odm.prefix.
    """
    from odm.wireshark import lua_path

    path = lua_path()
    con = _console()
    if install:
        plugins = Path.home() / ".local" / "lib" / "wireshark" / "plugins"
        link = plugins / "odm.lua"
        try:
            plugins.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(path)
        except OSError as exc:
            raise click.ClickException(
                f"cannot link {link}: {exc.strerror or exc}") from None
        con.print(Text(f"linked {link} → {path}; Wireshark and tshark load it on start"),
                  soft_wrap=True)
    # soft_wrap: a command line is never broken where the terminal ends
    con.print(f"odm's dissector: [bold]{escape(str(path))}[/]\n\n"
              f"  tshark -X lua_script:{path} -V -r capture.pcap\n"
              f"  tshark -X lua_script:{path} -r capture.pcap -Y 'odm.mobility_type == 2'\n"
              f"  wireshark -X lua_script:{path} capture.pcap\n\n"
              "or copy/link it into ~/.local/lib/wireshark/plugins/ "
              "(`odm pcap wireshark --install`).\n"
              "Enterprise number: Preferences › Protocols › ODM (default 32473).",
              soft_wrap=True)


@pcap.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="FILE.svg or FILE.png (PNG through rsvg-convert).")
@click.option("--filter", "filter_text", metavar="EXPR", default="",
              help="Draw only the DHCPv6/ND packets matching EXPR (see `odm pcap show`).")
@click.option("--title", default=None, help="Title (default: the capture's name).")
@click.option("--data", is_flag=True,
              help="Also draw the other IPv6 traffic (TCP, UDP, ICMPv6 errors, SRv6 tunnels) "
                   "in grey, one arrow per burst of a conversation.")
@click.option("--neighbor", is_flag=True, help="Also draw NS, NA and Redirect.")
@click.option("--name", "names", metavar="ADDR=NAME", multiple=True,
              help="Draw ADDR (or every address of a PREFIX/LEN) on a lane called NAME.")
@click.option("--lab-names", is_flag=True,
              help="Name the lanes after the lab's nodes (mh, ar1, ar2, cn) from its "
                   "default address plan.")
@_pen_option
def flow(files: tuple[str, ...], out: str, filter_text: str, title: str | None, data: bool,
         neighbor: bool, names: tuple[str, ...], lab_names: bool, pen: int) -> None:
    """Draw a message-sequence (ladder) diagram of FILES: one lane per node,
    messages labelled with type, transaction-id, IAIDs and mobility types.

    Several captures, or a directory of them (one per link, as `odm lab demo`
    writes to pcaps/demo-4.2/), are merged by time; a message seen on several
    links is drawn once, with the links under its time.
    """
    from odm.pcaptools.filters import FilterError, compile_filter
    from odm.pcaptools.flow import FlowError, output_problem, write_flow
    from odm.pcaptools.flow import lab_names as plan

    problem = output_problem(out)
    if problem:
        raise _usage_failure(f"--out: {problem}")
    paths = _capture_paths(files)
    try:
        pred = compile_filter(filter_text)
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None
    mapping = plan() if lab_names else {}
    for item in names:
        addr, sep, name = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: want ADDR=NAME", param_hint="--name")
        mapping[addr.strip()] = name.strip()
    chosen, links = [], []
    for p in paths:
        for pkt in _load(str(p), pen):
            if pkt.kind is not None and not pred(pkt):
                continue
            if pkt.kind is None and not data:
                continue
            chosen.append(pkt)
            links.append(p.stem)
    if title is None:
        title = paths[0].name if len(paths) == 1 else ", ".join(p.stem for p in paths)
    try:
        path = write_flow(chosen, out, title, links=links if len(paths) > 1 else None,
                          names=mapping, data=data, neighbor=neighbor)
    except (FlowError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    n = sum(1 for p in chosen if p.kind is not None)
    click.echo(f"{path}: {n} DHCPv6/ND packets from {len(paths)} capture(s)")


@pcap.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--iface", required=True, metavar="IF", help="Interface to send on.")
@click.option("--netns", metavar="NAME", help="Send from inside this network namespace.")
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="Play the capture X times faster than recorded.")
@click.option("--topspeed", is_flag=True, help="Send the frames back to back.")
@click.option("--loop", type=click.IntRange(min=1), default=1, show_default=True,
              help="Play the capture N times.")
@click.option("--filter", "filter_text", metavar="EXPR", default="",
              help="Send only DHCPv6/ND packets matching EXPR (see `odm pcap show`).")
@click.option("--no-fix", is_flag=True, help="Send checksums as captured.")
@click.option("--against", type=click.Choice(["router", "host"]), default=None,
              help="Conformance replay: play the client side to a live router (IF: the "
                   "client's interface) or the server side to a live host agent (IF: the "
                   "router's access interface) and compare with the capture.")
@click.option("--timeout", type=float, default=3.0, show_default=True,
              help="With --against: seconds to wait for each answer.")
@click.option("--exact-prefixes", is_flag=True,
              help="With --against: prefixes must be the captured ones (a fresh lease store "
                   "with the capture's configuration), not just the same structure.")
@click.option("--host-socket", metavar="PATH",
              type=click.Path(exists=True, dir_okay=False),
              help="With --against host: the host agent's API socket, to repeat the "
                   "capture's setsc() calls and socket closes.")
@click.option("--lab", "lab_prefix", metavar="PREFIX",
              help="With --against: the odm lab the capture is replayed in (moves the host "
                   "between routers for the capture's move actions; --against host serves "
                   "every router of the capture from its acc link).")
@click.option("--lab-state-dir", type=click.Path(file_okay=False), default=None,
              help="State directory of that lab (default: the lab's).")
@click.option("--no-actions", is_flag=True,
              help="With --against: ignore the actions of pcaps/golden.toml.")
@_pen_option
def replay(file, iface, netns, speed, topspeed, loop, filter_text, no_fix, against, timeout,
           exact_prefixes, host_socket, lab_prefix, lab_state_dir, no_actions, pen) -> None:
    """Send the frames of FILE out of IF, with their timing, fixing the UDP and
    ICMPv6 checksums that veth offload left wrong.

    With --against, play one side of a golden capture to the live agent on
    IF and compare what it says with the capture, after normalising what must
    differ (transaction-ids, DUIDs, times, lifetimes counting down, prefixes
    unless --exact-prefixes); the first difference is reported with its path
    and both values, and the exit status is 1. The capture's actions
    (setsc(), socket closes, moves: pcaps/golden.toml beside it) are performed
    before the frames they came before.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from odm.pcaptools.filters import FilterError, compile_filter
    from odm.pcaptools.packets import dissect
    from odm.pcaptools.replay import PacketSender, prepare
    from odm.pcaptools.replay import replay as do_replay

    if speed <= 0:
        raise click.BadParameter("must be > 0", param_hint="--speed")
    try:
        frames, damage = read_capture_until_damage(file)
        pred = compile_filter(filter_text) if filter_text else None
    except (CaptureError, FilterError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{file}: {exc.strerror}") from None
    if damage is not None:
        click.echo(f"warning: {file}: capture cut short {damage.where()}; "
                   f"replaying the {len(frames)} whole frame(s) before it", err=True)
    if against:
        _conformance(file, frames, against, iface, netns, timeout, exact_prefixes,
                     host_socket, lab_prefix, lab_state_dir, no_actions, pen)
        return
    if netns:
        from odm.probetools.link import ProbeError, enter_netns
        try:
            enter_netns(netns)
        except ProbeError as exc:
            raise click.ClickException(str(exc)) from None

    def keep(f):
        p = dissect(f, pen)
        return p.kind is not None and pred(p)

    todo = prepare(frames, keep if pred else None, fix=not no_fix)
    if not todo:
        raise click.ClickException("nothing to send")
    try:
        sender = PacketSender(iface)
    except OSError as exc:
        raise click.ClickException(f"cannot send on {iface}: {exc.strerror or exc}") from None
    con = _console()
    with sender, Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                          MofNCompleteColumn(), TimeElapsedColumn(), console=con,
                          transient=False) as prog:
        task = prog.add_task(f"{Path(file).name} → {iface}", total=len(todo) * loop)
        stats = do_replay(todo, sender.send, speed=speed, topspeed=topspeed, loop=loop,
                          on_sent=lambda f: prog.advance(task))
    con.print(f"sent {stats.sent} frames ({stats.octets} octets) in {stats.loops} loop(s); "
              f"{stats.fixed} checksum(s) fixed")


def _conformance(file, frames, against, iface, netns, timeout, exact_prefixes, host_socket,
                 lab_prefix, lab_state_dir, no_actions, pen) -> None:
    from odm.pcaptools.conformance import CompareOptions
    from odm.pcaptools.golden import find_golden
    from odm.pcaptools.livepeers import run_against

    golden = find_golden(file)
    actions = [] if (no_actions or golden is None) else list(golden.actions)
    mover, routers = None, None
    if lab_prefix:
        from lab import Lab, LabError
        try:
            lab = Lab(prefix=lab_prefix, state_dir=lab_state_dir)
        except LabError as exc:
            raise _usage_failure(str(exc)) from None
        if not lab.is_up:
            raise _usage_failure(f"lab {lab_prefix!r} is not up")

        def mover(router: str) -> None:
            lab.move("mh", router)
        if against == "host" and golden is not None:
            routers = {r: (lab.netns(r), "acc") for r in golden.routers}
        if netns is None:
            netns = lab.netns("mh" if against == "router" else lab.attached or "ar1")
    if against == "router":
        options = CompareOptions(exact_prefixes=exact_prefixes)
    else:
        options = CompareOptions(exact_prefixes=True, exact_iaids=False)
    report = run_against(dissect_all(frames, pen), against, iface, netns=netns,
                         actions=actions, routers=routers, mover=mover,
                         host_socket=host_socket, timeout=timeout, options=options, pen=pen)
    con = _console()
    made = (f"; made with {' and '.join(golden.routers)} and "
            f"{'the odm host agent' if golden.host == 'odm' else golden.host}"
            if golden is not None else "")
    con.print(Text(f"{Path(file).name} against the live {against}"
                   + (f" ({len(actions)} action(s) from golden.toml{made})" if golden else "")))
    for line in report.lines():
        style = "red" if line.startswith(("✗", "NOT")) else None
        con.print(Text(line, style=style))
    # 2: the replay could not run (no such interface, an action without --lab);
    # 1: the live agent differs from the capture
    sys.exit(0 if report.ok else 2 if report.error else 1)


def _usage_failure(message: str) -> click.ClickException:
    exc = click.ClickException(message)
    exc.exit_code = 2
    return exc
