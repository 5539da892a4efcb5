"""Replaying the server side of real peers' captures (pcaps/peers:
ISC Kea answering WIDE dhcp6c, ISC dhclient, dhcpcd and a typed scapy client;
radvd's RAs) to the odm host drives it to a bound state.

The replaying server answers each message of the host with the captured
answer to the same kind of client message (Solicit → Advertise, or the Rapid
Commit Reply; Request → Reply; Release → Reply) — when the captured client
asked a mobility type (top-level odm vendor option), only a host message
asking the same type — rewriting only what the host picks afresh: the
transaction-id and the IAID. The host is given the captured client's DUID,
so the captured Client Identifier is its own (and is checked, not rewritten);
only the typed scapy capture, whose client used a fresh DUID per type, has
its Client Identifier rewritten to the host's.

Two levels: the sans-I/O host core on a fake clock (every capture), and
the host agent in a network namespace with the replaying server on kernel
sockets in the peer namespace (a few captures; root needed).
"""

from __future__ import annotations

import dataclasses
import os
import random
import socket
import struct
import threading
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest

import odm_wire
from odm.pcaptools.capture import read_capture
from odm.pcaptools.packets import dissect_all
from odm_sansio import linksim
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import MessageType, MobilityType

PEERS = Path(__file__).resolve().parents[2] / "pcaps" / "peers"
pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(not PEERS.is_dir(), reason=f"no {PEERS}")]

SERVER_LL = IPv6Address("fe80::ff:fe00:1")
HOST_LL = IPv6Address("fe80::ff:fe00:2")
#: capture -> the prefix its server delegated to the untyped client
LEGACY = {
    "wide-dhcp6c-kea.pcap": "2001:db8:8000::/56",
    "wide-dhcp6c-kea-pref255.pcap": "2001:db8:8000::/56",
    "wide-dhcp6c-kea-rapidcommit.pcap": "2001:db8:8000::/56",
    "dhclient-kea.pcap": "2001:db8:8000:100::/56",
    "dhcpcd-kea.pcap": "2001:db8:8000:200::/56",
    "dhcpcd-kea-rapidcommit.pcap": "2001:db8:8000:200::/56",
}
CLASSES = "scapy-mobtype-classes-kea.pcap"
CLASS_PREFIXES = {
    MobilityType.FIXED: "2001:db8:8100:100::/56",
    MobilityType.SESSION_LASTING: "2001:db8:8200:100::/56",
    MobilityType.NON_PERSISTENT: "2001:db8:8300:100::/56",
}


def _asked_type(msg: d6.Message) -> MobilityType | None:
    """The type a client message asks: top level, else in an IAPREFIX."""
    for o in msg.options:
        if isinstance(o, d6.OdmVendorOpts):
            for s in o.suboptions:
                if isinstance(s, d6.MobilityTypeSubOption):
                    return s.mobility_type
    for ia in msg.ia_pds:
        for p in ia.prefixes:
            if isinstance(p.mobility_type, MobilityType):
                return p.mobility_type
    return None


@dataclass
class _Entry:
    kind: MessageType          # the captured client message's type
    asked: MobilityType | None  # the type it asked (None: untyped)
    answer: d6.Message         # the captured server answer


