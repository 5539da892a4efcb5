"""What the replay tests share (imported by name: test modules may not import
a conftest, several directories have one): the golden captures of pcaps/,
the (capture, side) cases, the lab state directory and prefix."""

from __future__ import annotations

import os
from pathlib import Path

from odm.pcaptools.golden import GOLDEN_DIR, load_manifest

STATE_DIR = Path(os.environ.get("ODM_TEST_LAB_STATE_DIR", "/run/odm-lab-test"))
PREFIX = "h3r"
GOLDEN = {g.name: g for g in load_manifest(GOLDEN_DIR)}
CASES = [(name, side) for name, g in GOLDEN.items() for side in g.against]
