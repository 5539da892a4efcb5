"""Router agent configuration: a TOML file loaded into frozen, validated objects.

:func:`load_config` reads a TOML file (``tomllib``) and returns a
:class:`RouterConfig`; :func:`parse_config` does the same for an already
parsed ``dict``. Every error is a :class:`ConfigError` whose ``key`` is the
dotted path of the offending key (``interface[0].pd_pool[1].delegated_length``),
so ``odm router check-config FILE`` can name it. Unknown keys are errors too.

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

import contextvars
import math
import socket
import tomllib
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from odm_wire.constants import (
    INFINITY,
    MAX_FINAL_RTR_ADVERTISEMENTS,
    MAX_INITIAL_RTR_ADVERT_INTERVAL,
    MAX_INITIAL_RTR_ADVERTISEMENTS,
    MAX_RA_DELAY_TIME,
    MIN_DELAY_BETWEEN_RAS,
    ODM_PEN,
    MobilityType,
)
from odm_wire.errors import OdmError

__all__ = [
    "ConfigError",
    "InterfaceConfig",
    "LeaseStoreConfig",
    "Limits",
    "MobilityConfig",
    "MobilityPeer",
    "PdPool",
    "RaConfig",
    "RaPrefix",
    "RateLimit",
    "Reservation",
    "RouterConfig",
    "TimerProfile",
    "load_config",
    "parse_config",
    "parse_duid_text",
    "type_key",
]


class ConfigError(OdmError, ValueError):
    """A configuration that cannot be used. ``key`` is the dotted path of the
    offending key (``""`` for the file as a whole), ``reason`` what is wrong."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


# ----------------------------------------------------------------- timers --
@dataclass(frozen=True)
class TimerProfile:
    """The protocol constants the router core runs with (seconds).

    ``rfc``: RFC 4861 §10 values. ``scaled``: every duration multiplied by
    ``scale`` (counts such as MAX_INITIAL_RTR_ADVERTISEMENTS stay). Selected by
    the ``[timers]`` table, never by editing constants.
    """

    name: str = "rfc"
    scale: float = 1.0

    def s(self, seconds: float) -> float:
        """``seconds`` scaled by this profile."""
        return seconds * self.scale

    @property
    def max_initial_rtr_advert_interval(self) -> float:
        return self.s(MAX_INITIAL_RTR_ADVERT_INTERVAL)

    @property
    def max_initial_rtr_advertisements(self) -> int:
        return MAX_INITIAL_RTR_ADVERTISEMENTS

    @property
    def max_final_rtr_advertisements(self) -> int:
        return MAX_FINAL_RTR_ADVERTISEMENTS

    @property
    def min_delay_between_ras(self) -> float:
        return self.s(MIN_DELAY_BETWEEN_RAS)

    @property
    def max_ra_delay_time(self) -> float:
        return self.s(MAX_RA_DELAY_TIME)

    @classmethod
    def rfc(cls) -> TimerProfile:
        return cls("rfc", 1.0)

    @classmethod
    def scaled(cls, scale: float) -> TimerProfile:
        return cls("scaled", float(scale))


# ------------------------------------------------------------------ model --
@dataclass(frozen=True)
class RaPrefix:
    """One entry of AdvPrefixList (RFC 4861 §6.2.1): an on-link prefix and the
    PIO it is advertised with (§4.6.2). Lifetimes in seconds
    (0xffffffff = infinity). ``mobility_type`` goes in the PIO's low three flag
    bits (DESIGN §2), 0 = no type stated. ``decrement_lifetimes`` (radvd's
    DecrementLifetimes): the lifetimes count down from agent start instead of
    being advertised afresh each time."""

    prefix: IPv6Network
    adv_valid_lifetime: int = 2592000
    adv_preferred_lifetime: int = 604800
    adv_on_link_flag: bool = True
    adv_autonomous_flag: bool = True
    adv_router_address_flag: bool = False
    adv_pd_preferred_flag: bool = False
    mobility_type: MobilityType | int = 0
    decrement_lifetimes: bool = False


@dataclass(frozen=True)
class RaConfig:
    """The RFC 4861 §6.2.1 router configuration variables of one interface
    (seconds unless stated). Defaults are the RFC's (``adv_send_advertisements``
    is FALSE there too, as in radvd's AdvSendAdvert)."""

    adv_send_advertisements: bool = False
    max_rtr_adv_interval: float = 600.0
    min_rtr_adv_interval: float = 198.0
    adv_managed_flag: bool = False
    adv_other_config_flag: bool = False
    adv_link_mtu: int = 0
    adv_reachable_time: int = 0
    """milliseconds, 0 = unspecified"""
    adv_retrans_timer: int = 0
    """milliseconds, 0 = unspecified"""
    adv_cur_hop_limit: int = 64
    adv_default_lifetime: int = 1800
    prefixes: tuple[RaPrefix, ...] = ()
    rdnss: tuple[IPv6Address, ...] = ()
    """RFC 8106 RDNSS addresses; lifetime ``rdnss_lifetime``"""
    rdnss_lifetime: int = 1800
    stale_prefix_time: float = 7200.0
    """how long a withdrawn prefix stays in RAs with preferred 0 / valid 0"""
    deprecate_prefixes_on_exit: bool = False
    """radvd's DeprecatePrefix: the final RAs carry every PIO with preferred 0"""
    include_source_link_layer_address: bool = True


