"""Lab configuration: node and interface names, the address plan, per-router data.

Everything the lab builds is derived from one frozen :class:`LabConfig`. The
defaults give the topology of DESIGN §4; a TOML file (:func:`lab.config.parse.load_config`) can
change the name prefix, the state directory and any address or pool, and can add routers (``ar3``
...). Addresses are all documentation space (2001:db8::/32, RFC 3849) and only ever live inside the
lab's namespaces.

Default address plan
--------------------

============================  ======================  ==========================
what                          where                   default
============================  ======================  ==========================
core link prefix              cn ``core`` bridge      2001:db8:0:c0::/64
cn core address               cn ``core``             2001:db8:0:c0::100/64
ar1 core address              ar1 ``core``            2001:db8:0:c0::1/64
ar2 core address              ar2 ``core``            2001:db8:0:c0::2/64
ar1 access link-local         ar1 ``acc``             fe80::1/64
ar2 access link-local         ar2 ``acc``             fe80::2/64
ar1 access (on-link) prefix   ar1 ``acc`` has ::1     2001:db8:a1::/64
ar2 access (on-link) prefix   ar2 ``acc`` has ::1     2001:db8:a2::/64
ar1 PD pool                   delegated by ar1        2001:db8:1000::/36
ar2 PD pool                   delegated by ar2        2001:db8:2000::/36
mh ``mh0`` MAC                mh                      02:00:00:00:00:10
============================  ======================  ==========================

Routes the lab installs:

- ``cn``: each router's PD pool and access prefix via that router's core address.
- each router: default via the cn core address; every *other* router's pool
  and access prefix via that router's core address; its own PD pool as an
  ``unreachable`` route (the usual null route for a delegating router's
  aggregate: delegated /64s installed by the router agent are more specific, the
  undelegated rest is answered with ICMPv6 unreachable instead of looping). A
  router agent installing its own aggregate must use ``replace``.

Inter-router tunnels (ip6tnl, ip6gre) run over the core link between the
routers' core addresses (2001:db8:0:c0::1 <-> 2001:db8:0:c0::2): all routers
and cn share one L2 segment, the ``core`` bridge in cn.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, field, replace
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

__all__ = [
    "ACCESS_BRIDGE",
    "ACCESS_PORT",
    "CN",
    "CORE_BRIDGE",
    "DEFAULT_CN_ADDRESS",
    "DEFAULT_CORE_PREFIX",
    "DEFAULT_STATE_DIR",
    "HOST",
    "HOST_IF",
    "ROUTER_CORE_IF",
    "LabConfig",
    "LabConfigError",
    "LabRouter",
    "default_routers",
]

#: Interface names. Every interface lives in a lab namespace, so the names are
#: short and fixed: only the namespace names carry the prefix.
CORE_BRIDGE = "core"  # in cn: the core link's bridge; carries cn's core address
#: in each router: veth to the core bridge (cn side: port named after the router)
ROUTER_CORE_IF = "core"
ACCESS_BRIDGE = "acc"  # in each router: its access link; stable, exists before the host arrives
ACCESS_PORT = "mhlink"  # the moving veth end (peer of mh0); a port of the current router's acc
HOST_IF = "mh0"  # in mh: the host's interface; never moves

CN = "cn"
HOST = "mh"

DEFAULT_STATE_DIR = Path("/run/odm-lab")
DEFAULT_CORE_PREFIX = IPv6Network("2001:db8:0:c0::/64")
DEFAULT_CN_ADDRESS = IPv6Address("2001:db8:0:c0::100")

_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,23}$")
_IFNAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,14}$")
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class LabConfigError(ValueError):
    """A lab configuration is invalid; the message names the field and why."""


@dataclass(frozen=True)
class LabRouter:
    """One access router of the lab (its node, addresses and pool; the router
    agent's own configuration is :class:`router.config.RouterConfig`).

    Attributes:
        name: node name, also the router's namespace suffix and the name of
            its bridge port in cn (so at most 15 characters, ``[a-z][a-z0-9_]*``).
        core_address: the router's address on the core link (inside
            ``LabConfig.core_prefix``).
        access_link_local: the link-local address of the router's ``acc``
            bridge; the source of its RAs. Distinct per router so a host sees a
            different router after a move.
        access_prefix: on-link prefix of the router's access link; the router
            holds its ``::1``. The router agent may advertise it or not.
        pd_pool: the prefix space this router delegates from (DHCPv6-PD).
        access_mac: MAC address of the ``acc`` bridge (stable across runs).
        core_mac: MAC address of the router's ``core`` veth; None (the
            default) derives ``02:00:00:00:c0:NN`` from the router's position
            (ar1 :11, ar2 :12 ...).
    """

    name: str
    core_address: IPv6Address
    access_link_local: IPv6Address
    access_prefix: IPv6Network
    pd_pool: IPv6Network
    access_mac: str
    core_mac: str | None = None

    def __post_init__(self) -> None:
        where = f"routers.{self.name}"
        if not isinstance(self.name, str) or not _IFNAME_RE.match(self.name):
            raise LabConfigError(f"{where}: name wants [a-z][a-z0-9_]*, at most 15 characters")
        ca = _addr(f"{where}.core_address", self.core_address)
        ll = _addr(f"{where}.access_link_local", self.access_link_local)
        ap = _net(f"{where}.access_prefix", self.access_prefix)
        pool = _net(f"{where}.pd_pool", self.pd_pool)
        mac = _mac(f"{where}.access_mac", self.access_mac)
        if self.core_mac is not None:
            object.__setattr__(self, "core_mac", _mac(f"{where}.core_mac", self.core_mac))
        if not ll.is_link_local:
            raise LabConfigError(f"{where}.access_link_local {ll} is not link-local")
        if ap.prefixlen != 64:
            raise LabConfigError(f"{where}.access_prefix {ap}: want a /64")
        if pool.prefixlen > 64:
            raise LabConfigError(f"{where}.pd_pool {pool}: want /64 or shorter")
        for k, v in (("core_address", ca), ("access_link_local", ll), ("access_prefix", ap),
                     ("pd_pool", pool), ("access_mac", mac)):
            object.__setattr__(self, k, v)

    @property
    def access_address(self) -> IPv6Address:
        """The router's global address on its access link: ``access_prefix::1``."""
        return self.access_prefix.network_address + 1


