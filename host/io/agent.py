"""The asyncio host agent: kernel sockets, netlink and the Unix API around one
:class:`~host.core.host.HostCore` (aioquic-style thin adapter).

``HostAgent(config).run()``: turns kernel SLAAC off on the interface, opens
UDP 546 (bound to the interface) and a raw ICMPv6 socket (RA in with their hop
limit, RS out), subscribes to netlink address/link notifications, starts the
API socket, then feeds every datagram, timer and API request to the core and
carries out what comes back: datagrams out, addresses in the kernel (with
IFA_CACHEINFO lifetimes), setsc() answers, notifications. On SIGTERM/SIGINT it
releases its delegated prefixes (RFC 8415 §18.2.7) and waits briefly for the
Replies.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import os
import signal
import socket
import struct
from ipaddress import IPv6Address
from pathlib import Path

from host.config import HostConfig
from host.core.events import (
    AddressAdded,
    AddressRemoved,
    AddressUpdated,
    AppNotification,
    RouterExpired,
    RouterSeen,
    SetscCompleted,
)
from host.core.host import HostCore
from host.core.policy import Principal
from host.io.agent_durable import DurableState
from host.io.agent_status import status_for
from host.io.api_requests import setsc_answer
from host.io.api_server import ApiServer, Connection
from host.io.byte_counts import ByteCounts
from host.io.netlink import ThreadedNetlink as Netlink
from host.io.secret import load_secret
from host.io.sockets import dhcp6_client_socket, icmp6_socket, recv_icmp6
from host.policy_file import load_policy
from host.state import StateFile
from odm.instance_lock import InstanceLock, interface_lock_path
from odm.sdnotify import notify
from odm_wire.dhcp6 import DuidLL, decode_duid

log = logging.getLogger(__name__)

#: A datagram the kernel would not send because the interface's link-local
#: address is still tentative (RFC 4862 §5.4: DAD after link-up or start-up;
#: sendto fails with EADDRNOTAVAIL, or EINVAL when IPV6_PKTINFO names the
#: tentative source) is sent again every UNSENT_RETRY seconds
#: for up to UNSENT_FOR seconds; at most UNSENT_MAX wait at once.
def _unsent_key(out) -> tuple:
    """What makes a held datagram a copy of another: DHCPv6 message type and
    transaction-id (RFC 8415 §8), or the ICMPv6 type, and the destination."""
    head = out.payload[:4] if out.kind == "dhcp6" else out.payload[:1]
    return out.kind, out.dst, out.dst_port, head


UNSENT_RETRY = 0.05
UNSENT_FOR = 5.0
UNSENT_MAX = 32


class HostAgent(DurableState):
    """One interface's host agent process."""

    def __init__(self, config: HostConfig) -> None:
        self.config = config
        self.loop: asyncio.AbstractEventLoop | None = None
        self.core: HostCore | None = None
        self.nl: Netlink | None = None
        self.api: ApiServer | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: the core time _timer was asked for
        self._timer_at: float | None = None
        self._waiting: dict[int, tuple[Connection, object]] = {}
        self._next_request = 1
        self._stop: asyncio.Event | None = None
        self._routes = False
        #: last carrier state seen (True at start: the first "up" is no move)
        self._carrier = True
        #: durable state (host/state.py) and the references taken back from it
        self.state: StateFile | None = StateFile(config.state_file) if config.state_file else None
        self.adopted: dict = {}
        #: the owners as last written to the state file, and (request number,
        #: connection, its reference before the call) of the setsc() being
        #: handled: see _held_again
        self._persisted_owners: dict = {}
        self._setsc_of: tuple[int, Connection, object] | None = None
        self._adopt_handle: asyncio.TimerHandle | None = None
        #: kernel octet counters per source address (privacy by bytes)
        self.counts: ByteCounts | None = None
        #: (first failure time, Outgoing) of datagrams waiting for DAD
        self._unsent: list[tuple[float, object]] = []
        #: the interface's link-local address: the source of every DHCPv6
        #: message to ff02::1:2 (RFC 8415 §7.1 via IPV6_PKTINFO; None: the
        #: kernel chooses, and while the link-local is tentative it would
        #: choose a global address the server cannot answer on-link)
        self._ll: IPv6Address | None = None
        self._unsent_handle: asyncio.TimerHandle | None = None
        #: state file writes that failed (setsc() answers withheld meanwhile)
        self.state_write_failed = 0
        self._lock: InstanceLock | None = None

    def now(self) -> float:
        assert self.loop is not None
        return self.loop.time()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = stop or asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self.loop.add_signal_handler(sig, self._stop.set)
            except (RuntimeError, ValueError):
                pass
        # one agent per interface, API socket and state file: locked before
        # anything is touched (odm/instance_lock.py)
        self._lock = self._instance_lock().acquire()
        try:
            await self._serve()
        finally:
            # also a start that failed after the lock was taken (no such
            # interface, API socket in use, a refused state file): what was
            # opened is closed and the lock files go (odm/instance_lock.py)
            try:
                self._close()
            finally:
                self._lock.release()

    async def _serve(self) -> None:
        """Open everything, serve until stopped, release the prefixes."""
        cfg = self.config
        self.nl = nl = Netlink(cfg.iface)
        trusted = bool(cfg.trusted_routers)
        if cfg.manage_sysctls:
            log.info("sysctls on %s: %s", cfg.iface, nl.configure_sysctls(trusted))
            gone = nl.drop_kernel_slaac()
            if gone:
                log.info("kernel SLAAC addresses on %s removed (autoconf is off: the agent "
                         "forms the addresses): %s", cfg.iface, ", ".join(gone))
        if trusted:
            gone = nl.drop_ra_routes({IPv6Address(a) for a in cfg.trusted_routers})
            if gone:
                log.warning("routes learned from RAs of untrusted routers removed: %s",
                            ", ".join(gone))
            if nl.accept_ra() != 0:
                log.warning("trusted_routers is set but accept_ra on %s is not 0 "
                            "(manage_sysctls = false): the kernel still takes a default "
                            "route from any router's RA", cfg.iface)
        self._routes = cfg.install_default_route or nl.accept_ra() == 0
        mac = nl.mac()
        duid = decode_duid(bytes.fromhex(cfg.duid)) if cfg.duid else DuidLL(1, mac or b"\0" * 6)
        policy = load_policy(cfg.policy_file)
        log.info("setsc policy: %s", policy.source)
        doc = None
        if self.state is not None:
            doc = self.state.load()
            if doc and doc.get("duid") and not cfg.duid:
                try:  # RFC 8415 §11: the DUID the bindings were made with
                    duid = decode_duid(bytes.fromhex(doc["duid"]))
                except ValueError:
                    pass
        self.core = HostCore(cfg, duid, load_secret(cfg), mac=mac, policy=policy)
        if self.state is not None and doc:
            self._restore(doc)
        self._ll = self._link_local()
        self.dhcp = dhcp6_client_socket(cfg.iface, nl.index)
        self.icmp = icmp6_socket(cfg.iface, nl.index)
        self.loop.add_reader(self.dhcp.fileno(), self._on_dhcp)
        self.loop.add_reader(self.icmp.fileno(), self._on_icmp)
        self.loop.add_reader(nl.open_monitor(), self._on_netlink)
        self.api = ApiServer(cfg.api_socket, self.loop, self._on_request, self._on_close,
                             poll_interval=cfg.socket_poll_interval,
                             max_connections=cfg.api_max_connections,
                             max_connections_per_uid=cfg.api_max_connections_per_uid)
        self.api.start()
        log.info("host agent on %s (ifindex %d), API %s", cfg.iface, nl.index, cfg.api_socket)
        if cfg.address_max_bytes is not None:
            self.counts = ByteCounts(cfg, self.loop, lambda: self.core, self._kick)
            self.counts.open()
        self.core.start(self.now())
        self._kick()
        self._remove_leftovers()
        if self.adopted:
            self._adopt_handle = self.loop.call_later(cfg.socket_poll_interval, self._watch_adopted)
        notify("READY=1", f"STATUS=serving on {cfg.iface}, API {cfg.api_socket}",
               f"MAINPID={os.getpid()}")
        await self._stop.wait()
        notify("STOPPING=1")
        self.core.release_all(self.now())
        self._kick()
        await self._drain_releases(timeout=max(0.2, min(2.0, cfg.timers.rel_timeout * 2)))

    def _instance_lock(self) -> InstanceLock:
        cfg = self.config
        paths = [Path(f"{cfg.api_socket}.lock")]
        if cfg.state_file is not None:
            paths.append(Path(f"{cfg.state_file}.lock"))
        return InstanceLock(f"host agent on {cfg.iface}", paths,
                            optional=[interface_lock_path("host", cfg.iface)])

    async def _drain_releases(self, timeout: float) -> None:
        end = self.now() + timeout
        while self.core.pd.ias and self.now() < end:
            await asyncio.sleep(0.02)

    def _close(self) -> None:
        if self._adopt_handle:
            self._adopt_handle.cancel()
        if self.counts is not None:
            self.counts.close()
            self.counts = None
        if self._timer:
            self._timer.cancel()
        if self._unsent_handle:
            self._unsent_handle.cancel()
        for s in (getattr(self, "dhcp", None), getattr(self, "icmp", None)):
            if s is not None:
                self.loop.remove_reader(s.fileno())
                s.close()
        if self.api:
            self.api.close()
        if self.nl:
            if self.nl.monitor is not None:
                self.loop.remove_reader(self.nl.monitor.fileno())
            # the addresses this agent formed go with it
            for a in list(self.core.addrs.by_prefix.values()) if self.core else ():
                self.nl.apply(AddressRemoved(a.address, a.prefix_length, a.mobility_type,
                                             "agent-stop"))
            restored = self.nl.restore_sysctls()
            if restored:
                log.info("sysctls on %s restored: %s", self.config.iface, restored)
            self.nl.close()

    # -------------------------------------------------------------- inputs --
    def _on_dhcp(self) -> None:
        while True:
            try:
                data, addr = self.dhcp.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.info("DHCPv6 socket: %s", exc)
                break
            # any source port: RFC 8415 §7.2 fixes the ports clients and servers
            # listen on, not the one a server sends from (WIDE dhcp6s answers
            # from an ephemeral port); what comes in is validated by the core,
            # which counts and logs every datagram it drops
            self.core.handle_datagram(data, IPv6Address(addr[0].split("%")[0]), self.now(),
                                      kind="dhcp6", ifname=self.config.iface)
        self._kick()

    def _on_icmp(self) -> None:
        while True:
            try:
                data, src, hop = recv_icmp6(self.icmp)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.info("ICMPv6 socket: %s", exc)
                break
            self.core.handle_datagram(data, src, self.now(), kind="icmp6", hop_limit=hop,
                                      ifname=self.config.iface)
        self._kick()

    def _on_netlink(self) -> None:
        try:
            items = self.nl.read_monitor()
        except Exception as exc:  # noqa: BLE001
            log.warning("netlink monitor: %s", exc)
            return
        now = self.now()
        for it in items:
            if isinstance(it, tuple):
                up = it[1]
                was, self._carrier = self._carrier, up
                if up and not was:  # a transition, not any RTM_NEWLINK (promisc...)
                    n = self.nl.flush_neighbours()
                    log.info("carrier up on %s (%d neighbour entries of the previous "
                             "link flushed)", self.config.iface, n)
                    self.core.link_up(now)
                elif was and not up:
                    # forget the routers now: with no default route, TCP's
                    # segments sent during the gap fail at once instead of
                    # waiting in a neighbour queue of the old router
                    self.core.link_down(now)
                    n = self.nl.flush_neighbours()
                    log.info("carrier lost on %s (routers forgotten, %d neighbour entries "
                             "flushed)", self.config.iface, n)
                continue
            a = self.core.addrs.by_address.get(it.address)
            if a is None or it.deleted:
                continue
            if it.dadfailed:
                self.core.address_dad_failed(it.address, now)
            elif not it.tentative and not a.ready:
                self.core.address_ready(it.address, now)
        self._kick()

    def _on_timer(self) -> None:
        self._timer = None
        self.core.handle_timer(self.now())
        self._kick()

    # ----------------------------------------------------------------- API --
    def _on_request(self, c: Connection, msg: dict) -> None:
        op = msg.get("op")
        rid = msg.get("id")
        if op == "setsc" and not msg.get("on_net") and self._answer_held(c, msg):
            return
        if op == "setsc":
            n = self._next_request
            self._next_request += 1
            self._waiting[n] = (c, rid)
            timeout = msg.get("timeout")
            if timeout is not None:
                try:
                    timeout = max(0.0, min(float(timeout), 3600.0))
                except (TypeError, ValueError):
                    timeout = None
            self._setsc_of = (n, c, self.core.refs.get(c.owner))
            self.core.setsc(n, c.owner, msg.get("type"), self.now(),
                            on_net=bool(msg.get("on_net")), timeout=timeout,
                            principal=Principal(c.uid, c.gid, c.groups, c.pid))
        elif op == "release":
            self.core.close_owner(c.owner, self.now())
            self.api.send(c, {"id": rid, "ok": True})
        elif op in ("renew", "rebind", "release-all"):
            # an operator's dhcpcd -n / -k: root only (it acts on every user's prefixes)
            if c.uid != 0:
                self.api.send(c, {"id": rid, "ok": False, "error": "EPERM",
                                  "detail": f"{op} acts on every prefix of the host: root only"})
            else:
                n = sum(1 for ia in self.core.pd.ias.values() if ia.leases)
                log.info("%s of %d IA_PD(s) asked by pid %s", op, n, c.pid)
                {"renew": self.core.renew_all, "rebind": self.core.rebind_all,
                 "release-all": self.core.release_all}[op](self.now())
                self.api.send(c, {"id": rid, "ok": True, "ia-pds": n})
        elif op == "status":
            self.api.send(c, {"id": rid, "ok": True, "status": status_for(self, c)})
        elif op == "ping":
            self.api.send(c, {"id": rid, "ok": True})
        else:
            self.api.send(c, {"id": rid, "ok": False, "error": "EINVAL",
                              "detail": f"unknown op {op!r}"})
        self._kick()

    def _answer_held(self, c: Connection, msg: dict) -> bool:
        """A setsc() without ON_NET for the address this connection holds
        (spec §6.1; :meth:`HostCore.held_address`), answered without the
        core: nothing changes, so no datagram, event, timer or state write
        follows (that round was most of such a call's CPU). Not when the
        state file has this socket otherwise (its fd may have changed)."""
        if self.state is not None and self._persisted_owners.get(c.owner) != {
                "pid": c.pid, "inode": c.inode, "fd": c.fd}:
            return False
        addr = self.core.held_address(c.owner, msg.get("type"), self.now())
        if addr is None:
            return False
        self.api.send_line(c, setsc_answer(msg.get("id"), addr))
        return True

    def _on_close(self, c: Connection, reason: str) -> None:
        # INFO for an application's socket that held an address or waited for
        # one; DEBUG for one that only asked (every `odm host status`)
        busy = c.owner in self.core.refs or any(
            p.owner == c.owner for p in self.core.pending.values())
        for n, (conn, _) in list(self._waiting.items()):
            if conn is c:
                del self._waiting[n]
                busy = True
        log.log(logging.INFO if busy else logging.DEBUG, "owner %d (pid %d) ended: %s",
                c.owner, c.pid, reason)
        self.core.close_owner(c.owner, self.now())
        self._kick()

    # ------------------------------------------------------------- outputs --
    def _kick(self) -> None:
        core = self.core
        for out in core.datagrams_to_send():
            self._send(out)
        # durable before any answer that depends on it leaves (host/state.py);
        # an address that could not be made durable is not handed out
        first = []
        while (ev := core.next_event()) is not None:
            first.append(ev)
        not_durable = None if self._held_again(first) else self._persist()
        for ev in itertools.chain(first, iter(core.next_event, None)):
            if not_durable and type(ev) is SetscCompleted and ev.address is not None:
                ev = self._not_durable(ev, not_durable)
            self._apply(ev)
        # applying events may have produced more datagrams (none today), flush
        for out in core.datagrams_to_send():
            self._send(out)
        t = core.get_timer()
        if self._timer is not None and t == self._timer_at:
            return  # armed for that time already (most API requests change no timer)
        if self._timer:
            self._timer.cancel()
            self._timer = None
        self._timer_at = t
        if t is not None:
            self._timer = self.loop.call_at(max(t, self.now()), self._on_timer)

    def _send(self, out, first_failed: float | None = None) -> bool:
        """Send one Outgoing; False when it failed. A send refused because the
        link-local source is still tentative waits in ``_unsent`` and is
        tried again (the core's own retransmission would come seconds late,
        and a Solicit or RS lost that way delays the host after start-up and
        after each link-up)."""
        dst = (str(out.dst), out.dst_port or 0, 0, self.nl.index)
        sock = self.dhcp if out.kind == "dhcp6" else self.icmp
        pinned = out.kind == "dhcp6" and out.dst.is_multicast and self._ll is not None
        try:
            if pinned:
                pktinfo = self._ll.packed + struct.pack("@I", self.nl.index)
                sock.sendmsg([out.payload], [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO,
                                              pktinfo)], 0, dst)
            else:
                sock.sendto(out.payload, dst)
            return True
        except OSError as exc:
            now = self.now()
            # a tentative source: EADDRNOTAVAIL when the kernel chooses it,
            # EINVAL when IPV6_PKTINFO names it
            tentative = exc.errno == errno.EADDRNOTAVAIL or (pinned and exc.errno == errno.EINVAL)
            if tentative and (first_failed is None or now - first_failed < UNSENT_FOR):
                if first_failed is None:
                    log.info("send to %s waits for the link-local address (tentative: DAD)",
                             out.dst)
                self._hold_unsent(out, now if first_failed is None else first_failed)
            else:
                log.warning("send to %s failed: %s", out.dst, exc)
            return False

    def _link_local(self) -> IPv6Address | None:
        try:
            return self.nl.link_local()
        except Exception as exc:  # noqa: BLE001 - then the kernel picks the source
            log.info("link-local address of %s: %s", self.config.iface, exc)
            return None

    def _hold_unsent(self, out, since: float) -> None:
        """Hold ``out`` until the source is usable. A retransmission of a
        message already held (the same DHCPv6 transaction and message type,
        or the same ICMPv6 type to the same place) replaces it: the core goes
        on retransmitting during DAD, and every copy used to leave in one
        burst when the address became usable (RFC 8415 §15 spaces
        retransmissions by RT)."""
        key = _unsent_key(out)
        for i, (t, held) in enumerate(self._unsent):
            if _unsent_key(held) == key:
                del self._unsent[i]
                since = min(since, t)
                break
        if len(self._unsent) >= UNSENT_MAX:
            self._unsent.pop(0)
        self._unsent.append((since, out))
        if self._unsent_handle is None:
            self._unsent_handle = self.loop.call_later(UNSENT_RETRY, self._retry_unsent)

    def _retry_unsent(self) -> None:
        self._unsent_handle = None
        self._ll = self._link_local()  # it may have changed (rare) or appeared
        waiting, self._unsent = self._unsent, []
        for since, out in waiting:
            self._send(out, since)

    def _end_connections(self, address: IPv6Address) -> None:
        """The TCP connections of an address just removed end in the kernel
        (:meth:`host.io.netlink.Netlink.end_tcp_connections`); their
        applications were told (``address-gone``) or closed them."""
        try:
            n = self.nl.end_tcp_connections(address)
        except Exception as exc:  # noqa: BLE001 - the address is gone either way
            log.warning("TCP connections of %s not ended: %s", address, exc)
            return
        if n:
            log.info("%d TCP connection(s) of %s ended (the address is gone)", n, address)

    def _apply(self, ev) -> None:
        t = type(ev)
        if t in (AddressAdded, AddressUpdated, AddressRemoved):
            try:
                self.nl.apply(ev)
            except Exception as exc:  # noqa: BLE001
                log.warning("netlink %s %s: %s", t.__name__, ev.address, exc)
            if t is AddressRemoved:
                self._end_connections(ev.address)
            log.info("%s %s/%d type=%s", t.__name__, ev.address, ev.prefix_length,
                     ev.mobility_type.name if ev.mobility_type else "-")
            if self.counts is not None:
                self.counts.follow(ev)
        elif t is SetscCompleted:
            w = self._waiting.pop(ev.request_id, None)
            if w is None:
                return
            c, rid = w
            if ev.address is not None:
                self.api.send_line(c, setsc_answer(rid, ev.address))
            else:
                self.api.send(c, {"id": rid, "ok": False, "error": ev.error.value,
                                  "detail": ev.detail})
        elif t is AppNotification:
            for owner in ev.owners:
                c = self.api.conns.get(owner)
                if c is not None:
                    self.api.send(c, ev.message)
        elif t is RouterSeen:
            if self._routes:
                self.nl.default_route(ev.router, ev.lifetime)
            log.log(logging.INFO if ev.changed else logging.DEBUG, "router %s lifetime %d%s",
                    ev.router, ev.lifetime, " (new)" if ev.new else "")
        elif t is RouterExpired:
            # also the kernel's own RA-learned route (accept_ra): a router of
            # the previous link must not stay the default after a move
            self.nl.default_route(ev.router, 0)
            log.info("router %s forgotten; default route through it removed", ev.router)
            if not self.core.ra.routers:
                gone = self.nl.drop_onlink_prefix_routes()
                if gone:
                    log.info("no router left on %s: on-link routes of its prefixes removed: %s",
                             self.config.iface, ", ".join(gone))
        elif log.isEnabledFor(logging.INFO):
            log.info("%s", ev.describe())



def run_agent(config: HostConfig) -> None:
    """Blocking entry point of ``odm host run``. The capabilities the agent
    does not need are given up first, before any thread starts (they are per
    thread), so none of its threads holds more (issue 13 point 16)."""
    from odm.capabilities import HOST_KEEPS, drop_after_start
    drop_after_start("host agent", HOST_KEEPS)
    asyncio.run(HostAgent(config).run())
