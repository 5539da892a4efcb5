"""The data plane of a move on real agents (router/dataplane, DESIGN §2), once
per backend this kernel runs: an on-demand SESSION_LASTING prefix is forwarded
by its anchor to the serving router and sent back upstream (a ``from`` rule at
the serving router; none with ``routed``) while a socket holds it, and all of
it is torn down when the last socket closes (the host releases, RFC 8653
§3.2). Nothing is left after ``down`` or a clean shutdown."""

from __future__ import annotations

import sqlite3
import time
from ipaddress import IPv6Address, IPv6Network

import pytest
from dataplanes import dataplane_params

from lab import Lab, LabConfig
from lab.agents import ACCESS_IF, AgentSettings, LabAgents, wait_for
from odm_wire.constants import MobilityType as MT
from router.dataplane import savi
from router.dataplane.common import LINK_PREFIXES, RTPROT_ODM, RULE_PRIORITY

pytestmark = [pytest.mark.netns]


def odm_routes(lab: Lab, node: str) -> dict[IPv6Network, dict]:
    """odm's routes in ``node``'s main table (proto RTPROT_ODM), by
    destination: whether each leaves towards another router (not the access
    link ``acc``: an SRv6 encap, a tunnel device, or a core next hop), its
    gateway."""
    out = {}
    with lab.iproute(node) as ipr:
        acc = ipr.link_lookup(ifname="acc")[0]
        for r in ipr.get_routes(family=10, table=254):
            if r["proto"] != RTPROT_ODM:
                continue
            dst = r.get_attr("RTA_DST") or "::"
            out[IPv6Network(f"{dst}/{r['dst_len']}")] = {
                "forwarded": r.get_attr("RTA_OIF") != acc,
                "gateway": r.get_attr("RTA_GATEWAY"),
            }
    return out


def odm_links(lab: Lab, node: str) -> list[str]:
    """The tunnel devices odm made in ``node``."""
    with lab.iproute(node) as ipr:
        return [n for n in (link.get_attr("IFLA_IFNAME") for link in ipr.get_links())
                if n.startswith(LINK_PREFIXES)]


def source_rules(lab: Lab, node: str) -> list[IPv6Network]:
    """The moved prefixes' source rules (odm's RULE_PRIORITY; the access
    link's source address validation rules are not these)."""
    with lab.iproute(node) as ipr:
        return [IPv6Network(f"{r.get_attr('FRA_SRC')}/{r['src_len']}")
                for r in ipr.get_rules(family=10) if r.get_attr("FRA_SRC")
                and r.get_attr("FRA_PRIORITY") == RULE_PRIORITY]


def savi_rules(lab: Lab, node: str) -> list:
    with lab.iproute(node) as ipr:
        return [r for r in ipr.get_rules(family=10)
                if r.get_attr("FRA_PRIORITY") in (savi.ALLOW_PRIORITY, savi.DROP_PRIORITY)]


@pytest.mark.parametrize("dataplane", dataplane_params())
def test_session_lasting_is_forwarded_while_held_and_torn_down_on_last_close(
        dataplane, lab_prefix, lab_state_dir, tmp_path):
    lab = Lab(LabConfig(prefix=lab_prefix, state_dir=lab_state_dir))
    lab.up()
    try:
        agents = LabAgents(lab, tmp_path, AgentSettings(boot_types=(), dataplane=dataplane))
        agents.start_all()
        assert agents.router_dataplane("ar1") == dataplane
        cn = str(lab.config.cn_address)
        server = agents.cn_app("server", ["server", "--port", "7000"])
        server.expect("listening", 10)
        app = agents.app("sl", ["client", "--type", "session-lasting", "--server", cn,
                                "--port", "7000", "--api", str(agents.host_socket)])
        ev = app.expect(("connected", "setsc-error", "connect-error"), 10)
        assert ev["event"] == "connected", ev
        prefix = IPv6Network(f"{ev['src']}/64", strict=False)

        # at ar1, before the move: routed to the host on the access link
        r1 = odm_routes(lab, "ar1")
        assert prefix in r1 and not r1[prefix]["forwarded"]

        lab.move("mh", "ar2")
        assert app.command("ping after-move", "echo", 10)["ok"]
        # anchor ar1 forwards to ar2; ar2 routes to the host and sends the
        # host's packets back to ar1 (routed: out natively), by a source rule
        # that also lets them past ar2's source address validation
        wait_for(lambda: odm_routes(lab, "ar1").get(prefix, {}).get("forwarded"), 5,
                 "the anchor's redirect")
        r2 = odm_routes(lab, "ar2")
        assert prefix in r2 and not r2[prefix]["forwarded"]
        assert prefix in source_rules(lab, "ar2")
        with lab.iproute("ar2") as ipr:  # from the host's access link only
            assert {r.get_attr("FRA_IIFNAME") for r in ipr.get_rules(family=10)
                    if r.get_attr("FRA_PRIORITY") == RULE_PRIORITY} == {ACCESS_IF}
        row = sqlite3.connect(agents.lease_db).execute(
            "SELECT anchor, served_by FROM bindings WHERE mobility_type = 2").fetchall()
        assert row == [("ar1", "ar2")]
        # the anchor's lease commands show the store (an operator found the
        # anchor still saying served-by ar1 after the move, from its memory)
        from router.io.control import command
        ans = command(agents.workdir / "ar1.sock", "lease6-get",
                      {"ip-address": str(prefix.network_address), "prefix-len": 64})
        assert ans["result"] == 0 and ans["arguments"]["served-by"] == "ar2", ans
        listed = command(agents.workdir / "ar1.sock", "lease6-get-all")["arguments"]["leases"]
        assert [m["served-by"] for m in listed if m["ip-address"] == str(
            prefix.network_address)] == ["ar2"], listed

        # the last socket closes: the host releases, both routers tear down
        app.stop()
        wait_for(lambda: prefix not in odm_routes(lab, "ar1"), 10, "the redirect to go")
        wait_for(lambda: prefix not in source_rules(lab, "ar2"), 10, "the source rule to go")
        wait_for(lambda: prefix not in odm_routes(lab, "ar2"), 10, "ar2's route to go")
        assert not any(IPv6Address(a["address"]) in prefix
                       for a in agents.host_addresses(None, usable=False))
        server.stop()
        agents.stop_all()
    finally:
        lab.down()
    st = lab.status()
    assert st["phase"] is None
    assert not any(n["exists"] for n in st["nodes"].values())


@pytest.mark.parametrize("dataplane", dataplane_params())
def test_clean_shutdown_leaves_no_odm_route_rule_or_device(dataplane, lab_prefix,
                                                           lab_state_dir, tmp_path):
    lab = Lab(LabConfig(prefix=lab_prefix, state_dir=lab_state_dir))
    lab.up()
    try:
        agents = LabAgents(lab, tmp_path, AgentSettings(dataplane=dataplane))
        agents.start_all()
        wait_for(lambda: agents.host_addresses(MT.SESSION_LASTING), 15, "boot prefixes")
        lab.move("mh", "ar2")
        wait_for(lambda: any(v["forwarded"] for v in odm_routes(lab, "ar1").values()), 10,
                 "a redirect at ar1")
        agents.stop_all()
        time.sleep(0.2)
        for r in ("ar1", "ar2"):
            assert odm_routes(lab, r) == {}, r
            assert source_rules(lab, r) == [], r
            assert savi_rules(lab, r) == [], r
            assert odm_links(lab, r) == [], r
    finally:
        lab.down()
