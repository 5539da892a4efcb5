"""systemd's readiness protocol (sd_notify(3)), for ``Type=notify`` units.

When systemd starts a service with ``Type=notify`` it sets ``NOTIFY_SOCKET``
to a Unix datagram socket (a path, or an abstract name written with a leading
``@``); the service sends ``READY=1`` once it serves, ``RELOADING=1`` /
``READY=1`` around a reload, ``STOPPING=1`` when it begins to stop, and
``STATUS=...`` lines that ``systemctl status`` shows. The protocol is one
datagram of ``KEY=VALUE`` lines, so it is written here rather than pulling in
libsystemd's bindings (which need the C library and its headers to build).
Without ``NOTIFY_SOCKET`` every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)

__all__ = ["notify"]


def notify(*lines: str) -> bool:
    """Send ``lines`` (``"READY=1"``, ``"STATUS=serving on acc"``) to the
    service manager, if there is one; ``RELOADING=1`` gets the
    ``MONOTONIC_USEC`` systemd 253+ asks for. True if a datagram went."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]
    msg = list(lines)
    if "RELOADING=1" in msg:
        msg.append(f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.sendto("\n".join(msg).encode(), path)
    except OSError as exc:
        log.warning("sd_notify to %s failed: %s", os.environ.get("NOTIFY_SOCKET"), exc)
        return False
    return True
