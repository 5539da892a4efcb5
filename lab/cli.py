"""``odm lab``: build, inspect, move and tear down the namespace lab.

Commands (all need root)::

    odm lab up     [--config FILE] [--prefix P] [--state-dir D]
    odm lab status [--prefix P] [--json]
    odm lab move   mh ar2 [--gap SECONDS]
    odm lab exec   [--prefix P] NODE -- CMD [ARG...]    # exit status = CMD's
    odm lab down   [--prefix P]
    odm lab demo   [--scenario 4.2|all-types] [--pcap-dir D] [--json] [--keep-logs]

``--prefix`` (env ``ODM_LAB_PREFIX``, default ``odm``) names the lab; the lab's
state lives in ``--state-dir`` (env ``ODM_LAB_STATE_DIR``, default
``/run/odm-lab``), so every command after ``up`` needs the same two values.

Adding commands from another module: define a click command there, register
it with ``lab.add_command(cmd)`` (``from lab.cli import lab, lab_options,
open_lab``; ``@lab_options`` adds ``--prefix/--state-dir``, ``open_lab`` turns
them into a :class:`~lab.Lab`), and add the module's name to
:data:`EXTENSIONS` at the bottom of this file so ``odm lab`` imports it.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lab.config import HOST_IF, LabConfig, LabConfigError, load_config
from lab.topology import Lab, LabError
from odm.jsonout import dumps
from odm.tables import print_table


def dataplane_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--dataplane NAME|auto``: how the lab's routers carry moved prefixes
    (:mod:`router.dataplane`)."""
    from router.dataplane import AUTO, NAMES

    return click.option(
        "--dataplane", type=click.Choice([AUTO, *NAMES]), default=AUTO, show_default=True,
        help="How the routers carry a moved host's prefixes: auto picks the first of "
             "srv6, ip6ip6, vxlan this kernel has, else routed.")(fn)


def store_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--store sqlite|postgresql``: the routers' lease store (a SQLite file,
    or a PostgreSQL server in cn reached over the core link)."""
    return click.option(
        "--store", type=click.Choice(["sqlite", "postgresql"]), default="sqlite",
        show_default=True,
        help="The routers' lease store: one SQLite file, or a real PostgreSQL server "
             "(initdb in the lab's state directory, run as postgres in cn, reached over "
             "TCP on the core link).")(fn)


def lab_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--prefix`` and ``--state-dir`` (passed as ``prefix``, ``state_dir``)."""
    fn = click.option(
        "--state-dir", type=click.Path(file_okay=False, path_type=Path), envvar="ODM_LAB_STATE_DIR",
        default=None, help="Where lab state is kept [default: /run/odm-lab].",
    )(fn)
    fn = click.option(
        "--prefix", "-p", envvar="ODM_LAB_PREFIX", default=None,
        help="Lab name: namespaces are PREFIX-cn, PREFIX-ar1, ... [default: odm].",
    )(fn)
    return fn


def open_lab(prefix: str | None, state_dir: Path | None) -> Lab:
    """The :class:`Lab` for ``--prefix/--state-dir`` (recorded config if it is up).

    Raises:
        click.ClickException: bad prefix or unreadable state.
    """
    try:
        return Lab(prefix=prefix or "odm", state_dir=state_dir)
    except (LabError, LabConfigError) as exc:
        raise click.ClickException(str(exc)) from exc


def _need_root() -> None:
    if os.geteuid() != 0:
        raise click.ClickException("the lab needs root (network namespaces)")


def _lab_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (LabError, LabConfigError) as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


@click.group(name="lab")
def lab() -> None:
    """Namespace lab: cn -- ar1/ar2 -- mh, built with pyroute2."""


