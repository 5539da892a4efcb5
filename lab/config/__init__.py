"""The lab's configuration: :mod:`lab.config.model` (names, the address
plan, :class:`LabConfig` and its :class:`LabRouter` s) and
:mod:`lab.config.parse` (a TOML file into them). Every public name of both
is importable from here."""

from lab.config import model
from lab.config.model import *
from lab.config.parse import lab_config_from_dict, load_config

__all__ = ["lab_config_from_dict", "load_config"]
__all__ += model.__all__
