"""scapy layers for odm's wire additions, registered on import.

Importing :mod:`odm_wire` teaches a plain scapy session two things (it
imports this module at once when scapy's DHCPv6 or ICMPv6 layers are loaded,
else as soon as they are: :mod:`odm_wire._scapy_hook`):

* **DHCPv6** (RFC 8415 §21.17, DESIGN §2): an OPTION_VENDOR_OPTS (17) whose
  enterprise-number is odm's (``ODM_PEN`` = 32473 by default, more with
  :func:`register_pen`) dissects as :class:`DHCP6OptODMVendorOpts`, whose
  ``vso`` list holds :class:`ODMMobilityType` (sub-option 1, one octet, shown by
  name: ``SESSION_LASTING``) and :class:`ODMSupportedTypes` (sub-option 2, one
  octet per type) — at top level and nested in an IAPREFIX or IA_PD alike.
  ``pkt[DHCP6OptVendorSpecificInfo]`` still finds it (it is a subclass).
* **Router Advertisements** (RFC 4861 §4.6.2, draft-feng-dmm-ra-prefixtype
  §3.1): every Prefix Information option dissects as
  :class:`ICMPv6NDOptPrefixInfoODM`, with flag bits ``L``, ``A``, ``R``, ``P``,
  ``res`` (0x08) and the 3-bit ``mobility_type`` (mask 0x07, by name).
  ``pkt.haslayer(ICMPv6NDOptPrefixInfo)`` and ``pkt[ICMPv6NDOptPrefixInfo]``
  still work.

Building::

    DHCP6OptIAPrefix(iaprefopts=[DHCP6OptODMVendorOpts(
        vso=[ODMMobilityType(mobility_type="SESSION_LASTING")])])
    ICMPv6NDOptPrefixInfoODM(prefix="2001:db8::", mobility_type="FIXED", P=1)

This is the only module of odm that touches scapy packet classes; the codec
itself (:mod:`odm_wire.dhcp6`, :mod:`odm_wire.nd`) does not use scapy.
"""

from __future__ import annotations

import struct

from scapy.config import conf
from scapy.fields import (
    BitEnumField,
    BitField,
    ByteEnumField,
    ByteField,
    FieldLenField,
    FieldListField,
    IntEnumField,
    IP6Field,
    PacketListField,
    ShortEnumField,
    XIntField,
)
from scapy.layers import dhcp6 as _sd
from scapy.layers import inet6 as _si
from scapy.layers.dhcp6 import (
    VENDOR_SPECIFIC_OPTION,
    DHCP6OptVendorSpecificInfo,
    _DHCP6OptGuessPayload,
)
from scapy.layers.inet6 import ICMPv6NDOptPrefixInfo
from scapy.packet import Packet

from odm_wire.constants import ODM_PEN, MobilityType, OdmSubOption

__all__ = [
    "MOBILITY_TYPE_NAMES",
    "DHCP6OptODMVendorOpts",
    "ICMPv6NDOptPrefixInfoODM",
    "ODMMobilityType",
    "ODMSupportedTypes",
    "ODMUnknownSubOption",
    "odm_pens",
    "register_pen",
    "unregister_pen",
]

#: value → name for scapy enum fields (reserved values show as numbers).
MOBILITY_TYPE_NAMES: dict[int, str] = {int(m): m.name for m in MobilityType}

_ODM_PENS: set[int] = {ODM_PEN}


def register_pen(pen: int) -> None:
    """Dissect vendor options of enterprise ``pen`` (0–2^32-1) as odm's too
    (the agents' PEN is configurable, DESIGN §2)."""
    if not 0 <= pen <= 0xFFFFFFFF:
        raise ValueError(f"enterprise number {pen} does not fit 32 bits")
    _ODM_PENS.add(pen)


def unregister_pen(pen: int) -> None:
    """Stop dissecting enterprise ``pen`` as odm's (``ODM_PEN`` stays)."""
    if pen != ODM_PEN:
        _ODM_PENS.discard(pen)


def odm_pens() -> frozenset[int]:
    """The enterprise numbers dissected as odm's vendor option."""
    return frozenset(_ODM_PENS)


# ------------------------------------------------------------------ DHCPv6 --
class _ODMSubOption(Packet):
    """Base of odm's vendor sub-options: 16-bit code, 16-bit length, data."""

    def extract_padding(self, s):
        return b"", s

    @classmethod
    def dispatch_hook(cls, _pkt=None, *args, **kargs):
        if _pkt and len(_pkt) >= 4:
            code, n = struct.unpack("!HH", _pkt[:4])
            if code == OdmSubOption.MOBILITY_TYPE and n != 1:
                return ODMUnknownSubOption
            return _SUBOPT_CLASSES.get(code, ODMUnknownSubOption)
        if _pkt:
            return conf.raw_layer
        return cls


class ODMMobilityType(_ODMSubOption):
    """odm sub-option 1 MOBILITY_TYPE: one octet, the mobility type asked or
    granted for the IAPREFIX it sits in (odm numbering, DESIGN §1)."""

    name = "ODM Mobility Type"
    fields_desc = [  # noqa: RUF012 - scapy reads a class-level list
                   ShortEnumField("optcode", int(OdmSubOption.MOBILITY_TYPE),
                                  {1: "MOBILITY_TYPE", 2: "SUPPORTED_TYPES"}),
                   FieldLenField("optlen", None, length_of="mobility_type", fmt="!H"),
                   ByteEnumField("mobility_type", int(MobilityType.SESSION_LASTING),
                                 MOBILITY_TYPE_NAMES)]

    def mysummary(self):
        return self.sprintf("ODM mobility type %mobility_type%")


