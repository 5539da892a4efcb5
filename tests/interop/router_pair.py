"""Two network namespaces joined by one veth pair, with the odm router agent
on one side: the fixture of the router agent's real-kernel tests
(tests/netns/test_router_agent.py), interop tests (tests/interop/test_router_*.py)
and bench/router_vs_kea.py.

``rtr`` runs the router agent (forwarding on), ``cli`` runs the client (odm's
own probe code, WIDE dhcp6c, ISC dhclient, dhcpcd, rdisc6, perfdhcp). Names
carry the tag ``h1`` and 6 random hex digits; DAD is off, TX checksum offload
is off on both veth ends (captures carry real checksums). Every process
started through the pair is stopped by PID, and both namespaces (with the
veth) are removed on exit, also on failure.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from netnscheck import netns_available
from probe_netns import joined_namespaces, start_tcpdump

RTR_MAC = "02:00:00:00:01:01"
CLI_MAC = "02:00:00:00:01:02"
REPO = Path(__file__).resolve().parents[2]
RTPROT_ODM = 0x4F

#: A scaled-timer config for one interface ``{iface}``; RAs every ~0.3-0.5 s,
#: one untyped (default) pool and one per mobility type, short lifetimes.
#: The RA's M and O flags are off by default: odm delegates prefixes and hands
#: out neither addresses (M, RFC 4861 §4.2: "addresses are available via
#: DHCPv6") nor other configuration (O). Every client the interop tests run
#: asks for IA_PD by its own configuration, with or without M: WIDE dhcp6c
#: and ISC dhclient -6 -P ignore RAs altogether, dhcpcd starts DHCPv6 at once
#: for an ``ia_pd`` configured on the interface, odm's host agent solicits
#: IA_PD on its own. A peer that needs M or O set is given them explicitly
#: (``managed=True`` / ``other=True``) with the reason where it is started.
CONFIG_TEMPLATE = """\
[router]
id = "h1rtr"
lease_db = "{lease_db}"
lease_db_synchronous = "{sync}"
control_socket = "{control}"
server_duid = "llt"
rapid_commit = {rapid}
max_bindings_per_client = {max_per_client}
log_rate_limit = 1

[timers]
profile = "scaled"
scale = {scale}

[[interface]]
name = "{iface}"
default_pool = "legacy"

  [interface.ra]
  adv_send_advertisements = true
  max_rtr_adv_interval = {max_ra}
  min_rtr_adv_interval = {min_ra}
  adv_managed_flag = {managed}
  adv_other_config_flag = {other}
  adv_default_lifetime = 1800

    [[interface.ra.prefix]]
    prefix = "2001:db8:1::/64"
    mobility_type = "non-persistent"
    adv_valid_lifetime = 86400
    adv_preferred_lifetime = 14400

  [[interface.pd_pool]]
  name = "legacy"
  prefix = "{legacy_pool}"
  delegated_length = {legacy_len}
  preferred_lifetime = {pref}
  valid_lifetime = {valid}
  {t1t2}

  [[interface.pd_pool]]
  name = "fixed"
  mobility_type = "fixed"
  prefix = "2001:db8:f000::/48"
  delegated_length = 56
  preferred_lifetime = {pref}
  valid_lifetime = {valid}

  [[interface.pd_pool]]
  name = "session"
  mobility_type = "session-lasting"
  prefix = "2001:db8:5000::/48"
  delegated_length = 56
  preferred_lifetime = {pref}
  valid_lifetime = {valid}

  [[interface.pd_pool]]
  name = "nonpersistent"
  mobility_type = "non-persistent"
  prefix = "2001:db8:3000::/48"
  delegated_length = 56
  preferred_lifetime = {pref}
  valid_lifetime = {valid}
