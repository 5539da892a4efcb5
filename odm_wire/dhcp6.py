"""DHCPv6 codec (RFC 8415), with odm's mobility-type option.

Every message and option is a frozen dataclass named after the RFC's fields
(:mod:`odm_wire.dhcp6_messages`, :mod:`odm_wire.dhcp6_options`,
:mod:`odm_wire.duid`); this module re-exports all of them, so
``from odm_wire.dhcp6 import Solicit, IAPD, decode_dhcp6`` is the one import.
:func:`decode_dhcp6` turns one UDP payload into a message, :func:`encode_dhcp6`
turns a message back into octets; ``encode_dhcp6(decode_dhcp6(b)) == b`` for
every well-formed ``b`` (unknown options and foreign vendor data are kept as
octets). Malformed input raises :class:`~odm_wire.errors.WireFormatError` with
the offset; a decode either returns a whole message or raises.

The hot path is written for speed (the router agent decodes and encodes every
datagram): objects built by the decoder skip the dataclass ``__init__`` and fill
the instance dict directly; they are ordinary, equal-comparing, hashable frozen
dataclass instances all the same.
"""

from __future__ import annotations

import os
import struct
from ipaddress import IPv6Address

from odm_wire.constants import ODM_PEN, OptionCode, mobility_type_or_raw
from odm_wire.constants import (
    StatusCode as StatusCodeValue,
)
from odm_wire.dhcp6_messages import (
    MESSAGE_CLASSES,
    Advertise,
    Confirm,
    Decline,
    InformationRequest,
    Message,
    Rebind,
    Reconfigure,
    RelayForw,
    RelayMessage,
    RelayRepl,
    Release,
    Renew,
    Reply,
    Request,
    Solicit,
)
from odm_wire.dhcp6_options import (
    IANA,
    IAPD,
    ClientId,
    ElapsedTime,
    IAAddr,
    IAPrefix,
    InfMaxRt,
    InterfaceId,
    MobilityTypeSubOption,
    OdmVendorOpts,
    Option,
    OptionRequest,
    Preference,
    RapidCommit,
    ReconfigureAccept,
    ReconfigureMessage,
    RelayMsg,
    ServerId,
    SolMaxRt,
    StatusCode,
    SupportedTypesSubOption,
    UnknownOption,
    UnknownSubOption,
    VendorOpts,
    VendorSubOption,
    _encode_options,
    _Memo,  # noqa: F401 - part of this module's surface (tests/wire)
    first_mobility_type,
    mobility_type_option,
    odm_suboptions,
)
from odm_wire.duid import (
    Duid,
    DuidEN,
    DuidLL,
    DuidLLT,
    DuidUnknown,
    DuidUUID,
    decode_duid,
    encode_duid,
)
from odm_wire.errors import WireFormatError

__all__ = [
    "IANA",
    "IAPD",
    "MESSAGE_CLASSES",
    "Advertise",
    "ClientId",
    "Confirm",
    "Decline",
    "Duid",
    "DuidEN",
    "DuidLL",
    "DuidLLT",
    "DuidUUID",
    "DuidUnknown",
    "ElapsedTime",
    "IAAddr",
    "IAPrefix",
    "InfMaxRt",
    "InformationRequest",
    "InterfaceId",
    "Message",
    "MobilityTypeSubOption",
    "OdmVendorOpts",
    "Option",
    "OptionRequest",
    "Preference",
    "RapidCommit",
    "Rebind",
    "Reconfigure",
    "ReconfigureAccept",
    "ReconfigureMessage",
    "RelayForw",
    "RelayMessage",
    "RelayMsg",
    "RelayRepl",
    "Release",
    "Renew",
    "Reply",
    "Request",
    "ServerId",
    "SolMaxRt",
    "Solicit",
    "StatusCode",
    "SupportedTypesSubOption",
    "UnknownOption",
    "VendorOpts",
    "VendorSubOption",
    "decode_dhcp6",
    "decode_duid",
    "encode_dhcp6",
    "encode_duid",
    "first_mobility_type",
    "mobility_type_option",
    "odm_suboptions",
]

