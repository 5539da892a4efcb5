"""Low-level helpers: run code inside a named network namespace, sysctls,
TX checksum offload, and safe process bookkeeping by PID.

Network namespaces are entered with :func:`pyroute2.netns.setns` in a forked
child (never in the calling process), so a failure can never leave the caller
in the wrong namespace. ``/proc/sys/net`` is resolved against the namespace of
the task that opens it, which is why sysctls are written from such a child.

TX checksum offload is switched off through :mod:`pyroute2.ethtool`'s ioctl
interface (``ETHTOOL_SFEATURES``, the same call as ``ethtool -K IF tx off``),
from inside the interface's namespace: no ``ethtool`` binary is needed.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pyroute2 import netns as _netns

#: Where named namespaces are bind-mounted (pyroute2 and iproute2 agree).
NETNS_DIR = Path(_netns.NETNS_RUN_DIR)


class NetnsError(RuntimeError):
    """Code run inside a namespace failed; the message carries the child's traceback."""


def netns_exists(name: str) -> bool:
    """True if ``/run/netns/NAME`` exists (the namespace is named and mounted)."""
    return (NETNS_DIR / name).exists()


def netns_path(name: str) -> str:
    """The bind-mount path of a named namespace (``/run/netns/NAME``)."""
    return str(NETNS_DIR / name)


def open_netns(name: str) -> int:
    """Open a named namespace read-only and return the fd (caller closes it).

    Raises:
        FileNotFoundError: no such namespace.
    """
    return os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)


def enter_netns_fd(fd: int) -> None:
    """Move the calling process (a ``preexec_fn`` child) into the namespace ``fd``."""
    _netns.setns(fd, flags=0)


