"""Limits of the DHCPv6-PD server: what one client may take and how fast it
may ask (issue 7; RFC 8415 §22.11 "denial of service", RFC 8653 §7).

The configuration is :class:`router.config.Limits` (``[limits]``). Two
kinds of limit, both counted in :attr:`DhcpServer.stats
<router.core.dhcp_server.DhcpServer.stats>` (shown by ``odm router status``):

**Caps on bindings** (checked when a *new* binding would be made; extending
an existing one is never refused):

* ``max_bindings_per_client`` (``[router]``): active bindings per DUID, all
  types together → ``v6-allocation-fail-client-limit``;
* ``[limits] max_bindings_per_type``: active bindings per DUID of one
  mobility type (``legacy`` = untyped requests) → ``v6-allocation-fail-type-limit``.

A refused IA_PD gets Status NoPrefixAvail with a message naming the limit;
every other IA_PD of the same message, and every other client, is served as
usual.

**Rate limits** (token buckets, RFC 8415 §14.1's bucket turned around): a
bucket holds up to ``count`` tokens and refills at ``count / interval`` tokens
per second; every received message takes one token; a message that finds its
bucket empty is dropped without an answer (the client retransmits with
back-off, RFC 8415 §15). What is granted counts too (issue 13 point 14):
every new binding after a message's first takes one more token from both
buckets, and one that finds a bucket empty is refused with NoPrefixAvail
(``v6-allocation-fail-rate-limited``), so 16 IA_PDs in one message cost 16.
Two buckets, each optional:

* per client, keyed by the DUID in the Client Identifier (for a relayed
  message, the innermost client's) → ``pkt6-rate-limited-client``;
* per source address, keyed by the IPv6 source of the datagram (a relay's
  address for relayed messages; checked before the message is decoded, so a
  flood of garbage from one address costs a dictionary look-up) →
  ``pkt6-rate-limited-source``.

Buckets live in memory only. A bucket that has filled up again is forgotten
(a full bucket is what a key never seen gets), so the server keeps buckets
only of the clients that asked within the last ``interval`` or so, not of
every client it ever served. At most ``max_tracked`` keys are kept per kind;
beyond that the least recently seen key is forgotten (it starts again with a
full bucket), so a sender spraying random DUIDs cannot grow the server's
memory — the per-source bucket is the defence against such a sender.

All times are the core's monotonic seconds (``now``); nothing here reads a
clock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from router.config import Limits, RateLimit, type_key

__all__ = ["Limits", "RateLimit", "TokenBuckets", "type_key"]


class TokenBuckets:
    """Token buckets keyed by anything hashable (a DUID's octets, an
    address). ``limit``: the :class:`RateLimit`; ``max_tracked``: keys kept
    (least recently seen forgotten first)."""

    __slots__ = ("_b", "_new", "_rate", "limit", "max_tracked")

    def __init__(self, limit: RateLimit, max_tracked: int = 65536) -> None:
        self.limit = limit
        self.max_tracked = max(1, max_tracked)
        self._rate = limit.count / limit.interval if limit.interval > 0 else float("inf")
        self._b: OrderedDict[Hashable, list[float]] = OrderedDict()
        self._new = 0  # keys added since the last look for full buckets

    def __len__(self) -> int:
        return len(self._b)

    def allow(self, key: Hashable, now: float) -> bool:
        """Take one token of ``key``'s bucket at ``now`` (seconds). True if
        there was one (the message may be answered); always True when the
        limit is off."""
        cap = self.limit.count
        if cap <= 0:
            return True
        buckets = self._b
        b = buckets.get(key)
        if b is None:
            self._new += 1
            if self._new >= 64:
                self._forget_full(now, cap)
            if len(buckets) >= self.max_tracked:
                buckets.popitem(last=False)
            buckets[key] = [cap - 1.0, now]
            return True
        buckets.move_to_end(key)
        tokens, last = b
        if now > last:
            tokens = min(float(cap), tokens + (now - last) * self._rate)
            b[1] = now
        if tokens >= 1.0:
            b[0] = tokens - 1.0
            return True
        b[0] = tokens
        return False

    def _forget_full(self, now: float, cap: int) -> None:
        """The least recently seen buckets that are full again go (at most
        twice as many as keys were added since the last time: the map does
        not grow while the keys refill)."""
        buckets, rate = self._b, self._rate
        n, self._new = 2 * self._new, 0
        while n and buckets:
            old, b = buckets.popitem(last=False)
            if not b[0] + (now - b[1]) * rate >= cap:
                buckets[old] = b  # not full yet: back in its place, first
                buckets.move_to_end(old, last=False)
                break
            n -= 1

    def tokens(self, key: Hashable, now: float) -> float:
        """Tokens ``key`` would have at ``now`` (for status and tests)."""
        cap = self.limit.count
        b = self._b.get(key)
        if b is None:
            return float(cap)
        return min(float(cap), b[0] + max(0.0, now - b[1]) * self._rate)
