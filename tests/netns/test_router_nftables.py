"""router.dataplane.redirects: the router agent's namespace sends no ICMPv6 Redirect out
of the core link, and nothing else is filtered (a real kernel, a throw-away
namespace, raw ICMPv6 sockets)."""

from __future__ import annotations

import secrets

import pytest
from pyroute2 import netns

from lab.nsutil import run_in_netns

pytestmark = [pytest.mark.netns]


def _probe() -> dict:
    import socket
    import time

    from pyroute2 import IPRoute

    from router.dataplane import redirects

    with open("/proc/sys/net/ipv6/conf/default/accept_dad", "w") as fh:
        fh.write("0")
    ipr = IPRoute()
    ipr.link("add", ifname="core", kind="veth", peer="corep")
    ipr.link("add", ifname="acc", kind="veth", peer="accp")
    for name in ("core", "corep", "acc", "accp"):
        ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
    core, acc = ipr.link_lookup(ifname="core")[0], ipr.link_lookup(ifname="acc")[0]
    time.sleep(0.3)
    redirects.install(core)
    redirects.install(core)  # idempotent: replaced, not doubled
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)

    def send(icmp_type: int, ifindex: int) -> str:
        try:
            s.sendto(bytes((icmp_type, 0, 0, 0)) + bytes(36), ("ff02::1", 0, 0, ifindex))
            return "sent"
        except PermissionError:
            return "dropped"

    out = {"redirect-core": send(137, core), "echo-core": send(128, core),
           "redirect-acc": send(137, acc), "ra-core": send(134, core)}
    redirects.remove()
    out["redirect-core-after-remove"] = send(137, core)
    return out


def test_redirects_out_of_the_core_link_are_dropped_and_nothing_else():
    name = "odmtest-nft-" + secrets.token_hex(3)
    netns.create(name)
    try:
        got = run_in_netns(name, _probe)
    finally:
        netns.remove(name)
    assert got == {"redirect-core": "dropped", "echo-core": "sent", "redirect-acc": "sent",
                   "ra-core": "sent", "redirect-core-after-remove": "sent"}
