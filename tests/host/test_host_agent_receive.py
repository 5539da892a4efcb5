"""The host agent's adapter hands every DHCPv6 datagram received on its
socket to the core, whatever the server's source port: RFC 8415 §7.2 fixes
the ports clients and servers listen on, not the one a server sends from
(WIDE dhcp6s answers from an ephemeral port). Real UDP sockets on the
loopback address; the core is a recorder."""

from __future__ import annotations

import socket
from ipaddress import IPv6Address

import pytest
from hosthelp import config

from host.io.agent import HostAgent


class Recorder:
    def __init__(self) -> None:
        self.got: list[tuple[bytes, IPv6Address, str]] = []

    def handle_datagram(self, data, src, now, *, kind="dhcp6", hop_limit=255, ifname=None):
        self.got.append((data, src, kind))


class Loop:
    def time(self) -> float:
        return 0.0


@pytest.mark.parametrize("src_port", [547, 0])  # 0: an ephemeral port
def test_datagram_from_any_server_source_port_reaches_the_core(src_port):
    a = HostAgent(config(state_file=None))
    a.loop = Loop()
    a.core = Recorder()
    a._kick = lambda: None
    rx = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        rx.bind(("::1", 0))
        rx.setblocking(False)
        try:
            tx.bind(("::1", src_port))
        except PermissionError:
            pytest.skip("binding port 547 needs CAP_NET_BIND_SERVICE")
        except OSError as exc:
            pytest.skip(f"cannot bind [::1]:{src_port}: {exc}")
        a.dhcp = rx
        tx.sendto(b"\x07\x00\x00\x01", rx.getsockname()[:2])
        rx.setblocking(True)
        rx.settimeout(5)
        rx.recvfrom(65535, socket.MSG_PEEK)  # wait until it is queued
        rx.setblocking(False)
        a._on_dhcp()
        assert a.core.got == [(b"\x07\x00\x00\x01", IPv6Address("::1"), "dhcp6")]
    finally:
        rx.close()
        tx.close()
