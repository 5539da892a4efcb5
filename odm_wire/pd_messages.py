"""A DHCPv6-PD client's messages, built and judged (RFC 8415 §18.2, §21.13,
§21.17, §21.21, §21.22), with odm's mobility type (DESIGN §2).

What every PD client in odm shares — the host's (``host/core/pd_client.py``)
and the probe's (``odm/probetools/pd.py``): the option list of a Solicit,
Request, Renew, Rebind or Release; the hint IAPREFIX that asks for a type;
and reading what a server states about types. Status codes and lifetimes are
judged by :mod:`odm_wire.rules` (:func:`~odm_wire.rules.ia_status`,
:func:`~odm_wire.rules.iaprefix_usable`, :func:`~odm_wire.rules.ia_pd_timers_valid`).
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv6Address

from odm_wire.constants import ODM_PEN, MessageType, MobilityType
from odm_wire.dhcp6 import (
    IAPD,
    MESSAGE_CLASSES,
    ClientId,
    Duid,
    ElapsedTime,
    IAPrefix,
    Message,
    MobilityTypeSubOption,
    OdmVendorOpts,
    OptionRequest,
    RapidCommit,
    ServerId,
    SupportedTypesSubOption,
    mobility_type_option,
    odm_suboptions,
)

__all__ = [
    "client_message",
    "iaprefix",
    "mobility_type_option_count",
    "supported_types",
    "type_options",
]


def type_options(t: MobilityType | int | None, pen: int = ODM_PEN) -> tuple[OdmVendorOpts, ...]:
    """The IAprefix-options that state type ``t``: odm's vendor option with
    one MOBILITY_TYPE sub-option, or none when ``t`` is None (DESIGN §2)."""
    return (mobility_type_option(t, pen),) if t is not None else ()


def iaprefix(prefix: IPv6Address | str, prefix_length: int,
             mobility_type: MobilityType | int | None = None, pen: int = ODM_PEN, *,
             preferred_lifetime: int = 0, valid_lifetime: int = 0) -> IAPrefix:
    """An IAPREFIX a client sends (RFC 8415 §18.2.1: a hint, ``::`` and zero
    lifetimes by default; §18.2.4: a delegated prefix), carrying ``mobility_type``
    in odm's vendor option when it is set."""
    return IAPrefix(preferred_lifetime, valid_lifetime, prefix_length, IPv6Address(prefix),
                    type_options(mobility_type, pen))


def client_message(kind: MessageType, xid: int, client_duid: Duid, ia_pds: Iterable[IAPD], *,
                   elapsed: int = 0, server_duid: Duid | None = None,
                   oro: Iterable[int] | None = None, rapid_commit: bool = False,
                   top_level_type: MobilityType | int | None = None,
                   pen: int = ODM_PEN) -> Message:
    """A client message of msg-type ``kind`` (Solicit, Request, Renew, Rebind,
    Release: RFC 8415 §18.2) with the options in this order: Client Identifier,
    Server Identifier (when ``server_duid`` is given), Elapsed Time
    (``elapsed``, hundredths of a second, §21.9), Option Request (when ``oro``
    is given), Rapid Commit (§18.2.1), the IA_PDs, and a top-level
    MOBILITY_TYPE (when ``top_level_type`` is set: the form Kea's client
    classification reads, DESIGN §2)."""
    opts: list = [ClientId(client_duid)]
    if server_duid is not None:
        opts.append(ServerId(server_duid))
    opts.append(ElapsedTime(elapsed))
    if oro is not None:
        opts.append(OptionRequest(tuple(oro)))
    if rapid_commit:
        opts.append(RapidCommit())
    opts.extend(ia_pds)
    if top_level_type is not None:
        opts.append(mobility_type_option(top_level_type, pen))
    return MESSAGE_CLASSES[kind](xid, tuple(opts))


def supported_types(options: Iterable[object]) -> list[MobilityType | int]:
    """Every type the SUPPORTED_TYPES sub-options of this scope (a server
    message's top level, DESIGN §2) state, in order; reserved values as ints."""
    out: list[MobilityType | int] = []
    for s in odm_suboptions(options, SupportedTypesSubOption):
        out.extend(s.types)
    return out


def mobility_type_option_count(options: Iterable[object]) -> int:
    """How many of odm's vendor options in this scope carry a MOBILITY_TYPE:
    more than one in an IAPREFIX breaks RFC 8415 §21.17 (one
    vendor-specific option per enterprise); the first one counts."""
    return sum(1 for o in options if type(o) is OdmVendorOpts
               and next(odm_suboptions((o,), MobilityTypeSubOption), None) is not None)
