"""Every benchmark in bench/ starts: its imports resolve and ``--help`` works.

The benchmarks are run by hand (they take minutes and namespaces), so nothing
else notices when a module they import moves; bench/router_vs_kea.py lost
``netnscheck`` that way once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))


def test_there_are_benchmarks():
    assert {"codec.py", "router_vs_kea.py", "setsc.py", "handover.py", "summary.py"} <= {
        p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_starts(script):
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                         text=True, timeout=120, check=False, cwd="/")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout.lower()


def test_summary_refuses_an_unknown_part_before_running_anything():
    # a misspelt --skip (handovr) would run the part meant to be skipped
    out = subprocess.run([sys.executable, str(BENCH / "summary.py"), "--skip",
                          "router,handovr"], capture_output=True, text=True, timeout=120,
                         check=False, cwd="/")
    assert out.returncode == 2, out.stderr[-2000:]
    assert "unknown part(s) handovr; the parts are router, routes, setsc, handover" in out.stderr
    assert out.stdout == ""
