"""The router agent on real kernel sockets, in two namespaces joined by a veth
pair (tests/interop/router_pair.py): typed RAs, a PD exchange by odm's probe
code and hand-built Renew/Release, routes of delegated prefixes, restart,
SIGTERM, malformed input, and tshark on a capture of a whole session.

The agent runs as ``python -m odm router run`` with the scaled timer profile
(scale 0.01: RAs about every 3-4 s, lifetimes 40/60 s)."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest

from lab.nsutil import call_in_netns_thread as in_netns
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import MessageType, MobilityType, OptionCode
from odm_wire.constants import StatusCode as SC

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
from router_pair import router_pair, wait_until

pytestmark = [pytest.mark.netns]

ALL_ROUTERS = IPv6Address("ff02::2")
ALL_DHCP = IPv6Address("ff02::1:2")


class Client:
    """A DHCPv6 client and RS sender on the client end of the pair, built on
    odm's probe sockets (odm/probetools/link.py), messages built by hand."""

    def __init__(self, pair) -> None:
        from odm.probetools.link import Dhcp6ClientSocket, Icmp6Socket, interface_info

        def make():
            info = interface_info(pair.cli_if)
            return info, Dhcp6ClientSocket(info), Icmp6Socket(info, (134,))
        self.info, self.dhcp, self.icmp = in_netns(pair.cli_ns, make)
        self.duid = d6.DuidLL(1, self.info.mac)
        self.server: d6.Duid | None = None
        self.rng = random.Random(7)

    def close(self) -> None:
        self.dhcp.close()
        self.icmp.close()

    # -- ND ---------------------------------------------------------------
    def send_rs(self) -> None:
        self.icmp.send(nd.encode_nd(nd.RouterSolicitation(
            (nd.SourceLinkLayerAddress(self.info.mac),))), ALL_ROUTERS)

    def ras(self, timeout: float, until=None) -> list[tuple[nd.RouterAdvertisement, int]]:
        """RAs (decoded, with the hop limit they came with) for ``timeout``
        seconds, or until ``until(ra)`` is true."""
        out = []
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            got = self.icmp.recv(left)
            if got is None:
                break
            msg = nd.decode_nd(got[0])
            if isinstance(msg, nd.RouterAdvertisement):
                out.append((msg, got[2]))
                if until is not None and until(msg):
                    break
        return out

    # -- DHCPv6 -----------------------------------------------------------
    def exchange(self, msg, timeout: float = 3.0, tries: int = 3):
        """Send ``msg`` and return the decoded answer with the same
        transaction id (retransmitting up to ``tries`` times), or None."""
        raw = d6.encode_dhcp6(msg)
        for _ in range(tries):
            self.dhcp.send(raw)
            end = time.monotonic() + timeout / tries
            while (left := end - time.monotonic()) > 0:
                got = self.dhcp.recv(left)
                if got is None:
                    break
                ans = d6.decode_dhcp6(got[0])
                if ans.transaction_id == msg.transaction_id:
                    return ans
        return None

    def xid(self) -> int:
        return self.rng.randrange(1 << 24)

    def ids(self, server: bool = True) -> tuple:
        base = (d6.ClientId(self.duid), d6.ElapsedTime(0))
        return base + ((d6.ServerId(self.server),) if server and self.server else ())

    def acquire(self, iaid: int, mt: MobilityType | None = None) -> d6.IAPD:
        """Solicit/Advertise/Request/Reply for one IA_PD; the Reply's IA_PD."""
        from odm.probetools.pd import build_ia_pd
        oro = d6.OptionRequest((OptionCode.VENDOR_OPTS,))
        adv = self.exchange(d6.Solicit(self.xid(), self.ids(False) + (
            oro, build_ia_pd(iaid, mt, "::/56"))))
        assert adv is not None and adv.msg_type == MessageType.ADVERTISE, adv
        self.server = adv.server_duid
        (ia,) = adv.ia_pds
        rep = self.exchange(d6.Request(self.xid(), self.ids() + (oro, ia)))
        assert rep is not None and rep.msg_type == MessageType.REPLY, rep
        (ia,) = rep.ia_pds
        assert ia.prefixes and ia.status is None, ia
        return ia

    def renew(self, ia: d6.IAPD):
        return self.exchange(d6.Renew(self.xid(), self.ids() + (ia,)))

    def release(self, ia: d6.IAPD):
        return self.exchange(d6.Release(self.xid(), self.ids() + (ia,)))