@dataclass(frozen=True)
class PdPool:
    """A DHCPv6-PD pool (Kea's pd-pool): ``prefix`` split into prefixes of
    ``delegated_length`` bits, handed out with ``preferred_lifetime`` /
    ``valid_lifetime`` (seconds) and T1/T2 (seconds; ``None`` = 0.5 / 0.8 of
    the preferred lifetime, RFC 8415 §21.21). ``mobility_type`` is the one type
    this pool serves; ``None`` = a pool for legacy (untyped) clients only."""

    name: str
    prefix: IPv6Network
    delegated_length: int
    preferred_lifetime: int = 3600
    valid_lifetime: int = 7200
    t1: int | None = None
    t2: int | None = None
    mobility_type: MobilityType | None = None
    shared_space: bool = False
    """privacy (RFC 8653 §7): pools of several types that name the same
    ``prefix`` and ``delegated_length`` with ``shared_space = true`` draw
    from one space, at random, so a prefix does not reveal its type"""

    @property
    def size(self) -> int:
        """Number of delegable prefixes."""
        return 1 << (self.delegated_length - self.prefix.prefixlen)

    def timers(self) -> tuple[int, int]:
        """(T1, T2) in seconds for a fresh grant from this pool."""
        return _timers(self.preferred_lifetime, self.t1, self.t2)


def _timers(preferred: int, t1: int | None, t2: int | None) -> tuple[int, int]:
    if preferred == INFINITY:
        return (INFINITY if t1 is None else t1, INFINITY if t2 is None else t2)
    return (int(preferred * 0.5) if t1 is None else t1,
            int(preferred * 0.8) if t2 is None else t2)


@dataclass(frozen=True)
class Reservation:
    """A reserved prefix (Kea host reservation): the client with ``duid`` (wire
    octets) — and, if given, ``iaid`` — gets ``prefix`` when it asks for
    ``mobility_type`` (default FIXED, the type reservations exist for).
    Lifetimes ``None`` = those of the interface's first pool of that type, else
    one week preferred / 30 days valid (long but finite, draft-moses §4)."""

    duid: bytes
    prefix: IPv6Network
    iaid: int | None = None
    mobility_type: MobilityType = MobilityType.FIXED
    preferred_lifetime: int | None = None
    valid_lifetime: int | None = None
    t1: int | None = None
    t2: int | None = None


@dataclass(frozen=True)
class InterfaceConfig:
    """One access interface: its RAs, its PD pools, the mobility types it
    offers, reservations, and the pool legacy clients are served from."""

    name: str
    ra: RaConfig = field(default_factory=RaConfig)
    pools: tuple[PdPool, ...] = ()
    reservations: tuple[Reservation, ...] = ()
    offered_types: tuple[MobilityType, ...] = ()
    default_pool: str | None = None
    pd_allocator: str = "iterative"
    """Kea's name: ``iterative`` (consecutive prefixes) or ``random`` (a
    random free prefix; pools in a shared space are always random)"""

    def pools_for(self, t: MobilityType | None) -> tuple[PdPool, ...]:
        """The pools that serve type ``t``; ``None`` = the default pool for
        legacy clients (empty when there is none)."""
        if t is None:
            return tuple(p for p in self.pools if p.name == self.default_pool)
        return tuple(p for p in self.pools if p.mobility_type == t)

    def pool(self, name: str) -> PdPool | None:
        for p in self.pools:
            if p.name == name:
                return p
        return None


@dataclass(frozen=True)
class MobilityPeer:
    """Another access router sharing the lease store: its router id, its
    address on the core link (tunnel endpoint, or next hop for ``routed``)
    and, for the ``srv6`` data plane, its SID (End.DT6, RFC 8986 §4.8) and the
    prefix its SIDs are in."""

    router_id: str
    sid: IPv6Address | None
    sid_prefix: IPv6Network | None
    core_address: IPv6Address


@dataclass(frozen=True)
class MobilityConfig:
    """``[mobility]``: keeping SESSION_LASTING and FIXED prefixes routed after
    their host moved to another router (DESIGN §2, :mod:`router.dataplane`).

    ``dataplane``: the backend that carries moved prefixes between routers
    (``auto``, ``srv6``, ``ip6ip6``, ``vxlan`` or ``routed``; ``auto`` picks
    the first the kernel supports); ``sid``: this router's End.DT6 SID (a /128
    that is not a local address; ``srv6`` only); ``core_interface``: the link
    to the other routers; ``core_address``: this router's address on it (the
    tunnels' local end; default: the interface's first global address);
    ``notify_port``: UDP port on which peers tell this router that a binding
    it anchors moved (a nudge to re-read the shared lease store);
    ``poll_interval``: seconds between re-reads without a nudge; ``peers``:
    the other routers."""

    sid: IPv6Address | None
    core_interface: str
    peers: tuple[MobilityPeer, ...] = ()
    notify_port: int = 5470
    poll_interval: float = 1.0
    dataplane: str = "auto"
    core_address: IPv6Address | None = None

    def peer(self, router_id: str) -> MobilityPeer | None:
        for p in self.peers:
            if p.router_id == router_id:
                return p
        return None


@dataclass(frozen=True)
class RateLimit:
    """``count`` messages per ``interval`` seconds (a token bucket of
    ``count`` tokens refilled at ``count / interval`` per second);
    ``count == 0`` switches the limit off."""

    count: int = 0
    interval: float = 1.0

    @property
    def enabled(self) -> bool:
        return self.count > 0


