"""DHCPv6 options (RFC 8415 §21), with odm's vendor option (RFC 8415 §21.17,
DESIGN §2), as frozen dataclasses named after the RFC's fields. The messages
are :mod:`odm_wire.dhcp6_messages`; the codec is :mod:`odm_wire.dhcp6`, which
re-exports every public name of both."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from ipaddress import IPv6Address
from typing import TYPE_CHECKING, ClassVar, TypeVar

from odm_wire.constants import (
    ODM_PEN,
    MobilityType,
    OdmSubOption,
    OptionCode,
)
from odm_wire.constants import (
    StatusCode as StatusCodeValue,
)
from odm_wire.duid import Duid, encode_duid
from odm_wire.errors import WireFormatError
from odm_wire.model import Container, model

if TYPE_CHECKING:
    from odm_wire.dhcp6_messages import Message

_H = struct.Struct("!H")
_HH = struct.Struct("!HH")
_I = struct.Struct("!I")
_III = struct.Struct("!III")
_IIB = struct.Struct("!IIB")

T = TypeVar("T")
S = TypeVar("S", bound="VendorSubOption")


def _encode_options(options) -> bytes:
    return b"".join([o.encode() for o in options])


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
            w = d["_wire"] = Option.encode(self)  # type: ignore[arg-type]  # a mixin of Option
        return w


@model
class _DuidOption(Option):
    """An option whose data is one DUID (RFC 8415 §21.2, §21.3)."""

    duid: Duid

    def encode_data(self) -> bytes:
        return encode_duid(self.duid)


@model
class ClientId(_DuidOption):
    """OPTION_CLIENTID (1), RFC 8415 §21.2."""

    code: ClassVar[int] = OptionCode.CLIENTID


@model
class ServerId(_Memo, _DuidOption):
    """OPTION_SERVERID (2), RFC 8415 §21.3."""

    code: ClassVar[int] = OptionCode.SERVERID


@model
class IAAddr(Option, Container):
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
class _IaOption(Option, Container):
    """The layout of IA_NA and IA_PD (RFC 8415 §21.4, §21.21): IAID, T1, T2,
    then options."""

    iaid: int
    t1: int = 0
    t2: int = 0
    options: tuple[Option, ...] = ()

    def encode_data(self) -> bytes:
        return _III.pack(self.iaid, self.t1, self.t2) + _encode_options(self.options)


@model
class IANA(_IaOption):
    """OPTION_IA_NA (3), RFC 8415 §21.4: IAID, T1 and T2 in seconds, IA_NA-options."""

    code: ClassVar[int] = OptionCode.IA_NA


@model
class IAPD(_IaOption):
    """OPTION_IA_PD (25), RFC 8415 §21.21: IAID, T1 and T2 in seconds (0 = left
    to the client, 0xffffffff = infinity), and IA_PD-options (IAPREFIXes,
    Status Code)."""

    code: ClassVar[int] = OptionCode.IA_PD

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
class IAPrefix(Option, Container):
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
        return first_mobility_type(self.options)

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
        from odm_wire.dhcp6 import encode_dhcp6  # the codec imports this module

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

    def encode_data(self) -> bytes:
        """The sub-option's data octets (after code and length)."""
        raise NotImplementedError

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

    sub_code: int  # type: ignore[misc]  # per instance: the code this version does not know
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


def odm_suboptions(options: Iterable[object], kind: type[S] | None = None) -> Iterator[S]:
    """odm's sub-options carried in ``options``, in order: those of every
    OPTION_VENDOR_OPTS under odm's enterprise number (RFC 8415 §21.17, DESIGN
    §2) in this one scope (a message's top level, or an IAPREFIX's
    IAprefix-options; not nested), only those of class ``kind`` when given.

    The one walk over odm's vendor sub-options: the IAPREFIX's type
    (:attr:`IAPrefix.mobility_type`), the SUPPORTED_TYPES a server states, a
    top-level MOBILITY_TYPE, all read them through it. Vendor options of
    other enterprises (:class:`VendorOpts`) are not looked into."""
    for o in options:
        if type(o) is OdmVendorOpts:
            for s in o.suboptions:
                if kind is None or type(s) is kind:
                    yield s  # type: ignore[misc]  # of class kind when kind is given


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


def first_mobility_type(options: Iterable[object]) -> MobilityType | int | None:
    """The type in the first odm MOBILITY_TYPE sub-option of this scope (an
    IAPREFIX's IAprefix-options, or a message's top level): a
    :class:`MobilityType`, a raw int for a reserved value, or None when the
    scope carries none (DESIGN §2)."""
    for s in odm_suboptions(options, MobilityTypeSubOption):
        return s.mobility_type
    return None