@pytest.fixture
def pair(tmp_path):
    with router_pair(tmp_path) as p:
        yield p


@pytest.fixture
def client(pair):
    c = Client(pair)
    yield c
    c.close()


def net_of(ia: d6.IAPD) -> IPv6Network:
    (p,) = ia.prefixes
    return IPv6Network((p.prefix, p.prefix_length))


def test_ra_has_typed_pio_and_hop_limit_255(pair, client):
    pair.start_router(pair.config())
    client.send_rs()
    got = client.ras(3.0, until=lambda ra: bool(ra.prefixes))
    assert got, "no RA"
    ra, hop = got[-1]
    assert hop == 255
    assert ra.router_lifetime == 1800 and not ra.managed and not ra.other  # RFC 4861 §4.2
    (pio,) = ra.prefixes
    assert IPv6Network(pio.network) == IPv6Network("2001:db8:1::/64")
    assert pio.mobility_type == MobilityType.NON_PERSISTENT
    assert pio.on_link and pio.autonomous
    assert (pio.valid_lifetime, pio.preferred_lifetime) == (86400, 14400)
    assert ra.get(nd.SourceLinkLayerAddress).link_layer_address == bytes.fromhex(
        "020000000101")


def test_pd_route_follows_grant_renew_release(pair, client):
    from odm.probetools.link import now
    from odm.probetools.pd import pd_exchange

    pair.start_router(pair.config())
    # odm's own probe code: typed (fixed) and untyped IA_PDs in one exchange
    res = pd_exchange(client.dhcp, now, client_duid=client.duid,
                      types=[MobilityType.FIXED, None], timeout=3)
    assert res.outcome == "granted", res
    grants = {o.asked: o.grants[0] for o in res.ias}
    assert grants[MobilityType.FIXED].mobility_type == MobilityType.FIXED
    assert IPv6Network(grants[MobilityType.FIXED].prefix).subnet_of(
        IPv6Network("2001:db8:f000::/48"))
    assert grants[None].mobility_type is None
    ll = pair.link_local(pair.cli_ns, pair.cli_if)
    want = {g.prefix: ll for g in grants.values()}
    wait_until(lambda: pair.odm_routes() == want, 5, what=f"routes {want}")

    # hand-built exchange: acquire, Renew extends, Release removes the route
    ia = client.acquire(77, MobilityType.SESSION_LASTING)
    net = net_of(ia)
    assert net.subnet_of(IPv6Network("2001:db8:5000::/48"))
    wait_until(lambda: pair.odm_routes().get(str(net)) == ll, 5, what="route of the grant")
    rep = client.renew(ia)
    assert rep is not None and rep.msg_type == MessageType.REPLY
    (ria,) = rep.ia_pds
    assert net_of(ria) == net and ria.prefixes[0].valid_lifetime == 60
    assert 0 < ria.t1 <= ria.t2 <= ria.prefixes[0].preferred_lifetime
    rel = client.release(ia)
    assert rel is not None and rel.status is not None and rel.status.status_code == SC.SUCCESS
    wait_until(lambda: str(net) not in pair.odm_routes(), 5, what="route removed")
    assert set(pair.odm_routes()) == set(want)
    st = pair.status()
    (i,) = st["interfaces"]
    assert i["counters"]["pkt6-release-received"] == 1
    assert sum(p["assigned-pds"] for p in i["pools"]) == 2


def test_sigterm_final_ra_no_routes_and_restart_keeps_binding(pair, client):
    cfg = pair.config()
    proc = pair.start_router(cfg)
    ia = client.acquire(5)
    net = net_of(ia)
    ll = pair.link_local(pair.cli_ns, pair.cli_if)
    wait_until(lambda: pair.odm_routes() == {str(net): ll}, 5, what="route")
    server = client.server
    client.ras(0.2)  # drain RAs heard so far
    proc.send_signal(signal.SIGTERM)
    final = client.ras(5.0, until=lambda ra: ra.router_lifetime == 0)
    assert final and final[-1][0].router_lifetime == 0
    assert proc.wait(10) == 0
    assert pair.odm_routes() == {}
    pair.procs.remove(proc)

    # restart on the same lease store: same server DUID, the binding and its
    # route are back, and a Renew keeps the same prefix
    pair.start_router(cfg, log=pair.workdir / "router2.log")
    wait_until(lambda: pair.odm_routes() == {str(net): ll}, 5, what="route restored")
    rep = client.renew(ia)
    assert rep is not None and rep.server_duid == server
    (ria,) = rep.ia_pds
    assert net_of(ria) == net and ria.prefixes[0].valid_lifetime > 0
    # a new Solicit for the same IAID is offered the same prefix
    adv = client.exchange(d6.Solicit(client.xid(), client.ids(False) + (
        d6.IAPD(5, 0, 0, ()),)))
    assert adv is not None and net_of(adv.ia_pds[0]) == net


