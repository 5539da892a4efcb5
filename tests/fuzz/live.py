"""Fuzzing live agents in a lab (tests/netns/test_fuzz_live.py, bench/fuzz.py).

:func:`live_lab` brings up a lab (prefix ``h5`` + 6 hex digits) with the
router agents (``odm router run``) and the host agent (``odm host run``) of
:class:`lab.agents.LabAgents`, every type offered, and always tears it down.
:func:`fuzz_live` then sends, over real kernel sockets:

* to the router attached to the host (from ``mh``, source mh0's link-local):
  mutated DHCPv6 client messages to UDP 547 and mutated RSs (hop limit 255);
* to the host (from that router's namespace, source the router's link-local
  on ``acc``): mutated DHCPv6 server messages to UDP 546 and mutated RAs to
  ff02::1 (hop limit 255).

Inputs are mutations of the golden captures and of an in-memory session
(:mod:`tests.fuzz.engine`) and scapy's ``fuzz()`` of RA/RS and DHCPv6
layers. Afterwards :func:`check_live` proves the agents still work: no agent
process exited or was restarted (same PIDs), the router answers a valid
relayed Solicit (Rapid Commit) with a prefix of every type, and the host
agent answers ``setsc()`` with ON_NET for every type with an address of that
type.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from pathlib import Path

from lab.nsutil import call_in_netns_thread as in_netns
from odm_wire.constants import MobilityType
from tests.fuzz.engine import Corpus, Mutator

STATE_DIR = Path(os.environ.get("ODM_TEST_LAB_STATE_DIR", "/run/odm-lab-test"))
ALL_NODES = "ff02::1"
IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_IF = 16, 18, 17


@contextlib.contextmanager
def live_lab(workdir: Path, tag: str = "h5") -> Iterator[tuple]:
    """(lab, agents) with every agent running; everything removed on exit."""
    from lab import Lab, LabConfig
    from lab.agents import AgentSettings, LabAgents

    lab = Lab(LabConfig(prefix=f"{tag}{secrets.token_hex(3)}", state_dir=STATE_DIR))
    try:
        lab.up()
        agents = LabAgents(lab, workdir, AgentSettings(offered=tuple(MobilityType), dataplane=None))
        agents.start_all()
        from lab.agents import wait_for
        # the host is up when it holds a boot prefix (mh0's link-local is past DAD by then)
        wait_for(lambda: agents.host_addresses(MobilityType.SESSION_LASTING), 20,
                 "the host's first SESSION_LASTING address")
        yield lab, agents
    finally:
        try:
            lab.down()
        except Exception as exc:  # noqa: BLE001 - report, keep tearing down
            print(f"lab down: {exc}")


def _link_local(lab, node: str, ifname: str, timeout: float = 5.0) -> tuple[IPv6Address, int]:
    """The link-local address of ``node``/``ifname`` once it is past DAD."""
    end = time.monotonic() + timeout
    while True:
        with lab.iproute(node) as ipr:
            idx = ipr.link_lookup(ifname=ifname)[0]
            for a in ipr.get_addr(family=socket.AF_INET6, index=idx):
                addr = IPv6Address(a.get_attr("IFA_ADDRESS"))
                flags = a.get_attr("IFA_FLAGS") or a["flags"]
                if addr.is_link_local and not flags & 0x40:  # IFA_F_TENTATIVE
                    return addr, idx
        if time.monotonic() > end:
            raise RuntimeError(f"no usable link-local address on {node}/{ifname}")
        time.sleep(0.05)


def scapy_fuzzed(rng: random.Random, to_router: bool) -> tuple[bytes, str]:
    """One datagram from scapy's ``fuzz()`` (random fields, valid framing):
    RS or a DHCPv6 client message to a router; RA or Advertise/Reply to a host."""
    import logging

    import scapy.volatile as V
    from scapy.layers import dhcp6 as D
    from scapy.layers import inet6 as I
    from scapy.packet import fuzz, raw
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # "no IPv6 underlayer"
    V.random.seed(rng.randrange(1 << 30))  # scapy's volatile values draw from here
    for _ in range(20):
        if rng.random() < 0.3:
            pkt = (I.ICMPv6ND_RS() / I.ICMPv6NDOptSrcLLAddr()) if to_router else \
                (I.ICMPv6ND_RA() / I.ICMPv6NDOptPrefixInfo() / I.ICMPv6NDOptMTU()
                 / I.ICMPv6NDOptSrcLLAddr())
            kind = "icmp6"
        else:
            cls = rng.choice((D.DHCP6_Solicit, D.DHCP6_Request, D.DHCP6_Renew, D.DHCP6_Rebind,
                              D.DHCP6_Release, D.DHCP6_Decline)) if to_router else \
                rng.choice((D.DHCP6_Advertise, D.DHCP6_Reply))
            pkt = cls() / D.DHCP6OptClientId() / D.DHCP6OptServerId() / D.DHCP6OptIA_PD(
                iapdopt=[D.DHCP6OptIAPrefix()])
            kind = "dhcp6"
        try:
            data = raw(fuzz(pkt))
        except Exception:  # noqa: BLE001,S112 - scapy cannot build every fuzzed value
            continue
        if data:
            return data, kind
    return b"\x01\x00\x00\x00", "dhcp6"


@dataclass
class LiveStats:
    sent_router: int = 0
    sent_host: int = 0
    scapy: int = 0
    pids_before: dict = field(default_factory=dict)
    pids_after: dict = field(default_factory=dict)
    send_errors: int = 0
    """datagrams the kernel refused to send (an ICMPv6 message shorter than
    its header: EFAULT/EINVAL); not sent, not counted above"""
    restarts: int = 0
    problems: list = field(default_factory=list)


def _senders(lab, node: str, ifname: str, udp_dst_port: int):
    ll, idx = _link_local(lab, node, ifname)
    ns = lab.netns(node)

    def make():
        u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u.bind((str(ll), 0, 0, idx))
        u.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_IF, idx)
        r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        r.bind((str(ll), 0, 0, idx))
        for opt in (IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS):
            r.setsockopt(socket.IPPROTO_IPV6, opt, 255)
        r.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_IF, idx)
        return u, r
    u, r = in_netns(ns, make)
    return u, r, idx


def fuzz_live(lab, agents, corpus: Corpus, rng: random.Random, n_router: int, n_host: int,
              pace: float = 0.0005) -> LiveStats:
    """Send ``n_router`` datagrams at the attached router and ``n_host`` at
    the host (module docstring); ``pace``: seconds between datagrams."""
    st = LiveStats(pids_before={k: p.pid for k, p in agents.procs.items()})
    router = lab.attached or "ar1"
    mut = Mutator(rng, max_len=1200)
    rll, _ = _link_local(lab, router, "acc")
    hll, _ = _link_local(lab, "mh", "mh0")
    # host side: to the router
    u, r, idx = _senders(lab, "mh", "mh0", 547)
    u2, r2, idx2 = _senders(lab, router, "acc", 546)
    try:
        for i in range(max(n_router, n_host)):
            for to_router, n in ((True, n_router), (False, n_host)):
                if i >= n:
                    continue
                if rng.random() < 0.3:
                    data, kind = scapy_fuzzed(rng, to_router)
                    st.scapy += 1
                else:
                    icmp = rng.random() < 0.3
                    seeds = (corpus.router_icmp if icmp else corpus.router_dhcp) if to_router \
                        else (corpus.host_icmp if icmp else corpus.host_dhcp)
                    data, kind = mut.mutate(rng.choice(seeds), seeds), \
                        "icmp6" if icmp else "dhcp6"
                if not data:
                    data = b"\0"
                try:
                    if to_router:
                        if kind == "dhcp6":
                            dst = rng.choice((str(rll), "ff02::1:2"))
                            u.sendto(data, (dst, 547, 0, idx))
                        else:
                            r.sendto(data, ("ff02::2", 0, 0, idx))
                        st.sent_router += 1
                    else:
                        if kind == "dhcp6":
                            u2.sendto(data, (str(hll), 546, 0, idx2))
                        else:
                            r2.sendto(data, (ALL_NODES, 0, 0, idx2))
                        st.sent_host += 1
                except OSError:  # EFAULT/EINVAL: an ICMPv6 message too short to send
                    st.send_errors += 1
            if pace:
                time.sleep(pace)
    finally:
        for s in (u, r, u2, r2):
            s.close()
    return st


def router_answers(lab, router: str) -> set:
    """A relayed Solicit with Rapid Commit for every type, sent from ``mh``
    (as a relay on port 547) to ``router``; returns the types granted."""
    from odm_wire.dhcp6 import (
        IAPD,
        ClientId,
        DuidLL,
        ElapsedTime,
        IAPrefix,
        OptionRequest,
        RapidCommit,
        RelayForw,
        RelayMsg,
        RelayRepl,
        Solicit,
        decode_dhcp6,
        encode_dhcp6,
        mobility_type_option,
    )
    rll, _ = _link_local(lab, router, "acc")
    hll, idx = _link_local(lab, "mh", "mh0")
    duid = DuidLL(1, bytes([2, 0x66]) + secrets.token_bytes(4))
    ias = tuple(IAPD(i + 1, 0, 0, (IAPrefix(0, 0, 64, IPv6Address("::"),
                                            (mobility_type_option(mt),)),))
                for i, mt in enumerate(MobilityType))
    sol = Solicit(secrets.randbelow(1 << 24), (ClientId(duid), ElapsedTime(0),
                                               OptionRequest((17,)), RapidCommit()) + ias)
    msg = RelayForw(0, IPv6Address("::"), IPv6Address("fe80::6666"), (RelayMsg(sol),))

    def ask():
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((str(hll), 547, 0, idx))
        s.settimeout(1.0)
        try:
            for _ in range(5):
                s.sendto(encode_dhcp6(msg), (str(rll), 547, 0, idx))
                try:
                    data, _ = s.recvfrom(4096)
                except TimeoutError:
                    continue
                ans = decode_dhcp6(data)
                if type(ans) is RelayRepl:
                    return ans.relayed
            return None
        finally:
            s.close()
    ans = in_netns(lab.netns("mh"), ask)
    if ans is None:
        return set()
    return {p.mobility_type for ia in ans.ia_pds for p in ia.prefixes if p.valid_lifetime}


def host_answers(agents, timeout: float = 8.0) -> dict:
    """setsc() with ON_NET per type over the host agent's API: {type: address
    or error text}; an address must lie in a pool of its type."""
    from host import api
    from lab.agents import pool_of
    from odm_wire.constants import IPV6_REQUIRE_SRC_ON_NET

    out = {}
    pools = [r.pd_pool for r in agents.lab.config.routers]
    for mt in MobilityType:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            api.set_addr_preferences(s, IPV6_REQUIRE_SRC_ON_NET)
            a = api.setsc(s, mt, timeout=timeout, path=agents.host_socket)
            ok = any(a in pool_of(p, mt) for p in pools)
            out[mt] = a if ok else f"{a} is not in a {mt.cli_name} pool"
        except Exception as exc:  # noqa: BLE001 - reported per type
            out[mt] = f"{type(exc).__name__}: {exc}"
        finally:
            s.close()
    return out


def check_live(lab, agents, st: LiveStats) -> LiveStats:
    """Fill ``st`` with PIDs after, restarts and problems (empty = all good)."""
    for name, p in agents.procs.items():
        st.pids_after[name] = p.pid if p.poll() is None else None
    st.restarts = sum(1 for k, v in st.pids_before.items() if st.pids_after.get(k) != v)
    if st.restarts:
        st.problems.append(f"agents exited or restarted: {st.pids_before} -> {st.pids_after}")
        return st
    router = lab.attached or "ar1"
    got = router_answers(lab, router)
    if got != set(MobilityType):
        st.problems.append(f"router {router} answered a valid Solicit with types {got}")
    for mt, a in host_answers(agents).items():
        if not isinstance(a, IPv6Address):
            st.problems.append(f"host setsc({mt.cli_name}): {a}")
    return st
