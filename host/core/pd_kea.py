"""Kea's way: the DHCPv6-PD client's workaround for one server, sans-I/O.

ISC Kea cannot put options inside an IAPREFIX, so it answers with a
top-level odm vendor option MOBILITY_TYPE instead of the one inside each
IAPREFIX that DESIGN §2 (draft-moses-dmm-dhcp-ondemand-mobility) puts there.
The client accepts that top-level type for an IA_PD only when the message
holds exactly one IA_PD and that IA_PD asked for exactly that type
(:func:`accepted_type`); in every other case the top-level type is ignored,
logged and counted ``top-level-type-ignored`` (:func:`note_ignored`) — it
never types a legacy prefix. With ``HostConfig.top_level_type`` set the client
also *sends* the type at top level in messages that hold one typed IA_PD
(:func:`sent_options`), which is what Kea classifies on (docs/kea-typed.md).
"""

from __future__ import annotations

from host.core.droplog import DropLog
from odm_wire.constants import MobilityType
from odm_wire.dhcp6 import Message, MobilityTypeSubOption, OdmVendorOpts, mobility_type_option

__all__ = ["accepted_type", "note_ignored", "sent_options", "top_level_type"]


def top_level_type(msg: Message) -> MobilityType | None:
    """The MOBILITY_TYPE of the message's top-level odm vendor option, or None
    (none, or a reserved value: draft-moses M3)."""
    for o in msg.options:
        if type(o) is OdmVendorOpts:
            for s in o.suboptions:
                if type(s) is MobilityTypeSubOption:
                    v = s.mobility_type
                    return v if isinstance(v, MobilityType) else None
    return None


def accepted_type(ia, msg: Message) -> MobilityType | None:
    """The top-level type of ``msg`` when it types the prefixes of ``ia``'s
    IA_PD (the message's only one, which asked exactly that type), else None."""
    if ia.mobility_type is not None and len(msg.ia_pds) == 1:
        tl = top_level_type(msg)
        if tl == ia.mobility_type:
            return tl
    return None


def note_ignored(msg: Message, ia, src, now: float, drops: DropLog) -> None:
    """Count and log a top-level type in ``msg`` (an answer to ``ia``'s
    exchange) that types nothing."""
    tl = top_level_type(msg)
    if tl is not None and not (len(msg.ia_pds) == 1 and ia.mobility_type == tl
                               and msg.ia_pds[0].iaid == ia.iaid):
        drops("top-level-type-ignored", now, "%s from %s: top-level mobility type %s "
              "ignored (used only for the one IA_PD of a message that asked that "
              "type: Kea's way)", type(msg).__name__, src, tl.name)


def sent_options(config, ia) -> tuple:
    """The top-level odm option the client adds to a message for ``ia``."""
    if config.top_level_type and ia.mobility_type is not None:
        return (mobility_type_option(ia.mobility_type, config.pen),)
    return ()
