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
:meth:`Lab.spawn` (background, output to a log), :meth:`Lab.capture` (tcpdump),
:meth:`Lab.iproute` (a pyroute2 ``IPRoute`` inside the namespace). Processes are
entered into the namespace with ``setns(2)`` in ``preexec_fn`` (pyroute2's
``netns.setns`` on an fd opened beforehand); the mount namespace is *not*
changed, so ``/sys/class/net`` shows the caller's view (use netlink, not sysfs).

Every namespace and every process is recorded in the state file before it is
created (:mod:`lab.state`), so :meth:`Lab.down` -- in this process or a later
one -- removes exactly what the lab made: processes are stopped by PID (checked
against their start time), never by name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

from pyroute2 import IPRoute, NetlinkError
from pyroute2 import netns as _netns

from lab import nsutil
from lab.config import (
    ACCESS_BRIDGE,
    ACCESS_PORT,
    CN,
    CORE_BRIDGE,
    DEFAULT_STATE_DIR,
    HOST,
    HOST_IF,
    ROUTER_CORE_IF,
    LabConfig,
    LabConfigError,
    LabRouter,
)
from lab.state import STATE_VERSION, StateStore

log = logging.getLogger(__name__)

_ENODEV = 19


class LabError(RuntimeError):
    """A lab operation failed: the lab is not up, already up, a node or router
    is unknown, a namespace is missing, a helper program is not installed, or
    (from :meth:`Lab.down`) something could not be removed."""


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


