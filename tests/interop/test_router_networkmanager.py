"""NetworkManager (1.42, its internal DHCPv6 client) as a requesting router
behind the odm router agent, with the RA's M flag off (odm's default) and on
(issue 14, point 4).

NetworkManager asks DHCPv6 for a prefix when a connection with
``ipv6.method=shared`` needs one: here a second veth pair in the client
namespace (``lan0``/``lan0p``; the kernel may lack dummy links) carries that
connection, the veth end towards the router an ``ipv6.method=auto`` one with
``ipv6.dhcp-duid=ll`` (its DUID is DUID-LL, independent of the machine id).

It runs in the client namespace inside a private mount namespace: tmpfs on
``/run``, a read-only sysfs of the network namespace on ``/sys`` (as in a
container: it then treats links as ready without udev), the test's
directories over ``/etc/NetworkManager`` (keyfile plugin, the two
connections) and ``/var/lib/NetworkManager``. It talks to a dbus-daemon of
the test's own (a system-bus configuration listening on a socket in the
test's directory, given by ``DBUS_SYSTEM_BUS_ADDRESS``).

What the RFC and NetworkManager do (RFC 4861 §4.2: M means addresses are
available via DHCPv6):

- M=0, O=0: NetworkManager solicits IA_PD alone ("otherconf" level plus the
  prefix the shared connection asks), gets a /56 and puts a /64 of it on
  ``lan0``; it renews it.
- M=1: it solicits IA_NA with IA_PD, gets only the prefix (odm hands out no
  addresses), logs "no address received in managed mode" and throws the
  whole lease away, again and again: nothing of the prefix reaches ``lan0``.
  This is why odm's RAs carry M=0.

NetworkManager sends no Release when it stops.
"""

from __future__ import annotations

import os
import signal
import socket
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest
from peercheck import clean, needs
from router_pair import netns_ok, router_pair, wait_until

_ok, _why = netns_ok()
pytestmark = [pytest.mark.interop, pytest.mark.netns,
              pytest.mark.skipif(not _ok, reason=_why),
              needs("NetworkManager", package="network-manager"),
              needs("dbus-daemon", package="dbus-daemon"),
              needs("tshark", package="tshark")]

DBUS_CONF = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={bus}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def nm_dirs(tmp: Path, upstream: str) -> tuple[Path, Path]:
    """/etc/NetworkManager and /var/lib/NetworkManager for the test."""
    etc, lib = tmp / "nm-etc", tmp / "nm-lib"
    (etc / "system-connections").mkdir(parents=True)
    (etc / "conf.d").mkdir()
    lib.mkdir()
    (etc / "NetworkManager.conf").write_text(
        "[main]\nplugins=keyfile\nno-auto-default=*\ndhcp=internal\n\n[keyfile]\n"
        f"unmanaged-devices=except:interface-name:{upstream};except:interface-name:lan0\n")
    conns = {
        "up": f"[connection]\nid=up\ntype=ethernet\ninterface-name={upstream}\n\n"
              "[ipv4]\nmethod=disabled\n\n[ipv6]\nmethod=auto\naddr-gen-mode=eui64\n"
              "dhcp-duid=ll\n",
        "lan": "[connection]\nid=lan\ntype=ethernet\ninterface-name=lan0\n\n"
               "[ipv4]\nmethod=disabled\n\n[ipv6]\nmethod=shared\naddr-gen-mode=eui64\n"}
    for name, text in conns.items():
        f = etc / "system-connections" / f"{name}.nmconnection"
        f.write_text(text)
        os.chmod(f, 0o600)  # the keyfile plugin ignores files others can read
    return etc, lib


