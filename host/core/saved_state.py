"""The host core's durable document: what :meth:`HostCore.export_state` gives
and :meth:`HostCore.restore_state` takes back, sans-I/O. Writing it to disk
(atomically, before the answer that depends on it leaves) is the adapter's
job, :mod:`host.state`; what is kept and why is written there.

The document (JSON-able; times absolute on the writer's core clock, None for
infinity; the adapter adds ``core_clock`` and ``wall_clock``)::

    version      VERSION
    duid, iface  the client DUID (hex; RFC 8415 §11) and the interface
    next_iaid    PdClient.export_state()
    ias          PdClient.export_state(), with "acquirer" (the uid charged)
    addresses    AddressManager.export_state()
    references   one per setsc() reference whose socket the adapter knows:
                 address, type, since, pid, inode, fd, uid, gid, groups
    rotation     Rotation.export_state() (host/core/privacy.py)

Each part is exported and restored by its own object; this module only joins
them and turns the references into :class:`Adopted` owners.
"""

from __future__ import annotations

from ipaddress import IPv6Address
from typing import Any

from host.core.policy import Principal
from host.core.setsc import Reference
from odm_wire.constants import MobilityType
from odm_wire.dhcp6 import encode_duid

__all__ = ["VERSION", "Adopted", "export_host", "restore_host"]

#: version of the document; another version is refused (the agent starts afresh)
VERSION = 1


class Adopted:
    """A reference restored from the state file: owner id (negative), the
    application's pid, its socket's inode and fd number (the adapter watches
    the socket through ``/proc/<pid>/fd``)."""

    __slots__ = ("fd", "inode", "owner", "pid")

    def __init__(self, owner: int, pid: int, inode: int, fd: int | None) -> None:
        self.owner, self.pid, self.inode, self.fd = owner, pid, inode, fd

    def __repr__(self) -> str:
        return f"Adopted(owner={self.owner}, pid={self.pid}, inode={self.inode})"


def export_host(core, owners: dict[int, dict] | None = None) -> dict[str, Any]:
    """The document of ``core`` (a :class:`host.core.host.HostCore`).
    ``owners``: owner id → ``{"pid", "inode", "fd"}`` of its application
    socket; references of owners not in it (no socket known) are not kept."""
    owners = owners or {}
    pd = core.pd.export_state()
    for d in pd["ias"]:
        d["acquirer"] = core.acquirer.get(d["iaid"])
    refs = []
    for owner, ref in core.refs.items():
        o = owners.get(owner)
        if o is None or o.get("inode") is None:
            continue
        p = core.principals.get(owner)
        refs.append({"address": str(ref.address), "type": int(ref.mobility_type),
                     "since": ref.since, "pid": o["pid"], "inode": o["inode"],
                     "fd": o.get("fd"), "uid": p.uid if p else None,
                     "gid": p.gid if p else None,
                     "groups": sorted(p.groups) if p else []})
    return {"version": VERSION, "duid": encode_duid(core.pd.duid).hex(),
            "iface": core.config.iface, "next_iaid": pd["next_iaid"], "ias": pd["ias"],
            "addresses": core.addrs.export_state(), "references": refs,
            "rotation": core.rotation.export_state()}


def restore_host(core, doc: dict[str, Any], now: float, elapsed: float) -> list[Adopted]:
    """Put ``doc`` (written at ``doc["core_clock"]`` on the old core clock,
    ``elapsed`` wall-clock seconds ago) into the fresh ``core`` at ``now``.
    Returns the adopted references. Raises ValueError for a document of
    another version or DUID."""
    if doc.get("version") != VERSION:
        raise ValueError(f"state version {doc.get('version')!r}, expected {VERSION}")
    if doc.get("duid") != encode_duid(core.pd.duid).hex():
        raise ValueError("state of another DUID")
    shift = now - float(doc["core_clock"]) - max(0.0, elapsed)
    pd = core.pd
    pd.restore_state(doc, now, shift)
    for ia in pd.ias.values():
        if ia.share is not None:
            core.acquirer[ia.iaid] = ia.share
    delegated = {net: (ia.iaid, le) for ia in pd.ias.values() for net, le in ia.leases.items()}
    core.addrs.restore_state(doc.get("addresses", []), delegated, now)
    adopted: list[Adopted] = []
    for i, rd in enumerate(doc.get("references", [])):
        addr = IPv6Address(rd["address"])
        a = core.addrs.by_address.get(addr)
        if a is None:
            continue
        owner = -(i + 1)
        core.refs[owner] = Reference(owner, addr, MobilityType(rd["type"]),
                                     float(rd["since"]) + shift)
        a.refs.add(owner)
        if rd.get("uid") is not None:
            core.principals[owner] = Principal(int(rd["uid"]), int(rd["gid"]),
                                               frozenset(rd.get("groups", ())), int(rd["pid"]))
        adopted.append(Adopted(owner, int(rd["pid"]), int(rd["inode"]), rd.get("fd")))
    core.rotation.restore_state(doc.get("rotation", []), shift, core.addrs.by_address,
                                pd.ias)
    return adopted

