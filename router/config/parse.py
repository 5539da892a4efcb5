"""Router agent configuration: a TOML file loaded into the frozen, validated
objects of :mod:`router.config.model`.

:func:`load_config` reads a TOML file (``tomllib``) and returns a
:class:`RouterConfig`; :func:`parse_config` does the same for an already
parsed ``dict``. Every error is a :class:`ConfigError` whose ``key`` is the
dotted path of the offending key (``interface[0].pd_pool[1].delegated_length``),
so ``odm router check-config FILE`` can name it. Unknown keys are errors too.
A setting that is valid but does not do what it says (an autonomous PIO that
is not a /64) is a :class:`~router.config.model.ConfigWarning` in
``RouterConfig.warnings``, named the same way: check-config shows it and the
router logs it, as radvd does.

The documented example is ``router/example.toml``. In short::

    [router]              id, pen, lease_db, control_socket, server_duid,
                          preference, rapid_commit, limits, grace...
    [timers]              profile = "rfc" | "scaled", scale
    [lease_store]         type = "sqlite" (default: path, synchronous) | "postgresql"
                          (conninfo or host/port/dbname/user, password_file or
                          password_env, connect_timeout, timeout)
    [[interface]]         name, offered_types, default_pool
      [interface.ra]      RFC 4861 §6.2.1 router variables (AdvSendAdvertisements ...)
      [[interface.ra.prefix]]    AdvPrefixList entries (on-link prefixes, PIO type bits)
      [[interface.pd_pool]]      DHCPv6-PD pools, one mobility type each (or legacy)
      [[interface.reservation]]  DUID[/IAID] -> prefix (the natural backing of FIXED)
    [mobility]            dataplane, core_interface, core_address, sid, notify_port, poll_interval
      [[mobility.peer]]   id, core_address, sid, sid_prefix (routers sharing the store)

RA keys may be written in snake_case (``max_rtr_adv_interval``) or exactly as
RFC 4861 §6.2.1 spells them (``MaxRtrAdvInterval``); prefix keys likewise
(``adv_valid_lifetime`` / ``AdvValidLifetime``).
The ``[[interface]]`` tables are read by :mod:`router.config.parse_interface`.

Timer profiles (DESIGN §5): ``rfc`` uses the RFC 4861 §10 constants and the
RFC defaults as they are. ``scaled`` multiplies the constants
(MAX_INITIAL_RTR_ADVERT_INTERVAL, MIN_DELAY_BETWEEN_RAS, MAX_RA_DELAY_TIME), the
bounds of MaxRtrAdvInterval/MinRtrAdvInterval and every *default* duration
(RA intervals and lifetimes, pool lifetimes, reclaim interval, stale-prefix
time, grace) by ``scale``, so a lab or a test runs the same state machines a
hundred times faster. Values written explicitly in the file are taken as they
are. Nothing is ever changed by editing a constant.
"""

from __future__ import annotations

import socket
from ipaddress import IPv6Network
from pathlib import Path
from tomllib import TOMLDecodeError

from odm.tomltable import hinting, read_toml
from odm_wire.constants import ODM_PEN
from router.config.model import (
    LIMIT_TYPE_NAMES,
    ConfigError,
    ConfigWarning,
    LeaseStoreConfig,
    Limits,
    MobilityConfig,
    MobilityPeer,
    RateLimit,
    RouterConfig,
    TimerProfile,
    parse_duid_text,
)
from router.config.parse_interface import (
    RouterTable,
    ceil_int,
    no_overlap,
    parse_interface,
    pool_spaces,
)

__all__ = ["load_config", "parse_config"]

PG_PARTS = ("host", "port", "dbname", "user", "sslmode")


