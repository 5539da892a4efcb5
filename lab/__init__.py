"""The odm lab: network namespaces ``cn`` -- ``ar1``/``ar2`` -- ``mh`` built with
pyroute2, used by the tests (``tests/netns``) and by ``odm lab``.

Quick use::

    from lab import Lab, LabConfig

    with Lab(LabConfig(prefix="odmx")) as lab:          # up() ... down()
        lab.exec("cn", ["python3", "-c", "print('hi')"])
        srv = lab.spawn("ar1", ["python3", "-m", "http.server"], "/tmp/srv.log")
        lab.move("mh", "ar2")

See :mod:`lab.topology` for the topology and interface names, and
:mod:`lab.config` for the address plan.
"""

from lab.config import (
    ACCESS_BRIDGE,
    ACCESS_PORT,
    CN,
    CORE_BRIDGE,
    HOST,
    HOST_IF,
    ROUTER_CORE_IF,
    LabConfig,
    LabConfigError,
    LabRouter,
    load_config,
)
from lab.topology import Lab, LabError

__all__ = [
    "ACCESS_BRIDGE",
    "ACCESS_PORT",
    "CN",
    "CORE_BRIDGE",
    "HOST",
    "HOST_IF",
    "ROUTER_CORE_IF",
    "Lab",
    "LabConfig",
    "LabConfigError",
    "LabError",
    "LabRouter",
    "load_config",
]
