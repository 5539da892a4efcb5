"""ndisc6's rdisc6 reads the router agent's RA and its PIO; Kea's perfdhcp
completes DHCPv6-PD exchanges (``-e prefix-only``) with no rejected lease."""

from __future__ import annotations

import re
import shutil

import pytest
from router_pair import netns_ok, router_pair

_ok, _why = netns_ok()
pytestmark = [pytest.mark.interop, pytest.mark.netns,
              pytest.mark.skipif(not _ok, reason=_why)]


@pytest.fixture
def pair(tmp_path):
    with router_pair(tmp_path) as p:
        yield p


def field(text: str, name: str) -> str:
    m = re.search(rf"^\s*{re.escape(name)}\s*:\s*(.+?)\s*$", text, re.MULTILINE)
    assert m, f"{name!r} not in rdisc6 output:\n{text}"
    return m.group(1)


@pytest.mark.skipif(shutil.which("rdisc6") is None, reason="ndisc6 not installed")
@pytest.mark.parametrize("flags", [(False, False), (True, True)], ids=["M0O0", "M1O1"])
def test_rdisc6_shows_ra_and_pio(pair, flags):
    """The RA's M and O flags are the configured ones: off by default (odm
    delegates prefixes only, RFC 4861 §4.2), on when configured."""
    managed, other = flags
    pair.start_router(pair.config(managed=managed, other=other))
    r = pair.run(pair.cli_ns, ["rdisc6", "-1", "-w", "3000", pair.cli_if], timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert field(out, "Stateful address conf.") == ("Yes" if managed else "No")   # M
    assert field(out, "Stateful other conf.") == ("Yes" if other else "No")       # O
    assert field(out, "Router lifetime").startswith("1800 ")
    assert field(out, "Source link-layer address") == "02:00:00:00:01:01"
    assert field(out, "Prefix") == "2001:db8:1::/64"
    assert field(out, "On-link") == "Yes" and field(out, "Autonomous address conf.") == "Yes"
    assert field(out, "Valid time").startswith("86400 ")
    assert field(out, "Pref. time").startswith("14400 ")
    assert "from " + pair.link_local(pair.rtr_ns, pair.rtr_if) in out


def perfdhcp_sections(out: str) -> dict[str, dict[str, str]]:
    """{"SOLICIT-ADVERTISE": {"sent packets": "1000", ...}, ...}"""
    secs: dict[str, dict[str, str]] = {}
    cur = None
    for line in out.splitlines():
        m = re.match(r"\*\*\*Statistics for: (\S+)\*\*\*", line)
        if m:
            cur = secs.setdefault(m.group(1), {})
        elif cur is not None and ":" in line:
            k, _, v = line.partition(":")
            cur[k.strip()] = v.strip()
    return secs


@pytest.mark.skipif(shutil.which("perfdhcp") is None, reason="perfdhcp not installed")
def test_perfdhcp_prefix_only_no_rejected_leases(pair):
    pair.start_router(pair.config())
    n = 600
    r = pair.run(pair.cli_ns, ["perfdhcp", "-6", "-l", pair.cli_if, "-e", "prefix-only",
                               "-r", "400", "-n", str(n), "-R", str(n), "-W", "500000"],
                 timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    secs = perfdhcp_sections(r.stdout)
    assert set(secs) == {"SOLICIT-ADVERTISE", "REQUEST-REPLY"}, r.stdout
    for name, s in secs.items():
        assert s["rejected leases"] == "0", name
        assert s["non unique addresses"] == "0", name
        assert int(s["sent packets"]) == n, name
        # a lost datagram on a veth is not the server's fault; demand most
        assert int(s["received packets"]) >= 0.95 * n, (name, s)
    st = pair.status()
    (i,) = st["interfaces"]
    done = int(secs["REQUEST-REPLY"]["received packets"])
    assert i["counters"]["cumulative-assigned-pds"] >= done
    assert sum(p["assigned-pds"] for p in i["pools"]) >= done
    assert len(pair.odm_routes()) >= done
    assert st["adapter"]["adapter-errors"] == 0
