"""The router agent's control socket over a Unix stream socket.

Protocol: one JSON object per line (UTF-8) each way, over a ``SOCK_STREAM``
Unix socket (``[router] control_socket``, default ``/run/odm/router.sock``,
mode 0660). Kea's commands, ``{"command": NAME, "arguments": {...}}``, are
answered as Kea answers them (:mod:`router.io.commands`). The older requests
``{"op": "status", "id": N, "limit": L}`` (``limit``
optional: at most L bindings listed per interface, ``binding-count`` gives the total) or ``{"op":
"ping", "id": N}``; answers ``{"id": N, "ok": true, "status": {...}}`` / ``{"id": N, "ok": true}``,
or ``{"id": N, "ok": false, "error": "EINVAL", "detail": "..."}`` for an unknown op or a line that
is not a JSON object. A connection may carry any number of requests; lines longer than 64 KiB close
it.

:class:`ControlServer` runs inside the agent's event loop; :func:`request` is
the blocking client used by ``odm router status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from odm.safefile import bind_unix

log = logging.getLogger(__name__)

__all__ = ["MAX_LINE", "ControlServer", "ControlUnavailable", "command", "request"]

MAX_LINE = 64 * 1024


class ControlUnavailable(OSError):
    """No router agent answers on the control socket (not running, wrong path,
    no permission, or it closed the connection)."""


def _lmode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return 0


class ControlServer:
    """Serve ``handler(request dict) -> answer dict`` on the Unix socket
    ``path``. A stale socket file (no listener) is replaced; a live one makes
    :meth:`start` raise :class:`OSError` (EADDRINUSE)."""

    def __init__(self, path: str | Path, handler: Callable[[dict], dict]) -> None:
        self.path = Path(path)
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        #: the socket file at ``path`` is ours (only then does close() remove it)
        self._bound = False

    async def start(self) -> None:
        if stat.S_ISSOCK(_lmode(self.path)):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                pass  # stale: nobody listens; bind_unix replaces it
            else:
                raise OSError(98, f"another router agent answers on {self.path}")
            finally:
                probe.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # mode 0660 from the umask at bind, no chmod that a symlink could
            # redirect; a non-socket at the path is refused (odm/safefile.py)
            bind_unix(s, self.path, 0o660)
        except BaseException:
            s.close()
            raise
        self._bound = True
        self._server = await asyncio.start_unix_server(self._serve, sock=s, limit=MAX_LINE)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    break
                if not line:
                    break
                ans = self._answer(line)
                # encoding a big answer (the status of 100k bindings is tens of
                # MB of JSON) leaves the event loop: DHCPv6 and RAs go on
                data = await asyncio.get_running_loop().run_in_executor(None, _encode, ans)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._clients.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    def _answer(self, line: bytes) -> dict:
        rid = None
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise TypeError("not a JSON object")
            rid = req.get("id")
            ans = self.handler(req)
        except (ValueError, TypeError) as exc:
            ans = {"ok": False, "error": "EINVAL", "detail": f"bad request: {exc}"}
        except Exception as exc:
            log.exception("control request failed")
            ans = {"ok": False, "error": "EIO", "detail": repr(exc)}
        if rid is not None or "result" not in ans:  # Kea's answers carry no id
            ans = {"id": rid, **ans}
        return ans

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._clients):
                with contextlib.suppress(Exception):
                    w.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
        if self._bound:
            self._bound = False
            with contextlib.suppress(OSError):
                self.path.unlink()


def _encode(ans: dict) -> bytes:
    return (json.dumps(ans, default=str) + "\n").encode()


def request(path: str | Path, op: str = "status", timeout: float = 5.0, **args: Any) -> dict:
    """Send one request to the agent at ``path`` and return its answer (a dict
    with ``ok``). Raises :class:`ControlUnavailable` when nobody answers
    within ``timeout`` seconds."""
    return _exchange(path, {"op": op, "id": 1, **args}, timeout)


def command(path: str | Path, name: str, arguments: dict | None = None,
            timeout: float = 5.0) -> dict:
    """Send one of Kea's commands (:mod:`router.io.commands`) and return the
    answer (``result``, ``text``, ``arguments``). Raises
    :class:`ControlUnavailable` when nobody answers."""
    req: dict[str, Any] = {"command": name}
    if arguments:
        req["arguments"] = arguments
    return _exchange(path, req, timeout)


def _exchange(path: str | Path, req: dict, timeout: float) -> dict:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        try:
            s.connect(str(path))
            s.sendall((json.dumps(req) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(1 << 16)
                if not chunk:
                    raise ControlUnavailable(f"{path}: the router agent closed the connection")
                buf += chunk
        except ControlUnavailable:
            raise
        except OSError as exc:
            raise ControlUnavailable(f"no router agent on {path}: {exc}") from None
    finally:
        s.close()
    return json.loads(buf)
