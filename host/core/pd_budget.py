"""The DHCPv6 client's send budget (RFC 8415 §14.1), shared fairly, sans-I/O.

Sends are bounded by a token bucket (:class:`~host.core.retransmit.TokenBucket`:
``rate_limit_count`` messages per ``rate_limit_interval``). Every IA_PD has a
``share`` (the uid whose setsc() started it; None for the agent's own: legacy,
boot types, rotation). A send that finds no token waits in its share's queue;
each token that comes back goes to the waiting share that has sent the fewest
messages lately (a count that decays with a time constant of
``rate_limit_interval``; ties to the one that sent least recently, so equal
shares take turns). One uid's stream of acquisitions therefore never delays
another uid's occasional request by more than the wait for the next token per
message: the light share goes first (max-min fairness), the heavy one gets the
tokens nobody lighter waits for. While anything waits, a new send queues too
(it never jumps ahead of those waiting).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable

from host.core.retransmit import TokenBucket

__all__ = ["FairBudget"]

#: the PD client has one logger, whichever of its modules speaks
log = logging.getLogger("host.core.pd_client")


class FairBudget:
    """The §14.1 bucket and the queues of the shares waiting for it."""

    def __init__(self, count: int, interval: float) -> None:
        self.interval = interval
        self.bucket = TokenBucket(count, interval)
        #: share → its exchanges waiting for a token; the next token goes to
        #: the waiting share that sent fewest lately (``_used``: share →
        #: [decayed count, when]), then least recently (``_served``: share →
        #: sequence number of its last send)
        self.deferred: dict[int | None, deque] = {}
        self._served: dict[int | None, int] = {}
        self._used: dict[int | None, list[float]] = {}
        self._send_seq = 0

    def try_send(self, share: int | None, now: float) -> bool:
        """Whether a message of ``share`` may leave now (a token taken and the
        send counted); False when others wait or no token is left."""
        if not self.deferred and self.bucket.take(now):
            self._sent_by(share, now)
            return True
        return False

    def defer(self, ex, now: float) -> None:
        """``ex`` (an exchange of share ``ex.ia.share``) waits for a token."""
        share = ex.ia.share
        waiting = self.deferred.get(share)
        if waiting is None:
            waiting = self.deferred[share] = deque()
        if not any(e is ex for e in waiting):
            log.info("send rate limit reached (RFC 8415 §14.1): %s of share %s deferred",
                     ex.message.name, "agent" if share is None else f"uid {share}")
            waiting.append(ex)

    def release_ready(self, now: float, alive: Callable, send: Callable) -> None:
        """Hand waiting exchanges to ``send(ex)`` while there are tokens, each
        token to the fairest share (module docstring); ``alive(ex)``: whether
        the exchange is still under way (one that ended costs no token)."""
        q = self.deferred
        while q:
            share = min(q, key=lambda k: (round(self._use_of(k, now), 6),
                                          self._served.get(k, -1)))
            waiting = q[share]
            while waiting and not alive(waiting[0]):
                waiting.popleft()  # ended meanwhile: costs no token
            if not waiting:
                del q[share]
                continue
            if not self.bucket.take(now):
                return
            self._sent_by(share, now)
            send(waiting.popleft())
            if not waiting:
                del q[share]

    def withdraw(self, ex) -> None:
        """``ex`` ended: its send, if waiting, is moot."""
        share = ex.ia.share
        waiting = self.deferred.get(share)
        if waiting:
            kept = deque(e for e in waiting if e is not ex)
            if kept:
                self.deferred[share] = kept
            else:
                del self.deferred[share]

    def count(self) -> int:
        """Messages waiting for a token."""
        return sum(len(v) for v in self.deferred.values())

    def next_token(self) -> float | None:
        """When the next token comes, if anything waits for one."""
        if not self.deferred:
            return None
        return self.bucket.next_available(self.bucket.stamp or 0.0)

    def _use_of(self, share: int | None, now: float) -> float:
        u = self._used.get(share)
        if u is None:
            return 0.0
        tau = self.interval or 1.0
        return u[0] * math.exp(-max(0.0, now - u[1]) / tau)

    def _sent_by(self, share: int | None, now: float) -> None:
        self._used[share] = [self._use_of(share, now) + 1.0, now]
        self._served[share] = self._send_seq
        self._send_seq += 1
        if len(self._served) > 4096:  # forget shares that wait for nothing
            self._served = {k: v for k, v in self._served.items() if k in self.deferred}
            self._used = {k: v for k, v in self._used.items() if k in self.deferred}
