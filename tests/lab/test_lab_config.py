"""Reading a lab configuration file (lab.config.parse on odm.tomltable): keys
named by their path, misspellings named with the key meant. No namespaces."""

from __future__ import annotations

import pytest

from lab.config import LabConfig, LabConfigError, LabRouter, load_config


@pytest.mark.parametrize(("data", "message"), [
    ({"prefx": "demo"}, "prefx: unknown key; did you mean 'prefix'?"),
    ({"routers": {"ar1": {"pd_pol": "2001:db8:4000::/36"}}},
     "routers.ar1.pd_pol: unknown key; did you mean 'pd_pool'?"),
    ({"routers": {"ar3": {"pd_pool": "2001:db8:3000::/36"}}},
     "routers.ar3: missing core_address, access_link_local, access_prefix, access_mac"),
    ({"routers": 5}, "routers: must be a table, not int"),
    ({"routers": {"ar1": "x"}}, "routers.ar1: must be a table, not str"),
])
def test_a_bad_lab_file_names_the_key(data, message):
    with pytest.raises(LabConfigError) as ei:
        LabConfig.from_dict(data)
    assert str(ei.value) == message


def test_a_lab_file_changes_the_builtin_routers_and_adds_one(tmp_path):
    f = tmp_path / "lab.toml"
    f.write_text('prefix = "demo"\n[routers.ar1]\npd_pool = "2001:db8:4000::/36"\n'
                 '[routers.ar2]\n[routers.ar3]\ncore_address = "2001:db8:0:c0::3"\n'
                 'access_link_local = "fe80::3"\naccess_prefix = "2001:db8:a3::/64"\n'
                 'pd_pool = "2001:db8:3000::/36"\naccess_mac = "02:00:00:00:a3:01"\n')
    cfg = load_config(f, prefix="other")
    assert cfg.prefix == "other" and cfg.router_names == ("ar1", "ar2", "ar3")
    assert all(isinstance(r, LabRouter) for r in cfg.routers)
    assert str(cfg.router("ar1").pd_pool) == "2001:db8:4000::/36"
    assert LabConfig.from_dict(cfg.to_dict()) == cfg
    f.write_text("prefix = \n")
    with pytest.raises(LabConfigError, match=r"lab\.toml"):
        load_config(f)


def test_cli_options_name_the_lab_again_with_its_state_dir():
    """`odm lab up --state-dir D` printed a `down` hint without --state-dir, and
    that `down` found nothing and said so (a fresh clone's try)."""
    from pathlib import Path

    from lab.config import LabConfig

    assert LabConfig().cli_options() == ""
    assert LabConfig(prefix="frsh").cli_options() == " --prefix frsh"
    assert (LabConfig(prefix="frsh", state_dir=Path("/tmp/x/labstate")).cli_options()
            == " --prefix frsh --state-dir /tmp/x/labstate")
