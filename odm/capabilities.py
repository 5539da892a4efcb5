"""Give up the capabilities an agent no longer needs once it has started
(issue 13 point 16), as Kea's non-root mode and dhcpcd's privilege separation
do in their way.

Both agents run as root and start with every capability: they open raw and
privileged sockets, take locks, write sysctls and create their files. After
that the router needs only the network capabilities (routes, neighbour
entries, nftables and tunnels through netlink), the host those and, to see
whether an application of another uid still holds its socket, the right to
read that process's ``/proc/<pid>/fd`` (CAP_SYS_PTRACE; the kernel asks for it
when uids differ). :func:`drop_capabilities` keeps the named ones, clears the
rest from the effective, permitted and inheritable sets (capset(2), so the
ambient set goes too), drops them from the bounding set (``PR_CAPBSET_DROP``:
nothing the process runs can get them back) and sets ``PR_SET_NO_NEW_PRIVS``.
The process stays uid 0, so it still owns and may write its own files.

Linux only; through ``ctypes`` on the C library's ``capget``/``capset``/
``prctl`` (linux/capability.h, version 3: two 32-bit words per set).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Iterable

log = logging.getLogger(__name__)

__all__ = ["CAPS", "HOST_KEEPS", "ROUTER_KEEPS", "current", "drop_capabilities", "effective",
           "missing"]

#: linux/capability.h numbers of the capabilities odm names.
CAPS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
    "CAP_SYS_MODULE": 16, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21,
}
#: What the router agent keeps after start.
ROUTER_KEEPS = ("CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE")
#: What the host agent keeps after start.
HOST_KEEPS = ("CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE", "CAP_SYS_PTRACE")

_VERSION_3 = 0x20080522
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _libc():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                           ctypes.c_ulong]
    return libc


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return 40


def current() -> dict[str, int]:
    """This process's capability sets as bit masks (``effective``,
    ``permitted``, ``inheritable``)."""
    libc = _libc()
    hdr = _Header(_VERSION_3, 0)
    data = (_Data * 2)()
    if libc.capget(ctypes.byref(hdr), data) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"capget: {os.strerror(e)}")
    return {k: getattr(data[0], k) | (getattr(data[1], k) << 32)
            for k in ("effective", "permitted", "inheritable")}


def drop_capabilities(keep: Iterable[str]) -> int:
    """Keep only ``keep`` (names from :data:`CAPS`) in this process's
    effective and permitted sets (and those it had), clear the inheritable
    set, the ambient set and the bounding set of the rest, and set no-new-privs.
    Returns the effective mask now held. Raises :class:`OSError` when capset
    fails (nothing is dropped then)."""
    want = 0
    for name in keep:
        want |= 1 << CAPS[name]
    libc = _libc()
    have = current()
    mask = have["permitted"] & want
    # the bounding set first: PR_CAPBSET_DROP needs CAP_SETPCAP, dropped below
    if have["effective"] & (1 << CAPS["CAP_SETPCAP"]):
        for cap in range(_last_cap() + 1):
            if not want & (1 << cap) and libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                e = ctypes.get_errno()
                if e != 22:  # EINVAL: a capability this kernel does not know
                    log.debug("PR_CAPBSET_DROP %d: %s", cap, os.strerror(e))
    hdr = _Header(_VERSION_3, 0)
    data = (_Data * 2)()
    for i in (0, 1):
        part = (mask >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = part
        data[i].permitted = part
        data[i].inheritable = 0
    if libc.capset(ctypes.byref(hdr), data) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"capset: {os.strerror(e)}")
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        log.debug("PR_SET_NO_NEW_PRIVS: %s", os.strerror(ctypes.get_errno()))
    return current()["effective"]


def names(mask: int) -> list[str]:
    """The names (of :data:`CAPS`) set in ``mask``; others as numbers."""
    by_num = {v: k for k, v in CAPS.items()}
    return [by_num.get(i, str(i)) for i in range(64) if mask & (1 << i)]


def drop_after_start(who: str, keep: Iterable[str]) -> None:
    """For the agents' entry points: drop, and log what remains (one line),
    or why not (not root, no capset: the agent runs on)."""
    try:
        eff = drop_capabilities(keep)
    except (OSError, AttributeError) as exc:
        log.warning("%s keeps its capabilities: %s", who, exc)
        return
    log.debug("%s dropped its other capabilities; it keeps %s", who,
              ", ".join(names(eff)) or "none")


def effective() -> int:
    """The effective set as a bit mask, from ``CapEff`` of ``/proc/self/status``
    (0 if unreadable)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def missing(*names: str) -> list[str]:
    """The capabilities among ``names`` this process does not have: what the
    agents' ``run`` checks first, to say in one line that they need root (or
    which capability) before touching anything."""
    eff = effective()
    return [n for n in names if not eff & (1 << CAPS[n])]
