"""Sans-I/O cores of the host agent: bytes and ``now`` in; datagrams, timers and
events out. :class:`HostCore` joins :class:`PdClient` (DHCPv6-PD),
:class:`RaListener` (RS/RA), :class:`AddressManager` and the setsc() rules."""

from host.core.addresses import Address, AddressManager
from host.core.events import *
from host.core.host import HostCore
from host.core.pd_client import IaPd, IaState, Lease, PdClient
from host.core.ra_listener import RaListener
from host.core.retransmit import Retransmitter, RtParams, TokenBucket

__all__ = [
           "Address",
           "AddressManager",
           "HostCore",
           "IaPd",
           "IaState",
           "Lease",
           "PdClient",
           "RaListener",
           "Retransmitter",
           "RtParams",
           "TokenBucket",
]
