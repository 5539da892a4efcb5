"""Send the frames of a capture out of an interface, with their timing.

Frames go out through an AF_PACKET socket as they were captured (Ethernet);
frames of other link types (raw IPv6, Linux cooked) get an Ethernet header
(RFC 2464 group MACs for multicast, the EUI-64 MAC of a link-local
destination, broadcast otherwise). UDP and ICMPv6 checksums that veth TX
offload left wrong in the capture are recomputed
(:func:`odm.pcaptools.packets.fix_checksums`).

Timing: ``speed`` X plays the gaps between frames X times faster (1 = as
captured); ``topspeed`` sends back to back. ``loop`` repeats the whole capture.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv6Address

from odm.pcaptools.capture import LINKTYPE_ETHERNET, Frame
from odm.pcaptools.craft import mac_from_link_local, multicast_mac
from odm.pcaptools.packets import dissect, fix_checksums, ipv6_offset

__all__ = ["PacketSender", "ReplayFrame", "ReplayStats", "prepare", "replay"]

ETH_P_ALL = 0x0003


@dataclass(frozen=True)
class ReplayFrame:
    """An Ethernet frame ready to send at ``offset`` seconds after the first;
    ``fixed`` tells whether its checksum was corrected."""

    offset: float
    data: bytes
    fixed: bool
    number: int


@dataclass
class ReplayStats:
    sent: int = 0
    octets: int = 0
    fixed: int = 0
    loops: int = 0


def _ethernet(frame: Frame, src_mac: bytes) -> bytes | None:
    if frame.linktype == LINKTYPE_ETHERNET:
        return frame.data
    ip, _, _ = ipv6_offset(frame.linktype, frame.data)
    if ip is None or len(frame.data) < ip + 40:
        return None
    pkt = frame.data[ip:]
    dst = IPv6Address(pkt[24:40])
    if dst.is_multicast:
        dmac = multicast_mac(dst)
    elif dst.is_link_local:
        dmac = mac_from_link_local(dst)
    else:
        dmac = b"\xff" * 6
    return dmac + src_mac + b"\x86\xdd" + pkt


def prepare(frames: list[Frame], keep: Callable[[Frame], bool] | None = None,
            src_mac: bytes = b"\x02\0\0\0\0\xfe", fix: bool = True) -> list[ReplayFrame]:
    """Frames to send (Ethernet), with checksums fixed and time offsets.
    ``keep`` selects frames; frames that cannot be framed are skipped."""
    out = []
    t0 = None
    for f in frames:
        if keep is not None and not keep(f):
            continue
        data = _ethernet(f, src_mac)
        if data is None:
            continue
        fixed = False
        if fix:
            eth = Frame(f.number, f.time, LINKTYPE_ETHERNET, data, len(data))
            new = fix_checksums(eth)
            fixed = new != data
            data = new
        if t0 is None:
            t0 = f.time
        out.append(ReplayFrame(max(0.0, f.time - t0), data, fixed, f.number))
    return out


class PacketSender:
    """An AF_PACKET socket bound to one interface (needs CAP_NET_RAW)."""

    def __init__(self, iface: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            self.sock.bind((iface, 0))
        except OSError:
            self.sock.close()
            raise

    def send(self, data: bytes) -> None:
        self.sock.send(data)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def replay(frames: list[ReplayFrame], send: Callable[[bytes], None], *, speed: float = 1.0,
           topspeed: bool = False, loop: int = 1,
           on_sent: Callable[[ReplayFrame], None] | None = None,
           clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> ReplayStats:
    """Send ``frames`` ``loop`` times through ``send``. Raises ValueError for
    a speed ≤ 0 or loop < 1."""
    if speed <= 0:
        raise ValueError("speed must be > 0")
    if loop < 1:
        raise ValueError("loop must be ≥ 1")
    stats = ReplayStats()
    for _ in range(loop):
        start = clock()
        for f in frames:
            if not topspeed:
                wait = start + f.offset / speed - clock()
                if wait > 0:
                    sleep(wait)
            send(f.data)
            stats.sent += 1
            stats.octets += len(f.data)
            stats.fixed += f.fixed
            if on_sent is not None:
                on_sent(f)
        stats.loops += 1
    return stats


def odm_only(frame: Frame) -> bool:
    """Keep DHCPv6 and ND frames only."""
    return dissect(frame).kind is not None
