"""``odm lab status`` prints every router address and agent command whole
(odm/tables.py: output never cuts an address), piped or on a narrow terminal."""

from __future__ import annotations

from lab.cli import _print_status

ARGV = ["odm", "host", "run", "--iface", "mh0", "--config",
        "/run/odm-lab/a-rather-long-prefix/agents/host.toml", "--socket",
        "/run/odm-lab/a-rather-long-prefix/host.sock"]


def _status() -> dict:
    return {
        "prefix": "tr", "phase": "up", "attached": "ar1", "state_path": "/run/odm-lab/tr.json",
        "nodes": {"mh": {"exists": True, "netns": "tr-mh", "interfaces": [
            {"ifname": "mh0", "state": "up", "carrier": True, "index": 2, "master": None,
             "addresses": ["2001:db8:1001:0:1234:5678:9abc:def0/128"]}]}},
        "routers": {"ar1": {"core_address": "2001:db8:ffff:ffff:ffff:ffff:ffff:1/64",
                            "access_link_local": "fe80::ff:fe00:1",
                            "access_prefix": "2001:db8:a1::/64",
                            "pd_pool": "2001:db8:1000::/40"}},
        "processes": [{"pid": 4242, "node": "mh", "alive": True, "argv": ARGV,
                       "log": "/run/odm-lab/a-rather-long-prefix/logs/host.log"}],
    }


def test_lab_status_prints_commands_and_addresses_whole(capsys):
    _print_status(_status())
    out = capsys.readouterr().out
    assert " ".join(ARGV) in out
    assert "2001:db8:ffff:ffff:ffff:ffff:ffff:1/64" in out
    assert "2001:db8:1001:0:1234:5678:9abc:def0/128" in out
