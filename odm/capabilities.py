"""Which Linux capabilities this process has (``CapEff`` of
``/proc/self/status``, capabilities(7)), so the agents can say at once, in one
line, that they need root or which capability is missing, instead of failing
half-way with "Permission denied"."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CAPS", "effective", "missing"]

#: the capabilities the agents use, by number (linux/capability.h)
CAPS = {"CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
        "CAP_SYS_ADMIN": 21}


def effective() -> int:
    """The effective capability set as a bit mask (0 if unreadable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def missing(*names: str) -> list[str]:
    """The capabilities among ``names`` this process does not have."""
    eff = effective()
    return [n for n in names if not eff & (1 << CAPS[n])]
