"""The host's addresses, derived from delegated and on-link prefixes, sans-I/O.

Interface identifiers (64 bits, or the host bits of a longer prefix):
``"stable"`` — RFC 7217 style, the first 64 bits of
SHA-256(prefix ‖ interface name ‖ DAD_Counter ‖ secret key), so the same prefix
on the same interface always yields the same address; ``"random"`` — a fresh
random IID per prefix. Reserved IIDs (RFC 5453: all-zero, subnet anycast) are
skipped by bumping DAD_Counter.

Kernel lifetimes (IFA_CACHEINFO preferred/valid, seconds) are the prefix's
remaining ones, so no address outlives its prefix (RFC 8415 §18.2.10.1).

DAD: a **delegated** prefix (DHCPv6-PD) is routed to this host alone, so no
other node can hold an address in it: its address is installed as a /128 with
IFA_F_NODAD and is usable at once. An **on-link** prefix from an RA is shared
by every host on the link, so its address does need Duplicate Address
Detection: it is installed as /64 with IFA_F_NOPREFIXROUTE (the kernel keeps the
on-link route from the PIO's L flag) and counts as usable only after the
adapter reports DAD done (:meth:`AddressManager.mark_ready`); on DAD failure
(:meth:`AddressManager.dad_failed`) the next DAD_Counter gives a new address
(RFC 7217 §6), at most :data:`IDGEN_RETRIES` times.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network

from host.core.events import AddressAdded, AddressRemoved, AddressUpdated, Event, MType
from odm_wire.constants import INFINITY

log = logging.getLogger(__name__)

IDGEN_RETRIES = 3  # RFC 7217 §6


@dataclass
class Address:
    """One address the agent manages. ``*_until`` on the core clock."""

    address: IPv6Address
    prefix: IPv6Network
    prefix_length: int
    mobility_type: MType
    source: str  # "dhcpv6-pd" | "ra"
    preferred_until: float
    valid_until: float
    nodad: bool
    ready: bool
    iaid: int | None = None
    dad_counter: int = 0
    deprecated: bool = False
    refs: set[int] = field(default_factory=set)

    def lifetimes(self, now: float) -> tuple[int, int]:
        """(preferred, valid) seconds left for IFA_CACHEINFO; 0xffffffff = forever."""
        def left(u: float) -> int:
            return INFINITY if u == math.inf else max(0, min(INFINITY - 1, int(u - now)))
        v = left(self.valid_until)
        p = 0 if self.deprecated else left(self.preferred_until)
        return min(p, v), v

    def usable(self, now: float) -> bool:
        """Ready (DAD done), not deprecated and still valid."""
        return self.ready and not self.deprecated and now < self.preferred_until \
            and now < self.valid_until


class AddressManager:
    """Forms, refreshes and removes addresses; emits AddressAdded /
    AddressUpdated / AddressRemoved for the netlink adapter."""

    def __init__(self, iface: str, secret: bytes, *, mode: str = "stable",
                 rng: random.Random | None = None, events: deque[Event] | None = None
                 ) -> None:
        self.iface = iface
        self.secret = secret
        self.mode = mode
        self.rng = rng or random.Random()
        self.by_prefix: dict[IPv6Network, Address] = {}
        self.by_address: dict[IPv6Address, Address] = {}
        #: (prefix, DAD counter) → the random interface identifier (mode "random")
        self._random_iids: dict[tuple[IPv6Network, int], int] = {}
        #: where the address events go (``events``: the caller's queue, so
        #: that they leave in order with its own)
        self._events: deque[Event] = deque() if events is None else events

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # -------------------------------------------------------------- IIDs --
    def interface_id(self, prefix: IPv6Network, dad_counter: int = 0) -> int:
        """The 64-bit interface identifier for ``prefix`` (RFC 7217 §5 F())."""
        if self.mode == "random":
            key = (prefix, dad_counter)
            iid = self._random_iids.get(key)
            if iid is None:
                iid = self.rng.getrandbits(64)
                self._random_iids[key] = iid
            return iid
        net64 = prefix.network_address.packed[:8]
        h = hashlib.sha256(net64 + self.iface.encode() + dad_counter.to_bytes(4, "big")
                           + self.secret).digest()
        return int.from_bytes(h[:8], "big")

    def form(self, prefix: IPv6Network, dad_counter: int = 0) -> IPv6Address:
        """An address in ``prefix``: its first /64 (or the prefix itself when
        longer) plus the interface identifier in the host bits."""
        host_bits = max(0, 128 - max(prefix.prefixlen, 64))
        base = int(prefix.network_address)
        counter = dad_counter
        while True:
            iid = self.interface_id(prefix, counter)
            iid &= (1 << host_bits) - 1 if host_bits else 0
            if host_bits == 0 or (iid != 0 and iid < 0xFDFFFFFFFFFFFF80):
                break
            counter += 1
        return IPv6Address(base | iid)

    # ------------------------------------------------------------ changes --
    def add_delegated(self, prefix: IPv6Network, mobility_type: MType, preferred_until: float,
                      valid_until: float, iaid: int, now: float) -> Address:
        """Address from a delegated prefix: /128, NODAD, usable at once."""
        return self._upsert(prefix, mobility_type, preferred_until, valid_until, now,
                            source="dhcpv6-pd", plen=128, nodad=True, iaid=iaid)

    def add_onlink(self, prefix: IPv6Network, mobility_type: MType, preferred_until: float,
                   valid_until: float, now: float) -> Address:
        """Address from a PIO (SLAAC): /64 with DAD, usable once DAD is done."""
        return self._upsert(prefix, mobility_type, preferred_until, valid_until, now,
                            source="ra", plen=prefix.prefixlen, nodad=False, iaid=None)

    def _upsert(self, prefix, mobility_type, preferred_until, valid_until, now, *, source,
                plen, nodad, iaid) -> Address:
        a = self.by_prefix.get(prefix)
        if a is not None:
            a.preferred_until = min(preferred_until, valid_until)
            a.valid_until = valid_until
            a.deprecated = now >= a.preferred_until
            a.mobility_type = mobility_type
            if iaid is not None:
                a.iaid = iaid
            self._events.append(self._ev(AddressUpdated, a, now))
            return a
        # prefixes that share their first 64 bits (an on-link /64 inside a
        # delegated /56) would get the same stable IID: the later one takes
        # the next DAD_Counter, so no address is held by two prefixes
        counter = 0
        address = self.form(prefix)
        while address in self.by_address and counter < 16:
            counter += 1
            address = self.form(prefix, counter)
        a = Address(address, prefix, plen, mobility_type, source,
                    min(preferred_until, valid_until), valid_until, nodad, ready=nodad,
                    iaid=iaid, dad_counter=counter)
        a.deprecated = now >= a.preferred_until
        self.by_prefix[prefix] = a
        self.by_address[a.address] = a
        self._events.append(self._ev(AddressAdded, a, now))
        return a

    def _ev(self, cls, a: Address, now: float):
        p, v = a.lifetimes(now)
        # IFA_F_NOPREFIXROUTE for every address: a /128's kernel route adds
        # nothing to the local one, a PIO's on-link route is the kernel's own
        # from the RA, and the kernel keeps the prefix route of an address with
        # lifetimes past the address's removal, until its valid lifetime ends
        return cls(a.address, a.prefix_length, a.mobility_type, p, v, a.nodad,
                   True, a.prefix, a.source)

    def deprecate(self, prefix: IPv6Network, now: float, valid_until: float | None = None
                  ) -> Address | None:
        """Preferred lifetime 0 for the prefix's address (no new use)."""
        a = self.by_prefix.get(prefix)
        if a is None:
            return None
        a.deprecated = True
        a.preferred_until = min(a.preferred_until, now)
        if valid_until is not None:
            a.valid_until = valid_until
        self._events.append(self._ev(AddressUpdated, a, now))
        return a

    def remove(self, prefix: IPv6Network, reason: str) -> Address | None:
        a = self.by_prefix.pop(prefix, None)
        if a is None:
            return None
        self.by_address.pop(a.address, None)
        self._events.append(AddressRemoved(a.address, a.prefix_length, a.mobility_type, reason))
        return a

    def mark_ready(self, address: IPv6Address) -> Address | None:
        """The kernel finished DAD for ``address`` (no longer tentative)."""
        a = self.by_address.get(IPv6Address(address))
        if a is not None:
            a.ready = True
        return a

    def dad_failed(self, address: IPv6Address, now: float) -> Address | None:
        """DAD found a duplicate: remove it and form the next one (RFC 7217 §6)."""
        a = self.by_address.get(IPv6Address(address))
        if a is None:
            return None
        self.by_address.pop(a.address, None)
        self._events.append(AddressRemoved(a.address, a.prefix_length, a.mobility_type,
                                           "dad-failed"))
        if a.dad_counter + 1 > IDGEN_RETRIES:
            log.warning("DAD failed %d times in %s: giving up", IDGEN_RETRIES + 1, a.prefix)
            self.by_prefix.pop(a.prefix, None)
            return None
        a.dad_counter += 1
        a.address = self.form(a.prefix, a.dad_counter)
        a.ready = a.nodad
        self.by_address[a.address] = a
        self._events.append(self._ev(AddressAdded, a, now))
        return a

    # -------------------------------------------------------------- state --
    def export_state(self) -> list[dict]:
        """Every address as plain data for the state file (host/state.py):
        delegated ones come back as they are; of on-link ones the interface
        identifier is kept, so the next RA forms the same address."""
        return [{"address": str(a.address), "prefix": str(a.prefix),
                 "prefix_length": a.prefix_length,
                 "type": None if a.mobility_type is None else int(a.mobility_type),
                 "source": a.source, "iaid": a.iaid, "dad_counter": a.dad_counter,
                 "deprecated": a.deprecated} for a in self.by_prefix.values()]

    def restore_state(self, entries: list[dict], delegated: Mapping[IPv6Network, tuple],
                      now: float) -> None:
        """Take back what :meth:`export_state` wrote. ``delegated``: prefix →
        (IAID, its restored lease: ``mobility_type``, ``preferred_until``,
        ``valid_until``, ``deprecated``); an address whose prefix is not in it
        is not restored. Emits AddressAdded for every restored address (the
        kernel still holds it: the adapter installs it with ``replace``)."""
        for ad in entries:
            net = IPv6Network(ad["prefix"])
            addr = IPv6Address(ad["address"])
            if ad["source"] == "ra":
                self._random_iids[(net, int(ad["dad_counter"]))] = int(addr) & ((1 << 64) - 1)
                continue
            got = delegated.get(net)
            if got is None:
                continue
            iaid, le = got
            a = Address(addr, net, int(ad["prefix_length"]), le.mobility_type, "dhcpv6-pd",
                        le.preferred_until, le.valid_until, nodad=True, ready=True, iaid=iaid,
                        dad_counter=int(ad["dad_counter"]))
            a.deprecated = bool(ad["deprecated"]) or le.deprecated or now >= a.preferred_until
            self.by_prefix[net] = a
            self.by_address[addr] = a
            self._events.append(self._ev(AddressAdded, a, now))

    # ------------------------------------------------------------ queries --
    def usable(self, mobility_type: MType, now: float) -> list[Address]:
        """Usable addresses of a type, the most shared first, then the one with
        the longest valid lifetime; DHCPv6-PD before RA."""
        cands = [a for a in self.by_prefix.values()
                 if a.mobility_type == mobility_type and a.usable(now)]
        cands.sort(key=lambda a: (-len(a.refs), a.source != "dhcpv6-pd", -a.valid_until))
        return cands

    def snapshot(self, now: float) -> list[dict]:
        out = []
        for a in self.by_prefix.values():
            p, v = a.lifetimes(now)
            out.append({"address": str(a.address), "prefix": str(a.prefix),
                        "type": a.mobility_type.cli_name if a.mobility_type else None,
                        "source": a.source, "preferred": p, "valid": v, "ready": a.ready,
                        "deprecated": a.deprecated, "refs": len(a.refs), "iaid": a.iaid})
        return out