def default_routers() -> tuple[LabRouter, ...]:
    return (
        LabRouter(
            name="ar1",
            core_address=IPv6Address("2001:db8:0:c0::1"),
            access_link_local=IPv6Address("fe80::1"),
            access_prefix=IPv6Network("2001:db8:a1::/64"),
            pd_pool=IPv6Network("2001:db8:1000::/36"),
            access_mac="02:00:00:00:a1:01",
        ),
        LabRouter(
            name="ar2",
            core_address=IPv6Address("2001:db8:0:c0::2"),
            access_link_local=IPv6Address("fe80::2"),
            access_prefix=IPv6Network("2001:db8:a2::/64"),
            pd_pool=IPv6Network("2001:db8:2000::/36"),
            access_mac="02:00:00:00:a2:01",
        ),
    )


@dataclass(frozen=True)
class LabConfig:
    """Everything needed to build (and later tear down) one lab.

    Attributes:
        prefix: namespace name prefix; namespaces are ``{prefix}-cn``,
            ``{prefix}-ar1`` ... Tests use a unique one per test.
        state_dir: directory holding ``{prefix}/state.json``.
        core_prefix: the core link's prefix (a /64).
        cn_address: cn's address on the core link.
        core_mac: MAC address of cn's ``core`` bridge.
        host_mac: MAC address of the host's ``mh0``.
        routers: the access routers, in order; at least one.
        initial_router: the router the host is attached to after ``up()``.

    Raises:
        LabConfigError: on construction, if any field is invalid (bad prefix,
            address outside the core prefix, overlapping pools, duplicate
            names or addresses, unknown initial router ...).
    """

    prefix: str = "odm"
    state_dir: Path = DEFAULT_STATE_DIR
    core_prefix: IPv6Network = DEFAULT_CORE_PREFIX
    cn_address: IPv6Address = DEFAULT_CN_ADDRESS
    core_mac: str = "02:00:00:00:c0:01"
    host_mac: str = "02:00:00:00:00:10"
    routers: tuple[LabRouter, ...] = field(default_factory=default_routers)
    initial_router: str = "ar1"

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not _PREFIX_RE.match(self.prefix):
            raise LabConfigError(
                f"prefix {self.prefix!r}: want 1-24 characters of [a-z0-9_-], "
                "starting with a letter or digit"
            )
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        object.__setattr__(self, "core_prefix", _net("core_prefix", self.core_prefix))
        object.__setattr__(self, "cn_address", _addr("cn_address", self.cn_address))
        object.__setattr__(self, "core_mac", _mac("core_mac", self.core_mac))
        object.__setattr__(self, "host_mac", _mac("host_mac", self.host_mac))
        routers = tuple(self.routers)
        object.__setattr__(self, "routers", routers)
        if not routers:
            raise LabConfigError("routers: need at least one router")
        if self.core_prefix.prefixlen != 64:
            raise LabConfigError(f"core_prefix {self.core_prefix}: want a /64")
        if self.cn_address not in self.core_prefix:
            raise LabConfigError(f"cn_address {self.cn_address} is not in {self.core_prefix}")
        names: set[str] = set()
        core_addrs = {self.cn_address}
        nets: list[tuple[str, IPv6Network]] = [("core_prefix", self.core_prefix)]
        for r in routers:
            if not isinstance(r, LabRouter):
                raise LabConfigError(f"routers: {r!r} is not a LabRouter")
            where = f"routers.{r.name}"
            if r.name in (CN, HOST, CORE_BRIDGE) or r.name in names:
                raise LabConfigError(f"{where}: name is reserved or used twice")
            names.add(r.name)
            ca, ap, pool = r.core_address, r.access_prefix, r.pd_pool
            if ca not in self.core_prefix:
                raise LabConfigError(f"{where}.core_address {ca} is not in {self.core_prefix}")
            if ca in core_addrs:
                raise LabConfigError(f"{where}.core_address {ca} is used twice")
            core_addrs.add(ca)
            nets += [(f"{where}.access_prefix", ap), (f"{where}.pd_pool", pool)]
        routers = tuple(
            r if r.core_mac is not None else replace(r, core_mac=f"02:00:00:00:c0:{0x11 + i:02x}")
            for i, r in enumerate(routers)
        )
        object.__setattr__(self, "routers", routers)
        lls = [r.access_link_local for r in routers]
        if len(set(lls)) != len(lls):
            raise LabConfigError("routers: access_link_local addresses must differ")
        macs = [self.core_mac, self.host_mac]
        macs += [m for r in routers for m in (r.access_mac, r.core_mac)]
        if len(set(macs)) != len(macs):
            raise LabConfigError("MAC addresses must differ")
        for i, (n1, a) in enumerate(nets):
            for n2, b in nets[i + 1:]:
                if a.overlaps(b):
                    raise LabConfigError(f"{n1} {a} overlaps {n2} {b}")
        if self.initial_router not in names:
            raise LabConfigError(f"initial_router {self.initial_router!r} is not a router")

    # -- names ---------------------------------------------------------------

    @property
    def nodes(self) -> tuple[str, ...]:
        """All node names: ``("cn", "ar1", "ar2", ..., "mh")``."""
        return (CN, *self.router_names, HOST)

    @property
    def router_names(self) -> tuple[str, ...]:
        """The routers' node names, in configuration order."""
        return tuple(r.name for r in self.routers)

    def cli_options(self) -> str:
        """The ``--prefix``/``--state-dir`` options that name this lab again in
        a later ``odm lab`` command (empty for the defaults)."""
        out = f" --prefix {self.prefix}" if self.prefix != "odm" else ""
        if Path(self.state_dir) != DEFAULT_STATE_DIR:
            out += f" --state-dir {self.state_dir}"
        return out

    def netns(self, node: str) -> str:
        """The namespace name of ``node`` (``{prefix}-{node}``).

        Raises:
            LabConfigError: ``node`` is not a node of this lab.
        """
        if node not in self.nodes:
            raise LabConfigError(f"unknown node {node!r}; nodes are {', '.join(self.nodes)}")
        return f"{self.prefix}-{node}"

    def router(self, name: str) -> LabRouter:
        """The :class:`LabRouter` named ``name``.

        Raises:
            LabConfigError: no such router.
        """
        for r in self.routers:
            if r.name == name:
                return r
        raise LabConfigError(f"unknown router {name!r}; routers are {', '.join(self.router_names)}")

    @property
    def state_path(self) -> Path:
        """``state_dir/prefix/state.json``."""
        return self.state_dir / self.prefix / "state.json"

    # -- (de)serialisation ---------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (addresses as strings); :meth:`from_dict` inverts it."""
        d = asdict(self)
        d["state_dir"] = str(self.state_dir)
        d["core_prefix"] = str(self.core_prefix)
        d["cn_address"] = str(self.cn_address)
        d["routers"] = {
            r.name: {
                "core_address": str(r.core_address),
                "access_link_local": str(r.access_link_local),
                "access_prefix": str(r.access_prefix),
                "pd_pool": str(r.pd_pool),
                "access_mac": r.access_mac,
                "core_mac": r.core_mac,
            }
            for r in self.routers
        }
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabConfig:
        """Build a config from a dict shaped like the TOML file (see
        :func:`lab.config.parse.load_config`): :func:`lab.config.parse.lab_config_from_dict`.

        Raises:
            LabConfigError: unknown keys, wrong types or an invalid result.
        """
        from lab.config.parse import lab_config_from_dict
        return lab_config_from_dict(data)


def _addr(name: str, value: Any) -> IPv6Address:
    try:
        return IPv6Address(value) if not isinstance(value, IPv6Address) else value
    except ValueError as exc:
        raise LabConfigError(f"{name}: {exc}") from exc


def _net(name: str, value: Any) -> IPv6Network:
    try:
        return value if isinstance(value, IPv6Network) else ipaddress.IPv6Network(value)
    except ValueError as exc:
        raise LabConfigError(f"{name}: {exc}") from exc


def _mac(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _MAC_RE.match(value.lower()):
        raise LabConfigError(f"{name}: {value!r} is not a MAC address like 02:00:00:00:00:01")
    value = value.lower()
    if int(value[:2], 16) & 1:
        raise LabConfigError(f"{name}: {value} is a multicast MAC")
    return value
