"""What the kernel keeps of a link that the agent must not leave behind.

- A host as it comes: the kernel has formed a SLAAC address from the link's
  RA before the agent starts. The agent turns autoconf off and removes that
  address (it forms the link's addresses itself, typed); an operator's static
  address and a DHCPv6 client's /128 stay. At stop autoconf is back on.
- The on-link prefix routes the kernel makes from the RAs' PIOs (L flag) go
  when the agent forgets every router of the link (carrier lost: a move); the
  route of an operator's static address stays."""

from __future__ import annotations

import socket
import sys
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
from probe_netns import netns_ok, veth_pair

from tests.netns.test_host_trusted_routers import (
    _send_ra,
    _wait,
    router_link_local,
    start_host_agent,
)

pytestmark = [pytest.mark.netns]

PIO = IPv6Network("2001:db8:1::/64")  # the prefix of test_host_trusted_routers' RA
STATIC = IPv6Address("2001:db8:99::1")
IA_NA = IPv6Address("2001:db8:98::5")

HOST_TOML = """\
[host]
iface = "{iface}"
api_socket = "{tmp}/host.sock"
timer_profile = "lab"
timer_scale = 0.05
first_solicit_delay = false
secret = "0011223344556677"
secret_file = "{tmp}/secret"
"""


def _onlink_routes(ns: str) -> set[IPv6Network]:
    """The main table's routes without a gateway, other than link-local."""
    from pyroute2 import NetNS
    with NetNS(ns) as n:
        return {IPv6Network(f"{r.get_attr('RTA_DST')}/{r['dst_len']}")
                for r in n.get_routes(family=socket.AF_INET6, table=254)
                if r.get_attr("RTA_DST") and r.get_attr("RTA_GATEWAY") is None
                and not r.get_attr("RTA_DST").startswith("fe80")}


def _addresses(ns: str, ifname: str) -> dict[IPv6Address, int]:
    """{address: IFA_PROTO or -1} of the interface's global IPv6 addresses."""
    from pyroute2 import NetNS
    with NetNS(ns) as n:
        idx = n.link_lookup(ifname=ifname)[0]
        out = {}
        for a in n.get_addr(family=socket.AF_INET6, index=idx):
            addr = IPv6Address(a.get_attr("IFA_ADDRESS"))
            if not addr.is_link_local:
                proto = a.get_attr("IFA_PROTO")
                out[addr] = -1 if proto is None else proto
        return out


def test_kernel_slaac_addresses_and_onlink_routes_of_a_left_link_are_removed(tmp_path):
    ok, why = netns_ok()
    if not ok:
        pytest.skip(why)
    from pyroute2 import NetNS

    from lab.nsutil import ns_sysctls, run_in_netns
    with veth_pair() as pair:
        idx, router = router_link_local(pair)
        autoconf = f"net.ipv6.conf.{pair.cli_if}.autoconf"
        run_in_netns(pair.cli_ns, ns_sysctls, {f"net.ipv6.conf.{pair.cli_if}.accept_ra": 1,
                                               autoconf: 1})
        with NetNS(pair.cli_ns) as n:
            cidx = n.link_lookup(ifname=pair.cli_if)[0]
            n.addr("add", index=cidx, address=str(STATIC), prefixlen=64, flags=0x02)
            n.addr("add", index=cidx, address=str(IA_NA), prefixlen=128, flags=0x02,
                   IFA_CACHEINFO={"ifa_preferred": 1800, "ifa_valid": 3600,
                                  "cstamp": 0, "tstamp": 0})
        _send_ra(pair.srv_ns, pair.srv_if, router)
        slaac = _wait(lambda: [a for a in _addresses(pair.cli_ns, pair.cli_if) if a in PIO],
                      "the kernel's SLAAC address from the RA's PIO")

        (tmp_path / "host.toml").write_text(HOST_TOML.format(iface=pair.cli_if, tmp=tmp_path))
        p = start_host_agent(pair.cli_ns, tmp_path)
        try:
            _wait((tmp_path / "host.sock").exists, "the host agent's API socket")
            now = _addresses(pair.cli_ns, pair.cli_if)
            assert not set(slaac) & set(now), now
            assert STATIC in now and IA_NA in now, now
            text = (tmp_path / "host.log").read_text()
            assert "kernel SLAAC addresses on" in text and str(slaac[0]) in text, text

            # the link's PIO makes its on-link route again (the kernel's, with
            # the PIO's lifetime); carrier lost, the agent forgets the router
            _send_ra(pair.srv_ns, pair.srv_if, router)
            _wait(lambda: PIO in _onlink_routes(pair.cli_ns), "the PIO's on-link route")
            with NetNS(pair.srv_ns) as n:
                n.link("set", index=idx, state="down")
            _wait(lambda: PIO not in _onlink_routes(pair.cli_ns),
                  "the on-link route of the forgotten link's PIO removed")
            assert IPv6Network(f"{STATIC}/64", strict=False) in _onlink_routes(pair.cli_ns)
            text = (tmp_path / "host.log").read_text()
            assert f"on-link routes of its prefixes removed: {PIO}" in text, text
        finally:
            p.terminate()
            p.wait(10)
        assert run_in_netns(pair.cli_ns, ns_sysctls, {autoconf: None}) == {autoconf: "1"}
