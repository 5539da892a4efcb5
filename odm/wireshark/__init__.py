"""odm's Wireshark Lua post-dissector (``odm.lua``), shipped as package data.

It names odm's vendor sub-options inside IAPREFIX (MOBILITY_TYPE,
SUPPORTED_TYPES) and the PIO mobility-type bits; see the header of the Lua
file for fields and loading.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["lua_path"]


def lua_path() -> Path:
    """Absolute path of the installed ``odm.lua``.
    Raises FileNotFoundError when the package data is missing."""
    p = Path(str(resources.files(__name__).joinpath("odm.lua")))
    if not p.is_file():
        raise FileNotFoundError(p)
    return p
