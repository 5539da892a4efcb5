"""The atheris harness (tests/fuzz/atheris_harness.py) runs each target for a
few thousand coverage-guided inputs from the golden seeds without a crash.
Skipped where atheris is not installed (``pip install atheris``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

HARNESS = Path(__file__).with_name("atheris_harness.py")


@pytest.mark.parametrize("target,runs", [("codec", 20000), ("router", 6000), ("host", 1500)])
def test_atheris_target_runs_clean(tmp_path, target, runs):
    corpus = tmp_path / "corpus"
    r = subprocess.run([sys.executable, str(HARNESS), target, f"-atheris_runs={runs}",
                        "-max_len=1500", str(corpus)], capture_output=True, text=True,
                       timeout=240, cwd=tmp_path, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"Done {runs} " in r.stderr, r.stderr[-2000:]
    assert not list(tmp_path.glob("crash-*"))
    assert len(list(corpus.iterdir())) > 50  # seeded with the golden datagrams
