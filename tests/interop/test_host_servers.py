"""The odm host agent against DHCPv6 servers and RA senders other than Kea
and radvd (issue 14's interop widening): ISC dhcpd -6, WIDE dhcp6s and
dnsmasq in ra-only mode.

Each runs in the server namespace of a fresh veth pair
(tests/interop/probe_netns.py) with its configuration, leases and state in
the test's tmp dir; ``odm host run`` runs on the other end. The proof is read
from the agent's status (bound IA_PDs, addresses, drop counters), the
kernel's addresses, the peer's own log, and a capture of the link that tshark
and ``odm pcap check`` find clean. Each test is skipped, naming the program
and its Debian package, when the peer is not installed (.ci/install
installs them).
"""

from __future__ import annotations

import socket
import subprocess
from ipaddress import IPv6Address, IPv6Network

import pytest
from host_kea import start_host, wait_status
from peercheck import capture, clean, end_capture, needs
from probe_netns import netns_ok, veth_pair, wait_for_text
from router_pair import private_mounts

from host.api import EAI_REQUIREDIPNOTSUPPORTED, setsc
from odm_wire.constants import MobilityType as MT

_ok, _why = netns_ok()
pytestmark = [pytest.mark.interop, pytest.mark.netns,
              pytest.mark.skipif(not _ok, reason=_why),
              needs("tshark", package="tshark")]

#: The odm host's DUID on the pair's client end (DUID-LL of 02:00:00:00:00:02,
#: RFC 8415 §11.4): WIDE dhcp6s delegates prefixes to DUIDs it is told.
HOST_DUID = "00:03:00:01:02:00:00:00:00:02"


def bound(st) -> list[dict]:
    return [ia for ia in st["ia_pds"] if ia["state"] == "bound"]


def kernel_addrs(ns: str, ifname: str) -> dict:
    from pyroute2 import NetNS
    with NetNS(ns) as n:
        idx = n.link_lookup(ifname=ifname)[0]
        return {IPv6Address(a.get("IFA_ADDRESS")): a["prefixlen"]
                for a in n.get_addr(family=socket.AF_INET6, index=idx)}


def add_addr(ns: str, ifname: str, address: str, prefixlen: int = 64) -> None:
    from pyroute2 import NetNS
    with NetNS(ns) as n:
        n.addr("add", index=n.link_lookup(ifname=ifname)[0], address=address,
               prefixlen=prefixlen)


def server_ports(pcap) -> set[int]:
    """UDP source ports of the server's DHCPv6 messages (Advertise, Reply)."""
    out = subprocess.run(["tshark", "-r", str(pcap), "-Y",
                          "dhcpv6.msgtype == 2 || dhcpv6.msgtype == 7",
                          "-T", "fields", "-e", "udp.srcport"], capture_output=True,
                         text=True, check=False).stdout
    return {int(x) for x in out.split()}


def legacy_prefix_renewed_and_released(tmp_path, pair, host, sock, pool: str,
                                       released_text: str, server_log) -> dict:
    """The common proof: one legacy prefix of ``pool`` bound (its /128 in the
    kernel), renewed, and released when the agent stops (``released_text``
    in the server's log); no datagram dropped."""
    st = wait_status(sock, bound, 15)
    (ia,) = bound(st)
    (p,) = ia["prefixes"]
    assert IPv6Network(p["prefix"]).subnet_of(IPv6Network(pool))
    (a,) = [x for x in st["addresses"] if x["prefix"] == p["prefix"]]
    assert a["type"] is None and a["source"] == "dhcpv6-pd"
    assert kernel_addrs(pair.cli_ns, pair.cli_if)[IPv6Address(a["address"])] == 128
    wait_for_text(tmp_path / "host.log", "PrefixRenewed: prefix="
                  + p["prefix"], timeout=10)
    st = wait_status(sock, lambda s: True)
    assert "PrefixExpired" not in (tmp_path / "host.log").read_text()
    assert st["drops"]["dhcp6"] == {}, st["drops"]
    host.terminate()
    assert host.wait(10) == 0
    wait_for_text(server_log, released_text.format(prefix=p["prefix"]), timeout=5)
    assert IPv6Address(a["address"]) not in kernel_addrs(pair.cli_ns, pair.cli_if)
    return p


@needs("dhcpd", package="isc-dhcp-server")
def test_isc_dhcpd6_delegates_renews_and_is_released(tmp_path):
    """ISC dhcpd -6 with a prefix6 pool: the four-message exchange, Renew at
    T1 (dhcpd derives T1 = 2 s, T2 = 3.2 s from preferred-lifetime 4), a typed
    setsc() on a server without odm options is EAI_REQUIREDIPNOTSUPPORTED, and
    the Release at stop frees the prefix in dhcpd."""
    with veth_pair() as pair:
        add_addr(pair.srv_ns, pair.srv_if, "2001:db8:1::1")  # dhcpd -6 serves a subnet6
        conf = tmp_path / "dhcpd6.conf"
        conf.write_text("default-lease-time 8;\nmax-lease-time 8;\nmin-lease-time 4;\n"
                        "preferred-lifetime 4;\n"
                        "subnet6 2001:db8:1::/64 {\n"
                        "  prefix6 2001:db8:8000:: 2001:db8:80ff:: /56;\n}\n")
        (tmp_path / "dhcpd6.leases").write_text("")
        pcap = tmp_path / "isc-dhcpd6-odm-host.pcap"
        cap = capture(pair, pair.srv_ns, pair.srv_if, pcap)
        log = tmp_path / "dhcpd.log"
        proc = pair.spawn(pair.srv_ns, ["dhcpd", "-6", "-f", "-d", "-cf", str(conf),
                                        "-lf", str(tmp_path / "dhcpd6.leases"),
                                        "-pf", str(tmp_path / "dhcpd.pid"), pair.srv_if], log)
        wait_for_text(log, "Server starting service.", proc=proc)
        host, sock = start_host(pair, tmp_path, setsc_timeout=2.0)
        wait_status(sock, bound, 15)
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        with pytest.raises(EAI_REQUIREDIPNOTSUPPORTED):
            setsc(s, MT.FIXED, timeout=2.0, path=sock)
        s.close()
        legacy_prefix_renewed_and_released(
            tmp_path, pair, host, sock, "2001:db8:8000::/40",
            f"Client {HOST_DUID} releases prefix {{prefix}}", log)
        text = log.read_text()
        assert "Renew message from fe80::ff:fe00:2" in text
        end_capture(cap)
        assert server_ports(pcap) == {547}
        clean(pcap, pcap.name, min_dhcp6=8)


