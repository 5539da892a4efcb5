"""Counted, rate-limited reports of what the host does not use.

Every datagram the host agent drops, and every part of a message it ignores
or salvages, is counted under a named counter (shown by ``odm host status``
under ``drops``) and logged with why, at most one line per counter every
``interval`` seconds of the core's clock; the lines suppressed in between are
counted and their number is given with the next line. Sans-I/O: the caller
passes the time.
"""

from __future__ import annotations

import logging
from collections import Counter

from odm_sansio.ratelog import RateLimitedLog

__all__ = ["DropLog"]


class DropLog:
    """Named counters with a rate-limited log line each (module docstring).

    ``log``: the logger the lines go to; ``interval``: seconds between two
    lines of one counter."""

    def __init__(self, log: logging.Logger, interval: float = 1.0) -> None:
        self.log = log
        self.counts: Counter = Counter()
        self._lines = RateLimitedLog(log, interval)

    def __call__(self, name: str, now: float | None, fmt: str, *args,
                 level: int = logging.INFO) -> None:
        """Count one under ``name`` and log ``fmt % args`` unless a line of
        ``name`` was logged less than ``interval`` seconds before ``now``
        (None: always log)."""
        self.counts[name] += 1
        self._lines(name, now, "[%s] " + fmt, name, *args, level=level)

    def snapshot(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    @property
    def total(self) -> int:
        return sum(self.counts.values())
