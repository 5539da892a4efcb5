"""Sans-I/O router core: RA sender, DHCPv6-PD server, bindings, allocator.

No sockets, no clocks, no netlink here: bytes and ``now`` in, datagrams,
timers and events out (odm's core contract, :mod:`odm_sansio`, aioquic
style). The lease store is called synchronously through the interface the
core declares (:mod:`router.core.store`) and committed before any Reply is
handed out.

Where things are:

==================== ==========================================================
``router.py``        :class:`RouterCore`: one interface's RA sender + server
``ra_sender.py``     Router Advertisements (RFC 4861 §6.2)
``dhcp_server.py``   :class:`DhcpServer`: dispatch and validation (RFC 8415 §16)
``grants.py``        Solicit / Request: offers and new bindings (§18.3.1-2)
``renew_rebind.py``  Renew and Rebind, the unknown IA policy (§18.3.4-5)
``moves.py``         the moved-host policy: the Rebind of a host that moved here
``release.py``       Release and Decline (§18.3.7-8)
``relay.py``         Relay-Forw in, Relay-Repl out (§19)
``replies.py``       building Advertise / Reply, T1/T2, the exchange log line
``terms.py``         the lifetimes and T1/T2 a binding is given
``next_hop.py``      the next hop of a binding, moved only with evidence
``leases.py``        every change to a binding (table, pools, store, events)
``reclaim.py``       expired bindings back to their pools
``durable.py``       a lease is durable before its Reply leaves
``store.py``         :class:`BindingStore`, the store interface the core needs
``faults.py``        counters; remote faults apart from local ones
``bindings.py``      :class:`Binding` and the in-memory table
``allocator.py``     the pools' free prefixes
``limits.py``        rate limits (token buckets)
``events.py``        what the core reports to its adapter
==================== ==========================================================
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