def _parse_timers(t: RouterTable) -> TimerProfile:
    name = t.str_("profile", "rfc")
    if name == "rfc":
        if t.has("scale") and t.get("scale") != 1:
            raise ConfigError(t.key("scale"), "only the \"scaled\" profile takes a scale")
        t.get("scale")
        prof = TimerProfile.rfc()
    elif name == "scaled":
        prof = TimerProfile.scaled(t.num("scale", 0.01, lo=1e-4, hi=1.0))
    else:
        raise ConfigError(t.key("profile"), f"must be \"rfc\" or \"scaled\", not {name!r}")
    t.done()
    return prof


#: why a SID, or the core's tunnel end, must be a routable unicast address
_SID = "not an SRv6 SID (RFC 8986 §3.1: a SID is an address its locator routes)"
_CORE = "not a tunnel end or next hop on the core network"


def _parse_mobility(t: RouterTable) -> MobilityConfig:
    from router.dataplane import AUTO, NAMES

    dataplane = t.str_("dataplane", AUTO)
    if dataplane not in (AUTO, *NAMES):
        raise ConfigError(t.key("dataplane"), f"unknown data plane {dataplane!r} (one of "
                          f"{', '.join((AUTO, *NAMES))})")
    sid = t.unicast_address("sid", _SID) if t.has("sid") else None
    if dataplane == "srv6" and sid is None:
        raise ConfigError(t.key("sid"), "required by dataplane = \"srv6\" (this router's "
                          "End.DT6 SID)")
    core = t.str_("core_interface", required=True)
    core_address = t.unicast_address("core_address", _CORE) if t.has("core_address") else None
    peers = []
    for p in t.tables("peer"):
        pid = p.str_("id", required=True)
        psid = p.unicast_address("sid", _SID) if p.has("sid") else None
        if psid is None:
            if dataplane == "srv6":
                raise ConfigError(p.key("sid"), "required by dataplane = \"srv6\"")
            if p.has("sid_prefix"):
                raise ConfigError(p.key("sid_prefix"), "set without the peer's sid")
            sp = None
        else:
            sp = (p.unicast_prefix("sid_prefix", _SID) if p.has("sid_prefix")
                  else IPv6Network(f"{psid}/128"))
            if psid not in sp:
                raise ConfigError(p.key("sid_prefix"), f"{sp} does not hold the peer's sid {psid}")
        peers.append(MobilityPeer(pid, psid, sp, p.unicast_address("core_address", _CORE)))
        p.done()
    ids = [p.router_id for p in peers]
    for i, n in enumerate(ids):
        if n in ids[:i]:
            raise ConfigError(f"{t.path}.peer[{i}].id", f"peer {n!r} is listed twice")
    m = MobilityConfig(sid=sid, core_interface=core, peers=tuple(peers),
                       notify_port=t.int_("notify_port", 5470, lo=1, hi=65535),
                       poll_interval=t.num("poll_interval", 1.0, lo=0.01),
                       dataplane=dataplane, core_address=core_address)
    t.done()
    return m


def _parse_rate(t: RouterTable, name: str, default: RateLimit, s: float) -> RateLimit:
    v = t.get(name)
    if v is None:
        return RateLimit(default.count, default.interval * s)
    r = t.sub(v, t.key(name))
    count = r.int_("count", default.count, lo=0)
    interval = r.num("interval", default.interval * s, lo=1e-6)
    r.done()
    return RateLimit(count, interval)


def _parse_limits(t: RouterTable, prof: TimerProfile) -> Limits:
    s = prof.scale
    d = Limits()
    caps = dict(d.max_bindings_per_type)
    if t.has("max_bindings_per_type"):
        ct = t.sub(t.get("max_bindings_per_type"), t.key("max_bindings_per_type"))
        caps = {}
        for k in list(ct.data):
            if k not in LIMIT_TYPE_NAMES:
                raise ConfigError(ct.key(k), "not a mobility type (fixed, session-lasting, "
                                  "non-persistent, graceful-replacement, legacy)")
            caps[k] = ct.int_(k, None, lo=0)
        ct.done()
    lim = Limits(max_bindings_per_type=caps,
                 client_rate=_parse_rate(t, "client_rate", d.client_rate, s),
                 source_rate=_parse_rate(t, "source_rate", d.source_rate, s),
                 max_tracked=t.int_("max_tracked", d.max_tracked, lo=1))
    t.done()
    return lim


