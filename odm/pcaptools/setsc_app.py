"""A scripted application for golden captures and host-side replays:
``python -m odm.pcaptools.setsc_app [--socket PATH]``, run in the host's
namespace, reads one command per stdin line and prints one JSON line per
result on stdout (flushed):

* ``setsc OWNER TYPE [on-net]``: a new UDP socket for application socket
  number OWNER, ON_NET set if asked (RFC 5014-style preference), then
  ``host.api.setsc()`` in a thread → ``{"event": "setsc", "owner": N,
  "address": "…"}`` or ``{"event": "setsc", "owner": N, "error":
  "EAI_REQUIREDIPNOTSUPPORTED", "detail": "…"}``;
* ``close OWNER``: ends the socket's reference (``host.api.release``) and
  closes it → ``{"event": "closed", "owner": N}``;
* ``quit``.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading

_lock = threading.Lock()


def _say(**kw) -> None:
    with _lock:
        print(json.dumps(kw), flush=True)


def main(argv: list[str] | None = None) -> int:
    from host import api
    from odm_wire.constants import IPV6_REQUIRE_SRC_ON_NET

    ap = argparse.ArgumentParser(prog="setsc_app")
    ap.add_argument("--socket", default=None, help="host agent API socket")
    args = ap.parse_args(argv)
    socks: dict[int, socket.socket] = {}

    def ask(owner: int, s: socket.socket, t: str) -> None:
        try:
            addr = api.setsc(s, t, path=args.socket)
            _say(event="setsc", owner=owner, address=str(addr))
        except api.SetscError as exc:
            _say(event="setsc", owner=owner, error=exc.name, detail=str(exc))

    _say(event="ready")
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "setsc":
                owner, t = int(words[1]), words[2]
                s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                if "on-net" in words[3:]:
                    api.set_addr_preferences(s, IPV6_REQUIRE_SRC_ON_NET)
                socks[owner] = s
                threading.Thread(target=ask, args=(owner, s, t), daemon=True).start()
            elif words[0] == "close":
                owner = int(words[1])
                s = socks.pop(owner)
                api.release(s)
                s.close()
                _say(event="closed", owner=owner)
            elif words[0] == "quit":
                break
            else:
                _say(event="error", detail=f"unknown command {words[0]!r}")
        except (IndexError, ValueError, KeyError, OSError) as exc:
            _say(event="error", detail=f"{line.strip()}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
