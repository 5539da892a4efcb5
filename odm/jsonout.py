"""One style for every ``--json`` odm prints (issue 16): keys in kebab-case,
as Kea's answers and ``odm router status`` have them, and mobility types
spelled as in the configuration files (``fixed``, ``session-lasting``,
``non-persistent``, ``graceful-replacement``; ``legacy`` for an untyped
prefix). Text output names types as RFC 8653 does (``SESSION_LASTING``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn

from odm_wire.constants import MobilityType

__all__ = ["config_refusal", "dumps", "kebab", "type_json"]


def kebab(obj: Any) -> Any:
    """``obj`` with every dict key's ``_`` turned into ``-`` (recursively)."""
    if isinstance(obj, dict):
        return {(k.replace("_", "-") if isinstance(k, str) else k): kebab(v)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [kebab(v) for v in obj]
    return obj


def type_json(t: Any) -> str | int | None:
    """A mobility type for JSON: its configuration name, ``legacy`` for none,
    the number for a reserved value."""
    if t is None or t == 0:
        return "legacy"
    if isinstance(t, MobilityType):
        return t.cli_name
    if isinstance(t, str):
        try:
            return MobilityType.from_name(t).cli_name
        except ValueError:
            return t
    try:
        return MobilityType(int(t)).cli_name
    except ValueError:
        return int(t)


def dumps(obj: Any, indent: int | None = 2) -> str:
    """``json.dumps`` of :func:`kebab` of ``obj``."""
    return json.dumps(kebab(obj), indent=indent, default=str)


def config_refusal(config_file: str, as_json: bool) -> Callable[[str, str], NoReturn]:
    """How ``odm router|host check-config`` refuse a file: ``FILE: key:
    reason`` on stderr (without a key when there is none), or
    ``{"ok": false, "key", "reason"}`` with ``--json``; exit 1."""
    import sys

    import click

    def refuse(key: str, reason: str) -> NoReturn:
        if as_json:
            click.echo(json.dumps({"ok": False, "key": key, "reason": reason}))
        else:
            click.echo(f"{config_file}: {key}: {reason}" if key else
                       f"{config_file}: {reason}", err=True)
        sys.exit(1)
    return refuse
