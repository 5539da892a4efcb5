"""setsc() for applications (draft-ietf-dmm-ondemand-mobility §3.5, §6; DESIGN §3).

    import socket
    from host.api import setsc, set_addr_preferences, EAI_REQUIREDIPNOTSUPPORTED
    from odm_wire.constants import MobilityType, IPV6_REQUIRE_SRC_ON_NET

    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    set_addr_preferences(s, IPV6_REQUIRE_SRC_ON_NET)   # optional: a new prefix
    try:
        addr = setsc(s, MobilityType.SESSION_LASTING, bind=True)
    except EAI_REQUIREDIPNOTSUPPORTED:
        ...  # the network does not offer the type: go on with a legacy socket
    s.connect(("2001:db8::80", 80))

``setsc`` talks to the host agent over its Unix socket (default
``/run/odm/host.sock``, the agent's default ``api_socket``; the environment
variable ``ODM_HOST_SOCKET`` or the ``path`` argument names another; protocol in
:mod:`host.io.api_server`). Each application socket gets its own API connection,
opened on the first setsc() and kept with the socket: the agent learns the
socket (its fd is passed once by ``SCM_RIGHTS``; the agent only reads its inode
and closes its copy at once) and ends the reference when the socket is closed,
the process dies, or :func:`release` is called. The connection also brings
notifications (:func:`notifications`): ``address-gone``, ``address-deprecated``,
``graceful-deadline``, ``reference-ended``.
"""

from __future__ import annotations

import array
import functools
import itertools
import json
import os
import select
import socket
import time
import weakref
from ipaddress import IPv6Address
from pathlib import Path

from odm_wire.constants import IPV6_ADDR_PREFERENCES, IPV6_REQUIRE_SRC_ON_NET, MobilityType

__all__ = [
    "DEFAULT_PATH",
    "DEFAULT_TIMEOUT",
    "EAI_REQUIREDIPFAILED",
    "EAI_REQUIREDIPNOTSUPPORTED",
    "AgentUnavailable",
    "SetscDenied",
    "SetscError",
    "get_addr_preferences",
    "notifications",
    "release",
    "set_addr_preferences",
    "setsc",
    "status",
]

DEFAULT_PATH = Path(os.environ.get("ODM_HOST_SOCKET", "/run/odm/host.sock"))
#: Client-side bound of one setsc() when the caller gives none (seconds); the
#: agent applies its own ``setsc_timeout`` and always answers first.
DEFAULT_TIMEOUT = None


class SetscError(OSError):
    """A setsc() that produced no address. ``name`` is the spec's error name,
    ``detail`` the agent's reason."""

    name = "EAI_REQUIREDIPFAILED"

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{self.name}: {detail}" if detail else self.name)
        self.detail = detail


class EAI_REQUIREDIPNOTSUPPORTED(SetscError):
    """The required service type is not supported (spec §6.1)."""

    name = "EAI_REQUIREDIPNOTSUPPORTED"


class EAI_REQUIREDIPFAILED(SetscError):
    """The network could not fulfil the desired request (spec §6.1)."""

    name = "EAI_REQUIREDIPFAILED"


class SetscDenied(SetscError):
    """The host's policy does not let this caller have it (draft-ietf-dmm-
    ondemand-mobility §7: costly types for authorised applications only): the
    type is not allowed for the caller's uid/gid, the uid holds as many
    addresses of the type as its quota allows, or it asked ON_NET more often
    than its rate allows. Nothing was asked of the network; not one of the two
    EAI codes, which mean the network said no (docs/security.md)."""

    name = "ODM_POLICY_DENIED"


