"""Shared fixtures for the real-kernel tests in tests/netns.

- Tests marked ``@pytest.mark.netns`` are skipped unless we are root and can
  create (and remove) a network namespace (tests/conftest.py).
- ``lab_prefix`` gives each test a unique namespace prefix (``odmt`` + 6 hex);
  ``lab_state_dir`` a state directory shared by the session (under
  ``/run/odm-lab-test``), so a crashed earlier run can be cleaned up.
- ``lab`` is a Lab that is up for the test and always torn down afterwards.
- Every prefix handed out is torn down again at the end of the test, whatever
  the test did, and leftovers of earlier killed runs (state whose owner
  process is gone) are removed when the session starts.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from netnscheck import netns_available

TEST_PREFIX = "odmt"
TEST_STATE_DIR = Path(os.environ.get("ODM_TEST_LAB_STATE_DIR", "/run/odm-lab-test"))

@pytest.fixture(scope="session", autouse=True)
def _clean_stale_test_labs() -> None:
    """Tear down test labs left by earlier runs whose process is gone."""
    if not TEST_STATE_DIR.is_dir() or not netns_available()[0]:
        return
    from lab import Lab

    for info in Lab.list_labs(TEST_STATE_DIR):
        if info["prefix"].startswith(TEST_PREFIX) and not info["owner_alive"]:
            try:
                Lab(prefix=info["prefix"], state_dir=TEST_STATE_DIR).down()
            except Exception as exc:  # noqa: BLE001
                print(f"stale test lab {info['prefix']}: {exc}")


@pytest.fixture
def lab_state_dir() -> Path:
    """Directory for lab state files of this test session."""
    return TEST_STATE_DIR


@pytest.fixture
def lab_prefix(lab_state_dir: Path) -> Iterator[str]:
    """A unique lab prefix; whatever lab uses it is torn down after the test."""
    prefix = TEST_PREFIX + secrets.token_hex(3)
    try:
        yield prefix
    finally:
        if netns_available()[0]:
            from lab import Lab

            Lab(prefix=prefix, state_dir=lab_state_dir).down()


@pytest.fixture
def lab(lab_prefix: str, lab_state_dir: Path):
    """A lab that is up for the test (default topology, unique prefix)."""
    from lab import Lab, LabConfig

    the_lab = Lab(LabConfig(prefix=lab_prefix, state_dir=lab_state_dir))
    try:
        the_lab.up()
        yield the_lab
    finally:
        the_lab.down()
