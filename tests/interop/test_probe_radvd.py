"""odm probe ra against radvd: a legacy router's PIO is shown untyped."""

from __future__ import annotations

import json
import shutil

import pytest
from probe_netns import netns_ok, veth_pair, wait_for_text

_ok, _why = netns_ok()
pytestmark = [pytest.mark.interop, pytest.mark.netns,
              pytest.mark.skipif(not _ok, reason=_why),
              pytest.mark.skipif(shutil.which("radvd") is None, reason="radvd not installed")]


def test_probe_ra_shows_radvd_prefix_as_legacy(tmp_path):
    with veth_pair() as pair:
        conf = tmp_path / "radvd.conf"
        conf.write_text(f"""interface {pair.srv_if} {{
    AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 10;
    AdvDefaultLifetime 600; AdvOtherConfigFlag on;
    prefix 2001:db8:1::/64 {{ AdvOnLink on; AdvAutonomous on;
        AdvValidLifetime 86400; AdvPreferredLifetime 14400; }};
}};
""")
        conf.chmod(0o644)
        log = tmp_path / "radvd.log"
        proc = pair.spawn(pair.srv_ns, ["radvd", "-n", "-C", str(conf), "-p",
                                        str(tmp_path / "radvd.pid"), "-m", "logfile", "-l",
                                        str(log), "-d", "1"], tmp_path / "radvd.out")
        wait_for_text(log, "version", proc=proc)
        res = pair.odm("probe", "ra", "--iface", pair.cli_if, "--wait", "2", "--json")
        assert res.returncode == 0, res.stderr + res.stdout
        out = json.loads(res.stdout)
        rows = [r for r in out["routers"] if r["prefix"] == "2001:db8:1::/64"]
        assert len(rows) == 1
        r = rows[0]
        assert r["router"] == "fe80::ff:fe00:1" and r["router-lifetime"] == 600
        assert r["flags"] == "LA" and r["ra-flags"] == "O"
        assert r["mobility-type"] == "legacy" and r["legacy"] is True
        assert (r["preferred-lifetime"], r["valid-lifetime"]) == (14400, 86400)
        assert r["violations"] == []
        assert out["log"][0]["direction"] == "sent" and out["log"][0]["message"] == "RS"
        # the people's view says the same, by name
        res = pair.odm("probe", "ra", "--iface", pair.cli_if, "--wait", "1.5")
        assert res.returncode == 0 and "untyped (legacy)" in res.stdout
        assert "2001:db8:1::/64" in res.stdout


def test_probe_ra_without_router_exits_non_zero():
    with veth_pair() as pair:
        res = pair.odm("probe", "ra", "--iface", pair.cli_if, "--wait", "0.5")
        assert res.returncode == 3
        assert "no Router Advertisement" in res.stdout