@lab.command()
@click.option("--config", "config_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TOML lab configuration (see lab/config/model.py).")
@dataplane_option
@store_option
@lab_options
@_lab_errors
def up(config_file: Path | None, dataplane: str, store: str, prefix: str | None,
       state_dir: Path | None) -> None:
    """Create the lab's namespaces, links, addresses and routes, and write
    ready agent configs (routers with the chosen data plane) next to its state."""
    from lab.kernel import resolve_dataplane
    from router.dataplane import DataplaneUnavailable, unavailable

    _need_root()
    try:
        chosen, found = resolve_dataplane(dataplane)
    except DataplaneUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    if config_file is not None:
        cfg = load_config(config_file, prefix=prefix, state_dir=state_dir)
    else:
        kw: dict[str, Any] = {}
        if prefix:
            kw["prefix"] = prefix
        if state_dir:
            kw["state_dir"] = state_dir
        cfg = LabConfig(**kw)
    the_lab = Lab(cfg)
    the_lab.up()
    _print_status(the_lab.status())
    hint = cfg.cli_options()
    try:
        workdir = _write_agent_configs(the_lab, chosen, store)
    except Exception:
        the_lab.down()
        raise
    click.echo(f"data plane: {chosen}{' (auto)' if dataplane == 'auto' else ''}; "
               f"not available here: {unavailable(found)}")
    if store == "postgresql":
        click.echo(f"lease store: PostgreSQL in cn at [{the_lab.config.cn_address}]:5432 "
                   "(stopped and removed by down)")
    click.echo(f"agent configs in {workdir}; to run the agents (each in its own shell):")
    for r in cfg.router_names:
        click.echo(f"  odm lab exec{hint} {r} -- odm router run --config {workdir / (r + '.toml')}")
    click.echo(f"  odm lab exec{hint} mh -- odm host run --iface {HOST_IF} --config "
               f"{workdir / 'host.toml'}")
    click.echo(f"  odm lab exec{hint} mh -- odm host status --socket {workdir / 'host.sock'}")
    click.echo(f"lab {cfg.prefix} is up; `odm lab down{hint}` removes it")


def _write_agent_configs(the_lab: Lab, dataplane: str, store: str = "sqlite") -> Path:
    """Router and host configs of :class:`lab.agents.LabAgents` in the lab's
    state directory (removed with it by ``down``); with ``store =
    "postgresql"`` the lab's PostgreSQL server is started first."""
    from dataclasses import replace

    from lab.agents import AgentSettings, LabAgents

    workdir = the_lab.state_path.parent / "agents"
    agents = LabAgents(the_lab, workdir, replace(AgentSettings(), dataplane=dataplane,
                                                 store=store))
    agents.start_db()
    for r in the_lab.config.router_names:
        (workdir / f"{r}.toml").write_text(agents.router_toml(r))
    (workdir / "host.toml").write_text(agents.host_toml())
    return workdir


@lab.command()
@lab_options
@_lab_errors
def down(prefix: str | None, state_dir: Path | None) -> None:
    """Stop the lab's processes, delete its links and namespaces and its state."""
    _need_root()
    the_lab = open_lab(prefix, state_dir)
    report = the_lab.down()
    if not (report["netns_removed"] or report["stopped"]):
        left = sorted(p.name for p in Path("/run/netns").glob(f"{the_lab.prefix}-*"))
        if left:
            raise click.ClickException(
                f"lab {the_lab.prefix}: nothing recorded in {the_lab.config.state_dir}, but "
                f"namespaces of that prefix exist ({', '.join(left)}): was it brought up with "
                "another --state-dir? Give the same --state-dir to `odm lab down`.")
        click.echo(f"lab {the_lab.prefix}: nothing to remove")
        return
    click.echo(f"lab {the_lab.prefix} down: removed {len(report['netns_removed'])} namespaces, "
               f"stopped {len(report['stopped'])} process"
               f"{'' if len(report['stopped']) == 1 else 'es'}")
    for name, pids in report["foreign_pids"].items():
        click.echo(f"warning: {name} held processes the lab did not start: {pids}", err=True)


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@lab_options
@_lab_errors
def status(as_json: bool, prefix: str | None, state_dir: Path | None) -> None:
    """Show the lab's namespaces, interfaces, addresses and processes."""
    _need_root()
    st = open_lab(prefix, state_dir).status()
    if as_json:
        click.echo(dumps(st))
    else:
        _print_status(st)