def test_malformed_datagrams_do_not_stop_the_agent(pair, client):
    pair.start_router(pair.config())
    junk = [b"", b"\x01", b"\x01\x00\x00\x01\x00\x01\x00\xff\x00",  # truncated option
            b"\x0c" + b"\xff" * 40,                                    # Relay-Forw garbage
            bytes(range(256)) * 4]
    for j in junk:
        client.dhcp.send(j)
    client.icmp.send(b"\x85\x01\x00\x00", ALL_ROUTERS)  # RS with code 1, too short
    ia = client.acquire(9)
    assert net_of(ia).subnet_of(IPv6Network("2001:db8:8000::/40"))
    c = pair.status()["interfaces"][0]["counters"]
    assert c["pkt6-parse-failed"] >= 3
    assert c["pkt6-reply-sent"] == 1


def _tshark_problems(path: Path) -> list[str]:
    def run(*args):
        r = subprocess.run(["tshark", "-r", str(path), "-o", "udp.check_checksum:TRUE", *args],
                           capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        return r.stdout
    verbose = run("-V")
    problems = [ln.strip() for ln in verbose.splitlines() if "Malformed" in ln]
    problems += [ln.strip() for ln in run("-q", "-z", "expert").splitlines()
                 if ln.startswith(("Errors", "Warns", "Warnings"))]
    return problems, verbose


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_sees_nothing_malformed_in_a_full_session(pair, client, tmp_path):
    pcap = tmp_path / "session.pcap"
    cap = pair.capture(pair.rtr_ns, pair.rtr_if, pcap, "udp or icmp6")
    proc = pair.start_router(pair.config())
    client.send_rs()
    assert client.ras(3.0, until=lambda ra: bool(ra.prefixes))
    typed = client.acquire(1, MobilityType.FIXED)
    legacy = client.acquire(2)
    assert client.renew(legacy) is not None
    assert client.release(legacy) is not None
    assert client.release(typed) is not None
    # relayed Solicit (RFC 8415 §19): answered in a Relay-Repl to port 547
    inner = d6.Solicit(client.xid(), client.ids(False) + (d6.IAPD(3, 0, 0, ()),))
    relay = d6.RelayForw(0, IPv6Address("::"), IPv6Address("fe80::abcd"),
                         (d6.RelayMsg(inner), d6.InterfaceId(b"port7")))
    from odm.probetools.link import Dhcp6ClientSocket

    rsock = in_netns(pair.cli_ns, lambda: Dhcp6ClientSocket(client.info, port=547))
    try:
        rsock.send(d6.encode_dhcp6(relay))
        got = rsock.recv(3.0)
        assert got is not None
        rr = d6.decode_dhcp6(got[0])
        assert rr.msg_type == MessageType.RELAY_REPL
        assert rr.get(d6.InterfaceId).interface_id == b"port7"
    finally:
        rsock.close()
    proc.send_signal(signal.SIGTERM)
    assert client.ras(5.0, until=lambda ra: ra.router_lifetime == 0)
    assert proc.wait(10) == 0
    time.sleep(0.2)
    pair.stop(cap, signal.SIGINT)
    problems, verbose = _tshark_problems(pcap)
    assert problems == []
    for kind in ("Router Solicitation", "Router Advertisement", "Solicit", "Advertise",
                 "Request", "Renew", "Release", "Relay-forw", "Relay-reply"):
        assert kind in verbose, kind


def test_missing_interface_is_an_error_and_leaves_nothing(pair):
    cfg = pair.config()
    r = pair.run(pair.rtr_ns, [sys.executable, "-m", "odm", "router", "run", "--config",
                               str(cfg), "--iface", "nosuch0"], timeout=30)
    assert r.returncode == 1
    assert "nosuch0" in r.stderr
    assert not (pair.workdir / "router.sock").exists()


def test_route_batcher_batches_and_reports_failures(pair, caplog):
    """router.io.routes: many changes in one datagram, the same routes as
    router.dataplane.common.route_to_host, a refused change counted and named, a
    missing route's deletion not an error."""
    from pyroute2 import NetNS

    from router.io.routes import RouteBatcher

    with NetNS(pair.rtr_ns) as n:
        idx = n.link_lookup(ifname=pair.rtr_if)[0]
    rb = in_netns(pair.rtr_ns, RouteBatcher)
    try:
        via = IPv6Address("fe80::ff:fe00:102")
        nets = [IPv6Network(f"2001:db8:8{i >> 8:03x}:{i & 255:x}00::/56") for i in range(300)]
        for net in nets:
            rb.add(net, via, idx)
        rb.add(IPv6Network("2001:db8:9999::/48"), via, 999999)  # no such interface
        rb.delete(IPv6Network("2001:db8:7777::/48"))             # nothing to delete
        assert rb.drain(10)
        assert rb.failures == 1 and rb.sent == 302
        assert (rb.add_failures, rb.delete_failures) == (1, 0)
        assert "route 2001:db8:9999::/48 via fe80::ff:fe00:102 refused" in caplog.text
        routes = pair.odm_routes()
        assert routes == {str(net): str(via) for net in nets}
        for net in nets[:200]:
            rb.delete(net)
        assert rb.drain(10) and rb.failures == 1
        assert set(pair.odm_routes()) == {str(net) for net in nets[200:]}
    finally:
        rb.close()


def test_route_batcher_keeps_nothing_per_sent_change(pair):
    """router.io.routes: what RouteBatcher holds does not grow with the routes it has
    written (it remembered the latest 65,536 changes, ~25 MB at 100,000 bindings,
    to name a refused one; the refusal is read right after its send instead)."""
    import tracemalloc

    from pyroute2 import NetNS

    from router.io.routes import RouteBatcher

    with NetNS(pair.rtr_ns) as n:
        idx = n.link_lookup(ifname=pair.rtr_if)[0]
    rb = in_netns(pair.rtr_ns, RouteBatcher)
    via = IPv6Address("fe80::ff:fe00:102")
    nets = [IPv6Network((0x20010DB8_8000_0000_0000_0000_0000_0000 + (i << 72), 56))
            for i in range(20_000)]
    try:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for k in range(0, len(nets), 500):  # a loop turn's worth, then a flush
            for net in nets[k:k + 500]:
                rb.add(net, via, idx)
            rb.flush()
        assert rb.drain(30) and rb.failures == 0 and rb.sent == len(nets)
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert held < 256 * 1024, f"{held} octets held after writing {len(nets)} routes"
        for net in nets:
            rb.delete(net)
        assert rb.drain(30) and rb.failures == 0
    finally:
        tracemalloc.stop()
        rb.close()


class Relay:
    """A DHCPv6 relay agent's socket on the client end of the pair: UDP
    ``[::]:547`` bound to the interface (RFC 8415 §19: relays send from and
    are answered on port 547)."""

    def __init__(self, pair, src: str = "::") -> None:
        import socket as so

        def make():
            s = so.socket(so.AF_INET6, so.SOCK_DGRAM)
            s.setsockopt(so.SOL_SOCKET, 25, pair.cli_if.encode())  # SO_BINDTODEVICE
            idx = so.if_nametoindex(pair.cli_if)
            s.setsockopt(so.IPPROTO_IPV6, so.IPV6_MULTICAST_IF, idx)
            s.bind((src, 547))
            return s, idx
        self.sock, self.index = in_netns(pair.cli_ns, make)
        self.sock.settimeout(3.0)

    def close(self) -> None:
        self.sock.close()

    def forward(self, inner, dst: str, peer: str = "fe80::99", wait: bool = True
                ) -> d6.RelayRepl | None:
        fw = d6.RelayForw(0, IPv6Address("::"), IPv6Address(peer), (
            d6.RelayMsg(inner), d6.InterfaceId(b"port-7")))
        self.sock.sendto(d6.encode_dhcp6(fw), (dst, 547, 0, self.index))
        if not wait:
            return None
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        return d6.decode_dhcp6(data)


@pytest.mark.parametrize("group", ["ff05::1:3", "ff02::1:2"])
def test_relay_forw_to_a_server_group_is_answered(pair, group):
    """RFC 8415 §7.1: a relay that does not know the servers' addresses
    forwards to All_DHCP_Servers ff05::1:3 (ISC dhcrelay -6's default); every
    server is a member, so the router joins it as well as ff02::1:2."""
    pair.start_router(pair.config())
    relay = Relay(pair)
    try:
        sol = d6.Solicit(0x1234, (d6.ClientId(d6.DuidLL(1, bytes.fromhex("020000000199"))),
                                  d6.ElapsedTime(0), d6.IAPD(3, 0, 0, ())))
        ans = relay.forward(sol, group)
        assert ans is not None, f"no Relay-Repl to a Relay-Forw sent to {group}"
        assert ans.msg_type == MessageType.RELAY_REPL
        assert ans.peer_address == IPv6Address("fe80::99")
        assert ans.get(d6.InterfaceId).interface_id == b"port-7"
        adv = ans.relayed
        assert adv.msg_type == MessageType.ADVERTISE and adv.transaction_id == 0x1234
        assert net_of(adv.ia_pds[0]).subnet_of(IPv6Network("2001:db8:8000::/40"))
    finally:
        relay.close()


def _solicit_rapid(iaid: int, mac: str) -> d6.Solicit:
    return d6.Solicit(iaid, (d6.ClientId(d6.DuidLL(1, bytes.fromhex(mac))), d6.ElapsedTime(0),
                             d6.RapidCommit(), d6.IAPD(iaid, 0, 0, ())))


def test_prefix_of_a_client_behind_an_off_link_relay_is_routed_through_the_route_to_it(pair):
    """RFC 8415 §19.1.2, §6.3: a relayed client's prefix is routed towards the
    relay. A relay whose address is not on the router's link (2001:db8:99::5,
    reached through the client end's link-local address) gets its prefix
    routed via that on-link gateway instead of a route the kernel refuses;
    a relay with no route towards it is an ERROR counted as
    routes-unreachable, and the agent keeps serving."""
    from pyroute2 import NetNS

    relay_addr = "2001:db8:99::5"
    cli_ll = pair.link_local(pair.cli_ns, pair.cli_if)
    with NetNS(pair.cli_ns) as n:
        idx = n.link_lookup(ifname=pair.cli_if)[0]
        n.addr("add", index=idx, address=relay_addr, prefixlen=128)
        n.addr("add", index=idx, address="2001:db8:98::5", prefixlen=128)
    with NetNS(pair.rtr_ns) as n:
        idx = n.link_lookup(ifname=pair.rtr_if)[0]
        n.route("add", dst="2001:db8:99::/64", gateway=cli_ll, oif=idx)
    rtr_ll = pair.link_local(pair.rtr_ns, pair.rtr_if)
    pair.start_router(pair.config())
    relay = Relay(pair, src=relay_addr)
    lost = Relay(pair, src="2001:db8:98::5")
    try:
        ans = relay.forward(_solicit_rapid(21, "0200000001a1"), rtr_ll)
        assert ans is not None and ans.msg_type == MessageType.RELAY_REPL
        rep = ans.relayed
        assert rep.msg_type == MessageType.REPLY, rep
        net = net_of(rep.ia_pds[0])
        wait_until(lambda: pair.odm_routes().get(str(net)) == cli_ll, 5,
                   what=f"route of {net} via {cli_ll}")
        # no route back to this relay: the grant is made, its route cannot be
        lost.forward(_solicit_rapid(22, "0200000001a2"), rtr_ll, wait=False)
        wait_until(lambda: pair.status()["adapter"]["routes-unreachable"] == 1, 5,
                   what="routes-unreachable counted")
        st = pair.status()["adapter"]
        assert st["route-add-failed"] == 0
        assert set(pair.odm_routes()) == {str(net)}
        assert "cannot route a delegated prefix towards 2001:db8:98::5" in (
            pair.workdir / "router.log").read_text()
    finally:
        relay.close()
        lost.close()


def test_resolve_next_hop_link_local_on_link_routed_and_unreachable(pair):
    """router.io.routes.resolve_next_hop: a link-local source is its own next
    hop on the access interface; an on-link global address is one too (on the
    interface its route names); an off-link one resolves to the gateway of
    the route towards it; no route is NextHopUnreachable."""
    from pyroute2 import NetNS

    from router.io.routes import NextHopUnreachable, resolve_next_hop

    cli_ll = IPv6Address(pair.link_local(pair.cli_ns, pair.cli_if))
    with NetNS(pair.rtr_ns) as n:
        idx = n.link_lookup(ifname=pair.rtr_if)[0]
        n.addr("add", index=idx, address="2001:db8:77::1", prefixlen=64)
        n.route("add", dst="2001:db8:99::/64", gateway=str(cli_ll), oif=idx)

    def resolve(via: str):
        with NetNS(pair.rtr_ns) as n:
            return resolve_next_hop(n, IPv6Address(via), idx)

    assert resolve("fe80::1234") == (IPv6Address("fe80::1234"), idx)
    assert resolve("2001:db8:77::9") == (IPv6Address("2001:db8:77::9"), idx)
    assert resolve("2001:db8:99::5") == (cli_ll, idx)
    for bad in ("2001:db8:55::5", "2001:db8:77::1"):
        with pytest.raises(NextHopUnreachable):
            resolve(bad)


def _send_from(pair, src: str, msg) -> None:
    """Send ``msg`` to All_DHCP_Relay_Agents_and_Servers from ``src`` (an
    address added on the client end): another node on the link."""
    import socket

    def send():
        from pyroute2 import IPRoute
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=pair.cli_if)[0]
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            s.bind((src, 0, 0, idx))
            s.sendto(d6.encode_dhcp6(msg), ("ff02::1:2", 547, 0, idx))
        finally:
            s.close()
    in_netns(pair.cli_ns, send)


