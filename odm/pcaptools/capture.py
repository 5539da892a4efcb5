"""Capture files: read classic pcap and pcapng, write classic pcap.

No third-party library: the two formats are small, and owning the reader lets
``odm pcap check`` say exactly which frame of a file is broken. Supported:

* classic pcap (both byte orders, microsecond and nanosecond magic);
* pcapng (Section Header, Interface Description, Enhanced and Simple Packet
  Blocks, several interfaces with their own link types; other blocks skipped).

Link types that :mod:`odm.pcaptools.packets` understands: Ethernet (1), raw IP
(101, 228 IPv4 / 229 IPv6), Linux cooked v1 (113) and v2 (276), BSD loopback (0).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_RAW",
    "CaptureError",
    "Frame",
    "read_capture",
    "read_capture_until_damage",
    "write_pcap",
]

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB = 0x0A0D0D0A


class CaptureError(ValueError):
    """A capture file that cannot be read: ``reason`` and the file ``offset``
    (octets from the start of the file) where reading stopped. ``frames``:
    the whole frames read before that point (empty when the file header
    itself is bad)."""

    def __init__(self, reason: str, offset: int, frames: list[Frame] | None = None) -> None:
        super().__init__(f"{reason} (file offset {offset})")
        self.reason = reason
        self.offset = offset
        self.frames: list[Frame] = list(frames or [])
        self.header_ok = frames is not None

    def where(self) -> str:
        """Where the readable part ends, in words: 'after frame N (file offset X)'."""
        n = len(self.frames)
        at = f"after frame {n}" if n else "before the first frame"
        return f"{at} (file offset {self.offset}): {self.reason}"


@dataclass(frozen=True)
class Frame:
    """One captured frame: ``number`` (1-based, as Wireshark counts), ``time``
    (seconds since the epoch, float), ``linktype`` (a LINKTYPE_* value),
    ``data`` (the captured octets), ``orig_len`` (octets on the wire)."""

    number: int
    time: float
    linktype: int
    data: bytes
    orig_len: int


def read_capture(path: str | Path) -> list[Frame]:
    """Read every frame of a pcap or pcapng file.

    Raises:
        CaptureError: not a capture file, or a truncated / inconsistent block.
        OSError: the file cannot be opened.
    """
    buf = Path(path).read_bytes()
    if len(buf) < 4:
        raise CaptureError("file shorter than a capture header", 0)
    if buf[:4] in _PCAP_MAGICS:
        return _read_pcap(buf)
    if struct.unpack("<I", buf[:4])[0] == _PCAPNG_SHB:
        return _read_pcapng(buf)
    raise CaptureError(f"unknown capture magic {buf[:4].hex()}", 0)


def read_capture_until_damage(path: str | Path) -> tuple[list[Frame], CaptureError | None]:
    """Read a capture up to the first damaged record, as tshark and Wireshark
    show what a cut-short file holds: ``(frames, damage)`` with ``damage``
    the :class:`CaptureError` where reading stopped (None when the file is
    whole).

    Raises:
        CaptureError: not a capture file at all (bad magic or file header).
        OSError: the file cannot be opened.
    """
    try:
        return read_capture(path), None
    except CaptureError as exc:
        if not exc.header_ok:
            raise
        return exc.frames, exc


def _read_pcap(buf: bytes) -> list[Frame]:
    order, unit = _PCAP_MAGICS[buf[:4]]
    if len(buf) < 24:
        raise CaptureError("truncated pcap global header", 0)
    linktype = struct.unpack_from(order + "I", buf, 20)[0] & 0x0FFFFFFF
    rec = struct.Struct(order + "IIII")
    frames: list[Frame] = []
    pos = 24
    while pos < len(buf):
        if len(buf) - pos < 16:
            raise CaptureError("truncated pcap record header", pos, frames)
        sec, frac, incl, orig = rec.unpack_from(buf, pos)
        if pos + 16 + incl > len(buf):
            raise CaptureError(f"pcap record of {incl} octets runs past the file", pos,
                               frames)
        frames.append(Frame(len(frames) + 1, sec + frac * unit, linktype,
                            buf[pos + 16:pos + 16 + incl], orig))
        pos += 16 + incl
    return frames


def _read_pcapng(buf: bytes) -> list[Frame]:
    frames: list[Frame] = []
    order = "<"
    ifaces: list[tuple[int, float]] = []  # (linktype, seconds per timestamp unit)
    pos = 0

    def fail(reason: str, at: int) -> CaptureError:
        # damage in the first block (the Section Header) leaves no capture at all
        return CaptureError(reason, at, frames if pos else None)

    while pos < len(buf):
        if len(buf) - pos < 12:
            raise fail("truncated pcapng block header", pos)
        btype = struct.unpack_from(order + "I", buf, pos)[0]
        if btype == _PCAPNG_SHB:
            bom = buf[pos + 8:pos + 12]
            order = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">" if bom == b"\x1a\x2b\x3c\x4d" \
                else None
            if order is None:
                raise fail("bad pcapng byte-order magic", pos + 8)
            ifaces = []
        blen = struct.unpack_from(order + "I", buf, pos + 4)[0]
        if blen < 12 or blen % 4 or pos + blen > len(buf):
            raise fail(f"pcapng block length {blen} is invalid", pos + 4)
        body = buf[pos + 8:pos + blen - 4]
        if btype == 1:  # Interface Description Block
            linktype = struct.unpack_from(order + "H", body, 0)[0]
            ifaces.append((linktype, _if_tsresol(body[8:], order)))
        elif btype == 6:  # Enhanced Packet Block
            ifid, hi, lo, incl, orig = struct.unpack_from(order + "IIIII", body, 0)
            if ifid >= len(ifaces):
                raise fail(f"packet on undeclared interface {ifid}", pos)
            if 20 + incl > len(body):
                raise fail("enhanced packet block data runs past its block", pos)
            lt, unit = ifaces[ifid]
            frames.append(Frame(len(frames) + 1, ((hi << 32) | lo) * unit, lt,
                                body[20:20 + incl], orig))
        elif btype == 3:  # Simple Packet Block
            if not ifaces:
                raise fail("simple packet block before any interface", pos)
            orig = struct.unpack_from(order + "I", body, 0)[0]
            frames.append(Frame(len(frames) + 1, 0.0, ifaces[0][0],
                                body[4:4 + orig], orig))
        pos += blen
    return frames


def _if_tsresol(opts: bytes, order: str) -> float:
    """Timestamp unit of an interface from its if_tsresol option (default µs)."""
    p = 0
    while p + 4 <= len(opts):
        code, n = struct.unpack_from(order + "HH", opts, p)
        if code == 0:
            break
        if code == 9 and n >= 1:
            v = opts[p + 4]
            return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        p += 4 + n + (-n % 4)
    return 1e-6


def write_pcap(path: str | Path, frames: list[Frame] | list[tuple[float, bytes]],
               linktype: int = LINKTYPE_ETHERNET) -> None:
    """Write a classic little-endian microsecond pcap.

    ``frames``: :class:`Frame` objects or ``(time_seconds, octets)`` pairs; all
    are written under ``linktype`` (a Frame's own link type must match it).
    Raises :class:`ValueError` when a Frame has another link type.
    """
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for f in frames:
        if isinstance(f, Frame):
            if f.linktype != linktype:
                raise ValueError(f"frame {f.number} has link type {f.linktype}, "
                                 f"not {linktype}")
            t, data, orig = f.time, f.data, f.orig_len
        else:
            t, data = f
            orig = len(data)
        sec = int(t)
        usec = round((t - sec) * 1e6)
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        out.append(struct.pack("<IIII", sec, usec, len(data), orig) + data)
    Path(path).write_bytes(b"".join(out))
