"""Following a host across routers: the network side of each type's guarantee.

RFC 8653 §3.2 and DESIGN §2: after a move, SESSION_LASTING and FIXED prefixes
stay valid *and routed* to the host; a GRACEFUL_REPLACEMENT prefix stays
usable for its grace period; NON_PERSISTENT ones end. The sans-I/O core
(:mod:`router.core.moves`) decides the lifetimes when the host Rebinds
(RFC 8415 §18.2.12) at its new router and records in the shared lease store
that this router now serves the prefix (``served_by``) while the router that
delegated it stays its ``anchor``. This module makes the data plane follow
that record, through the data-plane backend the agent chose
(:mod:`router.dataplane`: SRv6, IPv6-in-IPv6, VXLAN or plain routing):

* **serving router** (the host is here, the prefix is anchored elsewhere): on
  :class:`~router.core.events.BindingMovedHere` the agent has already routed
  the prefix to the host's link-local address; :class:`Mobility` has the
  backend send the host's packets back to the anchor (a ``from <prefix>``
  rule to a per-anchor table: upstream leaves where the prefix is anchored;
  nothing for ``routed``), and nudges the
  anchor (one UDP datagram holding the prefix, to the anchor's core address
  and ``notify_port``) so it need not wait for its next poll;
* **no Redirects on the core link**: the anchor forwards the decapsulated
  upstream packets (and, with ``routed``, downstream ones) back out of the link
  they arrived on, where Linux would send a meaningless ICMPv6 Redirect;
  :mod:`router.dataplane.redirects` drops those where nftables is available;
* **anchoring router** (its prefix moved away): when the store signals a
  move (PostgreSQL ``LISTEN/NOTIFY``: :meth:`~router.store.LeaseStore.listen_moves`,
  sent by the database when the serving router's transaction commits), on a
  nudge, and every ``poll_interval`` seconds, it reads
  :meth:`~router.store.LeaseStore.moved_away`
  and has the backend forward each such prefix to the serving router
  (downstream follows the host); when the binding is gone (released, or its
  valid lifetime over) the redirect goes; when the host comes back the agent's
  own route to the host replaces it.

**the router the host left** keeps no stale binding: each poll hands the
agent's ``follow`` hook the clients whose prefixes moved away from here (the
DUIDs of :meth:`~router.store.LeaseStore.moved_away`) and the prefixes a
nudge named or that moved on from here; the agent has the core compare its
bindings of those with the store
(:meth:`~router.core.dhcp_server.DhcpServer.follow_store`): one served
elsewhere now says so, one gone from the store (a NON_PERSISTENT prefix the
new router ended, RFC 8653 §3.2) is dropped with its route. The router that
ends a moved prefix nudges the router that served it
(:class:`~router.core.events.MovedBindingEnded`).

A serving router whose host left again (the store names another router) or
whose moved-here binding ended drops its rule and its route. The nudge carries
nothing but a prefix in text; the store stays the one source of truth, so a
lost or forged nudge only triggers a re-read. With a store that signals moves
the nudge and the polling remain a safety net (and the only path on SQLite):
a notification, too, only triggers a re-read; a lost listening connection
triggers one at once and is opened again with back-off.

Only NON_PERSISTENT prefixes are never forwarded: their old-router lifetimes
are zeroed on the Rebind and the host drops them at once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv6Address, IPv6Network
from typing import TYPE_CHECKING

from pyroute2 import NetlinkError

from odm_wire.constants import MobilityType
from router.core.events import (
    BindingMovedHere,
    Event,
    MovedBindingEnded,
    PrefixDelegated,
    PrefixReleased,
    PrefixRenewed,
)
from router.dataplane import Backend, Peer, choose, common, redirects
from router.dataplane.base import write_proc_sysctl
from router.errors import StoreError

if TYPE_CHECKING:
    from router.config import RouterConfig
    from router.store import LeaseStore

__all__ = ["Mobility"]

log = logging.getLogger(__name__)

_NUDGE_MAX = 64  # octets: a prefix in text is at most 43
_NUDGED_MAX = 1024  # prefixes named by nudges kept until the next poll
#: back-off (seconds) of listening again after the listening connection broke
LISTEN_BACKOFF_FIRST = 1.0
LISTEN_BACKOFF_MAX = 30.0


def _off_loop(fn, *args):
    """Run ``fn(*args)`` on a short-lived thread and return its result:
    pyroute2's synchronous API runs an event loop of its own and cannot be
    called from inside the agent's running loop."""
    with ThreadPoolExecutor(1, thread_name_prefix="odm-nft") as ex:
        return ex.submit(fn, *args).result()


