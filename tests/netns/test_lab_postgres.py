"""``odm lab up --store postgresql``: a real PostgreSQL server (initdb in the
lab's state directory, run as postgres in cn) that a router namespace reaches
over TCP on the core link with the agent config ``up`` wrote; ``odm lab
down`` stops it and removes its data, also when whatever started it is gone
(its PID is in the lab state)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from lab import Lab, nsutil

pytestmark = [pytest.mark.netns]

PY = sys.executable


@pytest.fixture(autouse=True)
def _need_postgres():
    from lab.pgserver import find_bindir
    from lab.topology import LabError
    try:
        find_bindir()
    except LabError as exc:
        pytest.skip(str(exc))


def test_lab_up_with_postgresql_serves_the_routers_over_the_core_link_and_down_removes_it(
        lab_prefix: str, lab_state_dir: Path) -> None:
    from click.testing import CliRunner

    from lab.cli import lab as lab_cli

    runner = CliRunner()
    common = ["--prefix", lab_prefix, "--state-dir", str(lab_state_dir)]
    r = runner.invoke(lab_cli, ["up", "--store", "postgresql", *common])
    assert r.exit_code == 0, r.output
    lab = Lab(prefix=lab_prefix, state_dir=lab_state_dir)
    state = json.loads(lab.state_path.read_text())
    (pg,) = [p for p in state["processes"] if p["argv"][0].endswith("/postgres")]
    assert pg["node"] == "cn" and os.path.exists(f"/proc/{pg['pid']}")
    assert os.stat(f"/proc/{pg['pid']}").st_uid != 0  # runs as postgres, not root
    data = lab.state_path.parent / "postgres" / "data"
    assert (data / "PG_VERSION").exists()
    cfg = lab.state_path.parent / "agents" / "ar1.toml"
    assert 'type = "postgresql"' in cfg.read_text()
    # ar1 reaches it over TCP on the core link with what its config says:
    # the schema is there (odm router db version, as an operator would check)
    out = lab.exec("ar1", [PY, "-m", "odm", "router", "db", "version", "--config", str(cfg)],
                   capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    from router.pgstore import PG_SCHEMA_VERSION
    assert str(PG_SCHEMA_VERSION) in out.stdout
    r = runner.invoke(lab_cli, ["down", *common])
    assert r.exit_code == 0, r.output
    assert not os.path.exists(f"/proc/{pg['pid']}") or nsutil.proc_starttime(
        pg["pid"]) != pg["starttime"]
    assert not data.exists() and not nsutil.netns_exists(f"{lab_prefix}-cn")
