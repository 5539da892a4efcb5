"""The odm host agent against real third-party peers: ISC Kea with no odm
options, Kea configured for typed prefixes (docs/kea-typed.md), and radvd.

Each test runs the peer and ``odm host run`` in two fresh namespaces joined by
a veth pair (tests/interop/probe_netns.py), with Kea's config and lease file in
the test's tmp dir; the proof is read from the agent's status, the kernel's
addresses and routes, and Kea's own lease file and log."""

from __future__ import annotations

import shutil
import socket
from ipaddress import IPv6Address, IPv6Network

import pytest
from host_kea import (
    PLAIN_POOL,
    TYPED_POOLS,
    kea_leases,
    kea_plain_config,
    kea_typed_config,
    start_host,
    start_kea,
    wait_status,
)
from probe_netns import netns_ok, veth_pair, wait_for_text

_ok, _why = netns_ok()
pytestmark = [pytest.mark.interop, pytest.mark.netns,
              pytest.mark.skipif(not _ok, reason=_why)]
needs_kea = pytest.mark.skipif(shutil.which("kea-dhcp6") is None,
                               reason="kea-dhcp6-server not installed")
needs_radvd = pytest.mark.skipif(shutil.which("radvd") is None, reason="radvd not installed")

from host.api import (
    EAI_REQUIREDIPFAILED,
    EAI_REQUIREDIPNOTSUPPORTED,
    set_addr_preferences,
    setsc,
)
from odm_wire.constants import IPV6_REQUIRE_SRC_ON_NET
from odm_wire.constants import MobilityType as MT

IFA_F_NODAD = 0x02


def bound(st, t=None):
    """The bound IA_PDs of type name ``t`` (None: legacy) in a status."""
    return [ia for ia in st["ia_pds"] if ia["type"] == t and ia["state"] == "bound"]


def kernel_addrs(ns: str, ifname: str) -> dict:
    """address -> (prefix length, IFA flags, IFA_CACHEINFO) on ``ifname``."""
    from pyroute2 import NetNS
    out = {}
    with NetNS(ns) as n:
        idx = n.link_lookup(ifname=ifname)[0]
        for a in n.get_addr(family=socket.AF_INET6, index=idx):
            out[IPv6Address(a.get("IFA_ADDRESS"))] = (
                a["prefixlen"], a.get("IFA_FLAGS") or a["flags"], a.get("IFA_CACHEINFO"))
    return out


def released_in_kea(tmp, prefix: str) -> bool:
    """Kea's lease file says ``prefix`` was given back (valid lifetime 0)."""
    row = kea_leases(tmp).get(prefix)
    return row is not None and row["valid_lifetime"] == "0"


def stop(proc, timeout=10):
    proc.terminate()
    proc.wait(timeout)


def udp() -> socket.socket:
    return socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)


@needs_kea
def test_plain_kea_legacy_prefix_renew_release_and_typed_setsc_not_supported(tmp_path):
    with veth_pair() as pair:
        start_kea(pair, tmp_path, kea_plain_config(tmp_path, pair.srv_if,
                                                   lifetimes=(2, 3, 4, 6)))
        host, sock = start_host(pair, tmp_path, setsc_timeout=3.0)
        st = wait_status(sock, bound)
        (ia,) = bound(st)
        (p,) = ia["prefixes"]
        assert IPv6Network(p["prefix"]).subnet_of(IPv6Network(PLAIN_POOL))
        (a,) = [x for x in st["addresses"] if x["prefix"] == p["prefix"]]
        assert a["type"] is None and a["source"] == "dhcpv6-pd"
        plen, flags, ci = kernel_addrs(pair.cli_ns, pair.cli_if)[IPv6Address(a["address"])]
        assert plen == 128 and flags & IFA_F_NODAD
        assert ci["ifa_valid"] <= 6 and ci["ifa_preferred"] <= 4  # never outlives the prefix
        assert st["servers"][0]["supported_types"] is None and st["network_types"] == []
        # Renew at T1 = 2 s (Kea's renew-timer); the prefix is extended, not expired
        wait_for_text(tmp_path / "host.log", "PrefixRenewed: prefix="
                      + p["prefix"], timeout=8)
        assert "PrefixExpired" not in (tmp_path / "host.log").read_text()
        # typed setsc on a network without odm: Kea hands out an untyped prefix
        # for the typed IA_PD; the host says NOTSUPPORTED (and gives it back)
        s = udp()
        with pytest.raises(EAI_REQUIREDIPNOTSUPPORTED):
            setsc(s, MT.SESSION_LASTING, timeout=3.0, path=sock)
        s.close()
        st = wait_status(sock, lambda s: len(kea_leases(tmp_path)) == 2
                         and sum(released_in_kea(tmp_path, q) for q in kea_leases(tmp_path)) == 1)
        assert not released_in_kea(tmp_path, p["prefix"])  # the legacy one stays
        assert [ia["type"] for ia in st["ia_pds"]] == [None]
        assert all(x["type"] is None for x in st["addresses"])
        stop(host)
        wait_for_text(tmp_path / "kea.log", "DHCP6_RELEASE_PD", timeout=5)
        assert released_in_kea(tmp_path, p["prefix"])
        assert IPv6Address(a["address"]) not in kernel_addrs(pair.cli_ns, pair.cli_if)