class ReplayServer:
    """The server side of one capture, answering a live client."""

    def __init__(self, path: Path) -> None:
        pkts = [p for p in dissect_all(read_capture(path)) if p.message is not None]
        asked: dict[int, tuple[MessageType, MobilityType | None]] = {}
        self.entries: list[_Entry] = []
        self.ras: list[tuple[bytes, int]] = []  # (ICMPv6 message, hop limit)
        duids: set[bytes] = set()
        for p in pkts:
            m = p.message
            if isinstance(m, nd.RouterAdvertisement):
                self.ras.append((p.payload, p.hop_limit))
            if not isinstance(m, d6.Message):
                continue
            if p.src != SERVER_LL:
                asked[m.transaction_id] = (m.msg_type, _asked_type(m))
                if m.client_duid is not None:
                    duids.add(d6.encode_duid(m.client_duid))
            elif m.transaction_id in asked:
                kind, t = asked[m.transaction_id]
                self.entries.append(_Entry(kind, t, m))
        #: The one DUID the captured client used (None: several, so the
        #: Client Identifier of an answer is rewritten to the live client's).
        self.client_duid = d6.decode_duid(duids.pop()) if len(duids) == 1 else None
        self.answered: list[tuple[MessageType, MessageType]] = []
        self.foreign_client = 0

    def answer(self, data: bytes) -> bytes | None:
        """The captured answer to the client message ``data``, rewritten with
        its transaction-id and IAID (and Client Identifier, see
        :attr:`client_duid`); None when the capture has none."""
        msg = odm_wire.decode(data)
        if self.client_duid is not None and msg.client_duid != self.client_duid:
            self.foreign_client += 1
        asked = _asked_type(msg)
        for e in self.entries:
            if e.kind == msg.msg_type and (e.asked is None or e.asked == asked):
                break
        else:
            return None
        iaids = [ia.iaid for ia in msg.ia_pds]
        opts = []
        for o in e.answer.options:
            if isinstance(o, d6.IAPD) and iaids:
                o = dataclasses.replace(o, iaid=iaids[0])
            elif isinstance(o, d6.ClientId) and self.client_duid is None:
                o = d6.ClientId(msg.client_duid)
            opts.append(o)
        out = dataclasses.replace(e.answer, transaction_id=msg.transaction_id,
                                  options=tuple(opts))
        self.answered.append((msg.msg_type, out.msg_type))
        return odm_wire.encode(out)


def _duid_hex(duid) -> str:
    return d6.encode_duid(duid).hex()


# ----------------------------------------------------------------- core level --
class CoreRun:
    """A HostCore on a fake clock, its DHCPv6 datagrams answered by ``server``."""

    def __init__(self, server: ReplayServer, **cfg) -> None:
        from host.config import config_from_mapping
        from host.core.host import HostCore

        table = {"iface": "h2re0", "timer_profile": "lab", "timer_scale": 0.1,
                 "secret": "0011223344556677", "setsc_timeout": 2.0, **cfg}
        if server.client_duid is not None:
            table["duid"] = _duid_hex(server.client_duid)
        self.config = config_from_mapping(table)
        duid = d6.decode_duid(bytes.fromhex(self.config.duid)) if self.config.duid else \
            d6.DuidLL(1, b"\x02\x00\x00\x00\x00\x02")
        self.core = HostCore(self.config, duid, b"k", rng=random.Random(4))
        self.server = server
        self.events: list = []
        self.link = linksim.Link(0.0)
        from host.core.events import AddressAdded

        self.link.add("host", self.core, HOST_LL,
                      on_event=self.link.dad_done(self.core, AddressAdded, self.events))
        self.link.add("server", linksim.Sink(
            lambda data, kind, src: server.answer(data) if kind == "dhcp6" else None), SERVER_LL)

    @property
    def now(self) -> float:
        return self.link.now

    def pump(self) -> None:
        self.link.pump()

    def run_until(self, pred, limit: float = 30.0):
        if not self.link.wait_for(pred, self.now + limit):
            raise AssertionError(f"not reached by t={self.now:.1f}: "
                                 f"{self.core.status(self.now)}")

    def bound(self, t=None) -> list:
        from host.core.pd_client import IaState
        return [ia for ia in self.core.pd.ias.values()
                if ia.mobility_type == t and ia.state == IaState.BOUND]

    def setsc(self, t: MobilityType, rid: int):
        from host.core.events import SetscCompleted
        self.core.setsc(rid, rid, t, self.now)
        done = []

        def answered():
            done.extend(e for e in self.events if type(e) is SetscCompleted
                        and e.request_id == rid)
            return done
        self.run_until(answered)
        return done[0]


@pytest.mark.parametrize("capture", sorted(LEGACY))
def test_core_replay_binds_the_legacy_prefix_and_releases_it(capture):
    server = ReplayServer(PEERS / capture)
    run = CoreRun(server)
    run.core.start(run.now)
    run.run_until(run.bound)
    (ia,) = run.bound()
    assert [str(p) for p in ia.leases] == [LEGACY[capture]]
    (lease,) = ia.leases.values()
    assert lease.mobility_type is None  # Kea's top-level type never types a legacy prefix
    assert (lease.preferred_lifetime, lease.valid_lifetime) == (3000, 4000)
    assert (ia.t1_at - lease.obtained, ia.t2_at - lease.obtained) == (1000, 2000)
    (a,) = run.core.addrs.by_prefix.values()
    assert a.address in IPv6Network(LEGACY[capture]) and a.usable(run.now)
    assert server.foreign_client == 0
    if "rapidcommit" in capture:
        assert server.answered[:1] == [(MessageType.SOLICIT, MessageType.REPLY)]
    else:
        assert server.answered[:2] == [(MessageType.SOLICIT, MessageType.ADVERTISE),
                                       (MessageType.REQUEST, MessageType.REPLY)]
    run.core.release_all(run.now)
    run.run_until(lambda: not run.core.pd.ias)
    assert server.answered[-1] == (MessageType.RELEASE, MessageType.REPLY) or \
        "dhcpcd" in capture or "dhclient" in capture  # those captures hold no Release
    assert not run.core.addrs.by_prefix


