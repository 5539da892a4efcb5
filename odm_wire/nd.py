"""Router Solicitation / Router Advertisement model and codec (RFC 4861 §4.1,
§4.2, §4.6), with odm's mobility type in the PIO flag octet.

The ICMPv6 message is what a raw ``IPPROTO_ICMPV6`` socket reads and writes:
type, code, checksum, body, options. The IPv6 header (hop limit, source) is the
adapter's; the validation rules that need it live in :mod:`odm_wire.rules`.

The mobility type of an on-link prefix is the low three bits (mask 0x07) of the
PIO's flag octet (draft-feng-dmm-ra-prefixtype §3.1, DESIGN §2); 0 = no type.
"""

from __future__ import annotations

import struct
from ipaddress import IPv6Address
from typing import Any

from odm_wire.constants import Icmp6Type, MobilityType, NdOptionType, mobility_type_or_raw
from odm_wire.dhcp6 import _addr, _speedups
from odm_wire.errors import WireFormatError
from odm_wire.model import Container, model

__all__ = [
    "Mtu",
    "NdOption",
    "PrefixInformation",
    "Rdnss",
    "RouterAdvertisement",
    "RouterSolicitation",
    "SourceLinkLayerAddress",
    "TargetLinkLayerAddress",
    "UnknownNdOption",
    "decode_nd",
    "encode_nd",
    "icmpv6_checksum",
]

_RA_HDR = struct.Struct("!BBHBBHII")
_PIO = struct.Struct("!BBBBII4s16s")


class NdOption:
    """Base of ND options: 8-bit type, 8-bit length in units of 8 octets."""

    option_type: int

    def encode(self) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError


@model
class _LinkLayerAddress(NdOption):
    """The layout of the Source and Target Link-Layer Address options (RFC 4861
    §4.6.1): ``link_layer_address`` is the raw address (6 octets on
    Ethernet); padding is kept in ``padding``."""

    link_layer_address: bytes
    padding: bytes = b""

    def encode(self) -> bytes:
        return _tlv(self.option_type, self.link_layer_address + self.padding)


@model
class SourceLinkLayerAddress(_LinkLayerAddress):
    """Source Link-Layer Address option (1), RFC 4861 §4.6.1."""

    option_type = NdOptionType.SOURCE_LINK_LAYER_ADDRESS


@model
class TargetLinkLayerAddress(_LinkLayerAddress):
    """Target Link-Layer Address option (2), RFC 4861 §4.6.1."""

    option_type = NdOptionType.TARGET_LINK_LAYER_ADDRESS


@model
class PrefixInformation(NdOption):
    """Prefix Information option (3), RFC 4861 §4.6.2, 32 octets.

    Lifetimes in seconds (0xffffffff = infinity). Flags: ``on_link`` (L),
    ``autonomous`` (A), ``router_address`` (R, RFC 6275), ``pd_preferred``
    (P, RFC 9762), ``reserved_flag`` (0x08, unassigned) and ``mobility_type``
    (mask 0x07: a :class:`MobilityType`, 0 for none, or a reserved int).
    """

    prefix_length: int
    prefix: IPv6Address
    valid_lifetime: int
    preferred_lifetime: int
    on_link: bool = True
    autonomous: bool = True
    router_address: bool = False
    pd_preferred: bool = False
    mobility_type: MobilityType | int = 0
    reserved_flag: bool = False
    reserved2: int = 0

    option_type = NdOptionType.PREFIX_INFORMATION

    @property
    def flags(self) -> int:
        """The whole flag octet."""
        mt = int(self.mobility_type)
        if not 0 <= mt <= 7:
            raise WireFormatError(f"PIO mobility type {mt} does not fit 3 bits")
        return ((0x80 if self.on_link else 0) | (0x40 if self.autonomous else 0)
                | (0x20 if self.router_address else 0) | (0x10 if self.pd_preferred else 0)
                | (0x08 if self.reserved_flag else 0) | mt)

    def encode(self) -> bytes:
        return _PIO.pack(3, 4, self.prefix_length, self.flags, self.valid_lifetime,
                         self.preferred_lifetime, struct.pack("!I", self.reserved2),
                         self.prefix.packed)

    @property
    def network(self) -> str:
        return f"{self.prefix}/{self.prefix_length}"


