"""odm probe pd / types against ISC Kea: legacy (untyped) grants shown as
such, Rapid Commit, Release, NoPrefixAvail with a non-zero exit."""

from __future__ import annotations

import json
import shutil
from ipaddress import IPv6Network

import pytest
from probe_netns import netns_ok, veth_pair, wait_for_text

_ok, _why = netns_ok()
pytestmark = [pytest.mark.interop, pytest.mark.netns,
              pytest.mark.skipif(not _ok, reason=_why),
              pytest.mark.skipif(shutil.which("kea-dhcp6") is None,
                                 reason="kea-dhcp6-server not installed")]

POOL = IPv6Network("2001:db8:8000::/40")


def kea_config(tmp_path, iface: str, prefix_len: int = 40, rapid: bool = False) -> dict:
    return {"Dhcp6": {
        "interfaces-config": {"interfaces": [iface]},
        "lease-database": {"type": "memfile", "persist": True,
                           "name": str(tmp_path / "kea-leases6.csv"), "lfc-interval": 0},
        "server-id": {"type": "LL", "htype": 1, "identifier": "020000000001",
                      "persist": False},
        "renew-timer": 1000, "rebind-timer": 2000,
        "preferred-lifetime": 3000, "valid-lifetime": 4000,
        "subnet6": [{"id": 1, "subnet": "2001:db8:1::/64", "interface": iface,
                     "rapid-commit": rapid,
                     "pd-pools": [{"prefix": "2001:db8:8000::", "prefix-len": prefix_len,
                                   "delegated-len": 56}]}],
        "loggers": [{"name": "kea-dhcp6", "severity": "INFO",
                     "output_options": [{"output": str(tmp_path / "kea.log")}]}]}}


@pytest.fixture
def kea(tmp_path, request):
    """(pair, start) — start(prefix_len=40, rapid=False) launches Kea on srv."""
    with veth_pair() as pair:
        def start(prefix_len: int = 40, rapid: bool = False):
            cfg = tmp_path / "kea-dhcp6.conf"
            cfg.write_text(json.dumps(kea_config(tmp_path, pair.srv_if, prefix_len, rapid)))
            env = {"KEA_PIDFILE_DIR": str(tmp_path), "KEA_LOCKFILE_DIR": str(tmp_path)}
            proc = pair.spawn(pair.srv_ns, ["kea-dhcp6", "-c", str(cfg)],
                              tmp_path / "kea.out", env)
            wait_for_text(tmp_path / "kea.log", "DHCP6_STARTED", proc=proc)
            return proc
        yield pair, start


def probe_json(pair, *args):
    res = pair.odm("probe", *args, "--iface", pair.cli_if, "--json", "--timeout", "3")
    assert res.stdout, res.stderr
    return res.returncode, json.loads(res.stdout)


def messages(out):
    return [(e["direction"], e["message"]) for e in out["log"]]


def test_untyped_pd_four_messages(kea):
    pair, start = kea
    start()
    code, out = probe_json(pair, "pd")
    assert code == 0 and out["outcome"] == "granted"
    assert messages(out) == [("sent", "Solicit"), ("received", "Advertise"),
                             ("sent", "Request"), ("received", "Reply")]
    assert out["client-duid"] == "00:03:00:01:02:00:00:00:00:02"  # DUID-LL of the interface MAC
    (ia,) = out["ia-pds"]
    (p,) = ia["prefixes"]
    assert IPv6Network(p["prefix"]).subnet_of(POOL) and p["prefix"].endswith("/56")
    assert p["mobility-type"] == "legacy" and ia["legacy"] is False
    assert (p["preferred-lifetime"], p["valid-lifetime"], ia["t1"], ia["t2"]) == (
        3000, 4000, 1000, 2000)
    # the typed hint is what odm sends: IAPREFIX ::/56 hint without type, ORO 82
    sol = out["log"][0]["decoded"]
    assert [o["kind"] for o in sol["options"]][-1] == "IAPD"


def test_typed_pd_against_legacy_kea_is_shown_as_legacy_and_released(kea):
    pair, start = kea
    start()
    code, out = probe_json(pair, "pd", "--type", "session-lasting", "--release",
                           "--hint", "::/56")
    assert code == 0 and out["outcome"] == "granted" and out["released"] == "Success"
    (ia,) = out["ia-pds"]
    assert ia["asked"] == "session-lasting" and ia["legacy"] is True
    assert ia["prefixes"][0]["mobility-type"] == "legacy"
    assert messages(out)[-2:] == [("sent", "Release"), ("received", "Reply")]
    sol = out["log"][0]["decoded"]
    oro = next(o for o in sol["options"] if o["kind"] == "OptionRequest")
    assert oro["requested-options"] == [17, 82]
    hint = next(o for o in sol["options"] if o["kind"] == "IAPD")["options"][0]
    assert hint["prefix"] == "::" and hint["prefix-length"] == 56
    assert hint["options"][0]["suboptions"][0]["mobility-type"]["name"] == "SESSION_LASTING"
    # people's view names the legacy answer
    res = pair.odm("probe", "pd", "--iface", pair.cli_if, "--type", "fixed", "--release")
    assert res.returncode == 0 and "untyped (legacy server)" in res.stdout


def test_rapid_commit_two_messages(kea):
    pair, start = kea
    start(rapid=True)
    code, out = probe_json(pair, "pd", "--rapid-commit")
    assert code == 0 and messages(out) == [("sent", "Solicit"), ("received", "Reply")]


def test_no_prefix_avail_exits_one_with_the_status(kea):
    pair, start = kea
    start(prefix_len=56)  # a pool of exactly one /56
    code, _first = probe_json(pair, "pd")
    assert code == 0
    code, out = probe_json(pair, "pd", "--duid", "00030001020000000099")
    assert code == 1 and out["outcome"] == "refused"
    assert out["ia-pds"][0]["status"] == "NoPrefixAvail"
    res = pair.odm("probe", "pd", "--iface", pair.cli_if, "--duid", "0003000102000000009a",
                   "--timeout", "3")
    assert res.returncode == 1 and "NoPrefixAvail" in res.stdout


def test_probe_types_against_kea_grants_only_legacy(kea):
    pair, start = kea
    start()
    res = pair.odm("probe", "types", "--iface", pair.cli_if, "--json", "--wait", "0.3",
                   "--timeout", "3")
    out = json.loads(res.stdout)
    assert res.returncode == 1  # no type can be granted: Kea ignores odm's option
    assert [r["type"] for r in out["types"]] == ["fixed", "session-lasting", "non-persistent",
                                                 "graceful-replacement"]
    assert {r["result"] for r in out["types"]} == {"legacy"}
    assert {r["released"] for r in out["types"]} == {"Success"}
    assert not any(r["in-ra"] or r["in-supported-types"] for r in out["types"])


def test_no_server_exits_three(kea):
    pair, _ = kea
    res = pair.odm("probe", "pd", "--iface", pair.cli_if, "--timeout", "1.5")
    assert res.returncode == 3 and "no answer" in res.stdout
