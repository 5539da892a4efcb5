"""odm's agents in a lab with the golden captures' configurations, for
``pcaps/regenerate.py`` (making the captures) and ``tests/replay`` (replaying
them against the current agents).

:class:`GoldenLab` takes a lab that is up (``lab.Lab``) and a work directory:
``start_router("ar1")`` copies ``pcaps/ar1.toml`` there (its relative paths —
the shared lease store, the control socket — land in the work directory) and
runs ``odm router run`` in the router's namespace; ``start_host()`` runs
``odm host run`` in ``mh`` with ``pcaps/host.toml``; ``app()`` starts a
:class:`SetscApp` (``python -m odm.pcaptools.setsc_app``) in ``mh``;
``capture(path)`` runs tcpdump on the host's ``mh0`` (it sees every message
the host sends and receives, across moves). Every process goes through
:meth:`lab.Lab.spawn`, so ``Lab.down()`` stops it even after a crash.

:func:`replay_router` and :func:`replay_host` run a conformance replay of a
:class:`~odm.pcaptools.golden.Golden` capture against live agents in a lab.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from odm.pcaptools.conformance import CompareOptions, Report, conform_host, conform_router
from odm.pcaptools.golden import GOLDEN_DIR, Golden

__all__ = [
    "ODM_BPF",
    "GoldenLab",
    "LabRunError",
    "SetscApp",
    "replay_host",
    "replay_router",
]

#: RS/RA and DHCPv6: what a golden capture keeps (MLD, NS/NA and DAD left out)
ODM_BPF = "(icmp6 and (ip6[40] == 133 or ip6[40] == 134)) or udp port 546 or udp port 547"


class LabRunError(RuntimeError):
    """An agent did not start, or the application did not answer, in time;
    the message carries the end of its log."""


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _wait(pred, timeout: float, what: str, log: Path | None = None, proc=None) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if proc is not None and proc.poll() is not None:
            raise LabRunError(f"{what}: exited with {proc.returncode}\n{_tail(log)}")
        if time.monotonic() > end:
            raise LabRunError(f"{what}: not ready after {timeout:g} s\n"
                              f"{_tail(log) if log else ''}")
        time.sleep(0.02)


class SetscApp:
    """The scripted application (:mod:`odm.pcaptools.setsc_app`) in the
    host's namespace: ``setsc(owner, type, on_net)`` and ``close(owner)`` send
    a command and return at once; :meth:`result` waits for an answer."""

    def __init__(self, lab, socket_path: Path, log: Path) -> None:
        self.lab = lab
        self.log = log
        with open(log, "wb") as err:
            self.proc = lab.spawn("mh", [sys.executable, "-m", "odm.pcaptools.setsc_app",
                                         "--socket", str(socket_path)], None,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.result("ready", timeout=15.0)

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                pass

    def _send(self, line: str) -> None:
        try:
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
        except OSError as exc:
            raise LabRunError(f"setsc app: {exc}\n{_tail(self.log)}") from None

    def setsc(self, owner: int, t: str, on_net: bool = False) -> None:
        self._send(f"setsc {owner} {t}{' on-net' if on_net else ''}")

    def close(self, owner: int) -> None:
        self._send(f"close {owner}")

    def result(self, event: str = "setsc", timeout: float = 5.0) -> dict:
        """The next ``event`` line (others are skipped). Raises LabRunError."""
        end = time.monotonic() + timeout
        while True:
            try:
                e = self.events.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise LabRunError(f"setsc app: no {event!r} within {timeout:g} s\n"
                                  f"{_tail(self.log)}") from None
            if e.get("event") == event:
                return e

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send("quit")
                self.proc.wait(1.0)
            except (LabRunError, subprocess.TimeoutExpired):
                pass
        self.lab.stop(self.proc, timeout=2.0)


class GoldenLab:
    """The golden configurations' agents in ``lab`` (module docstring)."""

    def __init__(self, lab, workdir: str | Path, directory: str | Path = GOLDEN_DIR) -> None:
        self.lab = lab
        self.workdir = Path(workdir)
        self.directory = Path(directory)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.host_socket = self.workdir / "host.sock"

    def log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def start_router(self, name: str, timeout: float = 20.0, config_text: str | None = None
                     ) -> subprocess.Popen:
        """``odm router run`` in router ``name``'s namespace with
        ``pcaps/{name}.toml`` (or ``config_text``); returns once its control
        socket exists. Raises :class:`LabRunError`."""
        cfg = self.workdir / f"{name}.toml"
        cfg.write_text(config_text if config_text is not None
                       else (self.directory / f"{name}.toml").read_text())
        sock = self.workdir / f"{name}.sock"
        sock.unlink(missing_ok=True)
        p = self.lab.spawn(name, [sys.executable, "-m", "odm", "router", "run", "--config",
                                  str(cfg), "--log-level", "info"], self.log(name))
        self.procs[name] = p
        _wait(sock.exists, timeout, f"router agent {name}", self.log(name), p)
        return p

    def start_host(self, timeout: float = 20.0, **overrides) -> subprocess.Popen:
        """``odm host run`` in ``mh`` with ``pcaps/host.toml`` (``overrides``:
        more ``[host]`` keys); returns once its API socket exists."""
        text = (self.directory / "host.toml").read_text()
        extra = {"api_socket": str(self.host_socket),
                 "secret_file": str(self.workdir / "host.secret"), **overrides}
        lines = [text.rstrip(), ""] + [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
        cfg = self.workdir / "host.toml"
        cfg.write_text("\n".join(lines) + "\n")
        self.host_socket.unlink(missing_ok=True)
        p = self.lab.spawn("mh", [sys.executable, "-m", "odm", "host", "run", "--config",
                                  str(cfg)], self.log("host"))
        self.procs["host"] = p
        _wait(self.host_socket.exists, timeout, "host agent", self.log("host"), p)
        return p

    def app(self) -> SetscApp:
        """The scripted application in ``mh``, talking to the host agent."""
        return SetscApp(self.lab, self.host_socket, self.log("app"))

    def capture(self, path: str | Path, bpf: str = ODM_BPF, link: str = "access"
                ) -> subprocess.Popen:
        """tcpdump on ``link`` (a name of ``Lab.links()``; default ``access``,
        the host's ``mh0``) into ``path``; RS/RA and DHCPv6 only by default."""
        return self.lab.capture(link, None, path, bpf=bpf,
                                log_path=self.log(f"tcpdump-{Path(path).stem}"))

    def stop(self, name_or_proc) -> None:
        p = self.procs.pop(name_or_proc, None) if isinstance(name_or_proc, str) \
            else name_or_proc
        if p is not None:
            self.lab.stop(p, timeout=5.0)

    def stop_all(self) -> None:
        """The host first (it releases), then the routers."""
        for name in ["host", *[n for n in self.procs if n != "host"]]:
            self.stop(name)


def replay_router(golden: Golden, lab, workdir: str | Path, *, timeout: float = 3.0,
                  options: CompareOptions | None = None, directory: str | Path = GOLDEN_DIR,
                  configs: dict[str, str] | None = None) -> Report:
    """Start ``golden``'s router agents (fresh shared lease store) in ``lab``,
    play the capture's client side from ``mh0`` and compare (exact prefixes
    by default: same configuration, fresh store). ``configs``: router name →
    TOML text to run instead of ``pcaps/{name}.toml``. The agents are
    stopped before returning."""
    from odm.pcaptools.capture import read_capture
    from odm.pcaptools.livepeers import LiveRouterPeer
    from odm.pcaptools.packets import dissect_all

    gl = GoldenLab(lab, workdir, directory)
    try:
        for r in golden.routers:
            gl.start_router(r, config_text=(configs or {}).get(r))
        peer = LiveRouterPeer("mh0", netns=lab.netns("mh"), mover=lambda r: lab.move("mh", r))
        try:
            return conform_router(dissect_all(read_capture(golden.path)), peer,
                                  actions=list(golden.actions), timeout=timeout,
                                  options=options or CompareOptions(exact_prefixes=True))
        finally:
            peer.close()
    finally:
        gl.stop_all()


def replay_host(golden: Golden, lab, workdir: str | Path, *, timeout: float = 3.0,
                options: CompareOptions | None = None, directory: str | Path = GOLDEN_DIR,
                **host_overrides) -> Report:
    """Start the host agent (``pcaps/host.toml``) and the scripted
    application in ``lab``, play the capture's server side from the routers'
    access links, perform its actions, compare. Stops what it started."""
    from odm.pcaptools.capture import read_capture
    from odm.pcaptools.livepeers import LiveHostPeer
    from odm.pcaptools.packets import dissect_all

    gl = GoldenLab(lab, workdir, directory)
    peer = LiveHostPeer({r: (lab.netns(r), "acc") for r in golden.routers},
                        mover=lambda r: lab.move("mh", r))
    app = None
    try:
        gl.start_host(**host_overrides)
        app = gl.app()
        peer.app = app
        return conform_host(dissect_all(read_capture(golden.path)), peer,
                            actions=list(golden.actions), timeout=timeout, options=options)
    finally:
        peer.close()
        if app is not None:
            app.stop()
        gl.stop_all()