def _check_conninfo(t: RouterTable, name: str, conninfo: str) -> None:
    """Refuse a password written in the connection string (it would end up in
    logs and status output); a malformed string is refused when psycopg can
    parse it here."""
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        low = conninfo.lower()
        if "password=" in low or ("://" in low and "@" in low.split("://", 1)[1]
                                  and ":" in low.split("://", 1)[1].split("@")[0]):
            raise ConfigError(t.key(name), "holds a password: put it in password_file "
                              "or the environment (password_env)") from None
        return
    try:
        parts = conninfo_to_dict(conninfo)
    except Exception as exc:  # noqa: BLE001 - psycopg.ProgrammingError
        raise ConfigError(t.key(name), f"not a libpq connection string: "
                          f"{str(exc).splitlines()[0]}") from None
    if "password" in parts:
        raise ConfigError(t.key(name), "holds a password: put it in password_file "
                          "or the environment (password_env)")


def _parse_lease_store(t: RouterTable, path) -> tuple[LeaseStoreConfig | None, dict]:
    """``[lease_store]``: a :class:`LeaseStoreConfig` for PostgreSQL, or
    ``None`` and the SQLite keys (``lease_db``/``lease_db_synchronous``)."""
    kind = t.str_("type", "sqlite")
    if kind == "sqlite":
        out = {}
        if t.has("path"):
            out["lease_db"] = path(t, "path")
        if t.has("synchronous"):
            out["lease_db_synchronous"] = t.str_("synchronous")
            out["_sync_key"] = t.key("synchronous")
        t.done()
        return None, out
    if kind not in ("postgresql", "postgres", "pgsql"):
        raise ConfigError(t.key("type"), f"must be \"sqlite\" or \"postgresql\", not {kind!r}")
    conninfo = t.str_("conninfo", "")
    parts = []
    for k in PG_PARTS:
        if k == "port":
            v = t.int_(k, None, lo=1, hi=65535)
        else:
            v = t.str_(k)
        if v is not None:
            sv = str(v)
            if conninfo:
                raise ConfigError(t.key(k), "give either conninfo or its parts, not both")
            quoted = sv.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"{k}='{quoted}'" if (not sv or any(c in sv for c in " '\\"))
                         else f"{k}={sv}")
    conninfo = conninfo or " ".join(parts)
    if conninfo:
        _check_conninfo(t, "conninfo", conninfo)
    pw_file = path(t, "password_file") if t.has("password_file") else None
    pw_env = t.str_("password_env")
    if pw_file is not None and pw_env is not None:
        raise ConfigError(t.key("password_env"), "give password_file or password_env, not both")
    if t.has("password"):
        t.get("password")
        raise ConfigError(t.key("password"), "a password is not kept in the configuration: "
                          "use password_file or password_env")
    lsc = LeaseStoreConfig(conninfo=conninfo, password_file=pw_file, password_env=pw_env,
                           connect_timeout=t.num("connect_timeout", 5.0, lo=0.1),
                           timeout=t.num("timeout", 5.0, lo=0.001))
    t.done()
    return lsc, {}


def parse_config(data: dict, base_dir: Path | None = None) -> RouterConfig:
    """Build a :class:`RouterConfig` from a parsed TOML document. Relative paths
    are taken from ``base_dir``. Raises :class:`ConfigError` naming the key.

    A misspelt key is reported as such ("unknown key; did you mean ...") even
    when the error it caused shows first elsewhere (the right key missing, or
    its default failing a check against another key)."""
    with hinting(ConfigError):
        return _parse_config(data, base_dir)


