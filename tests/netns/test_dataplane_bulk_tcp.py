"""Each data-plane backend keeps an anchored prefix routed after the host moves,
with full-size packets (router/dataplane, RFC 8653 §3.2 for SESSION_LASTING).

No agents here: the backends are driven by hand the way
:class:`router.dataplane.moves.Mobility` drives them, and the host gets the MTU
the router agent would advertise (:func:`router.dataplane.fitting_mtu`). A real
TCP connection from mh (bound to an address of ar1's pool) to cn moves 1 MiB
each way with full-size segments, and keeps going without reset across a move
to ar2 and back. The core capture shows the backend's encapsulation, and
:func:`router.dataplane.common.flush` leaves nothing behind. Runs once per
backend this kernel supports; the others are skipped naming the kernel option.
"""

from __future__ import annotations

import contextlib
import struct
import subprocess
import sys
import textwrap
import time
from ipaddress import IPv6Address

import pytest
from dataplanes import dataplane_params

from router.dataplane import Peer, backend_class, common, fitting_mtu

pytestmark = pytest.mark.netns

PREFIX = "2001:db8:1000:100::/56"
HOST_ADDR = "2001:db8:1000:100::10"
SIDS = {"ar1": "2001:db8:5e6:1::1", "ar2": "2001:db8:5e6:2::1"}
SID_NETS = {"ar1": "2001:db8:5e6:1::/64", "ar2": "2001:db8:5e6:2::/64"}
TOTAL = 1 << 20

SERVER = textwrap.dedent("""
    import socket
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", 7000)); s.listen(1)
    print("listening", flush=True)
    c, _ = s.accept()
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
""")

# Sends TOTAL pseudo-random octets from a thread, reads the echo back and
# checks it; prints progress every 64 KiB and "done N" at the end.
CLIENT = textwrap.dedent("""
    import random, socket, sys, threading, time
    total = int(sys.argv[3])
    data = random.Random(7).randbytes(total)
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.bind((sys.argv[1], 0))
    for _ in range(100):
        try:
            s.connect((sys.argv[2], 7000)); break
        except ConnectionRefusedError:
            time.sleep(0.05)
    s.settimeout(20)
    def send():  # paced (about 1.3 s in all) so that the moves fall inside it
        for i in range(0, total, 8192):
            s.sendall(data[i:i + 8192])
            time.sleep(0.01)
    threading.Thread(target=send, daemon=True).start()
    got = bytearray()
    mark = 0
    while len(got) < total:
        d = s.recv(65536)
        if not d:
            print("closed", len(got), flush=True); sys.exit(1)
        got += d
        if len(got) - mark >= 65536:
            mark = len(got); print("got", mark, flush=True)
    print("done" if bytes(got) == data else "corrupt", len(got), flush=True)
""")


def _link_local(ipr, ifname):
    idx = ipr.link_lookup(ifname=ifname)[0]
    for a in ipr.get_addr(family=10, index=idx):
        addr = a.get_attr("IFA_ADDRESS")
        if IPv6Address(addr).is_link_local:
            return addr
    raise AssertionError(f"no link-local on {ifname}")


class Routers:
    """One backend per router, and the moves of the prefix between them."""

    def __init__(self, lab, name: str, stack: contextlib.ExitStack) -> None:
        self.lab = lab
        self.cls = backend_class(name)
        self.ipr = {r: stack.enter_context(lab.iproute(r)) for r in ("ar1", "ar2")}
        self.peer = {}
        self.be = {}
        for _i, r in enumerate(("ar1", "ar2")):
            self.peer[r] = Peer(0, r, lab.router(r).core_address, IPv6Address(SIDS[r]),
                                common.net(SID_NETS[r]))
        for r in ("ar1", "ar2"):
            other = "ar2" if r == "ar1" else "ar1"
            ipr = self.ipr[r]
            self.be[r] = self.cls(
                ipr, router_id=r, core_oif=ipr.link_lookup(ifname="core")[0],
                core_address=lab.router(r).core_address, peers=(self.peer[other],),
                sid=IPv6Address(SIDS[r]), core_mtu=1500,
                write_sysctl=lambda k, v, r=r: lab.sysctls(r, {k.replace("/", "."): v}))
            self.be[r].setup()

    def attach(self, router: str, anchor: str, host_ll: str) -> None:
        """The host is at ``router``; the prefix is anchored at ``anchor``."""
        other = "ar2" if router == "ar1" else "ar1"
        ipr = self.ipr[router]
        common.route_to_host(ipr, PREFIX, host_ll, ipr.link_lookup(ifname="acc")[0])
        if router != anchor:
            self.be[router].uplink(common.net(PREFIX), self.peer[anchor])
            self.be[anchor].forward(common.net(PREFIX), self.peer[router])
        else:
            self.be[other].remove_uplink(common.net(PREFIX), self.peer[anchor])
        with self.lab.iproute("mh") as mh:
            gw = self.lab.router(router).access_link_local
            mh.route("replace", dst="::/0", gateway=str(gw), oif=mh.link_lookup(ifname="mh0")[0])


