"""The lab's configuration: :mod:`lab.config.model` (names, the address
plan, :class:`LabConfig` and its :class:`LabRouter` s) and
:mod:`lab.config.parse` (a TOML file into them). Every public name of both
is importable from here."""

from lab.config.model import (
    ACCESS_BRIDGE,
    ACCESS_PORT,
    CN,
    CORE_BRIDGE,
    DEFAULT_CN_ADDRESS,
    DEFAULT_CORE_PREFIX,
    DEFAULT_STATE_DIR,
    HOST,
    HOST_IF,
    ROUTER_CORE_IF,
    LabConfig,
    LabConfigError,
    LabRouter,
    default_routers,
)
from lab.config.parse import lab_config_from_dict, load_config

__all__ = [
    "ACCESS_BRIDGE",
    "ACCESS_PORT",
    "CN",
    "CORE_BRIDGE",
    "DEFAULT_CN_ADDRESS",
    "DEFAULT_CORE_PREFIX",
    "DEFAULT_STATE_DIR",
    "HOST",
    "HOST_IF",
    "ROUTER_CORE_IF",
    "LabConfig",
    "LabConfigError",
    "LabRouter",
    "default_routers",
    "lab_config_from_dict",
    "load_config",
]
