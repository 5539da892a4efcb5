"""Helpers shared by the tests of tests/wire: annotated hex, captures, tshark."""

from __future__ import annotations

from pathlib import Path

#: captures of real third-party peers (Kea, dhcp6c, dhclient, dhcpcd, radvd)
PEERS = Path(__file__).resolve().parents[2] / "pcaps" / "peers"

SERVER_LL = "fe80::ff:fe00:1"
CLIENT_LL = "fe80::ff:fe00:2"
SERVER_MAC = "02:00:00:00:00:01"
CLIENT_MAC = "02:00:00:00:00:02"


def hexv(pairs: list[tuple[str, str]]) -> bytes:
    """Octets of an annotated vector: a list of ``(hex, comment)`` pairs; spaces
    inside the hex are ignored."""
    return bytes.fromhex("".join(h.replace(" ", "") for h, _ in pairs))


def peer_payloads(path: Path) -> list[tuple[int, str, bytes]]:
    """``(frame number, kind, payload)`` of every DHCPv6 (UDP 546/547) and
    RS/RA (ICMPv6 133/134) packet of a capture, read with scapy; kind is
    ``dhcp6`` or ``icmp6``."""
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import rdpcap

    out = []
    for n, pkt in enumerate(rdpcap(str(path)), 1):
        if UDP in pkt and {pkt[UDP].sport, pkt[UDP].dport} & {546, 547}:
            out.append((n, "dhcp6", bytes(pkt[UDP].payload)))
        elif IPv6 in pkt and pkt[IPv6].nh == 58:
            icmp = bytes(pkt[IPv6].payload)
            if icmp and icmp[0] in (133, 134):
                out.append((n, "icmp6", icmp))
    return out