def _parse_config(data: dict, base_dir: Path | None = None) -> RouterConfig:
    top = RouterTable(data, "")
    prof = _parse_timers(top.table("timers"))
    r = top.table("router")
    s = prof.scale

    def path(name: str, default: str) -> Path:
        return r.path_(name, base_dir, default)

    def tpath(t: RouterTable, name: str) -> Path:
        return t.path_(name, base_dir)

    lease_store, sqlite_keys = None, {}
    if top.has("lease_store"):
        lease_store, sqlite_keys = _parse_lease_store(
            top.table("lease_store"), tpath)
        for k in ("lease_db", "lease_db_synchronous"):
            if r.has(k) and (lease_store is not None or k in sqlite_keys):
                raise ConfigError(r.key(k), "the lease store is configured in [lease_store]: "
                                  "give it there only")
    sync_key = sqlite_keys.pop("_sync_key", r.key("lease_db_synchronous"))
    sync = sqlite_keys.get("lease_db_synchronous") or r.str_("lease_db_synchronous", "full")
    if sync not in ("full", "normal", "extra"):
        raise ConfigError(sync_key, f"must be \"full\", \"extra\" or \"normal\", not {sync!r}")
    duid = r.str_("server_duid", "llt")
    if duid not in ("llt", "ll"):
        try:
            parse_duid_text(duid)
        except ValueError as exc:
            raise ConfigError(r.key("server_duid"),
                              f"must be \"llt\", \"ll\" or a DUID: {exc}") from None
    dns = r.addresses("dns_servers", unicast=True)
    router_id = r.str_("id") or socket.gethostname()
    kwargs = {
        "router_id": router_id,
        "pen": r.int_("pen", ODM_PEN, lo=1, hi=0xFFFFFFFF),
        "lease_db": sqlite_keys.get("lease_db")
        or path("lease_db", "/var/lib/odm/router-leases.sqlite3"),
        "lease_db_synchronous": sync,
        "control_socket": path("control_socket", "/run/odm/router.sock"),
        "server_duid": duid,
        "preference": r.int_("preference", 255, lo=0, hi=255),
        "rapid_commit": r.bool_("rapid_commit", True),
        "max_bindings_per_client": r.int_("max_bindings_per_client", 16, lo=1),
        "reclaim_interval": r.num("reclaim_interval", 10 * s, lo=0.001),
        "decline_probation_period": r.num("decline_probation_period", 86400 * s, lo=0),
        "graceful_replacement_grace": r.int_("graceful_replacement_grace",
                                          ceil_int(300 * s), lo=0, hi=0xFFFFFFFE),
        "dns_servers": dns,
        "log_rate_limit": r.num("log_rate_limit", 10.0, lo=0),
        "timers": prof,
    }
    r.done()
    kwargs["lease_store"] = lease_store
    kwargs["limits"] = _parse_limits(top.table("limits"), prof)
    if top.has("mobility"):
        kwargs["mobility"] = _parse_mobility(top.table("mobility"))
    ifaces = []
    warnings: list[ConfigWarning] = []
    for it in top.tables("interface"):
        ifaces.append(parse_interface(it, prof, warnings))
    names = [i.name for i in ifaces]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ConfigError(f"interface[{i}].name", f"interface {n!r} is configured twice")
    if not ifaces:
        raise ConfigError("interface", "at least one [[interface]] is required")
    no_overlap([sp for i, it in enumerate(ifaces)
                 for sp in pool_spaces(it.pools, f"interface[{i}]")])
    top.done()
    return RouterConfig(interfaces=tuple(ifaces), warnings=tuple(warnings), **kwargs)


def load_config(path: str | Path) -> RouterConfig:
    """Read and validate the TOML file at ``path``. Raises :class:`ConfigError`
    (the key is ``""`` for a TOML syntax error, whose reason gives line and
    column) or :class:`OSError` if the file cannot be read."""
    p = Path(path)
    try:
        data = read_toml(p)
    except TOMLDecodeError as exc:
        raise ConfigError("", f"not valid TOML: {exc}") from None
    return parse_config(data, base_dir=p.parent)
