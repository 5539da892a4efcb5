"""Router configuration warnings: a setting that is valid on the wire but
does not do what it says. The one checked today: a PIO with the autonomous
flag whose prefix is not a /64, which hosts on Ethernet ignore for SLAAC
(RFC 4862 §5.5.3 d; 64-bit interface identifiers, RFC 4291 §2.5.1, RFC 7136).
radvd warns about it and runs on; so does odm: ``check-config`` shows the
warning (text and ``--json``) and the router logs it when it loads the file."""

from __future__ import annotations

import json
import logging
import tomllib

import pytest
from click.testing import CliRunner

from router.cli import _config_loader, router
from router.config import parse_config

KEY = "interface[0].ra.prefix[0].prefix"


def _toml(prefix: str, flags: str = "") -> str:
    return f"""
[router]
id = "r"
[[interface]]
name = "eth1"
  [[interface.ra.prefix]]
  prefix = "{prefix}"
  {flags}
  [[interface.pd_pool]]
  name = "p"
  prefix = "2001:db8:f000::/48"
  delegated_length = 56
"""


@pytest.mark.parametrize("prefix,flags", [
    ("2001:db8::/48", ""),                                # A defaults to true
    ("2001:db8::/48", "adv_autonomous_flag = true"),
    ("2001:db8::/80", "AdvAutonomousFlag = true"),        # longer than 64 too
    ("2001:db8::/63", ""),
])
def test_autonomous_pio_that_is_not_a_64_is_warned_about_naming_the_key(prefix, flags):
    c = parse_config(tomllib.loads(_toml(prefix, flags)))
    (w,) = c.warnings
    assert w.key == KEY
    flag = "AdvAutonomousFlag" if "AdvAutonomousFlag" in flags else "adv_autonomous_flag"
    assert prefix in w.reason and "RFC 4862 §5.5.3" in w.reason
    assert f"{flag} = false" in w.reason and "/64" in w.reason
    assert str(w) == f"{KEY}: {w.reason}"


@pytest.mark.parametrize("prefix,flags", [
    ("2001:db8::/64", ""),
    ("2001:db8::/48", "adv_autonomous_flag = false"),     # on-link only: any length
    ("2001:db8::/48", "AdvAutonomousFlag = false"),
])
def test_a_64_or_an_on_link_only_prefix_is_not_warned_about(prefix, flags):
    assert parse_config(tomllib.loads(_toml(prefix, flags))).warnings == ()


def test_every_offending_prefix_of_every_interface_is_named():
    data = tomllib.loads(_toml("2001:db8::/48"))
    data["interface"][0]["ra"]["prefix"].append({"prefix": "2001:db8:1::/64"})
    data["interface"][0]["ra"]["prefix"].append({"prefix": "2001:db8:2::/56"})
    data["interface"].append({"name": "eth2", "ra": {"prefix": [{"prefix": "2001:db8:3::/72"}]}})
    keys = [w.key for w in parse_config(data).warnings]
    assert keys == [KEY, "interface[0].ra.prefix[2].prefix", "interface[1].ra.prefix[0].prefix"]


def test_check_config_shows_the_warning_and_still_accepts_the_file(tmp_path):
    f = tmp_path / "r.toml"
    f.write_text(_toml("2001:db8::/48"))
    r = CliRunner().invoke(router, ["check-config", str(f)])
    assert r.exit_code == 0, r.output
    assert f"{f}: {KEY}: warning:" in r.stderr
    assert "adv_autonomous_flag = false" in r.stderr
    assert "1 warning" in r.stdout
    r = CliRunner().invoke(router, ["check-config", str(f), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["ok"] is True
    (w,) = out["warnings"]
    assert w["key"] == KEY and "adv_autonomous_flag = false" in w["reason"]


def test_check_config_json_lists_no_warnings_for_a_clean_file(tmp_path):
    f = tmp_path / "r.toml"
    f.write_text(_toml("2001:db8::/64"))
    r = CliRunner().invoke(router, ["check-config", str(f), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["warnings"] == []
    assert "warning" not in CliRunner().invoke(router, ["check-config", str(f)]).output


def test_the_router_logs_the_warning_when_it_loads_the_file(tmp_path, caplog):
    """``odm router run`` loads its file (at start, on SIGHUP and for Kea's
    config-test) through this loader."""
    f = tmp_path / "r.toml"
    f.write_text(_toml("2001:db8::/48"))
    with caplog.at_level(logging.WARNING, logger="router.config"):
        cfg = _config_loader(())(f)
    assert cfg.warnings
    (rec,) = [r for r in caplog.records if r.name == "router.config"]
    assert rec.levelno == logging.WARNING
    assert KEY in rec.getMessage() and "adv_autonomous_flag = false" in rec.getMessage()