def type_key(mt: MobilityType | None) -> str:
    """The config name of a mobility type (``legacy`` for untyped requests)."""
    return mt.cli_name if mt is not None else "legacy"


LIMIT_TYPE_NAMES = ("fixed", "session-lasting", "non-persistent", "graceful-replacement",
                    "legacy")


@dataclass(frozen=True)
class Limits:
    """``[limits]``: what one client may take and how fast it may ask
    (:mod:`router.core.limits`).

    ``max_bindings_per_type``: active bindings per DUID of one type, by
    :func:`type_key` name (``legacy`` = untyped); a type not listed is capped
    by ``max_bindings_per_client`` only. Default: FIXED 4 (the costly type:
    long lifetimes, kept across moves). ``client_rate``: messages per DUID;
    default 100 per 10 s (interval scaled by the timer profile).
    ``source_rate``: messages per IPv6 source address; default off (every
    client behind a relay, and a load tester, shares one source).
    ``max_tracked``: keys kept per bucket kind (least recently seen
    forgotten first)."""

    max_bindings_per_type: dict = field(default_factory=lambda: {"fixed": 4})
    client_rate: RateLimit = RateLimit(100, 10.0)
    source_rate: RateLimit = RateLimit(0, 10.0)
    max_tracked: int = 65536

    def type_cap(self, mt: MobilityType | None) -> int | None:
        """The per-client cap of type ``mt`` (None: no cap of its own)."""
        return self.max_bindings_per_type.get(type_key(mt))


PG_PARTS = ("host", "port", "dbname", "user", "sslmode")


@dataclass(frozen=True)
class LeaseStoreConfig:
    """``[lease_store]`` of ``type = "postgresql"``: where the shared lease
    database is (a libpq connection string, ``conninfo``, without a password)
    and where its password comes from: ``password_file`` (its first line), else
    the environment variable ``password_env``, else libpq's own ways
    (``PGPASSWORD``, ``~/.pgpass``). The password is read when the store
    connects and is never part of a message or log line (:meth:`describe`).
    ``connect_timeout``: seconds to reach the server; ``timeout``: seconds a
    statement or a commit may wait (another router's lock included) before the
    store reports :class:`~router.errors.StoreError`.

    A SQLite ``[lease_store]`` is stored as ``RouterConfig.lease_db`` and
    ``lease_db_synchronous`` (the ``[router]`` keys of the same meaning)."""

    type: str = "postgresql"
    conninfo: str = ""
    password_file: Path | None = None
    password_env: str | None = None
    connect_timeout: float = 5.0
    timeout: float = 5.0

    def describe(self) -> str:
        """The connection string as it may be logged (it holds no password:
        the parser refuses one)."""
        return f"postgresql: {self.conninfo}" if self.conninfo else "postgresql (libpq defaults)"

    def password(self) -> str | None:
        """The password from ``password_file`` or ``password_env``, or None.
        Raises :class:`OSError` for an unreadable file."""
        import os
        if self.password_file is not None:
            text = self.password_file.read_text()
            return text.splitlines()[0] if text else ""
        if self.password_env:
            return os.environ.get(self.password_env)
        return None


@dataclass(frozen=True)
class RouterConfig:
    """The whole router agent configuration (see module docstring)."""

    interfaces: tuple[InterfaceConfig, ...]
    router_id: str = field(default_factory=socket.gethostname)
    """name of this router, recorded as ``anchor`` / ``served_by`` in bindings"""
    pen: int = ODM_PEN
    lease_db: Path = Path("/var/lib/odm/router-leases.sqlite3")
    lease_db_synchronous: str = "full"
    control_socket: Path = Path("/run/odm/router.sock")
    server_duid: str = "llt"
    """``llt`` or ``ll`` (made from the interface MAC and persisted), or the hex DUID"""
    preference: int = 255
    rapid_commit: bool = True
    max_bindings_per_client: int = 16
    reclaim_interval: float = 10.0
    decline_probation_period: float = 86400.0
    graceful_replacement_grace: int = 300
    """valid lifetime (s) left on another router's GRACEFUL_REPLACEMENT prefix
    when its host Rebinds here (DESIGN §2)"""
    dns_servers: tuple[IPv6Address, ...] = ()
    timers: TimerProfile = field(default_factory=TimerProfile.rfc)
    log_rate_limit: float = 10.0
    """at most one log line per kind of bad input per this many seconds"""
    mobility: MobilityConfig | None = None
    """``None``: no ``[mobility]`` table, prefixes are not followed across routers"""
    limits: Limits = field(default_factory=Limits)
    """``[limits]``: per-type caps and rate limits (:class:`Limits`)"""
    lease_store: LeaseStoreConfig | None = None
    """``[lease_store] type = "postgresql"``; ``None``: the SQLite file ``lease_db``"""

    def store_description(self) -> str:
        """Where the bindings are kept, as it may be logged (no password)."""
        if self.lease_store is not None:
            return self.lease_store.describe()
        return str(self.lease_db)

    def interface(self, name: str) -> InterfaceConfig:
        for i in self.interfaces:
            if i.name == name:
                return i
        raise KeyError(name)

    def with_interface_names(self, names: list[str]) -> RouterConfig:
        """Keep only the interfaces in ``names``; a config with one interface
        and one other name given is run on that name instead (handy for a
        template config). Raises :class:`ConfigError` for an unknown name."""
        from dataclasses import replace
        known = {i.name for i in self.interfaces}
        if len(self.interfaces) == 1 and len(names) == 1 and names[0] not in known:
            return replace(self, interfaces=(replace(self.interfaces[0], name=names[0]),))
        missing = [n for n in names if n not in known]
        if missing:
            raise ConfigError("interface", f"no [[interface]] named {', '.join(missing)}")
        return replace(self, interfaces=tuple(i for i in self.interfaces if i.name in names))


