"""setsc() bookkeeping (spec §3.4, §3.5, §6.1; DESIGN §3), sans-I/O.

Terms: an **owner** is one API connection, i.e. one application socket that
called setsc() (the adapter gives each an integer id). A **reference** ties an
owner to the address it was given; sockets that asked for the same type share
an address, so an address has a set of owners. A **pending** request waits for
the network (ON_NET, or no usable address of the type) and ends with an address
or an error by its deadline at the latest.

Rules (what :class:`host.core.host.HostCore` does with these records):

- ON_NET clear and a usable address of the type held → that address at once
  (the most shared one first);
- ON_NET set, or none held → ask the network: a new IA_PD for the type
  (Request to the known server, else Solicit with Rapid Commit); without ON_NET
  an acquisition of the type already under way is joined instead;
- the answer is the address formed from the bound prefix, once usable (DHCPv6-PD
  addresses at once, RA ones after DAD);
- refusal → EAI_REQUIREDIPNOTSUPPORTED when the network does not offer the type
  (server without odm, NoPrefixAvail from a network that never offered it),
  EAI_REQUIREDIPFAILED when it does offer it but did not deliver; the deadline
  passing gives the same choice;
- when an owner ends (socket closed, process gone) its reference goes; on the
  last reference of an on-demand DHCPv6 prefix the release policy of its type
  applies ("release": RFC 8415 Release; "keep"); prefixes of the legacy IA_PD,
  of boot types and of RAs are never released that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address

from odm_wire.constants import MobilityType


@dataclass
class Pending:
    """A setsc() waiting for the network. ``iaid``: the acquisition it waits on
    (None: any usable address of the type will do); ``deadline`` on the core
    clock."""

    request_id: int
    owner: int
    mobility_type: MobilityType
    on_net: bool
    deadline: float
    iaid: int | None = None
    started: float = 0.0


@dataclass
class Reference:
    """Owner ``owner`` uses ``address`` (of ``mobility_type``) since ``since``."""

    owner: int
    address: IPv6Address
    mobility_type: MobilityType
    since: float


def held_address(refs: dict, by_address: dict, owner: int, t: MobilityType | None,
                 now: float) -> IPv6Address | None:
    """The first rule above: the usable address of type ``t`` that ``owner``
    holds already, which a setsc() without ON_NET gets again at once (spec
    §6.1); None when the rule does not apply. Reads only: nothing changes."""
    ref = refs.get(owner)
    if ref is None or t is None or ref.mobility_type != t:
        return None
    a = by_address.get(ref.address)
    return a.address if a is not None and a.usable(now) else None


def parse_address_type(value) -> MobilityType | None:
    """The spec's addressType (1–4, or a name) as a :class:`MobilityType`; None
    for 0, 5–7 and anything else (reserved, spec §6.1)."""
    if isinstance(value, MobilityType):
        return value
    try:
        if isinstance(value, str):
            return MobilityType.from_name(value)
        return MobilityType(int(value))
    except (ValueError, TypeError):
        return None
