"""odm's agents and applications running in a lab: configs, processes, probes.

:class:`LabAgents` writes a router config per access router (all routers share
one SQLite lease store, DESIGN §2, and know each other as mobility peers,
:mod:`router.dataplane`) and a host config for ``mh``, starts ``odm router
run`` in each router's namespace and ``odm host run`` in ``mh``, and gives the
demo, the tests and the benchmarks small helpers: the host's status over its
API socket (a Unix socket is reachable from every namespace), waiting for a
condition, and :class:`App`, one ``python -m lab.apps`` program driven line
by line.

Times are seconds. Every process is started through :meth:`lab.Lab.spawn`, so
:meth:`lab.Lab.down` stops it even after a crash of the caller.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from lab.config import HOST, HOST_IF
from lab.nsutil import python_module
from lab.topology import Lab
from odm_wire.constants import MobilityType

__all__ = ["AgentSettings", "App", "DemoTimeout", "LabAgents", "pool_of", "sid_of", "wait_for"]

ACCESS_IF = "acc"
CORE_IF = "core"


class DemoTimeout(TimeoutError):
    """A condition the demo waits for did not come true in time."""


def wait_for(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.02):
    """Call ``pred`` until it returns something truthy (returned) or ``timeout``
    seconds pass (raises :class:`DemoTimeout` naming ``what``)."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise DemoTimeout(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def sid_of(index: int) -> tuple[IPv6Address, IPv6Network]:
    """SRv6 SID and SID prefix of the router at position ``index`` (0-based):
    ``2001:db8:5e6:<index+1>::1`` in ``2001:db8:5e6:<index+1>::/64``."""
    net = IPv6Network(f"2001:db8:5e6:{index + 1:x}::/64")
    return net[1], net


@dataclass(frozen=True)
class AgentSettings:
    """What the lab's agents are configured with.

    ``offered``: mobility types every router delegates; ``boot_types``: types
    the host acquires at start; ``grace``: seconds of GRACEFUL_REPLACEMENT
    overlap after a move; ``scale``: router timer scale (RFC 4861 constants
    and default durations × scale); ``host_timer_scale``: the host's RFC 8415
    client timers × scale; lifetimes in seconds per type (preferred, valid).
    """

    offered: tuple[MobilityType, ...] = (MobilityType.SESSION_LASTING,
                                         MobilityType.NON_PERSISTENT)
    boot_types: tuple[MobilityType, ...] = (MobilityType.SESSION_LASTING,
                                            MobilityType.NON_PERSISTENT)
    grace: int = 5
    scale: float = 0.05
    host_timer_scale: float = 0.02
    lifetimes: dict = field(default_factory=lambda: {
        MobilityType.FIXED: (3600, 7200),
        MobilityType.SESSION_LASTING: (600, 1200),
        MobilityType.NON_PERSISTENT: (300, 600),
        MobilityType.GRACEFUL_REPLACEMENT: (300, 600),
    })
    delegated_length: int = 64
    setsc_timeout: float = 3.0
    #: ``[mobility] dataplane`` of every router (a backend name or ``auto``);
    #: ``None``: no ``[mobility]`` table (moves are not followed)
    dataplane: str | None = "auto"
    #: the routers' lease store: ``"sqlite"`` (one file in the work directory)
    #: or ``"postgresql"`` (a server in cn, reached over the core link:
    #: :mod:`lab.pgserver`)
    store: str = "sqlite"


# Each type's pool: the /48 number N of the router's PD space (a /36 in the lab).
_POOL_SLOT = {MobilityType.FIXED: 1, MobilityType.SESSION_LASTING: 2,
              MobilityType.NON_PERSISTENT: 3, MobilityType.GRACEFUL_REPLACEMENT: 4}


def pool_of(pd_space: IPv6Network, t: MobilityType) -> IPv6Network:
    """The /48 of ``pd_space`` (a router's /36) that holds type ``t``'s pool."""
    if pd_space.prefixlen > 44:
        raise ValueError(f"{pd_space} is too small for one /48 per type")
    return IPv6Network((int(pd_space.network_address) | (_POOL_SLOT[t] << 80), 48))


