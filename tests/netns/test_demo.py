"""``odm lab demo`` end to end in namespaces: the spec's §4.2 flow and the
all-types scenario (SL across a move, NP applications told, GR grace within
±10 %, FIXED reachable inbound after a move and after the move back), and
nothing left behind, once per data-plane backend this kernel runs. Each step's
own check is the assertion; a failure prints the whole step table. A backend
the kernel lacks is refused at once, before anything is built."""

from __future__ import annotations

import os
import tempfile

import pytest
from dataplanes import dataplane_params

from lab.demo import run_demo
from lab.kernel import probe_dataplanes

pytestmark = [pytest.mark.netns]


@pytest.fixture(autouse=True)
def _demo_work_in_tmp_path(tmp_path, monkeypatch):
    """The demo's own work folder (its logs, kept here with keep_logs for a
    failure's table) goes under pytest's tmp_path, which pytest prunes, not
    the system's temporary folder, where each run left one per demo."""
    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))


def _table(res) -> str:
    rows = [f"{s.number:2d} {'ok  ' if s.ok else 'FAIL'} {s.name}: expected {s.expected}; "
            f"observed {s.observed}" for s in res.steps]
    return "\n".join(rows + [f"error: {res.error}", f"leftovers: {res.leftovers}",
                             f"logs: {res.logs}"])


@pytest.mark.parametrize("dataplane", dataplane_params())
def test_spec_4_2_flow(dataplane, lab_prefix, lab_state_dir, tmp_path):
    res = run_demo("4.2", pcap_dir=tmp_path / "pcaps", prefix=lab_prefix,
                   state_dir=lab_state_dir, keep_logs=True, dataplane=dataplane)
    assert res.ok, _table(res)
    assert res.dataplane == dataplane
    names = [s.name for s in res.steps]
    assert "app 3 keeps its SESSION_LASTING connection" in names
    assert "new app asks GRACEFUL_REPLACEMENT" in names
    assert sorted(os.path.basename(p) for p in res.pcaps) == [
        "access.pcap", "ar1-access.pcap", "ar2-access.pcap", "core.pcap"]
    assert all(os.path.getsize(p) > 24 for p in res.pcaps)
    assert not res.leftovers


@pytest.mark.parametrize("dataplane", dataplane_params())
def test_all_types_scenario(dataplane, lab_prefix, lab_state_dir, tmp_path):
    res = run_demo("all-types", pcap_dir=tmp_path / "pcaps", prefix=lab_prefix,
                   state_dir=lab_state_dir, keep_logs=True, dataplane=dataplane)
    assert res.ok, _table(res)
    assert res.dataplane == dataplane
    grace = res.timings["gr-grace-configured"]
    assert abs(res.timings["gr-grace-observed"] - grace) <= 0.1 * grace + 0.3


def test_auto_runs_the_first_backend_the_kernel_has(lab_prefix, lab_state_dir, tmp_path):
    res = run_demo("4.2", pcap_dir=tmp_path / "pcaps", prefix=lab_prefix,
                   state_dir=lab_state_dir, keep_logs=True)
    assert res.ok, _table(res)
    found = probe_dataplanes()
    assert res.dataplane == next(n for n, why in found.items() if why is None)


def test_a_backend_the_kernel_lacks_is_refused_before_anything_is_built(lab_prefix,
                                                                        lab_state_dir,
                                                                        tmp_path):
    missing = [n for n, why in probe_dataplanes().items() if why]
    if not missing:
        pytest.skip("this kernel runs every backend")
    res = run_demo("4.2", pcap_dir=tmp_path / "pcaps", prefix=lab_prefix,
                   state_dir=lab_state_dir, dataplane=missing[0])
    assert not res.ok and not res.steps and not res.pcaps
    assert "CONFIG_" in res.error and "available here:" in res.error
    assert not (tmp_path / "pcaps").exists()


@pytest.mark.parametrize("scenario", ["4.2", "all-types"])
def test_demo_on_postgresql(scenario, lab_prefix, lab_state_dir, tmp_path):
    """Both scenarios with the routers' bindings in a real PostgreSQL server in
    cn, reached over TCP on the core link (``--store postgresql``), on the
    first data plane the kernel runs; nothing is left behind."""
    from lab.pgserver import find_bindir
    from lab.topology import LabError
    try:
        find_bindir()
    except LabError as exc:
        pytest.skip(str(exc))
    res = run_demo(scenario, pcap_dir=tmp_path / "pcaps", prefix=lab_prefix,
                   state_dir=lab_state_dir, keep_logs=True, store="postgresql")
    assert res.ok, _table(res)
    assert not res.leftovers
    logs = os.path.join(res.logs, "ar1.log")
    with open(logs) as f:
        assert "lease db postgresql: host=" in f.read()


def test_a_demo_on_the_prefix_of_a_lab_that_is_up_leaves_that_lab_alone(lab, lab_prefix,
                                                                          lab_state_dir,
                                                                          tmp_path):
    """A fresh-clone try: `odm lab up` then `odm lab demo` (same prefix) took
    the user's lab down with a traceback. The demo now refuses, in one line,
    before it builds or removes anything."""
    res = run_demo("4.2", pcap_dir=tmp_path / "pcaps", prefix=lab_prefix,
                   state_dir=lab_state_dir)
    assert not res.ok and not res.steps and not res.logs
    assert "already up" in res.error and "--prefix" in res.error
    assert lab.status()["up"]
    assert not (tmp_path / "pcaps").exists()
