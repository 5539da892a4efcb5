"""``odm host run|check-config|status|renew|rebind|release`` and ``odm setsc``
(click + rich)."""

from __future__ import annotations

import json
import socket
import sys
from typing import NoReturn

import click

from odm.tables import print_table
from odm_wire.constants import IPV6_REQUIRE_SRC_ON_NET, MobilityType


def _console():
    from odm.tables import console
    return console()


@click.group("host")
def host() -> None:
    """The host agent: RA processing, DHCPv6-PD client, setsc() for applications."""


@host.command("run")
@click.option("--iface", "-i", help="Interface to run on (overrides the config).")
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False),
              help="TOML file with a [host] table.")
@click.option("--socket", "api_socket", type=click.Path(),
              help="API socket path (default: api_socket of the config, /run/odm/host.sock).")
@click.option("--lab-timers", is_flag=True, help="Use the scaled (lab) timer profile.")
@click.option("--log-level", "log_levels", multiple=True, metavar="LEVEL|LOGGER=LEVEL",
              help="Logging threshold (debug, info, warning, error; default info, or one "
                   "step lower per odm -v), or one logger's: host.core=debug. Repeatable.")
def run_cmd(iface, config_path, api_socket, lab_timers, log_levels) -> None:
    """Run the host agent on --iface (else the config's interface) until
    SIGTERM/SIGINT (then Release)."""

    from host.config import HostConfigError, load_config
    from host.io.agent import run_agent
    from odm.capabilities import missing
    lacking = missing("CAP_NET_ADMIN", "CAP_NET_RAW")
    if lacking:
        raise click.ClickException(
            f"odm host run needs {' and '.join(lacking)} (addresses, raw ICMPv6 for RAs): "
            "run it as root, or give it those capabilities (contrib/systemd/odm-host@.service)")
    from odm import logsetup
    try:
        logsetup.setup("info", log_levels)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--log-level") from None

    try:
        cfg = load_config(config_path, iface=iface, api_socket=api_socket,
                          timer_profile="lab" if lab_timers else None)
    except HostConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if iface is None and config_path is None:
        raise click.UsageError("give --iface or a --config with iface")
    from host.policy_file import PolicyError

    try:
        run_agent(cfg)
    except PolicyError as exc:
        raise click.ClickException(f"policy: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"{cfg.iface}: {exc}") from None


@host.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def check_config_cmd(config_file, as_json) -> None:
    """Validate CONFIG_FILE (its [host] table and the policy file it names),
    as odm host run reads them; on error name the offending key and exit 1."""
    from tomllib import TOMLDecodeError

    from host.config import HostConfigError
    from host.config.parse import config_from_document
    from host.policy_file import PolicyError, load_policy
    from odm.jsonout import config_refusal
    from odm.tomltable import read_toml

    refuse = config_refusal(config_file, as_json)

    try:
        cfg = config_from_document(read_toml(config_file))
    except HostConfigError as exc:
        refuse(exc.key, exc.reason)
    except TOMLDecodeError as exc:
        refuse("", f"not valid TOML: {exc}")
    except OSError as exc:
        refuse("", exc.strerror or str(exc))
    try:
        load_policy(cfg.policy_file)
    except PolicyError as exc:
        refuse("host.policy_file", str(exc))
    summary = {
        "ok": True, "warnings": [], "iface": cfg.iface, "api-socket": str(cfg.api_socket),
        "timers": cfg.timer_profile, "scale": cfg.timer_scale if cfg.timer_profile == "lab"
        else 1.0, "duid": cfg.duid or "DUID-LL from the interface's MAC",
        "boot-types": [t.cli_name for t in cfg.boot_types], "legacy-pd": cfg.legacy_pd,
        "release-policy": {t.cli_name: v for t, v in cfg.release_policy.items()},
        "rotate-types": ["legacy" if t is None else t.cli_name for t in cfg.rotate_types]
        if cfg.address_max_age is not None or cfg.address_max_bytes is not None else [],
        "policy": str(cfg.policy_file) if cfg.policy_file else "built-in default",
        "state-file": str(cfg.state_file) if cfg.state_file else None,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    from rich.table import Table

    con = _console()
    con.print(f"[green]OK[/green] {config_file}: host on {cfg.iface}, timers "
              f"{cfg.timer_profile}" + (f" x{cfg.timer_scale:g}" if cfg.timer_profile == "lab"
                                        else "") + f", API socket {cfg.api_socket}, "
              f"policy {summary['policy']}", highlight=False, soft_wrap=True)
    t = Table(title="mobility types")
    for col in ("type", "at start", "last socket closed", "address rotates"):
        t.add_column(col)
    for m in MobilityType:
        t.add_row(m.cli_name, "yes" if m in cfg.boot_types else "",
                  cfg.policy_for(m), "yes" if m.cli_name in summary["rotate-types"] else "")
    print_table(t, con)


_SOCKET_HELP = "API socket path (default $ODM_HOST_SOCKET, else /run/odm/host.sock)."


def _fmt_life(v) -> str:
    if v is None:
        return "-"
    return "∞" if v == 0xFFFFFFFF else f"{v}s"


#: Exit status when no host agent answers: 4, as ``odm router``'s commands
#: (``odm setsc`` exits 6, its --help names its statuses for applications).
NO_AGENT = 4


def no_agent_text(exc) -> str:
    """An :class:`~host.api.AgentUnavailable` in the command line's words
    (its knob is ``--socket``; the library's message names ``path=`` and
    ``ODM_HOST_SOCKET``)."""
    return (f"no host agent at {exc.path}: {exc.reason} (is the host agent running? "
            "pass --socket PATH, the api_socket of its config)")


def _no_agent(exc, as_json: bool) -> NoReturn:
    """Say that no agent answers at the socket and what to pass; with
    ``as_json`` the error answer the router's commands print. Exit 4."""
    text = no_agent_text(exc)
    if as_json:
        click.echo(json.dumps({"result": 1, "text": text}))
    else:
        click.echo(f"Error: {text}", err=True)
    sys.exit(NO_AGENT)


def _operate(op: str, api_socket, what: str, as_json: bool) -> None:
    from host.api import AgentUnavailable, operate

    try:
        ans = operate(op, api_socket)
    except AgentUnavailable as exc:
        _no_agent(exc, as_json)
    if ans.get("ok"):
        res, text = 0, f"{what} {ans.get('ia-pds', 0)} IA_PD(s)"
    else:
        res, text = 1, f"{ans.get('error')}: {ans.get('detail')}"
    if as_json:
        click.echo(json.dumps({"result": res, "text": text,
                               "arguments": {"ia-pds": ans.get("ia-pds", 0)}}, indent=2))
    else:
        click.echo(text if res == 0 else f"Error: {text}", err=res != 0)
    sys.exit(res)


_JSON_HELP = "Print the answer as JSON (result, text, arguments), as odm router's commands."


@host.command("renew")
@click.option("--socket", "api_socket", type=click.Path(), help=_SOCKET_HELP)
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
def renew_cmd(api_socket, as_json) -> None:
    """Renew every delegated prefix now (RFC 8415 §18.2.4), as dhcpcd -n."""
    _operate("renew", api_socket, "renewing", as_json)


@host.command("rebind")
@click.option("--socket", "api_socket", type=click.Path(), help=_SOCKET_HELP)
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
def rebind_cmd(api_socket, as_json) -> None:
    """Rebind every delegated prefix now (RFC 8415 §18.2.12), as after a move."""
    _operate("rebind", api_socket, "rebinding", as_json)


@host.command("release")
@click.option("--socket", "api_socket", type=click.Path(), help=_SOCKET_HELP)
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
def release_cmd(api_socket, as_json) -> None:
    """Release every delegated prefix (RFC 8415 §18.2.7), as dhcpcd -k; the
    applications holding them are told, and the agent runs on."""
    _operate("release-all", api_socket, "releasing", as_json)


@host.command("status")
@click.option("--socket", "api_socket", type=click.Path(), help=_SOCKET_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_cmd(api_socket, as_json) -> None:
    """Addresses (type, lifetimes, references), prefixes, servers and routers."""
    from host.api import AgentUnavailable, status

    try:
        st = status(api_socket)
    except AgentUnavailable as exc:
        _no_agent(exc, as_json)
    if as_json:
        from odm.jsonout import dumps
        click.echo(dumps(st))
        return
    from rich.table import Table

    con = _console()
    t = Table(title=f"addresses on {st.get('iface', '?')}")
    for col in ("address", "type", "source", "preferred", "valid", "refs", "state"):
        t.add_column(col)
    for a in st["addresses"]:
        state = "deprecated" if a["deprecated"] else ("ready" if a["ready"] else "tentative")
        t.add_row(a["address"], a["type"] or "(legacy)", a["source"], _fmt_life(a["preferred"]),
                  _fmt_life(a["valid"]), str(a["refs"]), state)
    print_table(t, con)
    t = Table(title="IA_PDs")
    for col in ("iaid", "type", "state", "prefixes", "T1 in", "T2 in"):
        t.add_column(col)
    for ia in st["ia_pds"]:
        t.add_row(f"0x{ia['iaid']:08x}", ia["type"] or "(legacy)", ia["state"],
                  "\n".join(f"{p['prefix']} {_fmt_life(p['preferred'])}/{_fmt_life(p['valid'])}"
                            for p in ia["prefixes"]) or "-",
                  "-" if ia["t1_in"] is None else f"{ia['t1_in']}s",
                  "-" if ia["t2_in"] is None else f"{ia['t2_in']}s")
    print_table(t, con)
    t = Table(title="servers and routers")
    for col in ("kind", "address", "id / lifetime", "types"):
        t.add_column(col)
    for s in st["servers"]:
        t.add_row("DHCPv6 server", s["address"], s["duid"],
                  ", ".join(s["supported_types"] or []) or "-")
    for r in st["routers"]:
        t.add_row("router", r["address"], f"{r['lifetime']}s (seen {r['age']}s ago)",
                  "M" * r["managed"] + "O" * r["other"])
    for p in st["onlink"]:
        t.add_row("on-link prefix", p["prefix"], p["router"], p["type"] or "(untyped)")
    print_table(t, con)
    pol, tr, pv = st.get("policy"), st.get("trust", {}).get("ignored"), st.get("privacy")
    if pol is not None and tr is not None:
        t = Table(title="security (docs/security.md)")
        t.add_column("counter")
        t.add_column("value", justify="right")
        t.add_row(f"setsc denied by policy ({pol['source']})", str(pol["denied_total"]))
        for kind, n in sorted(pol["denied"].items()):
            t.add_row(f"  {kind}", str(n))
        t.add_row("RAs from untrusted routers ignored", str(tr["ra"]))
        t.add_row("DHCPv6 answers from untrusted servers ignored", str(tr["dhcp6"]))
        t.add_row("Reconfigure dropped", str(tr["reconfigure"]))
        if pv and pv.get("enabled"):
            t.add_row("addresses rotated (privacy)", str(pv["rotations"]))
        print_table(t, con)


#: Exit status of ``odm setsc`` per error name (2 stays click's usage error).
SETSC_EXIT = {"EAI_REQUIREDIPNOTSUPPORTED": 3, "EAI_REQUIREDIPFAILED": 4, "ODM_POLICY_DENIED": 5}


@click.command("setsc")
@click.argument("address_type")
@click.option("--on-net", is_flag=True, help="Ask the current network for a new prefix "
              "(IPV6_REQUIRE_SRC_ON_NET).")
@click.option("--timeout", type=float, default=None, help="Seconds to wait at most.")
@click.option("--socket", "api_socket", type=click.Path(), help=_SOCKET_HELP)
def setsc_command(address_type, on_net, timeout, api_socket) -> None:
    """Ask the host agent for an address of ADDRESS_TYPE (fixed, session-lasting,
    non-persistent, graceful-replacement or 1-4) and print it; print the EAI
    error and exit non-zero if there is none (3: EAI_REQUIREDIPNOTSUPPORTED,
    4: EAI_REQUIREDIPFAILED, 5: ODM_POLICY_DENIED, 6: no host agent; 2 is a
    usage error).

    The address is held by this command's socket: a SESSION_LASTING address
    (valid while a socket that asked for it is open, spec §3.2) is released by
    the host's default policy as soon as the command exits. Applications call
    host.api.setsc() on their own socket instead."""
    from host.api import AgentUnavailable, SetscError, set_addr_preferences, setsc

    try:
        t = MobilityType.from_name(address_type)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ADDRESS_TYPE") from None
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        if on_net:
            set_addr_preferences(s, IPV6_REQUIRE_SRC_ON_NET)
        addr = setsc(s, t, timeout=timeout, path=api_socket)
    except AgentUnavailable as exc:
        click.echo(no_agent_text(exc), err=True)
        sys.exit(6)
    except SetscError as exc:
        click.echo(f"{exc.name}: {exc.detail}", err=True)
        sys.exit(SETSC_EXIT.get(exc.name, 4))
    finally:
        s.close()
    click.echo(str(addr))
