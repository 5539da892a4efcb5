"""Relayed messages (RFC 8415 §19): the client message inside a chain of
Relay-Forw, and the answer wrapped back in one Relay-Repl per Relay-Forw.

The server answers the innermost message; the route to a relayed client's
prefix goes through the relay, so the binding's next hop is the relay that
handed the message over (:mod:`router.core.dhcp_server` passes its address
on). Each Relay-Repl echoes its Relay-Forw's hop count, link and peer
addresses and Interface-Id (§19.3); a chain deeper than HOP_COUNT_LIMIT
(§7.6) or without a client message inside is dropped.
"""

from __future__ import annotations

from odm_wire.constants import HOP_COUNT_LIMIT
from odm_wire.dhcp6 import InterfaceId, Message, RelayForw, RelayMessage, RelayMsg, RelayRepl

__all__ = ["unwrap", "wrap"]


def unwrap(relay: RelayForw) -> tuple[list[RelayForw], Message | None, str]:
    """(the chain of Relay-Forw, outermost first; the client message inside,
    or None; why there is none)."""
    chain = [relay]
    inner = relay.relayed
    while type(inner) is RelayForw:
        if len(chain) > HOP_COUNT_LIMIT:
            return chain, None, f"nested deeper than {HOP_COUNT_LIMIT}"
        chain.append(inner)
        inner = inner.relayed
    if inner is None or isinstance(inner, RelayMessage):
        return chain, None, "carries no client message"
    return chain, inner, ""


def wrap(reply, chain: list[RelayForw]) -> RelayRepl:
    """``reply`` inside one Relay-Repl per Relay-Forw of ``chain``."""
    for r in reversed(chain):
        opts: list = [RelayMsg(reply)]
        ifid = r.get(InterfaceId)
        if ifid is not None:
            opts.append(ifid)
        reply = RelayRepl(r.hop_count, r.link_address, r.peer_address, tuple(opts))
    return reply
