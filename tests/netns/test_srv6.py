"""The SRv6 data plane keeps an anchored prefix routed after the host moves.

No agents here: routes are set by hand with :mod:`router.srv6` the way the
router agents set them, and a real TCP connection from mh (bound to an address
of ar1's pool) to cn must keep exchanging bytes, without reset, across a move
to ar2 and back.
"""

from __future__ import annotations

import sys
import textwrap
import time
from ipaddress import IPv6Address

import pytest

from router import srv6

pytestmark = pytest.mark.netns

PREFIX = "2001:db8:1000:100::/56"
HOST_ADDR = "2001:db8:1000:100::10"
SIDS = {"ar1": "2001:db8:5e6:1::1", "ar2": "2001:db8:5e6:2::1"}
SID_NETS = {"ar1": "2001:db8:5e6:1::/64", "ar2": "2001:db8:5e6:2::/64"}

SERVER = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", 7000)); s.listen(1)
    print("listening", flush=True)
    c, _ = s.accept()
    while True:
        d = c.recv(4096)
        if not d:
            break
        c.sendall(d)
""")


def _link_local(lab, node, ifname):
    with lab.iproute(node) as ipr:
        idx = ipr.link_lookup(ifname=ifname)[0]
        for a in ipr.get_addr(family=10, index=idx):
            addr = a.get_attr("IFA_ADDRESS")
            if IPv6Address(addr).is_link_local:
                return addr
    raise AssertionError(f"no link-local on {node}/{ifname}")


def _setup_routers(lab):
    for name in ("ar1", "ar2"):
        lab.sysctls(name, {f"net.ipv6.conf.{k}.seg6_enabled": 1
                           for k in ("all", "default", "core", "acc")})
        other = "ar2" if name == "ar1" else "ar1"
        with lab.iproute(name) as ipr:
            core = ipr.link_lookup(ifname="core")[0]
            srv6.install_local_sid(ipr, SIDS[name], core)
            srv6.route_to_peer_sid(ipr, SID_NETS[other], lab.router(other).core_address, core)


def _attach(lab, router, anchor, host_ll):
    """What the serving router and the anchor do when the host shows up at ``router``."""
    other = "ar2" if router == "ar1" else "ar1"
    with lab.iproute(router) as ipr:
        acc = ipr.link_lookup(ifname="acc")[0]
        core = ipr.link_lookup(ifname="core")[0]
        srv6.route_to_host(ipr, PREFIX, host_ll, acc)
        if router != anchor:
            srv6.serving_uplink(ipr, PREFIX, SIDS[anchor], srv6.TABLE_BASE + 1, core)
        else:
            srv6.remove_serving_uplink(ipr, PREFIX, srv6.TABLE_BASE + 1)
    with lab.iproute(other) as ipr:
        core = ipr.link_lookup(ifname="core")[0]
        if other == anchor:
            srv6.anchor_redirect(ipr, PREFIX, SIDS[router], core)
        else:
            srv6.remove_prefix_route(ipr, PREFIX)
            srv6.remove_serving_uplink(ipr, PREFIX, srv6.TABLE_BASE + 1)
    with lab.iproute("mh") as ipr:
        mh0 = ipr.link_lookup(ifname="mh0")[0]
        gw = lab.router(router).access_link_local
        ipr.route("replace", dst="::/0", gateway=str(gw), oif=mh0)


def test_tcp_session_survives_move_over_srv6(lab, tmp_path):
    host_ll = _link_local(lab, "mh", "mh0")
    with lab.iproute("mh") as ipr:
        mh0 = ipr.link_lookup(ifname="mh0")[0]
        ipr.addr("add", index=mh0, address=HOST_ADDR, prefixlen=128, flags=0x02)  # NODAD
    _setup_routers(lab)
    _attach(lab, "ar1", "ar1", host_ll)

    server = lab.spawn("cn", [sys.executable, "-c", SERVER], tmp_path / "server.log")
    cap = lab.capture("core", "cn", tmp_path / "core.pcap")
    client_src = textwrap.dedent(f"""
        import socket, sys, time
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("{HOST_ADDR}", 0))
        for _ in range(50):
            try:
                s.connect(("{lab.config.cn_address}", 7000)); break
            except ConnectionRefusedError:
                time.sleep(0.05)
        s.settimeout(5)
        for line in sys.stdin:
            s.sendall(line.encode())
            print(s.recv(100).decode().strip(), flush=True)
    """)
    import subprocess

    client = lab.spawn("mh", [sys.executable, "-c", client_src], tmp_path / "client.log",
                       stdin=subprocess.PIPE)
    try:
        def roundtrip(word):
            client.stdin.write(f"{word}\n".encode())
            client.stdin.flush()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                text = (tmp_path / "client.log").read_text()
                if word in text:
                    return True
                time.sleep(0.02)
            return False

        assert roundtrip("before-move")
        lab.move("mh", "ar2")
        _attach(lab, "ar2", "ar1", host_ll)
        assert roundtrip("at-ar2"), (tmp_path / "client.log").read_text()
        lab.move("mh", "ar1")
        _attach(lab, "ar1", "ar1", host_ll)
        assert roundtrip("back-at-ar1")
        assert client.poll() is None, "the client's connection died"
    finally:
        lab.stop(client)
        lab.stop(server)
        lab.stop(cap)

    # The core capture holds SRv6-encapsulated packets (next header 43, routing
    # type 4) in both directions while the host was at ar2.
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrSegmentRouting
    from scapy.utils import rdpcap

    srh = [p for p in rdpcap(str(tmp_path / "core.pcap")) if p.haslayer(IPv6ExtHdrSegmentRouting)]
    dsts = {p[IPv6].dst for p in srh}
    assert SIDS["ar2"] in dsts and SIDS["ar1"] in dsts, dsts
    with lab.iproute("ar1") as ipr:
        removed = srv6.flush(ipr)
        assert removed >= 2
        assert not [r for r in ipr.get_routes(family=10) if r["proto"] == srv6.RTPROT_ODM]
