"""A rate-limited log: at most one line per kind every ``interval`` seconds,
the lines held back in between counted and their number given with the next
line. Sans-I/O: the caller passes the time (a core its own clock, an adapter
its loop's), so a flood of bad input costs a counter, not a log line each.

Used by both agents' cores (bad datagrams, local faults) and adapters
(socket errors, API clients)."""

from __future__ import annotations

import logging
from collections import Counter

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """``log``: the logger the lines go to; ``interval``: seconds between two
    lines of one kind."""

    def __init__(self, log: logging.Logger, interval: float) -> None:
        self.log = log
        self.interval = interval
        self.last: dict[str, float] = {}
        self.held: Counter = Counter()

    def __call__(self, kind: str, now: float | None, fmt: str, *args: object,
                 level: int = logging.WARNING, exc_info: bool = False) -> bool:
        """Log ``fmt % args`` unless a line of ``kind`` went less than
        ``interval`` seconds before ``now`` (None: always log); True if it was
        logged."""
        if now is not None:
            t = self.last.get(kind)
            if t is not None and now - t < self.interval:
                self.held[kind] += 1
                return False
            self.last[kind] = now
        n = self.held.pop(kind, 0)
        if n:
            fmt += " (%d more like this since the last report)"
            args = (*args, n)
        self.log.log(level, fmt, *args, exc_info=exc_info or None)
        return True