@lab.command()
@click.argument("host")
@click.argument("router")
@click.option("--gap", type=float, default=0.0, show_default=True,
              help="Seconds without carrier between leaving and arriving.")
@lab_options
@_lab_errors
def move(host: str, router: str, gap: float, prefix: str | None, state_dir: Path | None) -> None:
    """Move HOST (mh) to ROUTER: its link's router end goes to ROUTER's namespace."""
    _need_root()
    the_lab = open_lab(prefix, state_dir)
    before = the_lab.attached
    if the_lab.move(host, router, gap=gap):
        click.echo(f"{host}: {before} -> {router}")
    else:
        click.echo(f"{host} is already at {router}")


@lab.command(name="exec", context_settings={"ignore_unknown_options": True,
                                            "allow_interspersed_args": False})
@lab_options
@click.argument("node")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
@_lab_errors
def exec_(node: str, cmd: tuple[str, ...], prefix: str | None, state_dir: Path | None) -> None:
    """Run CMD inside NODE's namespace (cn, ar1, ar2, mh); exit with its status.

    Options go before NODE; put `--` before CMD: odm lab exec cn -- ip -6 addr
    """
    _need_root()
    if cmd and cmd[0] == "--":  # click keeps a `--` that follows NODE
        cmd = cmd[1:]
    if not cmd:
        raise click.UsageError("no command given after NODE")
    the_lab = open_lab(prefix, state_dir)
    try:
        rc = the_lab.exec(node, list(cmd), forward_signals=True).returncode
    except FileNotFoundError as exc:
        raise click.ClickException(f"{cmd[0]}: {exc.strerror}") from exc
    sys.exit(rc if rc >= 0 else 128 - rc)


def _print_status(st: dict[str, Any]) -> None:
    from rich.table import Table

    from odm.tables import console as make_console
    console = make_console()
    phase = st["phase"] or "down"
    console.print(f"[bold]lab {st['prefix']}[/bold]: {phase}"
                  + (f", mh attached to [bold]{st['attached']}[/bold]" if st["attached"] else "")
                  + f"  (state {st['state_path']})")
    if st["phase"] is None and not any(n["exists"] for n in st["nodes"].values()):
        return
    console.print("namespaces: " + ", ".join(n["netns"] for n in st["nodes"].values()))
    routers = Table(title="routers", title_justify="left")
    for col in ("router", "core address", "access link-local", "access prefix", "PD pool"):
        routers.add_column(col, overflow="fold")
    for name, r in st["routers"].items():
        routers.add_row(name, r["core_address"], r["access_link_local"], r["access_prefix"],
                        r["pd_pool"])
    print_table(routers, console)
    table = Table(title="interfaces", title_justify="left")
    for col in ("node", "interface", "index", "state", "master"):
        table.add_column(col, no_wrap=True)
    table.add_column("addresses", overflow="fold")
    for node, info in st["nodes"].items():
        if not info["exists"]:
            table.add_row(node, "[red]namespace missing[/red]", "", "", "", "")
            continue
        for i in info["interfaces"]:
            if i["ifname"] == "lo":
                continue
            state = i["state"] + ("" if i["carrier"] else " no-carrier")
            table.add_row(node, i["ifname"], str(i["index"]), state, i["master"] or "",
                          "\n".join(i["addresses"]))
    print_table(table, console)
    if st["processes"]:
        procs = Table(title="processes", title_justify="left")
        for col in ("pid", "node", "alive", "command", "log"):
            procs.add_column(col)
        for p in st["processes"]:
            procs.add_row(str(p["pid"]), p["node"], "yes" if p["alive"] else "no",
                          " ".join(p["argv"]), p["log"] or "")
        print_table(procs, console)


@lab.command("demo")
@click.option("--scenario", type=click.Choice(["4.2", "all-types"]), default="4.2",
              show_default=True, help="4.2: the spec's §4.2 flow (SL + NP offered); "
              "all-types: all four types, FIXED inbound and the GR grace timed.")