@needs_kea
def test_kea_typed_classes_serve_every_configured_type(tmp_path):
    """Kea configured per docs/kea-typed.md for all four types: each setsc gets
    an address from its type's pool; typed prefixes renew (Kea classifies the
    Renew again); closing the last SESSION_LASTING socket releases its prefix
    at Kea, closing the FIXED one keeps it (default release policy)."""
    with veth_pair() as pair:
        start_kea(pair, tmp_path, kea_typed_config(tmp_path, pair.srv_if,
                                                   lifetimes=(2, 3, 4, 6)))
        host, sock = start_host(pair, tmp_path, top_level_type=True, setsc_timeout=3.0,
                                socket_poll_interval=0.1)
        st = wait_status(sock, bound)
        legacy = bound(st)[0]["prefixes"][0]["prefix"]
        assert IPv6Network(legacy).subnet_of(IPv6Network(PLAIN_POOL))  # odm-untyped class
        held = {}
        for t, pool in TYPED_POOLS.items():
            s = udp()
            addr = setsc(s, t, timeout=3.0, path=sock)
            assert addr in IPv6Network(pool), (t, addr)
            held[t] = (s, addr)
        st = wait_status(sock, lambda s: True)
        assert st["servers"][0]["supported_types"] == [t.cli_name for t in TYPED_POOLS]
        kern = kernel_addrs(pair.cli_ns, pair.cli_if)
        for t, pool in TYPED_POOLS.items():
            (ia,) = bound(st, t.cli_name)
            (p,) = ia["prefixes"]
            assert IPv6Network(p["prefix"]).subnet_of(IPv6Network(pool))
            (a,) = [a for a in st["addresses"] if a["prefix"] == p["prefix"]]
            assert a["type"] == t.cli_name and a["refs"] == 1
            assert IPv6Address(a["address"]) == held[t][1]
            assert kern[held[t][1]][0] == 128 and kern[held[t][1]][1] & IFA_F_NODAD
        # every typed prefix renewed at T1 = 2 s with its type intact
        for t in TYPED_POOLS:
            p = bound(st, t.cli_name)[0]["prefixes"][0]["prefix"]
            wait_for_text(tmp_path / "host.log", f"PrefixRenewed: prefix={p} type={t.name}",
                          timeout=8)
        log = (tmp_path / "host.log").read_text()
        assert "RequestFailed" not in log and "PrefixExpired" not in log
        sl_prefix = bound(st, "session-lasting")[0]["prefixes"][0]["prefix"]
        fixed_prefix = bound(st, "fixed")[0]["prefixes"][0]["prefix"]
        held[MT.SESSION_LASTING][0].close()
        held[MT.FIXED][0].close()
        st = wait_status(sock, lambda s: not bound(s, "session-lasting")
                         and released_in_kea(tmp_path, sl_prefix))
        assert held[MT.SESSION_LASTING][1] not in kernel_addrs(pair.cli_ns, pair.cli_if)
        assert bound(st, "fixed") and not released_in_kea(tmp_path, fixed_prefix)
        assert held[MT.FIXED][1] in kernel_addrs(pair.cli_ns, pair.cli_if)
        for s, _ in held.values():
            s.close()
        stop(host)
        assert released_in_kea(tmp_path, fixed_prefix)


