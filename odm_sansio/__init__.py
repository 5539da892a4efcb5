"""odm's sans-I/O contract, below both agents.

A core (the router's :class:`~router.core.RouterCore`, the host's
:class:`~host.core.HostCore` and the parts they join) takes bytes and the current
time and hands back datagrams, a timer and events; it never touches a socket, a
clock, netlink or asyncio. Adapters (``router/io``, ``host/io``) own those. The
shape follows aioquic's QuicConnection and h11's Connection:

- :class:`Outgoing`: one datagram a core wants sent;
- :class:`Core`: the five calls every core answers;
- :mod:`odm_sansio.linksim`: a fake-clock link that pumps datagrams between cores,
  for tests, the fuzz engine and the pcap conformance replay;
- :mod:`odm_sansio.ratelog`: a rate-limited log, the time passed in.

This package imports nothing from odm's other packages.
"""

from odm_sansio.contract import Core, Kind, Outgoing

__all__ = ["Core", "Kind", "Outgoing"]
