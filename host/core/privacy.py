"""Address rotation for privacy (draft-ietf-dmm-ondemand-mobility §7), sans-I/O.

"The OS may also associate IP addresses with a lifetime. Upon receiving a
request for a given type of IP address, after some time, the OS should request
a new address to the network even if it already has one ... The lifetime of an
IP address may be expressed in number of seconds or in number of bytes sent
through this IP address."

Rules (what :class:`host.core.host.HostCore` does with a :class:`Rotation`):

- an address formed from a **delegated** prefix of a type in
  ``HostConfig.rotate_types`` (None: the legacy prefix) is *due* once it is
  ``address_max_age`` seconds old, or once the kernel counted
  ``address_max_bytes`` octets sent from it (the adapter reads nftables
  counters, :mod:`host.io.nftcount`, and reports them with
  :meth:`HostCore.address_bytes`);
- a due address of an **on-demand** IA_PD is *retired* at once: deprecated
  (preferred lifetime 0 in the kernel, so the kernel's source selection no
  longer picks it; setsc() no longer hands it out), and the next setsc() for
  its type asks the network for a new prefix;
- a due address of a **persistent** IA_PD (legacy, boot types) first gets its
  replacement: a new IA_PD of the same type is acquired, and the old address is
  retired when the new one is bound (so the host is never without one);
- a retired address is **left to drain**: the sockets that hold it keep it
  (they get an ``address-deprecated`` notification with ``"reason":
  "privacy"``), its prefix is still renewed; once no setsc() reference holds it
  and ``privacy_drain`` seconds passed since it was retired, its IA_PD is
  released (RFC 8415 §18.2.7) and the address goes;
- the new address's interface identifier follows ``HostConfig.iid``: with
  ``"random"`` a fresh random one (RFC 8981 spirit), with ``"stable"`` the
  RFC 7217 hash of the new prefix — either way unrelated to the old one for an
  observer without the secret;
- when the replacement cannot be had (refused, no answer), the old address
  stays in use and the rotation is tried again ``retry`` seconds later.

On-link (SLAAC) addresses are not rotated: they are the link's shared prefix,
and the host agent forms a single address per PIO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network

from odm_wire.constants import MobilityType

__all__ = ["Rotation", "Tracked"]


@dataclass
class Tracked:
    """One address under rotation: when it was formed (core clock), octets
    sent (as last reported), when it was retired, when to try again."""

    address: IPv6Address
    prefix: IPv6Network
    iaid: int
    born: float
    octets: int = 0
    retired_at: float | None = None
    next_try: float = 0.0
    #: IAID of the replacement being acquired (persistent IA_PDs only)
    replacement: int | None = None


@dataclass
class Rotation:
    """The rotation bookkeeping of one host core.

    ``max_age`` seconds / ``max_bytes`` octets (None: no such limit);
    ``types``: the mobility types that rotate (None in it: legacy);
    ``drain``: seconds a retired address with no reference lingers;
    ``retry``: seconds before a failed rotation is tried again."""

    max_age: float | None = None
    max_bytes: int | None = None
    types: frozenset = frozenset()
    drain: float = 60.0
    retry: float = 30.0
    tracked: dict[IPv6Address, Tracked] = field(default_factory=dict)
    rotations: int = 0

    @classmethod
    def from_config(cls, config) -> Rotation:
        age = config.address_max_age
        retry = 30.0 if age is None else max(1.0, min(30.0, age / 2))
        return cls(age, config.address_max_bytes, frozenset(config.rotate_types),
                   config.privacy_drain, retry)

    @property
    def enabled(self) -> bool:
        return self.max_age is not None or self.max_bytes is not None

    def applies(self, mobility_type: MobilityType | None, source: str) -> bool:
        """Whether an address of this type and source rotates."""
        return self.enabled and source == "dhcpv6-pd" and mobility_type in self.types

    def track(self, address: IPv6Address, prefix: IPv6Network, iaid: int, now: float) -> None:
        """Start watching a new delegated address (idempotent)."""
        if address not in self.tracked:
            self.tracked[address] = Tracked(address, prefix, iaid, now)

    def forget(self, address: IPv6Address) -> None:
        self.tracked.pop(address, None)

    def note_octets(self, address: IPv6Address, octets: int) -> None:
        """The kernel's count of octets sent from ``address`` so far."""
        t = self.tracked.get(address)
        if t is not None:
            t.octets = max(t.octets, int(octets))

    def due(self, now: float) -> list[Tracked]:
        """Addresses that should be rotated now (not retired, not being
        replaced, not waiting for a retry)."""
        out = []
        for t in self.tracked.values():
            if t.retired_at is not None or t.replacement is not None or now < t.next_try:
                continue
            if (self.max_age is not None and now >= t.born + self.max_age) or (
                    self.max_bytes is not None and t.octets >= self.max_bytes):
                out.append(t)
        return out

    def drained(self, now: float) -> list[Tracked]:
        """Retired addresses whose drain time is over (the caller checks
        references)."""
        return [t for t in self.tracked.values()
                if t.retired_at is not None and now >= t.retired_at + self.drain]

    def by_replacement(self, iaid: int) -> Tracked | None:
        for t in self.tracked.values():
            if t.replacement == iaid:
                return t
        return None

    def export_state(self) -> list[dict]:
        """The rotation records as plain data for the state file (host/state.py)."""
        return [{"address": str(t.address), "prefix": str(t.prefix), "iaid": t.iaid,
                 "born": t.born, "octets": t.octets, "retired_at": t.retired_at,
                 "replacement": t.replacement} for t in self.tracked.values()]

    def restore_state(self, entries: list[dict], shift: float, addresses, iaids) -> None:
        """Take back what :meth:`export_state` wrote, times moved by ``shift``;
        a record whose address is not in ``addresses`` (restored addresses) is
        dropped, a replacement whose IAID is not in ``iaids`` forgotten."""
        for r in entries:
            addr = IPv6Address(r["address"])
            if addr not in addresses:
                continue
            self.tracked[addr] = Tracked(
                addr, IPv6Network(r["prefix"]), int(r["iaid"]), float(r["born"]) + shift,
                int(r["octets"]), None if r["retired_at"] is None
                else float(r["retired_at"]) + shift, 0.0,
                r["replacement"] if r["replacement"] in iaids else None)

    def next_deadline(self) -> float | None:
        """The next core-clock time at which :meth:`due` or :meth:`drained`
        may change by time alone."""
        best = math.inf
        for t in self.tracked.values():
            if t.retired_at is not None:
                best = min(best, t.retired_at + self.drain)
            elif t.replacement is None and self.max_age is not None:
                best = min(best, max(t.born + self.max_age, t.next_try))
            elif t.replacement is None and t.next_try:
                best = min(best, t.next_try)
        return None if best == math.inf else best

    def snapshot(self, now: float) -> dict:
        return {"enabled": self.enabled, "max_age": self.max_age, "max_bytes": self.max_bytes,
                "types": sorted("legacy" if t is None else t.cli_name for t in self.types),
                "rotations": self.rotations,
                "addresses": [{"address": str(t.address), "age": round(now - t.born, 1),
                               "octets": t.octets, "retired": t.retired_at is not None,
                               "replacement": t.replacement}
                              for t in self.tracked.values()]}
