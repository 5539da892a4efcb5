"""Build capture frames from odm_wire messages, without a network: for tests,
for crafted fault captures, and for writing what the probe saw to a pcap.

:func:`frame_for` wraps a DHCPv6 payload in UDP or an ICMPv6 message in IPv6
and Ethernet (RFC 2464 multicast MACs), with correct checksums unless told
otherwise.
"""

from __future__ import annotations

import struct
from ipaddress import IPv6Address

import odm_wire
from odm.pcaptools.packets import l4_checksum
from odm_wire import nd

__all__ = ["frame_for", "ipv6_packet", "mac_bytes", "mac_from_link_local", "multicast_mac"]


def mac_bytes(mac: str | bytes) -> bytes:
    """``02:00:00:00:00:01`` or 6 octets → 6 octets."""
    if isinstance(mac, bytes):
        return mac
    return bytes(int(x, 16) for x in mac.split(":"))


def multicast_mac(dst: IPv6Address) -> bytes:
    """The Ethernet address of an IPv6 multicast group (RFC 2464 §7)."""
    return b"\x33\x33" + dst.packed[12:]


def mac_from_link_local(addr: IPv6Address) -> bytes:
    """The MAC an EUI-64 link-local address was formed from (RFC 4291 App. A)."""
    b = addr.packed[8:]
    return bytes((b[0] ^ 0x02,)) + b[1:3] + b[5:8]


def ipv6_packet(src: IPv6Address, dst: IPv6Address, proto: int, segment: bytes,
                hop_limit: int) -> bytes:
    """A 40-octet IPv6 header (RFC 8200 §3) followed by ``segment``."""
    return (struct.pack("!IHBB", 0x60000000, len(segment), proto, hop_limit)
            + src.packed + dst.packed + segment)


def frame_for(msg_or_payload, src: str | IPv6Address, dst: str | IPv6Address, *,
              src_mac: str | bytes | None = None, dst_mac: str | bytes | None = None,
              hop_limit: int | None = None, sport: int | None = None,
              dport: int | None = None, bad_checksum: bool = False,
              kind: str | None = None) -> bytes:
    """An Ethernet frame carrying a DHCPv6 message (UDP) or an RS/RA (ICMPv6).

    ``msg_or_payload``: an odm_wire message, or raw payload octets with
    ``kind`` (``"dhcp6"`` or ``"icmp6"``). Ports default from the message
    direction (client 546 → server 547 and back); the hop limit to 255 for
    ND (RFC 4861 §6.1) and 1 for multicast DHCPv6 / 64 for unicast. MACs default
    to the EUI-64 MAC of a link-local source and the RFC 2464 group address.
    ``bad_checksum`` leaves a wrong checksum (as TX offload does).
    """
    src, dst = IPv6Address(src), IPv6Address(dst)
    if isinstance(msg_or_payload, (bytes, bytearray)):
        payload = bytes(msg_or_payload)
        if kind is None:
            kind = "icmp6" if payload and payload[0] in (133, 134, 135, 136, 137) else "dhcp6"
    else:
        kind = "icmp6" if isinstance(msg_or_payload, (nd.RouterAdvertisement,
                                                      nd.RouterSolicitation)) else "dhcp6"
        payload = (nd.encode_nd(msg_or_payload) if kind == "icmp6"
                   else odm_wire.encode(msg_or_payload))
    if kind == "icmp6":
        seg = bytearray(payload)
        seg[2:4] = b"\0\0"
        ck = l4_checksum(src, dst, 58, bytes(seg), 2)
        seg[2:4] = struct.pack("!H", ck ^ 0x5A5A if bad_checksum else ck)
        proto, hl = 58, 255 if hop_limit is None else hop_limit
    else:
        mt = payload[0] if payload else 0
        from_server = mt in (2, 7, 10, 13)
        sp = sport or (547 if from_server else 546)
        dp = dport or (546 if from_server else 547)
        seg = bytearray(struct.pack("!HHHH", sp, dp, 8 + len(payload), 0) + payload)
        ck = l4_checksum(src, dst, 17, bytes(seg), 6)
        seg[6:8] = struct.pack("!H", ck ^ 0x5A5A if bad_checksum else ck)
        proto = 17
        hl = hop_limit if hop_limit is not None else (1 if dst.is_multicast else 64)
    if dst_mac is None:
        dmac = multicast_mac(dst) if dst.is_multicast else (
            mac_from_link_local(dst) if dst.is_link_local else b"\x02\0\0\0\0\xff")
    else:
        dmac = mac_bytes(dst_mac)
    if src_mac is None:
        smac = mac_from_link_local(src) if src.is_link_local else b"\x02\0\0\0\0\xfe"
    else:
        smac = mac_bytes(src_mac)
    return dmac + smac + b"\x86\xdd" + ipv6_packet(src, dst, proto, bytes(seg), hl)