@pytest.mark.parametrize("capture", sorted(LEGACY))
def test_core_replay_of_kea_top_level_type_binds_a_typed_setsc(capture):
    """Kea's answers in these captures carry a top-level MOBILITY_TYPE
    SESSION_LASTING (its typed configuration): a host asking that type in a
    one-IA_PD exchange takes the prefix as SESSION_LASTING."""
    server = ReplayServer(PEERS / capture)
    run = CoreRun(server, legacy_pd=False, top_level_type=True)
    run.core.start(run.now)
    done = run.setsc(MobilityType.SESSION_LASTING, 1)
    assert done.error is None and done.address in IPv6Network(LEGACY[capture])
    (ia,) = run.bound(MobilityType.SESSION_LASTING)
    assert [lease.mobility_type for lease in ia.leases.values()] == [
        MobilityType.SESSION_LASTING]


def test_core_replay_of_kea_classes_binds_each_type_and_refuses_the_fourth():
    server = ReplayServer(PEERS / CLASSES)
    run = CoreRun(server, legacy_pd=False, top_level_type=True)
    run.core.start(run.now)
    for rid, (t, prefix) in enumerate(CLASS_PREFIXES.items(), 1):
        done = run.setsc(t, rid)
        assert done.error is None and done.address in IPv6Network(prefix), (t, done)
        (ia,) = run.bound(t)
        assert [str(p) for p in ia.leases] == [prefix]
    from host.core.events import FailureReason
    done = run.setsc(MobilityType.GRACEFUL_REPLACEMENT, 9)
    assert done.address is None and done.error == FailureReason.NOTSUPPORTED
    assert not run.bound(MobilityType.GRACEFUL_REPLACEMENT)
    assert server.foreign_client == 0


def test_core_replay_of_radvd_ras_gives_a_router_and_an_address():
    from host.core.events import OnLinkPrefix, RouterSeen
    server = ReplayServer(PEERS / "radvd-ra-rs.pcap")
    run = CoreRun(server)
    run.core.start(run.now)
    assert len(server.ras) == 2
    for payload, hop in server.ras:
        run.core.handle_datagram(payload, SERVER_LL, run.now, kind="icmp6", hop_limit=hop)
        run.pump()
    seen = [e for e in run.events if type(e) is RouterSeen]
    assert [(e.router, e.lifetime, e.new, e.other) for e in seen] == [
        (SERVER_LL, 30, True, True), (SERVER_LL, 30, False, True)]
    onlink = [e for e in run.events if type(e) is OnLinkPrefix]
    assert {(str(e.prefix), e.mobility_type) for e in onlink} == {("2001:db8:1::/64", None)}
    (a,) = run.core.addrs.usable(None, run.now)
    assert a.source == "ra" and a.address in IPv6Network("2001:db8:1::/64")
    assert a.prefix_length == 64


# --------------------------------------------------------------- agent level --
class NsServer(threading.Thread):
    """The replaying server on kernel sockets inside the peer namespace: UDP
    547 joined to ff02::1:2, and the captured RAs sent to ff02::1."""

    def __init__(self, ns: str, ifname: str, server: ReplayServer) -> None:
        super().__init__(daemon=True)
        self.ns, self.ifname, self.server = ns, ifname, server
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.send_ras = threading.Event()  #: set: send the captured RAs (once)
        self.error: BaseException | None = None

    def run(self) -> None:
        from lab.nsutil import enter_netns_fd, open_netns
        try:
            fd = open_netns(self.ns)
            try:
                enter_netns_fd(fd)  # this thread only
            finally:
                os.close(fd)
            idx = socket.if_nametoindex(self.ifname)
            u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            u.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.ifname.encode())
            u.bind(("::", 547))
            u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                         IPv6Address("ff02::1:2").packed + struct.pack("@I", idx))
            u.settimeout(0.1)
            r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            r.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            r.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
            self.ready.set()
            sent_ra = False
            while not self.stop.is_set():
                if self.server.ras and not sent_ra and self.send_ras.is_set():
                    for payload, _hop in self.server.ras:
                        r.sendto(payload, ("ff02::1", 0, 0, idx))
                    sent_ra = True
                try:
                    data, addr = u.recvfrom(65535)
                except TimeoutError:
                    continue
                ans = self.server.answer(data)
                if ans is not None:
                    u.sendto(ans, (addr[0], 546, 0, idx))
            u.close()
            r.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.ready.set()


