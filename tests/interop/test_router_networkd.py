"""systemd-networkd as a DHCPv6-PD client of the odm router agent.

networkd runs in the client namespace inside a private mount namespace of
its own: a fresh tmpfs on ``/run`` (its state, ``/run/systemd/netif``, owned
by systemd-network, which it drops to), the test's directory bind-mounted
over ``/etc/systemd/network`` (one ``.network`` file for the veth end), and
a read-only sysfs of the network namespace on ``/sys`` (so it enumerates the
namespace's links, and, /sys being read-only as in a container, does not
wait for a udev that is not there). No D-Bus: networkd waits for the bus
without needing it. Its DUID is DUID-LL (``DUIDType=link-layer``), so it does
not depend on the machine id; ``UseAddress=no``: it asks IA_PD only.

When networkd asks (RFC 4861 §4.2, systemd.network(5), systemd 252): with
the default ``[IPv6AcceptRA] DHCPv6Client=yes`` it starts DHCPv6 only when an
RA says M (Solicit) or O (Information-request only): behind odm's RAs, which
have M=0 and O=0, it asks nothing. ``DHCPv6Client=always`` makes it solicit
IA_PD with M=0. Both ways are tested: M=0 with ``always``, M=1 with the
default. networkd 252 sends no Release when it stops (its lease is "lost";
the router reclaims the prefix at valid lifetime), so none is expected.

Proof: the router's binding for networkd's DUID and its route via networkd's
link-local address; networkd's own log and its unreachable route for the
delegated prefix in the client namespace (proto dhcp: the null route RFC 7084
§4.3 WPD-5 asks of a requesting router); a Renew with the same prefix; a
capture that tshark and ``odm pcap check`` find clean.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
from peercheck import clean, needs
from router_pair import netns_ok, router_pair, wait_until

_ok, _why = netns_ok()
NETWORKD = "/lib/systemd/systemd-networkd"


def _user_exists(name: str) -> bool:
    import pwd
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


pytestmark = [pytest.mark.interop, pytest.mark.netns,
              pytest.mark.skipif(not _ok, reason=_why),
              needs(NETWORKD, package="systemd"), needs("tshark", package="tshark"),
              pytest.mark.skipif(not _user_exists("systemd-network"),
                                 reason="no systemd-network user (Debian systemd creates it)")]

RTPROT_DHCP = 16


def networkd_argv(network_dir: Path) -> list[str]:
    """networkd in its private mount namespace (module docstring)."""
    script = " && ".join([
        "mount -t tmpfs tmpfs /run",
        "mount -t sysfs -o ro sysfs /sys",
        "mkdir -p /etc/systemd/network",
        f"mount --bind {network_dir} /etc/systemd/network",
        "mkdir -p /run/systemd/netif",
        "chown -R systemd-network:systemd-network /run/systemd/netif",
        f"exec {NETWORKD}"])
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def unreachable_routes(ns: str) -> set[str]:
    """Destinations of the unreachable routes networkd installed (proto dhcp)."""
    from pyroute2 import NetNS
    with NetNS(ns) as n:
        return {f"{r.get_attr('RTA_DST')}/{r['dst_len']}"
                for r in n.get_routes(family=socket.AF_INET6)
                if r["proto"] == RTPROT_DHCP and r["type"] == 7}  # RTN_UNREACHABLE


@pytest.mark.parametrize("managed,client_mode", [(False, "always"), (True, None)],
                         ids=["M0-DHCPv6Client-always", "M1-default"])
def test_networkd_gets_and_renews_a_prefix(tmp_path, managed, client_mode):
    with router_pair(tmp_path) as p:
        pcap = tmp_path / f"systemd-networkd-{'M1' if managed else 'M0'}-odm-router.pcap"
        cap = p.capture(p.rtr_ns, p.rtr_if, pcap, "udp or icmp6")
        p.start_router(p.config(pref=10, valid=20, t1=2, t2=8, managed=managed))
        net = tmp_path / "network"
        net.mkdir()
        ra = f"[IPv6AcceptRA]\nDHCPv6Client={client_mode}\n" if client_mode else ""
        (net / "50-odm.network").write_text(
            f"[Match]\nName={p.cli_if}\n\n[Network]\nDHCP=ipv6\nIPv6AcceptRA=yes\n"
            "LinkLocalAddressing=ipv6\n\n[DHCPv6]\nUseAddress=no\nDUIDType=link-layer\n\n"
            + ra)
        log = tmp_path / "networkd.log"
        nd = p.spawn(p.cli_ns, networkd_argv(net), log,
                     env={"SYSTEMD_LOG_LEVEL": "debug", "SYSTEMD_LOG_TARGET": "console"})

        def bindings():
            return p.status()["interfaces"][0]["bindings"]

        def counters():
            return p.status()["interfaces"][0]["counters"]

        (b,) = wait_until(bindings, 15, what="a binding for networkd")
        ll = p.link_local(p.cli_ns, p.cli_if)
        assert b["client-ll"] == ll and b["mobility-type"] == "legacy"
        assert b["duid"] == "00:03:00:01:02:00:00:00:01:02"  # DUID-LL of its MAC
        wait_until(lambda: p.odm_routes() == {b["prefix"]: ll}, 5, what="the route")
        wait_until(lambda: f"received delegated prefix {b['prefix']}"
                   in log.read_text(errors="replace"), 5, what="networkd's log line")
        wait_until(lambda: b["prefix"] in unreachable_routes(p.cli_ns), 5,
                   what="networkd's route for the delegated prefix")
        wait_until(lambda: counters()["pkt6-renew-received"] >= 1, 10, what="a Renew")
        (b2,) = bindings()
        assert (b2["prefix"], b2["duid"]) == (b["prefix"], b["duid"])
        c = counters()
        assert c["pkt6-receive-drop"] == 0 and c["pkt6-parse-failed"] == 0
        assert c["internal-errors"] == 0
        assert c["pkt6-infrequest-received"] == 0
        assert p.stop(nd, signal.SIGTERM) == 0
        assert "DHCPv6 lease lost" in log.read_text(errors="replace")
        p.stop(cap, signal.SIGINT)
        clean(pcap, pcap.name, min_dhcp6=4)
