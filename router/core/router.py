"""The router core of one access interface: RA sender + DHCPv6-PD server.

:class:`RouterCore` is what the adapter (and ``tests/pair``) drives; it
implements odm's core contract (``odm_sansio``) by dispatching on
``kind``: ``"icmp6"`` datagrams go to the :class:`~router.core.ra_sender.RaSender`,
``"dhcp6"`` ones to the :class:`~router.core.dhcp_server.DhcpServer`. One
core per interface, because an :class:`~odm_sansio.Outgoing` names no
interface: the adapter sends a core's datagrams out of that core's interface.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from ipaddress import IPv6Address, IPv6Network

from odm_sansio import Outgoing
from odm_wire.dhcp6 import Duid
from router.config import RouterConfig
from router.core.dhcp_server import DhcpServer
from router.core.events import Event
from router.core.ra_sender import RaSender
from router.core.store import BindingStore

__all__ = ["RouterCore"]


class RouterCore:
    """RAs and DHCPv6-PD on interface ``ifname`` of ``config``.

    ``store``: the lease store; ``server_duid``: the DHCPv6 server DUID; ``clock_offset``:
    wall-clock minus monotonic seconds (see :class:`DhcpServer`); ``rng``: randomness of the RA
    timers and of the random allocator (seed it in tests); ``link_layer_address``: the interface
    MAC for the RA's SLLA option. Call :meth:`start` before feeding datagrams.
    """

    def __init__(self, config: RouterConfig, ifname: str, store: BindingStore,
                 server_duid: Duid, *, clock_offset: float = 0.0,
                 rng: random.Random | None = None,
                 link_layer_address: bytes | None = None) -> None:
        self.config = config
        self.iface = config.interface(ifname)
        self.ifname = ifname
        self.ra = RaSender(self.iface, config.timers, rng, link_layer_address=link_layer_address)
        self.dhcp = DhcpServer(config, self.iface, store, server_duid, clock_offset=clock_offset,
                               rng=rng)

    def start(self, now: float, stale_prefixes: Iterable[IPv6Network] = ()) -> None:
        """Start advertising at ``now`` (monotonic seconds); ``stale_prefixes``
        were advertised before a restart and are withdrawn (0 lifetimes)."""
        self.ra.start(now, stale_prefixes)

    def take_over(self, old: RouterCore) -> None:
        """Continue where ``old`` (the core of the same interface under the
        previous configuration) stopped, after a reload: its counters, and the
        time of its last multicast RA (no two closer than
        MIN_DELAY_BETWEEN_RAS, RFC 4861 §6.2.6). Bindings need nothing: this
        core loaded them from the store. Call before :meth:`start`."""
        self.dhcp.stats.update(old.dhcp.stats)
        self.ra.take_over(old.ra)

    def shutdown(self, now: float) -> None:
        """Begin a clean stop: final RAs with router lifetime 0; a
        :class:`~router.core.events.RaShutdownComplete` event follows."""
        self.ra.shutdown(now)

    # -- core contract ------------------------------------------------------
    def handle_datagram(self, data: bytes, src: IPv6Address, now: float, *, kind: str,
                        hop_limit: int = 255, ifname: str | None = None) -> None:
        """One received datagram: ``kind="dhcp6"`` (UDP 547 payload) or
        ``"icmp6"`` (ICMPv6 message; ``hop_limit`` is the IPv6 Hop Limit it
        arrived with, which RFC 4861 §6.1.1 requires to be 255)."""
        if kind == "dhcp6":
            self.dhcp.handle_datagram(data, src, now, hop_limit=hop_limit, ifname=ifname)
        elif kind == "icmp6":
            self.ra.handle_datagram(data, src, now, hop_limit=hop_limit, ifname=ifname)
        else:
            raise ValueError(f"unknown datagram kind {kind!r}")

    def handle_timer(self, now: float) -> None:
        self.ra.handle_timer(now)
        self.dhcp.handle_timer(now)

    def get_timer(self) -> float | None:
        a = self.ra.get_timer()
        b = self.dhcp.get_timer()
        if a is None:
            return b
        return a if b is None or a <= b else b

    def datagrams_to_send(self) -> list[Outgoing]:
        """RAs, then DHCPv6 answers — the latter only after the lease store
        committed (see :meth:`DhcpServer.datagrams_to_send`)."""
        return self.ra.datagrams_to_send() + self.dhcp.datagrams_to_send()

    def next_event(self) -> Event | None:
        return self.dhcp.next_event() or self.ra.next_event()

    def take_events(self) -> list[Event]:
        """Every event queued, in the order :meth:`next_event` gives them
        (the adapter's one call per turn instead of one per event)."""
        out = self.dhcp.take_events()
        ev = self.ra.next_event()
        while ev is not None:
            out.append(ev)
            ev = self.ra.next_event()
        return out

    # -- introspection ---------------------------------------------------------
    def status(self, now: float, limit: int | None = None) -> dict:
        """Counters, pools, bindings and advertised prefixes, JSON-ready.
        ``limit``: at most that many bindings listed (``binding-count`` is
        always the total), so a status of a router with 100k bindings does
        not build 100k dicts for a table that shows fifty."""
        wall = now + self.dhcp.offset
        bindings = []
        table = self.dhcp.table
        for b in (table if limit is None else itertools.islice(table.by_prefix.values(),
                                                               max(0, limit))):
            pref, valid = b.lifetimes_at(wall)
            bindings.append({
                "interface": b.interface, "prefix": str(b.prefix), "duid": b.duid.hex(":"),
                "iaid": b.iaid,
                "mobility-type": b.mobility_type.cli_name if b.mobility_type else "legacy",
                "pool": b.pool, "client-ll": str(b.client_ll) if b.client_ll else None,
                "anchor": b.anchor, "served-by": b.served_by, "state": b.state.value,
                "preferred-left": pref, "valid-left": valid,
            })
        return {
            "interface": self.ifname,
            "server-duid": bytes(self.dhcp.server_duid).hex(":"),
            "offered-types": [m.cli_name for m in self.iface.offered_types],
            "counters": dict(self.dhcp.stats) | dict(self.ra.stats),
            "pools": self.dhcp.pool_stats(),
            "binding-count": len(table),
            "bindings": bindings,
            "ra-prefixes": self.ra.advertised(now),
        }
