"""A veth pair between two fresh network namespaces, for the probe interop
tests: ``srv`` (Kea / radvd / an odm router) and ``cli`` (where odm probe
runs). Unique names, DAD off, checksum offload off, always removed."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from netnscheck import netns_available

SRV_MAC = "02:00:00:00:00:01"
CLI_MAC = "02:00:00:00:00:02"


def netns_ok() -> tuple[bool, str]:
    """(ok, reason): root, and a namespace can be created and removed
    (tests/netnscheck.py)."""
    return netns_available()


@dataclass
class Pair:
    srv_ns: str
    cli_ns: str
    srv_if: str
    cli_if: str
    procs: list = field(default_factory=list)

    def spawn(self, ns: str, argv: Sequence[str], log: Path, env: dict | None = None
              ) -> subprocess.Popen:
        """Start ``argv`` inside namespace ``ns`` (stopped at teardown)."""
        from lab.nsutil import enter_netns_fd, open_netns
        fd = open_netns(ns)
        try:
            with open(log, "wb") as fh:
                # setns(2) on an fd opened above: no locks in the child (as lab.Lab)
                p = subprocess.Popen(
                    list(argv), stdout=fh, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                    preexec_fn=lambda: enter_netns_fd(fd), pass_fds=(fd,))  # noqa: PLW1509
        finally:
            os.close(fd)
        self.procs.append(p)
        return p

    def odm(self, *args: str, ns: str | None = None, timeout: float = 60
            ) -> subprocess.CompletedProcess:
        """Run ``python -m odm ARGS --netns <cli ns>`` and return the result."""
        return subprocess.run([sys.executable, "-m", "odm", *args, "--netns", ns or self.cli_ns],
                              capture_output=True, text=True, timeout=timeout, check=False,
                              env={**os.environ, "COLUMNS": "200"})

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        self.procs.clear()


def _ns_prep(ns: str) -> None:
    from lab.nsutil import ns_sysctls, run_in_netns
    run_in_netns(ns, ns_sysctls, {"net.ipv6.conf.default.accept_dad": 0,
                                  "net.ipv6.conf.all.accept_dad": 0,
                                  "net.ipv6.conf.default.accept_ra": 0})


@contextmanager
def joined_namespaces(ns: tuple[str, str], ifs: tuple[str, str], macs: tuple[str, str], *,
                      forwarding_first: bool, stop_all) -> Iterator[None]:
    """Create namespaces ``ns`` joined by a veth (end ``ifs[i]`` with MAC
    ``macs[i]`` in ``ns[i]``): DAD and RA acceptance off, TX checksum offload
    off, lo and the veth up, link-locals ready; forwarding on in the first
    when ``forwarding_first``. On exit ``stop_all()`` (the processes started
    in them), then both namespaces (and with them the veth) are removed,
    also on failure. Shared by :func:`veth_pair` and
    ``router_pair.router_pair``."""
    from pyroute2 import IPRoute, NetNS, netns

    from lab.nsutil import ns_sysctls, ns_tx_checksum, run_in_netns

    created: list[str] = []
    try:
        for n in ns:
            netns.create(n)
            created.append(n)
            _ns_prep(n)
        with IPRoute() as ipr:
            ipr.link("add", ifname=ifs[0], kind="veth", peer=ifs[1])
            try:
                for ifn, mac, n in zip(ifs, macs, ns, strict=True):
                    idx = ipr.link_lookup(ifname=ifn)[0]
                    ipr.link("set", index=idx, address=mac)
                    ipr.link("set", index=idx, net_ns_fd=n)
            except Exception:
                for ifn in ifs:
                    found = ipr.link_lookup(ifname=ifn)
                    if found:
                        ipr.link("del", index=found[0])
                raise
        for n, ifn in zip(ns, ifs, strict=True):
            with NetNS(n) as nl:
                nl.link("set", index=nl.link_lookup(ifname="lo")[0], state="up")
                nl.link("set", index=nl.link_lookup(ifname=ifn)[0], state="up")
            run_in_netns(n, ns_tx_checksum, [ifn], False)
        if forwarding_first:
            run_in_netns(ns[0], ns_sysctls, {"net.ipv6.conf.all.forwarding": 1})
        for n, ifn in zip(ns, ifs, strict=True):
            _wait_ll(n, ifn)
        yield
    finally:
        stop_all()
        for n in created:
            try:
                netns.remove(n)
            except Exception as exc:  # noqa: BLE001
                print(f"cannot remove {n}: {exc}")


@contextmanager
def veth_pair(forwarding_srv: bool = True) -> Iterator[Pair]:
    """Create the pair (MACs 02:00:00:00:00:01 srv / :02 cli), yield a Pair,
    remove namespaces (and with them the veth and their processes' sockets)."""
    tag = secrets.token_hex(3)
    pair = Pair(f"odmps{tag}", f"odmpc{tag}", f"ps{tag}", f"pc{tag}")
    with joined_namespaces((pair.srv_ns, pair.cli_ns), (pair.srv_if, pair.cli_if),
                           (SRV_MAC, CLI_MAC), forwarding_first=forwarding_srv,
                           stop_all=pair.stop_all):
        yield pair


def _wait_ll(ns: str, ifn: str, timeout: float = 5.0) -> None:
    import socket as s

    from pyroute2 import NetNS
    deadline = time.monotonic() + timeout
    with NetNS(ns) as n:
        idx = n.link_lookup(ifname=ifn)[0]
        while time.monotonic() < deadline:
            for a in n.get_addr(family=s.AF_INET6, index=idx):
                if a.get_attr("IFA_ADDRESS").startswith("fe80") and not (
                        (a.get_attr("IFA_FLAGS") or a["flags"]) & 0x40):
                    return
            time.sleep(0.05)
    raise RuntimeError(f"no link-local on {ifn} in {ns}")


def wait_for_text(path: Path, text: str, timeout: float = 10.0, proc=None) -> None:
    """Wait until ``text`` appears in the file ``path`` (a daemon's log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}): "
                               f"{path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{text!r} not in {path} after {timeout}s: "
                       f"{path.read_text(errors='replace')[-2000:] if path.exists() else ''}")


def start_tcpdump(spawn, ns: str, ifname: str, pcap: Path, bpf: str | None = None
                  ) -> subprocess.Popen:
    """tcpdump on ``ifname`` in ``ns`` into ``pcap``, started with
    ``spawn(ns, argv, log)`` (so stopped at teardown); returns once it
    listens. Stop it with SIGINT (it flushes)."""
    log = pcap.with_suffix(".tcpdump.log")
    argv = ["tcpdump", "-i", ifname, "-w", str(pcap), "-U", "--immediate-mode", "-n",
            "-Z", "root"] + ([bpf] if bpf else [])
    p = spawn(ns, argv, log)
    deadline = time.monotonic() + 5
    while "listening on" not in (log.read_text(errors="replace") if log.exists() else ""):
        if p.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"tcpdump did not start: {log.read_text(errors='replace')}")
        time.sleep(0.02)
    return p
