"""The mobility data-plane backends as pytest parameters: one per backend of
:mod:`router.dataplane`, skipped where this kernel cannot run it, with the
missing kernel option in the reason (probed once, in a scratch namespace, by
:func:`lab.kernel.probe_dataplanes`)."""

from __future__ import annotations

import pytest
from netnscheck import netns_available

from router.dataplane import BACKENDS


def dataplane_params() -> list:
    """``pytest.param(name)`` per backend; those this kernel lacks skipped."""
    names = [b.name for b in BACKENDS]
    if not netns_available()[0]:  # the netns hook skips these tests anyway
        return names
    from lab.kernel import probe_dataplanes

    found = probe_dataplanes()
    return [pytest.param(n, id=n, marks=[pytest.mark.skip(reason=f"{n}: {found[n]}")]
                         if found[n] else []) for n in names]
