"""From a captured frame to a DHCPv6 or Router Discovery message.

:func:`dissect` peels the link layer (Ethernet with VLAN tags, Linux cooked
v1/v2, raw IPv6, BSD loopback), the IPv6 header and its extension headers
(RFC 8200 §4), then UDP (RFC 768, ports 546/547) or ICMPv6 (RFC 4443), and
decodes the payload with :mod:`odm_wire`. It never raises for bad input: what
is wrong is recorded on the :class:`Packet` (``framing_error``, ``error``,
checksum fields) so ``odm pcap check`` can report it.

:func:`fix_checksums` recomputes the UDP and ICMPv6 checksums of a frame (veth
TX offload leaves them as a partial pseudo-header sum in captures taken on the
sending side).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv6Address

import odm_wire
from odm.pcaptools.capture import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    Frame,
)
from odm_wire.constants import ODM_PEN
from odm_wire.errors import WireFormatError

__all__ = [
    "ND_NAMES",
    "Packet",
    "dissect",
    "dissect_all",
    "fix_checksums",
    "ipv6_offset",
    "l4_checksum",
]

ETH_P_IPV6 = 0x86DD
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58
_EXT_HEADERS = {0, 43, 60, 51, 135, 139, 140}  # HBH, Routing, DestOpts, AH, Mobility, HIP, Shim6
ND_NAMES = {133: "RS", 134: "RA", 135: "NS", 136: "NA", 137: "Redirect"}


@dataclass
class Packet:
    """One frame seen as IPv6 + DHCPv6 / ND.

    ``kind``: ``"dhcp6"`` (UDP 546/547), ``"icmp6"`` (ICMPv6 Router Discovery or
    Neighbor Discovery, types 133–137), or None (anything else: not odm's).
    ``payload`` is the UDP payload or the whole ICMPv6 message and
    ``payload_offset`` its offset in ``frame.data``; ``message`` the odm_wire
    decode (None for NS/NA/Redirect, which odm_wire does not model, or when
    ``error`` is set). ``checksum`` is the captured UDP/ICMPv6 checksum and
    ``checksum_ok`` whether it verifies (None when it could not be computed).
    ``framing_error`` describes a link/IPv6/UDP length fault.
    """

    frame: Frame
    src_mac: str | None = None
    dst_mac: str | None = None
    src: IPv6Address | None = None
    dst: IPv6Address | None = None
    hop_limit: int | None = None
    kind: str | None = None
    sport: int | None = None
    dport: int | None = None
    icmp_type: int | None = None
    ip_offset: int | None = None
    l4_offset: int | None = None
    payload: bytes = b""
    payload_offset: int = 0
    checksum: int | None = None
    checksum_ok: bool | None = None
    checksum_expected: int | None = None
    message: object | None = None
    error: WireFormatError | None = None
    framing_error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.frame.number

    @property
    def time(self) -> float:
        return self.frame.time

    @property
    def error_frame_offset(self) -> int | None:
        """Offset in the frame of the octet the codec error names."""
        if self.error is None or self.error.offset < 0:
            return None
        return self.payload_offset + self.error.offset


def ipv6_offset(linktype: int, data: bytes) -> tuple[int | None, str | None, str | None]:
    """(offset of the IPv6 header, source MAC, destination MAC) in a frame of
    ``linktype``; offset None when the frame does not carry IPv6."""
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            return None, None, None
        dst, src = _mac(data[0:6]), _mac(data[6:12])
        p, et = 12, struct.unpack_from("!H", data, 12)[0]
        while et in (0x8100, 0x88A8, 0x9100) and len(data) >= p + 6:
            p += 4
            et = struct.unpack_from("!H", data, p)[0]
        return (p + 2 if et == ETH_P_IPV6 else None), src, dst
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV6):
        return (0 if data and data[0] >> 4 == 6 else None), None, None
    if linktype == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            return None, None, None
        alen = struct.unpack_from("!H", data, 4)[0]
        src = _mac(data[6:6 + min(alen, 8)]) if alen else None
        return (16 if struct.unpack_from("!H", data, 14)[0] == ETH_P_IPV6 else None), src, None
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(data) < 20:
            return None, None, None
        alen = data[11]
        src = _mac(data[12:12 + min(alen, 8)]) if alen else None
        return (20 if struct.unpack_from("!H", data, 0)[0] == ETH_P_IPV6 else None), src, None
    if linktype == LINKTYPE_NULL:
        if len(data) < 4:
            return None, None, None
        fam = struct.unpack_from("<I", data, 0)[0]
        if fam > 0xFFFF:
            fam = struct.unpack_from(">I", data, 0)[0]
        return (4 if fam in (10, 24, 28, 30) else None), None, None
    return None, None, None


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def l4_checksum(src: IPv6Address, dst: IPv6Address, proto: int, segment: bytes,
                csum_offset: int) -> int:
    """The RFC 8200 §8.1 upper-layer checksum of ``segment`` (UDP datagram or
    ICMPv6 message) with the checksum field at ``csum_offset`` taken as zero."""
    seg = bytearray(segment)
    seg[csum_offset:csum_offset + 2] = b"\0\0"
    data = src.packed + dst.packed + struct.pack("!IxxxB", len(seg), proto) + bytes(seg)
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    s = (~s) & 0xFFFF
    return s or 0xFFFF  # UDP: a computed 0 is sent as 0xffff (RFC 768); ICMPv6 alike


def _walk_ipv6(data: bytes, ip: int) -> tuple[int, int, int, int]:
    """(upper-layer protocol, its offset, end of the IPv6 packet, hop limit).
    Raises ValueError with a reason for a framing fault."""
    if len(data) - ip < 40:
        raise ValueError(f"IPv6 header truncated ({len(data) - ip} octets)")
    if data[ip] >> 4 != 6:
        raise ValueError(f"IP version {data[ip] >> 4} is not 6")
    plen, nh, hlim = struct.unpack_from("!HBB", data, ip + 4)
    end = ip + 40 + plen
    if end > len(data):
        raise ValueError(f"IPv6 payload length {plen} runs past the captured frame "
                         f"({len(data) - ip - 40} octets)")
    p = ip + 40
    while nh in _EXT_HEADERS or nh == 44:
        if end - p < 8:
            raise ValueError(f"extension header {nh} truncated")
        if nh == 44:
            off_m = struct.unpack_from("!H", data, p + 2)[0]
            if off_m & 0xFFF9:
                raise ValueError("fragmented packet (not reassembled)")
            nh, p = data[p], p + 8
            continue
        hlen = (data[p + 1] + 2) * 4 if nh == 51 else (data[p + 1] + 1) * 8
        nh, p = data[p], p + hlen
        if p > end:
            raise ValueError("extension header length runs past the IPv6 payload")
    return nh, p, end, hlim


def dissect(frame: Frame, pen: int = ODM_PEN) -> Packet:
    """Dissect one frame (never raises; faults are recorded on the Packet)."""
    pkt = Packet(frame)
    data = frame.data
    ip, pkt.src_mac, pkt.dst_mac = ipv6_offset(frame.linktype, data)
    if ip is None:
        return pkt
    pkt.ip_offset = ip
    try:
        proto, l4, end, pkt.hop_limit = _walk_ipv6(data, ip)
    except ValueError as exc:
        if len(data) - ip >= 40:
            pkt.src = IPv6Address(data[ip + 8:ip + 24])
            pkt.dst = IPv6Address(data[ip + 24:ip + 40])
        if frame.orig_len > len(data):
            pkt.notes.append(f"frame truncated by the capture's snap length "
                             f"({len(data)} of {frame.orig_len} octets)")
            return pkt
        pkt.framing_error = str(exc)
        return pkt
    pkt.src = IPv6Address(data[ip + 8:ip + 24])
    pkt.dst = IPv6Address(data[ip + 24:ip + 40])
    pkt.l4_offset = l4
    if proto == IPPROTO_UDP:
        if end - l4 < 8:
            pkt.framing_error = "UDP header truncated"
            return pkt
        sport, dport, ulen, ck = struct.unpack_from("!HHHH", data, l4)
        if not ({sport, dport} & {546, 547}):
            return pkt
        pkt.kind, pkt.sport, pkt.dport, pkt.checksum = "dhcp6", sport, dport, ck
        if ulen < 8 or l4 + ulen > end:
            pkt.framing_error = (f"UDP length {ulen} disagrees with the IPv6 payload "
                                 f"({end - l4} octets) (RFC 768, RFC 8200 §8.1)")
            ulen = end - l4
        elif l4 + ulen < end:
            pkt.notes.append(f"{end - l4 - ulen} octets after the UDP datagram")
        seg = data[l4:l4 + ulen]
        pkt.checksum_expected = l4_checksum(pkt.src, pkt.dst, IPPROTO_UDP, seg, 6)
        pkt.checksum_ok = ck != 0 and ck == pkt.checksum_expected
        pkt.payload, pkt.payload_offset = seg[8:], l4 + 8
    elif proto == IPPROTO_ICMPV6:
        if end - l4 < 4 or data[l4] not in ND_NAMES:
            return pkt
        seg = data[l4:end]
        pkt.kind, pkt.icmp_type = "icmp6", data[l4]
        pkt.checksum = struct.unpack_from("!H", seg, 2)[0]
        pkt.checksum_expected = l4_checksum(pkt.src, pkt.dst, IPPROTO_ICMPV6, seg, 2)
        pkt.checksum_ok = pkt.checksum == pkt.checksum_expected
        pkt.payload, pkt.payload_offset = seg, l4
    else:
        return pkt
    if pkt.kind == "icmp6" and pkt.icmp_type not in (133, 134):
        pkt.error = _check_nd_options(pkt.payload, pkt.icmp_type)
        return pkt
    try:
        pkt.message = odm_wire.decode(pkt.payload, pen)
    except WireFormatError as exc:
        pkt.error = exc
    return pkt


def _check_nd_options(msg: bytes, icmp_type: int) -> WireFormatError | None:
    """The option-length rules of RFC 4861 §4.6 for NS/NA/Redirect, which
    odm_wire does not model: returns the first fault, or None."""
    start = {135: 24, 136: 24, 137: 40}[icmp_type]
    if len(msg) < start:
        return WireFormatError(f"{ND_NAMES[icmp_type]} of {len(msg)} octets is shorter "
                               f"than {start}", 0)
    p = start
    while p < len(msg):
        if len(msg) - p < 2:
            return WireFormatError("truncated ND option header", p)
        t, n = msg[p], msg[p + 1]
        if n == 0:
            return WireFormatError(f"ND option {t} has length 0 (RFC 4861 §4.6: the packet "
                                   "must be dropped)", p)
        if p + 8 * n > len(msg):
            return WireFormatError(f"ND option {t} length {n} ({8 * n} octets) runs past "
                                   "the message", p)
        p += 8 * n
    return None


def dissect_all(frames: list[Frame], pen: int = ODM_PEN) -> list[Packet]:
    """:func:`dissect` every frame."""
    return [dissect(f, pen) for f in frames]


def fix_checksums(frame: Frame) -> bytes:
    """The frame's octets with its UDP (DHCPv6) or ICMPv6 checksum recomputed;
    any other frame is returned unchanged."""
    pkt = dissect(frame)
    if pkt.kind is None or pkt.checksum_expected is None or pkt.checksum_ok:
        return frame.data
    b = bytearray(frame.data)
    at = pkt.l4_offset + (6 if pkt.kind == "dhcp6" else 2)
    b[at:at + 2] = struct.pack("!H", pkt.checksum_expected)
    return bytes(b)