class Lab:
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
                {**no_dad, "net.ipv6.conf.all.forwarding": 1, "net.ipv6.conf.default.forwarding": 1},
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
            raise LabError(f"node {node}: namespace {name} does not exist (is lab {self.prefix!r} up?)")
        return name

    # -- processes -----------------------------------------------------------------

    def _popen(self, node: str, argv: Sequence[str], kind: str, log_path: str | None,
               stop_signal: int, **kw: Any) -> subprocess.Popen:
        if isinstance(argv, (str, bytes)):
            raise TypeError("argv must be a sequence of arguments, not a string")
        argv = [os.fspath(a) for a in argv]
        if not argv:
            raise ValueError("argv is empty")
        name = self._existing_netns(node)
        try:
            fd = nsutil.open_netns(name)
        except FileNotFoundError as exc:
            raise LabError(f"node {node}: namespace {name} vanished") from exc
        user_pre = kw.pop("preexec_fn", None)

        def enter() -> None:
            nsutil.enter_netns_fd(fd)
            if user_pre is not None:
                user_pre()

        try:
            with self._store.locked():
                # preexec_fn is what the design asks for: setns(2) on an fd
                # opened above, no locks taken in the child, so it is safe
                # even when the caller has threads.
                proc = subprocess.Popen(argv, preexec_fn=enter, **kw)  # noqa: PLW1509
                self._children[proc.pid] = proc
                rec = {
                    "pid": proc.pid,
                    "starttime": nsutil.proc_starttime(proc.pid),
                    "node": node,
                    "argv": argv,
                    "log": log_path,
                    "stop_signal": int(stop_signal),
                    "kind": kind,
                }
                try:
                    with self._store.update() as st:
                        st["processes"].append(rec)
                except FileNotFoundError:
                    log.warning("lab %s: no state file; process %d is not recorded",
                                self.prefix, proc.pid)
        finally:
            os.close(fd)
        return proc

    def _forget(self, pid: int) -> None:
        self._children.pop(pid, None)
        with contextlib.suppress(FileNotFoundError), self._store.update() as st:
            st["processes"] = [p for p in st["processes"] if p["pid"] != pid]

    def exec(self, node: str, argv: Sequence[str], *, input: bytes | str | None = None,
             capture_output: bool = False, timeout: float | None = None, check: bool = False,
             forward_signals: bool = False, **kw: Any) -> subprocess.CompletedProcess:
        """Run ``argv`` inside ``node``'s namespace and wait for it (like ``subprocess.run``).

        Args:
            node: ``"cn"``, ``"ar1"``, ``"ar2"``, ``"mh"`` ...
            argv: the program and its arguments (no shell).
            input, capture_output, timeout, check: as for ``subprocess.run``
                (timeout in seconds; on expiry the process is killed).
            forward_signals: pass SIGTERM, SIGINT and SIGHUP received by this
                process on to the command while it runs (``odm lab exec``: a
                ``kill`` of the CLI must stop the agent it started, not orphan
                it). Only from the main thread.
            kw: further ``subprocess.Popen`` arguments (``text``, ``env``,
                ``cwd``, ``stdout``, ``stderr`` ...).

        Returns:
            ``subprocess.CompletedProcess``.

        Raises:
            LabError: unknown node or namespace missing.
            subprocess.TimeoutExpired, subprocess.CalledProcessError: as ``run``.
            FileNotFoundError: the program does not exist.
        """
        if input is not None:
            kw.setdefault("stdin", subprocess.PIPE)
        if capture_output:
            kw["stdout"] = kw["stderr"] = subprocess.PIPE
        saved: dict[int, Any] = {}
        started: list[subprocess.Popen] = []
        early: list[int] = []
        if forward_signals and threading.current_thread() is threading.main_thread():
            # installed before the child exists: a signal that arrives while it
            # is being started is passed on as soon as it runs
            def forward(signum: int, _frame: Any) -> None:
                if not started:
                    early.append(signum)
                    return
                with contextlib.suppress(ProcessLookupError):
                    started[0].send_signal(signum)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                saved[sig] = signal.signal(sig, forward)
        try:
            proc = self._popen(node, argv, "exec", None, signal.SIGTERM, **kw)
        except BaseException:
            for sig, handler in saved.items():
                signal.signal(sig, handler)
            raise
        started.append(proc)
        for sig in early:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
        try:
            with proc:
                try:
                    out, err = proc.communicate(input, timeout=timeout)
                except BaseException:
                    proc.kill()
                    proc.wait()
                    raise
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)
            self._forget(proc.pid)
        cp = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        if check:
            cp.check_returncode()
        return cp

    def spawn(self, node: str, argv: Sequence[str], log_path: str | Path | None, *,
              stop_signal: int = signal.SIGTERM, **kw: Any) -> subprocess.Popen:
        """Start ``argv`` in the background inside ``node``'s namespace.

        stdout and stderr go to ``log_path`` (created or truncated, parent
        directories made; ``None`` discards them); stdin is ``/dev/null``. The
        process gets its own session (a Ctrl-C on the terminal does not reach
        it; :meth:`stop` or :meth:`down` do). Its PID and start time are
        recorded in the state file.

        Args:
            stop_signal: what :meth:`stop` / :meth:`down` send first (then
                SIGKILL after the timeout).
            kw: further ``subprocess.Popen`` arguments (``env``, ``cwd`` ...).

        Returns:
            The ``subprocess.Popen``.

        Raises:
            LabError: unknown node or namespace missing.
            FileNotFoundError: the program does not exist.
        """
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("start_new_session", True)
        if log_path is None:
            kw.setdefault("stdout", subprocess.DEVNULL)
            kw.setdefault("stderr", subprocess.DEVNULL)
            return self._popen(node, argv, "spawn", None, stop_signal, **kw)
        log_path = Path(log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as fh:
            kw.setdefault("stdout", fh)
            kw.setdefault("stderr", subprocess.STDOUT)
            return self._popen(node, argv, "spawn", str(log_path), stop_signal, **kw)

    def stop(self, proc: subprocess.Popen | int, timeout: float = 5.0,
             sig: int | None = None) -> int | None:
        """Stop one process the lab started: ``sig`` (default its ``stop_signal``),
        then SIGKILL after ``timeout`` seconds.

        Only a PID recorded by this lab (and still carrying its recorded start
        time) is signalled; anything else is left alone.

        Returns:
            The exit status if the process was this object's child (negative =
            killed by that signal), else None.
        """
        pid = proc.pid if isinstance(proc, subprocess.Popen) else int(proc)
        st = self._load()
        rec = next((p for p in (st or {}).get("processes", []) if p["pid"] == pid), None)
        child = self._children.get(pid) or (proc if isinstance(proc, subprocess.Popen) else None)
        if rec is None and child is None:
            log.warning("lab %s: pid %d was not started by this lab; not stopping it",
                        self.prefix, pid)
            return None
        sig = sig if sig is not None else (rec or {}).get("stop_signal", signal.SIGTERM)
        self._stop_all([(pid, (rec or {}).get("starttime"), sig, child)], timeout)
        self._forget(pid)
        return child.returncode if child is not None else None

    def _stop_all(self, items: list[tuple[int, int | None, int, subprocess.Popen | None]],
                  timeout: float) -> list[int]:
        """Signal all, wait for all (one shared deadline), SIGKILL the rest."""
        stopped = []
        pending = []
        for pid, starttime, sig, child in items:
            if child is not None:
                if child.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        child.send_signal(sig)
                    pending.append((pid, starttime, child))
                    stopped.append(pid)
            elif nsutil.signal_pid(pid, sig, starttime):
                pending.append((pid, starttime, None))
                stopped.append(pid)
        deadline = time.monotonic() + timeout
        for pid, starttime, child in pending:
            left = max(0.0, deadline - time.monotonic())
            if child is not None:
                try:
                    child.wait(left)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            else:
                while nsutil.proc_alive(pid, starttime) and time.monotonic() < deadline:
                    time.sleep(0.01)
                if nsutil.signal_pid(pid, signal.SIGKILL, starttime):
                    end = time.monotonic() + 2.0
                    while nsutil.proc_alive(pid, starttime) and time.monotonic() < end:
                        time.sleep(0.01)
                nsutil.reap(pid)
        return stopped

    # -- capture ----------------------------------------------------------------

    def links(self) -> dict[str, tuple[str, str]]:
        """Named capture points: ``core`` (cn's bridge: every core packet),
        ``access`` (mh0: everything the host sends and receives),
        ``{router}-core`` and ``{router}-access`` (the router's ``core`` / ``acc``)."""
        out = {"core": (CN, CORE_BRIDGE), "access": (HOST, HOST_IF)}
        for r in self.config.router_names:
            out[f"{r}-core"] = (r, ROUTER_CORE_IF)
            out[f"{r}-access"] = (r, ACCESS_BRIDGE)
        return out

    def capture(self, link_or_ifname: str, node: str | None, pcap_path: str | Path, *,
                bpf: str | None = None, log_path: str | Path | None = None,
                ready_timeout: float = 5.0) -> subprocess.Popen:
        """Start ``tcpdump -i IF -w FILE -U --immediate-mode`` inside a namespace.

        Returns once tcpdump reports it is listening, so no packet sent after
        the call is missed. Stop it with :meth:`stop` (SIGINT; tcpdump flushes
        and closes the file) or :meth:`down`.

        Args:
            link_or_ifname: a link name from :meth:`links` (then ``node`` may
                be None) or an interface name inside ``node``.
            node: the node to capture in, or None for a named link.
            pcap_path: the pcap file to write (parent directories made).
            bpf: an optional capture filter (``"udp port 547"``).
            log_path: tcpdump's stderr; default ``pcap_path + ".log"``.
            ready_timeout: seconds to wait for tcpdump to start listening.

        Raises:
            LabError: unknown link/node, tcpdump missing, or tcpdump exited or
                did not start listening in time (the message has its log).
        """
        links = self.links()
        if node is None:
            if link_or_ifname not in links:
                raise LabError(f"unknown link {link_or_ifname!r}; links are {', '.join(links)} "
                               "(or give a node and an interface name)")
            node, ifname = links[link_or_ifname]
        else:
            ifname = link_or_ifname
        tcpdump = shutil.which("tcpdump")
        if tcpdump is None:
            raise LabError("tcpdump is not installed (apt-get install -y tcpdump)")
        pcap_path = Path(pcap_path)
        pcap_path.parent.mkdir(parents=True, exist_ok=True)
        log_path = Path(log_path) if log_path is not None else pcap_path.with_name(pcap_path.name + ".log")
        # -Z root: Debian's tcpdump would otherwise drop to user "tcpdump" and
        # fail to write into root-only directories.
        argv = [tcpdump, "-i", ifname, "-w", str(pcap_path), "-U", "--immediate-mode", "-n",
                "-Z", "root"]
        if bpf:
            argv.append(bpf)
        proc = self.spawn(node, argv, log_path, stop_signal=signal.SIGINT)
        deadline = time.monotonic() + ready_timeout
        while True:
            text = log_path.read_text(errors="replace") if log_path.exists() else ""
            if "listening on" in text:
                return proc
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop(proc, timeout=1.0)
                raise LabError(f"tcpdump on {node}/{ifname} did not start: {text.strip()}")
            time.sleep(0.01)

    # -- status --------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """A JSON-ready snapshot of the lab.

        Returns:
            ``{"prefix", "state_path", "up" (bool), "phase" (or None),
            "attached" (router or None), "routers": {name: {core_address,
            access_link_local, access_address, access_prefix, pd_pool,
            access_ifname}}, "nodes": {node: {"netns", "exists", "interfaces":
            [{ifname, index, kind, state, operstate, carrier, carrier_changes,
            master, mac, addresses: ["addr/len", ...]}]}}, "processes":
            [{pid, node, argv, log, kind, alive}]}``.
        """
        st = self._load()
        cfg = self.config
        nodes: dict[str, Any] = {}
        for node in cfg.nodes:
            name = cfg.netns(node)
            info: dict[str, Any] = {"netns": name, "exists": nsutil.netns_exists(name),
                                    "interfaces": []}
            if info["exists"]:
                try:
                    info["interfaces"] = self._interfaces(node)
                except (NetlinkError, OSError, LabError) as exc:
                    info["error"] = str(exc)
            nodes[node] = info
        procs = []
        for p in (st or {}).get("processes", []):
            procs.append({**{k: p.get(k) for k in ("pid", "node", "argv", "log", "kind")},
                          "alive": nsutil.proc_alive(p["pid"], p.get("starttime"))})
        return {
            "prefix": cfg.prefix,
            "state_path": str(self.state_path),
            "up": st is not None and st.get("phase") == "up",
            "phase": None if st is None else st.get("phase"),
            "attached": None if st is None else st.get("attached"),
            "routers": {
                r.name: {
                    "core_address": str(r.core_address),
                    "access_link_local": str(r.access_link_local),
                    "access_address": str(r.access_address),
                    "access_prefix": str(r.access_prefix),
                    "pd_pool": str(r.pd_pool),
                    "access_ifname": ACCESS_BRIDGE,
                }
                for r in cfg.routers
            },
            "cn_address": str(cfg.cn_address),
            "nodes": nodes,
            "processes": procs,
        }

    def _interfaces(self, node: str) -> list[dict[str, Any]]:
        with self.iproute(node) as ipr:
            links = list(ipr.get_links())
            addrs = list(ipr.get_addr(family=socket.AF_INET6))
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in links}
        out = []
        for link in links:
            idx = link["index"]
            linkinfo = link.get_attr("IFLA_LINKINFO")
            kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo else None
            master = link.get_attr("IFLA_MASTER")
            out.append({
                "ifname": link.get_attr("IFLA_IFNAME"),
                "index": idx,
                "kind": kind,
                "state": "up" if link["flags"] & 1 else "down",
                "operstate": link.get_attr("IFLA_OPERSTATE"),
                "carrier": bool(link.get_attr("IFLA_CARRIER")),
                "carrier_changes": link.get_attr("IFLA_CARRIER_CHANGES"),
                "master": names.get(master) if master else None,
                "mac": link.get_attr("IFLA_ADDRESS"),
                "addresses": [
                    f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in addrs if a["index"] == idx
                ],
            })
        return out

    # -- down ----------------------------------------------------------------------

    def _lab_ifnames(self, node: str) -> list[str]:
        if node == CN:
            return [*self.config.router_names, CORE_BRIDGE]
        if node == HOST:
            return [HOST_IF]
        return [ACCESS_PORT, ROUTER_CORE_IF, ACCESS_BRIDGE]

    def down(self, timeout: float = 5.0) -> dict[str, Any]:
        """Remove everything the lab made: stop its processes (by recorded PID and
        start time: ``stop_signal``, then SIGKILL after ``timeout`` seconds),
        delete its interfaces, remove its namespaces, delete the state file.

        Idempotent: safe to call twice, on a lab that was never up, or in a new
        process after a crash (the state file says what to remove). Things
        already gone are skipped silently. Processes inside the namespaces that
        the lab did not start are not signalled; they are reported under
        ``"foreign_pids"`` (their namespace is still unmounted).

        Returns:
            ``{"stopped": [pid...], "links_deleted": ["node/ifname"...],
            "netns_removed": [name...], "foreign_pids": {netns: [pid...]},
            "errors": []}``.

        Raises:
            LabError: something that exists could not be removed (the state
                file is kept so that ``down()`` can be retried); the message
                lists the errors.
        """
        report: dict[str, Any] = {"stopped": [], "links_deleted": [], "netns_removed": [],
                                  "foreign_pids": {}, "errors": []}
        with self._store.locked():
            try:
                st = self._store.load()
            except (ValueError, OSError) as exc:
                report["errors"].append(f"state unreadable: {exc}")
                st = None
            cfg = self.config
            if st is not None:
                with contextlib.suppress(KeyError, LabConfigError):
                    cfg = replace(LabConfig.from_dict(st["config"]), state_dir=cfg.state_dir)
            self.config = cfg
            recorded_ns = list((st or {}).get("netns", []))
            ns_names = list(dict.fromkeys(recorded_ns + self._netns_made))

            # 1. processes (recorded ones and our own children)
            items: dict[int, tuple[int, int | None, int, subprocess.Popen | None]] = {}
            for p in (st or {}).get("processes", []):
                items[p["pid"]] = (p["pid"], p.get("starttime"),
                                   p.get("stop_signal", signal.SIGTERM), self._children.get(p["pid"]))
            for pid, child in self._children.items():
                items.setdefault(pid, (pid, None, signal.SIGTERM, child))
            try:
                report["stopped"] = self._stop_all(list(items.values()), timeout)
            except Exception as exc:  # noqa: BLE001 - keep cleaning
                report["errors"].append(f"stopping processes: {exc}")
            self._children.clear()

            # 2. interfaces, 3. namespaces
            node_of = {}
            for node in cfg.nodes:
                node_of[cfg.netns(node)] = node
            foreign = {}
            try:
                all_pids = _netns.ns_pids() if ns_names else {}
            except Exception:  # noqa: BLE001 - informational only
                all_pids = {}
            for name in ns_names:
                if not nsutil.netns_exists(name):
                    continue
                if all_pids.get(name):
                    foreign[name] = sorted(all_pids[name])
                node = node_of.get(name)
                if node is not None:
                    try:
                        report["links_deleted"] += self._delete_links(name, node)
                    except Exception as exc:  # noqa: BLE001
                        report["errors"].append(f"deleting links in {name}: {exc}")
                try:
                    _netns.remove(name)
                    report["netns_removed"].append(name)
                except FileNotFoundError:
                    pass
                except Exception as exc:  # noqa: BLE001
                    report["errors"].append(f"removing netns {name}: {exc}")
            report["foreign_pids"] = foreign
            for name, pids in foreign.items():
                log.warning("lab %s: namespace %s still had processes not started by the lab: %s",
                            cfg.prefix, name, pids)
            self._netns_made = [n for n in self._netns_made if nsutil.netns_exists(n)]

            if report["errors"]:
                if st is not None:
                    st["phase"] = "failed"
                    with contextlib.suppress(Exception):
                        self._store.save(st)
                raise LabError(f"lab {cfg.prefix!r}: down incomplete: " + "; ".join(report["errors"]))
            self._store.remove()
        self._brought_up = False
        if report["netns_removed"] or report["stopped"]:
            log.info("lab %s down: %s", cfg.prefix, report)
        return report

    def _delete_links(self, name: str, node: str) -> list[str]:
        deleted = []
        ipr = IPRoute(netns=name, flags=0)
        try:
            for ifname in self._lab_ifnames(node):
                idx = _index(ipr, ifname)
                if idx is None:
                    continue
                try:
                    ipr.link("del", index=idx)
                    deleted.append(f"{node}/{ifname}")
                except NetlinkError as exc:
                    if exc.code != _ENODEV:
                        raise
        finally:
            ipr.close()
        return deleted

    # -- discovery -------------------------------------------------------------------

    @staticmethod
    def list_labs(state_dir: str | Path = DEFAULT_STATE_DIR) -> list[dict[str, Any]]:
        """Labs recorded under ``state_dir``: ``[{"prefix", "phase", "owner_pid",
        "owner_alive"}]``. ``owner_alive`` False means the process that ran
        ``up()`` is gone (normal after ``odm lab up``; a leftover for tests)."""
        out = []
        base = Path(state_dir)
        if not base.is_dir():
            return out
        for sub in sorted(base.iterdir()):
            store = StateStore(sub / "state.json")
            try:
                st = store.load()
            except (ValueError, OSError):
                continue
            if st is None:
                continue
            owner = st.get("owner") or {}
            out.append({
                "prefix": st.get("prefix", sub.name),
                "phase": st.get("phase"),
                "owner_pid": owner.get("pid"),
                "owner_alive": bool(owner.get("pid"))
                and nsutil.proc_alive(owner["pid"], owner.get("starttime")),
            })
        return out
