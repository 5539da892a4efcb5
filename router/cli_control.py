"""``odm router lease|stats|reload|shutdown|version|command``: Kea's commands
(:mod:`router.io.commands`) from the shell, over the agent's control socket.

Each takes ``--socket PATH`` or ``--config FILE`` (whose ``control_socket``
is used) and ``--json`` (Kea's answer as it came). Exit status: 0 success,
1 error, 2 usage, 3 nothing found (Kea's result 3), 4 no agent answers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from router.cli import DEFAULT_SOCKET, _socket_path, router

NO_AGENT = 4


def socket_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--json", "as_json", is_flag=True,
                      help="Print Kea's answer (result, text, arguments) as JSON.")(fn)
    fn = click.option("--config", "-c", "config_path",
                      type=click.Path(exists=True, dir_okay=False),
                      help="Take the control socket path from this config.")(fn)
    return click.option("--socket", "sock", type=click.Path(),
                        help=f"Control socket (default: the config's, else "
                             f"{DEFAULT_SOCKET}).")(fn)


def call(sock, config_path, name: str, arguments: dict | None = None,
         as_json: bool = False) -> dict:
    """Send Kea command ``name``; a missing agent is one line saying what to
    pass (with ``as_json``, a Kea-shaped error answer on stdout), exit 4."""
    from router.io.control import ControlUnavailable, command

    path = _socket_path(sock, config_path)
    try:
        return command(path, name, arguments, timeout=30.0)
    except ControlUnavailable as exc:
        no_agent(exc, sock or config_path, as_json)


def no_agent(exc: Exception, told_where: bool, as_json: bool) -> None:
    """Say that no agent answers (and what to pass), exit 4."""
    hint = "" if told_where else " (pass --config FILE of the running agent, or --socket PATH)"
    if as_json:
        click.echo(json.dumps({"result": 1, "text": f"{exc}{hint}"}))
    else:
        click.echo(f"Error: {exc}{hint}", err=True)
    sys.exit(NO_AGENT)


def finish(ans: dict, as_json: bool, show: Callable[[dict], None] | None = None) -> None:
    """Print the answer (JSON, or ``show`` / its text) and exit with its result."""
    res = ans.get("result", 1)
    if as_json:
        click.echo(json.dumps(ans, indent=2))
    elif res == 0 and show is not None:
        show(ans.get("arguments"))
    elif ans.get("text"):
        click.echo(ans["text"], err=res != 0)
    sys.exit({0: 0, 3: 3}.get(res, 1))


def _life(v) -> str:
    return "∞" if v == 0xFFFFFFFF else f"{v}s"


def show_leases(leases: list[dict], title: str) -> None:
    from rich.table import Table

    from odm.tables import print_table

    t = Table(title=title)
    for col in ("prefix", "type", "DUID", "IAID", "interface", "via", "valid-left",
                "preferred-left", "anchor", "served-by"):
        t.add_column(col)
    for le in leases:
        t.add_row(f"{le['ip-address']}/{le['prefix-len']}", le["mobility-type"], le["duid"],
                  f"0x{le['iaid']:08x}", le["interface"], le["client-ll"] or "-",
                  _life(le["valid-left"]), _life(le["preferred-left"]), le["anchor"],
                  le["served-by"])
    print_table(t)


def _target(prefix: str | None, duid: str | None, iaid: int | None) -> dict:
    if prefix and not (duid or iaid is not None):
        return {"type": "IA_PD", "ip-address": prefix}
    if duid and iaid is not None and not prefix:
        return {"type": "IA_PD", "duid": duid, "iaid": iaid}
    raise click.UsageError("give a PREFIX, or --duid and --iaid")


def _iaid(ctx, param, value):
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        raise click.BadParameter(f"{value!r}: an integer (decimal or 0x hex)") from None


@router.group("lease")
def lease() -> None:
    """Delegated prefixes (Kea's lease6-* commands)."""


@lease.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="At most this many, in prefix order (lease6-get-page).")
@click.option("--from", "start", default="start", show_default=True,
              help="With --limit: the page after this prefix.")
