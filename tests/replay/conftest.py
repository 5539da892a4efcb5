"""Fixtures of tests/replay: the golden captures of pcaps/ and, for the
``netns`` tests, a fresh lab per test (namespaces ``h3r<hex>-*``), always
torn down; labs left by a killed earlier run are removed at session start."""

from __future__ import annotations

import os
import secrets

import pytest
from replayset import PREFIX, STATE_DIR

_ok: tuple[bool, str] | None = None


def netns_ok() -> tuple[bool, str]:
    global _ok
    if _ok is None:
        if os.geteuid() != 0:
            _ok = (False, "needs root")
        else:
            try:
                from pyroute2 import netns
                name = f"{PREFIX}probe{os.getpid()}"
                netns.create(name)
                netns.remove(name)
                _ok = (True, "")
            except Exception as exc:  # noqa: BLE001 - any failure means "cannot run"
                _ok = (False, f"no network namespaces: {exc}")
    return _ok


def pytest_collection_modifyitems(config, items) -> None:
    ok, why = netns_ok()
    if ok:
        return
    for item in items:
        if item.get_closest_marker("netns") and "tests/replay" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=f"netns: {why}"))


@pytest.fixture(scope="session", autouse=True)
def _stale_replay_labs():
    if not (STATE_DIR.is_dir() and netns_ok()[0]):
        return
    from lab import Lab
    for info in Lab.list_labs(STATE_DIR):
        if info["prefix"].startswith(PREFIX) and not info["owner_alive"]:
            Lab(prefix=info["prefix"], state_dir=STATE_DIR).down()


@pytest.fixture
def lab():
    """A lab that is up for the test, torn down after it."""
    from lab import Lab
    the_lab = Lab(prefix=PREFIX + secrets.token_hex(3), state_dir=STATE_DIR)
    try:
        the_lab.up()
        yield the_lab
    finally:
        the_lab.down()
