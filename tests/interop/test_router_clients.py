"""Real DHCPv6-PD clients against the odm router agent: WIDE dhcp6c, ISC
dhclient -6 -P and dhcpcd each obtain a prefix (routed to their link-local
address), renew it (short T1 in the config) and release it (route gone,
binding gone).

The router's RAs have M=0 and O=0 (odm delegates prefixes only, RFC 4861
§4.2): none of these clients needs either flag to ask for IA_PD
(tests/interop/router_pair.py says why per client;
test_router_rdisc6_perfdhcp.py reads the flags off the wire).

Client state (DUID, leases, pid files) lives in the test's temporary
directory — dhcp6c and dhcpcd, whose paths are compiled in, run in a private
mount namespace with that directory bind-mounted over them — and their
scripts are ``/bin/true``, so the machine's resolv.conf is never touched.
"""

from __future__ import annotations

import shutil
import signal
import time

import pytest
from router_pair import netns_ok, private_mounts, router_pair, wait_until

_ok, _why = netns_ok()
pytestmark = [pytest.mark.interop, pytest.mark.netns,
              pytest.mark.skipif(not _ok, reason=_why)]


def needs(binary: str):
    return pytest.mark.skipif(shutil.which(binary) is None, reason=f"{binary} not installed")


@pytest.fixture
def pair(tmp_path):
    with router_pair(tmp_path) as p:
        yield p


def counters(pair) -> dict:
    return pair.status()["interfaces"][0]["counters"]


def bindings(pair) -> list[dict]:
    return pair.status()["interfaces"][0]["bindings"]


def obtained(pair, timeout: float = 10.0) -> dict:
    """Wait for one binding and its route via the client's link-local."""
    (b,) = wait_until(lambda: bindings(pair), timeout, what="a binding")
    ll = pair.link_local(pair.cli_ns, pair.cli_if)
    assert b["client-ll"] == ll
    assert b["mobility-type"] == "legacy"  # these clients ask no type
    wait_until(lambda: pair.odm_routes() == {b["prefix"]: ll}, 5, what="the route")
    return b


def renewed(pair, b: dict, timeout: float = 10.0) -> None:
    """Wait for a Renew answered with the same prefix."""
    wait_until(lambda: counters(pair)["pkt6-renew-received"] >= 1, timeout, what="a Renew")
    c = counters(pair)
    assert c["pkt6-reply-sent"] >= 2 and c["pkt6-receive-drop"] == 0
    assert c["internal-errors"] == 0
    (b2,) = bindings(pair)
    assert b2["prefix"] == b["prefix"] and b2["duid"] == b["duid"]


def released(pair, timeout: float = 10.0) -> None:
    wait_until(lambda: counters(pair)["pkt6-release-received"] >= 1, timeout,
               what="a Release")
    wait_until(lambda: not bindings(pair), 5, what="binding gone")
    wait_until(lambda: pair.odm_routes() == {}, 5, what="route gone")
    assert counters(pair)["cumulative-assigned-pds"] == 1


@needs("dhcp6c")
def test_wide_dhcp6c(pair):
    # dhcp6c raises a T2 under 30 s to 30 (and T1 with it): keep T2 at 30
    pair.start_router(pair.config(pref=40, valid=60, t1=3, t2=30))
    d = pair.workdir / "dhcp6c"
    d.mkdir()
    conf = d / "dhcp6c.conf"
    conf.write_text(f'interface {pair.cli_if} {{\n  send ia-pd 0;\n  script "/bin/true";\n}};\n'
                    "id-assoc pd 0 {\n};\n")
    log = d / "dhcp6c.log"
    c = pair.spawn(pair.cli_ns, private_mounts(
        {"/var/lib/dhcpv6": d}, ["dhcp6c", "-f", "-D", "-c", str(conf), "-p", str(d / "pid"),
                                 pair.cli_if]), log)
    b = obtained(pair)
    assert b["duid"].replace(":", "") == (d / "dhcp6c_duid").read_bytes()[2:].hex()
    renewed(pair, b)
    assert pair.stop(c, signal.SIGTERM) == 0  # dhcp6c releases on SIGTERM
    released(pair)
    text = log.read_text(errors="replace")
    assert "status code: success" in text


@needs("dhclient")
def test_isc_dhclient(pair):
    pair.start_router(pair.config(pref=6, valid=10, t1=2, t2=3))
    d = pair.workdir / "dhclient"
    d.mkdir()
    common = ["-lf", str(d / "leases"), "-pf", str(d / "pid"), "-sf", "/bin/true", pair.cli_if]
    log = d / "dhclient.log"
    c = pair.spawn(pair.cli_ns, ["dhclient", "-6", "-P", "-d", "-v", *common], log)
    b = obtained(pair)
    renewed(pair, b)
    r = pair.run(pair.cli_ns, ["dhclient", "-6", "-P", "-r", "-v", *common], timeout=30)
    assert r.returncode == 0, r.stderr
    released(pair)
    c.wait(5)
    text = log.read_text(errors="replace")
    assert "Bound to lease" in text and f"IAPREFIX {b['prefix']}" in text


@needs("dhcpcd")
def test_dhcpcd(pair):
    pair.start_router(pair.config(pref=6, valid=10, t1=2, t2=3))
    d = pair.workdir / "dhcpcd"
    (d / "db").mkdir(parents=True)
    conf = d / "dhcpcd.conf"
    # the RA has M=0 (odm gives no addresses): dhcpcd solicits for the ia_pd
    # configured on the interface all the same; Rapid Commit; Release on exit
    conf.write_text(f"ipv6only\nnohook resolv.conf\noption rapid_commit\nrelease\n"
                    f"interface {pair.cli_if}\n  ia_pd 1\n")
    log = d / "dhcpcd.log"
    c = pair.spawn(pair.cli_ns, private_mounts(
        {"/var/lib/dhcpcd": d / "db"},
        ["dhcpcd", "-f", str(conf), "-c", "/bin/true", "-B", "-d", "-6", pair.cli_if]), log)
    b = obtained(pair)
    assert counters(pair)["pkt6-request-received"] == 0  # two-message exchange
    renewed(pair, b)
    time.sleep(0.1)
    assert pair.stop(c, signal.SIGTERM) == 0
    released(pair)
    text = log.read_text(errors="replace")
    assert f"delegated prefix {b['prefix']}" in text
