"""The odm lab: four network namespaces joined by veth pairs, built with pyroute2.

Topology (DESIGN §4)::

            cn  (correspondent)                     namespace {prefix}-cn
            [core] bridge 2001:db8:0:c0::100/64
             |port "ar1"            |port "ar2"          <- core link: one L2 segment
      [core] 2001:db8:0:c0::1    [core] 2001:db8:0:c0::2
            ar1                        ar2              namespaces {prefix}-ar1, -ar2
      [acc] bridge fe80::1       [acc] bridge fe80::2   <- each router's access link
            2001:db8:a1::1/64          2001:db8:a2::1/64
             |port "mhlink"  ..move..>  |
      [mh0] 02:00:00:00:00:10                           namespace {prefix}-mh
            mh  (mobile host)

Interfaces (names are fixed; only namespace names carry the prefix):

========  ===========  =============================================================
node      interface    role
========  ===========  =============================================================
cn        ``core``     bridge of the core link; cn's core address is on it
cn        ``ar1``...   veth ends enslaved to ``core``, one per router (named after it)
ar*       ``core``     veth to cn's bridge; the router's core address
ar*       ``acc``      bridge = the router's access link; link-local + access prefix
                       ::1; exists (without carrier) while the host is elsewhere
ar*       ``mhlink``   the peer of mh0, a port of ``acc``; only in the router the host
                       is attached to
mh        ``mh0``      the host's interface; never moves, keeps ifindex and addresses
========  ===========  =============================================================

A **move** (:meth:`Lab.move`) re-homes ``mhlink`` from the current router's
namespace to the target router's, enslaves it to that router's ``acc`` and sets
it up. The host's ``mh0`` loses carrier when its peer leaves and regains it in
the new router (``IFLA_CARRIER_CHANGES`` grows by 2); its ifindex, MAC and
addresses stay. A router agent should bind to ``acc`` (stable ifindex, stable
link-local) and watch its carrier (RTM_NEWLINK) to see the host arrive or leave.
``acc`` has no carrier while no host is attached; its addresses are usable
anyway (``accept_dad=0``), but nothing can be sent to a host that is not there.

Per-namespace settings: ``net.ipv6.conf.{all,default}.accept_dad=0`` in cn and
the routers (no DAD delay on lab addresses), ``net.ipv6.conf.all.forwarding=1``
in the routers; bridge ports have ``addr_gen_mode=none`` (no link-local of
their own, no noise in captures); bridges have STP and multicast snooping off.
mh's sysctls are left to the host agent (see :meth:`Lab.sysctl`). TX checksum
offload is off on every veth end and bridge, so captured packets carry real
checksums.

Running things in a namespace: :meth:`Lab.exec` (run to completion),
:meth:`Lab.spawn` (background, output to a log) in :mod:`lab.processes`;
:meth:`Lab.capture` (tcpdump) in :mod:`lab.captures`; :meth:`Lab.iproute` (a
pyroute2 ``IPRoute`` inside the namespace) here; :meth:`Lab.status` in
:mod:`lab.status`.

Every namespace and every process is recorded in the state file before it is created
(:mod:`lab.state`), so :meth:`Lab.down` (:mod:`lab.teardown`) -- in this process or a later one --
removes exactly what the lab made: processes are stopped by PID (checked
against their start time), never by name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

from pyroute2 import IPRoute, NetlinkError
from pyroute2 import netns as _netns

from lab import nsutil
from lab.captures import LabCaptures
from lab.config import (
    ACCESS_BRIDGE,
    ACCESS_PORT,
    CN,
    CORE_BRIDGE,
    HOST,
    HOST_IF,
    ROUTER_CORE_IF,
    LabConfig,
    LabConfigError,
    LabRouter,
)
from lab.errors import LabError
from lab.processes import LabProcesses
from lab.state import STATE_VERSION, StateStore
from lab.status import LabStatus
from lab.teardown import LabTeardown

log = logging.getLogger(__name__)


def _addr_gen_none(ipr: IPRoute, index: int) -> None:
    """IFLA_INET6_ADDR_GEN_MODE = NONE: the kernel makes no link-local for it."""
    ipr.link(
        "set",
        index=index,
        IFLA_AF_SPEC={"attrs": [["AF_INET6", {"attrs": [["IFLA_INET6_ADDR_GEN_MODE", 1]]}]]},
    )


def _index(ipr: IPRoute, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def _need_index(ipr: IPRoute, ifname: str, where: str) -> int:
    idx = _index(ipr, ifname)
    if idx is None:
        raise LabError(f"{where}: interface {ifname} not found")
    return idx


class Lab(LabProcesses, LabCaptures, LabStatus, LabTeardown):
    """One lab: build it, run things in it, move the host, tear it down.

    ``Lab(config)`` only looks: it creates nothing until :meth:`up`. If a state
    file for the prefix exists (a lab already up, maybe from another process),
    the recorded configuration is used, so ``Lab(prefix="odm").down()`` cleans
    up a lab left behind by a crashed process.

    Used as a context manager, ``with Lab(cfg) as lab:`` brings the lab up
    (unless this object already did) and always calls :meth:`down` on exit.
    Dropping a ``Lab`` object without ``down()`` leaves the lab up: there is no
    ``__del__``; the state file remembers it.

    Args:
        config: the configuration; default ``LabConfig()``.
        prefix: overrides ``config.prefix`` (namespace names ``{prefix}-cn`` ...).
        state_dir: overrides ``config.state_dir``.

    Raises:
        LabConfigError: an invalid prefix or configuration.
        LabError: the state file exists but cannot be read.
    """

    def __init__(
        self,
        config: LabConfig | None = None,
        *,
        prefix: str | None = None,
        state_dir: str | Path | None = None,
    ) -> None:
        config = config or LabConfig()
        over: dict[str, Any] = {}
        if prefix is not None:
            over["prefix"] = prefix
        if state_dir is not None:
            over["state_dir"] = Path(state_dir)
        if over:
            config = replace(config, **over)
        self._requested = config
        self._store = StateStore(config.state_path)
        self._children: dict[int, subprocess.Popen] = {}
        self._netns_made: list[str] = []
        self._brought_up = False
        recorded = self._load()
        self.config: LabConfig = config
        if recorded is not None:
            try:
                cfg = LabConfig.from_dict(recorded["config"])
                self.config = replace(cfg, state_dir=config.state_dir)
            except (KeyError, LabConfigError) as exc:
                raise LabError(f"{self.state_path}: bad recorded config: {exc}") from exc

    # -- basics ----------------------------------------------------------------

    @property
    def prefix(self) -> str:
        """The namespace name prefix."""
        return self.config.prefix

    @property
    def state_path(self) -> Path:
        """Path of the state file (``{state_dir}/{prefix}/state.json``)."""
        return self._store.path

    @property
    def nodes(self) -> tuple[str, ...]:
        """Node names: ``("cn", "ar1", "ar2", "mh")`` with the default config."""
        return self.config.nodes

    @property
    def is_up(self) -> bool:
        """True if the state file says the lab is up (phase ``up``)."""
        st = self._load()
        return st is not None and st.get("phase") == "up"

    @property
    def attached(self) -> str | None:
        """The router the host is attached to, or None if the lab is not up."""
        st = self._load()
        return None if st is None else st.get("attached")

    def netns(self, node: str) -> str:
        """Namespace name of ``node``. Raises :class:`LabError` for an unknown node."""
        try:
            return self.config.netns(node)
        except LabConfigError as exc:
            raise LabError(str(exc)) from exc

    def router(self, name: str) -> LabRouter:
        """Per-router data (core address, access link-local and prefix, PD pool).

        Raises:
            LabError: unknown router.
        """
        try:
            return self.config.router(name)
        except LabConfigError as exc:
            raise LabError(str(exc)) from exc

    def _load(self) -> dict[str, Any] | None:
        try:
            return self._store.load()
        except (ValueError, OSError) as exc:
            raise LabError(f"cannot read lab state {self._store.path}: {exc}") from exc

    def __repr__(self) -> str:
        return f"Lab(prefix={self.prefix!r}, state={str(self.state_path)!r})"

    def __enter__(self) -> Self:
        if not self._brought_up:
            self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- up ----------------------------------------------------------------------

    def up(self) -> Lab:
        """Create the namespaces, links, addresses and routes; attach the host to
        ``config.initial_router``. Takes about a quarter of a second.

        Returns:
            self.

        Raises:
            LabError: the lab is already up (a state file exists), a namespace
                of that name already exists without a state file (not ours:
                left untouched), or building failed (whatever was built is
                removed again before the error propagates).
            PermissionError: not root.
        """
        cfg = self._requested
        with self._store.locked():
            if self._store.exists():
                raise LabError(
                    f"lab {cfg.prefix!r} is already up (state {self._store.path}); "
                    f"run `odm lab down --prefix {cfg.prefix}` first"
                )
            for node in cfg.nodes:
                if nsutil.netns_exists(cfg.netns(node)):
                    self._store.discard_if_unused()
                    raise LabError(
                        f"namespace {cfg.netns(node)} exists but lab {cfg.prefix!r} has no "
                        "state; it is not ours, so it is left alone (pick another prefix)"
                    )
            self.config = cfg
            me = os.getpid()
            self._store.save(
                {
                    "version": STATE_VERSION,
                    "prefix": cfg.prefix,
                    "config": cfg.to_dict(),
                    "phase": "creating",
                    "created": time.time(),
                    "owner": {"pid": me, "starttime": nsutil.proc_starttime(me)},
                    "netns": [],
                    "attached": None,
                    "processes": [],
                }
            )
        self._brought_up = True
        try:
            self._build()
            with self._store.update() as st:
                st["phase"] = "up"
                st["attached"] = cfg.initial_router
        except BaseException as exc:
            log.error("lab %s: up failed (%s); tearing down", cfg.prefix, exc)
            try:
                self.down()
            except Exception as exc2:  # noqa: BLE001 - report the first error
                log.error("lab %s: cleanup after failed up: %s", cfg.prefix, exc2)
            if isinstance(exc, (NetlinkError, nsutil.NetnsError, OSError)) and not isinstance(
                exc, PermissionError
            ):
                raise LabError(f"lab {cfg.prefix!r}: up failed: {exc}") from exc
            raise
        log.info("lab %s up", cfg.prefix)
        return self

    def _create_netns(self, name: str) -> None:
        with self._store.update() as st:
            if name not in st["netns"]:
                st["netns"].append(name)
        self._netns_made.append(name)
        _netns.create(name)

    def _build(self) -> None:
        cfg = self.config
        routers = cfg.routers
        for node in cfg.nodes:
            self._create_netns(cfg.netns(node))

        # Defaults first, so interfaces created afterwards inherit them.
        no_dad = {"net.ipv6.conf.all.accept_dad": 0, "net.ipv6.conf.default.accept_dad": 0}
        nsutil.run_in_netns(cfg.netns(CN), nsutil.ns_sysctls, no_dad)
        for r in routers:
            nsutil.run_in_netns(
                cfg.netns(r.name),
                nsutil.ns_sysctls,
                {**no_dad, "net.ipv6.conf.all.forwarding": 1,
                 "net.ipv6.conf.default.forwarding": 1},
            )

        # Links. Each veth is created in one namespace with its peer placed
        # straight into the other, so no interface ever exists in the caller's.
        with self.iproute(CN) as ipr:
            ipr.link("add", ifname=CORE_BRIDGE, kind="bridge", address=cfg.core_mac,
                     br_stp_state=0, br_mcast_snooping=0)
            br = _need_index(ipr, CORE_BRIDGE, "cn")
            _addr_gen_none(ipr, br)
            for r in routers:
                ipr.link("add", ifname=r.name, kind="veth",
                         peer={"ifname": ROUTER_CORE_IF, "address": r.core_mac,
                               "net_ns_fd": cfg.netns(r.name)})
                port = _need_index(ipr, r.name, "cn")
                _addr_gen_none(ipr, port)
                ipr.link("set", index=port, master=br)
        for r in routers:
            with self.iproute(r.name) as ipr:
                ipr.link("add", ifname=ACCESS_BRIDGE, kind="bridge", address=r.access_mac,
                         br_stp_state=0, br_mcast_snooping=0)
                _addr_gen_none(ipr, _need_index(ipr, ACCESS_BRIDGE, r.name))
        with self.iproute(HOST) as ipr:
            ipr.link("add", ifname=HOST_IF, kind="veth", address=cfg.host_mac,
                     peer={"ifname": ACCESS_PORT, "net_ns_fd": cfg.netns(cfg.initial_router)})

        # TX checksum offload off everywhere (one fork per namespace).
        nsutil.run_in_netns(cfg.netns(CN), nsutil.ns_tx_checksum,
                            [CORE_BRIDGE, *cfg.router_names], False)
        for r in routers:
            ifs = [ROUTER_CORE_IF, ACCESS_BRIDGE]
            if r.name == cfg.initial_router:
                ifs.append(ACCESS_PORT)
            nsutil.run_in_netns(cfg.netns(r.name), nsutil.ns_tx_checksum, ifs, False)
        nsutil.run_in_netns(cfg.netns(HOST), nsutil.ns_tx_checksum, [HOST_IF], False)

        # Up, addresses, routes.
        with self.iproute(CN) as ipr:
            ipr.link("set", index=_need_index(ipr, "lo", "cn"), state="up")
            for r in routers:
                ipr.link("set", index=_need_index(ipr, r.name, "cn"), state="up")
            br = _need_index(ipr, CORE_BRIDGE, "cn")
            ipr.link("set", index=br, state="up")
            ipr.addr("add", index=br, address=str(cfg.cn_address), prefixlen=64)
            for r in routers:
                for dst in (r.pd_pool, r.access_prefix):
                    ipr.route("add", family=socket.AF_INET6, dst=str(dst),
                              gateway=str(r.core_address), oif=br)
        for r in routers:
            with self.iproute(r.name) as ipr:
                ipr.link("set", index=_need_index(ipr, "lo", r.name), state="up")
                core = _need_index(ipr, ROUTER_CORE_IF, r.name)
                ipr.link("set", index=core, state="up")
                ipr.addr("add", index=core, address=str(r.core_address), prefixlen=64)
                acc = _need_index(ipr, ACCESS_BRIDGE, r.name)
                ipr.link("set", index=acc, state="up")
                ipr.addr("add", index=acc, address=str(r.access_link_local), prefixlen=64)
                ipr.addr("add", index=acc, address=str(r.access_address), prefixlen=64)
                if r.name == cfg.initial_router:
                    port = _need_index(ipr, ACCESS_PORT, r.name)
                    _addr_gen_none(ipr, port)
                    ipr.link("set", index=port, master=acc)
                    ipr.link("set", index=port, state="up")
                ipr.route("add", family=socket.AF_INET6, dst="::/0",
                          gateway=str(cfg.cn_address), oif=core)
                ipr.route("add", family=socket.AF_INET6, dst=str(r.pd_pool), type="unreachable")
                for other in routers:
                    if other.name == r.name:
                        continue
                    for dst in (other.pd_pool, other.access_prefix):
                        ipr.route("add", family=socket.AF_INET6, dst=str(dst),
                                  gateway=str(other.core_address), oif=core)
        with self.iproute(HOST) as ipr:
            ipr.link("set", index=_need_index(ipr, "lo", "mh"), state="up")
            ipr.link("set", index=_need_index(ipr, HOST_IF, "mh"), state="up")

    # -- move --------------------------------------------------------------------

    def move(self, host: str = HOST, router: str = "ar2", *, gap: float = 0.0) -> bool:
        """Re-home the host's link to ``router``.

        ``mhlink`` (the peer of ``mh0``) leaves the current router's namespace
        (``mh0`` loses carrier), waits ``gap`` seconds (a handover gap; default
        none), enters ``router``'s namespace, becomes a port of its ``acc``
        bridge and goes up (``mh0`` regains carrier). ``mh0`` keeps its ifindex,
        MAC and addresses.

        Args:
            host: the host to move; only ``"mh"`` exists.
            router: the target router's name.
            gap: seconds without carrier between leaving and arriving (>= 0).

        Returns:
            True if the host moved, False if it was already at ``router``.

        Raises:
            LabError: the lab is not up, unknown host or router, or the link
                could not be moved (the state keeps the last known attachment).
        """
        if host != HOST:
            raise LabError(f"unknown host {host!r}; the lab's host is {HOST!r}")
        self.router(router)
        if gap < 0:
            raise ValueError("gap must be >= 0 seconds")
        st = self._load()
        if st is None or st.get("phase") not in ("up", "moving"):
            raise LabError(f"lab {self.prefix!r} is not up")
        current = self._find_access_port() or st.get("attached")
        if current == router:
            if st.get("attached") != router or st.get("phase") != "up":
                self._arrive(router)
            return False
        with self._store.update() as st:
            st["phase"] = "moving"
        try:
            if current is not None:
                with self.iproute(current) as ipr:
                    idx = _index(ipr, ACCESS_PORT)
                    if idx is not None:
                        ipr.link("set", index=idx, state="down")
                        ipr.link("set", index=idx, net_ns_fd=self.netns(router))
            if gap:
                time.sleep(gap)
            self._arrive(router)
        except NetlinkError as exc:
            raise LabError(f"move to {router} failed: {exc}") from exc
        log.info("lab %s: %s moved %s -> %s", self.prefix, host, current, router)
        return True

    def _arrive(self, router: str) -> None:
        with self.iproute(router) as ipr:
            port = _need_index(ipr, ACCESS_PORT, router)
            acc = _need_index(ipr, ACCESS_BRIDGE, router)
            _addr_gen_none(ipr, port)
            ipr.link("set", index=port, master=acc)
        # Features travel with the device, but make sure: one fork, ~ms.
        nsutil.run_in_netns(self.netns(router), nsutil.ns_tx_checksum, [ACCESS_PORT], False)
        with self.iproute(router) as ipr:
            ipr.link("set", index=_need_index(ipr, ACCESS_PORT, router), state="up")
        with self._store.update() as st:
            st["attached"] = router
            st["phase"] = "up"

    def _find_access_port(self) -> str | None:
        """The router whose namespace holds ``mhlink`` now (None if none does)."""
        for r in self.config.router_names:
            if not nsutil.netns_exists(self.netns(r)):
                continue
            with self.iproute(r) as ipr:
                if _index(ipr, ACCESS_PORT) is not None:
                    return r
        return None

    # -- namespaces: netlink, sysctls, offload ---------------------------------

    @contextlib.contextmanager
    def iproute(self, node: str) -> Iterator[IPRoute]:
        """A pyroute2 ``IPRoute`` whose netlink socket lives in ``node``'s namespace.

        Usage: ``with lab.iproute("ar1") as ipr: ipr.get_links()``. Closed on exit.

        Raises:
            LabError: unknown node, or its namespace does not exist.
        """
        name = self._existing_netns(node)
        ipr = IPRoute(netns=name, flags=0)
        try:
            yield ipr
        finally:
            ipr.close()

    def ifindex(self, node: str, ifname: str) -> int | None:
        """The ifindex of ``ifname`` in ``node``, or None if there is no such interface."""
        with self.iproute(node) as ipr:
            return _index(ipr, ifname)

    def sysctl(self, node: str, key: str, value: Any = None) -> str:
        """Read (``value=None``) or write a sysctl inside ``node``'s namespace.

        ``key`` is dotted (``net.ipv6.conf.mh0.accept_dad``) or a path below
        ``/proc/sys`` (``net/ipv6/conf/mh0/accept_dad``). Booleans are written
        as 0/1.

        Returns:
            The value read back, as a stripped string.

        Raises:
            LabError: unknown node, namespace missing, or the write failed
                (no such key, invalid value).
        """
        return self.sysctls(node, {key: value})[key]

    def sysctls(self, node: str, settings: Mapping[str, Any]) -> dict[str, str]:
        """Several :meth:`sysctl` calls in one fork, in order. Returns {key: value read back}."""
        name = self._existing_netns(node)
        try:
            return nsutil.run_in_netns(name, nsutil.ns_sysctls, dict(settings))
        except nsutil.NetnsError as exc:
            raise LabError(f"sysctl in {node}: {exc}") from exc

    def tx_checksum(self, node: str, ifname: str, enable: bool | None = None) -> bool:
        """Read or set TX checksum offload of ``ifname`` in ``node`` (pyroute2 ethtool ioctl).

        Args:
            enable: None to only read; False to switch offload off (the lab's
                setting everywhere); True to switch it back on (e.g. to show
                what a capture looks like with offload).

        Returns:
            True if any tx-checksum feature is active afterwards.

        Raises:
            LabError: unknown node, missing namespace or interface.
        """
        name = self._existing_netns(node)
        try:
            if enable is None:
                return nsutil.run_in_netns(name, nsutil.ns_tx_checksum_state, [ifname])[ifname]
            return nsutil.run_in_netns(name, nsutil.ns_tx_checksum, [ifname], enable)[ifname]
        except nsutil.NetnsError as exc:
            raise LabError(f"ethtool in {node}: {exc}") from exc

    def _existing_netns(self, node: str) -> str:
        name = self.netns(node)
        if not nsutil.netns_exists(name):
            raise LabError(f"node {node}: namespace {name} does not exist "
                           f"(is lab {self.prefix!r} up?)")
        return name
