"""One agent per interface, per socket and per state file: exclusive
``flock(2)`` locks taken before an agent touches anything (docs/security.md).

An agent locks, before it opens a socket, changes a sysctl, a route or an
address, or opens its store:

- a lock file next to each file it owns (``<path>.lock``: the API or control
  socket, the host's state file), and
- one per interface it serves, named by the network namespace (the inode of
  ``/proc/self/ns/net``) and the interface, in :data:`LOCK_DIR`
  (``/run/odm/locks``, or ``$ODM_LOCK_DIR``): two agents in different
  namespaces may serve interfaces of the same name.

A lock that another process holds makes :meth:`InstanceLock.acquire` raise
:class:`AlreadyRunning` naming the file and the holder's pid; the caller exits
without touching anything, so the running agent keeps its routes, addresses
and socket. The kernel drops a lock when its holder dies (even by SIGKILL),
so a crash leaves nothing that blocks the next start. An agent that stops
removes its lock files while it still holds them (as radvd and Kea remove
their pid files), and a locker checks, once it holds a lock, that the file it
locked is still the one at the path (same inode): one that locked a file just
removed by the agent stopping opens the path again, so two agents never hold
two different files of the same name. A killed agent's lock files stay; the
next agent takes them over. Lock files are opened with ``O_NOFOLLOW`` and
created mode 0600.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["LOCK_DIR", "AlreadyRunning", "InstanceLock", "interface_lock_path"]

LOCK_DIR = Path(os.environ.get("ODM_LOCK_DIR", "/run/odm/locks"))


class AlreadyRunning(OSError):
    """Another agent holds one of our locks."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EBUSY, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _netns_id() -> str:
    try:
        return f"net{os.stat('/proc/self/ns/net').st_ino}"
    except OSError:
        return "net-unknown"


def interface_lock_path(kind: str, iface: str, lock_dir: Path | None = None) -> Path:
    """The lock of ``kind`` (``"host"``, ``"router"``) on ``iface`` in this
    network namespace."""
    return (lock_dir or LOCK_DIR) / f"{kind}-{iface}@{_netns_id()}.lock"


class InstanceLock:
    """Exclusive locks on ``paths`` (taken in order, all or none).
    ``optional``: paths whose directory cannot be made (e.g. not root) are
    skipped with a warning instead of failing."""

    def __init__(self, what: str, paths, optional=()) -> None:
        self.what = what
        self.paths = [Path(p) for p in paths]
        self.optional = [Path(p) for p in optional]
        self.fds: list[int] = []
        self.held: list[tuple[int, Path]] = []

    def acquire(self) -> InstanceLock:
        try:
            for p in self.paths:
                self._lock(p, optional=False)
            for p in self.optional:
                self._lock(p, optional=True)
        except BaseException:
            self.release()
            raise
        return self

    def _lock(self, path: Path, *, optional: bool) -> None:
        for _ in range(100):
            fd = self._open(path, optional=optional)
            if fd is None:
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                raise AlreadyRunning(
                    f"another {self.what} is running (pid {holder or '?'} holds {path}); "
                    "nothing was changed") from None
            if _same_file(fd, path):
                break
            os.close(fd)  # removed by the agent that held it as it stopped: again
        else:
            raise OSError(errno.EAGAIN, f"lock file {path} keeps being replaced; "
                                        "is another agent starting and stopping?")
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fds.append(fd)
        self.held.append((fd, path))

    def _open(self, path: Path, *, optional: bool) -> int | None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if optional:
                log.warning("lock %s not taken (%s): a second agent on this interface "
                            "would not be refused", path, exc.strerror or exc)
                return None
            raise OSError(exc.errno, f"cannot open lock file {path}: "
                                     f"{exc.strerror or exc}") from None
        return fd

    def release(self) -> None:
        """Remove the lock files (each while still held, and only if it is
        still the file locked) and give the locks back."""
        for fd, path in self.held:
            if _same_file(fd, path):
                try:
                    path.unlink()
                except OSError as exc:
                    log.debug("lock file %s stays: %s", path, exc)
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []
        self.held = []


def _same_file(fd: int, path: Path) -> bool:
    """True if ``path`` still names the file open as ``fd``."""
    try:
        a, b = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or "x")
    except (OSError, ValueError):
        return None