_HH = struct.Struct("!HH")
_I = struct.Struct("!I")
_III = struct.Struct("!III")
_IIB = struct.Struct("!IIB")
_III_unpack = _III.unpack_from
_IIB_unpack = _IIB.unpack_from
_new = object.__new__
_from_bytes = int.from_bytes


# ------------------------------------------------------------------------ decoder
# Decoders take (buf, start, end, pen, depth) where buf[start:end] is the
# option-data and depth the nesting level of the option list it sits in; they
# return the option object; offsets in errors are absolute in ``buf``.

#: Deepest option nesting a datagram may have (a relay chain of
#: HOP_COUNT_LIMIT relays, RFC 8415 §7.6, carrying IA_PD → IAPREFIX → options
#: needs about a dozen); deeper input is rejected, never recursed into.
MAX_NESTING = 32

_CACHE_MAX = 4096
_ADDR_CACHE: dict[bytes, IPv6Address] = {}


def _addr(raw: bytes) -> IPv6Address:
    """IPv6Address from 16 octets, interned (addresses such as ``::`` hints and
    server link-locals repeat in nearly every datagram). A new one is built
    without ``IPv6Address.__init__``'s type dispatch: the 16 octets are known
    to be a packed address, so the instance gets its integer directly."""
    a = _ADDR_CACHE.get(raw)
    if a is None:
        if len(_ADDR_CACHE) >= _CACHE_MAX:
            _ADDR_CACHE.clear()
        a = _new(IPv6Address)
        # the two fields ipaddress itself reads (the fast path skips its __init__)
        a._ip = _from_bytes(raw, "big")  # type: ignore[attr-defined]
        a._scope_id = None  # type: ignore[attr-defined]
        _ADDR_CACHE[raw] = a
    return a


def _d_clientid(buf, s, e, pen, depth):
    return ClientId(decode_duid(buf, s, e))


def _d_serverid(buf, s, e, pen, depth):
    return ServerId(decode_duid(buf, s, e))


def _d_ia(cls):
    name = "IA_PD" if cls.code == OptionCode.IA_PD else "IA_NA"

    def dec(buf, s, e, pen, depth):
        if e - s < 12:
            raise WireFormatError(f"{name} option-len {e - s} is shorter than 12", s - 4)
        iaid, t1, t2 = _III.unpack_from(buf, s)
        return cls(iaid, t1, t2, _decode_options(buf, s + 12, e, pen, depth + 1))
    return dec


def _d_iaaddr(buf, s, e, pen, depth):
    if e - s < 24:
        raise WireFormatError(f"IAADDR option-len {e - s} is shorter than 24", s - 4)
    pl, vl = struct.unpack_from("!II", buf, s + 16)
    return IAAddr(_addr(buf[s:s + 16]), pl, vl, _decode_options(buf, s + 24, e, pen, depth + 1))


def _d_iaprefix(buf, s, e, pen, depth):
    if e - s < 25:
        raise WireFormatError(f"IAPREFIX option-len {e - s} is shorter than 25", s - 4)
    o = _new(IAPrefix)
    d = o.__dict__
    d["preferred_lifetime"], d["valid_lifetime"], plen = _IIB_unpack(buf, s)
    if plen > 128:
        raise WireFormatError(f"IAPREFIX prefix-length {plen} exceeds 128", s + 8)
    d["prefix_length"] = plen
    d["prefix"] = _addr(buf[s + 9:s + 25])
    d["options"] = _decode_options(buf, s + 25, e, pen, depth + 1) if e > s + 25 else ()
    return o


def _d_oro(buf, s, e, pen, depth):
    n = e - s
    if n & 1:
        raise WireFormatError(f"ORO option-len {n} is odd", s - 4)
    return OptionRequest(struct.unpack_from(f"!{n >> 1}H", buf, s))