class AgentUnavailable(EAI_REQUIREDIPNOTSUPPORTED):
    """No host agent answers: a legacy IP stack, which does not support
    setsc() (spec §5.1). ``path`` is the socket tried, ``reason`` why it
    failed; the message names the library's knobs (the ``path`` argument,
    ``ODM_HOST_SOCKET``), a command line words its own (``odm host``:
    ``--socket``)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"no host agent at {path}: {reason} (is the host agent running? "
                         "give the path= argument, or set ODM_HOST_SOCKET, to the "
                         "api_socket of its config)")


class _AgentGone(EAI_REQUIREDIPFAILED):
    """The API connection ended (the agent restarted or died)."""


_ERRORS = {"EAI_REQUIREDIPNOTSUPPORTED": EAI_REQUIREDIPNOTSUPPORTED,
           "EAI_REQUIREDIPFAILED": EAI_REQUIREDIPFAILED,
           "ODM_POLICY_DENIED": SetscDenied}
_ids = itertools.count(1)


class _Handle:
    """The API connection of one application socket. It is closed when the
    handle goes: :func:`release`, or the application socket collected (its
    entry in ``_handles``, the only reference, goes with it)."""

    def __init__(self, path: str | Path) -> None:
        self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.conn.connect(os.fspath(path))
        self.buf = b""
        self.blocking = True
        self.fd_sent = False
        self.events: list[dict] = []

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass

    def __del__(self) -> None:
        conn = getattr(self, "conn", None)  # None: __init__ failed before it
        if conn is not None:
            self.close()

    def request(self, msg: dict, deadline: float | None, fd: int | None = None,
                data: bytes | None = None) -> dict:
        """Send ``msg`` (as the line ``data`` when given) and wait for its
        answer until ``deadline`` (None: as long as the agent takes; it
        answers by its own ``setsc_timeout``)."""
        if data is None:
            data = json.dumps(msg).encode() + b"\n"
        try:
            if fd is not None:
                self.conn.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                            array.array("i", [fd]))])
            else:
                self.conn.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            # the agent may have refused the connection (too many): its
            # reason is already in our receive buffer
            refusal = self._refusal()
            if refusal is None:
                raise
            return refusal
        while True:
            for obj in self._lines():
                if obj.get("id") == msg["id"] or _is_refusal(obj):
                    return obj
                self.events.append(obj)
            if deadline is not None or not self.blocking:
                timeout = None if deadline is None else deadline - time.monotonic()
                if timeout is not None and timeout <= 0:
                    raise EAI_REQUIREDIPFAILED("the host agent did not answer in time")
                r, _, _ = select.select([self.conn], [], [], timeout)
                if not r:
                    continue
            # no deadline: one blocking recv() (a select() before it was a
            # second system call and a third of the library's time per call)
            try:
                chunk = self.conn.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise _AgentGone("the host agent closed the connection")
            self.buf += chunk

    def _refusal(self) -> dict | None:
        try:
            self.conn.setblocking(False)
            self.blocking = False
            self.buf += self.conn.recv(65536)
        except OSError:
            pass
        return next((o for o in self._lines() if _is_refusal(o)), None)

    def _lines(self):
        while self.buf:
            line, nl, rest = self.buf.partition(b"\n")
            if not nl:
                return
            self.buf = rest
            try:
                yield json.loads(line)
            except ValueError:
                continue

    def poll_events(self) -> list[dict]:
        while True:
            r, _, _ = select.select([self.conn], [], [], 0)
            if not r:
                break
            chunk = self.conn.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        self.events.extend(self._lines())
        out, self.events = self.events, []
        return out


def _is_refusal(obj: dict) -> bool:
    """An error line without a request id: the agent refused the connection
    (too many API connections) before reading a request."""
    return obj.get("id") is None and obj.get("ok") is False and "event" not in obj


_handles: weakref.WeakKeyDictionary[socket.socket, _Handle] = weakref.WeakKeyDictionary()
_prefs: weakref.WeakKeyDictionary[socket.socket, int] = weakref.WeakKeyDictionary()


def set_addr_preferences(sock: socket.socket, flags: int) -> None:
    """``setsockopt(IPPROTO_IPV6, IPV6_ADDR_PREFERENCES, flags)`` (RFC 5014 §4)
    with odm's ``IPV6_REQUIRE_SRC_ON_NET`` (0x1000) bit kept by the library and
    never passed to the kernel. Raises OSError as the kernel does (EINVAL for
    contradicting flags such as TMP|PUBLIC)."""
    kernel = flags & ~IPV6_REQUIRE_SRC_ON_NET
    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_ADDR_PREFERENCES, kernel)
    _prefs[sock] = flags & IPV6_REQUIRE_SRC_ON_NET


def get_addr_preferences(sock: socket.socket) -> int:
    """The kernel's RFC 5014 flags of the socket, plus ON_NET if set here."""
    k = sock.getsockopt(socket.IPPROTO_IPV6, IPV6_ADDR_PREFERENCES)
    return k | _prefs.get(sock, 0)


def _connect(sock: socket.socket, path: str | Path) -> _Handle:
    """A new API connection for ``sock``, closed when ``sock`` is collected.
    Raises :class:`AgentUnavailable` when no agent listens at ``path``."""
    try:
        h = _Handle(path)
    except OSError as exc:
        raise AgentUnavailable(path, str(exc.strerror or exc)) from None
    _handles[sock] = h  # closed with the handle when sock is collected (_Handle)
    return h


#: the agent's answers name the few addresses the host holds, again and again:
#: parsed once each (IPv6Address parses its text in Python, a few µs)
_address = functools.lru_cache(maxsize=256)(IPv6Address)