"""


def netns_ok() -> tuple[bool, str]:
    """(ok, reason): root, and a namespace can be created and removed
    (tests/netnscheck.py)."""
    return netns_available()


def write_config(path: Path, iface: str, workdir: Path, **kw) -> Path:
    """Write a router config for ``iface`` (template above) to ``path``.
    Keywords override: scale, sync, rapid, pref, valid, t1, t2, max_ra,
    min_ra, legacy_pool, legacy_len, max_per_client, lease_db, control,
    managed, other (the RA's M and O flags, off by default)."""
    t1, t2 = kw.pop("t1", None), kw.pop("t2", None)
    t1t2 = "\n  ".join(f"{k} = {v}" for k, v in (("t1", t1), ("t2", t2)) if v is not None)
    vals = {"lease_db": workdir / "leases.sqlite3", "control": workdir / "router.sock",
            "sync": "normal", "rapid": "true", "scale": 0.01, "pref": 40, "valid": 60,
            "max_ra": 4, "min_ra": 3, "legacy_pool": "2001:db8:8000::/40", "legacy_len": 56,
            "max_per_client": 16, "managed": False, "other": False}
    vals.update(kw)
    for k in ("rapid", "managed", "other"):
        if isinstance(vals[k], bool):
            vals[k] = "true" if vals[k] else "false"
    path.write_text(CONFIG_TEMPLATE.format(iface=iface, t1t2=t1t2, **vals))
    return path


@dataclass
class RouterPair:
    rtr_ns: str
    cli_ns: str
    rtr_if: str
    cli_if: str
    workdir: Path
    procs: list = field(default_factory=list)

    # ------------------------------------------------------------ processes
    def spawn(self, ns: str, argv: Sequence[str], log: Path, env: dict | None = None,
              stdout=None) -> subprocess.Popen:
        """Start ``argv`` inside namespace ``ns`` (stopped at teardown); output
        to ``log`` (or ``stdout`` if given)."""
        from lab.nsutil import enter_netns_fd, open_netns
        fd = open_netns(ns)
        fh = open(log, "wb")  # noqa: SIM115 - handed to the child, closed below
        try:
            p = subprocess.Popen(list(argv), stdout=stdout or fh, stderr=fh,
                                 stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                                 preexec_fn=lambda: enter_netns_fd(fd),  # noqa: PLW1509
                                 pass_fds=(fd,), cwd=str(self.workdir))
        finally:
            os.close(fd)
            fh.close()
        self.procs.append(p)
        return p

    def run(self, ns: str, argv: Sequence[str], timeout: float = 60,
            env: dict | None = None) -> subprocess.CompletedProcess:
        """Run ``argv`` to completion inside ``ns``; capture its output."""
        from lab.nsutil import enter_netns_fd, open_netns
        fd = open_netns(ns)
        try:
            return subprocess.run(list(argv), check=False, capture_output=True, text=True,
                                  timeout=timeout,
                                  env={**os.environ, "COLUMNS": "200", **(env or {})},
                                  preexec_fn=lambda: enter_netns_fd(fd),
                                  pass_fds=(fd,), cwd=str(self.workdir))
        finally:
            os.close(fd)

    def stop(self, p: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0
             ) -> int:
        """Signal one process we started and wait for it; SIGKILL after
        ``timeout`` seconds. Returns its exit code."""
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def stop_all(self) -> None:
        for p in list(self.procs):
            self.stop(p, timeout=5)

    # --------------------------------------------------------- router agent
    def config(self, name: str = "router.toml", **kw) -> Path:
        return write_config(self.workdir / name, self.rtr_if, self.workdir, **kw)

    def start_router(self, config: Path, log: Path | None = None, level: str = "info",
                     timeout: float = 15.0) -> subprocess.Popen:
        """``python -m odm router run --config CONFIG`` in the router
        namespace; returns once it answers on its control socket."""
        log = log or self.workdir / "router.log"
        p = self.spawn(self.rtr_ns, [sys.executable, "-m", "odm", "router", "run", "--config",
                                     str(config), "--log-level", level], log,
                       env={"PYTHONPATH": str(REPO)})
        self.wait_router(p, log, timeout)
        return p

    def wait_router(self, p: subprocess.Popen, log: Path, timeout: float = 15.0) -> None:
        from router.io.control import ControlUnavailable, request
        sock = self.workdir / "router.sock"
        deadline = time.monotonic() + timeout
        while True:
            if p.poll() is not None:
                raise RuntimeError(f"router agent exited ({p.returncode}):\n"
                                   f"{log.read_text(errors='replace')[-3000:]}")
            try:
                if request(sock, "ping", timeout=1.0).get("ok"):
                    return
            except ControlUnavailable:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"router agent not ready after {timeout} s:\n"
                                   f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)

    def status(self) -> dict:
        from router.io.control import request
        ans = request(self.workdir / "router.sock", "status")
        assert ans["ok"], ans
        return ans["status"]

    def odm_routes(self) -> dict[str, str]:
        """{prefix: gateway} of the routes with proto RTPROT_ODM in the router
        namespace (read through netlink)."""
        from pyroute2 import NetNS
        out = {}
        with NetNS(self.rtr_ns) as n:
            for r in n.get_routes(family=socket.AF_INET6):
                if r["proto"] == RTPROT_ODM:
                    out[f"{r.get_attr('RTA_DST')}/{r['dst_len']}"] = r.get_attr("RTA_GATEWAY")
        return out

    def link_local(self, ns: str, ifname: str) -> str:
        from pyroute2 import NetNS
        with NetNS(ns) as n:
            idx = n.link_lookup(ifname=ifname)[0]
            for a in n.get_addr(family=socket.AF_INET6, index=idx):
                if a.get_attr("IFA_ADDRESS").startswith("fe80"):
                    return a.get_attr("IFA_ADDRESS")
        raise RuntimeError(f"no link-local on {ifname}")

    # -------------------------------------------------------------- capture
    def capture(self, ns: str, ifname: str, pcap: Path, bpf: str | None = None
                ) -> subprocess.Popen:
        """tcpdump on ``ifname`` in ``ns`` into ``pcap``; returns once listening.
        Stop it with ``stop(p, signal.SIGINT)``."""
        return start_tcpdump(self.spawn, ns, ifname, pcap, bpf)


def private_mounts(binds: dict[str, Path], argv: Sequence[str]) -> list[str]:
    """``argv`` run in a private mount namespace (``unshare --mount``) with a
    fresh tmpfs on ``/run`` and each ``{target: source}`` directory bind-mounted
    (for example a temporary directory over ``/var/lib/dhcpcd``), so a client
    whose state paths are compiled in writes nothing outside the test's
    directory."""
    cmds = ["mount -t tmpfs tmpfs /run"] + [
        f"mkdir -p {t} && mount --bind {src} {t}" for t, src in binds.items()]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            " && ".join(cmds) + ' && exec "$@"', "sh", *argv]


def wait_until(pred, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``pred()`` until it returns a truthy value (returned) or raise
    AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


@contextmanager
def router_pair(workdir: Path, tag: str = "h1") -> Iterator[RouterPair]:
    """Create the namespaces and veth (module docstring), yield a
    :class:`RouterPair`, and remove everything afterwards."""
    h = secrets.token_hex(3)
    pair = RouterPair(f"{tag}r{h}", f"{tag}c{h}", f"{tag}r{h}", f"{tag}c{h}", Path(workdir))
    pair.workdir.mkdir(parents=True, exist_ok=True)
    with joined_namespaces((pair.rtr_ns, pair.cli_ns), (pair.rtr_if, pair.cli_if),
                           (RTR_MAC, CLI_MAC), forwarding_first=True, stop_all=pair.stop_all):
        yield pair