def _d_pref(buf, s, e, pen, depth):
    if e - s != 1:
        raise WireFormatError(f"Preference option-len must be 1, not {e - s}", s - 4)
    return Preference(buf[s])


def _d_elapsed(buf, s, e, pen, depth):
    if e - s != 2:
        raise WireFormatError(f"Elapsed Time option-len must be 2, not {e - s}", s - 4)
    return ElapsedTime((buf[s] << 8) | buf[s + 1])


def _d_relaymsg(buf, s, e, pen, depth):
    return RelayMsg(_decode_message(buf, s, e, pen, depth + 1))


_STATUS = {int(v): v for v in StatusCodeValue}


def _d_status(buf, s, e, pen, depth):
    if e - s < 2:
        raise WireFormatError(f"Status Code option-len {e - s} is shorter than 2", s - 4)
    v = (buf[s] << 8) | buf[s + 1]
    return StatusCode(_STATUS.get(v, v), buf[s + 2:e].decode("utf-8", "surrogateescape"))


def _d_rapid(buf, s, e, pen, depth):
    if e != s:
        raise WireFormatError(f"Rapid Commit option-len must be 0, not {e - s}", s - 4)
    return _RAPID


def _d_vendor(buf, s, e, pen, depth):
    if e - s < 4:
        raise WireFormatError(
            f"Vendor-specific Information option-len {e - s} is shorter than its "
            "4-octet enterprise-number", s - 4)
    en = _I.unpack_from(buf, s)[0]
    if en != pen:
        return VendorOpts(en, buf[s + 4:e])
    subs = []
    p = s + 4
    while p < e:
        if e - p < 4:
            raise WireFormatError(
                f"{e - p} octets left where a 4-octet odm sub-option header is due", p)
        code, n = _HH.unpack_from(buf, p)
        ds = p + 4
        de = ds + n
        if de > e:
            raise WireFormatError(
                f"odm sub-option {code} length {n} runs past its vendor option", p)
        if code == 1:
            if n != 1:
                raise WireFormatError(
                    f"odm MOBILITY_TYPE sub-option length must be 1, not {n}", p)
            subs.append(_MT_SUBOPTS[buf[ds]])
        elif code == 2:
            subs.append(SupportedTypesSubOption(tuple(mobility_type_or_raw(b)
                                                      for b in buf[ds:de])))
        else:
            subs.append(UnknownSubOption(code, buf[ds:de]))
        p = de
    return OdmVendorOpts(tuple(subs), en)


def _d_ifid(buf, s, e, pen, depth):
    return InterfaceId(buf[s:e])


def _d_reconf_msg(buf, s, e, pen, depth):
    if e - s != 1:
        raise WireFormatError(f"Reconfigure Message option-len must be 1, not {e - s}", s - 4)
    return ReconfigureMessage(buf[s])


def _d_reconf_accept(buf, s, e, pen, depth):
    if e != s:
        raise WireFormatError(f"Reconfigure Accept option-len must be 0, not {e - s}", s - 4)
    return ReconfigureAccept()


def _d_u32(cls, name):
    def dec(buf, s, e, pen, depth):
        if e - s != 4:
            raise WireFormatError(f"{name} option-len must be 4, not {e - s}", s - 4)
        return cls(_I.unpack_from(buf, s)[0])
    return dec


_RAPID = RapidCommit()
_MT_SUBOPTS = [MobilityTypeSubOption(mobility_type_or_raw(v)) for v in range(256)]

_DECODERS = {
    1: _d_clientid, 2: _d_serverid, 3: _d_ia(IANA), 5: _d_iaaddr, 6: _d_oro, 7: _d_pref,
    8: _d_elapsed, 9: _d_relaymsg, 13: _d_status, 14: _d_rapid, 17: _d_vendor, 18: _d_ifid,
    19: _d_reconf_msg, 20: _d_reconf_accept, 25: _d_ia(IAPD), 26: _d_iaprefix,
    82: _d_u32(SolMaxRt, "SOL_MAX_RT"), 83: _d_u32(InfMaxRt, "INF_MAX_RT"),
}

