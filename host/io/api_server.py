"""The host agent's Unix-socket API: setsc() requests, status, notifications.

Protocol (one JSON object per line, UTF-8, over a ``SOCK_STREAM`` Unix socket,
default ``/run/odm/host.sock``):

- **one API connection per application socket.** :func:`host.api.setsc` opens a
  connection for the socket it is given and keeps it open as long as the
  socket is in use. Its first request carries the socket's fd in an
  ``SCM_RIGHTS`` message; later setsc() calls on the same socket reuse the
  connection.
- requests: ``{"op": "setsc", "id": N, "type": 1..4, "on_net": bool,
  "timeout": s|null, "fd": <fd number in the caller>}``;
  ``{"op": "release", "id": N}`` (end this socket's reference);
  ``{"op": "status", "id": N}``; ``{"op": "ping", "id": N}``.
- answers: ``{"id": N, "ok": true, "address": "2001:db8::1"}`` or
  ``{"id": N, "ok": false, "error": "EAI_REQUIREDIPNOTSUPPORTED" |
  "EAI_REQUIREDIPFAILED" | "ODM_POLICY_DENIED", "detail": "..."}`` (the last:
  the host's policy refused the caller, host/policy.py); status: ``{"id": N, "ok": true,
  "status": {...}}``.
- notifications, pushed at any time, without ``id``: ``{"event":
  "address-gone" | "address-deprecated" | "graceful-deadline" |
  "reference-ended", ...}``.

**How the agent notices the end of a socket without the application's help.**
On accept it records the peer's credentials (``SO_PEERCRED``: pid, uid, gid).
The fd received by ``SCM_RIGHTS`` is ``fstat``-ed once for the socket's inode
and **closed at once**: the agent never holds a duplicate, because a held
duplicate would keep the application's socket open — after the application's
``close()`` a TCP connection would send no FIN and stay ESTABLISHED for as long
as the agent kept its copy. The reference then ends on whichever comes first:

1. EOF on the API connection — the process died or exited (the kernel closes
   its fds), or the application closed the connection (``host.api.release``,
   or the socket object was garbage-collected: the client library ties the
   connection to the socket with ``weakref.finalize``);
2. the socket's inode no longer open in the calling process: every
   ``socket_poll_interval`` seconds the agent reads ``/proc/<pid>/fd/<fd>``
   (and, if that fd number was reused, the whole ``/proc/<pid>/fd``) — this
   catches a plain ``sock.close()`` while the process lives on. The agent then
   sends ``{"event": "reference-ended", "reason": "socket-closed"}`` and closes
   the API connection.

Limits (documented, not hidden): the inode check looks at the process that
called setsc(); a socket handed to another process (fork, SCM_RIGHTS) keeps its
reference through the inherited API connection only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_LINE = 65536


@dataclass(eq=False)
class Connection:
    """One API connection: ``owner`` id, peer credentials, the app socket's
    inode and fd number (when a setsc() passed it)."""

    owner: int
    sock: socket.socket
    pid: int
    uid: int
    gid: int
    inode: int | None = None
    fd: int | None = None
    #: supplementary groups of the peer at connect time (/proc/<pid>/status)
    groups: frozenset[int] = frozenset()
    buf: bytearray = field(default_factory=bytearray)
    closed: bool = False
    outbuf: bytearray = field(default_factory=bytearray)

    def info(self) -> dict[str, Any]:
        return {"owner": self.owner, "pid": self.pid, "uid": self.uid, "gid": self.gid,
                "socket_inode": self.inode}


def supplementary_groups(pid: int) -> frozenset[int]:
    """The ``Groups:`` of ``/proc/<pid>/status`` (empty when unreadable)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("Groups:"):
                    return frozenset(int(x) for x in line.split()[1:])
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


