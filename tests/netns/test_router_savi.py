"""Source address validation on the access link (router/dataplane/savi.py;
BCP 38 / RFC 2827 ingress filtering, the prefix-level check of SAVI, RFC 7039).

In a lab (cn — ar1 — mh) the host sends UDP datagrams to cn from its
NON_PERSISTENT address (a prefix of ar1's link: forwarded) and from an address
no router gave it (the kind a host keeps using after a move, or an attacker
forges: dropped by ar1). ``source_address_validation = false`` and a reload
forward it again; the router's stop takes its rules away."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import tomllib
from ipaddress import IPv6Address

import pytest

from lab.agents import ACCESS_IF, AgentSettings, LabAgents, wait_for
from lab.config import HOST, HOST_IF
from lab.nsutil import call_in_netns_thread
from odm_wire.constants import MobilityType as MT

pytestmark = [pytest.mark.netns]

PORT = 7412
FOREIGN = IPv6Address("2001:db8:ffff::5")


def _rules(lab, router: str = "ar1") -> list[tuple]:
    from pyroute2 import NetNS

    from router.dataplane import savi
    with NetNS(lab.netns(router)) as n:
        return [(r.get_attr("FRA_PRIORITY"), r.get_attr("FRA_IIFNAME"), r["action"],
                 r.get_attr("FRA_SRC"), r["src_len"])
                for r in n.get_rules(family=10)
                if r.get_attr("FRA_PRIORITY") in (savi.ALLOW_PRIORITY, savi.DROP_PRIORITY)]


def _send_from(source: IPv6Address, dest: IPv6Address, tag: bytes) -> None:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.bind((str(source), 0))
        for _ in range(3):
            s.sendto(tag, (str(dest), PORT))
    finally:
        s.close()


def _received(sock: socket.socket, wait: float) -> set[bytes]:
    got: set[bytes] = set()
    sock.settimeout(0.05)
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            got.add(sock.recv(100))
        except TimeoutError:
            continue
    return got


def _reload(agents) -> None:
    res = subprocess.run([sys.executable, "-m", "odm", "router", "reload", "--socket",
                          str(agents.workdir / "ar1.sock")], capture_output=True,
                         text=True, timeout=20, check=False)
    assert res.returncode == 0, (res.stdout, res.stderr)


def test_the_access_router_forwards_only_sources_of_its_link(lab, tmp_path):
    from pyroute2 import NetNS
    settings = AgentSettings(offered=(MT.NON_PERSISTENT,), boot_types=(MT.NON_PERSISTENT,),
                             dataplane=None)
    agents = LabAgents(lab, tmp_path, settings)
    cn = lab.config.cn_address
    rx = call_in_netns_thread(lab.netns("cn"), lambda: socket.socket(socket.AF_INET6,
                                                                     socket.SOCK_DGRAM))
    try:
        rx.bind(("::", PORT))
        agents.start_all()
        np = wait_for(lambda: agents.host_addresses(MT.NON_PERSISTENT), 15,
                      "the boot NP address")[0]["address"]
        rules = _rules(lab)
        assert any(r[0] == 32001 and r[2] == 6 for r in rules), rules  # iif ... blackhole
        with NetNS(lab.netns(HOST)) as n:
            idx = n.link_lookup(ifname=HOST_IF)[0]
            n.addr("add", index=idx, address=str(FOREIGN), prefixlen=128, flags=0x02)
        call_in_netns_thread(lab.netns(HOST), _send_from, IPv6Address(np), cn, b"np")
        call_in_netns_thread(lab.netns(HOST), _send_from, FOREIGN, cn, b"foreign")
        assert _received(rx, 1.0) == {b"np"}
        log = agents.log_path("ar1").read_text()
        assert "source address validation on" in log, log[-2000:]

        # renumbered: the new PIO allowed at once, the withdrawn one still (its
        # hosts may keep their addresses up to two hours, RFC 4862 §5.5.3 e)
        cfg = agents.workdir / "ar1.toml"
        text = cfg.read_text()
        old_pio = tomllib.loads(text)["interface"][0]["ra"]["prefix"][0]["prefix"]
        new_pio = "2001:db8:a9::/64"
        cfg.write_text(text.replace(f'"{old_pio}"', f'"{new_pio}"'))
        _reload(agents)
        allowed = {f"{r[3]}/{r[4]}" for r in _rules(lab) if r[0] == 32000}
        assert {old_pio, new_pio} <= allowed, allowed
        cfg.write_text(text)
        _reload(agents)

        # turned off in the file and reloaded: the link forwards every source
        name_line = f'name = "{ACCESS_IF}"\n'
        assert name_line in text
        cfg.write_text(text.replace(name_line,
                                    name_line + "source_address_validation = false\n", 1))
        _reload(agents)
        assert _rules(lab) == []
        call_in_netns_thread(lab.netns(HOST), _send_from, FOREIGN, cn, b"foreign")
        assert _received(rx, 1.0) == {b"foreign"}
    finally:
        rx.close()
        agents.stop_all()
    assert _rules(lab) == []  # the router's stop took its filter away


def test_a_start_removes_what_a_run_that_did_not_stop_left(lab, tmp_path):
    """Routes and rules of a killed run (a route of a binding it no longer
    holds, a moved prefix's rule, a validation rule of an interface now
    without) are gone once the router has started again; the rest it makes
    anew."""
    from pyroute2 import NetNS

    from router.dataplane.common import RTPROT_ODM, RULE_PRIORITY
    left = "2001:db8:dead::"
    with NetNS(lab.netns("ar1")) as n:
        n.route("add", dst=f"{left}/56", type="unreachable", proto=RTPROT_ODM)
        n.rule("add", family=10, src=left, src_len=56, table=1000, priority=RULE_PRIORITY)
    agents = LabAgents(lab, tmp_path, AgentSettings(offered=(MT.NON_PERSISTENT,),
                                                    boot_types=(), dataplane=None))
    try:
        agents.start_router("ar1")
        wait_for((agents.workdir / "ar1.sock").exists, 15, "ar1's control socket")
        wait_for(lambda: "removed 2 routes, rules and tunnels a previous run left"
                 in agents.log_path("ar1").read_text(), 10, "ar1's start-up clean-up")
        with NetNS(lab.netns("ar1")) as n:
            assert not [r for r in n.get_routes(family=10) if r["proto"] == RTPROT_ODM]
            assert not [r for r in n.get_rules(family=10)
                        if r.get_attr("FRA_PRIORITY") == RULE_PRIORITY]
        assert _rules(lab)  # its own validation rules, made after the clean-up
    finally:
        agents.stop_all()
