"""The small programs the demo runs inside the lab's namespaces.

``python -m lab.apps server --port P`` (in ``cn``): a TCP echo server that
prints one JSON line per connection (``{"event": "accepted", "peer": ...}``)
and accepts connections forever.

``python -m lab.apps client --type TYPE --server ADDR --port P [--on-net]`` (in
``mh``): an application in the sense of RFC 8653 §4.2. It asks the host agent
for an address of TYPE with ``setsc()`` (``host.api``), binds its socket to it,
connects to the server and then obeys one command per stdin line, printing one
JSON line per result on stdout:

* ``ping WORD`` → ``{"event": "echo", "ok": true/false, "src": ADDR, ...}``: a
  round trip on the open connection (``"error"`` says why it failed: reset,
  timeout, closed);
* ``reconnect`` → closes the socket, calls ``setsc()`` again and reconnects
  (``{"event": "connected", "src": ...}`` or ``{"event": "setsc-error", ...}``);
* ``notices`` → ``{"event": "notices", "items": [...]}``: what the host agent
  told this application on its API connection (address gone, deadline);
* ``quit``.

At start it prints ``{"event": "connected", "src": ADDR}`` or
``{"event": "setsc-error", "error": "EAI_REQUIREDIPNOTSUPPORTED", ...}``.

``python -m lab.apps listen --type TYPE --port P`` (in ``mh``): a server
application that takes its listening address from ``setsc()`` (a FIXED address
is what a host that must stay reachable asks for) and echoes every connection;
prints ``{"event": "listening", "address": ADDR}``.

``python -m lab.apps stream --type TYPE --server ADDR --port P [--interval S]``
(in ``mh``): a setsc() socket connected to cn that sends 8 octets every
``interval`` seconds (default 0.002) and reads the echoes; whenever an echo
arrives more than ``--gap`` seconds (default 0.02) after the previous one it
prints ``{"event": "gap", "from": T0, "to": T1}`` (monotonic seconds, the
same clock in every namespace), so a handover benchmark sees when bytes
flowed again.

``python -m lab.apps dial --to ADDR --port P [--word W]`` (in ``cn``): one
inbound connection and round trip; prints ``{"event": "echo", "ok": ...}`` and
exits 0 only if the echo came back.

Everything is line-buffered JSON so the demo reads it from the log.
"""

from __future__ import annotations

import argparse
import errno
import json
import socket
import sys
import threading
import time


def _say(**kw) -> None:
    kw.setdefault("t", time.monotonic())
    print(json.dumps(kw), flush=True)


def serve(port: int, sock: socket.socket | None = None) -> None:
    """TCP echo server on [::]:port (or on the bound ``sock``), one thread per
    connection."""
    s = sock
    if s is None:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port))
        _say(event="listening", port=port)
    s.listen(64)

    def echo(c: socket.socket, peer) -> None:
        with c:
            while True:
                try:
                    d = c.recv(4096)
                except OSError:
                    break
                if not d:
                    break
                c.sendall(d)
        _say(event="closed", peer=peer[0])

    while True:
        c, peer = s.accept()
        _say(event="accepted", peer=peer[0])
        threading.Thread(target=echo, args=(c, peer), daemon=True).start()


class Client:
    """One application: a socket bound to a setsc() address, connected to cn."""

    def __init__(self, mobility_type: str, server: str, port: int, on_net: bool,
                 api_path: str | None, timeout: float) -> None:
        self.mobility_type = mobility_type
        self.server, self.port = server, port
        self.on_net = on_net
        self.api_path = api_path
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.src: str | None = None

    def connect(self) -> None:
        from host import api
        from odm_wire.constants import IPV6_REQUIRE_SRC_ON_NET, MobilityType

        if self.sock is not None:
            self.sock.close()
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        kw = {"timeout": self.timeout}
        if self.api_path:
            kw["path"] = self.api_path
        try:
            if self.on_net:
                api.set_addr_preferences(s, IPV6_REQUIRE_SRC_ON_NET)
            addr = api.setsc(s, MobilityType.from_name(self.mobility_type), **kw)
        except api.SetscError as exc:
            s.close()
            self.sock = None
            _say(event="setsc-error", error=type(exc).__name__, detail=str(exc))
            return
        s.bind((str(addr), 0))
        # long enough for TCP to recover from a move (retransmission backoff)
        s.settimeout(8.0)
        # Right after a move the new router's RA may not be in yet (it answers
        # an RS within MAX_RA_DELAY_TIME, and no sooner than
        # MIN_DELAY_BETWEEN_RAS after its last multicast RA, RFC 4861 §6.2.6):
        # no default route, so connect() fails at once with ENETUNREACH. Like
        # any application on a roaming host, try again for a short while.
        retries = 0
        end = time.monotonic() + 2.0
        while True:
            try:
                s.connect((self.server, self.port))
                break
            except OSError as exc:
                if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH) and \
                        time.monotonic() < end:
                    retries += 1
                    time.sleep(0.01)
                    continue
                _say(event="connect-error", src=str(addr), error=str(exc))
                s.close()
                self.sock = None
                return
        self.sock, self.src = s, str(addr)
        _say(event="connected", src=self.src, **({"retries": retries}
                                                  if retries else {}))

    def ping(self, word: str) -> None:
        if self.sock is None:
            _say(event="echo", ok=False, error="no connection", word=word)
            return
        try:
            self.sock.sendall(word.encode())
            got = b""
            while len(got) < len(word):
                d = self.sock.recv(4096)
                if not d:
                    raise ConnectionResetError("closed by peer")
                got += d
            _say(event="echo", ok=got.decode() == word, src=self.src, word=word)
        except OSError as exc:
            _say(event="echo", ok=False, src=self.src, word=word,
                 error=f"{type(exc).__name__}: {exc}")

    def notices(self) -> None:
        from host import api

        items = api.notifications(self.sock) if self.sock is not None else []
        _say(event="notices", items=items)


