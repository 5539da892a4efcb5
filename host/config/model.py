"""The host agent's configuration model: one frozen, validated dataclass.

:class:`HostConfig` is what ``host.config.parse`` builds from the ``[host]``
table of a TOML file (``host/example.toml``) and what the host core runs
with; :class:`Timers` are the client-side protocol constants it derives.
Nothing here reads a file: the core imports this module, never the parser.

Timers: ``timer_profile = "rfc"`` uses the RFC 8415 §7.6 and RFC 4861 §10
constants as they are (production); ``"lab"`` multiplies every client-side
duration (retransmission times, MRD, delays, rate-limit window) by
``timer_scale``. Lifetimes and T1/T2 come from the server and are never scaled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from ipaddress import IPv6Address
from pathlib import Path
from types import MappingProxyType

from odm_wire import constants as C
from odm_wire.constants import ODM_PEN, MobilityType

__all__ = ["DEFAULT_API_SOCKET", "HostConfig", "HostConfigError", "Timers",
           "default_release_policy"]

DEFAULT_API_SOCKET = Path("/run/odm/host.sock")


class HostConfigError(ValueError):
    """A host config value that is missing, of the wrong type, or out of range.
    ``key`` is the dotted path of the offending key (``host.timer_scale``;
    ``""`` for the file as a whole), ``reason`` what is wrong: the message is
    ``key: reason``, as the router's ``ConfigError``."""

    def __init__(self, reason: str, key: str = "") -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