def sid_facts(m) -> dict[str, bool]:
    """What :func:`router.dataplane.choose` needs to know of a ``[mobility]``
    table: whether it names SIDs (the ``srv6`` backend needs them)."""
    return {"has_sid": m.sid is not None,
            "peers_have_sids": all(p.sid is not None for p in m.peers)}


class Mobility:
    """The data-plane side of moves for one router agent.

    ``config``: the router config (its ``mobility`` table must be set);
    ``store``: the shared lease store the core uses; ``ipr``: a pyroute2
    ``IPRoute`` in the router's namespace; ``backend``: the data-plane backend
    class (default: chosen now by :func:`router.dataplane.choose` from the
    config's ``dataplane``); ``write_sysctl(key, value)``: how to write a
    sysctl (default: ``/proc/sys`` of this process).

    Driven by the agent: :meth:`start` once its sockets are up,
    :meth:`handle_event` with every core event (after the agent routed or
    unrouted the prefix on the access link), :meth:`stop` at shutdown. Netlink
    errors are logged and counted in :attr:`stats`, never raised into the
    agent's loop.
    """

    def __init__(self, config: RouterConfig, store: LeaseStore, ipr, *,
                 backend: type[Backend] | None = None,
                 write_sysctl: Callable[[str, str], None] = write_proc_sysctl) -> None:
        if config.mobility is None:
            raise ValueError("the router config has no [mobility] table")
        if backend is None:
            backend, _ = choose(config.mobility.dataplane, ipr,
                                **sid_facts(config.mobility))
        self.backend_cls = backend
        self.backend: Backend | None = None
        #: the other routers, as the backend sees them
        self.peers = tuple(Peer(i, p.router_id, p.core_address, p.sid, p.sid_prefix)
                           for i, p in enumerate(config.mobility.peers))
        self.config = config
        self.m = config.mobility
        self.me = config.router_id
        self.store = store
        self.ipr = ipr
        self.write_sysctl = write_sysctl
        self.core_oif: int | None = None
        #: prefixes this router anchors and forwards: prefix -> serving router id
        self.redirected: dict[IPv6Network, str] = {}
        #: prefixes served here for another anchor: prefix -> anchor router id
        self.serving: dict[IPv6Network, str] = {}
        #: the access interface each prefix served here came in on (its rule's iif)
        self.serving_iif: dict[IPv6Network, str | None] = {}
        self.stats = {"redirects-added": 0, "redirects-removed": 0, "uplinks-added": 0,
                      "uplinks-removed": 0, "nudges-sent": 0, "nudges-received": 0,
                      "netlink-errors": 0, "polls": 0, "moves-notified": 0,
                      "notify-lost": 0, "follow-errors": 0}
        self._sock: socket.socket | None = None
        self._listen_fd: int | None = None
        self._listen_timer: asyncio.TimerHandle | None = None
        self._listen_backoff = LISTEN_BACKOFF_FIRST
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: the agent's hook: (DUIDs whose prefixes moved away from here,
        #: prefixes to look at) -> its cores follow the store
        self.follow: Callable[[set[bytes], set[IPv6Network]], None] | None = None
        self._nudged: set[IPv6Network] = set()

    # -- life cycle ------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Set the backend up on the core link (a SID, tunnel devices to the
        peers), drop ICMPv6 Redirects there, open the nudge socket, take over
        the moves already in the store, and start polling. Raises ``OSError``
        / ``NetlinkError`` if the core interface is missing or the kernel
        refuses (the agent cannot keep its mobility promise then)."""
        links = self.ipr.link_lookup(ifname=self.m.core_interface)
        if not links:
            raise OSError(f"mobility core_interface {self.m.core_interface!r} does not exist")
        self.core_oif = links[0]
        link = self.ipr.get_links(self.core_oif)[0]
        self.backend = self.backend_cls(
            self.ipr, router_id=self.me, core_oif=self.core_oif,
            core_address=self.m.core_address or self._core_address(),
            peers=self.peers, sid=self.m.sid, core_mtu=link.get_attr("IFLA_MTU") or 1500,
            write_sysctl=self.write_sysctl)
        self.backend.setup()
        try:
            _off_loop(redirects.install, self.core_oif)
        except OSError as exc:
            log.warning("mobility: ICMPv6 Redirects on %s stay on: %s", self.m.core_interface,
                        exc)
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                     self.m.core_interface.encode())
        s.bind(("::", self.m.notify_port))
        s.setblocking(False)
        self._sock = s
        self._loop = loop
        loop.add_reader(s.fileno(), self._on_nudge)
        self._listen()  # before the first read: no move falls between the two
        self._adopt_serving()
        self.poll()
        self._schedule()
        log.info("mobility: data plane %s (%s) on %s, %d peers, nudges on port %d%s",
                 self.backend.name, self.backend.summary, self.m.core_interface,
                 len(self.m.peers), self.m.notify_port,
                 ", moves signalled by the lease database" if self._listen_fd is not None
                 else "")

    def _core_address(self):
        """The core interface's first global address (the tunnels' local end
        when ``[mobility] core_address`` is not set), or ``None``."""
        for a in self.ipr.get_addr(family=10, index=self.core_oif):
            if a["scope"] == 0:
                return IPv6Address(a.get_attr("IFA_ADDRESS"))
        return None

    def stop(self) -> None:
        """Stop polling, close the nudge socket, remove the backend's devices.
        Routes and rules are left to the agent's final
        :func:`router.dataplane.common.flush`."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._listen_timer is not None:
            self._listen_timer.cancel()
            self._listen_timer = None
        self._unlisten()
        _off_loop(redirects.remove)
        if self._sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self.backend is not None:
            try:
                self.backend.teardown()
            except (NetlinkError, OSError) as exc:
                log.error("mobility: removing the %s devices: %s", self.backend.name, exc)

    def _schedule(self) -> None:
        if self._loop is not None:
            self._timer = self._loop.call_later(self.m.poll_interval, self._tick)

    def _tick(self) -> None:
        self._timer = None
        try:
            self.poll()
        finally:
            self._schedule()

    # -- moves signalled by the store ----------------------------------------------
    def _listen(self) -> None:
        """Listen for the store's move notifications (PostgreSQL); a store
        without them (SQLite) leaves the nudges and the polling."""
        self._listen_timer = None
        if self._loop is None or not self.store.notifies_moves:
            return
        try:
            fd = self.store.listen_moves(self.me)
        except StoreError as exc:
            log.warning("mobility: cannot listen for moves (%s); polling every %g s, "
                        "trying again in %g s", exc, self.m.poll_interval, self._listen_backoff)
            self._listen_later()
            return
        if fd is None:
            return
        self._listen_fd = fd
        self._loop.add_reader(fd, self._on_notify)
        self._listen_backoff = LISTEN_BACKOFF_FIRST

    def _listen_later(self) -> None:
        if self._loop is not None and self._listen_timer is None:
            self._listen_timer = self._loop.call_later(self._listen_backoff, self._relisten)
            self._listen_backoff = min(self._listen_backoff * 2, LISTEN_BACKOFF_MAX)

    def _relisten(self) -> None:
        self._listen()
        if self._listen_fd is not None:
            self.poll()  # what moved while nobody listened
            log.info("mobility: listening for moves again")

    def _unlisten(self) -> None:
        fd, self._listen_fd = self._listen_fd, None
        if fd is not None and self._loop is not None:
            try:
                self._loop.remove_reader(fd)
            except (ValueError, OSError):
                pass

    def _on_notify(self) -> None:
        """The listening connection is readable: a move was committed (or the
        connection broke: then re-read now, listen again later)."""
        try:
            moves = self.store.drain_moves()
        except StoreError as exc:
            self.stats["notify-lost"] += 1
            self._unlisten()
            log.warning("mobility: move notifications lost (%s); re-reading the store", exc)
            self.poll()
            self._listen_later()
            return
        if moves:
            self.stats["moves-notified"] += len(moves)
            self.poll()

    # -- events from the core ------------------------------------------------------
    def handle_event(self, ev: Event) -> None:
        """Carry out what a core event means for routing across routers."""
        if isinstance(ev, BindingMovedHere):
            if ev.anchor == self.me:
                self._back_home(ev.prefix)
                return
            if ev.mobility_type is MobilityType.NON_PERSISTENT:
                return
            self._add_uplink(ev.prefix, ev.anchor, ev.interface)
            self._nudge(ev.anchor, ev.prefix)
        elif isinstance(ev, (PrefixDelegated, PrefixRenewed)):
            if ev.prefix in self.redirected:
                self._back_home(ev.prefix)
        elif isinstance(ev, MovedBindingEnded):
            self._nudge(ev.served_by, ev.prefix)
        elif isinstance(ev, PrefixReleased):
            anchor = self.serving.get(ev.prefix)
            if anchor is not None:
                self._remove_uplink(ev.prefix)
                self._nudge(anchor, ev.prefix)
            if ev.prefix in self.redirected:
                self._remove_redirect(ev.prefix)

    def _back_home(self, prefix: IPv6Network) -> None:
        """The host brought an anchored prefix back: the agent's route to the
        host replaced the redirect; tell the router it left."""
        was = self.redirected.pop(prefix, None)
        if was is not None:
            self.stats["redirects-removed"] += 1
            log.info("mobility: %s is back here from %s", prefix, was)
            self._nudge(was, prefix)

    # -- the store --------------------------------------------------------------
    def poll(self) -> None:
        """Re-read the shared store and make the routes match it (anchor side:
        one redirect per moved-away binding; serving side: drop rules of
        bindings that moved on or ended)."""
        self.stats["polls"] += 1
        try:
            moved = {b.prefix: b for b in self.store.moved_away(self.me)}
        except StoreError as exc:
            log.error("mobility: cannot read the lease store: %s", exc)
            return
        for prefix, b in moved.items():
            if self.redirected.get(prefix) != b.served_by:
                self._add_redirect(prefix, b.served_by)
        look, self._nudged = self._nudged, set()
        for prefix in [p for p in self.redirected if p not in moved]:
            try:
                b = self.store.find_prefix(prefix)
            except StoreError:
                continue
            if b is None:
                self._remove_redirect(prefix)
                look.add(prefix)
            else:  # served here again: the agent's route to the host took over
                self.redirected.pop(prefix, None)
        for prefix in list(self.serving):
            try:
                b = self.store.find_prefix(prefix)
            except StoreError:
                continue
            if b is None or b.served_by != self.me:
                self._remove_uplink(prefix)
                self._netlink(common.remove_prefix_route, self.ipr, prefix)
                look.add(prefix)
        if self.follow is not None:
            try:
                self.follow({b.duid for b in moved.values()}, look)
            except Exception:
                self.stats["follow-errors"] += 1
                log.exception("mobility: following the store failed")

    def _adopt_serving(self) -> None:
        """After a restart: the bindings served here for another anchor get
        their upstream rule back."""
        try:
            mine = [b for b in self.store.load(self.me) if b.served_by == self.me]
        except StoreError as exc:
            log.error("mobility: cannot read the lease store: %s", exc)
            return
        for b in mine:
            if b.anchor != self.me and b.mobility_type is not MobilityType.NON_PERSISTENT:
                self._add_uplink(b.prefix, b.anchor, b.interface)

    # -- data plane -------------------------------------------------------------------
    def _peer(self, router_id: str | None) -> Peer | None:
        for p in self.peers:
            if p.router_id == router_id:
                return p
        return None

    def _netlink(self, fn, *args) -> bool:
        try:
            fn(*args)
            return True
        except (NetlinkError, OSError) as exc:
            self.stats["netlink-errors"] += 1
            log.error("mobility: %s %s failed: %s", self.backend_cls.name,
                      getattr(fn, "__name__", fn), exc)
            return False

    def _add_redirect(self, prefix: IPv6Network, served_by: str) -> None:
        peer = self._peer(served_by)
        if peer is None:
            log.warning("mobility: %s moved to %s, which is not a configured peer", prefix,
                        served_by)
            return
        if self._netlink(self.backend.forward, prefix, peer):
            self.redirected[prefix] = served_by
            self.stats["redirects-added"] += 1
            log.info("mobility: %s anchored here now reaches its host via %s (%s)",
                     prefix, served_by, self.backend.name)

    def _remove_redirect(self, prefix: IPv6Network) -> None:
        self.redirected.pop(prefix, None)
        if self._netlink(common.remove_prefix_route, self.ipr, prefix):
            self.stats["redirects-removed"] += 1
            log.info("mobility: %s ended; redirect removed", prefix)

    def _add_uplink(self, prefix: IPv6Network, anchor: str, iif: str | None = None) -> None:
        peer = self._peer(anchor)
        if peer is None:
            log.warning("mobility: %s is anchored at %s, which is not a configured peer",
                        prefix, anchor)
            return
        was = self.serving_iif.get(prefix)
        if prefix in self.serving and was != iif:  # the host came in on another link
            self._netlink(self.backend.remove_uplink, prefix, peer, was)
        if self._netlink(self.backend.uplink, prefix, peer, iif):
            self.serving[prefix] = anchor
            self.serving_iif[prefix] = iif
            self.stats["uplinks-added"] += 1
            log.info("mobility: %s of %s served here; upstream %s", prefix, anchor,
                     f"back to it ({self.backend.name})" if self.backend.overhead
                     else "leaves natively (routed)")

    def _remove_uplink(self, prefix: IPv6Network) -> None:
        anchor = self.serving.pop(prefix, None)
        iif = self.serving_iif.pop(prefix, None)
        peer = self._peer(anchor)
        if peer is not None and self._netlink(self.backend.remove_uplink, prefix, peer, iif):
            self.stats["uplinks-removed"] += 1
            log.info("mobility: %s no longer served here for %s", prefix, anchor)

    # -- nudges -------------------------------------------------------------------------
    def _nudge(self, router_id: str, prefix: IPv6Network) -> None:
        peer = self.m.peer(router_id)
        if peer is None or self._sock is None:
            return
        try:
            self._sock.sendto(str(prefix).encode(), (str(peer.core_address),
                                                     self.m.notify_port))
            self.stats["nudges-sent"] += 1
        except OSError as exc:
            log.warning("mobility: nudge to %s failed: %s", router_id, exc)

    def _on_nudge(self) -> None:
        got = False
        while self._sock is not None:
            try:
                data, _ = self._sock.recvfrom(_NUDGE_MAX)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.warning("mobility: nudge socket: %s", exc)
                break
            self.stats["nudges-received"] += 1
            got = True
            # only "look again (at this prefix)": the store is the truth
            if len(self._nudged) < _NUDGED_MAX:
                try:
                    self._nudged.add(IPv6Network(data.decode("ascii")))
                except (UnicodeDecodeError, ValueError):
                    pass
        if got:
            self.poll()

    def status(self) -> dict:
        """JSON-ready: redirects, served-here prefixes and counters."""
        return {"dataplane": self.backend.describe() if self.backend else
                {"name": self.backend_cls.name},
                "redirected": {str(p): r for p, r in self.redirected.items()},
                "serving": {str(p): a for p, a in self.serving.items()},
                "moves-signalled": self._listen_fd is not None,
                "counters": dict(self.stats)}
