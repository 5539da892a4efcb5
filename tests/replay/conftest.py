"""Fixtures of tests/replay: the golden captures of pcaps/ and, for the
``netns`` tests, a fresh lab per test (namespaces ``h3r<hex>-*``), always
torn down; labs left by a killed earlier run are removed at session start."""

from __future__ import annotations

import secrets

import pytest
from netnscheck import netns_available
from replayset import PREFIX, STATE_DIR


@pytest.fixture(scope="session", autouse=True)
def _stale_replay_labs():
    if not (STATE_DIR.is_dir() and netns_available()[0]):
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