def setsc(sock: socket.socket, address_type: MobilityType | int | str, *,
          timeout: float | None = DEFAULT_TIMEOUT, bind: bool = False,
          path: str | Path | None = None) -> IPv6Address:
    """Ask for a source address of ``address_type`` for ``sock`` (spec §6.1).

    Returns the address (an :class:`~ipaddress.IPv6Address`); with ``bind=True``
    also binds ``sock`` to it (port 0), which makes it win over any RFC 5014
    preferences of the socket (spec §5.4). Without ON_NET
    (:func:`set_addr_preferences`) a held address of the type comes back at once;
    with it, or with none held, the agent asks the network and this call blocks
    up to ``timeout`` seconds (None: the agent's ``setsc_timeout``).

    Raises :class:`EAI_REQUIREDIPNOTSUPPORTED` (type not offered; also
    :class:`AgentUnavailable` when no agent runs), :class:`EAI_REQUIREDIPFAILED`
    (offered but not delivered: pool empty, no answer in time),
    :class:`SetscDenied` (the host's policy refuses this caller; nothing was
    sent to the network).
    """
    if isinstance(address_type, MobilityType):
        t: int | str = int(address_type)
    else:
        t = address_type
    h = _handles.get(sock)
    if h is None:
        h = _connect(sock, path if path is not None else DEFAULT_PATH)
    msg = {"op": "setsc", "id": next(_ids), "type": t,
           "on_net": bool(_prefs.get(sock, 0) & IPV6_REQUIRE_SRC_ON_NET),
           "timeout": timeout, "fd": sock.fileno()}
    line = _setsc_line(msg)
    # the agent answers by its own deadline; allow it a margin for the reply
    deadline = None if timeout is None else time.monotonic() + timeout + 2.0
    fd = None if h.fd_sent else sock.fileno()
    try:
        try:
            ans = h.request(msg, deadline, fd, line)
        except (_AgentGone, BrokenPipeError, ConnectionResetError):
            if not h.fd_sent:
                raise
            # the agent restarted since this socket's last setsc(): a new API
            # connection (the socket is passed again) and one more try
            h.close()
            h = _connect(sock, path if path is not None else DEFAULT_PATH)
            ans = h.request(msg, deadline, sock.fileno(), line)
    except OSError as exc:
        if isinstance(exc, SetscError):
            raise
        raise EAI_REQUIREDIPFAILED(f"host agent connection: {exc}") from None
    h.fd_sent = True
    if not ans.get("ok"):
        raise _ERRORS.get(ans.get("error"), EAI_REQUIREDIPFAILED)(ans.get("detail", ""))
    addr = _address(ans["address"])
    if bind:
        sock.bind((str(addr), 0, 0, 0))
    return addr


def _setsc_line(msg: dict) -> bytes:
    """The request line of ``msg``: the octets ``json.dumps(msg)`` gives (the
    agent's parser takes any JSON), formatted directly for the usual integer
    type and no timeout."""
    t = msg["type"]
    if type(t) is int and msg["timeout"] is None:
        return b'{"op": "setsc", "id": %d, "type": %d, "on_net": %s, "timeout": null, ' \
               b'"fd": %d}\n' % (msg["id"], t, b"true" if msg["on_net"] else b"false",
                                  msg["fd"])
    return json.dumps(msg).encode() + b"\n"


def release(sock: socket.socket) -> None:
    """End ``sock``'s reference now (closing the socket does it too)."""
    h = _handles.pop(sock, None)
    if h is not None:
        h.close()


def notifications(sock: socket.socket) -> list[dict]:
    """Notifications the agent pushed for ``sock`` since the last call
    (non-blocking): ``{"event": "address-gone", "address": ..., ...}``."""
    h = _handles.get(sock)
    return h.poll_events() if h is not None else []


def api_fileno(sock: socket.socket) -> int | None:
    """The fd of ``sock``'s API connection, to wait on notifications with
    select/poll/asyncio (read them with :func:`notifications`)."""
    h = _handles.get(sock)
    return h.conn.fileno() if h is not None else None


def operate(op: str, path: str | Path | None = None, timeout: float = 5.0) -> dict:
    """One request ``op`` without arguments (``status``; for root
    ``renew``, ``rebind``, ``release-all``) to the agent at ``path``; its
    answer (``ok``, then ``status`` / ``ia-pds``, or ``error``/``detail``).
    Raises :class:`AgentUnavailable` when no agent answers."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        h = _Handle(p)
    except OSError as exc:
        raise AgentUnavailable(p, str(exc.strerror or exc)) from None
    try:
        return h.request({"op": op, "id": next(_ids)}, time.monotonic() + timeout)
    finally:
        h.close()


def status(path: str | Path | None = None, timeout: float = 5.0) -> dict:
    """The agent's state (``odm host status --json``). Raises
    :class:`AgentUnavailable` when no agent answers."""
    return operate("status", path, timeout).get("status", {})