# ------------------------------------------------------------------ parse --
RA_ALIASES = {
    "AdvSendAdvertisements": "adv_send_advertisements",
    "MaxRtrAdvInterval": "max_rtr_adv_interval",
    "MinRtrAdvInterval": "min_rtr_adv_interval",
    "AdvManagedFlag": "adv_managed_flag",
    "AdvOtherConfigFlag": "adv_other_config_flag",
    "AdvLinkMTU": "adv_link_mtu",
    "AdvReachableTime": "adv_reachable_time",
    "AdvRetransTimer": "adv_retrans_timer",
    "AdvCurHopLimit": "adv_cur_hop_limit",
    "AdvDefaultLifetime": "adv_default_lifetime",
    "AdvPrefixList": "prefix",
}
PREFIX_ALIASES = {
    "AdvValidLifetime": "adv_valid_lifetime",
    "AdvOnLinkFlag": "adv_on_link_flag",
    "AdvPreferredLifetime": "adv_preferred_lifetime",
    "AdvAutonomousFlag": "adv_autonomous_flag",
    "AdvRouterAddr": "adv_router_address_flag",
    "DecrementLifetimes": "decrement_lifetimes",
}


#: the tables read by the parse under way (see :func:`parse_config`)
_TABLES: contextvars.ContextVar[list[_Table] | None] = contextvars.ContextVar(
    "odm_config_tables", default=None)