@pytest.fixture
def pair():
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from probe_netns import netns_ok, veth_pair
    ok, why = netns_ok()
    if not ok:
        pytest.skip(why)
    with veth_pair() as p:
        yield p


def _agent(pair, tmp: Path, server: ReplayServer, **cfg):
    from host_kea import start_host
    if server.client_duid is not None:
        cfg["duid"] = _duid_hex(server.client_duid)
    ns = NsServer(pair.srv_ns, pair.srv_if, server)
    ns.start()
    ns.ready.wait(5)
    assert ns.error is None, ns.error
    host, sock = start_host(pair, tmp, setsc_timeout=2.0, first_solicit_delay=False, **cfg)
    return ns, host, sock


@pytest.mark.netns
@pytest.mark.parametrize("capture", ["wide-dhcp6c-kea.pcap", "dhcpcd-kea-rapidcommit.pcap"])
def test_agent_replay_binds_the_legacy_prefix_in_the_kernel(pair, tmp_path, capture):
    from host_kea import wait_status
    from test_host_kea import kernel_addrs
    server = ReplayServer(PEERS / capture)
    ns, host, sock = _agent(pair, tmp_path, server)
    try:
        st = wait_status(sock, lambda s: any(ia["state"] == "bound" for ia in s["ia_pds"]))
        (ia,) = st["ia_pds"]
        assert ia["type"] is None and [p["prefix"] for p in ia["prefixes"]] == [LEGACY[capture]]
        assert st["servers"][0]["address"] == str(SERVER_LL)
        (a,) = st["addresses"]
        assert IPv6Address(a["address"]) in kernel_addrs(pair.cli_ns, pair.cli_if)
        host.terminate()
        host.wait(10)
        assert IPv6Address(a["address"]) not in kernel_addrs(pair.cli_ns, pair.cli_if)
        if "wide" in capture:  # the capture holds Kea's Reply to a Release
            assert (MessageType.RELEASE, MessageType.REPLY) in server.answered
        assert server.foreign_client == 0
    finally:
        ns.stop.set()
        ns.join(5)


@pytest.mark.netns
def test_agent_replay_of_kea_classes_and_radvd(pair, tmp_path):
    """The typed classes capture answers setsc() for types 1–3 through the
    agent's API and refuses type 4; radvd's captured RAs (sent from the same
    link-local address) give the agent a router and an on-link address."""
    from host_kea import wait_status

    from host.api import EAI_REQUIREDIPNOTSUPPORTED, setsc
    server = ReplayServer(PEERS / CLASSES)
    server.ras = ReplayServer(PEERS / "radvd-ra-rs.pcap").ras
    ns, _host, sock = _agent(pair, tmp_path, server, legacy_pd=False, top_level_type=True)
    try:
        held = []
        for t, prefix in CLASS_PREFIXES.items():
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            assert setsc(s, t, path=sock) in IPv6Network(prefix)
            held.append(s)
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        with pytest.raises(EAI_REQUIREDIPNOTSUPPORTED):
            setsc(s, MobilityType.GRACEFUL_REPLACEMENT, path=sock)
        s.close()
        ns.send_ras.set()
        st = wait_status(sock, lambda s: s["routers"] and any(
            a["source"] == "ra" and a["ready"] for a in s["addresses"]))
        assert st["routers"][0]["address"] == str(SERVER_LL)
        assert st["routers"][0]["lifetime"] == 30
        assert [p["prefix"] for p in st["onlink"]] == ["2001:db8:1::/64"]
        for s in held:
            s.close()
    finally:
        ns.stop.set()
        ns.join(5)