@click.option("--interface", "-i", "ifaces", multiple=True, help="Only this interface.")
@socket_options
def lease_list(limit, start, ifaces, sock, config_path, as_json) -> None:
    """List the delegated prefixes (lease6-get-all / lease6-get-page)."""
    if limit is not None:
        ans = call(sock, config_path, "lease6-get-page", {"from": start, "limit": limit},
                   as_json=as_json)
    else:
        ans = call(sock, config_path, "lease6-get-all",
                   {"interfaces": list(ifaces)} if ifaces else None, as_json=as_json)
    if ans.get("result") == 3 and not as_json:
        click.echo(ans["text"])
        sys.exit(0)
    finish(ans, as_json, lambda a: show_leases(a["leases"], ans["text"]))


@lease.command("get")
@click.argument("prefix", required=False)
@click.option("--duid", help="Client DUID (hex, separators optional).")
@click.option("--iaid", callback=_iaid, help="IAID (decimal or 0x hex).")
@socket_options
def lease_get(prefix, duid, iaid, sock, config_path, as_json) -> None:
    """One delegated prefix, by PREFIX (2001:db8:1::/56) or DUID and IAID."""
    ans = call(sock, config_path, "lease6-get", _target(prefix, duid, iaid), as_json=as_json)
    finish(ans, as_json, lambda a: show_leases([a], "IPv6 lease"))


@lease.command("del")
@click.argument("prefix", required=False)
@click.option("--duid", help="Client DUID (hex, separators optional).")
@click.option("--iaid", callback=_iaid, help="IAID (decimal or 0x hex).")
@socket_options
def lease_del(prefix, duid, iaid, sock, config_path, as_json) -> None:
    """Delete a delegated prefix: out of the store, its route removed. The
    client is not told: as with Kea, its next Renew gets the prefix again if
    it is still free."""
    finish(call(sock, config_path, "lease6-del", _target(prefix, duid, iaid), as_json=as_json),
           as_json)


@lease.command("wipe")
@click.option("--interface", "-i", "iface", help="Only this interface.")
@click.option("--yes", is_flag=True, help="Do not ask.")
@socket_options
def lease_wipe(iface, yes, sock, config_path, as_json) -> None:
    """Delete every delegated prefix (of one interface)."""
    if not yes:
        click.confirm("Delete every lease" + (f" on {iface}" if iface else "") + "?",
                      abort=True)
    finish(call(sock, config_path, "lease6-wipe", {"interface": iface} if iface else None,
                as_json=as_json), as_json)


@router.command("stats")
@click.argument("name", required=False)
@click.option("--reset", is_flag=True, help="Set NAME (or every statistic) to 0.")
@socket_options
def stats_cmd(name, reset, sock, config_path, as_json) -> None:
    """Statistics under Kea's names (statistic-get[-all], statistic-reset[-all])."""
    if reset:
        finish(call(sock, config_path, "statistic-reset" if name else "statistic-reset-all",
                    {"name": name} if name else None, as_json=as_json), as_json)
    ans = call(sock, config_path, "statistic-get" if name else "statistic-get-all",
               {"name": name} if name else None, as_json=as_json)

    def show(a: dict) -> None:
        from rich.markup import escape
        from rich.table import Table

        from odm.tables import print_table
        t = Table(title="statistics")
        t.add_column("name")
        t.add_column("value", justify="right")
        for k, v in a.items():
            t.add_row(escape(k), str(v[0][0]))
        print_table(t)
    finish(ans, as_json, show)


@router.command("reload")
@socket_options
def reload_cmd(sock, config_path, as_json) -> None:
    """Re-read the running agent's configuration file (config-reload, as
    SIGHUP); a broken or restart-only change is refused and it runs on."""
    finish(call(sock, config_path, "config-reload", as_json=as_json), as_json)


@router.command("shutdown")
@socket_options
def shutdown_cmd(sock, config_path, as_json) -> None:
    """Stop the agent as SIGTERM does (final RAs, routes flushed)."""
    finish(call(sock, config_path, "shutdown", as_json=as_json), as_json)


@router.command("version")
@socket_options
def version_cmd(sock, config_path, as_json) -> None:
    """The running agent's version (version-get)."""
    finish(call(sock, config_path, "version-get", as_json=as_json), as_json,
           lambda a: click.echo(a["extended"]))


@router.command("command")
@click.argument("name")
@click.argument("arguments", required=False)
@socket_options
def command_cmd(name, arguments, sock, config_path, as_json) -> None:
    """Send any Kea command NAME with ARGUMENTS (a JSON map), as kea-shell
    does; prints the answer as JSON. `odm router command list-commands`."""
    args = None
    if arguments:
        try:
            args = json.loads(arguments)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="ARGUMENTS") from None
    finish(call(sock, config_path, name, args, as_json=True), True)