def _core_packets(path):
    """(IPv6 packet length, encapsulation seen) of each IPv6 frame on the core."""
    from scapy.utils import RawPcapReader

    out = []
    for frame, _ in RawPcapReader(str(path)):
        if len(frame) < 54 or frame[12:14] != b"\x86\xdd":
            continue
        plen, nh = struct.unpack("!HB", frame[18:21])
        kind = "plain"
        if nh == 41:
            kind = "ip6ip6"
        elif nh == 43 and frame[56] == 4:  # Routing header, type 4: SRH (RFC 8754)
            kind = "srv6"
        elif nh == 17 and struct.unpack("!H", frame[56:58])[0] == 4789:
            kind = "vxlan"
        out.append((plen + 40, kind))
    return out


@pytest.mark.parametrize("dataplane", dataplane_params())
def test_bulk_tcp_keeps_going_across_moves_with_full_size_segments(dataplane, lab, tmp_path):
    with contextlib.ExitStack() as stack:
        routers = Routers(lab, dataplane, stack)
        with lab.iproute("mh") as ipr:
            mh0 = ipr.link_lookup(ifname="mh0")[0]
            host_ll = _link_local(ipr, "mh0")
            # the MTU the router agent advertises in its RAs for this backend
            ipr.link("set", index=mh0, mtu=fitting_mtu(1500, 1500, routers.cls))
            ipr.addr("add", index=mh0, address=HOST_ADDR, prefixlen=128, flags=0x02)  # NODAD
        routers.attach("ar1", "ar1", host_ll)

        server = lab.spawn("cn", [sys.executable, "-c", SERVER], tmp_path / "server.log")
        cap = lab.capture("core", "cn", tmp_path / "core.pcap")
        log = tmp_path / "client.log"
        client = lab.spawn("mh", [sys.executable, "-c", CLIENT, HOST_ADDR,
                                  str(lab.config.cn_address), str(TOTAL)], log,
                           stdin=subprocess.DEVNULL)

        def progress() -> int:
            lines = [ln.split() for ln in log.read_text().splitlines() if ln.strip()]
            return max((int(p[1]) for p in lines if p[0] == "got"), default=0)

        def wait(pred, what, timeout=20.0):
            end = time.monotonic() + timeout
            while not pred():
                assert client.poll() is None or pred(), f"{what}: {log.read_text()}"
                assert time.monotonic() < end, f"timed out: {what}: {log.read_text()}"
                time.sleep(0.02)

        try:
            wait(lambda: progress() >= TOTAL // 4, "a quarter echoed at ar1")
            lab.move("mh", "ar2")
            routers.attach("ar2", "ar1", host_ll)
            at_move = progress()
            wait(lambda: progress() >= at_move + 3 * 65536, "bytes again at ar2")
            lab.move("mh", "ar1")
            routers.attach("ar1", "ar1", host_ll)
            wait(lambda: "done" in log.read_text() or "corrupt" in log.read_text()
                 or "closed" in log.read_text(), "the transfer to end", 30.0)
            assert log.read_text().splitlines()[-1] == f"done {TOTAL}", log.read_text()
        finally:
            lab.stop(client)
            lab.stop(server)
            lab.stop(cap)

        pkts = _core_packets(tmp_path / "core.pcap")
        kinds = {k for _, k in pkts}
        if dataplane == "routed":
            assert kinds == {"plain"}, kinds
        else:
            assert dataplane in kinds, kinds
        # full-size packets crossed the core: the tunnel's overhead was left room
        # for (a 1500-octet packet on the core), and none was bigger
        assert max(n for n, _ in pkts) == 1500
        for r in ("ar1", "ar2"):
            routers.be[r].teardown()
            assert common.flush(routers.ipr[r]) >= 1
            ipr = routers.ipr[r]
            assert not [x for x in ipr.get_routes(family=10) if x["proto"] == common.RTPROT_ODM]
            assert not [x for x in ipr.get_rules(family=10)
                        if x.get_attr("FRA_PRIORITY") == common.RULE_PRIORITY]
            assert not [n for n in (x.get_attr("IFLA_IFNAME") for x in ipr.get_links())
                        if n.startswith(common.LINK_PREFIXES)]