@model
class Mtu(NdOption):
    """MTU option (5), RFC 4861 §4.6.4: MTU in octets."""

    mtu: int
    reserved: int = 0

    option_type = NdOptionType.MTU

    def encode(self) -> bytes:
        return struct.pack("!BBHI", 5, 1, self.reserved, self.mtu)


@model
class Rdnss(NdOption):
    """Recursive DNS Server option (25), RFC 8106 §5.1: lifetime in seconds and
    the server addresses."""

    lifetime: int
    servers: tuple[IPv6Address, ...] = ()
    reserved: int = 0

    option_type = NdOptionType.RDNSS

    def encode(self) -> bytes:
        body = struct.pack("!HI", self.reserved, self.lifetime) + b"".join(
            a.packed for a in self.servers)
        return bytes((25, 1 + 2 * len(self.servers))) + body


@model
class UnknownNdOption(NdOption):
    """An ND option odm does not model (RFC 4861 §4.2: skipped, kept as octets).
    ``data`` is everything after the type and length octets."""

    nd_type: int
    data: bytes

    @property
    def option_type(self) -> int:  # type: ignore[override]
        return self.nd_type

    def encode(self) -> bytes:
        n = len(self.data) + 2
        if n % 8:
            raise WireFormatError(f"ND option {self.nd_type} of {n} octets is not a multiple of 8")
        return bytes((self.nd_type, n // 8)) + self.data


def _tlv(t: int, data: bytes) -> bytes:
    n = len(data) + 2
    pad = (-n) % 8
    return bytes((t, (n + pad) // 8)) + data + bytes(pad)


class _NdContainer(Container):
    """An RS or RA: option lookup (:class:`~odm_wire.model.Container`) and its PIOs."""

    @property
    def prefixes(self) -> list[PrefixInformation]:
        return [o for o in self.options if type(o) is PrefixInformation]


@model
class RouterSolicitation(_NdContainer):
    """Router Solicitation (ICMPv6 133), RFC 4861 §4.1."""

    options: tuple[NdOption, ...] = ()
    code: int = 0
    checksum: int = 0
    reserved: int = 0

    icmp_type = Icmp6Type.ROUTER_SOLICITATION


@model
class RouterAdvertisement(_NdContainer):
    """Router Advertisement (ICMPv6 134), RFC 4861 §4.2.

    ``router_lifetime`` in seconds (0: not a default router), ``reachable_time``
    and ``retrans_timer`` in milliseconds. Flag octet: ``managed`` (M),
    ``other`` (O), ``home_agent`` (H, RFC 6275), ``router_preference`` (2 bits,
    RFC 4191: 0 medium, 1 high, 3 low), ``proxy`` (P, RFC 4389), and the two
    remaining ``reserved_flags``.
    """

    cur_hop_limit: int = 64
    managed: bool = False
    other: bool = False
    router_lifetime: int = 1800
    reachable_time: int = 0
    retrans_timer: int = 0
    options: tuple[NdOption, ...] = ()
    home_agent: bool = False
    router_preference: int = 0
    proxy: bool = False
    reserved_flags: int = 0
    code: int = 0
    checksum: int = 0

    icmp_type = Icmp6Type.ROUTER_ADVERTISEMENT

    @property
    def flags(self) -> int:
        """The whole flag octet. Raises :class:`WireFormatError` when
        ``router_preference`` or ``reserved_flags`` does not fit its 2 bits."""
        if not (0 <= self.router_preference <= 3 and 0 <= self.reserved_flags <= 3):
            raise WireFormatError(
                f"RA router_preference {self.router_preference} / reserved_flags "
                f"{self.reserved_flags} do not fit 2 bits")
        return ((0x80 if self.managed else 0) | (0x40 if self.other else 0)
                | (0x20 if self.home_agent else 0) | ((self.router_preference & 3) << 3)
                | (0x04 if self.proxy else 0) | (self.reserved_flags & 3))


# ------------------------------------------------------------------------ decode
_PIO_BODY = struct.Struct("!BBIII")
_PIO_BODY_unpack = _PIO_BODY.unpack_from
_new = object.__new__
# flag octet → (on_link, autonomous, router_address, pd_preferred, mobility_type,
# reserved_flag): one table lookup instead of six bit tests per PIO.
_PIO_FLAGS = [(bool(f & 0x80), bool(f & 0x40), bool(f & 0x20), bool(f & 0x10),
               mobility_type_or_raw(f & 7), bool(f & 8)) for f in range(256)]


def _decode_nd_options(buf: bytes, pos: int) -> tuple[NdOption, ...]:
    out: list[NdOption] = []
    o: Any
    append = out.append
    end = len(buf)
    while pos < end:
        if end - pos < 2:
            raise WireFormatError("truncated ND option header", pos)
        t, n = buf[pos], buf[pos + 1]
        if n == 0:
            raise WireFormatError(
                f"ND option {t} has length 0 (RFC 4861 §4.6: the packet must be dropped)", pos)
        oe = pos + 8 * n
        if oe > end:
            raise WireFormatError(
                f"ND option {t} length {n} ({8 * n} octets) runs past the message", pos)
        if t == 3:
            if n != 4:
                raise WireFormatError(f"Prefix Information option length must be 4, not {n}",
                                      pos)
            plen, fl, vl, pl, r2 = _PIO_BODY_unpack(buf, pos + 2)
            if plen > 128:
                raise WireFormatError(f"PIO prefix length {plen} exceeds 128", pos + 2)
            o = _new(PrefixInformation)
            d = o.__dict__
            d["prefix_length"] = plen
            d["prefix"] = _addr(buf[pos + 16:oe])
            d["valid_lifetime"] = vl
            d["preferred_lifetime"] = pl
            (d["on_link"], d["autonomous"], d["router_address"], d["pd_preferred"],
             d["mobility_type"], d["reserved_flag"]) = _PIO_FLAGS[fl]
            d["reserved2"] = r2
            append(o)
        elif t == 1 or t == 2:
            data = buf[pos + 2:oe]
            # Ethernet: 6-octet address + no padding in an 8-octet option.
            lla = data[:6] if n == 1 else data
            o = _new(SourceLinkLayerAddress if t == 1 else TargetLinkLayerAddress)
            d = o.__dict__
            d["link_layer_address"] = lla
            d["padding"] = data[len(lla):]
            append(o)
        elif t == 5:
            if n != 1:
                raise WireFormatError(f"MTU option length must be 1, not {n}", pos)
            r, mtu = struct.unpack_from("!HI", buf, pos + 2)
            append(Mtu(mtu, r))
        elif t == 25:
            if n < 3 or (n - 1) % 2:
                raise WireFormatError(f"RDNSS option length {n} is not odd and >= 3", pos)
            r, life = struct.unpack_from("!HI", buf, pos + 2)
            servers = tuple(_addr(buf[p:p + 16]) for p in range(pos + 8, oe, 16))
            append(Rdnss(life, servers, r))
        else:
            append(UnknownNdOption(t, buf[pos + 2:oe]))
        pos = oe
    return tuple(out)


def decode_nd(data: bytes) -> RouterSolicitation | RouterAdvertisement:
    """Decode an ICMPv6 Router Solicitation or Router Advertisement (the ICMPv6
    message, without the IPv6 header). Raises :class:`WireFormatError` for a
    truncated header (RS < 8, RA < 16 octets), another ICMPv6 type, an option of
    length 0 (RFC 4861 §4.6), an option running past the message, a PIO whose
    length is not 4, an MTU option whose length is not 1, or a malformed RDNSS.
    The checksum is kept, not verified (the kernel verifies it on receipt)."""
    if type(data) is not bytes:
        data = bytes(data)
    if len(data) < 4:
        raise WireFormatError("ICMPv6 message shorter than 4 octets", 0)
    t = data[0]
    if t == 134:
        if len(data) < 16:
            raise WireFormatError(f"Router Advertisement of {len(data)} octets is shorter "
                                  "than 16", 0)
        _, code, ck, hl, fl, rl, rt, rtt = _RA_HDR.unpack_from(data)
        o = _new(RouterAdvertisement)
        d = o.__dict__
        d["cur_hop_limit"] = hl
        d["managed"] = fl & 0x80 != 0
        d["other"] = fl & 0x40 != 0
        d["router_lifetime"] = rl
        d["reachable_time"] = rt
        d["retrans_timer"] = rtt
        d["options"] = _decode_nd_options(data, 16)
        d["home_agent"] = fl & 0x20 != 0
        d["router_preference"] = (fl >> 3) & 3
        d["proxy"] = fl & 4 != 0
        d["reserved_flags"] = fl & 3
        d["code"] = code
        d["checksum"] = ck
        return o
    if t == 133:
        if len(data) < 8:
            raise WireFormatError(f"Router Solicitation of {len(data)} octets is shorter "
                                  "than 8", 0)
        _, code, ck, r = struct.unpack_from("!BBHI", data)
        return RouterSolicitation(_decode_nd_options(data, 8), code, ck, r)
    raise WireFormatError(f"ICMPv6 type {t} is not a Router Solicitation or Advertisement", 0)


#: The pure-Python decoder: the reference the compiled one is tested against,
#: and what runs when :mod:`odm_wire._speedups` is not built.
decode_nd_py = decode_nd
if _speedups is not None:
    decode_nd = _speedups.bind_nd(globals())
    decode_nd.__doc__ = decode_nd_py.__doc__


# ------------------------------------------------------------------------ encode
def icmpv6_checksum(src: IPv6Address, dst: IPv6Address, message: bytes) -> int:
    """The ICMPv6 checksum (RFC 4443 §2.3) of ``message`` (checksum field taken
    as zero) between ``src`` and ``dst``."""
    m = bytearray(message)
    m[2:4] = b"\0\0"
    pseudo = src.packed + dst.packed + struct.pack("!IxxxB", len(m), 58) + bytes(m)
    if len(pseudo) % 2:
        pseudo += b"\0"
    s = sum(struct.unpack(f"!{len(pseudo) // 2}H", pseudo))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF or 0xFFFF


def _encode_nd_body(msg: RouterSolicitation | RouterAdvertisement) -> bytes:
    """The ICMPv6 octets of an RS or RA with its ``checksum`` field as is.
    Raises :class:`WireFormatError` for values that do not fit."""
    try:
        if type(msg) is RouterAdvertisement:
            hdr = _RA_HDR.pack(134, msg.code, msg.checksum, msg.cur_hop_limit, msg.flags,
                               msg.router_lifetime, msg.reachable_time, msg.retrans_timer)
        elif type(msg) is RouterSolicitation:
            hdr = struct.pack("!BBHI", 133, msg.code, msg.checksum, msg.reserved)
        else:
            raise WireFormatError(f"not an RS or RA: {type(msg).__name__}")
        return hdr + b"".join([o.encode() for o in msg.options])
    except struct.error as exc:
        raise WireFormatError(f"value out of range while encoding: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, WireFormatError):
            raise
        raise WireFormatError(f"cannot encode {type(msg).__name__}: {exc}") from None


#: The pure-Python body encoder (reference of the compiled one).
_encode_nd_body_py = _encode_nd_body
if _speedups is not None:
    _encode_nd_body = _speedups.bind_nd_encoder(globals())


def encode_nd(msg: RouterSolicitation | RouterAdvertisement,
              src: IPv6Address | None = None, dst: IPv6Address | None = None) -> bytes:
    """Encode an RS or RA as an ICMPv6 message (RFC 4861 §4.1, §4.2, §4.6).
    With ``src`` and ``dst`` the checksum is computed (RFC 4443 §2.3; for pcaps
    and packet sockets); without them the message's ``checksum`` field is
    written as is (a raw ICMPv6 socket fills it in). Raises
    :class:`WireFormatError` for values that do not fit."""
    out = _encode_nd_body(msg)
    if src is not None and dst is not None:
        ck = icmpv6_checksum(IPv6Address(src), IPv6Address(dst), out)
        out = out[:2] + struct.pack("!H", ck) + out[4:]
    return out
