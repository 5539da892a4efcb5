"""Logging of every odm command and agent, set up in one place.

* ``odm -v`` / ``-vv`` (before the sub-command) and ``--log-level`` (on the
  agents' ``run``) choose the threshold: an explicit ``--log-level`` wins, else
  each ``-v`` is one step more (warning → info → debug) from the command's
  default (info for the agents, warning for the tools).
* Per-module levels: ``--log-level router.dhcp=debug`` (repeatable, next to
  a plain level) sets one logger, as Kea's per-logger ``severity`` does.
* pyroute2 and asyncio stay at WARNING unless ``-vv`` (or a per-module level
  names them): their DEBUG output drowned odm's own.
* ``--log-format json``: one JSON object per line (``time``, ``level``,
  ``logger``, ``message``, ``pid``, and ``exception`` when there is one), for
  journald/Loki/ELK; the default is one text line.
"""

from __future__ import annotations

import json
import logging
import os
import time

__all__ = ["LEVELS", "JsonFormatter", "setup"]

LEVELS = ("debug", "info", "warning", "error")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY = ("pyroute2", "asyncio")

#: what ``odm -v/--log-format`` asked for; the agents' ``run`` reads it
state = {"verbose": 0, "format": "text"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
            + f".{int(record.msecs):03d}" + time.strftime("%z", time.localtime(record.created)),
            "level": record.levelname, "logger": record.name,
            "message": record.getMessage(), "pid": os.getpid(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _level(name: str) -> int:
    name = name.strip().lower()
    if name not in LEVELS:
        raise ValueError(f"{name!r} is not a log level ({', '.join(LEVELS)})")
    return getattr(logging, name.upper())


def parse_levels(specs: tuple[str, ...] | list[str]) -> tuple[int | None, dict[str, int]]:
    """``("info", "router.dhcp=debug")`` → (INFO, {"router.dhcp": DEBUG}).
    Raises ValueError naming what is wrong."""
    base = None
    per: dict[str, int] = {}
    for spec in specs:
        for part in spec.split(","):
            if not part.strip():
                continue
            if "=" in part:
                name, lvl = part.split("=", 1)
                per[name.strip()] = _level(lvl)
            else:
                base = _level(part)
    return base, per


def setup(default: str = "warning", specs: tuple[str, ...] | list[str] = (),
          verbose: int | None = None, fmt: str | None = None) -> None:
    """(Re)configure the root logger for this process (see the module
    docstring). ``default``: the command's own threshold."""
    verbose = state["verbose"] if verbose is None else verbose
    fmt = state["format"] if fmt is None else fmt
    base, per = parse_levels(specs)
    if base is None:
        base = max(logging.DEBUG, _level(default) - 10 * verbose)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(base)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose >= 2 else
                                         max(base, logging.WARNING))
    for name, lvl in per.items():
        logging.getLogger(name).setLevel(lvl)
