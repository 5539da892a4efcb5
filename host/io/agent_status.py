"""What the host agent's ``status`` API request answers, per caller."""

from __future__ import annotations

from host.io.api_server import Connection

__all__ = ["status_for"]


def status_for(agent, c: Connection) -> dict:
    """``odm host status`` of ``agent`` (a :class:`host.io.agent.HostAgent`)
    as ``c``'s caller may see it: root (uid 0) sees
    every API connection (pid, uid, gid, socket inode), reference and
    pending setsc(); any other uid only its own (SO_PEERCRED of the
    connection asking). The host's addresses, prefixes and routers are
    not secret (every user reads them from the kernel); how many sockets
    of other users hold an address is."""
    st = agent.core.status(agent.now())
    st["iface"] = agent.config.iface
    st["api"] = agent.api.snapshot()
    st["state_file"] = None if agent.state is None else {
        "path": str(agent.state.path), "writes": agent.state.writes,
        "write_failed": agent.state_write_failed}
    conns = list(agent.api.conns.values())
    if c.uid == 0:
        st["owners"] = [x.info() for x in conns]
        st["visible"] = "all"
        return st
    mine = {x.owner for x in conns if x.uid == c.uid}
    mine |= {o for o, p in agent.core.principals.items() if p.uid == c.uid}
    st["owners"] = [x.info() for x in conns if x.uid == c.uid]
    st["references"] = [r for r in st["references"] if r["owner"] in mine]
    st["pending"] = [p for p in st["pending"] if p["owner"] in mine]
    held: dict[str, int] = {}
    for r in st["references"]:
        held[r["address"]] = held.get(r["address"], 0) + 1
    for a in st["addresses"]:
        a["refs"] = held.get(a["address"], 0)
    st["visible"] = f"uid {c.uid} only"
    return st
