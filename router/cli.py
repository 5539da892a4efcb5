"""``odm router run|check-config|status|db`` (click + rich)."""

from __future__ import annotations

import json
import os
import sys

import click

DEFAULT_SOCKET = "/run/odm/router.sock"
def _console():
    from odm.tables import console
    return console()


def _print(con, table) -> None:
    from odm.tables import print_table
    print_table(table, con)


@click.group("router")
def router() -> None:
    """The router agent: typed RAs and a DHCPv6-PD server with per-type pools."""


@router.command("run")
@click.option("--config", "-c", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False), help="TOML configuration file.")
@click.option("--iface", "-i", "ifaces", multiple=True,
              help="Serve only this [[interface]] (repeatable). With a one-interface "
                   "config and one --iface of another name, that config runs on it.")
@click.option("--log-level", "log_levels", multiple=True, metavar="LEVEL|LOGGER=LEVEL",
              help="Logging threshold (debug, info, warning, error; default info, or one "
                   "step lower per odm -v), or one logger's: router.dhcp=debug. Repeatable.")
def run_cmd(config_path, ifaces, log_levels) -> None:
    """Run the router agent in the foreground until SIGTERM/SIGINT (then final
    RAs with router lifetime 0, routes flushed, lease store closed). SIGHUP
    reloads the configuration file (a broken one is refused; the agent runs
    on with the old)."""
    from odm import logsetup
    from router.config import ConfigError
    from router.errors import StoreError
    from router.io.agent import run_agent
    try:
        logsetup.setup("info", log_levels)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--log-level") from None
    from odm.capabilities import missing
    lacking = missing("CAP_NET_ADMIN", "CAP_NET_RAW")
    if lacking:
        raise click.ClickException(
            f"odm router run needs {' and '.join(lacking)} (routes, raw ICMPv6 for RS/RA): "
            "run it as root, or give it those capabilities (contrib/systemd/odm-router.service)")

    loader = _config_loader(ifaces)
    try:
        cfg = loader(config_path)
    except (ConfigError, OSError) as exc:
        raise click.ClickException(f"{config_path}: {exc}") from None
    try:
        run_agent(cfg, config_path, loader)
    except (OSError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:  # a second ^C during shutdown
        sys.exit(130)


def _config_loader(ifaces):
    """How ``odm router run`` reads its file (at start, on SIGHUP and for
    Kea's ``config-test``): validated, cut to ``ifaces`` when given, each
    :class:`~router.config.ConfigWarning` logged at WARNING naming the file
    and the key."""
    import logging

    from router.config import load_config

    def loader(path):
        cfg = load_config(path)
        for w in cfg.warnings:
            logging.getLogger("router.config").warning("%s: %s", path, w)
        return cfg.with_interface_names(list(ifaces)) if ifaces else cfg
    return loader


@router.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def check_config_cmd(config_file, as_json) -> None:
    """Validate CONFIG_FILE; on error name the offending key and exit 1. A
    setting that is valid but does not do what it says is shown as a warning
    naming its key (exit 0), as the router logs it at start."""
    from odm.jsonout import config_refusal
    from router.config import ConfigError, load_config

    refuse = config_refusal(config_file, as_json)

    try:
        cfg = load_config(config_file)
    except ConfigError as exc:
        refuse(exc.key, exc.reason)
    except OSError as exc:
        refuse("", exc.strerror or str(exc))
    dataplane = _check_dataplane(cfg) if cfg.mobility is not None else None
    if dataplane is not None and dataplane.get("error"):
        refuse("mobility.dataplane", dataplane["error"])
    summary = {
        "ok": True, "warnings": [{"key": w.key, "reason": w.reason} for w in cfg.warnings],
        "router-id": cfg.router_id, "lease-db": cfg.store_description(),
        "control-socket": str(cfg.control_socket), "timers": cfg.timers.name,
        "scale": cfg.timers.scale, "mobility": cfg.mobility is not None,
        "interfaces": [{
            "name": i.name,
            "offered-types": [m.cli_name for m in i.offered_types],
            "default-pool": i.default_pool,
            "ra-prefixes": [str(p.prefix) for p in i.ra.prefixes],
            "pools": [{"name": p.name, "prefix": str(p.prefix),
                       "delegated-length": p.delegated_length,
                       "mobility-type": p.mobility_type.cli_name if p.mobility_type
                       else "legacy", "total-pds": p.size} for p in i.pools],
            "reservations": len(i.reservations),
        } for i in cfg.interfaces],
    }
    if dataplane is not None:
        summary["dataplane"] = dataplane
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    from rich.table import Table

    for w in cfg.warnings:
        click.echo(f"{config_file}: {w.key}: warning: {w.reason}", err=True)
    n = len(cfg.warnings)
    con = _console()
    con.print(f"[green]OK[/green] {config_file}: router {cfg.router_id}, timers "
              f"{cfg.timers.name}" + (f" x{cfg.timers.scale:g}" if cfg.timers.name != "rfc"
                                      else "")
              + (f" ([yellow]{n} warning{'s' if n > 1 else ''}[/yellow])" if n else ""),
              highlight=False)
    t = Table(title="pools")
    for col in ("interface", "pool", "type", "prefix", "delegated", "total-pds"):
        t.add_column(col)
    for i in summary["interfaces"]:
        for p in i["pools"]:
            t.add_row(i["name"], p["name"] + (" (default)" if p["name"] == i["default-pool"]
                                              else ""),
                      p["mobility-type"], p["prefix"], f"/{p['delegated-length']}",
                      str(p["total-pds"]))
    _print(con, t)
    if dataplane is not None:
        how = "" if dataplane["configured"] == dataplane["chosen"] else \
            f" ({dataplane['configured']})"
        con.print(f"mobility data plane: {dataplane['chosen']}{how}; "
                  f"not available here: {dataplane['unavailable']}", highlight=False,
                  soft_wrap=True)


def _check_dataplane(cfg) -> dict:
    """Probe this namespace's kernel for ``[mobility] dataplane``
    (:func:`router.dataplane.choose`): what ``odm router run`` would pick, or
    the one-line reason it would refuse to start."""
    from router.dataplane import DataplaneUnavailable, choose, unavailable
    from router.dataplane.moves import sid_facts

    m = cfg.mobility
    out = {"configured": m.dataplane, "chosen": None, "unavailable": "not probed"}
    if os.geteuid() != 0:
        out["unavailable"] = "not probed (the kernel probe needs root / CAP_NET_ADMIN)"
        return out
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        try:
            cls, found = choose(m.dataplane, ipr, **sid_facts(m))
        except DataplaneUnavailable as exc:
            out["error"] = str(exc)
            return out
    out.update(chosen=cls.name, unavailable=unavailable(found))
    return out


def _life(v) -> str:
    if v is None:
        return "-"
    return "∞" if v == 0xFFFFFFFF else f"{v}s"


def _type_bits(v: int | str) -> str:
    """The PIO's type bits of a status' ``mobility-type`` (a config name,
    ``legacy``, or the number of a reserved value)."""
    from odm_wire.constants import MobilityType
    if isinstance(v, str):
        v = 0 if v == "legacy" else int(MobilityType.from_name(v))
    try:
        return f"{v} {MobilityType(v).cli_name}" if v else "0 (none)"
    except ValueError:
        return f"{v} (reserved)"


def _socket_path(sock, config_path) -> str:
    if sock:
        return sock
    if config_path:
        return str(_config(config_path).control_socket)
    return DEFAULT_SOCKET


@router.command("status")
@click.option("--socket", "sock", type=click.Path(),
              help=f"Control socket (default: the config's, else {DEFAULT_SOCKET}).")
@click.option("--config", "-c", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Take the control socket path from this config.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help="Bindings listed per interface (default: 50 in the table, 1000 with "
                   "--json; 0 = none; binding-count is the total; page through all of them "
                   "with `odm router lease list --limit N --from PREFIX`).")
def status_cmd(sock, config_path, as_json, limit) -> None:
    """Bindings, pools with utilisation and counters (Kea's names) of a running
    router agent."""
    from router.io.control import ControlUnavailable, request

    path = _socket_path(sock, config_path)
    if limit is None:  # every lease: odm router lease list --limit N (pages)
        limit = 1000 if as_json else 50
    try:
        ans = request(path, "status", **({} if limit is None else {"limit": limit}))
    except ControlUnavailable as exc:
        from router.cli_control import no_agent
        no_agent(exc, bool(sock or config_path), as_json)
    if not ans.get("ok"):
        raise click.ClickException(f"{ans.get('error')}: {ans.get('detail')}")
    st = ans["status"]
    if as_json:
        click.echo(json.dumps(st, indent=2))
        return
    from rich.table import Table

    con = _console()
    con.print(f"router [bold]{st['router-id']}[/bold]  pid {st['pid']}  up {st['uptime']}s  "
              f"server DUID {st['server-duid']}  lease db {st['lease-db']}", highlight=False)
    t = Table(title="pools")
    for col in ("interface", "pool", "type", "prefix", "assigned-pds", "total-pds",
                "utilisation", "cumulative-assigned-pds", "reclaimed"):
        t.add_column(col, justify="right" if col[0] in "atucr" and col != "type" else "left")
    for i in st["interfaces"]:
        for p in i["pools"]:
            t.add_row(i["interface"], p["pool"] + (" *" if p.get("default") else ""),
                      p["mobility-type"], f"{p['prefix']} → /{p['delegated-length']}",
                      str(p["assigned-pds"]), str(p["total-pds"]),
                      f"{100 * p['utilisation']:.1f}%", str(p["cumulative-assigned-pds"]),
                      str(p["reclaimed-leases"]))
    _print(con, t)
    bindings = [b for i in st["interfaces"] for b in i["bindings"]]
    total = sum(i.get("binding-count", len(i["bindings"])) for i in st["interfaces"])
    t = Table(title=f"bindings ({total})")
    # anchor and served-by as `odm router lease list` shows them, this router's
    # id written out: after a move the anchor's row says who serves it now
    for col in ("interface", "prefix", "type", "DUID", "IAID", "via", "state", "preferred",
                "valid", "anchor", "served-by"):
        t.add_column(col)
    shown = bindings
    for b in shown:
        t.add_row(b["interface"], b["prefix"], b["mobility-type"], b["duid"], f"0x{b['iaid']:08x}",
                  b["client-ll"] or "-", b["state"], _life(b["preferred-left"]),
                  _life(b["valid-left"]), b["anchor"], b["served-by"])
    _print(con, t)
    if len(shown) < total:
        con.print(f"… {total - len(shown)} more (--limit N or --json for more)")
    t = Table(title="counters")
    t.add_column("counter")
    for i in st["interfaces"]:
        t.add_column(i["interface"], justify="right")
    names: list[str] = []
    per = []
    for i in st["interfaces"]:
        c = dict(i["counters"])
        c["total-pds"] = sum(p["total-pds"] for p in i["pools"])
        c["assigned-pds"] = sum(p["assigned-pds"] for p in i["pools"])
        per.append(c)
        for k in c:
            if k not in names:
                names.append(k)
    for k in ("total-pds", "assigned-pds", "cumulative-assigned-pds"):
        if k in names:
            names.remove(k)
    names = ["total-pds", "assigned-pds", "cumulative-assigned-pds"] + names
    for k in names:
        vals = [c.get(k, 0) for c in per]
        if k in ("total-pds", "assigned-pds") or any(vals) or k.startswith("pkt6-received"):
            t.add_row(k, *(str(v) for v in vals))
    for k, v in st.get("adapter", {}).items():
        if v:
            t.add_row(f"adapter {k}", *([str(v)] + [""] * (len(per) - 1)))
    _print(con, t)
    mob = st.get("mobility")
    if mob and "dataplane" in mob:
        dp = mob["dataplane"]
        con.print(f"mobility: data plane {dp.get('name')} ({dp.get('summary', '')}, "
                  f"{dp.get('overhead', 0)} octets per packet); {len(mob['redirected'])} "
                  f"prefixes forwarded to their serving router, {len(mob['serving'])} served "
                  "here for their anchor", highlight=False, soft_wrap=True)
    ra = [p for i in st["interfaces"] for p in i.get("ra-prefixes", [])]
    if ra:
        t = Table(title="advertised prefixes (PIO)")
        for col in ("interface", "prefix", "type bits", "preferred", "valid", "stale"):
            t.add_column(col)
        for p in ra:
            t.add_row(p["interface"], p["prefix"], _type_bits(p["mobility-type"]),
                      _life(p["preferred"]), _life(p["valid"]), "yes" if p["stale"] else "")
        _print(con, t)


# ------------------------------------------------------------------ db --
@router.group("db")
def db_group() -> None:
    """Prepare the lease database: init, upgrade, version (as kea-admin's
    db-init / db-upgrade / db-version). A router never changes the schema
    itself: it refuses to start on a schema it does not know."""


def _config(config_path):
    """The router configuration at ``config_path``; an unusable one is a
    :class:`click.ClickException` naming the file."""
    from router.config import ConfigError, load_config
    try:
        return load_config(config_path)
    except (ConfigError, OSError) as exc:
        raise click.ClickException(f"{config_path}: {exc}") from None


def _pg_admin(cfg):
    from router.errors import StoreError
    from router.pgstore import connect_admin
    lsc = cfg.lease_store
    try:
        password = lsc.password()
    except OSError as exc:
        raise click.ClickException(f"cannot read the lease database password file "
                                   f"{lsc.password_file}: {exc.strerror or exc}") from None
    try:
        return connect_admin(lsc.conninfo, password, lsc.connect_timeout, lsc.describe())
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


def _sqlite_version(cfg, create: bool):
    """(version in the file or None, the version this odm writes)."""
    import sqlite3

    from router.store import SCHEMA_VERSION
    path = cfg.lease_db
    if not path.exists() and not create:
        return None, SCHEMA_VERSION
    if create:
        from router.errors import StoreError
        from router.store import SqliteLeaseStore
        try:
            SqliteLeaseStore(path, synchronous=cfg.lease_db_synchronous).close()
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            r = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise click.ClickException(f"lease store {path}: {exc}") from None
    return (None if r is None else int(r[0])), SCHEMA_VERSION


_CONFIG_OPT = click.option("--config", "-c", "config_path", required=True,
                           type=click.Path(exists=True, dir_okay=False),
                           help="The router's TOML configuration ([lease_store] or "
                                "[router] lease_db).")


def _on_pg(cfg, step):
    """``step(db)`` on an administrative connection to the PostgreSQL lease
    store, closed after; a failure is a ClickException naming the store."""
    from router.errors import StoreError
    where = cfg.store_description()
    db = _pg_admin(cfg)
    try:
        return step(db)
    except StoreError as exc:
        raise click.ClickException(f"{where}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - psycopg.Error: a privilege missing, ...
        raise click.ClickException(f"{where}: {str(exc).strip().splitlines()[0]}") from None
    finally:
        db.close()


@db_group.command("init")
@_CONFIG_OPT
def db_init_cmd(config_path) -> None:
    """Create the lease database schema (PostgreSQL: in an empty database the
    operator created; SQLite: the file). Refuses a database that has one."""
    cfg = _config(config_path)
    where = cfg.store_description()
    if cfg.lease_store is None:
        existed = cfg.lease_db.exists()
        v, _ = _sqlite_version(cfg, create=True)
        if existed:
            raise click.ClickException(f"{where} already holds schema version {v}: "
                                       f"use 'odm router db upgrade'")
        click.echo(f"{where}: schema version {v} created")
        return
    from router.pgstore import init_schema
    v = _on_pg(cfg, init_schema)
    click.echo(f"{where}: schema version {v} created")


@db_group.command("upgrade")
@_CONFIG_OPT
def db_upgrade_cmd(config_path) -> None:
    """Bring the lease database schema to the version this odm needs (each
    step in one transaction; safe to run twice, or from two machines)."""
    cfg = _config(config_path)
    where = cfg.store_description()
    if cfg.lease_store is None:
        v, known = _sqlite_version(cfg, create=False)
        if v is None:
            raise click.ClickException(f"{where} holds no odm schema: run 'odm router db init'")
        if v > known:
            raise click.ClickException(f"{where} has schema version {v}, newer than this "
                                       f"odm knows ({known}): upgrade odm")
        click.echo(f"{where}: schema version {v}, nothing to do")
        return
    from router.pgstore import upgrade_schema
    old, new = _on_pg(cfg, upgrade_schema)
    if old == new:
        click.echo(f"{where}: schema version {new}, nothing to do")
    else:
        click.echo(f"{where}: schema upgraded from version {old} to {new}")


@db_group.command("version")
@_CONFIG_OPT
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def db_version_cmd(config_path, as_json) -> None:
    """Print the lease database's schema version and the one this odm needs;
    exit 1 when they differ (the router would refuse to start)."""
    cfg = _config(config_path)
    where = cfg.store_description()
    if cfg.lease_store is None:
        v, known = _sqlite_version(cfg, create=False)
    else:
        from router.pgstore import PG_SCHEMA_VERSION, schema_version
        v, known = _on_pg(cfg, schema_version), PG_SCHEMA_VERSION
    if as_json:
        click.echo(json.dumps({"store": where, "schema-version": v, "odm-schema-version": known,
                               "ok": v == known}))
    else:
        click.echo(f"{where}: schema version {'none' if v is None else v} "
                   f"(this odm: {known})")
    if v != known:
        sys.exit(1)


# the Kea-command sub-commands (lease, stats, reload, shutdown, version, command)
from router import cli_control  # noqa: F401, E402 - registers its commands on the group above
