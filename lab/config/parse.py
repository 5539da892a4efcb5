"""Reading a lab configuration: a TOML file (or the dict recorded in a lab's
state file) into a :class:`~lab.config.model.LabConfig`, on the shared table
reader :mod:`odm.tomltable` (key paths in errors, unknown keys named with the
key probably meant)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from tomllib import TOMLDecodeError
from typing import Any

from lab.config.model import LabConfig, LabConfigError, LabRouter, default_routers
from odm.tomltable import Table, hinting, read_toml

__all__ = ["lab_config_from_dict", "load_config"]

_TOP_KEYS = ("prefix", "state_dir", "core_prefix", "cn_address", "core_mac", "host_mac",
             "initial_router")
_ROUTER_KEYS = ("core_address", "access_link_local", "access_prefix", "pd_pool", "access_mac",
                "core_mac")


def _error(key: str, reason: str) -> LabConfigError:
    return LabConfigError(f"{key}: {reason}" if key else reason)


def _router(t: Table, name: str, builtin: dict[str, LabRouter]) -> LabRouter:
    """``[routers.NAME]``: a router of the built-in plan with some keys
    changed, or a new one with every key but ``core_mac`` given."""
    rd = t.given(_ROUTER_KEYS)
    t.done()
    base = builtin.get(name)
    if base is not None:
        return replace(base, **rd)
    missing = [k for k in _ROUTER_KEYS if k != "core_mac" and k not in rd]
    if missing:
        raise _error(t.path, f"missing {', '.join(missing)}")
    return LabRouter(name=name, **rd)


def lab_config_from_dict(data: dict[str, Any]) -> LabConfig:
    """Build a config from a dict shaped like the TOML file (see :func:`load_config`).

    Keys left out keep their defaults; a ``routers`` table, if present,
    gives the complete router set, and each router's missing fields come
    from the built-in router of the same name.

    Raises:
        LabConfigError: unknown keys, wrong types or an invalid result.
    """
    try:
        with hinting(LabConfigError, _error):
            top = Table(dict(data), "", error=_error)
            kw: dict[str, Any] = top.given(_TOP_KEYS)
            if top.has("routers"):
                rt = top.table("routers")
                builtin = {r.name: r for r in default_routers()}
                kw["routers"] = tuple(_router(rt.table(name), name, builtin)
                                      for name in list(rt.data))
                rt.done()
            top.done()
            return LabConfig(**kw)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, LabConfigError):
            raise
        raise LabConfigError(str(exc)) from exc


def load_config(path: str | Path, **overrides: Any) -> LabConfig:
    """Read a lab configuration from a TOML file.

    Example file (every key optional)::

        prefix = "odm"
        state_dir = "/run/odm-lab"
        core_prefix = "2001:db8:0:c0::/64"
        cn_address = "2001:db8:0:c0::100"
        initial_router = "ar1"
        [routers.ar1]
        pd_pool = "2001:db8:1000::/36"
        [routers.ar2]
        pd_pool = "2001:db8:2000::/36"

    Args:
        path: the TOML file.
        overrides: top-level keys that win over the file (e.g. ``prefix``);
            ``None`` values are ignored.

    Raises:
        OSError: the file cannot be read.
        LabConfigError: bad TOML or an invalid configuration.
    """
    try:
        data = read_toml(path)
    except TOMLDecodeError as exc:
        raise LabConfigError(f"{path}: {exc}") from exc
    data.update({k: v for k, v in overrides.items() if v is not None})
    return lab_config_from_dict(data)
