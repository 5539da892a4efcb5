"""Sans-I/O DHCPv6 delegating router with typed prefixes (RFC 8415 §18.3, §19;
DESIGN §2): dispatch and validation.

:class:`DhcpServer` serves one access interface. It is driven like every odm
core: ``handle_datagram(data, src, now, kind="dhcp6")``, ``handle_timer(now)``,
``get_timer()``, ``datagrams_to_send()``, ``next_event()``. It never touches a
socket or a clock; it calls the lease store synchronously through the
interface it declares (:class:`router.core.store.BindingStore`), and no Reply
leaves before its binding is durable (:mod:`router.core.durable`).

What it answers (RFC 8415), and where:

=================== ===========================================================
Solicit             Advertise (Preference, all IA_PDs answered), or a Reply with
                    Rapid Commit when both sides want it (§18.3.1). Discarded
                    without a Client Identifier or with a Server Identifier.
                    (:mod:`router.core.grants`)
Request             Reply; a known IA gets its binding again (§18.3.2).
                    (:mod:`router.core.grants`)
Renew / Rebind      Reply; bindings extended, an empty IA_PD gets its existing
                    binding, prefixes this server cannot extend come back with
                    lifetimes 0 (§18.3.4, §18.3.5). Renew with a wrong or no
                    Server Identifier and Rebind with one are discarded.
                    (:mod:`router.core.renew_rebind`; a Rebind of a host that
                    moved here: :mod:`router.core.moves`)
Release / Decline   Reply with Status Success; NoBinding per unknown IA
                    (§18.3.7, §18.3.8). A declined prefix is quarantined for
                    ``decline_probation_period``.
Confirm             Success / NotOnLink for IA_NA addresses against the on-link
                    prefixes; no Reply when it holds no address (§18.3.3).
Information-Request Reply with the configuration options asked (§18.3.6).
Relay-Forw          The relayed message is answered inside Relay-Repl(s), the
                    Interface-Id echoed, sent to the relay on port 547 (§19).
=================== ===========================================================

The messages are built by :mod:`router.core.replies`; every change to a
binding is made by :mod:`router.core.leases`; expired bindings are reclaimed
by :mod:`router.core.reclaim`; the next hop of a binding follows the rules of
:mod:`router.core.next_hop`. Bad input is counted and logged apart from the
core's own faults (:mod:`router.core.faults`). The wall clock is the
monotonic ``now`` plus ``clock_offset``, computed once per message
(:attr:`Ctx.wall <router.core.replies.Ctx.wall>`) and passed down.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from ipaddress import IPv6Address, IPv6Network

from odm_sansio import Outgoing
from odm_sansio.ratelog import RateLimitedLog
from odm_wire.constants import (
    DHCP6_CLIENT_PORT,
    DHCP6_SERVER_PORT,
    MessageType,
    OptionCode,
)
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import (
    IANA,
    IAPD,
    Advertise,
    ClientId,
    Duid,
    IAAddr,
    Message,
    OptionRequest,
    RapidCommit,
    RelayForw,
    Reply,
    ServerId,
    StatusCode,
    UnknownOption,
    decode_dhcp6,
    encode_duid,
)
from odm_wire.errors import WireFormatError
from router.config import InterfaceConfig, RouterConfig
from router.core.allocator import Allocator
from router.core.bindings import Binding, BindingTable
from router.core.durable import Held, Outbox
from router.core.events import Event
from router.core.faults import BASE_COUNTERS, RECEIVED_COUNTERS, Faults
from router.core.grants import Grants
from router.core.leases import Leases, State
from router.core.limits import TokenBuckets
from router.core.next_hop import NextHops
from router.core.reclaim import Reclamation
from router.core.relay import unwrap, wrap
from router.core.release import decline, release
from router.core.renew_rebind import Extension
from router.core.replies import Ctx, Replies, exchange_line
from router.core.store import BindingStore
from router.core.terms import Terms
from router.errors import StoreError

__all__ = ["RECEIVED_COUNTERS", "DhcpServer", "Held"]

log = logging.getLogger("router.dhcp")

_NO_CODES: frozenset = frozenset()


class DhcpServer:
    """The DHCPv6-PD server of one interface (see the module docstring).

    ``config``: the whole :class:`RouterConfig` (router id, PEN, limits);
    ``iface``: the interface served; ``store``: the lease store (shared by
    every interface and, through one file, by several routers);
    ``server_duid``: this server's DUID (persisted by the adapter);
    ``clock_offset``: wall-clock seconds minus the core's monotonic ``now``
    (bindings are stored in wall-clock time so they survive a restart; tests
    pass 0 and a fake clock); ``rng``: randomness of the random allocator and
    shared spaces (only drawn from when one is configured; seed it in tests).
    Loads this interface's bindings from the store.
    """

    def __init__(self, config: RouterConfig, iface: InterfaceConfig, store: BindingStore,
                 server_duid: Duid, *, clock_offset: float = 0.0,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.iface = iface
        self.ifname = iface.name
        self.store = store
        self.server_duid = server_duid
        self.server_duid_bytes = encode_duid(server_duid)
        self.router_id = config.router_id
        self.pen = config.pen
        self.offset = clock_offset
        self.stats: Counter = Counter(dict.fromkeys(BASE_COUNTERS, 0))
        self._bad = RateLimitedLog(log, config.log_rate_limit)
        self.faults = Faults(self.stats, self._bad)
        self.outbox = Outbox(store, self.stats)
        lim = config.limits
        self._client_buckets = TokenBuckets(lim.client_rate, lim.max_tracked)
        self._source_buckets = TokenBuckets(lim.source_rate, lim.max_tracked)
        self.leases = leases = Leases(iface, self.router_id, store, self.outbox.events,
                                      self.stats, rng)
        terms = Terms(iface, self.router_id, lambda: leases.allocator)
        self.replies = Replies(config, iface, ServerId(server_duid), terms)
        self.reclamation = Reclamation(leases, clock_offset, config.reclaim_interval)
        self.next_hops = NextHops(leases, terms, self.stats, self._bad)
        self.grants = Grants(config, iface, leases, terms, self.replies, self.next_hops,
                             self.reclamation, self._source_buckets, self._client_buckets,
                             self.stats)
        self.extension = Extension(leases, self.grants, self.next_hops, self.replies,
                                   config.graceful_replacement_grace)
        self._handlers = {
            MessageType.SOLICIT: self._solicit,
            MessageType.REQUEST: self._request,
            MessageType.RENEW: self._renew,
            MessageType.REBIND: self._rebind,
            MessageType.RELEASE: self._release,
            MessageType.DECLINE: self._decline,
            MessageType.CONFIRM: self._confirm,
            MessageType.INFORMATION_REQUEST: self._information_request,
        }
        self._stale = False
        #: the adapter commits the store off its loop (:attr:`BindingStore.deferred`):
        #: :meth:`take_held` / :meth:`batch_failed` instead of a commit in
        #: :meth:`datagrams_to_send`
        self.deferred = store.deferred
        self._load()

    @property
    def table(self) -> BindingTable:
        """The in-memory bindings of this interface."""
        return self.leases.table

    @property
    def allocator(self) -> Allocator:
        """The pools' usage."""
        return self.leases.allocator

    # ================================================================ state
    def _load(self) -> None:
        """(Re)build the in-memory table and pool usage from the store. The
        old ones stay if the store cannot be read (StoreError)."""
        self.install_state(self.fetch_state(self.store))

    def fetch_state(self, store: BindingStore) -> State:
        """Read what :meth:`install_state` needs from ``store``: this
        interface's bindings and the rows of others inside its pools. Touches
        nothing of the core, so an adapter may run it on a thread of its own
        (a lease database one round trip away). Raises StoreError."""
        return self.leases.fetch_state(store)

    def install_state(self, state: State) -> None:
        """Rebuild the table and the pools from what :meth:`fetch_state`
        read; a stale core (after a failed commit) serves again."""
        self.leases.install_state(state)
        if self._stale:
            log.info("%s: lease store readable again, serving", self.ifname)
        self._stale = False

    def _reload(self) -> bool:
        """After a failed commit: rebuild the state from the store. While the
        store cannot be read (a database server down) the state is stale and
        the core answers no client and reclaims nothing (``store-unavailable``
        counts the datagrams dropped meanwhile); True once it is current.
        With a deferred store the adapter reads the state off its loop and
        hands it to :meth:`install_state`; until then this says False."""
        if self.deferred:
            self._stale = True
            return False
        try:
            self._load()
        except StoreError as exc:
            if not self._stale:
                log.error("%s: lease store unreadable, not serving until it is back: %s",
                          self.ifname, exc)
            self._stale = True
            return False
        return True

    def _write_failed(self) -> None:
        """A store write of this batch failed: nothing of it is acknowledged
        (the clients retransmit); the store is rolled back, the state re-read."""
        self.stats["store-write-failed"] += 1
        self.store.rollback()
        self.outbox.drop()
        self._load()

    def delete_binding(self, prefix: IPv6Network, reason: str = "lease6-del") -> bool:
        """An operator's deletion (Kea's ``lease6-del``): the binding of
        ``prefix`` leaves the table and the store (committed with the next
        :meth:`datagrams_to_send`) and its route goes
        (:class:`PrefixReleased`). The client is not told (no Reconfigure):
        its next Renew finds no binding and is treated as RFC 8415 §18.3.4
        says (created again while the prefix is free, as Kea does).
        ``False`` if no binding has that prefix."""
        b = self.table.get(prefix)
        if b is None:
            return False
        self.leases.end(b, reason)
        return True

    def next_hop_unreachable(self, next_hop: IPv6Address, now: float) -> int:
        """The adapter's verdict: ``next_hop`` no longer answers neighbour
        discovery on this interface (its neighbour entry is FAILED,
        INCOMPLETE or absent after a probe). Bindings routed via it whose
        client wrote from another address recently move there now
        (committed by the next :meth:`datagrams_to_send`;
        :mod:`router.core.next_hop`). Returns the number of bindings moved."""
        try:
            return self.next_hops.unreachable(next_hop, now)
        except StoreError:
            self._write_failed()
            return 0

    def follow_store(self, held: dict[int, Binding | None], now: float) -> int:
        """What the shared store says of bindings served here (prefix key ->
        record or None), read by the adapter after a host moved away: see
        :meth:`~router.core.leases.Leases.follow_store`; the events
        (:class:`PrefixReleased` ``"ended-elsewhere"``) leave with the next
        :meth:`datagrams_to_send`. Returns how many bindings changed."""
        if self._stale:
            return 0
        return self.leases.follow_store(held, now + self.offset)

    def served_here(self, duids) -> dict[int, Binding]:
        """The bindings of the DUIDs ``duids`` this router serves, by prefix
        key (what the adapter asks the store about after those clients'
        hosts moved)."""
        me = self.leases.router_id
        out: dict[int, Binding] = {}
        for d in duids:
            for b in self.table.of_duid(d):
                if b.served_by == me:
                    out[b.key] = b
        return out

    @property
    def stale(self) -> bool:
        """True while the state waits to be re-read after a failed commit."""
        return self._stale

    def bindings(self) -> list[Binding]:
        """Every binding of this interface (a snapshot)."""
        return list(self.table)

    def lookup(self, duid: bytes, iaid: int) -> list[Binding]:
        """The bindings of (DUID, IAID) on this interface."""
        return list(self.table.client(duid, iaid))

    def pool_stats(self) -> list[dict]:
        """Per pool: Kea's ``total-pds``, ``assigned-pds``,
        ``cumulative-assigned-pds``, ``reclaimed-leases``, plus name, prefix,
        delegated length, mobility type and utilisation (0..1)."""
        return self.leases.pool_stats()

    # ============================================================ contract
    def handle_datagram(self, data: bytes, src: IPv6Address, now: float, *,
                        kind: str = "dhcp6", hop_limit: int = 255,
                        ifname: str | None = None) -> None:
        """Feed one received UDP payload (port 547) from ``src`` at ``now``
        (seconds, monotonic). Bad input is a remote fault (counted
        ``pkt6-parse-failed`` or ``pkt6-receive-drop``, one INFO line); an
        exception of the core's own is a local fault (``internal-errors``,
        logged with its traceback): :mod:`router.core.faults`. It never
        raises."""
        st = self.stats
        st["pkt6-received"] += 1
        if self._stale and not self._reload():
            st["store-unavailable"] += 1
            return
        if not self._source_buckets.allow(src, now):
            st["pkt6-rate-limited-source"] += 1
            self._bad("rate-source", now, "%s: %s exceeds the per-source rate limit "
                      "(%d per %g s); dropped", self.ifname, src,
                      self._source_buckets.limit.count, self._source_buckets.limit.interval)
            return
        try:
            msg = decode_dhcp6(data, self.pen)
        except WireFormatError as exc:
            self.faults.remote("pkt6-parse-failed", now, "parse", "%s: malformed DHCPv6 "
                               "datagram from %s dropped: %s", self.ifname, src, exc)
            return
        mt = msg.msg_type
        st[RECEIVED_COUNTERS.get(mt, "pkt6-unknown-received")] += 1
        try:
            if isinstance(msg, RelayForw):  # msg_type RELAY_FORW
                self._relay(msg, src, now)
                return
            handler = self._handlers.get(mt)
            if handler is None or not isinstance(msg, Message):  # (a Relay-Repl has none)
                self._drop(now, "unexpected", "%s: %s from %s is not for a server; dropped",
                           self.ifname, type(msg).__name__, src)
                return
            reply = self._answer(handler, msg, src, now)
            if reply is not None:
                self.outbox.send(reply, src, DHCP6_CLIENT_PORT)
        except StoreError as exc:
            # busy (another process holds the store's lock past the short
            # busy timeout) or failing: nothing of this batch is acknowledged,
            # the clients retransmit
            self._bad("store", now, "%s: lease store write failed, %s from %s and %d other "
                      "answer(s) of this batch dropped: %s", self.ifname, type(msg).__name__,
                      src, len(self.outbox.out), exc, level=logging.ERROR)
            self._write_failed()
        except Exception:  # noqa: BLE001 - a bug must not stop the agent: logged with its traceback
            self.faults.local(now, self.ifname, type(msg).__name__, src)

    def handle_timer(self, now: float) -> None:
        """Reclaim expired bindings (Kea's reclaim-timer-wait-time is
        ``reclaim_interval``; :mod:`router.core.reclaim`)."""
        if not self.reclamation.due(now):
            return
        if self._stale and not self._reload():
            return
        self.reclamation.sweep(now + self.offset)

    def get_timer(self) -> float | None:
        """Monotonic time of the next reclamation sweep, or None."""
        return self.reclamation.get_timer()

    def datagrams_to_send(self) -> list[Outgoing]:
        """Commit the lease store, then hand out the datagrams queued since the
        last call (:meth:`Outbox.hand_out <router.core.durable.Outbox.hand_out>`).
        If the commit fails the Replies are dropped (the clients retransmit),
        the store is rolled back and the state reloaded."""
        n = len(self.outbox.out)
        try:
            return self.outbox.hand_out()
        except StoreError as exc:
            self.stats["store-commit-failed"] += 1
            log.error("%s: lease store commit failed, %d datagrams dropped: %s",
                      self.ifname, n, exc)
            self._reload()
            return []

    def take_held(self) -> Held | None:
        """For a deferred store: everything queued since the last call — the
        datagrams and the events — held back until the adapter has committed
        the store's batch of the same writes (``DeferredStore.seal``). The
        adapter sends them when the commit succeeded and calls
        :meth:`batch_failed` when it did not, so no Reply leaves before its
        binding is durable. ``None`` when nothing is queued."""
        return self.outbox.take_held()

    def batch_failed(self, held: Held | None, why: str, now: float, *,
                     timeout: bool = False) -> None:
        """A deferred commit failed or did not finish within its bound: the
        held datagrams are dropped (the clients retransmit, RFC 8415 §15),
        counted (``store-commit-failed`` or ``store-commit-timeout``), and the
        core turns stale until the adapter re-reads the store
        (:meth:`fetch_state`, :meth:`install_state`)."""
        self.stats["store-commit-timeout" if timeout else "store-commit-failed"] += 1
        n = len(held.out) if held is not None else 0
        self._bad("commit", now, "%s: lease store commit %s, %d datagrams "
                  "dropped: %s", self.ifname, "timed out" if timeout else "failed", n, why,
                  level=logging.DEBUG)  # the adapter logs the change of state once
        self._stale = True

    def next_event(self) -> Event | None:
        return self.outbox.next_event()

    def take_events(self) -> list[Event]:
        """Every event queued (:meth:`next_event` until None, at once)."""
        return self.outbox.take_events()

    # ============================================================ dispatch
    def _drop(self, now: float, kind: str, fmt: str, *args) -> None:
        """A message from the wire this server must not answer (a remote fault)."""
        self.faults.remote("pkt6-receive-drop", now, kind, fmt, *args)

    def _answer(self, handler, msg: Message, client_ll: IPv6Address, now: float):
        oro = msg.get(OptionRequest)
        duid_opt = msg.get(ClientId)
        ctx = Ctx(msg, encode_duid(duid_opt.duid) if duid_opt else b"", client_ll, now,
                  now + self.offset, frozenset(oro.requested_options) if oro else _NO_CODES,
                  duid_opt)
        if ctx.duid and not self._client_buckets.allow(ctx.duid, now):
            self.stats["pkt6-rate-limited-client"] += 1
            self._bad("rate-client", now, "%s: client DUID %s (via %s) exceeds the per-client rate "
                      "limit (%d per %g s); %s dropped", self.ifname, ctx.duid.hex(":"), client_ll,
                      self._client_buckets.limit.count, self._client_buckets.limit.interval,
                      type(msg).__name__)
            return None
        reply = handler(ctx)
        if reply is not None and log.isEnabledFor(logging.INFO):
            try:
                line = exchange_line(self.ifname, msg, ctx.duid, client_ll, reply)
            except Exception as exc:  # noqa: BLE001 - the log line never costs the answer
                line = f"{self.ifname}: {type(msg).__name__} answered ({exc!r} in the log line)"
            log.info("%s", line)
        return reply

    def _relay(self, relay: RelayForw, src: IPv6Address, now: float) -> None:
        """RFC 8415 §19.2/§19.3: answer the innermost message, wrapped back
        in Relay-Repls to the relay (:mod:`router.core.relay`)."""
        chain, inner, why = unwrap(relay)
        if inner is None:
            self._drop(now, "relay", "%s: Relay-Forw from %s %s; dropped", self.ifname, src,
                       why)
            return
        mt = inner.msg_type
        handler = self._handlers.get(mt)
        if handler is None:
            self._drop(now, "unexpected", "%s: relayed %s from %s is not for a server; "
                       "dropped", self.ifname, type(inner).__name__, src)
            return
        self.stats[RECEIVED_COUNTERS[mt]] += 1
        reply = self._answer(handler, inner, src, now)  # next hop: the relay
        if reply is not None:
            self.outbox.send(wrap(reply, chain), src, DHCP6_SERVER_PORT)

    # ========================================================== validation
    def _for_this_server(self, ctx: Ctx) -> bool:
        """The message carries a Server Identifier, and it is this server's
        (Request, Renew, Release, Decline: RFC 8415 §16)."""
        if ctx.msg.get(ServerId) is None:
            self._drop(ctx.now, "no-server-id", "%s: %s from %s without Server "
                       "Identifier; dropped (RFC 8415 §16)", self.ifname,
                       type(ctx.msg).__name__, ctx.client_ll)
            return False
        return self._not_for_another(ctx)

    def _not_for_another(self, ctx: Ctx) -> bool:
        """No Server Identifier, or this server's (Information-request)."""
        sid = ctx.msg.get(ServerId)
        if sid is None:
            return True
        # equal DUIDs encode to equal octets: encode only when they differ
        if sid.duid != self.server_duid and encode_duid(sid.duid) != self.server_duid_bytes:
            self.stats["pkt6-receive-drop"] += 1
            log.debug("%s: %s from %s is for another server; dropped", self.ifname,
                      type(ctx.msg).__name__, ctx.client_ll)
            return False
        return True

    def _need_client_id(self, ctx: Ctx) -> bool:
        if not ctx.duid:
            self._drop(ctx.now, "no-client-id", "%s: %s from %s without Client Identifier; "
                       "dropped (RFC 8415 §16)", self.ifname, type(ctx.msg).__name__,
                       ctx.client_ll)
            return False
        return True

    def _no_server_id(self, ctx: Ctx) -> bool:
        if ctx.msg.get(ServerId) is not None:
            self._drop(ctx.now, "server-id", "%s: %s from %s carries a Server Identifier; "
                       "dropped (RFC 8415 §16)", self.ifname, type(ctx.msg).__name__,
                       ctx.client_ll)
            return False
        return True

    # ============================================================ handlers
    def _solicit(self, ctx: Ctx):
        """RFC 8415 §18.3.1, §18.3.9."""
        if not (self._need_client_id(ctx) and self._no_server_id(ctx)):
            return None
        if self.config.rapid_commit and ctx.msg.get(RapidCommit) is not None:
            answers = [self.grants.grant_ia(ctx, ia) for ia in ctx.msg.ia_pds]
            return self.replies.build(ctx, Reply, answers, extra=(RapidCommit(),))
        answers = [self.grants.offer_ia(ctx, ia) for ia in ctx.msg.ia_pds]
        pref = self.replies.preference
        return self.replies.build(ctx, Advertise, answers, extra=(pref,) if pref else ())

    def _request(self, ctx: Ctx):
        """RFC 8415 §18.3.2."""
        if not (self._need_client_id(ctx) and self._for_this_server(ctx)):
            return None
        answers = [self.grants.grant_ia(ctx, ia) for ia in ctx.msg.ia_pds]
        return self.replies.build(ctx, Reply, answers)

    def _renew(self, ctx: Ctx):
        """RFC 8415 §18.3.4 (:mod:`router.core.renew_rebind`)."""
        if not (self._need_client_id(ctx) and self._for_this_server(ctx)):
            return None
        answers = [self.extension.renew_ia(ctx, ia) for ia in ctx.msg.ia_pds]
        return self.replies.build(ctx, Reply, answers, na_status=SC.NO_BINDING)

    def _rebind(self, ctx: Ctx):
        """RFC 8415 §18.3.5 and the moved-host policy (:mod:`router.core.moves`)."""
        if not (self._need_client_id(ctx) and self._no_server_id(ctx)):
            return None
        answers = [self.extension.rebind_ia(ctx, ia) for ia in ctx.msg.ia_pds]
        return self.replies.build(ctx, Reply, answers, na_status=SC.NO_BINDING)

    def _release(self, ctx: Ctx):
        """RFC 8415 §18.3.7 (:mod:`router.core.release`)."""
        if not (self._need_client_id(ctx) and self._for_this_server(ctx)):
            return None
        return release(self.leases, self.replies, ctx)

    def _decline(self, ctx: Ctx):
        """RFC 8415 §18.3.8 (:mod:`router.core.release`)."""
        if not (self._need_client_id(ctx) and self._for_this_server(ctx)):
            return None
        return decline(self.leases, self.replies, ctx,
                       ctx.wall + self.config.decline_probation_period)

    def _confirm(self, ctx: Ctx):
        """RFC 8415 §18.3.3: on-link check of IA_NA addresses against the
        interface's on-link prefixes. No addresses → no Reply."""
        if not (self._need_client_id(ctx) and self._no_server_id(ctx)):
            return None
        addrs = [a.address for ia in ctx.msg.get_all(IANA) for a in ia.get_all(IAAddr)]
        if not addrs:
            log.debug("%s: Confirm from %s without addresses; not answered (RFC 8415 "
                      "§18.3.3)", self.ifname, ctx.client_ll)
            return None
        nets = [p.prefix for p in self.iface.ra.prefixes]
        ok = all(any(a in n for n in nets) for a in addrs)
        st = (StatusCode(SC.SUCCESS, "all addresses are on-link") if ok
              else StatusCode(SC.NOT_ON_LINK, "some addresses are not on this link"))
        return Reply(ctx.msg.transaction_id, self.replies.ids(ctx) + (st,))

    def _information_request(self, ctx: Ctx):
        """RFC 8415 §18.3.6."""
        if not self._not_for_another(ctx):
            return None
        m = ctx.msg
        if m.get(IANA) or m.get(IAPD) or any(
                type(o) is UnknownOption and o.option_code == OptionCode.IA_TA
                for o in m.options):
            self._drop(ctx.now, "inforeq-ia", "%s: Information-request from %s holds an IA; "
                       "dropped (RFC 8415 §16.12)", self.ifname, ctx.client_ll)
            return None
        opts = list(self.replies.ids(ctx)) + self.replies.oro_options(ctx)
        return Reply(m.transaction_id, tuple(opts))
