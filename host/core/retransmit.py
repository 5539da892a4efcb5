"""RFC 8415 §15 retransmission and §14.1 send-rate limiting, sans-I/O.

Both take ``now`` (seconds) from the caller and an injected
:class:`random.Random`, so tests drive them with a fake clock and a seeded RNG.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RtParams:
    """IRT, MRT, MRC, MRD of one message exchange (RFC 8415 §15), seconds.
    0 for MRT/MRC/MRD means "no limit"."""

    irt: float
    mrt: float = 0.0
    mrc: int = 0
    mrd: float = 0.0


class Retransmitter:
    """The RT sequence of RFC 8415 §15 for one exchange.

    - first RT = IRT + RAND·IRT, RAND uniform in [-0.1, +0.1]; with
      ``first_rt_above_irt`` (Solicit, §18.2.1) RAND is in (0, 0.1], so the
      first RT is in (IRT, 1.1·IRT];
    - next RT = 2·RTprev + RAND·RTprev; if MRT ≠ 0 and RT > MRT,
      RT = MRT + RAND·MRT;
    - the exchange ends after MRC transmissions (MRC ≠ 0) or once MRD seconds
      have passed since the first transmission (MRD ≠ 0); the last RT is cut
      so the timeout lands at ``start + MRD``.

    Usage: ``start(now)`` at the first transmission; when ``deadline`` passes
    call ``expire(now)``: True means "retransmit now" (count and deadline
    advanced), False means the exchange failed.
    """

    def __init__(self, params: RtParams, rng: random.Random, *,
                 first_rt_above_irt: bool = False) -> None:
        self.params = params
        self.rng = rng
        self.first_rt_above_irt = first_rt_above_irt
        self.rt = 0.0
        self.count = 0
        self.started: float | None = None
        self.deadline = math.inf

    def _rand(self) -> float:
        return self.rng.uniform(-0.1, 0.1)

    def _cap(self, now: float) -> None:
        p = self.params
        if p.mrt and self.rt > p.mrt:
            self.rt = p.mrt + self._rand() * p.mrt
        self.deadline = now + self.rt
        if p.mrd and self.started is not None:
            self.deadline = min(self.deadline, self.started + p.mrd)

    def start(self, now: float) -> float:
        """First transmission at ``now``; returns the first timeout (absolute)."""
        p = self.params
        self.started = now
        self.count = 1
        if self.first_rt_above_irt:
            rand = 0.1 * (1.0 - self.rng.random())  # (0, 0.1]
        else:
            rand = self._rand()
        self.rt = p.irt + rand * p.irt
        self._cap(now)
        return self.deadline

    def expire(self, now: float) -> bool:
        """The RT ran out at ``now``: True → send again (deadline moved on),
        False → MRC or MRD reached, the exchange has failed."""
        p = self.params
        if p.mrc and self.count >= p.mrc:
            self.deadline = math.inf
            return False
        if p.mrd and self.started is not None and now - self.started >= p.mrd - 1e-9:
            self.deadline = math.inf
            return False
        self.count += 1
        self.rt = 2 * self.rt + self._rand() * self.rt
        self._cap(now)
        return True

    def elapsed_centis(self, now: float) -> int:
        """Elapsed Time option value (RFC 8415 §21.9): hundredths of a second
        since the first transmission, 0xffff when longer; 0 before the first."""
        if self.started is None:
            return 0
        return min(0xFFFF, max(0, round((now - self.started) * 100)))


class TokenBucket:
    """Send-rate limit of RFC 8415 §14.1: ``capacity`` messages per
    ``interval`` seconds, refilled continuously; starts full."""

    def __init__(self, capacity: int, interval: float, now: float = 0.0) -> None:
        if capacity < 1 or interval <= 0:
            raise ValueError("token bucket needs capacity >= 1 and interval > 0")
        self.capacity = float(capacity)
        self.rate = capacity / interval
        self.tokens = float(capacity)
        self.stamp: float | None = None if now == 0.0 else now

    def _refill(self, now: float) -> None:
        if self.stamp is None:
            self.stamp = now
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one; False means "not now"."""
        self._refill(now)
        if self.tokens >= 1.0 - 1e-9:
            self.tokens -= 1.0
            return True
        return False

    def next_available(self, now: float) -> float:
        """Earliest time a token will be there (``now`` if one is)."""
        self._refill(now)
        if self.tokens >= 1.0 - 1e-9:
            return now
        return now + (1.0 - self.tokens) / self.rate
