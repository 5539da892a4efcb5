"""The lab's status: a JSON-ready snapshot of its namespaces, interfaces,
addresses and processes (a part of :class:`lab.topology.Lab`; ``odm lab
status``)."""

from __future__ import annotations

import socket
from typing import Any

from pyroute2 import NetlinkError

from lab import nsutil
from lab.config import ACCESS_BRIDGE
from lab.errors import LabError

__all__ = ["LabStatus"]


class LabStatus:
    """:meth:`status` (``iproute`` and ``_load`` come from
    :class:`lab.topology.Lab`)."""

    def status(self) -> dict[str, Any]:
        """A JSON-ready snapshot of the lab.

        Returns:
            ``{"prefix", "state_path", "up" (bool), "phase" (or None),
            "attached" (router or None), "routers": {name: {core_address,
            access_link_local, access_address, access_prefix, pd_pool,
            access_ifname}}, "nodes": {node: {"netns", "exists", "interfaces":
            [{ifname, index, kind, state, operstate, carrier, carrier_changes,
            master, mac, addresses: ["addr/len", ...]}]}}, "processes":
            [{pid, node, argv, log, kind, alive}]}``.
        """
        st = self._load()
        cfg = self.config
        nodes: dict[str, Any] = {}
        for node in cfg.nodes:
            name = cfg.netns(node)
            info: dict[str, Any] = {"netns": name, "exists": nsutil.netns_exists(name),
                                    "interfaces": []}
            if info["exists"]:
                try:
                    info["interfaces"] = self._interfaces(node)
                except (NetlinkError, OSError, LabError) as exc:
                    info["error"] = str(exc)
            nodes[node] = info
        procs = []
        for p in (st or {}).get("processes", []):
            procs.append({**{k: p.get(k) for k in ("pid", "node", "argv", "log", "kind")},
                          "alive": nsutil.proc_alive(p["pid"], p.get("starttime"))})
        return {
            "prefix": cfg.prefix,
            "state_path": str(self.state_path),
            "up": st is not None and st.get("phase") == "up",
            "phase": None if st is None else st.get("phase"),
            "attached": None if st is None else st.get("attached"),
            "routers": {
                r.name: {
                    "core_address": str(r.core_address),
                    "access_link_local": str(r.access_link_local),
                    "access_address": str(r.access_address),
                    "access_prefix": str(r.access_prefix),
                    "pd_pool": str(r.pd_pool),
                    "access_ifname": ACCESS_BRIDGE,
                }
                for r in cfg.routers
            },
            "cn_address": str(cfg.cn_address),
            "nodes": nodes,
            "processes": procs,
        }

    def _interfaces(self, node: str) -> list[dict[str, Any]]:
        with self.iproute(node) as ipr:
            links = list(ipr.get_links())
            addrs = list(ipr.get_addr(family=socket.AF_INET6))
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in links}
        out = []
        for link in links:
            idx = link["index"]
            linkinfo = link.get_attr("IFLA_LINKINFO")
            kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo else None
            master = link.get_attr("IFLA_MASTER")
            out.append({
                "ifname": link.get_attr("IFLA_IFNAME"),
                "index": idx,
                "kind": kind,
                "state": "up" if link["flags"] & 1 else "down",
                "operstate": link.get_attr("IFLA_OPERSTATE"),
                "carrier": bool(link.get_attr("IFLA_CARRIER")),
                "carrier_changes": link.get_attr("IFLA_CARRIER_CHANGES"),
                "master": names.get(master) if master else None,
                "mac": link.get_attr("IFLA_ADDRESS"),
                "addresses": [
                    f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
                    for a in addrs if a["index"] == idx
                ],
            })
        return out
