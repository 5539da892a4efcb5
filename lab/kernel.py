"""What this machine's kernel can do for the lab's data plane, asked in a
scratch network namespace (so the probe touches nothing of the caller's or of
a running lab).

Every namespace shares the one kernel, so the answer holds for the routers of
any lab on this machine. Used by ``odm lab up/demo --dataplane``, the
benchmarks and the tests (which run once per backend the kernel supports).
"""

from __future__ import annotations

import functools
import os
import secrets

from router.dataplane import pick, probe_all

__all__ = ["probe_dataplanes", "resolve_dataplane"]


@functools.cache
def probe_dataplanes() -> dict[str, str | None]:
    """Each data-plane backend → ``None`` if this kernel runs it, else why not
    (naming the kernel option). Cached: the kernel does not change under us."""
    from pyroute2 import IPRoute, netns

    name = f"odmprobe-{os.getpid()}-{secrets.token_hex(2)}"
    netns.create(name)
    try:
        ipr = IPRoute(netns=name)
        try:
            return probe_all(ipr)
        finally:
            ipr.close()
    finally:
        netns.remove(name)


def resolve_dataplane(wanted: str) -> tuple[str, dict[str, str | None]]:
    """The backend the lab's routers will run for ``wanted`` (a backend name or
    ``auto``) and the probe results. Raises
    :class:`~router.dataplane.DataplaneUnavailable` (one line naming the
    missing kernel option and what does work) for a backend this kernel lacks."""
    found = probe_dataplanes()
    return pick(wanted, found).name, found