class LabAgents:
    """Configs and processes of odm's agents in ``lab`` (which must be up).

    ``workdir``: where configs, the shared lease store, sockets and logs go.
    """

    def __init__(self, lab: Lab, workdir: Path, settings: AgentSettings | None = None) -> None:
        self.lab = lab
        self.workdir = Path(workdir)
        self.settings = settings or AgentSettings()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.lease_db = self.workdir / "leases.sqlite3"
        self.host_socket = self.workdir / "host.sock"
        self.pg_password = self.workdir / "pg-password"
        self.procs: dict[str, subprocess.Popen] = {}
        self.db = None  # lab.pgserver.LabPostgres while it runs

    # -- configs -------------------------------------------------------------------------
    def router_toml(self, name: str) -> str:
        """The TOML config of router ``name`` (a router of the lab)."""
        s = self.settings
        routers = self.lab.config.routers
        idx = [r.name for r in routers].index(name)
        r = routers[idx]
        sid, _ = sid_of(idx)
        lines = [
            "[router]",
            f'id = "{name}"',
            f'control_socket = "{self.workdir / (name + ".sock")}"',
            f"graceful_replacement_grace = {s.grace}",
            "reclaim_interval = 0.5",
            "",
            "[timers]",
            'profile = "scaled"',
            f"scale = {s.scale}",
            "",
            *self.lease_store_toml(),
            "",
        ]
        if s.dataplane is not None:
            lines += [
                "[mobility]",
                f'dataplane = "{s.dataplane}"',
                f'core_interface = "{CORE_IF}"',
                f'core_address = "{r.core_address}"',
                f'sid = "{sid}"',
                "poll_interval = 0.5",
            ]
            for j, peer in enumerate(routers):
                if peer.name == name:
                    continue
                psid, pnet = sid_of(j)
                lines += ["  [[mobility.peer]]", f'  id = "{peer.name}"',
                          f'  core_address = "{peer.core_address}"', f'  sid = "{psid}"',
                          f'  sid_prefix = "{pnet}"']
        lines += [
            "",
            "[[interface]]",
            f'name = "{ACCESS_IF}"',
            "offered_types = [" + ", ".join(f'"{t.cli_name}"' for t in s.offered) + "]",
            "  [interface.ra]",
            "  adv_send_advertisements = true",
            # M stays 0: odm delegates prefixes only, and M means addresses by
            # DHCPv6 (RFC 4861 §4.2); a client that believes it (NetworkManager)
            # throws the delegation away when no IA_NA comes
            "  adv_managed_flag = false",
            f"  max_rtr_adv_interval = {max(4, round(600 * s.scale))}",
            "  [[interface.ra.prefix]]",
            f'  prefix = "{r.access_prefix}"',
            "  adv_autonomous_flag = false",
        ]
        for t in s.offered:
            pref, valid = s.lifetimes[t]
            lines += [
                "  [[interface.pd_pool]]",
                f'  name = "{t.cli_name}"',
                f'  mobility_type = "{t.cli_name}"',
                f'  prefix = "{pool_of(r.pd_pool, t)}"',
                f"  delegated_length = {s.delegated_length}",
                f"  preferred_lifetime = {pref}",
                f"  valid_lifetime = {valid}",
            ]
        return "\n".join(lines) + "\n"

    def lease_store_toml(self) -> list[str]:
        """The routers' ``[lease_store]`` table: the shared SQLite file, or the
        lab's PostgreSQL server on cn's core address (:mod:`lab.pgserver`)."""
        if self.settings.store == "postgresql":
            from lab.pgserver import DBNAME, PG_PORT, ROLE
            return ["[lease_store]", 'type = "postgresql"',
                    f'host = "{self.lab.config.cn_address}"', f"port = {PG_PORT}",
                    f'dbname = "{DBNAME}"', f'user = "{ROLE}"',
                    f'password_file = "{self.pg_password}"', "timeout = 2.0"]
        if self.settings.store != "sqlite":
            raise ValueError(f"unknown lease store {self.settings.store!r}")
        return ["[lease_store]", 'type = "sqlite"', f'path = "{self.lease_db}"',
                'synchronous = "normal"']

    def start_db(self) -> None:
        """With ``store = "postgresql"``: start the lab's PostgreSQL server (in
        cn) and prepare the database; nothing for SQLite. Raises LabError."""
        if self.settings.store != "postgresql" or self.db is not None:
            return
        from lab.pgserver import LabPostgres
        db = LabPostgres(self.lab, self.pg_password)
        self.db = db
        db.start()

    def host_toml(self) -> str:
        """The TOML config of the host agent in ``mh``."""
        s = self.settings
        return "\n".join([
            "[host]",
            f'iface = "{HOST_IF}"',
            f'api_socket = "{self.host_socket}"',
            'timer_profile = "lab"',
            f"timer_scale = {s.host_timer_scale}",
            "first_solicit_delay = false",
            "legacy_pd = false",
            "boot_types = [" + ", ".join(f'"{t.cli_name}"' for t in s.boot_types) + "]",
            f"setsc_timeout = {s.setsc_timeout}",
            "socket_poll_interval = 0.1",
            'secret = "' + "6f646d2d6c61622d6d682d7365637265" + '"',
            "",
        ])

    # -- processes ---------------------------------------------------------------------------
    def log_path(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def start_router(self, name: str) -> subprocess.Popen:
        cfg = self.workdir / f"{name}.toml"
        cfg.write_text(self.router_toml(name))
        p = self.lab.spawn(name, python_module("odm", "router", "run", "--config",
                                  str(cfg)), self.log_path(name))
        self.procs[name] = p
        return p

    def start_host(self) -> subprocess.Popen:
        cfg = self.workdir / "host.toml"
        cfg.write_text(self.host_toml())
        p = self.lab.spawn(HOST, python_module("odm", "host", "run", "--config",
                                  str(cfg)), self.log_path("host"))
        self.procs["host"] = p
        return p

    def start_all(self) -> None:
        """The lease database (PostgreSQL), the routers (their SIDs and RAs
        up), then the host."""
        self.start_db()
        for r in self.lab.config.router_names:
            self.start_router(r)
        for r in self.lab.config.router_names:
            self.wait_router(r)
        self.start_host()
        wait_for(self.host_socket.exists, 10, "the host agent's API socket")

    def wait_router(self, name: str, timeout: float = 10.0) -> None:
        sock = self.workdir / f"{name}.sock"

        def ready():
            p = self.procs[name]
            if p.poll() is not None:
                raise RuntimeError(f"router agent {name} exited ({p.returncode}); see "
                                   f"{self.log_path(name)}:\n{self.tail(name)}")
            return sock.exists()
        wait_for(ready, timeout, f"router agent {name}")

    def router_status(self, name: str) -> dict:
        """Router ``name``'s status over its control socket (``odm router
        status --json``)."""
        from router.io.control import request
        return request(self.workdir / f"{name}.sock", "status", timeout=5.0).get("status", {})

    def router_dataplane(self, name: str) -> str:
        """The data plane router ``name`` runs (its status says), or ``""``
        without ``[mobility]``."""
        mob = self.router_status(name).get("mobility") or {}
        return (mob.get("dataplane") or {}).get("name", "")

    def tail(self, name: str, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace")
                             .splitlines()[-lines:])
        except OSError:
            return ""

    def stop_all(self) -> None:
        """SIGTERM the host (it releases), then the routers (final RAs), then
        the lease database server."""
        for name in ["host", *[r for r in self.procs if r != "host"]]:
            p = self.procs.pop(name, None)
            if p is not None:
                self.lab.stop(p, timeout=5.0)
        if self.db is not None:
            self.db.stop()
            self.db = None

    # -- the host ----------------------------------------------------------------------------------
    def host_status(self) -> dict:
        """The host agent's status (``odm host status --json``); {} if it is
        not answering."""
        from host import api
        try:
            return api.status(self.host_socket, timeout=2.0)
        except (OSError, ValueError):
            return {}

    def host_addresses(self, mobility_type: MobilityType | None = None,
                       usable: bool = True) -> list[dict]:
        """The host's addresses (status rows), of one type, usable ones only."""
        out = []
        for a in self.host_status().get("addresses", []):
            if mobility_type is not None and a.get("type") != mobility_type.cli_name:
                continue
            if usable and (not a.get("ready") or a.get("deprecated") or not a.get("valid")):
                continue
            out.append(a)
        return out

    def app(self, name: str, args: Iterable[str]) -> App:
        """Start ``python -m lab.apps ARGS`` in ``mh`` as application ``name``."""
        return App(self.lab, HOST, name, python_module("lab.apps", *args),
                   self.log_path(name))

    def cn_app(self, name: str, args: Iterable[str]) -> App:
        return App(self.lab, "cn", name, python_module("lab.apps", *args),
                   self.log_path(name))


class App:
    """One demo program: stdin commands in, JSON lines (from its log) out."""

    def __init__(self, lab: Lab, node: str, name: str, argv: list[str], log: Path) -> None:
        self.lab = lab
        self.name = name
        self.log = log
        self.proc = lab.spawn(node, argv, log, stdin=subprocess.PIPE)
        self._seen = 0

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def _events(self) -> list[dict]:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        out = []
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def expect(self, events: str | tuple[str, ...], timeout: float = 5.0) -> dict:
        """The next not yet seen event whose name is in ``events``; raises
        :class:`DemoTimeout` (with the log's tail) if none comes in time."""
        names = (events,) if isinstance(events, str) else events

        def look():
            evs = self._events()
            for i in range(self._seen, len(evs)):
                if evs[i].get("event") in names:
                    self._seen = i + 1
                    return evs[i]
            if self.proc.poll() is not None and len(evs) <= self._seen:
                raise DemoTimeout(f"{self.name} exited ({self.proc.returncode}) before "
                                  f"{'/'.join(names)}: "
                                  f"{self.log.read_text(errors='replace')[-600:]}")
            return None
        try:
            return wait_for(look, timeout, f"{self.name}: {'/'.join(names)}")
        except DemoTimeout as exc:
            raise DemoTimeout(f"{exc}; log tail: "
                              f"{self.log.read_text(errors='replace')[-600:]}") from None

    def command(self, line: str, events: str | tuple[str, ...], timeout: float = 5.0) -> dict:
        self.send(line)
        return self.expect(events, timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(1.0)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.lab.stop(self.proc, timeout=2.0)
