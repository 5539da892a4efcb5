"""What ``/proc`` says about an API peer of the host agent
(:mod:`host.io.api_server`): its supplementary groups, and whether the socket
it passed with setsc() is still open in it (the end of a reference without
the application's help, module docstring there)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["socket_open_in", "supplementary_groups"]


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
