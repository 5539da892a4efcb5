"""The host agent's durable state: what it must remember to survive a crash
(SIGKILL, OOM, power loss) without losing or duplicating an address.

What is kept (``HostConfig.state_file``, JSON, rewritten atomically — temporary
file, ``fsync``, ``rename``, ``fsync`` of the directory — whenever it changes,
and before the setsc() answer that depends on the change leaves the agent):

- the client DUID (RFC 8415 §11: a client keeps its DUID across restarts);
- every IA_PD with its IAID, type, persistence, server DUID and address, and
  its delegated prefixes with their lifetimes;
- every address formed from a delegated prefix (the address itself: a random
  interface identifier cannot be formed again), and the interface identifiers
  of on-link (RA) prefixes, so the same address comes back when the RA does;
- the setsc() references: which address which application socket holds,
  identified by the owner's pid and the socket's inode (and fd number), and
  the uid/gid that asked; the uid that started each on-demand acquisition.

On start (:func:`restore`, then :meth:`host.core.host.HostCore.start`) the
lifetimes are shortened by the time the agent was down (wall clock), expired
prefixes are dropped, the addresses are installed again with ``replace`` (the
kernel still holds them: the same address, once), and every IA_PD that holds
prefixes is Rebound with the Confirm-like timing of RFC 8415 §18.2.12 ("the
client ... reboots": Rebind, RFC 8415 §18.2.5, with CNF_* retransmission
parameters), so the server confirms or withdraws each binding; the legacy
IA_PD and the boot types are acquired only if none was restored. References
come back as *adopted* owners (negative owner ids) that the agent watches
through ``/proc/<pid>/fd``: an application's socket that is still open keeps
its address across the agent's crash, and its closing later ends the
reference as usual.

Times in the file: ``core_clock`` / ``wall_clock`` of the moment of writing;
every other time is an absolute value on the writer's core clock, and
``None`` means infinity.
"""

from __future__ import annotations

import json
import logging
import math
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from host.core.addresses import Address
from host.core.events import AddressAdded
from host.core.pd_client import IaPd, IaState, Lease
from host.core.policy import Principal
from host.core.setsc import Reference
from odm.safefile import UnsafePath, read_private, write_private
from odm_wire.constants import MobilityType
from odm_wire.dhcp6 import Duid, decode_duid, encode_duid

log = logging.getLogger(__name__)

__all__ = ["VERSION", "Adopted", "StateFile", "export_state", "restore"]

VERSION = 1


def _t(v: float) -> float | None:
    return None if v == math.inf else v


def _mt(v) -> int | None:
    return None if v is None else int(v)


def export_state(core, owners: dict[int, dict] | None = None) -> dict[str, Any]:
    """The durable part of ``core`` (a :class:`host.core.host.HostCore`) as
    JSON-able data, times absolute on the core clock (see the module doc).

    ``owners``: owner id → ``{"pid", "inode", "fd"}`` of its application socket
    (from the API connection); references of owners not in it (no socket known)
    are not kept."""
    owners = owners or {}
    ias = []
    for ia in core.pd.ias.values():
        if ia.state == IaState.RELEASING or not ia.leases:
            continue
        ias.append({
            "iaid": ia.iaid, "type": _mt(ia.mobility_type), "persistent": ia.persistent,
            "server_duid": encode_duid(ia.server_duid).hex() if ia.server_duid else None,
            "server_address": str(ia.server_address) if ia.server_address else None,
            "acquirer": core.acquirer.get(ia.iaid),
            "leases": [{"prefix": str(le.prefix), "type": _mt(le.mobility_type),
                        "preferred_lifetime": le.preferred_lifetime,
                        "valid_lifetime": le.valid_lifetime, "obtained": le.obtained,
                        "preferred_until": _t(le.preferred_until),
                        "valid_until": _t(le.valid_until), "deprecated": le.deprecated}
                       for le in ia.leases.values()],
        })
    addrs = []
    for a in core.addrs.by_prefix.values():
        addrs.append({"address": str(a.address), "prefix": str(a.prefix),
                      "prefix_length": a.prefix_length, "type": _mt(a.mobility_type),
                      "source": a.source, "iaid": a.iaid, "dad_counter": a.dad_counter,
                      "deprecated": a.deprecated})
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
    doc = {"version": VERSION, "duid": encode_duid(core.pd.duid).hex(),
           "iface": core.config.iface, "next_iaid": core.pd._next_iaid,
           "ias": ias, "addresses": addrs, "references": refs}
    extra = getattr(core, "export_extra", None)
    if extra is not None:
        doc.update(extra())
    return doc


class Adopted:
    """A reference restored from the state file: owner id (negative), the
    application's pid, its socket's inode and fd number."""

    __slots__ = ("fd", "inode", "owner", "pid")

    def __init__(self, owner: int, pid: int, inode: int, fd: int | None) -> None:
        self.owner, self.pid, self.inode, self.fd = owner, pid, inode, fd

    def __repr__(self) -> str:
        return f"Adopted(owner={self.owner}, pid={self.pid}, inode={self.inode})"


