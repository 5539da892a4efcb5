"""Sans-I/O cores of the host agent: bytes and ``now`` in; datagrams, timers and
events out. :class:`HostCore` joins :class:`PdClient` (DHCPv6-PD),
:class:`RaListener` (RS/RA), :class:`AddressManager` and the setsc() rules.

Where things are:

====================== ========================================================
``host.py``            :class:`HostCore`: joins the parts, the sans-I/O calls
``moves.py``           what a move does to each type's addresses and leases
``setsc.py``           the setsc() rules (RFC 8653 §3.5, §4.1)
``policy.py``          who may ask for what (quotas, ON_NET rate)
``trust.py``           whose RAs and DHCPv6 answers count
``privacy.py``         address rotation by age or bytes
``addresses.py``       :class:`AddressManager`: the addresses and their state
``ra_listener.py``     RS/RA (RFC 4861 §6.3), on-link prefixes (RFC 4862)
``pd_client.py``       :class:`PdClient`: DHCPv6-PD exchanges and timers
``pd_transitions.py``  the PD client's transitions as tables
``pd_receive.py``      a received Advertise/Reply, run through those tables
``pd_judge.py``        judging a received message (:class:`Verdict`)
``pd_model.py``        IA_PD, lease and exchange records, exchange kinds
``pd_kea.py``          Kea's top-level type (a one-server workaround)
``pd_release.py``      releasing what a late or partly unusable Reply granted
``pd_budget.py``       the fair RFC 8415 §14.1 send budget
``retransmit.py``      RFC 8415 §15 retransmission, token buckets
``saved_state.py``     the core's state, exported and restored by the core
                       itself (the file is written by ``host/state.py``)
``status.py``          the status snapshot; local faults apart from bad input
``droplog.py``         counters and the rate-limited log of dropped datagrams
``events.py``          what the core reports to its adapter
====================== ========================================================
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