class ApiServer:
    """Non-blocking Unix-socket server on the agent's asyncio loop.

    ``on_request(conn, msg)`` is called for every request line,
    ``on_close(conn, reason)`` once when a connection ends (``"eof"`` or
    ``"socket-closed"``)."""

    def __init__(self, path: str | Path, loop: asyncio.AbstractEventLoop,
                 on_request: Callable[[Connection, dict], None],
                 on_close: Callable[[Connection, str], None], *,
                 poll_interval: float = 1.0) -> None:
        self.path = Path(path)
        self.loop = loop
        self.on_request = on_request
        self.on_close = on_close
        self.poll_interval = poll_interval
        self.conns: dict[int, Connection] = {}
        self._next_owner = 1
        self._sock: socket.socket | None = None
        self._poll_handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(self.path))
        os.chmod(self.path, 0o666)
        s.listen(128)
        s.setblocking(False)
        self._sock = s
        self.loop.add_reader(s.fileno(), self._accept)
        self._poll_handle = self.loop.call_later(self.poll_interval, self._poll)

    def close(self) -> None:
        if self._poll_handle:
            self._poll_handle.cancel()
        for c in list(self.conns.values()):
            self._drop(c, None)
        if self._sock is not None:
            self.loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    # ------------------------------------------------------------------ io --
    def _accept(self) -> None:
        assert self._sock is not None
        while True:
            try:
                s, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            s.setblocking(False)
            pid, uid, gid = struct.unpack(
                "3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            c = Connection(self._next_owner, s, pid, uid, gid,
                           groups=supplementary_groups(pid))
            self._next_owner += 1
            self.conns[c.owner] = c
            self.loop.add_reader(s.fileno(), self._readable, c)
            # host.api connects and sends its first request at once: it is
            # usually there already, read it now rather than a loop turn later
            self._readable(c)

    def _readable(self, c: Connection) -> None:
        try:
            data, anc, _flags, _ = c.sock.recvmsg(MAX_LINE, socket.CMSG_SPACE(16 * 4))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.info("API connection %d: %s", c.owner, exc)
            data, anc = b"", []
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = list(struct.unpack(f"{len(cdata) // 4}i", cdata[:len(cdata) // 4 * 4]))
                for i, fd in enumerate(fds):
                    try:
                        if i == 0 and c.inode is None:
                            c.inode = os.fstat(fd).st_ino
                    finally:
                        os.close(fd)  # never hold the application's socket
        if not data:
            self._drop(c, "eof")
            return
        c.buf += data
        if len(c.buf) > MAX_LINE:
            log.warning("API connection %d: line too long, closing", c.owner)
            self._drop(c, "eof")
            return
        while b"\n" in c.buf and not c.closed:
            line, _, rest = bytes(c.buf).partition(b"\n")
            c.buf = bytearray(rest)
            try:
                msg = json.loads(line)
                if not isinstance(msg, dict):
                    raise ValueError("not an object")  # noqa: TRY004 - reported as bad input
            except ValueError as exc:
                self.send(c, {"ok": False, "error": "EINVAL", "detail": f"bad request: {exc}"})
                continue
            if msg.get("op") == "setsc" and isinstance(msg.get("fd"), int):
                c.fd = msg["fd"]
            self.on_request(c, msg)

    def send(self, c: Connection, obj: dict) -> None:
        if c.closed:
            return
        c.outbuf += json.dumps(obj).encode() + b"\n"
        self._flush(c)

    def _flush(self, c: Connection) -> None:
        try:
            while c.outbuf:
                n = c.sock.send(c.outbuf)
                del c.outbuf[:n]
        except (BlockingIOError, InterruptedError):
            self.loop.add_writer(c.sock.fileno(), self._writable, c)
            return
        except OSError:
            c.outbuf.clear()

    def _writable(self, c: Connection) -> None:
        self.loop.remove_writer(c.sock.fileno())
        if not c.closed:
            self._flush(c)

    def end(self, c: Connection, reason: str) -> None:
        """Close a connection from the agent's side (after a last notification)."""
        self._drop(c, reason)

    def _drop(self, c: Connection, reason: str | None) -> None:
        if c.closed:
            return
        c.closed = True
        self.conns.pop(c.owner, None)
        try:
            self.loop.remove_reader(c.sock.fileno())
            self.loop.remove_writer(c.sock.fileno())
        except (ValueError, OSError):
            pass
        c.sock.close()
        if reason is not None:
            self.on_close(c, reason)

    def _poll(self) -> None:
        """Notice setsc()'d sockets closed while their process lives on."""
        try:
            for c in list(self.conns.values()):
                if c.inode is None:
                    continue
                if socket_open_in(c.pid, c.inode, c.fd) is False:
                    log.info("owner %d: socket inode %d closed in pid %d", c.owner, c.inode,
                             c.pid)
                    self.send(c, {"event": "reference-ended", "reason": "socket-closed"})
                    self._drop(c, "socket-closed")
        finally:
            self._poll_handle = self.loop.call_later(self.poll_interval, self._poll)
