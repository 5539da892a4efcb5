"""I/O adapters of the router agent: asyncio loop, kernel sockets (UDP 547,
raw ICMPv6), pyroute2 netlink on a worker thread, the Unix control socket.

The protocol logic lives in :mod:`router.core` (sans-I/O); this package only
moves bytes, times and routes (see :mod:`router.io.agent`)."""

from router.io.agent import RouterAgent, run_agent

__all__ = ["RouterAgent", "run_agent"]
