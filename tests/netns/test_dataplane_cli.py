"""The data-plane choice as an operator sees it (router/dataplane): ``odm
router check-config`` and ``odm router run`` inside a router's namespace name
the backend they would run, and a configured backend the kernel lacks fails
both at once, in one line naming the kernel option, before anything is
touched (no lease store, no control socket, no route); ``odm lab up
--dataplane`` refuses the same way and otherwise writes router configs
carrying the choice."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab.agents import AgentSettings, LabAgents
from lab.kernel import probe_dataplanes

pytestmark = [pytest.mark.netns]


def _missing() -> str | None:
    return next((n for n, why in probe_dataplanes().items() if why), None)


def _first() -> str:
    return next(n for n, why in probe_dataplanes().items() if why is None)


def _router_config(lab, tmp_path: Path, dataplane: str) -> Path:
    agents = LabAgents(lab, tmp_path, AgentSettings(dataplane=dataplane))
    cfg = tmp_path / f"ar1-{dataplane}.toml"
    cfg.write_text(agents.router_toml("ar1"))
    return cfg


def _odm(lab, *args: str, timeout: float = 30.0):
    return lab.exec("ar1", [sys.executable, "-m", "odm", *args], capture_output=True,
                    text=True, timeout=timeout)


def test_check_config_shows_what_auto_picks_here(lab, tmp_path):
    r = _odm(lab, "router", "check-config", "--json", str(_router_config(lab, tmp_path, "auto")))
    assert r.returncode == 0, r.stderr
    dp = json.loads(r.stdout)["dataplane"]
    assert dp["configured"] == "auto" and dp["chosen"] == _first()
    r = _odm(lab, "router", "check-config", str(_router_config(lab, tmp_path, "auto")))
    assert r.returncode == 0 and f"mobility data plane: {_first()} (auto)" in r.stdout


def test_a_backend_the_kernel_lacks_fails_check_config_and_run_before_anything(lab, tmp_path):
    missing = _missing()
    if missing is None:
        pytest.skip("this kernel runs every backend")
    cfg = _router_config(lab, tmp_path, missing)
    r = _odm(lab, "router", "check-config", str(cfg))
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert "mobility.dataplane" in line and "CONFIG_" in line and "available here:" in line
    r = _odm(lab, "router", "check-config", "--json", str(cfg))
    assert r.returncode == 1 and json.loads(r.stdout)["key"] == "mobility.dataplane"

    r = _odm(lab, "router", "run", "--config", str(cfg))
    assert r.returncode == 1
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "CONFIG_" in errors[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "leases.sqlite3").exists()
    assert not (tmp_path / "ar1.sock").exists()


def test_lab_up_refuses_a_missing_backend_and_writes_configs_for_a_present_one(
        lab_prefix, lab_state_dir):
    from lab.cli import lab as lab_cli

    common = ["--prefix", lab_prefix, "--state-dir", str(lab_state_dir)]
    missing = _missing()
    if missing is not None:
        r = CliRunner().invoke(lab_cli, ["up", "--dataplane", missing, *common])
        assert r.exit_code == 1 and "CONFIG_" in r.output
        assert not (lab_state_dir / lab_prefix).exists()
    r = CliRunner().invoke(lab_cli, ["up", "--dataplane", "routed", *common])
    try:
        assert r.exit_code == 0, r.output
        assert "data plane: routed; not available here:" in r.output
        # the hints name the lab again, its state directory too, and how to run
        # every agent (they named ar1's only)
        assert " ar2 -- odm router run --config " in r.output
        assert " mh -- odm host run --iface mh0 --config " in r.output
        assert f"odm lab down --prefix {lab_prefix} --state-dir {lab_state_dir}`" in r.output
        cfg = (lab_state_dir / lab_prefix / "agents" / "ar1.toml").read_text()
        assert 'dataplane = "routed"' in cfg
    finally:
        assert CliRunner().invoke(lab_cli, ["down", *common]).exit_code == 0
    assert not (lab_state_dir / lab_prefix).exists()


def test_the_demo_refusing_a_missing_backend_answers_in_json_when_asked(lab_prefix,
                                                                      lab_state_dir):
    """`odm lab demo --dataplane srv6 --json` printed nothing on stdout (the
    refusal went to stderr only): a script got no answer to read."""
    from lab.cli import lab as lab_cli

    missing = _missing()
    if missing is None:
        pytest.skip("every data-plane backend runs on this kernel")
    r = CliRunner().invoke(lab_cli, ["demo", "--dataplane", missing, "--json", "--prefix",
                                     lab_prefix, "--state-dir", str(lab_state_dir)])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert "CONFIG_" in doc["error"] and doc["steps"] == []
    assert not (lab_state_dir / lab_prefix).exists()