def call_in_netns_thread(name: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` on a new thread that entered namespace ``name``
    (``setns`` moves that thread only) and wait for it; return its result or
    raise its exception. Unlike :func:`run_in_netns` the result is any object:
    a socket opened there stays in that namespace.

    Raises:
        FileNotFoundError: the namespace does not exist.
    """
    import threading

    box: dict[str, Any] = {}

    def body() -> None:
        try:
            fd = open_netns(name)
            try:
                _netns.setns(fd, flags=0)
            finally:
                os.close(fd)
            box["v"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["e"] = exc
    t = threading.Thread(target=body, name=f"netns-{name}")
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["v"]


def run_in_netns(name: str, fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
    """Run ``fn(*args)`` in a forked child inside namespace ``name``; return its result.

    The result must be picklable-by-repr: ``None``, ``bool``, ``int``, ``str``,
    or lists/dicts of those (it travels back as ``repr`` and is rebuilt with
    ``ast.literal_eval``).

    Raises:
        FileNotFoundError: the namespace does not exist.
        NetnsError: ``fn`` raised in the child (message = the child's traceback),
            or the child died or did not finish within ``timeout`` seconds.
    """
    import ast

    fd = open_netns(name)
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never returns
            code = 0
            try:
                os.close(r)
                _netns.setns(fd, flags=0)
                payload = "ok " + repr(fn(*args))
            except BaseException:  # noqa: BLE001 - report everything to the parent
                payload = "err " + traceback.format_exc()
                code = 1
            try:
                os.write(w, payload.encode())
            finally:
                os._exit(code)
        os.close(w)
    finally:
        os.close(fd)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        os.set_blocking(r, False)
        while True:
            try:
                chunk = os.read(r, 65536)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    raise NetnsError(f"{name}: {fn.__name__} timed out after {timeout} s") from None
                time.sleep(0.002)
                continue
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    out = b"".join(chunks).decode(errors="replace")
    if out.startswith("ok "):
        return ast.literal_eval(out[3:])
    if out.startswith("err "):
        raise NetnsError(f"in netns {name}: {out[4:].rstrip()}")
    raise NetnsError(f"in netns {name}: child exited with status {status} and no result")


# -- functions meant to run inside a namespace (via run_in_netns) -------------


def _sysctl_path(key: str) -> str:
    """``net.ipv6.conf.mh0.accept_dad`` or ``net/ipv6/conf/mh0/accept_dad`` -> /proc path."""
    rel = key.strip("/") if "/" in key else key.replace(".", "/")
    if ".." in rel.split("/"):
        raise ValueError(f"bad sysctl key {key!r}")
    return "/proc/sys/" + rel


def ns_sysctls(settings: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, str]:
    """(In a namespace.) Write each ``key: value`` (``None`` = only read), in order.

    Returns {key: value read back}.
    """
    items = settings.items() if isinstance(settings, Mapping) else settings
    out = {}
    for key, value in items:
        path = _sysctl_path(key)
        if value is not None:
            with open(path, "w") as fh:
                fh.write(str(int(value) if isinstance(value, bool) else value))
        with open(path) as fh:
            out[key] = fh.read().strip()
    return out


def ns_tx_checksum(ifnames: Iterable[str], enable: bool = False) -> dict[str, bool]:
    """(In a namespace.) Switch every available ``tx-checksum-*`` feature of each
    interface on or off (``ethtool -K IF tx on|off``); the kernel drops the
    features that depend on it (TSO ...). Returns {ifname: tx-checksum-ip-generic
    state after the change} (False means offload is off).
    """
    from pyroute2.ethtool.ioctl import IoctlEthtool

    out = {}
    eth = IoctlEthtool()
    try:
        for ifname in ifnames:
            eth.change_ifname(ifname)
            feats = eth.get_features()
            # EthtoolFeaturesList iterates over tuples; keys() gives the names
            names = [n for n in feats.keys() if n.startswith("tx-checksum")  # noqa: SIM118
                     and feats.is_available(n)]
            if names:
                for n in names:
                    feats[n] = enable
                eth.set_features(feats)
            eth.change_ifname(ifname)
            after = eth.get_features()
            out[ifname] = any(after[n] for n in names)
    finally:
        eth.close()
    return out


def ns_tx_checksum_state(ifnames: Iterable[str]) -> dict[str, bool]:
    """(In a namespace.) {ifname: True if any tx-checksum-* feature is active}."""
    from pyroute2.ethtool.ioctl import IoctlEthtool

    out = {}
    eth = IoctlEthtool()
    try:
        for ifname in ifnames:
            eth.change_ifname(ifname)
            feats = eth.get_features()
            out[ifname] = any(feats[n] for n in feats.keys()  # noqa: SIM118 (see above)
                              if n.startswith("tx-checksum"))
    finally:
        eth.close()
    return out


# -- processes -----------------------------------------------------------------


def proc_starttime(pid: int) -> int | None:
    """The start time (clock ticks since boot, /proc/PID/stat field 22) of a
    live, non-zombie process, or None if there is no such process.

    A PID plus its start time names one process for good: a recycled PID has a
    different start time, so the lab never signals a stranger.
    """
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESRCH):
            return None
        raise
    # comm may contain spaces and parentheses: split after the last ')'
    rest = stat[stat.rindex(")") + 2:].split()
    if rest[0] in ("Z", "X"):
        return None
    return int(rest[19])


def proc_alive(pid: int, starttime: int | None = None) -> bool:
    """True if process ``pid`` runs (not a zombie) and, when given, has ``starttime``."""
    st = proc_starttime(pid)
    return st is not None and (starttime is None or st == starttime)


def signal_pid(pid: int, sig: int, starttime: int | None) -> bool:
    """Send ``sig`` to ``pid`` only if it is still the process started at
    ``starttime``. Returns True if the signal was sent."""
    if not proc_alive(pid, starttime):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def reap(pid: int) -> None:
    """Collect ``pid`` if it is our child and has exited (no-op otherwise)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def python_module(module: str, *args: str) -> list[str]:
    """The command line that runs ``python -m module args`` for the lab's
    agents and applications, from the installed odm: ``-P`` keeps the current
    directory off ``sys.path`` (Python 3.11), so a checkout (or any
    ``odm/``, ``router/`` folder) where the user stands cannot silently stand
    in for the installed package; ``PYTHONPATH`` still applies."""
    return [sys.executable, "-P", "-m", module, *args]
