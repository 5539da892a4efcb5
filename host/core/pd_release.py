"""Prefixes the DHCPv6-PD client gives back although nobody asked it to
(RFC 8415 §18.2.7), sans-I/O.

- **Late Replies** (:class:`LateReplies`): a Request or a Rapid Commit
  Solicit of an IA_PD that was cancelled while it was on the wire (a setsc()
  that timed out) may still be answered; the server has then committed the
  prefixes in the Reply to this client, which no longer wants them. Such an
  exchange is remembered for :data:`ABANDONED_WINDOW` seconds (at most
  :data:`ABANDONED_MAX` of them); a Reply to it has its prefixes released at
  once, on the cancelled IA_PD, which stays out of the client's table (nothing
  else — status, a new setsc() of the same type — may see it), instead of
  staying bound at the server until their valid lifetime ends.
- **Unused grants** (:func:`unused_grants`): every prefix a Reply commits
  that the client discards (unusable, of another type than asked, typed in an
  untyped IA_PD, preferred > valid: :mod:`host.core.pd_judge`) is released on
  a detached IA_PD of the same IAID, so the IA_PD itself keeps its state and
  exchanges.

The client starts each Release (:meth:`host.core.pd_client.PdClient._start_release`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from ipaddress import IPv6Network

from host.core.pd_judge import net_of
from odm_wire import rules
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import ClientId, IAPrefix, Message, Reply, encode_duid

__all__ = ["ABANDONED_MAX", "ABANDONED_WINDOW", "LateReplies", "unused_grants"]

#: the PD client has one logger, whichever of its modules speaks
log = logging.getLogger("host.core.pd_client")

#: Seconds a cancelled Request / Rapid Commit Solicit is remembered after
#: :meth:`PdClient.cancel`, and how many at most: a Reply to it that arrives
#: late still commits a binding at the server, which the client then releases.
ABANDONED_WINDOW = 30.0
ABANDONED_MAX = 64


class LateReplies:
    """The cancelled exchanges whose Reply may still come (module docstring)."""

    def __init__(self) -> None:
        #: xid → (IA_PD, forget-at) of cancelled exchanges that may commit
        self.abandoned: dict[int, tuple] = {}

    def remember(self, xid: int, ia, now: float) -> None:
        """The exchange ``xid`` of ``ia`` was cancelled while on the wire."""
        ab = self.abandoned
        for x, (_, until) in list(ab.items()):
            if until <= now:
                del ab[x]
        while len(ab) >= ABANDONED_MAX:
            del ab[next(iter(ab))]
        ab[xid] = (ia, now + ABANDONED_WINDOW)

    def take(self, msg: Message, duid: bytes, src, now: float) -> tuple | None:
        """When ``msg`` is a Reply to a remembered exchange, for the client
        whose DUID octets are ``duid``: (the cancelled IA_PD, the IAPREFIXes
        it grants, possibly none), forgetting the exchange; else None."""
        entry = self.abandoned.get(msg.transaction_id)
        if entry is None or type(msg) is not Reply or msg.server_duid is None:
            return None
        ia, until = entry
        cd = msg.get(ClientId)
        if now > until or cd is None or encode_duid(cd.duid) != duid:
            return None
        del self.abandoned[msg.transaction_id]
        granted = [p for o in msg.ia_pds if o.iaid == ia.iaid
                   and rules.ia_status(o) == SC.SUCCESS
                   for p in o.prefixes if p.valid_lifetime > 0]
        if not granted:
            log.info("late Reply from %s for cancelled IA_PD 0x%08x: nothing granted", src, ia.iaid)
        else:
            log.info("late Reply from %s grants %s to cancelled IA_PD %d: releasing", src,
                     ", ".join(p.network for p in granted), ia.iaid)
        return ia, granted


def unused_grants(dropped: tuple, held: Mapping[IPv6Network, object]) -> tuple[IAPrefix, ...]:
    """The IAPREFIXes of ``dropped`` (committed by a Reply, not used) that are
    not among the prefixes ``held`` by the IA_PD: those to release."""
    keep = {net_of(p) for p in dropped} & set(held)
    return tuple(p for p in dropped if net_of(p) not in keep)
