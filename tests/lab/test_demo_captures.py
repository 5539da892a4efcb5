"""The demo's step "captures decode cleanly" (lab/demo.py) fails on captures
that hold nothing: an empty capture checks nothing (issue 16)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lab.demo import captures_step, tshark_problems
from odm.pcaptools.capture import write_pcap

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"


def test_an_empty_capture_fails_the_step(tmp_path):
    empty = tmp_path / "core.pcap"
    write_pcap(empty, [])
    assert tshark_problems(empty) == ["core.pcap: no packet at all"]
    good = PCAPS / "pd-fixed.pcap"
    step = captures_step([str(good), str(empty)], 9)
    assert (step.number, step.name, step.ok) == (9, "captures decode cleanly", False)
    assert "core.pcap: no packet at all" in step.observed


def test_a_missing_or_cut_short_capture_fails_the_step(tmp_path):
    cut = tmp_path / "access.pcap"
    cut.write_bytes((PCAPS / "pd-fixed.pcap").read_bytes()[:-7])
    step = captures_step([str(tmp_path / "gone.pcap"), str(cut)], 1)
    assert not step.ok
    assert "gone.pcap: no such capture" in step.observed
    assert "access.pcap: cut short after frame" in step.observed


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_clean_captures_pass_the_step():
    files = sorted(str(p) for p in (PCAPS / "demo-4.2").glob("*.pcap"))
    assert len(files) == 4
    step = captures_step(files, 1)
    assert step.ok, step.observed
    assert step.observed == "4 captures clean"