#: Options whose value repeats across datagrams (Elapsed Time 0, the usual
#: ORO, Preference, Status Code, odm's vendor option, the server's own DUID,
#: IAPREFIX hints and prefixes echoed in Renew/Reply): their decoded object is
#: interned by the option's octets. The objects are
#: immutable, so sharing them is safe. One table per (PEN, nesting depth): what
#: an option's octets decode to depends on the PEN, and whether its nested
#: options fit under :data:`MAX_NESTING` on the depth it sits at, so an
#: IAPREFIX decoded near the top may not be handed out deep inside IA_PDs.
#: Each table holds at most ``_CACHE_MAX`` entries, and there are at most
#: ``_CACHE_TABLES_MAX`` tables.
_INTERNED_CODES = frozenset({2, 6, 7, 8, 13, 14, 17, 20, 26, 82, 83})
_LEAF_CACHES: dict[tuple[int, int], dict[bytes, Option]] = {}
_CACHE_TABLES_MAX = 64


def _decode_options(buf, pos, end, pen, depth):
    """The options in ``buf[pos:end]`` as a tuple (RFC 8415 §21.1 framing).

    The hot path: IA_PD and Client Identifier, present in nearly every
    datagram, are decoded inline, and the objects are built in place (see
    :func:`model`); interned leaf options come from the table of this PEN
    and depth."""
    if depth > MAX_NESTING:
        raise WireFormatError(
            f"options nested more than {MAX_NESTING} levels deep", pos)
    out = []
    append = out.append
    cache = _LEAF_CACHES.get((pen, depth))
    if cache is None:
        if len(_LEAF_CACHES) >= _CACHE_TABLES_MAX:
            _LEAF_CACHES.clear()
        cache = _LEAF_CACHES[(pen, depth)] = {}
    while pos < end:
        if end - pos < 4:
            raise WireFormatError(
                f"{end - pos} octets left where a 4-octet option header is due", pos)
        code = (buf[pos] << 8) | buf[pos + 1]
        ds = pos + 4
        de = ds + ((buf[pos + 2] << 8) | buf[pos + 3])
        if de > end:
            raise WireFormatError(
                f"option {code} option-len {de - ds} runs past its container "
                f"({end - ds} octets left)", pos)
        if code in _INTERNED_CODES:
            raw = buf[pos:de]
            o = cache.get(raw)
            if o is None:
                o = _DECODERS[code](buf, ds, de, pen, depth)
                if len(cache) >= _CACHE_MAX:
                    cache.clear()
                cache[raw] = o
        elif code == 25:
            if de - ds < 12:
                raise WireFormatError(f"IA_PD option-len {de - ds} is shorter than 12", pos)
            o = _new(IAPD)
            d = o.__dict__
            d["iaid"], d["t1"], d["t2"] = _III_unpack(buf, ds)
            d["options"] = (_decode_options(buf, ds + 12, de, pen, depth + 1)
                            if de > ds + 12 else ())
        elif code == 1:
            o = _new(ClientId)
            o.__dict__["duid"] = decode_duid(buf, ds, de)
        else:
            dec = _DECODERS.get(code)
            o = dec(buf, ds, de, pen, depth) if dec else UnknownOption(code, buf[ds:de])
        append(o)
        pos = de
    return tuple(out)


def _decode_message(buf, start, end, pen, depth):
    if end - start < 4:
        raise WireFormatError(
            f"DHCPv6 message of {end - start} octets is shorter than its 4-octet header", start)
    mt = buf[start]
    cls = MESSAGE_CLASSES.get(mt)
    if cls is None:
        raise WireFormatError(f"unknown DHCPv6 msg-type {mt}", start)
    o = _new(cls)
    d = o.__dict__
    if mt >= 12:
        if end - start < 34:
            raise WireFormatError(
                f"relay message of {end - start} octets is shorter than its 34-octet header",
                start)
        d["hop_count"] = buf[start + 1]
        d["link_address"] = _addr(buf[start + 2:start + 18])
        d["peer_address"] = _addr(buf[start + 18:start + 34])
        d["options"] = _decode_options(buf, start + 34, end, pen, depth)
        return o
    d["transaction_id"] = (buf[start + 1] << 16) | (buf[start + 2] << 8) | buf[start + 3]
    d["options"] = _decode_options(buf, start + 4, end, pen, depth)
    return o


