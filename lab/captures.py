"""The lab's captures: named capture points and tcpdump inside a namespace
(a part of :class:`lab.topology.Lab`). TX checksum offload is off on every
lab interface (:mod:`lab.topology`), so captured packets carry real
checksums."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

from lab.config import ACCESS_BRIDGE, CN, CORE_BRIDGE, HOST, HOST_IF, ROUTER_CORE_IF
from lab.errors import LabError

__all__ = ["LabCaptures"]


class LabCaptures:
    """:meth:`links` and :meth:`capture` (``spawn``/``stop`` come from
    :class:`lab.processes.LabProcesses`)."""

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
        log_path = (Path(log_path) if log_path is not None
                    else pcap_path.with_name(pcap_path.name + ".log"))
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