def nm_argv(etc: Path, lib: Path) -> list[str]:
    script = " && ".join([
        "mount -t tmpfs tmpfs /run", "mount -t sysfs -o ro sysfs /sys",
        f"mount --bind {etc} /etc/NetworkManager", "mkdir -p /var/lib/NetworkManager",
        f"mount --bind {lib} /var/lib/NetworkManager",
        "exec NetworkManager --debug --log-level=DEBUG --log-domains=DHCP6,IP6,DEVICE,CORE"])
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def lan0_addrs(ns: str) -> set[IPv6Address]:
    from pyroute2 import NetNS
    with NetNS(ns) as n:
        idx = n.link_lookup(ifname="lan0")[0]
        return {IPv6Address(a.get_attr("IFA_ADDRESS"))
                for a in n.get_addr(family=socket.AF_INET6, index=idx)}


@pytest.mark.parametrize("managed", [False, True], ids=["M0", "M1"])
def test_networkmanager_shares_a_delegated_prefix_only_when_m_is_off(tmp_path, managed):
    with router_pair(tmp_path) as p:
        pcap = tmp_path / f"networkmanager-{'M1' if managed else 'M0'}-odm-router.pcap"
        cap = p.capture(p.rtr_ns, p.rtr_if, pcap, "udp or icmp6")
        p.start_router(p.config(pref=10, valid=20, t1=2, t2=8, managed=managed, rapid=False))
        from pyroute2 import NetNS
        with NetNS(p.cli_ns) as n:
            n.link("add", ifname="lan0", kind="veth", peer="lan0p")
            for ifn in ("lan0", "lan0p"):
                n.link("set", index=n.link_lookup(ifname=ifn)[0], state="up")
        bus = tmp_path / "system_bus_socket"
        (tmp_path / "dbus.conf").write_text(DBUS_CONF.format(bus=bus))
        dbus = p.spawn(p.cli_ns, ["dbus-daemon", "--nofork", "--nopidfile",
                                  f"--config-file={tmp_path / 'dbus.conf'}"],
                       tmp_path / "dbus.log")
        wait_until(lambda: bus.exists() or dbus.poll() is not None, 5, what="the bus")
        assert dbus.poll() is None, (tmp_path / "dbus.log").read_text()
        etc, lib = nm_dirs(tmp_path, p.cli_if)
        log = tmp_path / "NetworkManager.log"
        nm = p.spawn(p.cli_ns, nm_argv(etc, lib), log,
                     env={"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={bus}"})

        def bindings():
            return p.status()["interfaces"][0]["bindings"]

        def counters():
            return p.status()["interfaces"][0]["counters"]

        (b,) = wait_until(bindings, 20, what="a binding for NetworkManager")
        ll = p.link_local(p.cli_ns, p.cli_if)
        assert b["client-ll"] == ll and b["duid"] == "00:03:00:01:02:00:00:00:01:02"
        wait_until(lambda: p.odm_routes() == {b["prefix"]: ll}, 5, what="the route")
        prefix = IPv6Network(b["prefix"])
        if not managed:
            got = wait_until(lambda: {a for a in lan0_addrs(p.cli_ns) if a in prefix}, 10,
                             what="an address of the delegated prefix on lan0")
            assert IPv6Network((min(got), 64), strict=False).subnet_of(prefix)
            wait_until(lambda: counters()["pkt6-renew-received"] >= 1, 10, what="a Renew")
            (b2,) = bindings()
            assert b2["prefix"] == b["prefix"]
            assert "no address received in managed mode" not in log.read_text(errors="replace")
        else:
            wait_until(lambda: log.read_text(errors="replace").count(
                "no address received in managed mode") >= 2, 15,
                what="NetworkManager refusing the lease twice")
            assert not {a for a in lan0_addrs(p.cli_ns) if a in prefix}
        c = counters()
        assert c["pkt6-receive-drop"] == 0 and c["pkt6-parse-failed"] == 0
        assert c["internal-errors"] == 0
        assert p.stop(nm, signal.SIGTERM) == 0
        p.stop(cap, signal.SIGINT)
        clean(pcap, pcap.name, min_dhcp6=4)