def decode_dhcp6(data: bytes, pen: int = ODM_PEN) -> Message | RelayMessage:
    """Decode one DHCPv6 UDP payload (RFC 8415 §8, §9).

    ``pen`` is the enterprise number whose OPTION_VENDOR_OPTS is odm's (decoded
    into :class:`OdmVendorOpts`); vendor options of other enterprises stay opaque
    :class:`VendorOpts`. Returns an instance of the class in
    :data:`MESSAGE_CLASSES` for its msg-type. Raises :class:`WireFormatError`
    (with the offset) for a truncated header, an unknown msg-type, an option
    whose option-len runs past its container or the datagram, a known option
    whose data is malformed, and options nested more than :data:`MAX_NESTING`
    levels deep.
    """
    if type(data) is not bytes:
        data = bytes(data)
    return _decode_message(data, 0, len(data), pen, 0)


# ------------------------------------------------------------------------ encoder
def encode_dhcp6(msg: Message | RelayMessage) -> bytes:
    """Encode a message to its UDP payload (RFC 8415 §8, §9). Raises
    :class:`WireFormatError` for values that do not fit their fields."""
    try:
        if isinstance(msg, RelayMessage):
            return (bytes((msg.msg_type, msg.hop_count)) + msg.link_address.packed
                    + msg.peer_address.packed + _encode_options(msg.options))
        xid = msg.transaction_id
        if not 0 <= xid <= 0xFFFFFF:
            raise WireFormatError(f"transaction-id {xid} does not fit 24 bits")
        return _I.pack((msg.msg_type << 24) | xid) + _encode_options(msg.options)
    except struct.error as exc:
        raise WireFormatError(f"value out of range while encoding: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, WireFormatError):
            raise
        raise WireFormatError(f"cannot encode {type(msg).__name__}: {exc}") from None



# ------------------------------------------------------------------ compiled twin
#: The ``VERSION`` of odm_wire/_speedups.pyx this module is written for.
_SPEEDUPS_VERSION = 2


def _load_speedups():
    """:mod:`odm_wire._speedups`, the compiled twin of the codec (built from
    ``odm_wire/_speedups.pyx`` by ``pip install``), or None when it is not
    built, is a stale build of an older .pyx (a warning says to rebuild), or
    the environment sets ``ODM_WIRE_PURE=1``."""
    if os.environ.get("ODM_WIRE_PURE", "") not in ("", "0"):
        return None
    try:
        from odm_wire import _speedups
    except ImportError:
        return None
    if getattr(_speedups, "VERSION", None) != _SPEEDUPS_VERSION:
        import warnings

        warnings.warn("odm_wire._speedups was built from another version of "
                      "odm_wire/_speedups.pyx: using the pure-Python codec; rebuild with "
                      "'pip install -e .'", RuntimeWarning, stacklevel=2)
        return None
    return _speedups


#: The pure-Python decoder: the reference the compiled one is tested against
#: (tests/wire/test_wire_speedups.py), and what runs when it is not built.
decode_dhcp6_py = decode_dhcp6
_speedups = _load_speedups()
#: The pure-Python encoder, likewise.
encode_dhcp6_py = encode_dhcp6
if _speedups is not None:
    decode_dhcp6 = _speedups.bind_dhcp6(globals())
    decode_dhcp6.__doc__ = decode_dhcp6_py.__doc__
    encode_dhcp6 = _speedups.encode_dhcp6
    encode_dhcp6.__doc__ = encode_dhcp6_py.__doc__