@needs_kea
def test_kea_typed_refusals_name_the_spec_errors(tmp_path):
    """Kea offering FIXED and NON_PERSISTENT (one /56 only), Rapid Commit on:
    a type it does not offer is EAI_REQUIREDIPNOTSUPPORTED (its SUPPORTED_TYPES
    say so); an offered type whose pool is empty is EAI_REQUIREDIPFAILED; ON_NET
    gets a new FIXED prefix each time, without it the held one comes back."""
    with veth_pair() as pair:
        start_kea(pair, tmp_path, kea_typed_config(
            tmp_path, pair.srv_if, rapid=True, types=(MT.FIXED, MT.NON_PERSISTENT),
            pool_len={MT.NON_PERSISTENT: 56}))
        host, sock = start_host(pair, tmp_path, top_level_type=True, setsc_timeout=2.0)
        wait_status(sock, bound)
        s = udp()
        with pytest.raises(EAI_REQUIREDIPNOTSUPPORTED):
            setsc(s, MT.SESSION_LASTING, timeout=2.0, path=sock)
        np1 = udp()
        a_np = setsc(np1, MT.NON_PERSISTENT, timeout=2.0, path=sock)
        assert a_np in IPv6Network(TYPED_POOLS[MT.NON_PERSISTENT])
        np2 = udp()
        set_addr_preferences(np2, IPV6_REQUIRE_SRC_ON_NET)
        with pytest.raises(EAI_REQUIREDIPFAILED):
            setsc(np2, MT.NON_PERSISTENT, timeout=2.0, path=sock)
        f1, f2, f3 = udp(), udp(), udp()
        a1 = setsc(f1, MT.FIXED, timeout=2.0, path=sock)
        set_addr_preferences(f2, IPV6_REQUIRE_SRC_ON_NET)
        a2 = setsc(f2, MT.FIXED, timeout=2.0, path=sock)
        a3 = setsc(f3, MT.FIXED, timeout=2.0, path=sock)  # no ON_NET: a held one
        assert a1 != a2 and a3 in (a1, a2)
        assert IPv6Network((a1, 56), strict=False) != IPv6Network((a2, 56), strict=False)
        st = wait_status(sock, lambda s: True)
        assert len(bound(st, "fixed")) == 2
        assert sorted(st["servers"][0]["supported_types"]) == ["fixed", "non-persistent"]
        for x in (s, np1, np2, f1, f2, f3):
            x.close()
        stop(host)


@needs_radvd
def test_radvd_ra_gives_legacy_address_and_default_route(tmp_path):
    with veth_pair() as pair:
        conf = tmp_path / "radvd.conf"
        conf.write_text(f"""interface {pair.srv_if} {{
    AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 10;
    AdvDefaultLifetime 600;
    prefix 2001:db8:1::/64 {{ AdvOnLink on; AdvAutonomous on;
        AdvValidLifetime 86400; AdvPreferredLifetime 14400; }};
}};
""")
        conf.chmod(0o644)
        log = tmp_path / "radvd.log"
        rproc = pair.spawn(pair.srv_ns, ["radvd", "-n", "-C", str(conf), "-p",
                                         str(tmp_path / "radvd.pid"), "-m", "logfile", "-l",
                                         str(log), "-d", "1"], tmp_path / "radvd.out")
        wait_for_text(log, "version", proc=rproc)
        host, sock = start_host(pair, tmp_path, setsc_timeout=1.0)
        st = wait_status(sock, lambda s: s["onlink"] and any(
            a["source"] == "ra" and a["ready"] for a in s["addresses"]))
        (r,) = st["routers"]
        assert r["address"] == "fe80::ff:fe00:1" and r["lifetime"] == 600
        (a,) = [a for a in st["addresses"] if a["source"] == "ra"]
        assert a["type"] is None and IPv6Address(a["address"]) in IPv6Network("2001:db8:1::/64")
        plen, flags, ci = kernel_addrs(pair.cli_ns, pair.cli_if)[IPv6Address(a["address"])]
        assert plen == 64 and not flags & IFA_F_NODAD  # on-link: DAD kept
        assert ci["ifa_preferred"] <= 14400 and ci["ifa_valid"] <= 86400
        # only the agent's address: kernel SLAAC is off on the interface
        assert [x for x in kernel_addrs(pair.cli_ns, pair.cli_if)
                if x in IPv6Network("2001:db8:1::/64")] == [IPv6Address(a["address"])]
        from pyroute2 import NetNS
        with NetNS(pair.cli_ns) as n:
            gws = [rt.get("RTA_GATEWAY") for rt in n.get_routes(family=socket.AF_INET6)
                   if rt["dst_len"] == 0]
        assert "fe80::ff:fe00:1" in gws
        # no DHCPv6 server: a typed setsc fails within its bound, as not supported
        s = udp()
        with pytest.raises(EAI_REQUIREDIPNOTSUPPORTED):
            setsc(s, MT.FIXED, timeout=1.0, path=sock)
        s.close()
        stop(host)
