"""The router agent's configuration: :mod:`router.config.model` (the frozen
dataclasses the router core runs with) and :mod:`router.config.parse` (a
TOML file into them; ``[[interface]]`` tables in
:mod:`router.config.parse_interface`).

Every public name of both is importable from here (``from router.config
import InterfaceConfig, load_config``). The parser is imported on first use
of one of its names, so importing the model (as the core does) never loads
the file-reading code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.config.model import (
    LIMIT_TYPE_NAMES,
    ConfigError,
    InterfaceConfig,
    LeaseStoreConfig,
    Limits,
    MobilityConfig,
    MobilityPeer,
    PdPool,
    RaConfig,
    RaPrefix,
    RateLimit,
    Reservation,
    RouterConfig,
    TimerProfile,
    parse_duid_text,
    t1_t2,
    type_key,
)

if TYPE_CHECKING:
    from router.config.parse import load_config, parse_config

#: the old private name of :func:`t1_t2`, still imported by router/core/dhcp_server.py
_timers = t1_t2

__all__ = [
    "LIMIT_TYPE_NAMES",
    "ConfigError",
    "InterfaceConfig",
    "LeaseStoreConfig",
    "Limits",
    "MobilityConfig",
    "MobilityPeer",
    "PdPool",
    "RaConfig",
    "RaPrefix",
    "RateLimit",
    "Reservation",
    "RouterConfig",
    "TimerProfile",
    "load_config",
    "parse_config",
    "parse_duid_text",
    "t1_t2",
    "type_key",
]

_PARSER = ("load_config", "parse_config")


def __getattr__(name: str):
    if name in _PARSER:
        from router.config import parse
        return getattr(parse, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
