"""odm_wire: the DHCPv6 / Router Discovery codec with odm's mobility-type options.

``decode(bytes) -> message`` and ``encode(message) -> bytes`` handle both a
DHCPv6 UDP payload (first octet 1–13, RFC 8415 §8–§9) and an ICMPv6 RS/RA
(first octet 133/134, RFC 4861 §4.1–§4.2). Errors: :class:`WireFormatError`.

Importing this package also registers odm's scapy layers
(:mod:`odm_wire.scapy_layers`) so that a plain scapy session dissects odm's
vendor sub-options and PIO type bits by name.
"""

from __future__ import annotations

from odm_wire.constants import *
from odm_wire.constants import ODM_PEN, MobilityType

# odm_wire.StatusCode is the Status Code option (RFC 8415 §21.13); the code values
# stay odm_wire.constants.StatusCode
from odm_wire.dhcp6 import *  # type: ignore[assignment]
from odm_wire.dhcp6 import (
    Message,
    RelayMessage,
    _speedups,
    decode_dhcp6_py,
    encode_dhcp6_py,
)
from odm_wire.errors import OdmError, WireFormatError
from odm_wire.nd import *
from odm_wire.nd import (
    RouterAdvertisement,
    RouterSolicitation,
    _encode_nd_body_py,
    decode_nd_py,
)

__all__ = ["ODM_PEN", "MobilityType", "OdmError", "WireFormatError", "decode", "encode"]


def decode(data: bytes, pen: int = ODM_PEN
           ) -> Message | RelayMessage | RouterSolicitation | RouterAdvertisement:
    """Decode a DHCPv6 payload or an ICMPv6 RS/RA, told apart by the first octet.
    Raises :class:`WireFormatError` for anything else or anything malformed."""
    if not data:
        raise WireFormatError("empty datagram", 0)
    if data[0] in (133, 134):
        return decode_nd_py(data)
    return decode_dhcp6_py(data, pen)


#: The pure-Python :func:`decode` (the reference of the compiled one, and what
#: runs when :mod:`odm_wire._speedups` is not built or ``ODM_WIRE_PURE=1``).
decode_py = decode


def encode(msg) -> bytes:
    """Encode any odm_wire message (DHCPv6 or RS/RA) to octets."""
    if isinstance(msg, (RouterAdvertisement, RouterSolicitation)):
        return _encode_nd_body_py(msg)
    return encode_dhcp6_py(msg)


#: The pure-Python :func:`decode` and :func:`encode` (the reference of the
#: compiled ones, and what runs when :mod:`odm_wire._speedups` is not built or
#: ``ODM_WIRE_PURE=1``).
decode_py = decode
encode_py = encode
if _speedups is not None:
    decode = _speedups.decode
    decode.__doc__ = decode_py.__doc__
    encode = _speedups.encode
    encode.__doc__ = encode_py.__doc__


# Registering odm's scapy layers is part of importing odm_wire; scapy itself is
# imported only when the program imports it (the agents never do).
from odm_wire import _scapy_hook  # noqa: E402 - after the names it registers

_scapy_hook.install()
