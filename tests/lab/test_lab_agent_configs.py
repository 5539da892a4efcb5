"""The configs the lab writes for its agents (lab/agents.py), without a kernel:
they load, the routers' RAs do not claim DHCPv6 addresses (M=0, RFC 4861
§4.2: odm delegates prefixes only), and ``[mobility]`` carries the chosen data
plane or is absent when moves are not followed."""

from __future__ import annotations

import tomllib

import pytest

from lab import Lab, LabConfig
from lab.agents import AgentSettings, LabAgents
from router.config import parse_config


@pytest.fixture
def lab(tmp_path):
    return Lab(LabConfig(prefix="odmcfg", state_dir=tmp_path / "state"))


def _router(lab, tmp_path, **kw):
    agents = LabAgents(lab, tmp_path / "work", AgentSettings(**kw))
    return parse_config(tomllib.loads(agents.router_toml("ar1")))


def test_router_config_loads_and_its_ras_do_not_set_m(lab, tmp_path):
    cfg = _router(lab, tmp_path)
    (iface,) = cfg.interfaces
    assert iface.ra.adv_send_advertisements and not iface.ra.adv_managed_flag
    assert not (tmp_path / "state").exists()  # nothing of the lab was built


@pytest.mark.parametrize("dataplane", ["auto", "srv6", "ip6ip6", "vxlan", "routed"])
def test_mobility_carries_the_data_plane(lab, tmp_path, dataplane):
    m = _router(lab, tmp_path, dataplane=dataplane).mobility
    assert m.dataplane == dataplane
    assert [p.router_id for p in m.peers] == ["ar2"]
    assert m.core_address == lab.config.router("ar1").core_address


def test_no_dataplane_no_mobility_table(lab, tmp_path):
    assert _router(lab, tmp_path, dataplane=None).mobility is None


def test_the_lab_runs_the_installed_odm_not_a_folder_in_the_current_directory(tmp_path):
    """Issue 16: the agents ran as ``python -m odm``, so an ``odm/`` folder
    where the user stood replaced the installed package without a word."""
    import subprocess

    from lab.nsutil import python_module
    fake = tmp_path / "odm"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise SystemExit('the wrong odm')\n")
    (fake / "__main__.py").write_text("raise SystemExit('the wrong odm')\n")
    r = subprocess.run(python_module("odm", "--version"), cwd=tmp_path, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 0 and r.stdout.startswith("odm"), r.stderr


def test_lease_store_table_sqlite_by_default_postgresql_on_the_core_link(lab, tmp_path):
    """``[lease_store]``: the shared SQLite file by default; with ``store =
    "postgresql"`` the lab's server on cn's core address, its password from
    a file (never in the config)."""
    cfg = _router(lab, tmp_path)
    assert cfg.lease_store is None and cfg.lease_db == tmp_path / "work" / "leases.sqlite3"
    assert cfg.lease_db_synchronous == "normal"
    cfg = _router(lab, tmp_path, store="postgresql")
    ls = cfg.lease_store
    assert f"host={lab.config.cn_address}" in ls.conninfo and "port=5432" in ls.conninfo
    assert ls.password_file == tmp_path / "work" / "pg-password"
    assert "password=" not in ls.conninfo


def test_the_demo_never_writes_into_the_checkout_unless_told(tmp_path, monkeypatch):
    """Issue 16: a failed demo run from a clone overwrote the committed
    pcaps/demo-4.2 with empty captures; its captures now go to the temporary
    directory unless --pcap-dir says otherwise."""
    import tempfile
    from pathlib import Path

    from lab.demo import default_pcap_dir
    monkeypatch.chdir(tmp_path)
    d = default_pcap_dir("4.2")
    assert d.is_absolute() and d.parent == Path(tempfile.gettempdir())
    assert tmp_path not in d.parents
