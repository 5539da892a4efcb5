"""Everything in a capture that is not DHCPv6 or Router Discovery, in a few
words, for the ladder diagrams (``odm pcap flow --data``): TCP segments
(SYN, SYN+ACK, data, FIN, RST), UDP datagrams, ICMPv6 errors and echoes
(RFC 4443), and packets tunnelled in IPv6 (RFC 2473), SRv6 (RFC 8754 Segment
Routing Header, routing type 4) or VXLAN (RFC 7348, UDP port 4789, an inner
Ethernet frame carrying IPv6) with what they carry — the encapsulations of
odm's data-plane backends (:mod:`router.dataplane`).

:func:`summarise` never raises: a frame it cannot read gives None.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv6Address

from odm.pcaptools.capture import Frame
from odm.pcaptools.packets import ipv6_offset

__all__ = ["ICMP6_NAMES", "Traffic", "summarise"]

ICMP6_NAMES = {1: "Destination Unreachable", 2: "Packet Too Big", 3: "Time Exceeded",
               4: "Parameter Problem", 128: "Echo Request", 129: "Echo Reply"}
_UNREACH = {0: "no route", 1: "administratively prohibited", 2: "beyond scope of source",
            3: "address unreachable", 4: "port unreachable", 5: "source address failed policy",
            6: "reject route"}
#: ICMPv6 types left out: MLD (130-132, 143) and ND (133-137), shown elsewhere or noise
_SKIP_ICMP6 = {130, 131, 132, 133, 134, 135, 136, 137, 143}
_EXT = {0, 43, 60, 51}
VXLAN_PORT = 4789


@dataclass(frozen=True)
class Traffic:
    """One IPv6 packet in short. ``proto``: ``"TCP"``, ``"UDP"``, ``"ICMPv6"``
    or ``"IP-<n>"``; ``event``: ``SYN``, ``SYN+ACK``, ``ACK``, ``data``,
    ``FIN``, ``RST`` (TCP), ``datagram`` (UDP) or the ICMPv6 message name;
    ``length``: octets of payload; ``inner``: the tunnelled packet and
    ``tunnel`` ``"SRv6"`` / ``"IPv6-in-IPv6"`` / ``"VXLAN"``; ``key``: octets identifying
    the packet across links (addresses and upper layer, not the hop limit)."""

    src: IPv6Address
    dst: IPv6Address
    proto: str
    event: str
    sport: int | None = None
    dport: int | None = None
    length: int = 0
    inner: Traffic | None = None
    tunnel: str | None = None
    key: bytes = b""

    @property
    def innermost(self) -> Traffic:
        return self.inner.innermost if self.inner is not None else self

    def conversation(self) -> tuple:
        """Both directions of one TCP/UDP conversation (or ICMPv6 pair) share this."""
        t = self.innermost
        ends = sorted([(t.src, t.sport or 0), (t.dst, t.dport or 0)])
        return (self.tunnel, self.src if self.tunnel else None,
                self.dst if self.tunnel else None, t.proto, *ends)


def _tcp(seg: bytes) -> tuple[int, int, str, int] | None:
    if len(seg) < 20:
        return None
    sport, dport, _seq, _ack, off_flags = struct.unpack_from("!HHIIH", seg, 0)
    hlen = (off_flags >> 12) * 4
    flags = off_flags & 0x3F
    data = max(0, len(seg) - hlen)
    if flags & 0x04:
        ev = "RST"
    elif flags & 0x02:
        ev = "SYN+ACK" if flags & 0x10 else "SYN"
    elif flags & 0x01:
        ev = "FIN"
    elif data:
        ev = "data"
    else:
        ev = "ACK"
    return sport, dport, ev, data


def _packet(data: bytes, ip: int, depth: int = 0) -> Traffic | None:
    if len(data) - ip < 40 or data[ip] >> 4 != 6 or depth > 3:
        return None
    plen, nh = struct.unpack_from("!HB", data, ip + 4)
    src, dst = IPv6Address(data[ip + 8:ip + 24]), IPv6Address(data[ip + 24:ip + 40])
    end = min(len(data), ip + 40 + plen)
    p, srh = ip + 40, False
    while nh in _EXT:
        if end - p < 8:
            return None
        if nh == 43 and data[p + 2] == 4:
            srh = True
        hlen = (data[p + 1] + 2) * 4 if nh == 51 else (data[p + 1] + 1) * 8
        nh, p = data[p], p + hlen
    if p > end:
        return None
    seg = data[p:end]
    key = data[ip + 8:ip + 40] + bytes([nh]) + seg[:64]
    if nh == 41:
        inner = _packet(data, p, depth + 1)
        if inner is None:
            return None
        return Traffic(src, dst, inner.proto, inner.event, inner.sport, inner.dport,
                       inner.length, inner, "SRv6" if srh else "IPv6-in-IPv6", key)
    if nh == 6:
        t = _tcp(seg)
        if t is None:
            return None
        return Traffic(src, dst, "TCP", t[2], t[0], t[1], t[3], key=key)
    if nh == 17:
        if len(seg) < 8:
            return None
        sport, dport = struct.unpack_from("!HH", seg, 0)
        # VXLAN (RFC 7348 §5): 8-octet header with the I flag, then Ethernet
        if dport == VXLAN_PORT and len(seg) >= 8 + 8 + 14 + 40 and seg[8] & 0x08 \
                and seg[8 + 8 + 12:8 + 8 + 14] == b"\x86\xdd":
            inner = _packet(data, p + 8 + 8 + 14, depth + 1)
            if inner is None:  # tunnelled ND / MLD: left out as it is untunnelled
                return None
            return Traffic(src, dst, inner.proto, inner.event, inner.sport, inner.dport,
                           inner.length, inner, "VXLAN", key)
        return Traffic(src, dst, "UDP", "datagram", sport, dport, len(seg) - 8, key=key)
    if nh == 58:
        if len(seg) < 4 or seg[0] in _SKIP_ICMP6:
            return None
        name = ICMP6_NAMES.get(seg[0], f"ICMPv6 type {seg[0]}")
        if seg[0] == 1:
            name += f" ({_UNREACH.get(seg[1], f'code {seg[1]}')})"
        return Traffic(src, dst, "ICMPv6", name, length=len(seg), key=key)
    if nh == 59:
        return None
    return Traffic(src, dst, f"IP-{nh}", "packet", length=len(seg), key=key)


def summarise(frame: Frame) -> Traffic | None:
    """The :class:`Traffic` of a frame, or None (not IPv6, MLD/ND, unreadable)."""
    ip, _, _ = ipv6_offset(frame.linktype, frame.data)
    if ip is None:
        return None
    try:
        return _packet(frame.data, ip)
    except (struct.error, ValueError, IndexError):
        return None
