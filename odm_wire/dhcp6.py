"""DHCPv6 message model and codec (RFC 8415), with odm's mobility-type option.

Every message and option is a frozen dataclass named after the RFC's fields.
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
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, fields
from ipaddress import IPv6Address
from typing import ClassVar, TypeVar

from odm_wire.constants import (
    ODM_PEN,
    DuidType,
    MessageType,
    MobilityType,
    OdmSubOption,
    OptionCode,
    mobility_type_or_raw,
)
from odm_wire.constants import (
    StatusCode as StatusCodeValue,
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
    "mobility_type_option",
]

_H = struct.Struct("!H")
_HH = struct.Struct("!HH")
_I = struct.Struct("!I")
_III = struct.Struct("!III")
_IIB = struct.Struct("!IIB")
_HHI = struct.Struct("!HHI")
_III_unpack = _III.unpack_from
_IIB_unpack = _IIB.unpack_from
_new = object.__new__
_from_bytes = int.from_bytes

T = TypeVar("T")


def model(cls):
    """``@dataclass(frozen=True)`` with a faster ``__init__``.

    The generated ``__init__`` of a frozen dataclass sets each field through
    ``object.__setattr__`` (about 150 ns a field); the codec builds several
    objects per datagram, so this one writes the instance dict directly. The
    class is otherwise an ordinary frozen dataclass: ``fields()``, ``replace()``,
    equality, hashing and the FrozenInstanceError on assignment all hold.
    """
    cls = dataclass(frozen=True)(cls)
    flds = fields(cls)
    ns = {"MISSING": MISSING}
    params, body = [], []
    for f in flds:
        if f.default is not MISSING:
            ns[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        else:
            params.append(f.name)
        body.append(f"d[{f.name!r}] = {f.name}")
    src = (f"def __init__(self, {', '.join(params)}):\n    d = self.__dict__\n    "
           + ("\n    ".join(body) or "pass"))
    if not flds:
        src = "def __init__(self):\n    pass"
    exec(src, ns)  # noqa: S102 - source built above from the field names only
    ns["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = ns["__init__"]
    return cls


# --------------------------------------------------------------------------- DUID
class Duid:
    """Base of the DUID forms (RFC 8415 §11). ``bytes(duid)`` is its wire form."""

    def __bytes__(self) -> bytes:
        return encode_duid(self)


@model
class DuidLLT(Duid):
    """DUID-LLT (RFC 8415 §11.2): hardware type, time in seconds since
    2000-01-01 UTC mod 2^32, link-layer address."""

    hardware_type: int
    time: int
    link_layer_address: bytes


@model
class DuidEN(Duid):
    """DUID-EN (RFC 8415 §11.3): enterprise number and an opaque identifier."""

    enterprise_number: int
    identifier: bytes


@model
class DuidLL(Duid):
    """DUID-LL (RFC 8415 §11.4): hardware type (1 = Ethernet) and link-layer
    address (6 octets for Ethernet)."""

    hardware_type: int
    link_layer_address: bytes


@model
class DuidUUID(Duid):
    """DUID-UUID (RFC 6355 via RFC 8415 §11.5): a 16-octet UUID."""

    uuid: bytes


@model
class DuidUnknown(Duid):
    """A DUID of a type odm does not model; kept as octets."""

    duid_type: int
    data: bytes


def decode_duid(buf: bytes, start: int = 0, end: int | None = None) -> Duid:
    """Decode a DUID occupying ``buf[start:end]``. Raises :class:`WireFormatError`
    when it is shorter than its type requires (RFC 8415 §11.2–§11.5)."""
    if end is None:
        end = len(buf)
    n = end - start
    if n < 2:
        raise WireFormatError(f"DUID of {n} octets is shorter than its 2-octet type", start)
    t = (buf[start] << 8) | buf[start + 1]
    if t == 3:
        if n < 4:
            raise WireFormatError("DUID-LL shorter than 4 octets", start)
        o = _new(DuidLL)
        d = o.__dict__
        d["hardware_type"] = (buf[start + 2] << 8) | buf[start + 3]
        d["link_layer_address"] = buf[start + 4:end]
        return o
    if t == 1:
        if n < 8:
            raise WireFormatError("DUID-LLT shorter than 8 octets", start)
        _, hw, tm = _HHI.unpack_from(buf, start)
        return DuidLLT(hardware_type=hw, time=tm,
                               link_layer_address=buf[start + 8:end])
    if t == 2:
        if n < 6:
            raise WireFormatError("DUID-EN shorter than 6 octets", start)
        return DuidEN(enterprise_number=_I.unpack_from(buf, start + 2)[0],
                              identifier=buf[start + 6:end])
    if t == 4:
        if n != 18:
            raise WireFormatError(f"DUID-UUID must be 18 octets, not {n}", start)
        return DuidUUID(uuid=buf[start + 2:end])
    return DuidUnknown(duid_type=t, data=buf[start + 2:end])


def encode_duid(duid: Duid) -> bytes:
    """Encode a DUID to its wire octets (RFC 8415 §11)."""
    t = type(duid)
    if t is DuidLL:
        return _HH.pack(DuidType.LL, duid.hardware_type) + duid.link_layer_address
    if t is DuidLLT:
        return _HHI.pack(DuidType.LLT, duid.hardware_type, duid.time) + duid.link_layer_address
    if t is DuidEN:
        return _H.pack(DuidType.EN) + _I.pack(duid.enterprise_number) + duid.identifier
    if t is DuidUUID:
        if len(duid.uuid) != 16:
            raise WireFormatError("DUID-UUID needs a 16-octet UUID")
        return _H.pack(DuidType.UUID) + duid.uuid
    if t is DuidUnknown:
        return _H.pack(duid.duid_type) + duid.data
    raise WireFormatError(f"not a DUID: {duid!r}")


# ------------------------------------------------------------------------ options
class Option:
    """Base of all DHCPv6 options. ``code`` is the option-code (RFC 8415 §21.1)."""

    code: ClassVar[int]

    def encode(self) -> bytes:
        """The whole option: option-code, option-len, option-data."""
        data = self.encode_data()
        if len(data) > 0xFFFF:
            raise WireFormatError(f"option {self.code} data of {len(data)} octets exceeds 65535")
        return _HH.pack(self.code, len(data)) + data

    def encode_data(self) -> bytes:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


class _Memo:
    """Mixin of options that a server sends again and again (its Server
    Identifier, Preference, odm's vendor options, ...) and whose fields are
    immutable (ints, str, bytes, tuples of those): the first :meth:`encode`
    remembers its octets in the instance's ``__dict__`` under ``_wire``, the
    next ones return them. ``_wire`` is not a field, so equality, hashing,
    ``repr`` and ``dataclasses.replace`` never see it (a replaced copy encodes
    anew)."""

    __slots__ = ()

    def encode(self) -> bytes:
        d = self.__dict__
        w = d.get("_wire")
        if w is None:
            w = d["_wire"] = Option.encode(self)
        return w


class _Container:
    """Lookup helpers for anything holding an ``options`` tuple."""

    options: tuple

    def get(self, cls: type[T]) -> T | None:
        """The first option of class ``cls`` in this scope (not nested), or None."""
        for o in self.options:
            if type(o) is cls:
                return o
        return None

    def get_all(self, cls: type[T]) -> list[T]:
        """Every option of class ``cls`` in this scope (not nested), in order."""
        return [o for o in self.options if type(o) is cls]


@model
class ClientId(Option):
    """OPTION_CLIENTID (1), RFC 8415 §21.2."""

    code: ClassVar[int] = OptionCode.CLIENTID
    duid: Duid

    def encode_data(self) -> bytes:
        return encode_duid(self.duid)


@model
class ServerId(_Memo, Option):
    """OPTION_SERVERID (2), RFC 8415 §21.3."""

    code: ClassVar[int] = OptionCode.SERVERID
    duid: Duid

    def encode_data(self) -> bytes:
        return encode_duid(self.duid)


@model
class IAAddr(Option, _Container):
    """OPTION_IAADDR (5), RFC 8415 §21.6: address and lifetimes in seconds."""

    code: ClassVar[int] = OptionCode.IAADDR
    address: IPv6Address
    preferred_lifetime: int
    valid_lifetime: int
    options: tuple[Option, ...] = ()

    def encode_data(self) -> bytes:
        return (self.address.packed
                + struct.pack("!II", self.preferred_lifetime, self.valid_lifetime)
                + _encode_options(self.options))


@model
class IANA(Option, _Container):
    """OPTION_IA_NA (3), RFC 8415 §21.4: IAID, T1 and T2 in seconds, IA_NA-options."""

    code: ClassVar[int] = OptionCode.IA_NA
    iaid: int
    t1: int = 0
    t2: int = 0
    options: tuple[Option, ...] = ()

    def encode_data(self) -> bytes:
        return _III.pack(self.iaid, self.t1, self.t2) + _encode_options(self.options)


@model
class IAPD(Option, _Container):
    """OPTION_IA_PD (25), RFC 8415 §21.21: IAID, T1 and T2 in seconds (0 = left
    to the client, 0xffffffff = infinity), and IA_PD-options (IAPREFIXes,
    Status Code)."""

    code: ClassVar[int] = OptionCode.IA_PD
    iaid: int
    t1: int = 0
    t2: int = 0
    options: tuple[Option, ...] = ()

    def encode_data(self) -> bytes:
        return _III.pack(self.iaid, self.t1, self.t2) + _encode_options(self.options)

    @property
    def prefixes(self) -> list[IAPrefix]:
        """The IAPREFIX options of this IA_PD."""
        return [o for o in self.options if type(o) is IAPrefix]

    @property
    def status(self) -> StatusCode | None:
        """The Status Code option of this IA_PD's own scope (RFC 8415 §21.13), or
        None (which means Success, §7.5)."""
        return self.get(StatusCode)


@model
class IAPrefix(Option, _Container):
    """OPTION_IAPREFIX (26), RFC 8415 §21.22: lifetimes in seconds, prefix length
    in bits, prefix, IAprefix-options (where odm's mobility type travels)."""

    code: ClassVar[int] = OptionCode.IAPREFIX
    preferred_lifetime: int
    valid_lifetime: int
    prefix_length: int
    prefix: IPv6Address
    options: tuple[Option, ...] = ()

    def encode_data(self) -> bytes:
        return (_IIB.pack(self.preferred_lifetime, self.valid_lifetime, self.prefix_length)
                + self.prefix.packed + _encode_options(self.options))

    @property
    def mobility_type(self) -> MobilityType | int | None:
        """The type in odm's vendor option inside this IAPREFIX: a
        :class:`MobilityType`, a raw int for a reserved value, or None when the
        IAPREFIX carries no odm type (DESIGN §2)."""
        for o in self.options:
            if type(o) is OdmVendorOpts:
                for s in o.suboptions:
                    if type(s) is MobilityTypeSubOption:
                        return s.mobility_type
        return None

    @property
    def network(self) -> str:
        """``prefix/prefix_length`` as text."""
        return f"{self.prefix}/{self.prefix_length}"


@model
class OptionRequest(_Memo, Option):
    """OPTION_ORO (6), RFC 8415 §21.7: the option codes the client asks for."""

    code: ClassVar[int] = OptionCode.ORO
    requested_options: tuple[int, ...] = ()

    def encode_data(self) -> bytes:
        return struct.pack(f"!{len(self.requested_options)}H", *self.requested_options)


@model
class Preference(_Memo, Option):
    """OPTION_PREFERENCE (7), RFC 8415 §21.8: 0–255; 255 means "take me now"."""

    code: ClassVar[int] = OptionCode.PREFERENCE
    preference: int

    def encode_data(self) -> bytes:
        return bytes((self.preference,))


@model
class ElapsedTime(_Memo, Option):
    """OPTION_ELAPSED_TIME (8), RFC 8415 §21.9: in hundredths of a second,
    0xffff for anything longer."""

    code: ClassVar[int] = OptionCode.ELAPSED_TIME
    elapsed_time: int = 0

    def encode_data(self) -> bytes:
        return _H.pack(self.elapsed_time)


@model
class RelayMsg(Option):
    """OPTION_RELAY_MSG (9), RFC 8415 §21.10: the relayed message."""

    code: ClassVar[int] = OptionCode.RELAY_MSG
    message: Message

    def encode_data(self) -> bytes:
        return encode_dhcp6(self.message)


@model
class StatusCode(_Memo, Option):
    """OPTION_STATUS_CODE (13), RFC 8415 §21.13: status code and a UTF-8 message.

    The message is kept exactly: octets that are not valid UTF-8 survive a round
    trip as surrogate escapes."""

    code: ClassVar[int] = OptionCode.STATUS_CODE
    status_code: StatusCodeValue | int
    status_message: str = ""

    def encode_data(self) -> bytes:
        return _H.pack(self.status_code) + self.status_message.encode("utf-8", "surrogateescape")


@model
class RapidCommit(_Memo, Option):
    """OPTION_RAPID_COMMIT (14), RFC 8415 §21.14: no data."""

    code: ClassVar[int] = OptionCode.RAPID_COMMIT

    def encode_data(self) -> bytes:
        return b""


@model
class VendorOpts(Option):
    """OPTION_VENDOR_OPTS (17), RFC 8415 §21.17, of an enterprise other than
    odm's: the vendor data is kept as opaque octets and never interpreted."""

    code: ClassVar[int] = OptionCode.VENDOR_OPTS
    enterprise_number: int
    data: bytes = b""

    def encode_data(self) -> bytes:
        return _I.pack(self.enterprise_number) + self.data


class VendorSubOption:
    """Base of odm's sub-options inside its OPTION_VENDOR_OPTS."""

    sub_code: ClassVar[int]

    def encode(self) -> bytes:
        data = self.encode_data()
        return _HH.pack(self.sub_code, len(data)) + data


@model
class MobilityTypeSubOption(VendorSubOption):
    """odm sub-option 1 MOBILITY_TYPE (1 octet): the type asked (client) or
    granted (server) for the IAPREFIX it sits in (DESIGN §2, draft-moses §3).
    A reserved value decodes as a plain int."""

    sub_code: ClassVar[int] = OdmSubOption.MOBILITY_TYPE
    mobility_type: MobilityType | int

    def encode_data(self) -> bytes:
        return bytes((self.mobility_type,))


@model
class SupportedTypesSubOption(VendorSubOption):
    """odm sub-option 2 SUPPORTED_TYPES (one octet per type): the types this
    network can delegate; top level, server → client (DESIGN §2)."""

    sub_code: ClassVar[int] = OdmSubOption.SUPPORTED_TYPES
    types: tuple[MobilityType | int, ...] = ()

    def encode_data(self) -> bytes:
        return bytes(self.types)


@model
class UnknownSubOption(VendorSubOption):
    """An odm sub-option code this version does not know; kept as octets."""

    sub_code: int
    data: bytes = b""

    def encode(self) -> bytes:
        return _HH.pack(self.sub_code, len(self.data)) + self.data


@model
class OdmVendorOpts(_Memo, Option):
    """OPTION_VENDOR_OPTS (17) under odm's enterprise number (DESIGN §2):
    enterprise-number then TLV sub-options (16-bit code, 16-bit length)."""

    code: ClassVar[int] = OptionCode.VENDOR_OPTS
    suboptions: tuple[VendorSubOption, ...] = ()
    enterprise_number: int = ODM_PEN

    def encode_data(self) -> bytes:
        return _I.pack(self.enterprise_number) + b"".join(s.encode() for s in self.suboptions)


def mobility_type_option(t: MobilityType | int, pen: int = ODM_PEN) -> OdmVendorOpts:
    """The vendor option that labels an IAPREFIX with type ``t``:
    ``0011 0009 <pen> 0001 0001 <t>`` (DESIGN §2)."""
    return OdmVendorOpts((MobilityTypeSubOption(t),), pen)


@model
class InterfaceId(Option):
    """OPTION_INTERFACE_ID (18), RFC 8415 §21.18: opaque, set by a relay."""

    code: ClassVar[int] = OptionCode.INTERFACE_ID
    interface_id: bytes

    def encode_data(self) -> bytes:
        return self.interface_id


@model
class ReconfigureMessage(Option):
    """OPTION_RECONF_MSG (19), RFC 8415 §21.19: 5 Renew, 6 Rebind, 11 Inf-Req."""

    code: ClassVar[int] = OptionCode.RECONF_MSG
    msg_type: int

    def encode_data(self) -> bytes:
        return bytes((self.msg_type,))


@model
class ReconfigureAccept(Option):
    """OPTION_RECONF_ACCEPT (20), RFC 8415 §21.20: no data."""

    code: ClassVar[int] = OptionCode.RECONF_ACCEPT

    def encode_data(self) -> bytes:
        return b""


@model
class SolMaxRt(_Memo, Option):
    """OPTION_SOL_MAX_RT (82), RFC 8415 §21.24: seconds (60–86400 to be used)."""

    code: ClassVar[int] = OptionCode.SOL_MAX_RT
    sol_max_rt: int

    def encode_data(self) -> bytes:
        return _I.pack(self.sol_max_rt)


@model
class InfMaxRt(_Memo, Option):
    """OPTION_INF_MAX_RT (83), RFC 8415 §21.25: seconds."""

    code: ClassVar[int] = OptionCode.INF_MAX_RT
    inf_max_rt: int

    def encode_data(self) -> bytes:
        return _I.pack(self.inf_max_rt)


@model
class UnknownOption(Option):
    """Any option odm does not model; kept as octets so it re-encodes exactly
    (RFC 8415 §16: unknown options are ignored, never a reason to drop)."""

    option_code: int
    data: bytes = b""

    @property
    def code(self) -> int:  # type: ignore[override]
        return self.option_code

    def encode(self) -> bytes:
        return _HH.pack(self.option_code, len(self.data)) + self.data

    def encode_data(self) -> bytes:
        return self.data


# ----------------------------------------------------------------------- messages
@model
class Message(_Container):
    """A client/server DHCPv6 message (RFC 8415 §8): msg-type, 24-bit
    transaction-id, options. Use the subclass named after the message type."""

    msg_type: ClassVar[MessageType]
    transaction_id: int
    options: tuple[Option, ...] = ()

    @property
    def status(self) -> StatusCode | None:
        """The message's own top-level Status Code (never one inside an IA), or
        None (= Success, RFC 8415 §7.5)."""
        return self.get(StatusCode)

    @property
    def client_duid(self) -> Duid | None:
        o = self.get(ClientId)
        return o.duid if o else None

    @property
    def server_duid(self) -> Duid | None:
        o = self.get(ServerId)
        return o.duid if o else None

    @property
    def ia_pds(self) -> list[IAPD]:
        return [o for o in self.options if type(o) is IAPD]

    def iter_options(self) -> Iterator[tuple[tuple[int, ...], Option]]:
        """Every option, nested ones too, with its path of indices; depth first."""
        yield from _walk(self.options, ())


def _walk(options, path):
    for i, o in enumerate(options):
        yield path + (i,), o
        inner = getattr(o, "options", None)
        if inner:
            yield from _walk(inner, path + (i,))


def _msg(name: str, mt: MessageType, doc: str) -> type[Message]:
    cls = model(type(name, (Message,), {
        "__doc__": doc, "msg_type": mt, "__annotations__": {}, "__module__": __name__}))
    return cls


Solicit = _msg("Solicit", MessageType.SOLICIT, "SOLICIT (1), RFC 8415 §18.2.1.")
Advertise = _msg("Advertise", MessageType.ADVERTISE, "ADVERTISE (2), RFC 8415 §18.3.9.")
Request = _msg("Request", MessageType.REQUEST, "REQUEST (3), RFC 8415 §18.2.2.")
Confirm = _msg("Confirm", MessageType.CONFIRM, "CONFIRM (4), RFC 8415 §18.2.3.")
Renew = _msg("Renew", MessageType.RENEW, "RENEW (5), RFC 8415 §18.2.4.")
Rebind = _msg("Rebind", MessageType.REBIND, "REBIND (6), RFC 8415 §18.2.5.")
Reply = _msg("Reply", MessageType.REPLY, "REPLY (7), RFC 8415 §18.3.10.")
Release = _msg("Release", MessageType.RELEASE, "RELEASE (8), RFC 8415 §18.2.7.")
Decline = _msg("Decline", MessageType.DECLINE, "DECLINE (9), RFC 8415 §18.2.8.")
Reconfigure = _msg("Reconfigure", MessageType.RECONFIGURE, "RECONFIGURE (10), RFC 8415 §18.3.11.")
InformationRequest = _msg("InformationRequest", MessageType.INFORMATION_REQUEST,
                          "INFORMATION-REQUEST (11), RFC 8415 §18.2.6.")


@model
class RelayMessage(_Container):
    """A relay agent/server message (RFC 8415 §9): hop-count, link-address,
    peer-address, options. Use :class:`RelayForw` or :class:`RelayRepl`."""

    msg_type: ClassVar[MessageType]
    hop_count: int
    link_address: IPv6Address
    peer_address: IPv6Address
    options: tuple[Option, ...] = ()

    @property
    def relayed(self) -> Message | RelayMessage | None:
        o = self.get(RelayMsg)
        return o.message if o else None


@model
class RelayForw(RelayMessage):
    """RELAY-FORW (12), RFC 8415 §9, §19.1 (options: Relay Message, Interface-Id)."""

    msg_type: ClassVar[MessageType] = MessageType.RELAY_FORW


@model
class RelayRepl(RelayMessage):
    """RELAY-REPL (13), RFC 8415 §9, §19.3."""

    msg_type: ClassVar[MessageType] = MessageType.RELAY_REPL


MESSAGE_CLASSES: dict[int, type] = {c.msg_type: c for c in (
    Solicit, Advertise, Request, Confirm, Renew, Rebind, Reply, Release, Decline,
    Reconfigure, InformationRequest, RelayForw, RelayRepl)}


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
        a._ip = _from_bytes(raw, "big")
        a._scope_id = None
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
def _encode_options(options) -> bytes:
    return b"".join([o.encode() for o in options])


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
