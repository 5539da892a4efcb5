"""The host agent's configuration: :mod:`host.config.model` (the frozen
:class:`HostConfig` and the :class:`Timers` the host core runs with) and
:mod:`host.config.parse` (the ``[host]`` table of a TOML file into them).

Every public name of both is importable from here. The parser is imported
on first use of one of its names, so importing the model (as the core does)
never loads the file-reading code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from host.config.model import (
    DEFAULT_API_SOCKET,
    HostConfig,
    HostConfigError,
    Timers,
    default_release_policy,
)

if TYPE_CHECKING:
    from host.config.parse import config_from_mapping, load_config

__all__ = [
    "DEFAULT_API_SOCKET",
    "HostConfig",
    "HostConfigError",
    "Timers",
    "config_from_mapping",
    "default_release_policy",
    "load_config",
]

_PARSER = ("config_from_mapping", "load_config")


def __getattr__(name: str):
    if name in _PARSER:
        from host.config import parse
        return getattr(parse, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
