"""Counters and log lines of the DHCPv6 server: remote faults apart from
local ones.

Two kinds of trouble while a datagram is handled, counted and logged apart
(as h11 keeps ``RemoteProtocolError`` and ``LocalProtocolError`` apart):

* a **remote fault** — bad input from the wire: a datagram that does not
  decode (``pkt6-parse-failed``), a message a server must drop (RFC 8415
  §16: no Client Identifier, a wrong Server Identifier, a server-to-client
  message; ``pkt6-receive-drop``). One INFO line naming the reason
  (:meth:`Faults.remote`), at a limited rate; the agent serves on.
* a **local fault** — a bug in odm: an exception the core raised while
  answering (``internal-errors``). Logged with its traceback
  (:meth:`Faults.local`, the "internal error" line an operator reports),
  at a limited rate so that one bad input repeated cannot flood the log;
  nothing of that message is answered, the agent serves on.

The counters carry Kea's statistic names (``pkt6-received``,
``pkt6-parse-failed``, ``v6-allocation-fail`` …) where Kea has one.
"""

from __future__ import annotations

import logging
from collections import Counter

from odm_sansio.ratelog import RateLimitedLog
from odm_wire.constants import MessageType

__all__ = ["BASE_COUNTERS", "RECEIVED_COUNTERS", "Faults"]

log = logging.getLogger("router.dhcp")

#: Kea's statistic names for received messages (by msg-type).
RECEIVED_COUNTERS = {
    MessageType.SOLICIT: "pkt6-solicit-received",
    MessageType.ADVERTISE: "pkt6-advertise-received",
    MessageType.REQUEST: "pkt6-request-received",
    MessageType.CONFIRM: "pkt6-confirm-received",
    MessageType.RENEW: "pkt6-renew-received",
    MessageType.REBIND: "pkt6-rebind-received",
    MessageType.REPLY: "pkt6-reply-received",
    MessageType.RELEASE: "pkt6-release-received",
    MessageType.DECLINE: "pkt6-decline-received",
    MessageType.RECONFIGURE: "pkt6-reconfigure-received",
    MessageType.INFORMATION_REQUEST: "pkt6-infrequest-received",
    MessageType.RELAY_FORW: "pkt6-relay-forw-received",
    MessageType.RELAY_REPL: "pkt6-relay-repl-received",
}

#: Counters that always show, even at zero.
BASE_COUNTERS = (
    "pkt6-received", "pkt6-parse-failed", "pkt6-receive-drop", "pkt6-unknown-received",
    "internal-errors",
    "pkt6-sent", "pkt6-advertise-sent", "pkt6-reply-sent",
    *RECEIVED_COUNTERS.values(),
    "v6-allocation-fail", "v6-allocation-fail-no-pools", "v6-allocation-fail-client-limit",
    "v6-allocation-fail-type-not-offered", "v6-allocation-fail-type-limit",
    "v6-allocation-fail-pool-exhausted", "pkt6-rate-limited-client", "pkt6-rate-limited-source",
    "cumulative-assigned-pds", "reclaimed-leases", "reclaimed-leftover-leases",
    "declined-pds", "moved-here-pds", "store-commit-failed", "store-write-failed",
    "store-commit-timeout", "store-unavailable",
    "next-hop-change-deferred", "next-hop-changed", "v6-allocation-fail-rate-limited",
)


class Faults:
    """The counters (``stats``) and the rate-limited log (``bad``) of one
    server, and the two ways a datagram goes unanswered for a fault."""

    def __init__(self, stats: Counter, bad: RateLimitedLog) -> None:
        self.stats = stats
        self.bad = bad

    def remote(self, counter: str, now: float, kind: str, fmt: str, *args) -> None:
        """Bad input from the wire: count ``counter`` and log one INFO line
        with the reason (``fmt % args``)."""
        self.stats[counter] += 1
        self.bad(kind, now, fmt, *args, level=logging.INFO)

    def local(self, now: float, ifname: str, what: str, src) -> None:
        """A bug: the core raised while answering ``what`` from ``src``. Call
        from the ``except`` block: the line carries the traceback."""
        self.stats["internal-errors"] += 1
        self.bad("internal", now, "%s: internal error answering %s from %s (a bug in odm: "
                 "please report it with this traceback)", ifname, what, src,
                 level=logging.ERROR, exc_info=True)
