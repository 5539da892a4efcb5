"""Session-wide test set-up: tests marked ``netns`` are skipped unless we are
root and can create a network namespace (tests/netnscheck.py)."""

from __future__ import annotations

import pytest
from netnscheck import netns_available


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs = [item for item in items if item.get_closest_marker("netns")]
    if not needs:
        return
    ok, reason = netns_available()
    if not ok:
        skip = pytest.mark.skip(reason=f"netns: {reason}")
        for item in needs:
            item.add_marker(skip)
