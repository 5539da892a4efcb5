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
  ``{"op": "status", "id": N}``; ``{"op": "ping", "id": N}``; for root only,
  ``{"op": "renew" | "rebind" | "release-all", "id": N}`` (``odm host
  renew|rebind|release``: every IA_PD of the host, as ``dhcpcd -n`` / ``-k``).
- answers: ``{"id": N, "ok": true, "address": "2001:db8::1"}`` or
  ``{"id": N, "ok": false, "error": "EAI_REQUIREDIPNOTSUPPORTED" |
  "EAI_REQUIREDIPFAILED" | "ODM_POLICY_DENIED", "detail": "..."}`` (the last:
  the host's policy refused the caller, host/core/policy.py); status: ``{"id": N, "ok": true,
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
   or the socket object was garbage-collected: the client library keeps the
   connection in a weak-keyed table of the sockets and closes it when its
   entry goes);
2. the socket's inode no longer open in the calling process: every
   ``socket_poll_interval`` seconds the agent reads ``/proc/<pid>/fd/<fd>``
   (and, if that fd number was reused, the whole ``/proc/<pid>/fd``) — this
   catches a plain ``sock.close()`` while the process lives on. The agent then
   sends ``{"event": "reference-ended", "reason": "socket-closed"}`` and closes
   the API connection.

Limits (documented, not hidden): the inode check looks at the process that
called setsc(); a socket handed to another process (fork, SCM_RIGHTS) keeps its
reference through the inherited API connection only.

Limits (what one local user can cost the agent, docs/security.md):

