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

from router.config import model
from router.config.model import *

if TYPE_CHECKING:
    from router.config.parse import load_config, parse_config

__all__ = ["load_config", "parse_config"]  # the parser's, loaded by __getattr__
__all__ += model.__all__


def __getattr__(name: str):
    if name in ("load_config", "parse_config"):
        from router.config import parse
        return getattr(parse, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
