"""Files and sockets at configured paths, safe against planted symlinks
(docs/security.md; issue 13 point 15).

An agent runs as root; a configured path may lie in a directory a local user
can write (a misconfiguration, or ``/tmp``). A symlink planted there must not
make root read, overwrite or chmod another file. The rules:

- a private file is **read** with ``O_NOFOLLOW`` and used only if it is a
  regular file owned by the agent's uid (:func:`read_private`);
- it is **written** to a fresh temporary file in the same directory
  (``O_EXCL``, mode 0600 from the start), fsync-ed and renamed over the path:
  ``rename`` replaces a symlink, it never writes through it
  (:func:`write_private`);
- a Unix socket is **bound** under a umask that gives it its mode at once: no
  ``chmod`` afterwards, which would follow a symlink put in its place; an
  existing path is removed only when it is a socket (:func:`bind_unix`);
- the directory of each must not be writable by another user unless it is
  sticky (``/tmp``), and must be owned by root or the agent's uid
  (:func:`check_dir`).

Violations raise :class:`UnsafePath` (an :class:`OSError`), which the agents
report as one line and refuse to start on.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import tempfile
import threading
from pathlib import Path

__all__ = ["UnsafePath", "bind_unix", "check_dir", "read_private", "write_private"]

_umask_lock = threading.Lock()


class UnsafePath(OSError):
    """A configured path an agent must not use as it is."""

    def __init__(self, path, why: str) -> None:
        super().__init__(errno.EPERM, f"{path}: {why}")
        self.text = f"{path}: {why}"

    def __str__(self) -> str:
        return self.text


def check_dir(d: str | Path) -> None:
    """``d`` is owned by root or us, and not writable by others unless sticky."""
    st = os.stat(d)  # the directory itself may be reached through a symlink
    me = os.geteuid()
    if st.st_uid not in (0, me):
        raise UnsafePath(d, f"directory owned by uid {st.st_uid}, not by root or uid {me}")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
        raise UnsafePath(d, "directory writable by other users (and not sticky)")


def _mkdir(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True, mode=0o755)
    check_dir(d)


def read_private(path: str | Path) -> bytes:
    """The content of ``path``, a regular file owned by us (no symlink).
    Raises FileNotFoundError, :class:`UnsafePath`, OSError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(path, "is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(path, "not a regular file")
        if st.st_uid != os.geteuid():
            raise UnsafePath(path, f"owned by uid {st.st_uid}, not by uid {os.geteuid()}")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_private(path: str | Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Replace ``path`` by a mode-0600 file holding ``data``, atomically
    (temporary file, fsync, rename, fsync of the directory)."""
    path = Path(path)
    _mkdir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync_dir:
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def bind_unix(sock: socket.socket, path: str | Path, mode: int) -> None:
    """Bind ``sock`` (AF_UNIX) at ``path`` with file mode ``mode``, set by
    the umask at creation (no chmod). A socket file left at ``path`` is
    removed first; anything else there (a symlink, a file) is refused."""
    path = Path(path)
    _mkdir(path.parent)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise UnsafePath(path, "exists and is not a socket (refusing to replace it)")
        os.unlink(path)
    with _umask_lock:
        old = os.umask(0o777 & ~mode)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
