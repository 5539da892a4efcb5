"""The router agent's configuration model: frozen, validated dataclasses.

What ``router.config.parse`` builds from a TOML file (``router/example.toml``)
and what the router core runs with. Nothing here reads a file: the core
imports this module, never the parser.

Timer profiles (DESIGN §5): ``rfc`` uses the RFC 4861 §10 constants and the
RFC defaults as they are. ``scaled`` multiplies the constants
(MAX_INITIAL_RTR_ADVERT_INTERVAL, MIN_DELAY_BETWEEN_RAS, MAX_RA_DELAY_TIME) and
every *default* duration the parser fills in by ``scale``, so a lab or a test
runs the same state machines a hundred times faster. Nothing is ever changed
by editing a constant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

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
    "LIMIT_TYPE_NAMES",
    "ConfigError",
    "ConfigWarning",
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
    "parse_duid_text",
    "t1_t2",
    "type_key",
]


class ConfigError(OdmError, ValueError):
    """A configuration that cannot be used. ``key`` is the dotted path of the
    offending key (``""`` for the file as a whole), ``reason`` what is wrong."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class ConfigWarning:
    """A setting that is valid but does not do what it says (as radvd warns
    and runs on): ``key`` is the dotted path of the key at fault, ``reason``
    what happens and what to write instead. ``odm router check-config`` shows
    it (exit 0) and the router logs it when it loads the file."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


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
        return t1_t2(self.preferred_lifetime, self.t1, self.t2)


def t1_t2(preferred: int, t1: int | None, t2: int | None) -> tuple[int, int]:
    """(T1, T2) in seconds for a grant with ``preferred`` lifetime: ``t1`` /
    ``t2`` where configured, else 0.5 and 0.8 of the preferred lifetime
    (RFC 8415 §21.21 recommends these); an infinite preferred lifetime gives
    infinite T1/T2 (§7.7)."""
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

    def lifetimes(self) -> tuple[int, int]:
        """(preferred, valid) seconds. Every reservation of a parsed
        configuration has both (the parser fills in those of the type's first
        pool, or the defaults); one built without them is a programming error."""
        pref, valid = self.preferred_lifetime, self.valid_lifetime
        if pref is None or valid is None:
            raise ValueError(f"reservation {self.prefix}: lifetimes not resolved")
        return pref, valid


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
    source_address_validation: bool = True
    """forward a host's packet only from this link's prefixes (RA prefixes,
    pools, reservations, :attr:`source_prefixes`) or a prefix served here for
    its anchor: ingress filtering, BCP 38 (:mod:`router.dataplane.savi`)"""
    source_prefixes: tuple[IPv6Network, ...] = ()
    """further source prefixes this link forwards: networks behind a router
    on it that this router does not delegate (a relay's downstream links)"""

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


#: how a DUID is written, for the errors that name one
DUID_FORM = "hex octets (like 00:01:00:01:…)"


def parse_duid_text(text: str) -> bytes:
    """A DUID written as hex, with or without ``:`` / ``-`` separators
    (``00:03:00:01:02:00:00:00:00:01``) → its wire octets (3..130 of them,
    RFC 8415 §11.1). Raises ValueError saying what is wrong in these words:
    ``'zz' is not hex octets (like 00:01:00:01:…)``."""
    h = text.replace(":", "").replace("-", "").replace(" ", "")
    try:
        raw = bytes.fromhex(h)
    except ValueError:
        raise ValueError(f"{text!r} is not {DUID_FORM}") from None
    if len(raw) < 3 or len(raw) > 130:
        raise ValueError(f"{text!r} is {len(raw)} octets; a DUID is 3..130 (RFC 8415 §11.1)")
    return raw


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
    router_id: str = field(default_factory=lambda: os.uname().nodename)  # the host name
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
    warnings: tuple[ConfigWarning, ...] = field(default=(), compare=False)
    """what the parser found valid but probably not meant (:class:`ConfigWarning`)"""

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
        known = {i.name for i in self.interfaces}
        if len(self.interfaces) == 1 and len(names) == 1 and names[0] not in known:
            return replace(self, interfaces=(replace(self.interfaces[0], name=names[0]),))
        missing = [n for n in names if n not in known]
        if missing:
            raise ConfigError("interface", f"no [[interface]] named {', '.join(missing)}")
        return replace(self, interfaces=tuple(i for i in self.interfaces if i.name in names))
