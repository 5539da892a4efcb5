"""Whether this machine can run the real-kernel tests: root, and a network
namespace can be created and removed (cached). Used by tests/conftest.py to
skip every test marked ``netns`` otherwise, and by the lab fixtures."""

from __future__ import annotations

import functools
import os

__all__ = ["netns_available"]

@functools.cache
def netns_available() -> tuple[bool, str]:
    """(ok, reason): root and a namespace can be created and removed."""
    if os.geteuid() != 0:
        return (False, "needs root")
    try:
        from pyroute2 import netns
    except ImportError as exc:  # pragma: no cover
        return (False, f"pyroute2 missing: {exc}")
    name = f"odmcheck{os.getpid()}"
    try:
        netns.create(name)
        netns.remove(name)
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot run"
        return (False, f"cannot create a network namespace: {exc}")
    return (True, "")