@click.option("--pcap-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the captures go [default: /tmp/odm-demo-SCENARIO, "
              "/tmp/odm-demo-PREFIX-SCENARIO with --prefix].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--keep-logs", is_flag=True, help="Keep agent and app logs even on success.")
@dataplane_option
@store_option
@lab_options
def demo_cmd(scenario: str, pcap_dir: Path | None, as_json: bool, keep_logs: bool,
             dataplane: str, store: str, prefix: str | None, state_dir: Path | None) -> None:
    """Run a scenario (RFC 8653 §4.2's flow, or all four types) on real agents
    in a fresh lab, then remove it.

    Prints each step with what was expected and observed; exits 0 only if
    every step matched and nothing was left behind.
    """
    from rich.table import Table

    from lab.demo import run_demo

    _need_root()
    from lab.kernel import resolve_dataplane
    from router.dataplane import DataplaneUnavailable

    try:
        resolve_dataplane(dataplane)
    except DataplaneUnavailable as exc:  # before anything is built or printed
        if not as_json:
            raise click.ClickException(str(exc)) from None
        # with --json, run_demo refuses the same way and the answer is JSON

    from odm.tables import console as make_console
    console = make_console(stderr=as_json)

    def show(step) -> None:
        if not as_json:
            mark = "[green]✓[/green]" if step.ok else "[red]✗[/red]"
            console.print(f"{mark} {step.number:2d}. {step.name} [dim]({step.seconds:.2f} s)[/dim]")

    if not as_json:
        console.print(f"[bold]odm lab demo[/bold] — scenario {scenario}")
    res = run_demo(scenario, pcap_dir=pcap_dir, prefix=prefix or "odm", state_dir=state_dir,
                   keep_logs=keep_logs, dataplane=dataplane, store=store, on_step=show)
    if res.error and not res.steps and not res.logs:  # refused before anything was built
        if as_json:
            click.echo(dumps(res.to_json()))
            sys.exit(1)
        raise click.ClickException(res.error)
    if as_json:
        click.echo(dumps(res.to_json()))
    else:
        title = ("RFC 8653 §4.2 message flow" if scenario == "4.2" else
                 "all four mobility types across a move and back")
        t = Table(title=f"odm lab demo — {title}", title_justify="left",
                  show_lines=True)
        for col, kw in (("#", {"justify": "right"}), ("step", {}), ("expected", {}),
                        ("observed", {}), ("result", {})):
            t.add_column(col, overflow="fold", **kw)
        for s in res.steps:
            t.add_row(str(s.number), s.name, s.expected, s.observed,
                      "[green]ok[/green]" if s.ok else "[red]FAIL[/red]")
        print_table(t, console)
        if res.dataplane:
            how = " (auto)" if dataplane == "auto" else ""
            console.print(f"data plane: {res.dataplane}{how}; not available here: "
                          f"{res.dataplane_unavailable}", soft_wrap=True)
        where = ("PostgreSQL (a server in cn, the routers over TCP on the core link)"
                 if store == "postgresql" else "one SQLite file shared by the routers")
        console.print(f"lease store: {where}", soft_wrap=True)
        if res.timings:
            console.print("timings (s): " + ", ".join(f"{k} {v}" for k, v in res.timings.items()))
        console.print("captures: " + (", ".join(res.pcaps) or "none"))
        if res.error:
            console.print(f"[red]error:[/red] {res.error}")
        if res.leftovers:
            console.print(f"[red]left behind:[/red] {res.leftovers}")
        if res.logs:
            console.print(f"logs kept in {res.logs}")
        console.print("[bold green]all steps matched[/bold green]" if res.ok
                      else "[bold red]the demo failed[/bold red]")
    sys.exit(0 if res.ok else 1)


#: Modules that add commands to the ``lab`` group (``lab.add_command``) when
#: imported. A module that is not installed is skipped.
EXTENSIONS: list[str] = []

for _module in EXTENSIONS:
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as _exc:
        if _exc.name != _module:
            raise