- **connections**: at most ``max_connections`` at once (default 512, and never
  more than the process's ``RLIMIT_NOFILE`` soft limit less 64 fds kept for the
  agent's own sockets and files), at most ``max_connections_per_uid`` per
  non-root uid (default 128; root counts only against the total). A connection
  over a limit gets one line ``{"id": null, "ok": false, "error":
  "EAI_REQUIREDIPFAILED", "detail": "too many API connections ..."}`` and is
  closed (counted: ``api-connections-refused``).
- **fd exhaustion**: ``accept()`` failing with EMFILE/ENFILE (or ENOBUFS/ENOMEM)
  stops accepting for ``ACCEPT_PAUSE`` seconds (the pending connections wait
  in the listen backlog), logged at most once per ``LOG_EVERY`` seconds with
  the number of such failures (``api-accept-failed``): no busy loop.
- **output**: replies and notifications wait in a per-connection buffer. Above
  ``OUT_HIGH`` octets the agent stops reading that connection's requests until
  the buffer has drained below ``OUT_LOW`` (a client that pipelines requests
  and never reads the answers stalls itself only); a buffer that still grows
  past ``OUT_MAX`` (notifications to a client that reads nothing) closes the
  connection (``api-output-overflow``).
- **input**: a request line is at most ``MAX_LINE`` octets; a longer one, a line
  that is not a JSON object, JSON with ``NaN``/``Infinity`` (or a number too
  large for a float), nesting too deep for the parser or a field of the wrong
  type gets an ``EINVAL`` answer and is
  counted (``api-bad-request``); the connection goes on with its next line.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import resource
import select
import socket
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.io.api_peers import peer_groups, socket_open_in, supplementary_groups
from host.io.api_requests import BadRequest, id_of, parse_request
from odm.safefile import bind_unix
from odm_sansio.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

# parse_request, BadRequest (host.io.api_requests) and socket_open_in,
# supplementary_groups (host.io.api_peers) are named here too: the agent and
# the tests import them from this module
__all__ = ["ApiServer", "BadRequest", "Connection", "fd_limit", "parse_request",
           "socket_open_in", "supplementary_groups"]

#: longest request line (octets, newline excluded)
MAX_LINE = 65536
#: output buffer: stop reading requests above OUT_HIGH, read again below
#: OUT_LOW, close the connection above OUT_MAX
OUT_HIGH = 64 * 1024
OUT_LOW = 16 * 1024
OUT_MAX = 1024 * 1024
#: Requests of one connection handled in one turn of the event loop; the rest
#: wait for the next turn, after the other connections' (a client that
#: pipelines thousands of requests cannot hold the loop).
LINES_PER_TURN = 16
#: connections at most (total; and per non-root uid)
MAX_CONNECTIONS = 512
MAX_CONNECTIONS_PER_UID = 128
#: fds kept free for the agent's own sockets and files
FD_RESERVE = 64
#: accept() out of fds: pause this long before trying again
ACCEPT_PAUSE = 0.25
#: one log line per kind of trouble at most every LOG_EVERY seconds
LOG_EVERY = 10.0

_ACCEPT_RESOURCE = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_ANCILLARY = socket.CMSG_SPACE(16 * 4)
_PEERCRED = struct.Struct("3i")
_IN, _OUT = select.EPOLLIN, select.EPOLLOUT
#: what makes a reading connection readable: data, end of file, an error
_READ_EVENTS = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR


def fd_limit() -> int:
    """The process's ``RLIMIT_NOFILE`` soft limit (a large number when unlimited)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else soft


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
    #: reading stopped: the client does not read its answers (OUT_HIGH)
    paused: bool = False
    #: the rest of an over-long line is being skipped (MAX_LINE)
    skipping: bool = False
    writer: bool = False
    #: reading stopped until the next turn of the loop (LINES_PER_TURN)
    more: bool = False
    #: the peer is gone (a send failed): nothing more is handled for it
    broken: bool = False
    #: the events the server's epoll watches for it (0: not registered)
    mask: int = 0

    def info(self) -> dict[str, Any]:
        return {"owner": self.owner, "pid": self.pid, "uid": self.uid, "gid": self.gid,
                "socket_inode": self.inode}


class ApiServer:
    """Non-blocking Unix-socket server on the agent's asyncio loop.

    The listening socket and the connections sit in an epoll of the server's
    own, whose fd is one reader of the loop: a connection costs one
    ``epoll_ctl`` on accept and one at the end, not the loop's per-fd
    bookkeeping (most of what a fresh socket's setsc() cost the agent after
    the request itself).

    ``on_request(conn, msg)`` is called for every valid request line,
    ``on_close(conn, reason)`` once when a connection ends (``"eof"``,
    ``"socket-closed"`` or ``"output-overflow"``). ``counters``: what was
    refused or went wrong (module docstring, "Limits")."""

    def __init__(self, path: str | Path, loop: asyncio.AbstractEventLoop,
                 on_request: Callable[[Connection, dict], None],
                 on_close: Callable[[Connection, str], None], *,
                 poll_interval: float = 1.0, max_connections: int = MAX_CONNECTIONS,
                 max_connections_per_uid: int = MAX_CONNECTIONS_PER_UID) -> None:
        self.path = Path(path)
        self.loop = loop
        self.on_request = on_request
        self.on_close = on_close
        self.poll_interval = poll_interval
        self.max_connections = max(1, min(max_connections, fd_limit() - FD_RESERVE))
        self.max_connections_per_uid = max_connections_per_uid
        self.conns: dict[int, Connection] = {}
        self.per_uid: Counter = Counter()
        self.counters: Counter = Counter()
        self._next_owner = 1
        self._sock: socket.socket | None = None
        self._ep: select.epoll | None = None
        #: connections by fd (what the epoll reports)
        self._by_fd: dict[int, Connection] = {}
        self._poll_handle: asyncio.TimerHandle | None = None
        self._accept_handle: asyncio.TimerHandle | None = None
        lines = RateLimitedLog(log, LOG_EVERY)
        self._warn = lambda kind, fmt, *args: lines(kind, loop.time(), fmt, *args)

    def start(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # mode 0666 from the umask at bind: no chmod that a symlink could
            # redirect; a non-socket at the path is refused (odm/safefile.py)
            bind_unix(s, self.path, 0o666)
        except BaseException:
            s.close()
            raise
        s.listen(128)
        s.setblocking(False)
        self._sock = s
        self._ep = select.epoll()
        self._ep.register(s.fileno(), _IN)
        self.loop.add_reader(self._ep.fileno(), self._ready)
        self._poll_handle = self.loop.call_later(self.poll_interval, self._poll)

    def close(self) -> None:
        if self._poll_handle:
            self._poll_handle.cancel()
        if self._accept_handle:
            self._accept_handle.cancel()
            self._accept_handle = None
        for c in list(self.conns.values()):
            self._drop(c, None)
        if self._ep is not None:
            self.loop.remove_reader(self._ep.fileno())
            self._ep.close()
            self._ep = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def snapshot(self) -> dict:
        """Connection figures and counters (``odm host status``, ``api``)."""
        return {"connections": len(self.conns), "max_connections": self.max_connections,
                "max_connections_per_uid": self.max_connections_per_uid,
                "counters": dict(self.counters)}

    # ------------------------------------------------------------------ io --
    def _ready(self) -> None:
        """The server's epoll is readable: serve what it reports."""
        if self._ep is None:
            return
        try:
            events = self._ep.poll(0)
        except InterruptedError:
            return
        listen = self._sock.fileno() if self._sock is not None else -1
        for fd, ev in events:
            if fd == listen:
                self._accept()
                continue
            c = self._by_fd.get(fd)
            if c is None:
                continue
            if ev & _OUT and c.writer:
                self._writable(c)
            if ev & _READ_EVENTS and c.mask & _IN and not c.closed:
                self._readable(c)

    def _watch(self, c: Connection) -> None:
        """Make the epoll watch what ``c`` waits for now: reading unless
        paused, closed or waiting for the next turn; writing while output
        waits. Nothing: not registered (an idle registration would still
        report a hang-up, again and again)."""
        want = 0 if c.closed else ((0 if c.paused or c.more else _IN)
                                   | (_OUT if c.writer else 0))
        if want == c.mask or self._ep is None:
            return
        fd = c.sock.fileno()
        if c.mask == 0:
            self._ep.register(fd, want)
        elif want == 0:
            self._ep.unregister(fd)
        else:
            self._ep.modify(fd, want)
        c.mask = want

    def _accept(self) -> None:
        if self._sock is None:
            return
        while True:
            try:
                s, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno not in _ACCEPT_RESOURCE:
                    self.counters["api-accept-failed"] += 1
                    self._warn("accept", "API socket: accept() failed: %s", exc)
                    return
                # out of fds (or kernel memory): the connection stays in the
                # backlog; stop listening for a moment instead of spinning
                self.counters["api-accept-failed"] += 1
                self._warn("accept", "API socket: accept() failed (%s): not accepting "
                           "for %g s; %d connections open", exc.strerror or exc,
                           ACCEPT_PAUSE, len(self.conns))
                if self._ep is not None:
                    self._ep.unregister(self._sock.fileno())
                self._accept_handle = self.loop.call_later(ACCEPT_PAUSE, self._resume_accept)
                return
            try:
                pid, uid, gid = _PEERCRED.unpack(
                    s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
            except OSError:
                s.close()
                continue
            refused = self._over_limit(uid)
            if refused:
                self.counters["api-connections-refused"] += 1
                self._warn("limit", "API connection of uid %d pid %d refused: %s", uid, pid,
                           refused)
                try:
                    s.setblocking(False)
                    s.send(json.dumps({"id": None, "ok": False,
                                       "error": "EAI_REQUIREDIPFAILED",
                                       "detail": refused}).encode() + b"\n")
                except OSError:
                    pass
                s.close()
                continue
            s.setblocking(False)
            c = Connection(self._next_owner, s, pid, uid, gid, groups=peer_groups(s, pid))
            self._next_owner += 1
            self.conns[c.owner] = c
            self.per_uid[uid] += 1
            self._by_fd[s.fileno()] = c
            self._watch(c)
            # host.api connects and sends its first request at once: it is
            # usually there already, read it now rather than a loop turn later
            self._readable(c)

    def _over_limit(self, uid: int) -> str:
        if len(self.conns) >= self.max_connections:
            return f"too many API connections ({len(self.conns)}, the most the agent takes)"
        if uid != 0 and self.per_uid[uid] >= self.max_connections_per_uid:
            return (f"too many API connections of uid {uid} ({self.per_uid[uid]}, the most "
                    "one uid may have)")
        return ""

    def _resume_accept(self) -> None:
        self._accept_handle = None
        if self._sock is not None and self._ep is not None:
            self._ep.register(self._sock.fileno(), _IN)
            self._accept()

    def _readable(self, c: Connection) -> None:
        if c.closed or c.paused:
            return
        try:
            data, anc, _flags, _ = c.sock.recvmsg(MAX_LINE, _ANCILLARY)
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
        self._lines(c)

    def _lines(self, c: Connection) -> None:
        """Handle the complete lines in ``c.buf`` until the output buffer is
        over OUT_HIGH (then reading pauses, the rest waits in ``c.buf``), at
        most LINES_PER_TURN of them (then the rest waits for the next turn of
        the loop)."""
        handled = 0
        while not c.closed and not c.broken:
            if len(c.outbuf) > OUT_HIGH:
                self._pause(c)
                return
            nl = c.buf.find(b"\n")
            if nl >= 0 and not c.skipping and handled >= LINES_PER_TURN:
                self._later(c)
                return
            if c.skipping:
                if nl < 0:
                    c.buf.clear()
                    return
                del c.buf[:nl + 1]
                c.skipping = False
                continue
            if nl < 0:
                if len(c.buf) > MAX_LINE:
                    self._bad(c, None, f"request line longer than {MAX_LINE} octets")
                    c.buf.clear()
                    c.skipping = True
                return
            line = bytes(c.buf[:nl])
            del c.buf[:nl + 1]
            if len(line) > MAX_LINE:
                self._bad(c, None, f"request line longer than {MAX_LINE} octets")
                continue
            try:
                msg = parse_request(line)
            except BadRequest as exc:
                self._bad(c, id_of(line), str(exc))
                continue
            if msg.get("op") == "setsc" and isinstance(msg.get("fd"), int):
                c.fd = msg["fd"]
            handled += 1
            try:
                self.on_request(c, msg)
            except Exception:  # the last resort: log, answer, keep serving
                self.counters["api-internal-error"] += 1
                log.exception("API connection %d: error handling %r", c.owner,
                              msg.get("op"))
                self.send(c, {"id": msg.get("id"), "ok": False,
                              "error": "EAI_REQUIREDIPFAILED",
                              "detail": "internal error of the host agent (logged)"})

    def _bad(self, c: Connection, rid, detail: str) -> None:
        self.counters["api-bad-request"] += 1
        self._warn("bad", "API connection %d (uid %d pid %d): bad request: %s", c.owner,
                   c.uid, c.pid, detail)
        self.send(c, {"id": rid, "ok": False, "error": "EINVAL",
                      "detail": f"bad request: {detail}"})

    def _pause(self, c: Connection) -> None:
        if not c.paused:
            c.paused = True
            self.counters["api-read-paused"] += 1
            self._watch(c)

    def _resume(self, c: Connection) -> None:
        c.paused = False
        self._lines(c)
        self._watch(c)

    def _later(self, c: Connection) -> None:
        """Stop reading ``c`` and handle the rest of its lines in the next
        turn of the loop."""
        if c.more:
            return
        c.more = True
        self._watch(c)
        self.loop.call_soon(self._next_turn, c)

    def _next_turn(self, c: Connection) -> None:
        c.more = False
        if c.closed or c.paused:
            self._watch(c)
            return  # a paused one goes on when it drains (_writable)
        self._lines(c)
        self._watch(c)

    def send(self, c: Connection, obj: dict) -> None:
        """Send one answer or notification to ``c``."""
        self.send_line(c, json.dumps(obj).encode() + b"\n")

    def send_line(self, c: Connection, line: bytes) -> None:
        """Send one line already encoded (JSON, ending in a newline)."""
        if c.closed:
            return
        c.outbuf += line
        self._flush(c)
        if len(c.outbuf) > OUT_MAX and not c.closed:
            self.counters["api-output-overflow"] += 1
            self._warn("overflow", "API connection %d (uid %d pid %d) reads nothing: "
                       "%d octets unsent, closed", c.owner, c.uid, c.pid, len(c.outbuf))
            self._drop(c, "output-overflow")

    def _flush(self, c: Connection) -> None:
        try:
            while c.outbuf:
                n = c.sock.send(c.outbuf)
                del c.outbuf[:n]
        except (BlockingIOError, InterruptedError):
            if not c.writer:
                c.writer = True
                self._watch(c)
            return
        except OSError:
            # the peer is gone: handle nothing more for it; its end of file
            # (or this) closes it, outside the handler that is sending
            c.outbuf.clear()
            if not c.broken:
                c.broken = True
                self.loop.call_soon(self._drop, c, "eof")
        if c.writer:
            c.writer = False
            self._watch(c)

    def _writable(self, c: Connection) -> None:
        if c.closed:
            return
        self._flush(c)
        if c.paused and len(c.outbuf) < OUT_LOW and not c.closed:
            self._resume(c)

    def end(self, c: Connection, reason: str) -> None:
        """Close a connection from the agent's side (after a last notification)."""
        self._drop(c, reason)

    def _drop(self, c: Connection, reason: str | None) -> None:
        if c.closed:
            return
        c.closed = True
        if self.conns.pop(c.owner, None) is not None:
            self.per_uid[c.uid] -= 1
            if self.per_uid[c.uid] <= 0:
                del self.per_uid[c.uid]
        try:
            self._watch(c)  # closed: unregistered
        except (ValueError, OSError):
            pass
        self._by_fd.pop(c.sock.fileno(), None)
        c.sock.close()
        c.buf.clear()
        c.outbuf.clear()
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
