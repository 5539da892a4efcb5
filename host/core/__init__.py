"""Sans-I/O cores of the host agent: bytes and ``now`` in; datagrams, timers and
events out. :class:`HostCore` joins :class:`PdClient` (DHCPv6-PD),
:class:`RaListener` (RS/RA), :class:`AddressManager` and the setsc() rules.

Where things are decided:

- what a move does to each type's addresses and leases: ``moves.py``;
- the PD client's transitions: ``pd_transitions.py`` (tables), run by
  ``pd_client.py`` and ``pd_receive.py``; judging a received message:
  ``pd_judge.py``; Kea's top-level type: ``pd_kea.py``; releasing what a
  late or partly unusable Reply committed: ``pd_release.py``; the fair
  RFC 8415 §14.1 budget: ``pd_budget.py``;
- who may ask for what: ``policy.py``; whose answers count: ``trust.py``;
  address rotation: ``privacy.py``;
- the core's durable state, exported and restored by the core itself:
  ``durable.py`` (the file is written by host/state.py);
- local faults apart from bad input, and the status: ``status.py``.
"""

from host.core.addresses import Address, AddressManager
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