def _duid_octets(text: str, key: str) -> bytes:
    """A DUID's hex (colons taken out by the parser) → octets, 3..130 of them
    (RFC 8415 §11.1); else :class:`HostConfigError` naming ``key``, in the
    words of router.config.parse_duid_text."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise HostConfigError(f"{text!r} is not hex octets (like 00:01:00:01:…)", key) from None
    if not 2 < len(raw) <= 130:
        raise HostConfigError(f"{text!r} is {len(raw)} octets; a DUID is 3..130 "
                              "(RFC 8415 §11.1)", key)
    return raw


@dataclass(frozen=True)
class Timers:
    """Client-side protocol constants in seconds (RFC 8415 §7.6, §14.1; RFC 4861
    §10). ``Timers.rfc()`` gives the RFC values; ``scaled(f)`` multiplies every
    duration by ``f`` (counts such as MRC stay)."""

    sol_max_delay: float = C.SOL_MAX_DELAY
    sol_timeout: float = C.SOL_TIMEOUT
    sol_max_rt: float = C.SOL_MAX_RT
    req_timeout: float = C.REQ_TIMEOUT
    req_max_rt: float = C.REQ_MAX_RT
    req_max_rc: int = C.REQ_MAX_RC
    cnf_max_delay: float = C.CNF_MAX_DELAY
    cnf_timeout: float = C.CNF_TIMEOUT
    cnf_max_rt: float = C.CNF_MAX_RT
    cnf_max_rd: float = C.CNF_MAX_RD
    ren_timeout: float = C.REN_TIMEOUT
    ren_max_rt: float = C.REN_MAX_RT
    reb_timeout: float = C.REB_TIMEOUT
    reb_max_rt: float = C.REB_MAX_RT
    rel_timeout: float = C.REL_TIMEOUT
    rel_max_rc: int = C.REL_MAX_RC
    #: §14.1 rate limit: at most ``rate_limit_count`` messages per
    #: ``rate_limit_interval`` seconds (token bucket).
    rate_limit_count: int = 20
    rate_limit_interval: float = 20.0
    max_rtr_solicitation_delay: float = C.MAX_RTR_SOLICITATION_DELAY
    rtr_solicitation_interval: float = C.RTR_SOLICITATION_INTERVAL
    max_rtr_solicitations: int = C.MAX_RTR_SOLICITATIONS

    @classmethod
    def rfc(cls) -> Timers:
        return cls()

    def scaled(self, factor: float) -> Timers:
        """Every duration multiplied by ``factor`` (> 0); counts unchanged."""
        if not factor > 0:
            raise HostConfigError(f"timer scale must be > 0, not {factor}")
        kw = {}
        for f in fields(self):
            if f.type == "float":
                kw[f.name] = float(getattr(self, f.name)) * factor
        return replace(self, **kw)


_RELEASE_CHOICES = ("release", "keep")


def release_choice(v: object) -> str:
    """What is wrong with ``v`` as a release policy value."""
    return f"must be \"release\" or \"keep\", not {v!r}"


def default_release_policy() -> Mapping[MobilityType, str]:
    """What is done with an on-demand prefix of each type when its last
    socket closes, unless the configuration says otherwise."""
    return MappingProxyType({
        MobilityType.FIXED: "keep",
        MobilityType.SESSION_LASTING: "release",
        MobilityType.NON_PERSISTENT: "keep",
        MobilityType.GRACEFUL_REPLACEMENT: "keep",
    })


@dataclass(frozen=True)
class HostConfig:
    """Everything the host agent is told. Times in seconds, lengths in bits."""

    #: The interface the agent runs on (RS/RA, DHCPv6 on UDP 546, addresses).
    iface: str = "eth0"
    #: Unix stream socket the setsc() API listens on.
    api_socket: Path = DEFAULT_API_SOCKET
    #: Enterprise number of odm's OPTION_VENDOR_OPTS (DESIGN §2).
    pen: int = ODM_PEN
    #: DUID as hex (e.g. ``"00030001020000000002"``); None: DUID-LL from the MAC.
    duid: str | None = None
    #: Add Rapid Commit (RFC 8415 §21.14) to Solicits.
    rapid_commit: bool = True
    #: Ask for one untyped (legacy) IA_PD at start (spec §5.2: no type).
    legacy_pd: bool = True
    #: Types acquired at start by host policy (spec §3.4 "initial set").
    boot_types: tuple[MobilityType, ...] = ()
    #: Prefix length hinted in the IAPREFIX of a Solicit/Request (RFC 8415 §18.2.1).
    prefix_length_hint: int = 64
    #: Also send the type as a top-level odm vendor option when a message holds
    #: exactly one typed IA_PD (what ISC Kea can classify on; docs/kea-typed.md).
    top_level_type: bool = False
    #: Interface identifiers: ``"stable"`` (RFC 7217 style hash) or ``"random"``.
    iid: str = "stable"
    #: Secret key of the stable IIDs, hex; None: ``secret_file`` (created if missing).
    secret: str | None = None
    secret_file: Path = Path("/var/lib/odm/host.secret")
    #: Upper bound of one setsc() call that has to ask the network.
    setsc_timeout: float = 5.0
    #: What to do with an on-demand prefix when its last socket closes.
    release_policy: Mapping[MobilityType, str] = field(default_factory=default_release_policy)
    #: ``"rfc"`` or ``"lab"`` (client durations scaled by ``timer_scale``).
    timer_profile: str = "rfc"
    timer_scale: float = 0.05
    #: Delay the first Solicit by up to SOL_MAX_DELAY (RFC 8415 §18.2.1).
    first_solicit_delay: bool = True
    #: Delay the first Rebind after a move by up to CNF_MAX_DELAY (the Confirm's
    #: first-message delay, RFC 8415 §18.2.3); off: it goes at once (§18.2.12
    #: takes only the Confirm's retransmission parameters). On for links where
    #: many hosts see the same carrier event.
    move_rebind_delay: bool = False
    #: Turn off kernel SLAAC on the interface (autoconf=0, accept_ra kept: 2 if
    #: forwarding) so the agent forms every address itself.
    manage_sysctls: bool = True
    #: Install the default route from RAs (needed only when accept_ra is 0).
    install_default_route: bool = False
    #: How often the agent checks that a setsc()'d socket is still open.
    socket_poll_interval: float = 1.0
    #: How long a router with lifetime 0 is remembered (move detection).
    router_memory: float = 1800.0
    #: RFC 8415 §14.1 send-rate limit: at most ``rate_limit_count`` DHCPv6
    #: messages per ``rate_limit_interval`` seconds (None: the profile's,
    #: 20 per 20 s scaled). A host whose applications ask ON_NET in bursts
    #: needs a larger bucket; above it, sends wait for a token.
    rate_limit_count: int | None = None
    rate_limit_interval: float | None = None
    # -- security (docs/security.md, Host) --------------------------------------
    #: TOML file of who may ask for which type and how much (host/policy_file.py reads
    #: it, host/core/policy.py decides); None: the built-in default policy.
    policy_file: Path | None = None
    #: Routers (link-local addresses) whose RAs are heeded; empty: any router.
    trusted_routers: tuple[str, ...] = ()
    #: DHCPv6 servers (DUIDs as hex) whose Advertise/Reply are heeded; empty: any.
    trusted_server_duids: tuple[str, ...] = ()
    #: Sources (server or relay addresses) of heeded Advertise/Reply; empty: any.
    trusted_server_addresses: tuple[str, ...] = ()
    #: setsc() API connections at once (also bounded by RLIMIT_NOFILE less 64),
    #: and per non-root uid (host/io/api_server.py, "Limits").
    api_max_connections: int = 512
    api_max_connections_per_uid: int = 128
    #: JSON file where the agent keeps its IA_PDs, addresses and references
    #: (written atomically on every change) so that after a crash it re-adopts
    #: them (host/state.py); None: nothing kept.
    state_file: Path | None = None
    #: Privacy (spec §7): a delegated address of a type in ``rotate_types`` is
    #: replaced for new sockets by one from a new prefix after this many seconds
    #: (None: never) ...
    address_max_age: float | None = None
    #: ... or after this many octets were sent from it (counted by the kernel,
    #: nftables; None: never).
    address_max_bytes: int | None = None
    #: Types whose addresses rotate (None in the tuple: the legacy prefix).
    rotate_types: tuple[MobilityType | None, ...] = (
        MobilityType.SESSION_LASTING, MobilityType.NON_PERSISTENT,
        MobilityType.GRACEFUL_REPLACEMENT)
    #: A replaced address with no socket left is released after this many seconds.
    privacy_drain: float = 60.0
    #: How often the kernel's per-address octet counters are read (seconds).
    byte_poll_interval: float = 2.0

    @property
    def timers(self) -> Timers:
        t = Timers.rfc() if self.timer_profile == "rfc" else Timers.rfc().scaled(self.timer_scale)
        if self.rate_limit_count is not None:
            t = replace(t, rate_limit_count=self.rate_limit_count)
        if self.rate_limit_interval is not None:
            t = replace(t, rate_limit_interval=self.rate_limit_interval)
        return t

    def validate(self) -> HostConfig:
        """Raise :class:`HostConfigError` for an impossible value, its ``key``
        the value's path in the file (``host.timer_scale``,
        ``host.trusted_routers[1]``); return self."""
        def bad(key: str, reason: str) -> HostConfigError:
            return HostConfigError(reason, f"host.{key}")

        if (not self.iface or len(self.iface) > 15 or self.iface in (".", "..")
                or any(c in self.iface for c in "/: \t\n")):
            raise bad("iface", f"{self.iface!r} is not an interface name (1-15 characters, "
                      "no '/', ':' or space: the kernel's IFNAMSIZ and dev_valid_name)")
        if Path(self.api_socket) == Path(""):
            raise bad("api_socket", "is empty: give the path of the API socket")
        seen = set()
        for i, bt in enumerate(self.boot_types):
            if bt in seen:
                raise bad(f"boot_types[{i}]", f"{getattr(bt, 'cli_name', bt)} is named twice "
                          "(one address of each type is acquired at start)")
            seen.add(bt)
        if not 0 < self.pen < 2**32:
            raise bad("pen", f"{self.pen} is not a 32-bit enterprise number")
        if not 1 <= self.prefix_length_hint <= 128:
            raise bad("prefix_length_hint", f"{self.prefix_length_hint} is not in 1..128")
        if self.iid not in ("stable", "random"):
            raise bad("iid", f"must be \"stable\" or \"random\", not {self.iid!r}")
        if self.timer_profile not in ("rfc", "lab"):
            raise bad("timer_profile", f"must be \"rfc\" or \"lab\", not {self.timer_profile!r}")
        for k in ("timer_scale", "setsc_timeout", "socket_poll_interval", "byte_poll_interval",
                  "rate_limit_interval", "address_max_age"):
            v = getattr(self, k)
            if v is not None and not 0 < v < math.inf:
                raise bad(k, f"must be a finite number > 0, not {v!r}")
        if not self.privacy_drain >= 0:
            raise bad("privacy_drain", f"must be >= 0, not {self.privacy_drain!r}")
        for k in ("rate_limit_count", "api_max_connections", "api_max_connections_per_uid",
                  "address_max_bytes"):
            v = getattr(self, k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise bad(k, f"must be an integer >= 1, not {v!r}")
        for key in ("trusted_routers", "trusted_server_addresses"):
            for i, a in enumerate(getattr(self, key)):
                try:
                    ip = IPv6Address(a)
                except ValueError:
                    raise bad(f"{key}[{i}]", f"{a!r} is not an IPv6 address") from None
                if key == "trusted_routers" and not ip.is_link_local:
                    raise bad(f"{key}[{i}]", f"{a} is not link-local (RAs come from "
                              "link-local addresses, RFC 4861 §6.1.2)")
        for i, d in enumerate(self.trusted_server_duids):
            _duid_octets(d, f"host.trusted_server_duids[{i}]")
        for t, v in self.release_policy.items():
            if v not in _RELEASE_CHOICES:
                name = t.cli_name if isinstance(t, MobilityType) else t
                raise bad(f"release_policy.{name}", release_choice(v))
        if self.duid is not None:
            _duid_octets(self.duid, "host.duid")
        if self.secret is not None:
            try:
                bytes.fromhex(self.secret)
            except ValueError:
                raise bad("secret", "is not hex octets") from None
        return self

    def policy_for(self, t: MobilityType) -> str:
        return self.release_policy.get(t, "keep")