def listen(mobility_type: str, port: int, api_path: str | None, timeout: float) -> int:
    """setsc() a listening socket, bind it to the address and echo forever."""
    from host import api
    from odm_wire.constants import MobilityType

    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    kw = {"timeout": timeout} | ({"path": api_path} if api_path else {})
    try:
        addr = api.setsc(s, MobilityType.from_name(mobility_type), **kw)
    except api.SetscError as exc:
        _say(event="setsc-error", error=type(exc).__name__, detail=str(exc))
        return 1
    s.bind((str(addr), port))
    _say(event="listening", address=str(addr), port=port)
    serve(port, s)
    return 0


def stream(mobility_type: str, server: str, port: int, api_path: str | None,
           interval: float, gap: float) -> int:
    """Send 8 octets every ``interval`` s on a setsc() socket; report echo gaps."""
    from host import api
    from odm_wire.constants import MobilityType

    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    kw = {"timeout": 5.0} | ({"path": api_path} if api_path else {})
    try:
        addr = api.setsc(s, MobilityType.from_name(mobility_type), bind=True, **kw)
        s.connect((server, port))
    except OSError as exc:
        _say(event="setsc-error", error=type(exc).__name__, detail=str(exc))
        return 1
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _say(event="connected", src=str(addr))

    def sender() -> None:
        while True:
            try:
                s.sendall(b"odm-ping")
            except OSError as exc:
                _say(event="send-error", error=str(exc))
                return
            time.sleep(interval)

    threading.Thread(target=sender, daemon=True).start()
    last = time.monotonic()
    while True:
        try:
            d = s.recv(4096)
        except OSError as exc:
            _say(event="recv-error", error=str(exc))
            return 1
        if not d:
            _say(event="closed")
            return 1
        now = time.monotonic()
        if now - last > gap:
            _say(event="gap", **{"from": last, "to": now})
        last = now


def dial(to: str, port: int, word: str, timeout: float) -> int:
    """One connection to ``to``:``port`` and one echo of ``word``."""
    try:
        with socket.create_connection((to, port), timeout=timeout) as c:
            c.sendall(word.encode())
            got = b""
            while len(got) < len(word):
                d = c.recv(4096)
                if not d:
                    break
                got += d
            ok = got.decode(errors="replace") == word
            _say(event="echo", ok=ok, to=to, src=c.getsockname()[0], word=word)
            return 0 if ok else 1
    except OSError as exc:
        _say(event="echo", ok=False, to=to, error=f"{type(exc).__name__}: {exc}")
        return 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.apps")
    sub = p.add_subparsers(dest="cmd", required=True)
    ps = sub.add_parser("server")
    ps.add_argument("--port", type=int, default=7000)
    pc = sub.add_parser("client")
    pc.add_argument("--type", required=True)
    pc.add_argument("--server", required=True)
    pc.add_argument("--port", type=int, default=7000)
    pc.add_argument("--on-net", action="store_true")
    pc.add_argument("--api", default=None)
    pc.add_argument("--timeout", type=float, default=5.0)
    pl = sub.add_parser("listen")
    pl.add_argument("--type", required=True)
    pl.add_argument("--port", type=int, default=7001)
    pl.add_argument("--api", default=None)
    pl.add_argument("--timeout", type=float, default=5.0)
    pst = sub.add_parser("stream")
    pst.add_argument("--type", required=True)
    pst.add_argument("--server", required=True)
    pst.add_argument("--port", type=int, default=7000)
    pst.add_argument("--api", default=None)
    pst.add_argument("--interval", type=float, default=0.002)
    pst.add_argument("--gap", type=float, default=0.02)
    pd = sub.add_parser("dial")
    pd.add_argument("--to", required=True)
    pd.add_argument("--port", type=int, default=7001)
    pd.add_argument("--word", default="inbound")
    pd.add_argument("--timeout", type=float, default=3.0)
    a = p.parse_args(argv)
    if a.cmd == "server":
        serve(a.port)
        return 0
    if a.cmd == "listen":
        return listen(a.type, a.port, a.api, a.timeout)
    if a.cmd == "stream":
        return stream(a.type, a.server, a.port, a.api, a.interval, a.gap)
    if a.cmd == "dial":
        return dial(a.to, a.port, a.word, a.timeout)
    c = Client(a.type, a.server, a.port, a.on_net, a.api, a.timeout)
    c.connect()
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "ping":
            c.ping(arg or "x")
        elif cmd == "reconnect":
            c.connect()
        elif cmd == "notices":
            c.notices()
        elif cmd == "quit":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
