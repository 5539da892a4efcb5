"""The lab's processes: programs run inside a node's namespace, recorded in
the lab's state file before they run, stopped by PID (checked against their
start time), never by name.

Processes are entered into the namespace with ``setns(2)`` in ``preexec_fn``
(pyroute2's ``netns.setns`` on an fd opened beforehand); the mount namespace is
*not* changed, so ``/sys/class/net`` shows the caller's view (use netlink, not
sysfs). :class:`LabProcesses` is a part of :class:`lab.topology.Lab`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab import nsutil
from lab.errors import LabError

log = logging.getLogger("lab.topology")

__all__ = ["LabError", "LabProcesses"]


class LabProcesses:
    """Run things in the lab's namespaces: :meth:`exec`, :meth:`spawn`,
    :meth:`stop` (a part of :class:`lab.topology.Lab`, which provides
    ``_store``, ``_children``, ``_load`` and ``_existing_netns``)."""

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