def _add_ll(pair, addr: str) -> None:
    from pyroute2 import NetNS
    with NetNS(pair.cli_ns) as n:
        idx = n.link_lookup(ifname=pair.cli_if)[0]
        n.addr("add", index=idx, address=addr, prefixlen=64, flags=0x02)  # IFA_F_NODAD


def test_a_spoofed_rebind_from_another_node_does_not_take_the_route(pair, client):
    """Issue 13 point 11: an on-link node that copied a client's DUID and
    IAID sends a Rebind from its own link-local address. The client still
    answers neighbour discovery, so the route of its prefix stays with it
    (the router probes the old next hop and logs that it is still there).
    When the client itself left that address and writes from a new one, the
    route follows once neighbour discovery gives the old one up."""
    from pyroute2 import NetNS

    pair.start_router(pair.config())
    ia = client.acquire(31, MobilityType.SESSION_LASTING)
    net = net_of(ia)
    ll = pair.link_local(pair.cli_ns, pair.cli_if)
    wait_until(lambda: pair.odm_routes().get(str(net)) == ll, 5, what="route of the grant")
    held = d6.IAPD(31, 0, 0, tuple(d6.IAPrefix(0, 0, p.prefix_length, p.prefix, p.options)
                                   for p in ia.prefixes))
    _add_ll(pair, "fe80::bad")
    _send_from(pair, "fe80::bad", d6.Rebind(client.xid(), client.ids(False) + (held,)))
    log = pair.workdir / "router.log"
    wait_until(lambda: "still answers neighbour discovery" in log.read_text(), 30,
               what="the router's verdict on the old next hop")
    assert pair.odm_routes().get(str(net)) == ll
    counters = pair.status()["interfaces"][0]["counters"]
    assert counters["next-hop-change-deferred"] == 1 and counters["next-hop-changed"] == 0

    # the client itself moves to a new address: its old one is gone
    with NetNS(pair.cli_ns) as n:
        idx = n.link_lookup(ifname=pair.cli_if)[0]
        n.addr("del", index=idx, address=ll, prefixlen=64)
    _add_ll(pair, "fe80::2:2")
    _send_from(pair, "fe80::2:2", d6.Rebind(client.xid(), client.ids(False) + (held,)))
    wait_until(lambda: pair.odm_routes().get(str(net)) == "fe80::2:2", 40,
               what="the route via the client's new address")
    assert pair.status()["interfaces"][0]["counters"]["next-hop-changed"] == 1


def test_the_running_router_agent_keeps_only_network_capabilities(pair):
    """Issue 13 point 16: every thread of ``odm router run`` holds
    CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE and nothing else, in
    its effective, permitted and bounding sets; it still serves."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from netnscaps import mask, thread_caps

    from odm.capabilities import ROUTER_KEEPS

    p = pair.start_router(pair.config())
    c = Client(pair)
    try:
        assert c.acquire(3).prefixes  # serves with what it kept
    finally:
        c.close()
    want = mask(*ROUTER_KEEPS)
    threads = thread_caps(p.pid)
    assert len(threads) >= 2  # the netlink worker too
    for tid, caps in threads.items():
        assert caps["CapEff"] == caps["CapPrm"] == want, (tid, caps)
        assert caps["CapBnd"] == want and caps["CapInh"] == 0 and caps["CapAmb"] == 0
