"""ISC ``dhcrelay -6`` between a real DHCPv6-PD client (WIDE dhcp6c) and the
odm router agent (issue 14, points 1 and 2).

Three ways a relay reaches a server (RFC 8415 §7.1, §19.1.1):

- ``ff05``: ``-u IFACE`` with no server address, dhcrelay's default: it sends
  to All_DHCP_Servers ff05::1:3, which the router joins (it joined only
  ff02::1:2 before: the client behind the relay got nothing).
- ``ff02``: ``-u ff02::1:2%IFACE``, All_DHCP_Relay_Agents_and_Servers; the
  relay's upstream interface has only its link-local address, so its
  Relay-forw comes from fe80:: and the route goes to that address.
- ``routed``: the relay is one routed hop away (rtr — mid — rel — cli),
  forwarding by unicast to the router's global address (``-u ADDR%IFACE``);
  the delegated prefix is routed via ``mid``, the gateway of the route
  towards the relay (RFC 8415 §19.1.2, §6.3; the kernel refuses the relay's
  own, off-link address as a gateway).

In each the client gets a prefix from the router's legacy pool, renews it
through the relay (same prefix) and releases it on SIGTERM (route and binding
gone); captures on the router's link and the client's link are tshark-clean
and ``odm pcap check``-clean.
"""

from __future__ import annotations

import signal
import subprocess

import pytest
from chain import chain
from peercheck import clean, needs
from router_pair import netns_ok, private_mounts, wait_until

_ok, _why = netns_ok()
pytestmark = [pytest.mark.interop, pytest.mark.netns,
              pytest.mark.skipif(not _ok, reason=_why),
              needs("dhcrelay", package="isc-dhcp-relay"),
              needs("dhcp6c", package="wide-dhcpv6-client"),
              needs("tshark", package="tshark")]

RTR_GLOBAL = "2001:db8:a::1"


def _counters(p) -> dict:
    return p.status()["interfaces"][0]["counters"]


def _bindings(p) -> list[dict]:
    return p.status()["interfaces"][0]["bindings"]


@pytest.mark.parametrize("mode", ["ff05", "ff02", "routed"])
def test_dhcp6c_behind_dhcrelay_gets_renews_and_releases_a_routed_prefix(tmp_path, mode):
    names = ["rtr", "mid", "rel", "cli"] if mode == "routed" else ["rtr", "rel", "cli"]
    with chain(tmp_path, names) as c:
        p = c.pair
        c.addr("rtr", c.down["rtr"], RTR_GLOBAL)
        c.addr("rel", c.down["rel"], "2001:db8:c::1")  # dhcrelay's link-address
        if mode == "ff05":
            c.addr("rel", c.up["rel"], "2001:db8:a::2")
            upper, relay_src = c.up["rel"], "2001:db8:a::2"
            gateway = "2001:db8:a::2"
        elif mode == "ff02":
            upper = f"ff02::1:2%{c.up['rel']}"
            relay_src = gateway = p.link_local(c.ns["rel"], c.up["rel"])
        else:
            c.addr("mid", c.up["mid"], "2001:db8:a::2")
            c.addr("mid", c.down["mid"], "2001:db8:b::1")
            c.addr("rel", c.up["rel"], "2001:db8:b::2")
            c.route("rel", "::/0", "2001:db8:b::1", c.up["rel"])
            gateway = p.link_local(c.ns["mid"], c.up["mid"])
            c.route("rtr", "2001:db8:b::/64", gateway, c.down["rtr"])
            upper, relay_src = f"{RTR_GLOBAL}%{c.up['rel']}", "2001:db8:b::2"
        caps = {"rtr": tmp_path / f"dhcrelay-{mode}-server-side.pcap",
                "cli": tmp_path / f"dhcrelay-{mode}-client-side.pcap"}
        cap_r = p.capture(c.ns["rtr"], c.down["rtr"], caps["rtr"], "udp port 547")
        cap_c = p.capture(c.ns["rel"], c.down["rel"], caps["cli"], "udp port 546 or udp port 547")
        # dhcp6c raises a T2 under 30 s to 30 (and T1 with it): keep T2 at 30
        p.start_router(p.config(pref=40, valid=60, t1=3, t2=30))
        rlog = tmp_path / "dhcrelay.log"
        p.spawn(c.ns["rel"], ["dhcrelay", "-6", "-d", "--no-pid", "-l", c.down["rel"],
                              "-u", upper], rlog)
        wait_until(lambda: "Sending on" in rlog.read_text(errors="replace"), 10,
                   what="dhcrelay listening")
        d = tmp_path / "dhcp6c"
        d.mkdir()
        conf = d / "dhcp6c.conf"
        conf.write_text(f'interface {p.cli_if} {{\n  send ia-pd 0;\n  script "/bin/true";\n'
                        "};\nid-assoc pd 0 {\n};\n")
        cl = p.spawn(p.cli_ns, private_mounts(
            {"/var/lib/dhcpv6": d}, ["dhcp6c", "-f", "-D", "-c", str(conf),
                                     "-p", str(d / "pid"), p.cli_if]), d / "dhcp6c.log")
        (b,) = wait_until(lambda: _bindings(p), 15, what="a binding")
        assert b["client-ll"] == relay_src  # the relay's address (peer of the route)
        assert b["mobility-type"] == "legacy"
        wait_until(lambda: p.odm_routes() == {b["prefix"]: gateway}, 5,
                   what=f"route of {b['prefix']} via {gateway}")
        wait_until(lambda: _counters(p)["pkt6-renew-received"] >= 1, 10, what="a Renew")
        (b2,) = _bindings(p)
        assert (b2["prefix"], b2["duid"]) == (b["prefix"], b["duid"])
        assert p.stop(cl, signal.SIGTERM) == 0  # dhcp6c releases on SIGTERM
        wait_until(lambda: _counters(p)["pkt6-release-received"] >= 1, 10, what="a Release")
        wait_until(lambda: not _bindings(p) and p.odm_routes() == {}, 5,
                   what="binding and route gone")
        cnt = _counters(p)
        assert cnt["pkt6-receive-drop"] == 0 and cnt["pkt6-parse-failed"] == 0
        assert cnt["internal-errors"] == 0
        assert cnt["pkt6-relay-forw-received"] == cnt["pkt6-received"] >= 4
        assert cnt["pkt6-reply-sent"] >= 3  # Request, Renew, Release
        assert "status code: success" in (d / "dhcp6c.log").read_text(errors="replace")
        relayed = rlog.read_text(errors="replace")
        for what in ("Solicit", "Request", "Renew", "Release"):
            assert f"Relaying {what} from" in relayed, what
        p.stop(cap_r, signal.SIGINT)
        p.stop(cap_c, signal.SIGINT)
        dsts = set(subprocess.run(
            ["tshark", "-r", str(caps["rtr"]), "-Y", "dhcpv6.msgtype == 12", "-T", "fields",
             "-e", "ipv6.dst"], capture_output=True, text=True, check=False).stdout.split())
        assert dsts == {{"ff05": "ff05::1:3", "ff02": "ff02::1:2",
                         "routed": RTR_GLOBAL}[mode]}
        for path in caps.values():
            clean(path, path.name, min_dhcp6=8)