@needs("dhcp6s", package="wide-dhcpv6-server")
def test_wide_dhcp6s_answers_from_an_ephemeral_port_and_is_used(tmp_path):
    """WIDE dhcp6s (20080615) delegates the prefix configured for the host's
    DUID and sends every Advertise and Reply from an ephemeral UDP port; RFC
    8415 §7.2 fixes only the ports servers listen on, so the host uses them
    (issue 14, point 5: it dropped them silently before): bound, renewed,
    released at stop, nothing counted as dropped. dhcp6s's DUID file goes to
    the test's directory (private mount namespace)."""
    with veth_pair() as pair:
        conf = tmp_path / "dhcp6s.conf"
        conf.write_text(f"host odmhost {{\n  duid {HOST_DUID};\n"
                        "  prefix 2001:db8:8000::/56 4 8;\n};\n")
        db = tmp_path / "dhcp6s-db"
        db.mkdir()
        pcap = tmp_path / "wide-dhcp6s-odm-host.pcap"
        cap = capture(pair, pair.srv_ns, pair.srv_if, pcap)
        log = tmp_path / "dhcp6s.log"
        proc = pair.spawn(pair.srv_ns, private_mounts(
            {"/var/lib/dhcpv6": db}, ["dhcp6s", "-f", "-D", "-c", str(conf),
                                      "-p", str(tmp_path / "dhcp6s.pid"), pair.srv_if]), log)
        wait_for_text(log, "server6_init", proc=proc)
        host, sock = start_host(pair, tmp_path)
        legacy_prefix_renewed_and_released(
            tmp_path, pair, host, sock, "2001:db8:8000::/56",
            "bound prefix {prefix} has been released", log)
        assert "received renew from fe80::ff:fe00:2" in log.read_text()
        end_capture(cap)
        ports = server_ports(pcap)
        assert ports and 547 not in ports, ports
        clean(pcap, pcap.name, min_dhcp6=8)


@needs("dnsmasq", package="dnsmasq-base")
def test_dnsmasq_ra_only_gives_an_untyped_address_and_no_typed_prefix(tmp_path):
    """dnsmasq --enable-ra with an ra-only range: its RA (M=0, O=0, a PIO
    without odm's type) is processed: router and on-link prefix learnt, an
    untyped address formed, no typed prefix, no DHCPv6 server found (a typed
    setsc() is EAI_REQUIREDIPNOTSUPPORTED), nothing dropped, and the agent
    stops cleanly."""
    with veth_pair() as pair:
        add_addr(pair.srv_ns, pair.srv_if, "2001:db8:1::1")
        pcap = tmp_path / "dnsmasq-ra-only-odm-host.pcap"
        cap = capture(pair, pair.srv_ns, pair.srv_if, pcap)
        log = tmp_path / "dnsmasq.log"
        proc = pair.spawn(pair.srv_ns, [
            "dnsmasq", "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null",
            "--port=0", "--user=root", "--group=root", f"--interface={pair.srv_if}",
            "--bind-interfaces", "--enable-ra", "--dhcp-range=2001:db8:1::,ra-only,64,1h",
            f"--ra-param={pair.srv_if},4,600", f"--pid-file={tmp_path / 'dnsmasq.pid'}",
            f"--dhcp-leasefile={tmp_path / 'dnsmasq.leases'}"], log)
        wait_for_text(log, "router advertisement enabled", proc=proc)
        host, sock = start_host(pair, tmp_path, setsc_timeout=1.0)
        st = wait_status(sock, lambda s: s["onlink"] and any(
            a["source"] == "ra" and a["ready"] for a in s["addresses"]), 15)
        (r,) = st["routers"]
        assert r["address"] == "fe80::ff:fe00:1" and r["lifetime"] == 600
        assert not r["managed"] and not r["other"]
        (a,) = [a for a in st["addresses"] if a["source"] == "ra"]
        assert a["type"] is None
        assert IPv6Address(a["address"]) in IPv6Network("2001:db8:1::/64")
        assert kernel_addrs(pair.cli_ns, pair.cli_if)[IPv6Address(a["address"])] == 64
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        with pytest.raises(EAI_REQUIREDIPNOTSUPPORTED):
            setsc(s, MT.FIXED, timeout=1.0, path=sock)
        s.close()
        st = wait_status(sock, lambda s: True)
        assert st["network_types"] == [] and not bound(st)
        assert all(x["type"] is None for x in st["addresses"])
        assert st["drops"] == {"dhcp6": {}, "ra": {}}, st["drops"]
        assert host.poll() is None
        host.terminate()
        assert host.wait(10) == 0
        assert "Traceback" not in (tmp_path / "host.log").read_text()
        assert "RTR-SOLICIT" in log.read_text()  # the host's RS was answered
        end_capture(cap)
        clean(pcap, pcap.name, min_dhcp6=1)
