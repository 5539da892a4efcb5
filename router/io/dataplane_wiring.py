"""The router agent's route and mobility wiring: what the cores' events do to
the kernel's routes and to the mobility data plane.

:class:`PrefixDelegated`, :class:`PrefixRenewed`, :class:`BindingMovedHere`
route the prefix towards the address the request came from (the client's
link-local address, or a relay's, RFC 8415 §19.1.2, through the route towards
it when it is not on-link: :func:`router.io.routes.resolve_next_hop`);
:class:`PrefixReleased` removes the route; the batch is in the kernel
(:mod:`router.io.routes`) before the events reach the mobility hook
(:class:`router.dataplane.moves.Mobility`). Also: the data-plane backend chosen
at start, the link MTU fitted to its tunnel, the routes of stored bindings
re-installed after a restart. :class:`DataPlaneWiring` is a part of
:class:`router.io.agent.RouterAgent`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from ipaddress import IPv6Address, IPv6Network

from router.config import RouterConfig
from router.core.bindings import BindingState
from router.core.events import (
    BindingMovedHere,
    NextHopCheck,
    PrefixDelegated,
    PrefixReleased,
    PrefixRenewed,
    RaShutdownComplete,
)
from router.errors import StoreError
from router.io.neighbours import NextHopProber
from router.io.routes import NextHopUnreachable, resolve_next_hop

log = logging.getLogger("router.agent")

__all__ = ["NEXT_HOP_TTL", "DataPlaneWiring"]

#: Seconds a resolved next hop towards an off-link relay is reused before the
#: routing table is asked again.
NEXT_HOP_TTL = 5.0


class DataPlaneWiring:
    """Routes and the mobility hook of :class:`~router.io.agent.RouterAgent`
    (which provides ``config``, ``nl``, ``routes``, ``ifaces``, ``mobility``,
    ``dataplane``, ``stats``, ``loop``, ``_rl``, ``_kick``)."""

    def _choose_dataplane(self):
        """Probe the kernel and pick the ``[mobility] dataplane`` backend
        (:func:`router.dataplane.choose`); logged once. Raises
        :class:`~router.dataplane.DataplaneUnavailable` (an ``OSError``) when
        the configured one cannot run here."""
        from router.dataplane import choose, unavailable
        from router.dataplane.moves import sid_facts

        m = self.config.mobility
        cls, found = self.nl.call(choose, m.dataplane, self.nl.raw, **sid_facts(m))
        log.info("mobility data plane: %s (%s; %s); not available here: %s", cls.name,
                 "auto" if m.dataplane == "auto" else "configured", cls.summary,
                 unavailable(found))
        return cls

    def _fit_mtu(self, cfg: RouterConfig, found) -> RouterConfig:
        """With an encapsulating data plane, advertise a link MTU (RFC 4861
        §4.6.4) that leaves room for the tunnel, so a moved host's full-size
        packets are never too big for the core (no PMTU black hole: TCP's MSS
        follows the interface MTU the host took from the RA). An explicit
        ``adv_link_mtu`` wins; a too large one is warned about."""
        from router.dataplane import fitting_mtu

        backend = self.dataplane
        core = self.nl.link_index(cfg.mobility.core_interface)
        if not backend.overhead or core is None:
            return cfg
        core_mtu = self.nl.link_mtu(core)
        ifaces = []
        for ic, (_, idx, _) in zip(cfg.interfaces, found, strict=True):
            fit = fitting_mtu(self.nl.link_mtu(idx), core_mtu, backend)
            if ic.ra.adv_link_mtu == 0:
                log.info("%s: advertising MTU %d (core MTU %d less %d octets of %s)", ic.name,
                         fit, core_mtu, backend.overhead, backend.name)
                ic = replace(ic, ra=replace(ic.ra, adv_link_mtu=fit))
            elif ic.ra.adv_link_mtu > fit:
                log.warning("%s: adv_link_mtu %d does not fit the %s tunnel (%d would): moved "
                            "hosts' full-size packets rely on Packet Too Big", ic.name,
                            ic.ra.adv_link_mtu, backend.name, fit)
            ifaces.append(ic)
        return replace(cfg, interfaces=tuple(ifaces))

    def _source_validation(self) -> None:
        """Ingress filtering on every access interface whose config asks for
        it (``source_address_validation``, on by default;
        :mod:`router.dataplane.savi`), at start and after a reload (the
        prefixes may have changed); off where the config turns it off."""
        from router.dataplane import savi

        for ic in self.config.interfaces:
            st = self.ifaces.get(ic.name)
            # a prefix a reload took away is still withdrawn in the RAs (lifetime
            # 0): hosts may keep its addresses up to two hours (RFC 4862 §5.5.3
            # e), so it stays allowed until the next reload or restart
            withdrawn = list(st.core.ra.prefixes) if st is not None else []
            try:
                if ic.source_address_validation:
                    self.nl.call(savi.install, self.nl.raw, ic.name,
                                 list(dict.fromkeys([*savi.allowed_prefixes(ic), *withdrawn])))
                else:
                    self.nl.call(savi.remove, self.nl.raw, ic.name)
            except Exception as exc:  # noqa: BLE001 - the link forwards as before
                log.error("%s: source address validation: %s", ic.name, exc)

    def _restore_routes(self, st) -> None:
        """Queue the routes of the bindings this router serves on ``st`` (after
        a restart the previous run flushed them). They are written by
        :meth:`_restore_some`, a chunk per loop turn, while the agent already
        answers: with 100,000 bindings that takes about a second. The queue
        holds the bindings themselves (their prefixes and next hops are made
        a chunk at a time: all at once cost 40 MB at 100,000 bindings)."""
        me = self.config.router_id
        todo = [b for b in st.core.dhcp.table
                if b.state is not BindingState.DECLINED and b.ll is not None
                and b.interface == st.name and b.served_by == me]
        if todo:
            log.info("%s: re-installing %d routes of stored bindings", st.name, len(todo))
            self._restore.append((st, todo))

    def _restore_some(self, chunk: int = 2048) -> None:
        if not self._restore:
            return
        st, todo = self._restore[-1]
        part = todo[-chunk:]
        del todo[-chunk:]
        if not todo:
            self._restore.pop()
        table = st.core.dhcp.table
        for queued in part:
            # a binding released or moved meanwhile: its route is not wanted
            # (a reload made new copies: the one of the same prefix and hop)
            b = table.get_key(queued.key)
            if b is not None and b.ll == queued.ll and b.interface == st.name:
                self._route_add(st, b.prefix, b.client_ll)
        self.routes.flush()
        if self._restore:
            self.loop.call_soon(self._restore_some)
        else:
            log.info("routes of stored bindings re-installed")

    def _follow_store(self, duids: set[bytes], prefixes: set[IPv6Network]) -> None:
        """The mobility poll's hook (:class:`router.dataplane.moves.Mobility`):
        the bindings served here of the clients ``duids`` (whose prefixes moved
        away from here) and those held here of ``prefixes`` are looked up in the shared store,
        and each core follows what it says
        (:meth:`~router.core.dhcp_server.DhcpServer.follow_store`); the
        routes of bindings gone from the store are removed by the events
        (:class:`PrefixReleased`) the core then reports."""
        if not duids and not prefixes:
            return
        now = self.now()
        for st in list(self.ifaces.values()):
            dhcp = st.core.dhcp
            mine = dhcp.served_here(duids) if duids else {}
            for p in prefixes:
                b = dhcp.table.get(p)
                if b is not None:
                    mine[b.key] = b
            if not mine:
                continue
            held = {}
            store = dhcp.leases.store  # the core's: it sees writes not yet committed
            for key in mine:
                try:
                    held[key] = store.find_key(key)
                except StoreError as exc:
                    log.error("%s: cannot read the lease store: %s", st.name, exc)
                    return
            if dhcp.follow_store(held, now):
                self._kick(st)

    def _carry_out(self, st, events: list) -> None:
        for ev in events:
            self._on_event(st, ev)
        if events:
            self.routes.flush()  # our route changes are in the kernel before the hook runs
            if self.mobility is not None:
                for ev in events:
                    try:
                        self.mobility.handle_event(ev)
                    except Exception:
                        self.stats["adapter-errors"] += 1
                        log.exception("mobility hook failed on %s", ev)

    def _on_event(self, st, ev) -> None:
        t = type(ev)
        if t is PrefixDelegated or t is PrefixRenewed or t is BindingMovedHere:
            target = self.ifaces.get(ev.interface, st)
            if ev.client_ll is not None:
                self._route_add(target, ev.prefix, ev.client_ll)
            if t is PrefixDelegated:
                log.debug("%s: delegated %s to %s", target.name, ev.prefix, ev.client_ll)
        elif t is PrefixReleased:
            target = self.ifaces.get(ev.interface, st)
            self._route_del(target, ev.prefix)
            log.debug("%s: %s ended (%s)", target.name, ev.prefix, ev.reason)
        elif t is RaShutdownComplete:
            self.ifaces.get(ev.interface, st).ra_done = True
        elif t is NextHopCheck:
            self._check_next_hop(self.ifaces.get(ev.interface, st), ev.next_hop)

    def _check_next_hop(self, st, addr: IPv6Address) -> None:
        """Find out with neighbour discovery whether ``addr`` left the link;
        if so the core moves the bindings whose client wrote from elsewhere
        (issue 13 point 11, :mod:`router.io.neighbours`)."""
        if self._prober is None:
            self._prober = NextHopProber(self.nl, self.loop)
        name = st.name

        def gone() -> None:
            cur = self.ifaces.get(name)
            if cur is not None and cur.core.dhcp.next_hop_unreachable(addr, self.now()):
                self._kick(cur)
        self._prober.check(st.index, addr, gone)

    def _route_add(self, st, prefix: IPv6Network, via: IPv6Address) -> None:
        """Queue the route of ``prefix`` towards ``via`` (the address its request came from on
        ``st``: what :func:`router.dataplane.common.route_to_host` does, batched:
        :mod:`router.io.routes`). An off-link ``via`` (a relay one or more hops away) is reached
        through the route towards it."""
        nh = self._next_hop(st, via)
        if nh is None:
            return
        self.stats["routes-added"] += 1
        self.routes.add(prefix, nh[0], nh[1])

    def _next_hop(self, st, via: IPv6Address) -> tuple[IPv6Address, int] | None:
        if via.is_link_local:
            return via, st.index
        key = (via, st.index)
        now = self.loop.time() if self.loop is not None else 0.0
        hit = self._next_hops.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            nh = self.nl.call(resolve_next_hop, self.nl.raw, via, st.index)
        except NextHopUnreachable as exc:
            self.stats["routes-unreachable"] += 1
            self._rl("nexthop", "%s: cannot route a delegated prefix towards %s: %s",
                     st.name, via, exc.strerror, level=logging.ERROR)
            return None
        if len(self._next_hops) > 4096:
            self._next_hops.clear()
        self._next_hops[key] = (now + NEXT_HOP_TTL, nh)
        return nh

    def _route_del(self, st, prefix: IPv6Network) -> None:
        self.stats["routes-removed"] += 1
        self.routes.delete(prefix)
