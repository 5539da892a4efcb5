"""DHCP Unique Identifiers (RFC 8415 §11): the DUID forms as frozen
dataclasses, and their codec. Import them from :mod:`odm_wire.dhcp6`."""

from __future__ import annotations

import struct

from odm_wire.constants import DuidType
from odm_wire.errors import WireFormatError
from odm_wire.model import model

_H = struct.Struct("!H")
_HH = struct.Struct("!HH")
_I = struct.Struct("!I")
_HHI = struct.Struct("!HHI")
_new = object.__new__


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
    if type(duid) is DuidLL:
        return _HH.pack(DuidType.LL, duid.hardware_type) + duid.link_layer_address
    if type(duid) is DuidLLT:
        return _HHI.pack(DuidType.LLT, duid.hardware_type, duid.time) + duid.link_layer_address
    if type(duid) is DuidEN:
        return _H.pack(DuidType.EN) + _I.pack(duid.enterprise_number) + duid.identifier
    if type(duid) is DuidUUID:
        if len(duid.uuid) != 16:
            raise WireFormatError("DUID-UUID needs a 16-octet UUID")
        return _H.pack(DuidType.UUID) + duid.uuid
    if type(duid) is DuidUnknown:
        return _H.pack(duid.duid_type) + duid.data
    raise WireFormatError(f"not a DUID: {duid!r}")
