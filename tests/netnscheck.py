"""Whether this machine can run the real-kernel tests: root, and a network
namespace can be created and removed (cached). Used by tests/conftest.py to
skip every test marked ``netns`` otherwise, and by the lab fixtures."""

from __future__ import annotations

import os

__all__ = ["netns_available"]

_probe: tuple[bool, str] | None = None


def netns_available() -> tuple[bool, str]:
    """(ok, reason): root and a namespace can be created and removed."""
    global _probe
    if _probe is not None:
        return _probe
    if os.geteuid() != 0:
        _probe = (False, "needs root")
        return _probe
    try:
        from pyroute2 import netns
    except ImportError as exc:  # pragma: no cover
        _probe = (False, f"pyroute2 missing: {exc}")
        return _probe
    name = f"odmcheck{os.getpid()}"
    try:
        netns.create(name)
        netns.remove(name)
        _probe = (True, "")
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot run"
        _probe = (False, f"cannot create a network namespace: {exc}")
    return _probe
