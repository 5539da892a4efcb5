"""The host agent's configuration: :mod:`host.config.model` (the frozen
:class:`HostConfig` and the :class:`Timers` the host core runs with) and
:mod:`host.config.parse` (the ``[host]`` table of a TOML file into them).

Every public name of both is importable from here. The parser is imported
on first use of one of its names, so importing the model (as the core does)
never loads the file-reading code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from host.config import model
from host.config.model import *

if TYPE_CHECKING:
    from host.config.parse import config_from_mapping, load_config

__all__ = ["config_from_mapping", "load_config"]  # the parser's, loaded by __getattr__
__all__ += model.__all__


def __getattr__(name: str):
    if name in ("config_from_mapping", "load_config"):
        from host.config import parse
        return getattr(parse, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
