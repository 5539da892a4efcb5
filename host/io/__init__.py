"""I/O adapters of the host agent (asyncio, sockets, pyroute2, the Unix API)."""
