"""The asyncio router agent: kernel sockets, netlink and the control socket
around one :class:`~router.core.router.RouterCore` per access interface
(aioquic-style thin adapter).

``RouterAgent(config).run()``:

1. opens the lease store (:mod:`router.io.store_setup`: SQLite in WAL mode,
   or PostgreSQL) and a netlink worker (:mod:`router.io.netlink`);
2. picks the server DUID (RFC 8415 §11): ``[router] server_duid`` as hex, or
   a DUID-LLT / DUID-LL made from the first interface's MAC on first start and
   persisted in the store's ``meta`` table (key ``server-duid``), so clients
   keep talking to "the same server" across restarts;
3. per interface: a core (bindings loaded from the store), the routes of the
   bindings it serves re-installed, a UDP 547 socket joined to ff02::1:2 and ff05::1:3 and a
   raw ICMPv6 socket (:mod:`router.io.sockets`); prefixes advertised by the
   previous run and no longer configured are advertised once more with
   lifetimes 0 (``meta`` key ``ra-prefixes/<ifname>``);
4. serves the control socket (:mod:`router.io.control`; what its requests
   and SIGHUP do: :mod:`router.io.control_wiring`) and, when
   ``[mobility]`` is configured, starts :class:`router.dataplane.moves.Mobility`;
5. feeds datagrams and timers to the cores and carries out what comes back:
   datagrams out (after the store commit the core does in
   ``datagrams_to_send()``: one commit per batch of received datagrams), and
   events (:mod:`router.io.dataplane_wiring`): :class:`PrefixDelegated`, :class:`PrefixRenewed`,
   :class:`BindingMovedHere` → route the prefix towards the address the
   request came from: the client's link-local address on that interface, or
   for a relayed client the relay (RFC 8415 §19.1.2), through the route
   towards it when it is not on-link (:func:`router.io.routes.resolve_next_hop`;
   no route: an ERROR, counted as ``routes-unreachable``). The route is the
   one :func:`router.dataplane.common.route_to_host` makes, proto ``RTPROT_ODM``, written
   in batches by :mod:`router.io.routes`; a change the kernel refuses is an
   ERROR counted as ``route-add-failed`` / ``route-delete-failed``;
   :class:`PrefixReleased` → remove the route. The
   batch is in the kernel before the events are passed, in order, to the
   mobility hook (which gets the netlink worker's ``IPRoute`` proxy);
6. on SIGTERM/SIGINT: final RAs with router lifetime 0 (RFC 4861 §6.2.5),
   waiting briefly for :class:`RaShutdownComplete`, then the mobility hook is
   stopped, every odm route flushed, sockets and store closed. Bindings stay
   in the store; the next start re-installs their routes.

Bad input never stops the loop: the cores count and log it; the adapter
catches anything they raise as well (counted as ``adapter-errors``).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from odm.instance_lock import InstanceLock, interface_lock_path
from odm.sdnotify import notify
from odm_sansio.ratelog import RateLimitedLog
from odm_wire.dhcp6 import Duid
from router.config import RouterConfig, load_config
from router.core.bindings import Binding
from router.core.router import RouterCore
from router.dataplane import common as dataplane_common
from router.io.commands import KeaCommands
from router.io.control import ControlServer
from router.io.control_wiring import ControlWiring
from router.io.dataplane_wiring import DataPlaneWiring
from router.io.neighbours import NextHopProber
from router.io.netlink import NetlinkWorker
from router.io.routes import RouteBatcher
from router.io.sockets import dhcp6_server_socket, icmp6_router_socket, recv_icmp6
from router.io.store_setup import open_lease_store, server_duid
from router.store import LeaseStore

log = logging.getLogger("router.agent")

__all__ = ["BATCH", "RouterAgent", "run_agent", "server_duid"]

#: Datagrams read from one socket before the core's answers are flushed (and
#: the store committed once for all of them).
BATCH = 256
#: Seconds between two moves of the surviving objects (bindings, their
#: prefixes) out of the cyclic garbage collector's reach (see
#: :meth:`RouterAgent._gc_tick`).
GC_FREEZE_INTERVAL = 10.0
#: Allocations (net) between two collections of the youngest generation while
#: serving (Python's default: 700). An exchange leaves a few long-lived objects
#: (its binding) and makes many short-lived acyclic ones that reference
#: counting frees: with the default, the collector ran every few exchanges and,
#: every few seconds, a full collection walked every binding made since the
#: last freeze (tens of ms of a stalled loop, ~15 µs of CPU per exchange
#: measured under perfdhcp at 2000/s; ~3 µs with this threshold).
GC_GEN0_THRESHOLD = 20_000
_ALL_NODES = ("ff02::1", 0)


@dataclass
class _Iface:
    """What the agent keeps per access interface."""

    name: str
    index: int
    mac: bytes | None
    core: RouterCore
    dhcp: socket.socket | None = None
    icmp: socket.socket | None = None
    timer: asyncio.TimerHandle | None = None
    timer_at: float | None = None
    ra_done: bool = False


class RouterAgent(DataPlaneWiring, ControlWiring):
    """The router agent process for ``config`` (see the module docstring).

    ``store``: a lease store to use instead of opening ``config.lease_db``
    (tests). After :meth:`run` returns everything it opened is closed.
    """

    def __init__(self, config: RouterConfig, *, store: LeaseStore | None = None,
                 config_path: str | Path | None = None,
                 loader: Callable[[Path], RouterConfig] | None = None) -> None:
        self.config = config
        #: the file ``config`` came from (``config-get``, reloads), and how to
        #: read it again (the command line's ``--iface`` applied)
        self.config_path = Path(config_path) if config_path is not None else None
        self._loader = loader or load_config
        self.loaded_at = time.time()
        self._commands = KeaCommands(self)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.store: LeaseStore | None = store
        self._own_store = store is None
        self.nl: NetlinkWorker | None = None
        self.routes: RouteBatcher | None = None
        self.ifaces: dict[str, _Iface] = {}
        self.control: ControlServer | None = None
        self.mobility: Any = None
        self.dataplane: Any = None
        #: commits off the loop (:mod:`router.io.commits`), for a remote store
        self.commits: Any = None
        self.duid: Duid | None = None
        self.stats = {"adapter-errors": 0, "send-failed": 0, "routes-added": 0,
                      "routes-removed": 0, "routes-unreachable": 0}
        self._stop: asyncio.Event | None = None
        self._started_at = 0.0
        lines = RateLimitedLog(log, config.log_rate_limit or 1.0)
        self._rl = lambda kind, fmt, *args, level=logging.WARNING: lines(
            kind, time.monotonic(), fmt, *args, level=level)
        self._gc_timer: asyncio.TimerHandle | None = None
        self._restore: list[tuple[_Iface, list[Binding]]] = []
        self._parsed: dict[str, IPv6Address] = {}
        self._text: dict[IPv6Address, str] = {}
        self._next_hops: dict[tuple[IPv6Address, int], tuple[float, tuple[IPv6Address, int]]] = {}
        self.ready = asyncio.Event()
        self._prober: NextHopProber | None = None

    def now(self) -> float:
        return self.loop.time()

    # ============================================================ lifecycle
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set or SIGTERM/SIGINT arrives, then shut
        down cleanly. Raises :class:`OSError` when an interface is missing or
        a socket cannot be opened, :class:`~router.errors.StoreError` when the
        lease store cannot be opened."""
        cfg = self.config
        self.loop = loop = asyncio.get_running_loop()
        self._stop = stop or asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._stop.set)
            except (RuntimeError, ValueError):
                pass
        try:  # as radvd and Kea: SIGHUP reloads the configuration
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        except (RuntimeError, ValueError):
            pass
        # no cyclic GC while the bindings are loaded (a million young objects
        # made it run full collections over and over: start-up took twice as
        # long); what is there once we serve is frozen (see _gc_tick)
        gc.disable()
        thresholds = gc.get_threshold()
        try:
            self._open()
            await self._start_services()
            log.info("router agent %s ready on %s (server DUID %s, lease db %s, control %s)",
                     cfg.router_id, ", ".join(self.ifaces), bytes(self.duid).hex(":"),
                     cfg.store_description(), cfg.control_socket)
            self.ready.set()
            notify("READY=1", f"STATUS=serving {', '.join(self.ifaces)}",
                   f"MAINPID={os.getpid()}")
            await self._stop.wait()
            notify("STOPPING=1")
            log.info("shutting down")
            await self._shutdown()
        finally:
            gc.set_threshold(*thresholds)
            gc.enable()
            try:
                await self._close()
            finally:  # the lock files go even when closing something failed
                if getattr(self, "_lock", None) is not None:
                    self._lock.release()

    def _open(self) -> None:
        cfg = self.config
        # one agent per control socket and interface, locked before anything
        # is touched: a refused second copy removes nothing (_close)
        self._lock = InstanceLock(
            f"router agent ({cfg.control_socket})", [f"{cfg.control_socket}.lock"],
            optional=[interface_lock_path("router", ic.name) for ic in cfg.interfaces]
        ).acquire()
        self.nl = nl = NetlinkWorker()
        found = []
        for ic in cfg.interfaces:
            idx = nl.link_index(ic.name)
            if idx is None:
                raise OSError(19, f"no interface {ic.name!r} in this network namespace")
            found.append((ic.name, idx, nl.link_mac(idx)))
        if cfg.mobility is not None:
            # before anything is touched: a backend the kernel lacks is one line
            self.dataplane = self._choose_dataplane()
            cfg = self.config = self._fit_mtu(cfg, found)
        self.store, self.commits = open_lease_store(cfg, self.store, self.loop, self._release)
        self.routes = RouteBatcher()
        self.duid = server_duid(cfg, self.store, found[0][2])
        offset = time.time() - self.now()
        for name, idx, mac in found:
            self.ifaces[name] = _Iface(name, idx, mac, self._core(cfg, name, mac, offset))
        for st in self.ifaces.values():
            st.dhcp = dhcp6_server_socket(st.name, st.index)
            st.icmp = icmp6_router_socket(st.name, st.index)

    def _core(self, cfg: RouterConfig, name: str, mac: bytes | None,
              offset: float) -> RouterCore:
        """The core of interface ``name`` under ``cfg`` (at start, and anew at
        each reload)."""
        return RouterCore(cfg, name, self.store, self.duid, clock_offset=offset,
                          link_layer_address=mac if mac and len(mac) == 6 else None)

    async def _start_services(self) -> None:
        cfg = self.config
        loop = self.loop
        self._started_at = time.time()
        # what a previous run that did not stop cleanly (SIGKILL, a crash) left
        # in the kernel: routes of bindings it no longer holds, its moved
        # prefixes' rules, tunnels; the bindings' own are made again below
        try:
            n = self.nl.call(dataplane_common.flush, self.nl.raw)
            if n:
                log.info("removed %d routes, rules and tunnels a previous run left", n)
        except Exception as exc:  # noqa: BLE001 - serve on; the restore replaces routes
            log.error("cannot remove what a previous run left: %s", exc)
        for st in self.ifaces.values():
            self._restore_routes(st)
        self.loop.add_reader(self.routes.fileno(), self.routes.read_acks)
        self.control = ControlServer(cfg.control_socket, self._on_control)
        await self.control.start()
        now = self.now()
        for st in self.ifaces.values():
            st.core.start(now, self._stale_ra_prefixes(st))
            loop.add_reader(st.dhcp.fileno(), self._on_dhcp, st)
            loop.add_reader(st.icmp.fileno(), self._on_icmp, st)
        self._source_validation()  # the prefixes a start withdraws (stale) included
        if cfg.mobility is not None:
            from router.dataplane.moves import Mobility

            self.mobility = Mobility(cfg, self.store, self.nl.ipr, backend=self.dataplane)
            self.mobility.follow = self._follow_store
            r = self.mobility.start(loop)
            if inspect.isawaitable(r):
                await r
        for st in self.ifaces.values():
            self._kick(st)
        gc.freeze()
        gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
        gc.enable()
        self._gc_timer = loop.call_later(GC_FREEZE_INTERVAL, self._gc_tick)
        if self._restore:
            loop.call_soon(self._restore_some)

    def _gc_tick(self) -> None:
        """Collect the young generations, then freeze what survived
        (``gc.freeze``): the bindings loaded at start-up and those made since
        are long-lived and acyclic, and a full collection walking 100,000 of
        them stalled the loop for 100-200 ms (a queue of requests behind it).
        Frozen objects are still freed by reference counting; only reference
        cycles that become garbage after being frozen are never collected."""
        gc.collect(1)
        gc.freeze()
        self._gc_timer = self.loop.call_later(GC_FREEZE_INTERVAL, self._gc_tick)

    def _stale_ra_prefixes(self, st: _Iface) -> list[IPv6Network]:
        key = f"ra-prefixes/{self.config.router_id}/{st.name}"
        now_cfg = [str(p.prefix) for p in st.core.iface.ra.prefixes]
        stale: list[IPv6Network] = []
        try:
            old = json.loads(self.store.get_meta(key) or "[]")
            stale = [IPv6Network(p) for p in old if p not in now_cfg]
            if old != now_cfg:
                self.store.set_meta(key, json.dumps(now_cfg))
        except Exception as exc:  # noqa: BLE001 - a bad meta value only loses stale PIOs
            log.warning("%s: previously advertised prefixes unreadable: %s", st.name, exc)
        if stale:
            log.info("%s: withdrawing prefixes of the previous run: %s", st.name,
                     ", ".join(map(str, stale)))
        return stale

    async def _shutdown(self) -> None:
        cfg = self.config
        now = self.now()
        for st in self.ifaces.values():
            st.core.shutdown(now)
            self._kick(st)
        t = cfg.timers
        wait = min(10.0, t.min_delay_between_ras * t.max_final_rtr_advertisements + 1.0)
        end = self.now() + wait
        while not all(st.ra_done for st in self.ifaces.values()) and self.now() < end:
            await asyncio.sleep(0.01)
        if not all(st.ra_done for st in self.ifaces.values()):
            log.warning("final RAs not all sent within %.1f s", wait)

    async def _close(self) -> None:
        loop = self.loop
        if self.commits is not None:
            try:
                await self.commits.close()
            except Exception:
                log.exception("stopping the lease database commits failed")
        if self._gc_timer is not None:
            self._gc_timer.cancel()
        for st in self.ifaces.values():
            if st.timer is not None:
                st.timer.cancel()
            for s in (st.dhcp, st.icmp):
                if s is not None:
                    try:
                        loop.remove_reader(s.fileno())
                    except (ValueError, OSError):
                        pass
        if self.mobility is not None:
            try:
                r = self.mobility.stop()
                if inspect.isawaitable(r):
                    await r
            except Exception:
                log.exception("mobility stop failed")
        if self.control is not None:
            await self.control.close()
        if self.routes is not None:
            try:
                loop.remove_reader(self.routes.fileno())
            except (ValueError, OSError):
                pass
            # the routes we know of go in batches; common.flush (a dump of the
            # whole table through pyroute2) then only finds what is left
            n = 0
            for st in self.ifaces.values():
                for b in st.core.dhcp.bindings():
                    self.routes.delete(b.prefix)
                    n += 1
                    if self.routes.queued >= 2048:
                        self.routes.drain(30.0)
            self.routes.drain(30.0)
            log.info("removed the routes of %d bindings", n)
            self.routes.close()
        if self.nl is not None:
            # a start refused before the store was opened (a missing interface,
            # a data plane the kernel lacks) made nothing to flush
            if self.routes is not None:
                try:
                    self.nl.drain()
                    n = self.nl.call(dataplane_common.flush, self.nl.raw)
                    log.info("flushed %d odm routes", n)
                except Exception as exc:  # noqa: BLE001
                    log.error("cannot flush odm routes: %s", exc)
            self.nl.close()
        for st in self.ifaces.values():
            for s in (st.dhcp, st.icmp):
                if s is not None:
                    s.close()
        if self.store is not None and (self._own_store or self.commits is not None):
            try:
                if self._own_store:
                    self.store.close()
                else:  # the caller's store: what is left committed, left open
                    self.store.commit()
            except Exception as exc:  # noqa: BLE001
                log.error("closing the lease store: %s", exc)
        if getattr(self, "_lock", None) is not None:
            self._lock.release()

    # =============================================================== inputs
    def _on_dhcp(self, st: _Iface) -> None:
        sock = st.dhcp
        core = st.core
        now = self.loop.time()
        name = st.name
        parsed = self._parsed
        for _ in range(BATCH):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._rl("dhcp-recv", "%s: DHCPv6 socket: %s", name, exc)
                break
            try:
                a = addr[0]
                src = parsed.get(a)
                if src is None:
                    src = self._parse_src(a)
                core.handle_datagram(data, src, now, kind="dhcp6", ifname=name)
            except Exception as exc:  # noqa: BLE001 - never let one datagram stop us
                self.stats["adapter-errors"] += 1
                self._rl("dhcp-core", "%s: DHCPv6 datagram from %s not handled: %r",
                         name, addr, exc, level=logging.ERROR)
        self._kick(st)

    def _parse_src(self, text: str) -> IPv6Address:
        """``fe80::1%eth0`` → IPv6Address (no scope), remembered both ways
        (a busy link has few sources: clients or relays)."""
        i = text.find("%")
        a = IPv6Address(text if i < 0 else text[:i])
        if len(self._parsed) > 4096:
            self._parsed.clear()
            self._text.clear()
        self._parsed[text] = a
        self._text[a] = text if i < 0 else text[:i]
        return a

    def _on_icmp(self, st: _Iface) -> None:
        now = self.loop.time()
        for _ in range(BATCH):
            try:
                data, src, hop = recv_icmp6(st.icmp)
            except (BlockingIOError, InterruptedError):
                break
            except (OSError, ValueError) as exc:
                self._rl("icmp-recv", "%s: ICMPv6 socket: %s", st.name, exc)
                break
            try:
                st.core.handle_datagram(data, src, now, kind="icmp6", hop_limit=hop,
                                        ifname=st.name)
            except Exception as exc:  # noqa: BLE001
                self.stats["adapter-errors"] += 1
                self._rl("icmp-core", "%s: ICMPv6 from %s not handled: %r", st.name, src,
                         exc, level=logging.ERROR)
        self._kick(st)

    def _on_timer(self, st: _Iface) -> None:
        st.timer = None
        st.timer_at = None
        try:
            st.core.handle_timer(self.loop.time())
        except Exception as exc:  # noqa: BLE001
            self.stats["adapter-errors"] += 1
            self._rl("timer", "%s: timer: %r", st.name, exc, level=logging.ERROR)
        self._kick(st)

    # ============================================================== outputs
    def _kick(self, st: _Iface) -> None:
        """Send what the core has (the core commits the store first; with a
        remote store the DHCPv6 part waits for its commit on the database
        thread, :mod:`router.io.commits`), carry out its events, re-arm its
        timer."""
        core = st.core
        commits = self.commits
        try:
            out = core.ra.datagrams_to_send() if commits else core.datagrams_to_send()
        except Exception as exc:  # noqa: BLE001
            self.stats["adapter-errors"] += 1
            self._rl("flush", "%s: %r", st.name, exc, level=logging.ERROR)
            out = []
        if out:
            self._send(st, out)
        if commits is not None:
            try:
                commits.submit(st, core.dhcp.take_held())
            except Exception as exc:  # noqa: BLE001
                self.stats["adapter-errors"] += 1
                self._rl("commit", "%s: %r", st.name, exc, level=logging.ERROR)
        try:
            events = core.take_events()
        except Exception as exc:  # noqa: BLE001
            self.stats["adapter-errors"] += 1
            self._rl("event", "%s: %r", st.name, exc, level=logging.ERROR)
            events = []
        if events:
            self._carry_out(st, events)
        t = core.get_timer()
        if t != st.timer_at:
            if st.timer is not None:
                st.timer.cancel()
                st.timer = None
            st.timer_at = t
            if t is not None:
                st.timer = self.loop.call_at(t, self._on_timer, st)

    def _release(self, st: _Iface, held) -> None:
        """A core's held Replies and events, once their commit is in."""
        if held.out:
            self._send(st, held.out)
        self._carry_out(st, held.events)

    def _send(self, st: _Iface, out: list) -> None:
        idx = st.index
        dsock, isock = st.dhcp, st.icmp
        text = self._text
        for o in out:
            try:
                dst = text.get(o.dst) or str(o.dst)
                if o.kind == "dhcp6":
                    dsock.sendto(o.payload, (dst, o.dst_port or 546, 0, idx))
                else:
                    isock.sendto(o.payload, (dst, 0, 0, idx))
            except BlockingIOError:
                # socket buffer full: the client retransmits (RFC 8415 §15)
                self.stats["send-failed"] += 1
            except OSError as exc:
                self.stats["send-failed"] += 1
                self._rl("send", "%s: send to %s failed: %s", st.name, o.dst, exc,
                         level=logging.INFO)

def run_agent(config: RouterConfig, config_path: str | Path | None = None,
              loader: Callable[[Path], RouterConfig] | None = None) -> None:
    """Blocking entry point of ``odm router run``. The capabilities the agent
    does not need are given up first, before any thread starts (they are per
    thread), so none of its threads holds more (issue 13 point 16)."""
    from odm.capabilities import ROUTER_KEEPS, drop_after_start
    drop_after_start("router agent", ROUTER_KEEPS)
    asyncio.run(RouterAgent(config, config_path=config_path, loader=loader).run())