class ODMSupportedTypes(_ODMSubOption):
    """odm sub-option 2 SUPPORTED_TYPES: one octet per type the network can
    delegate (server → client, top level)."""

    name = "ODM Supported Types"
    fields_desc = [  # noqa: RUF012 - scapy reads a class-level list
                   ShortEnumField("optcode", int(OdmSubOption.SUPPORTED_TYPES),
                                  {1: "MOBILITY_TYPE", 2: "SUPPORTED_TYPES"}),
                   FieldLenField("optlen", None, count_of="types", fmt="!H"),
                   FieldListField("types", [],
                                  ByteEnumField("", 0, MOBILITY_TYPE_NAMES),
                                  length_from=lambda pkt: pkt.optlen)]


class ODMUnknownSubOption(_ODMSubOption, VENDOR_SPECIFIC_OPTION):
    """An odm sub-option code this version does not know (kept as octets)."""

    name = "ODM unknown sub-option"
    fields_desc = VENDOR_SPECIFIC_OPTION.fields_desc


_SUBOPT_CLASSES = {int(OdmSubOption.MOBILITY_TYPE): ODMMobilityType,
                   int(OdmSubOption.SUPPORTED_TYPES): ODMSupportedTypes}


class DHCP6OptODMVendorOpts(DHCP6OptVendorSpecificInfo):
    """OPTION_VENDOR_OPTS (17) under odm's enterprise number (DESIGN §2):
    enterprise-number, then odm sub-options in ``vso``."""

    name = "DHCP6 Vendor-specific Information Option (odm)"
    match_subclass = True
    fields_desc = [  # noqa: RUF012 - scapy reads a class-level list
                   ShortEnumField("optcode", 17, _sd.dhcp6opts),
                   FieldLenField("optlen", None, length_of="vso", fmt="!H",
                                 adjust=lambda pkt, x: x + 4),
                   IntEnumField("enterprisenum", ODM_PEN, _sd.IANA_ENTERPRISE_NUMBERS),
                   PacketListField("vso", [], _ODMSubOption,
                                       length_from=lambda pkt: pkt.optlen - 4)]

    @property
    def mobility_type(self) -> int | None:
        """The value of the first MOBILITY_TYPE sub-option, or None."""
        for s in self.vso:
            if isinstance(s, ODMMobilityType):
                return s.mobility_type
        return None


def _is_odm_vendor(payload: bytes) -> bool:
    return (len(payload) >= 8 and payload[0] == 0 and payload[1] == 17
            and struct.unpack("!I", payload[4:8])[0] in _ODM_PENS)


_orig_guess = _DHCP6OptGuessPayload._just_guess_payload_class


def _odm_guess_payload_class(cls, payload):
    """scapy's DHCPv6 option dispatcher (top-level chain and option lists),
    sending odm's vendor option to :class:`DHCP6OptODMVendorOpts`."""
    if _is_odm_vendor(payload):
        return DHCP6OptODMVendorOpts
    return _orig_guess(cls, payload)


def _vendor_dispatch_hook(cls, _pkt=None, *args, **kargs):
    """``DHCP6OptVendorSpecificInfo(raw)`` itself turns odm's into the odm class."""
    if _pkt and _is_odm_vendor(bytes(_pkt)):
        return DHCP6OptODMVendorOpts
    return cls


# ---------------------------------------------------------------------- ND --
class ICMPv6NDOptPrefixInfoODM(ICMPv6NDOptPrefixInfo):
    """Prefix Information option (RFC 4861 §4.6.2) with odm's reading of the
    flag octet: L, A, R (RFC 6275), P (RFC 9762), ``res`` (0x08) and the 3-bit
    ``mobility_type`` (0x07; 0 = none; draft-feng-dmm-ra-prefixtype §3.1)."""

    name = "ICMPv6 Neighbor Discovery Option - Prefix Information (odm)"
    match_subclass = True
    fields_desc = [  # noqa: RUF012 - scapy reads a class-level list
                   ByteField("type", 3),
                   ByteField("len", 4),
                   ByteField("prefixlen", 64),
                   BitField("L", 1, 1),
                   BitField("A", 1, 1),
                   BitField("R", 0, 1),
                   BitField("P", 0, 1),
                   BitField("res", 0, 1),
                   BitEnumField("mobility_type", 0, 3, {0: "NONE", **MOBILITY_TYPE_NAMES}),
                   XIntField("validlifetime", 0xffffffff),
                   XIntField("preferredlifetime", 0xffffffff),
                   XIntField("res2", 0x00000000),
                   IP6Field("prefix", "::")]

    def mysummary(self):
        return self.sprintf("%name% %prefix%/%prefixlen% On-link %L% Autonomous %A% "
                            "Router Address %R% PD preferred %P% mobility %mobility_type%")


# ---------------------------------------------------------------- register --
def _register() -> None:
    if getattr(_DHCP6OptGuessPayload, "_odm_registered", False):
        return
    # scapy's extension points are class attributes and tables, set here once
    _DHCP6OptGuessPayload._just_guess_payload_class = staticmethod(  # type: ignore[method-assign]
        _odm_guess_payload_class)
    DHCP6OptVendorSpecificInfo.dispatch_hook = classmethod(  # type: ignore[attr-defined]
        _vendor_dispatch_hook)
    _DHCP6OptGuessPayload._odm_registered = True  # type: ignore[attr-defined]
    _si.icmp6ndoptscls[3] = ICMPv6NDOptPrefixInfoODM  # type: ignore[assignment]
    # ICMPv6NDOptPrefixInfo(raw) called directly keeps scapy's class; the ND
    # option dispatcher (RA, RS, NS, ... options) yields odm's.


_register()
