"""Sans-I/O router core: RA sender, DHCPv6-PD server, bindings, allocator.

No sockets, no clocks, no netlink here: bytes and ``now`` in, datagrams,
timers and events out (odm's core contract, aioquic style). The lease store
is called synchronously and committed before any Reply is handed out.
"""

from router.core.dhcp_server import DhcpServer
from router.core.events import (
    BindingMovedHere,
    Event,
    PrefixDelegated,
    PrefixReleased,
    PrefixRenewed,
    RaShutdownComplete,
)
from router.core.ra_sender import AdvertisedPrefix, RaSender
from router.core.router import RouterCore

__all__ = [
    "AdvertisedPrefix",
    "BindingMovedHere",
    "DhcpServer",
    "Event",
    "PrefixDelegated",
    "PrefixReleased",
    "PrefixRenewed",
    "RaSender",
    "RaShutdownComplete",
    "RouterCore",
]
