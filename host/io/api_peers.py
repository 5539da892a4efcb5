"""What the kernel says about an API peer of the host agent
(:mod:`host.io.api_server`): its supplementary groups, and whether the socket
it passed with setsc() is still open in it (the end of a reference without
the application's help, module docstring there)."""

from __future__ import annotations

import os
import socket
from array import array
from pathlib import Path

__all__ = ["peer_groups", "socket_open_in", "supplementary_groups"]

#: getsockopt(SO_PEERGROUPS) (Linux 4.13, socket(7)); not every Python names it
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)
#: the largest buffer CPython's getsockopt() takes (octets): 256 groups
_GROUPS_BUFFER = 1024


def peer_groups(sock: socket.socket, pid: int) -> frozenset[int]:
    """The supplementary groups of the peer of the Unix socket ``sock``, as
    the kernel recorded them when it connected (``SO_PEERGROUPS``, the
    moment ``SO_PEERCRED``'s uid and gid are from): one getsockopt, where
    reading ``/proc/<pid>/status`` cost ~20 µs of the agent's time per
    connection, and no window in which ``pid`` could be another process. A
    kernel without the option (before 4.13) and a peer in more than 256
    groups (ERANGE: CPython's getsockopt() buffer holds no more) get the
    ``/proc`` reading (:func:`supplementary_groups`)."""
    try:
        data = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, _GROUPS_BUFFER)
    except OSError:
        return supplementary_groups(pid)
    return frozenset(array("I", data[:len(data) // 4 * 4]))


def supplementary_groups(pid: int) -> frozenset[int]:
    """The ``Groups:`` of ``/proc/<pid>/status`` (empty when unreadable)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            data = fh.read()  # one read: a text file's line iteration costs more
        i = data.find(b"\nGroups:")
        if i >= 0:
            end = data.find(b"\n", i + 8)
            return frozenset(int(x) for x in data[i + 8:end if end >= 0 else None].split())
    except (OSError, ValueError):
        pass
    return frozenset()


def socket_open_in(pid: int, inode: int, fd: int | None = None) -> bool | None:
    """Is socket ``inode`` open in process ``pid``? None when unknowable
    (no /proc access: then only EOF ends the reference)."""
    target = f"socket:[{inode}]"
    base = Path(f"/proc/{pid}/fd")
    if fd is not None:
        try:
            if os.readlink(base / str(fd)) == target:
                return True
        except OSError:
            pass
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return False  # process gone
    except OSError:
        return None
    for n in names:
        try:
            if os.readlink(base / n) == target:
                return True
        except OSError:
            continue
    return False
