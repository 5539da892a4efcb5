"""Issue 13 point 12: with ``trusted_routers`` set, a rogue router's RA makes
no route in the host's kernel. The agent turns accept_ra off on its
interface (a real host starts with accept_ra = 1) and installs the default
route of the trusted router itself; a route the kernel learned from a rogue
RA before the agent started is removed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
from probe_netns import netns_ok, veth_pair

pytestmark = [pytest.mark.netns]

ROOT = Path(__file__).resolve().parents[2]
ROGUE = "fe80::bad"

HOST_TOML = """\
[host]
iface = "{iface}"
api_socket = "{tmp}/host.sock"
state_file = "{tmp}/state.json"
timer_profile = "lab"
timer_scale = 0.05
first_solicit_delay = false
secret = "0011223344556677"
secret_file = "{tmp}/secret"
trusted_routers = ["{trusted}"]
"""


def _ra(lifetime: int = 600) -> bytes:
    from ipaddress import IPv6Address

    from odm_wire.nd import PrefixInformation, RouterAdvertisement, encode_nd
    pio = PrefixInformation(64, IPv6Address("2001:db8:1::"), 3600, 1800, True, True, False,
                            False, 0)
    return encode_nd(RouterAdvertisement(64, False, False, lifetime, 0, 0, (pio,)))


def _send_ra(ns: str, ifname: str, src: str) -> None:
    from lab.nsutil import call_in_netns_thread

    def send():
        idx = socket.if_nametoindex(ifname)
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        try:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            s.bind((src, 0, 0, idx))
            s.sendto(_ra(), ("ff02::1", 0, 0, idx))
        finally:
            s.close()
    call_in_netns_thread(ns, send)


def _default_routes(ns: str) -> dict[str, int]:
    """{gateway: proto} of the host's IPv6 default routes."""
    from pyroute2 import NetNS
    with NetNS(ns) as n:
        return {r.get_attr("RTA_GATEWAY"): r["proto"]
                for r in n.get_routes(family=socket.AF_INET6)
                if r["dst_len"] == 0 and r.get_attr("RTA_GATEWAY")}


def _wait(pred, what: str, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_host_agent(ns: str, tmp: Path) -> subprocess.Popen:
    """``odm -v host run --config tmp/host.toml`` in namespace ``ns``, its
    output in ``tmp/host.log``."""
    from lab.nsutil import enter_netns_fd, open_netns
    fd = open_netns(ns)
    log = open(tmp / "host.log", "wb")  # noqa: SIM115
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "odm", "-v", "host", "run", "--config",
             str(tmp / "host.toml")], cwd=str(ROOT),
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=lambda: enter_netns_fd(fd), pass_fds=(fd,))  # noqa: PLW1509
    finally:
        os.close(fd)
        log.close()


def router_link_local(pair, skip: str | None = None) -> tuple[int, str]:
    """(ifindex, link-local address) of the pair's server side, not ``skip``."""
    from pyroute2 import NetNS
    with NetNS(pair.srv_ns) as n:
        idx = n.link_lookup(ifname=pair.srv_if)[0]
        return idx, next(a.get_attr("IFA_ADDRESS") for a in n.get_addr(
            family=socket.AF_INET6, index=idx)
            if a.get_attr("IFA_ADDRESS").startswith("fe80")
            and a.get_attr("IFA_ADDRESS") != skip)


def test_a_rogue_ra_makes_no_kernel_route_when_trusted_routers_is_set(tmp_path):
    ok, why = netns_ok()
    if not ok:
        pytest.skip(why)
    from pyroute2 import NetNS

    from lab.nsutil import ns_sysctls, run_in_netns
    with veth_pair() as pair:
        idx, _ = router_link_local(pair)
        with NetNS(pair.srv_ns) as n:
            n.addr("add", index=idx, address=ROGUE, prefixlen=64, flags=0x02)
        _, trusted = router_link_local(pair, skip=ROGUE)
        # a host as it comes: the kernel takes default routes from RAs
        run_in_netns(pair.cli_ns, ns_sysctls, {f"net.ipv6.conf.{pair.cli_if}.accept_ra": 1})
        _send_ra(pair.srv_ns, pair.srv_if, ROGUE)
        _wait(lambda: ROGUE in _default_routes(pair.cli_ns), "the kernel's route via the "
              "rogue router before the agent starts")

        (tmp_path / "host.toml").write_text(HOST_TOML.format(
            iface=pair.cli_if, tmp=tmp_path, trusted=trusted))
        p = start_host_agent(pair.cli_ns, tmp_path)
        try:
            _wait((tmp_path / "host.sock").exists, "the host agent's API socket")
            _wait(lambda: ROGUE not in _default_routes(pair.cli_ns),
                  "the rogue router's route removed at start")
            for _ in range(3):
                _send_ra(pair.srv_ns, pair.srv_if, ROGUE)
                _send_ra(pair.srv_ns, pair.srv_if, trusted)
            routes = _wait(lambda: (r := _default_routes(pair.cli_ns)) and trusted in r and r,
                           "the trusted router's default route")
            assert ROGUE not in routes, routes
            assert run_in_netns(pair.cli_ns, ns_sysctls,
                                {f"net.ipv6.conf.{pair.cli_if}.accept_ra": None}) == {
                f"net.ipv6.conf.{pair.cli_if}.accept_ra": "0"}
            text = (tmp_path / "host.log").read_text()
            assert "routes learned from RAs of untrusted routers removed" in text, text
        finally:
            p.terminate()
            p.wait(10)