def restore(core, doc: dict[str, Any], now: float, elapsed: float) -> list[Adopted]:
    """Put the state ``doc`` (written at ``doc["core_clock"]`` on the old core
    clock, ``elapsed`` wall-clock seconds ago) into a fresh ``core`` at
    ``now``. Emits AddressAdded for every restored address. Returns the
    adopted references for the adapter to watch. Raises ValueError for a
    document of another version or DUID (the caller then starts afresh)."""
    if doc.get("version") != VERSION:
        raise ValueError(f"state version {doc.get('version')!r}, expected {VERSION}")
    if doc.get("duid") != encode_duid(core.pd.duid).hex():
        raise ValueError("state of another DUID")
    shift = now - float(doc["core_clock"]) - max(0.0, elapsed)

    def t(v):
        return math.inf if v is None else float(v) + shift

    def mt(v):
        return None if v is None else MobilityType(v)

    pd = core.pd
    kept: dict[IPv6Network, IaPd] = {}
    for d in doc.get("ias", []):
        sd: Duid | None = decode_duid(bytes.fromhex(d["server_duid"])) \
            if d.get("server_duid") else None
        ia = IaPd(int(d["iaid"]), mt(d["type"]), state=IaState.BOUND,
                  server_duid=sd,
                  server_address=IPv6Address(d["server_address"]) if d.get("server_address")
                  else None, persistent=bool(d["persistent"]), created=now)
        for ld in d["leases"]:
            vu = t(ld["valid_until"])
            if vu <= now:
                log.info("restored prefix %s expired while the agent was down", ld["prefix"])
                continue
            pu = min(t(ld["preferred_until"]), vu)
            net = IPv6Network(ld["prefix"])
            ia.leases[net] = Lease(net, mt(ld["type"]), int(ld["preferred_lifetime"]),
                                   int(ld["valid_lifetime"]), float(ld["obtained"]) + shift,
                                   pu, vu, deprecated=bool(ld["deprecated"]) or pu <= now)
            kept[net] = ia
        if not ia.leases:
            continue
        pd.ias[ia.iaid] = ia
        if d.get("acquirer") is not None:
            core.acquirer[ia.iaid] = ia.share = int(d["acquirer"])
    if pd.ias:
        pd._next_iaid = max(int(doc.get("next_iaid", 1)), max(pd.ias) + 1) % (1 << 32) or 1
        # a Reply may be sent straight to a known server (no Solicit) again
        for ia in pd.ias.values():
            if ia.server_duid is not None and ia.server_address is not None:
                key = encode_duid(ia.server_duid)
                pd.servers.setdefault(key, (ia.server_address, None))
    am = core.addrs
    for ad in doc.get("addresses", []):
        net = IPv6Network(ad["prefix"])
        addr = IPv6Address(ad["address"])
        if ad["source"] == "ra":
            # remember the interface identifier: the next RA forms the same address
            am._random_iids[(net, int(ad["dad_counter"]))] = int(addr) & ((1 << 64) - 1)
            continue
        ia = kept.get(net)
        if ia is None:
            continue
        le = ia.leases[net]
        a = Address(addr, net, int(ad["prefix_length"]), le.mobility_type, "dhcpv6-pd",
                    le.preferred_until, le.valid_until, nodad=True, ready=True, iaid=ia.iaid,
                    dad_counter=int(ad["dad_counter"]))
        a.deprecated = bool(ad["deprecated"]) or le.deprecated or now >= a.preferred_until
        am.by_prefix[net] = a
        am.by_address[addr] = a
        am._events.append(am._ev(AddressAdded, a, now))
    adopted: list[Adopted] = []
    for i, rd in enumerate(doc.get("references", [])):
        addr = IPv6Address(rd["address"])
        a = am.by_address.get(addr)
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
    extra = getattr(core, "restore_extra", None)
    if extra is not None:
        extra(doc, shift, now)
    return adopted


class StateFile:
    """One JSON state file, written atomically. ``save`` writes only when the
    content (apart from the clocks) changed since the last write."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._last: str | None = None
        self.writes = 0

    def load(self) -> dict[str, Any] | None:
        """The last state written, or None (no file, or unreadable: logged)."""
        try:
            text = read_private(self.path).decode(errors="replace")
        except FileNotFoundError:
            return None
        except UnsafePath:
            raise  # a planted file or symlink: the agent refuses to start
        except OSError as exc:
            log.warning("cannot read state %s: %s", self.path, exc)
            return None
        try:
            doc = json.loads(text)
        except ValueError as exc:
            log.warning("state %s unreadable (%s): starting afresh", self.path, exc)
            return None
        if not isinstance(doc, dict):
            log.warning("state %s is not a JSON object: starting afresh", self.path)
            return None
        return doc

    def save(self, doc: dict[str, Any], core_clock: float, wall_clock: float) -> bool:
        """Write ``doc`` with the two clock stamps if it changed; True if written.
        Raises OSError when the directory cannot be written."""
        body = json.dumps(doc, sort_keys=True)
        if body == self._last:
            return False
        full = dict(doc, core_clock=core_clock, wall_clock=wall_clock)
        write_private(self.path, json.dumps(full, sort_keys=True).encode())
        self._last = body
        self.writes += 1
        return True

    def remove(self) -> None:
        """Forget the state (after a clean shutdown that released everything)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        self._last = None