class _Table:
    """A TOML table being read: tracks which keys were used so leftovers can be
    reported, and names every key by its dotted path."""

    def __init__(self, data: Any, path: str, aliases: dict[str, str] | None = None) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, f"must be a table, not {type(data).__name__}")
        self.path = path
        self.data: dict[str, Any] = {}
        self.spelled: dict[str, str] = {}
        for k, v in data.items():
            name = (aliases or {}).get(k, k)
            if name in self.data:
                raise ConfigError(self.key(k), f"given twice (also as {self.spelled[name]!r})")
            self.data[name] = v
            self.spelled[name] = k
        self.used: set[str] = set()
        tables = _TABLES.get()
        if tables is not None:
            tables.append(self)

    def misspelt(self) -> tuple[str, str] | None:
        """(a key given here that is not used, the key it is probably a
        misspelling of: one read but not given), or None."""
        import difflib
        wanted = [k for k in self.used if k not in self.data]
        for k in self.data:
            if k not in self.used:
                close = difflib.get_close_matches(k, wanted, n=1, cutoff=0.8)
                if close:
                    return k, close[0]
        return None

    def key(self, name: str) -> str:
        k = self.spelled.get(name, name)
        return f"{self.path}.{k}" if self.path else k

    def has(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str, default: Any = None) -> Any:
        self.used.add(name)
        return self.data.get(name, default)

    def done(self) -> None:
        hint = self.misspelt()
        if hint:
            raise ConfigError(self.key(hint[0]), f"unknown key; did you mean {hint[1]!r}?")
        extra = [k for k in self.data if k not in self.used]
        if extra:
            raise ConfigError(self.key(extra[0]), "unknown key")

    # typed getters ---------------------------------------------------
    def str_(self, name: str, default: str | None = None, required: bool = False) -> str | None:
        self.used.add(name)
        if required and name not in self.data:
            raise ConfigError(self.key(name), "is required")
        v = self.get(name, default)
        if v is not None and not isinstance(v, str):
            raise ConfigError(self.key(name), f"must be a string, not {v!r}")
        return v

    def bool_(self, name: str, default: bool) -> bool:
        v = self.get(name, default)
        if not isinstance(v, bool):
            raise ConfigError(self.key(name), f"must be true or false, not {v!r}")
        return v

    def num(self, name: str, default: float, lo: float | None = None,
            hi: float | None = None) -> float:
        v = self.get(name, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise ConfigError(self.key(name), f"must be a number, not {v!r}")
        if lo is not None and v < lo:
            raise ConfigError(self.key(name), f"{v} is below the minimum {lo:g}")
        if hi is not None and v > hi:
            raise ConfigError(self.key(name), f"{v} is above the maximum {hi:g}")
        return float(v)

    def int_(self, name: str, default: int | None, lo: int | None = None,
             hi: int | None = None) -> int | None:
        v = self.get(name, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(self.key(name), f"must be an integer, not {v!r}")
        if lo is not None and v < lo:
            raise ConfigError(self.key(name), f"{v} is below the minimum {lo}")
        if hi is not None and v > hi:
            raise ConfigError(self.key(name), f"{v} is above the maximum {hi}")
        return v

    def lifetime(self, name: str, default: int | None) -> int | None:
        """Seconds as an integer 0..0xffffffff, or the string ``infinity``."""
        v = self.get(name, default)
        if v is None:
            return None
        if isinstance(v, str) and v.lower() in ("infinity", "infinite"):
            return INFINITY
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= INFINITY:
            raise ConfigError(self.key(name),
                              f"must be seconds 0..4294967295 or \"infinity\", not {v!r}")
        return v

    def network(self, name: str) -> IPv6Network:
        v = self.str_(name, required=True)
        try:
            net = IPv6Network(v)
        except ValueError as exc:
            raise ConfigError(self.key(name), f"not an IPv6 prefix with host bits clear: {exc}") \
                from None
        return net

    def mobility_type(self, name: str, allow_none: bool = True) -> MobilityType | None:
        v = self.get(name)
        if v is None:
            if allow_none:
                return None
            raise ConfigError(self.key(name), "is required")
        try:
            return MobilityType.from_name(str(v))
        except ValueError:
            raise ConfigError(self.key(name), f"unknown mobility type {v!r} (fixed, "
                              "session-lasting, non-persistent, graceful-replacement)") from None

    def tables(self, name: str) -> list[dict]:
        v = self.get(name, [])
        if isinstance(v, dict):
            v = [v]
        if not isinstance(v, list):
            raise ConfigError(self.key(name), "must be an array of tables ([[...]])")
        return v


def _ceil_int(x: float, lo: int = 1) -> int:
    return max(lo, math.ceil(x))


def parse_duid_text(text: str) -> bytes:
    """A DUID written as hex, with or without ``:`` / ``-`` separators
    (``00:03:00:01:02:00:00:00:00:01``) → its wire octets. Raises ValueError."""
    h = text.replace(":", "").replace("-", "").replace(" ", "")
    raw = bytes.fromhex(h)
    if len(raw) < 3 or len(raw) > 130:
        raise ValueError(f"a DUID is 3..130 octets, not {len(raw)}")
    return raw


def _parse_timers(t: _Table) -> TimerProfile:
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


def _parse_ra(t: _Table, prof: TimerProfile, name: str) -> RaConfig:
    s = prof.scale
    # RFC 4861 §6.2.1 (ranges as relaxed by RFC 8319: up to 65535 s)
    max_iv = t.num("max_rtr_adv_interval", 600 * s, lo=4 * s, hi=65535)
    # RFC 4861: 0.33 x Max when Max >= 9 s; below that the RFC says "Max", which
    # its own 0.75 x Max bound forbids, so odm takes 0.75 x Max (at least 3 s).
    min_default = 0.33 * max_iv if max_iv >= 9 * s else max(3 * s, 0.75 * max_iv)
    min_iv = t.num("min_rtr_adv_interval", min_default, lo=3 * s)
    if min_iv > 0.75 * max_iv + 1e-9:
        raise ConfigError(t.key("min_rtr_adv_interval"),
                          f"{min_iv:g} exceeds 0.75 x MaxRtrAdvInterval ({0.75 * max_iv:g}) "
                          "(RFC 4861 §6.2.1)")
    mtu = t.int_("adv_link_mtu", 0, lo=0, hi=0xFFFFFFFF)
    if mtu and mtu < 1280:
        raise ConfigError(t.key("adv_link_mtu"), f"{mtu} is below the IPv6 minimum MTU 1280")
    default_life = t.int_("adv_default_lifetime", _ceil_int(3 * max_iv), lo=0, hi=65535)
    if default_life and default_life < max_iv:
        raise ConfigError(t.key("adv_default_lifetime"),
                          f"{default_life} must be 0 or at least MaxRtrAdvInterval "
                          f"({max_iv:g}) (RFC 4861 §6.2.1)")
    prefixes = []
    for i, pt in enumerate(t.tables("prefix")):
        p = _Table(pt, f"{t.path}.prefix[{i}]", PREFIX_ALIASES)
        net = p.network("prefix")
        if net.is_link_local:
            raise ConfigError(p.key("prefix"), "the link-local prefix is never advertised "
                              "(RFC 4861 §4.6.2)")
        valid = p.lifetime("adv_valid_lifetime", _ceil_int(2592000 * s))
        pref = p.lifetime("adv_preferred_lifetime", _ceil_int(604800 * s))
        if pref > valid:
            raise ConfigError(p.key("adv_preferred_lifetime"),
                              f"{pref} exceeds the valid lifetime {valid} (RFC 4861 §4.6.2)")
        mt = p.mobility_type("mobility_type")
        prefixes.append(RaPrefix(
            prefix=net, adv_valid_lifetime=valid, adv_preferred_lifetime=pref,
            adv_on_link_flag=p.bool_("adv_on_link_flag", True),
            adv_autonomous_flag=p.bool_("adv_autonomous_flag", True),
            adv_router_address_flag=p.bool_("adv_router_address_flag", False),
            adv_pd_preferred_flag=p.bool_("adv_pd_preferred_flag", False),
            mobility_type=mt or 0,
            decrement_lifetimes=p.bool_("decrement_lifetimes", False)))
        p.done()
    _no_overlap([(pr.prefix, f"{t.path}.prefix[{i}].prefix") for i, pr in enumerate(prefixes)])
    rdnss = []
    for a in t.get("rdnss", []) or []:
        try:
            rdnss.append(IPv6Address(a))
        except ValueError as exc:
            raise ConfigError(t.key("rdnss"), str(exc)) from None
    cfg = RaConfig(
        adv_send_advertisements=t.bool_("adv_send_advertisements", False),
        max_rtr_adv_interval=max_iv,
        min_rtr_adv_interval=min_iv,
        adv_managed_flag=t.bool_("adv_managed_flag", False),
        adv_other_config_flag=t.bool_("adv_other_config_flag", False),
        adv_link_mtu=mtu,
        adv_reachable_time=t.int_("adv_reachable_time", 0, lo=0, hi=3600000),
        adv_retrans_timer=t.int_("adv_retrans_timer", 0, lo=0, hi=0xFFFFFFFF),
        adv_cur_hop_limit=t.int_("adv_cur_hop_limit", 64, lo=0, hi=255),
        adv_default_lifetime=default_life,
        prefixes=tuple(prefixes),
        rdnss=tuple(rdnss),
        rdnss_lifetime=t.int_("rdnss_lifetime", _ceil_int(3 * max_iv), lo=0, hi=0xFFFFFFFF),
        stale_prefix_time=t.num("stale_prefix_time", 7200 * s, lo=0),
        deprecate_prefixes_on_exit=t.bool_("deprecate_prefixes_on_exit", False),
        include_source_link_layer_address=t.bool_("include_source_link_layer_address", True),
    )
    t.done()
    return cfg


def _pool_spaces(pools: tuple[PdPool, ...], path: str) -> list[tuple[IPv6Network, str]]:
    """(prefix, key) per address space of ``pools``: pools in a shared space
    (same prefix, same delegated length, all ``shared_space = true``, one
    type each) count once. Raises :class:`ConfigError` for a bad group."""
    out: list[tuple[IPv6Network, str]] = []
    first: dict[IPv6Network, int] = {}
    for i, p in enumerate(pools):
        j = first.get(p.prefix)
        if j is None:
            first[p.prefix] = i
            out.append((p.prefix, f"{path}.pd_pool[{i}].prefix"))
            continue
        q = pools[j]
        if not (p.shared_space and q.shared_space):
            bad = i if not p.shared_space else j
            raise ConfigError(f"{path}.pd_pool[{bad}].shared_space",
                              f"pools {q.name!r} and {p.name!r} have the same prefix "
                              f"{p.prefix}: set shared_space = true on both to share it")
        if p.delegated_length != q.delegated_length:
            raise ConfigError(f"{path}.pd_pool[{i}].delegated_length",
                              f"pools sharing {p.prefix} must delegate one length "
                              f"({q.delegated_length} in {q.name!r})")
        for k, o in enumerate(pools[:i]):
            if o.prefix == p.prefix and o.mobility_type == p.mobility_type:
                raise ConfigError(f"{path}.pd_pool[{i}].mobility_type",
                                  f"pool {o.name!r} (pd_pool[{k}]) already serves this type "
                                  f"from {p.prefix}")
    return out


def _no_overlap(nets: list[tuple[IPv6Network, str]]) -> None:
    for i, (a, ka) in enumerate(nets):
        for b, kb in nets[:i]:
            if a.overlaps(b):
                raise ConfigError(ka, f"{a} overlaps {b} ({kb})")


def _check_timers(t: _Table, pref: int, valid: int, t1: int | None, t2: int | None) -> None:
    if pref > valid:
        raise ConfigError(t.key("preferred_lifetime"),
                          f"{pref} exceeds the valid lifetime {valid} (RFC 8415 §21.22)")
    T1, T2 = _timers(pref, t1, t2)
    if T1 > T2:
        raise ConfigError(t.key("t1" if t1 is not None else "t2"),
                          f"T1 {T1} exceeds T2 {T2} (RFC 8415 §21.21)")
    if pref != INFINITY and T2 > pref:
        raise ConfigError(t.key("t2" if t2 is not None else "t1"),
                          f"T2 {T2} exceeds the preferred lifetime {pref} (RFC 8415 §21.21)")


def _parse_pool(t: _Table, prof: TimerProfile) -> PdPool:
    s = prof.scale
    name = t.str_("name", required=True)
    net = t.network("prefix")
    dl = t.int_("delegated_length", None, lo=1, hi=128)
    if dl is None:
        raise ConfigError(t.key("delegated_length"), "is required")
    if dl < net.prefixlen:
        raise ConfigError(t.key("delegated_length"),
                          f"{dl} is shorter than the pool prefix length {net.prefixlen}")
    pref = t.lifetime("preferred_lifetime", _ceil_int(3600 * s))
    valid = t.lifetime("valid_lifetime", _ceil_int(7200 * s))
    t1 = t.lifetime("t1", None)
    t2 = t.lifetime("t2", None)
    _check_timers(t, pref, valid, t1, t2)
    if valid == 0:
        raise ConfigError(t.key("valid_lifetime"), "must be greater than 0")
    pool = PdPool(name=name, prefix=net, delegated_length=dl, preferred_lifetime=pref,
                  valid_lifetime=valid, t1=t1, t2=t2,
                  mobility_type=t.mobility_type("mobility_type"),
                  shared_space=t.bool_("shared_space", False))
    t.done()
    return pool


def _parse_reservation(t: _Table) -> Reservation:
    text = t.str_("duid", required=True)
    try:
        duid = parse_duid_text(text)
    except ValueError as exc:
        raise ConfigError(t.key("duid"), f"not a hex DUID: {exc}") from None
    r = Reservation(
        duid=duid, prefix=t.network("prefix"),
        iaid=t.int_("iaid", None, lo=0, hi=0xFFFFFFFF),
        mobility_type=t.mobility_type("mobility_type") or MobilityType.FIXED,
        preferred_lifetime=t.lifetime("preferred_lifetime", None),
        valid_lifetime=t.lifetime("valid_lifetime", None),
        t1=t.lifetime("t1", None), t2=t.lifetime("t2", None))
    if r.preferred_lifetime is not None and r.valid_lifetime is not None:
        _check_timers(t, r.preferred_lifetime, r.valid_lifetime, r.t1, r.t2)
    t.done()
    return r


def _resolve_reservation(r: Reservation, pools: tuple[PdPool, ...], prof: TimerProfile
                         ) -> Reservation:
    from dataclasses import replace
    if r.preferred_lifetime is not None and r.valid_lifetime is not None:
        return r
    same = [p for p in pools if p.mobility_type == r.mobility_type]
    if same:
        pref, valid = same[0].preferred_lifetime, same[0].valid_lifetime
        t1 = r.t1 if r.t1 is not None else same[0].t1
        t2 = r.t2 if r.t2 is not None else same[0].t2
    else:
        pref, valid = _ceil_int(604800 * prof.scale), _ceil_int(2592000 * prof.scale)
        t1, t2 = r.t1, r.t2
    pref = r.preferred_lifetime if r.preferred_lifetime is not None else pref
    valid = r.valid_lifetime if r.valid_lifetime is not None else valid
    return replace(r, preferred_lifetime=min(pref, valid), valid_lifetime=valid, t1=t1, t2=t2)


def _parse_interface(t: _Table, prof: TimerProfile) -> InterfaceConfig:
    from dataclasses import replace
    name = t.str_("name", required=True)
    if not name or len(name) > 15 or "/" in name or " " in name:
        raise ConfigError(t.key("name"), f"{name!r} is not a Linux interface name")
    ra = _parse_ra(_Table(t.get("ra", {}), f"{t.path}.ra", RA_ALIASES), prof, name)
    pools = tuple(_parse_pool(_Table(p, f"{t.path}.pd_pool[{i}]"), prof)
                  for i, p in enumerate(t.tables("pd_pool")))
    seen = {}
    for i, p in enumerate(pools):
        if p.name in seen:
            raise ConfigError(f"{t.path}.pd_pool[{i}].name",
                              f"pool name {p.name!r} already used by pd_pool[{seen[p.name]}]")
        seen[p.name] = i
    _no_overlap(_pool_spaces(pools, t.path)
                + [(r.prefix, f"{t.path}.ra.prefix[{i}].prefix")
                   for i, r in enumerate(ra.prefixes)])
    res = tuple(_parse_reservation(_Table(r, f"{t.path}.reservation[{i}]"))
                for i, r in enumerate(t.tables("reservation")))
    for i, r in enumerate(res):
        k = f"{t.path}.reservation[{i}].prefix"
        for j, o in enumerate(res[:i]):
            if r.prefix.overlaps(o.prefix):
                raise ConfigError(k, f"{r.prefix} overlaps reservation[{j}] {o.prefix}")
            if r.duid == o.duid and r.iaid == o.iaid and r.mobility_type == o.mobility_type:
                raise ConfigError(f"{t.path}.reservation[{i}].duid",
                                  f"the same DUID/IAID/type is reserved in reservation[{j}]")
        for j, rp in enumerate(ra.prefixes):
            if r.prefix.overlaps(rp.prefix):
                raise ConfigError(k, f"{r.prefix} overlaps the on-link prefix {rp.prefix}")
        for p in pools:
            if r.prefix.overlaps(p.prefix) and not (
                    r.prefix.subnet_of(p.prefix) and r.prefix.prefixlen == p.delegated_length):
                raise ConfigError(k, f"{r.prefix} overlaps pool {p.name!r} ({p.prefix}) but is "
                                  f"not one of its /{p.delegated_length} prefixes")
    res = tuple(_resolve_reservation(r, pools, prof) for r in res)
    if t.has("offered_types"):
        raw = t.get("offered_types")
        if not isinstance(raw, list):
            raise ConfigError(t.key("offered_types"), "must be a list of mobility types")
        offered = []
        for v in raw:
            try:
                offered.append(MobilityType.from_name(str(v)))
            except ValueError:
                raise ConfigError(t.key("offered_types"), f"unknown mobility type {v!r}") \
                    from None
        for m in offered:
            if not any(p.mobility_type == m for p in pools) and not any(
                    r.mobility_type == m for r in res):
                raise ConfigError(t.key("offered_types"),
                                  f"{m.cli_name} is offered but no pd_pool or reservation "
                                  "serves it")
        offered_t = tuple(dict.fromkeys(offered))
    else:
        offered_t = tuple(m for m in MobilityType
                          if any(p.mobility_type == m for p in pools)
                          or any(r.mobility_type == m for r in res))
    pd_allocator = t.str_("pd_allocator", "iterative")
    if pd_allocator not in ("iterative", "random"):
        raise ConfigError(t.key("pd_allocator"),
                          f"must be \"iterative\" or \"random\", not {pd_allocator!r}")
    default_pool = t.str_("default_pool")
    if default_pool is None:
        untyped = [p for p in pools if p.mobility_type is None]
        default_pool = untyped[0].name if untyped else None
    elif default_pool not in seen:
        raise ConfigError(t.key("default_pool"), f"no pd_pool named {default_pool!r}")
    t.done()
    return replace(InterfaceConfig(name=name), ra=ra, pools=pools, reservations=res,
                   offered_types=offered_t, default_pool=default_pool,
                   pd_allocator=pd_allocator)


def _parse_mobility(t: _Table) -> MobilityConfig:
    def addr(tb: _Table, name: str) -> IPv6Address:
        v = tb.str_(name, required=True)
        try:
            return IPv6Address(v)
        except ValueError as exc:
            raise ConfigError(tb.key(name), f"not an IPv6 address: {exc}") from None

    from router.dataplane import AUTO, NAMES

    dataplane = t.str_("dataplane", AUTO)
    if dataplane not in (AUTO, *NAMES):
        raise ConfigError(t.key("dataplane"), f"unknown data plane {dataplane!r} (one of "
                          f"{', '.join((AUTO, *NAMES))})")
    sid = addr(t, "sid") if t.has("sid") else None
    if dataplane == "srv6" and sid is None:
        raise ConfigError(t.key("sid"), "required by dataplane = \"srv6\" (this router's "
                          "End.DT6 SID)")
    core = t.str_("core_interface", required=True)
    core_address = addr(t, "core_address") if t.has("core_address") else None
    peers = []
    for i, pt in enumerate(t.tables("peer")):
        p = _Table(pt, f"{t.path}.peer[{i}]")
        pid = p.str_("id", required=True)
        psid = addr(p, "sid") if p.has("sid") else None
        if psid is None:
            if dataplane == "srv6":
                raise ConfigError(p.key("sid"), "required by dataplane = \"srv6\"")
            if p.has("sid_prefix"):
                raise ConfigError(p.key("sid_prefix"), "set without the peer's sid")
            sp = None
        else:
            sp = p.network("sid_prefix") if p.has("sid_prefix") else IPv6Network(f"{psid}/128")
            if psid not in sp:
                raise ConfigError(p.key("sid_prefix"), f"{sp} does not hold the peer's sid {psid}")
        peers.append(MobilityPeer(pid, psid, sp, addr(p, "core_address")))
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


def _parse_rate(t: _Table, name: str, default: RateLimit, s: float) -> RateLimit:
    v = t.get(name)
    if v is None:
        return RateLimit(default.count, default.interval * s)
    r = _Table(v, t.key(name))
    count = r.int_("count", default.count, lo=0)
    interval = r.num("interval", default.interval * s, lo=1e-6)
    r.done()
    return RateLimit(count, interval)


def _parse_limits(t: _Table, prof: TimerProfile) -> Limits:
    s = prof.scale
    d = Limits()
    caps = dict(d.max_bindings_per_type)
    if t.has("max_bindings_per_type"):
        ct = _Table(t.get("max_bindings_per_type"), t.key("max_bindings_per_type"))
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


def _check_conninfo(t: _Table, name: str, conninfo: str) -> None:
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


def _parse_lease_store(t: _Table, path) -> tuple[LeaseStoreConfig | None, dict]:
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
    token = _TABLES.set([])
    try:
        return _parse_config(data, base_dir)
    except ConfigError:
        for t in _TABLES.get() or []:
            hint = t.misspelt()
            if hint:
                raise ConfigError(t.key(hint[0]),
                                  f"unknown key; did you mean {hint[1]!r}?") from None
        raise
    finally:
        _TABLES.reset(token)


def _parse_config(data: dict, base_dir: Path | None = None) -> RouterConfig:
    top = _Table(data, "")
    prof = _parse_timers(_Table(top.get("timers", {}), "timers"))
    r = _Table(top.get("router", {}), "router")
    s = prof.scale

    def path(name: str, default: str) -> Path:
        p = Path(r.str_(name, default))
        return (base_dir / p) if base_dir and not p.is_absolute() else p

    def tpath(t: _Table, name: str) -> Path:
        p = Path(t.str_(name))
        return (base_dir / p) if base_dir and not p.is_absolute() else p

    lease_store, sqlite_keys = None, {}
    if top.has("lease_store"):
        lease_store, sqlite_keys = _parse_lease_store(
            _Table(top.get("lease_store"), "lease_store"), tpath)
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
                              f"must be \"llt\", \"ll\" or a hex DUID: {exc}") from None
    dns = []
    for a in r.get("dns_servers", []) or []:
        try:
            dns.append(IPv6Address(a))
        except ValueError as exc:
            raise ConfigError(r.key("dns_servers"), str(exc)) from None
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
                                          _ceil_int(300 * s), lo=0, hi=0xFFFFFFFE),
        "dns_servers": tuple(dns),
        "log_rate_limit": r.num("log_rate_limit", 10.0, lo=0),
        "timers": prof,
    }
    r.done()
    kwargs["lease_store"] = lease_store
    kwargs["limits"] = _parse_limits(_Table(top.get("limits", {}), "limits"), prof)
    if top.has("mobility"):
        kwargs["mobility"] = _parse_mobility(_Table(top.get("mobility"), "mobility"))
    ifaces = []
    for i, it in enumerate(top.tables("interface")):
        ifaces.append(_parse_interface(_Table(it, f"interface[{i}]"), prof))
    names = [i.name for i in ifaces]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ConfigError(f"interface[{i}].name", f"interface {n!r} is configured twice")
    if not ifaces:
        raise ConfigError("interface", "at least one [[interface]] is required")
    _no_overlap([sp for i, it in enumerate(ifaces)
                 for sp in _pool_spaces(it.pools, f"interface[{i}]")])
    top.done()
    return RouterConfig(interfaces=tuple(ifaces), **kwargs)


def load_config(path: str | Path) -> RouterConfig:
    """Read and validate the TOML file at ``path``. Raises :class:`ConfigError`
    (the key is ``""`` for a TOML syntax error, whose reason gives line and
    column) or :class:`OSError` if the file cannot be read."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"not valid TOML: {exc}") from None
    return parse_config(data, base_dir=p.parent)
