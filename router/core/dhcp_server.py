"""Sans-I/O DHCPv6 delegating router with typed prefixes (RFC 8415 §18.3, §19;
DESIGN §2).

:class:`DhcpServer` serves one access interface. It is driven like every odm
core: ``handle_datagram(data, src, now, kind="dhcp6")``, ``handle_timer(now)``,
``get_timer()``, ``datagrams_to_send()``, ``next_event()``. It never touches a
socket or a clock; it calls the lease store synchronously (see
:mod:`router.store`) and commits it in :meth:`datagrams_to_send` before it
returns a single Reply, so a Reply never leaves before its binding is durable.

What it answers (RFC 8415):

=================== ===========================================================
Solicit             Advertise (Preference, all IA_PDs answered), or a Reply with
                    Rapid Commit when both sides want it (§18.3.1). Discarded
                    without a Client Identifier or with a Server Identifier.
Request             Reply; a known IA gets its binding again (§18.3.2).
Renew / Rebind      Reply; bindings extended, an empty IA_PD gets its existing
                    binding, prefixes this server cannot extend come back with
                    lifetimes 0 (§18.3.4, §18.3.5). Renew with a wrong or no
                    Server Identifier and Rebind with one are discarded.
Release / Decline   Reply with Status Success; NoBinding per unknown IA
                    (§18.3.7, §18.3.8). A declined prefix is quarantined for
                    ``decline_probation_period``.
Confirm             Success / NotOnLink for IA_NA addresses against the on-link
                    prefixes; no Reply when it holds no address (§18.3.3).
Information-Request Reply with the configuration options asked (§18.3.6).
Relay-Forw          The relayed message is answered inside Relay-Repl(s), the
                    Interface-Id echoed, sent to the relay on port 547 (§19).
=================== ===========================================================

Typed delegation (DESIGN §2, draft-moses): the type a client asks travels in
odm's vendor option inside the IAPREFIX hint. The server grants that type from
its pool and labels the IAPREFIX; it labels nothing for a client that did not
ask (M7). A type not offered, or with an empty pool, gets the IA_PD back with
Status NoPrefixAvail and a message naming the type. Legacy clients are served
from the interface's default pool. SUPPORTED_TYPES goes at top level when the
ORO lists 17. A reserved type value is ignored (the request counts as untyped).

**Unknown IA policy (Renew and Rebind).** For an IA_PD with no binding here
and none for it in the shared store: a listed prefix that this server could
delegate to this client (one of its pool's prefixes of the type asked, free,
not reserved for another client) is re-created — the server lost its state;
any other listed prefix comes back with lifetimes 0 (not appropriate for this
link); an IA_PD left with nothing (empty, or only ``::/L`` hints) gets
NoBinding, and the client goes back to Request/Solicit (§18.2.10.1). Renew and
Rebind never create a binding from a length-only hint.

**Rows of others in the pools.** The store may hold rows inside this
interface's pools that this core does not serve: of another interface (or a
renamed or removed one), of another router sharing the store, expired long
ago or live. Their prefixes are kept out of the pools (read at start-up, and
again when an insertion finds a prefix taken) and each is looked at when its
valid lifetime ends: still expired in the store, it is deleted and its prefix
goes back to the pool (``reclaimed-leftover-leases``); an expired row in the
way of an insertion is reclaimed on the spot. An offer (Advertise) is checked
against the store too, so what is offered is what the Request gets, and the
allocator tries prefix after prefix until the pools are really full: a
"pool exhausted" NoPrefixAvail means no free prefix is left.

**Moved hosts (Rebind, DESIGN §2 "No Reconfigure").** A Rebind whose (DUID,
IAID) or listed prefix is found in the shared store served by another router
is answered per type: NON_PERSISTENT and untyped → the old prefix with
lifetimes 0 (its record is deleted) and a new prefix from this router's pool;
GRACEFUL_REPLACEMENT → the old prefix with preferred 0 and valid
``graceful_replacement_grace`` (held here in state ``grace``) next to a new
prefix; SESSION_LASTING and FIXED → extended with the lifetimes they were
granted, served from here from now on (``served_by``) while ``anchor`` keeps
naming the router that delegated them; the core emits :class:`BindingMovedHere`
so the adapter can route (and later tunnel) them.

**Next hop on the same link (issue 13 point 11).** The route of a binding
points to the address its client wrote from. A later message from another
address moves it only when the adapter has found the old address gone from
the link (no answer to neighbour discovery, RFC 4861 §7.3): the message is
answered, the change waits for :meth:`DhcpServer.next_hop_unreachable`
(:class:`NextHopCheck` asks for it). DHCPv6 has no authentication (RFC 8415
§22): the source of a Renew or Rebind is no evidence that the client moved.

T1/T2: per pool (or 0.5/0.8 of the preferred lifetime), then one value for the
whole message — the smallest of the IA_PDs that carry live prefixes, never more
than the shortest preferred lifetime — so every IA_PD of one Reply carries the
same T1/T2 and T1 ≤ T2 ≤ preferred ≤ valid holds. IA_PDs with no live prefix
carry T1 = T2 = 0.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections import Counter, deque
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network
from typing import TYPE_CHECKING

from odm_sansio import Outgoing
from odm_wire.constants import (
    DHCP6_CLIENT_PORT,
    DHCP6_SERVER_PORT,
    HOP_COUNT_LIMIT,
    INFINITY,
    MessageType,
    MobilityType,
    OptionCode,
)
from odm_wire.constants import (
    StatusCode as SC,
)
from odm_wire.dhcp6 import (
    IANA,
    IAPD,
    Advertise,
    ClientId,
    Duid,
    IAAddr,
    IAPrefix,
    InterfaceId,
    Message,
    MobilityTypeSubOption,
    OdmVendorOpts,
    OptionRequest,
    Preference,
    RapidCommit,
    RelayForw,
    RelayMessage,
    RelayMsg,
    RelayRepl,
    Reply,
    ServerId,
    StatusCode,
    SupportedTypesSubOption,
    UnknownOption,
    decode_dhcp6,
    encode_dhcp6,
    encode_duid,
    mobility_type_option,
)
from odm_wire.errors import WireFormatError
from router.config import InterfaceConfig, PdPool, Reservation, RouterConfig, _timers
from router.core.allocator import Allocator, PoolAllocator
from router.core.bindings import Binding, BindingState, BindingTable, remaining
from router.core.events import (
    BindingMovedHere,
    Event,
    NextHopCheck,
    PrefixDelegated,
    PrefixReleased,
    PrefixRenewed,
)
from router.core.limits import TokenBuckets, type_key
from router.errors import StoreError

if TYPE_CHECKING:
    from router.store import LeaseStore

__all__ = ["RECEIVED_COUNTERS", "DhcpServer", "Held"]

log = logging.getLogger("router.dhcp")

_INF = float("inf")
_ACTIVE = BindingState.ACTIVE
_GRACE = BindingState.GRACE
_DECLINED = BindingState.DECLINED

#: Kea's statistic names for received messages (by msg-type).
RECEIVED_COUNTERS = {
    MessageType.SOLICIT: "pkt6-solicit-received",
    MessageType.ADVERTISE: "pkt6-advertise-received",
    MessageType.REQUEST: "pkt6-request-received",
    MessageType.CONFIRM: "pkt6-confirm-received",
    MessageType.RENEW: "pkt6-renew-received",
    MessageType.REBIND: "pkt6-rebind-received",
    MessageType.REPLY: "pkt6-reply-received",
    MessageType.RELEASE: "pkt6-release-received",
    MessageType.DECLINE: "pkt6-decline-received",
    MessageType.RECONFIGURE: "pkt6-reconfigure-received",
    MessageType.INFORMATION_REQUEST: "pkt6-infrequest-received",
    MessageType.RELAY_FORW: "pkt6-relay-forw-received",
    MessageType.RELAY_REPL: "pkt6-relay-repl-received",
}

#: Counters that always show, even at zero.
BASE_COUNTERS = (
    "pkt6-received", "pkt6-parse-failed", "pkt6-receive-drop", "pkt6-unknown-received",
    "internal-errors",
    "pkt6-sent", "pkt6-advertise-sent", "pkt6-reply-sent",
    *RECEIVED_COUNTERS.values(),
    "v6-allocation-fail", "v6-allocation-fail-no-pools", "v6-allocation-fail-client-limit",
    "v6-allocation-fail-type-not-offered", "v6-allocation-fail-type-limit",
    "v6-allocation-fail-pool-exhausted", "pkt6-rate-limited-client", "pkt6-rate-limited-source",
    "cumulative-assigned-pds", "reclaimed-leases", "reclaimed-leftover-leases",
    "declined-pds", "moved-here-pds", "store-commit-failed", "store-write-failed",
    "store-commit-timeout", "store-unavailable",
    "next-hop-change-deferred", "next-hop-changed", "v6-allocation-fail-rate-limited",
)

_LIVE_MT = {int(m): m for m in MobilityType}
_NO_CODES: frozenset = frozenset()
#: The types a request may ask (None: untyped / legacy).
_ASKABLE = (None, *MobilityType)
#: How a type is named in status messages.
_LABELS = {m: "untyped" if m is None else m.cli_name for m in _ASKABLE}
#: Insertions refused by the store (a row this core did not know of, written
#: by another router or another interface since the pools were last read)
#: that one allocation tolerates after re-reading the pools from the store.
MAX_COLLISIONS = 64
#: How long a next hop asked for by a message from a new source address waits
#: for the adapter's verdict on the old one (seconds), and how long a verdict
#: "the old next hop no longer answers neighbour discovery" is believed.
NEXT_HOP_PENDING = 60.0
#: At most this many pending next-hop changes and verdicts are kept.
MAX_NEXT_HOP_FACTS = 4096


@dataclass(slots=True)
class _Ctx:
    """What every handler needs about the message being answered."""

    msg: Message
    duid: bytes
    client_ll: IPv6Address
    now: float
    wall: float
    oro: frozenset
    client_id: ClientId | None
    #: new bindings this message was granted so far (issue 13 point 14)
    grants: int = 0


@dataclass(slots=True)
class Held:
    """What a core queued since its last hand-over, waiting for the commit of
    the same writes (deferred store): datagrams, events, how many of the
    datagrams are Replies (acknowledgements; an Advertise is none)."""

    out: list[Outgoing]
    events: list[Event]
    acks: int


@dataclass(slots=True)
class _IaAnswer:
    iaid: int
    prefixes: list
    status: StatusCode | None = None
    t1: int | None = None
    t2: int | None = None


#: RFC 8415 §21.13's names of the status codes
_STATUS_NAMES = {0: "Success", 1: "UnspecFail", 2: "NoAddrsAvail", 3: "NoBinding",
                 4: "NotOnLink", 5: "UseMulticast", 6: "NoPrefixAvail"}


def _status_name(code: int) -> str:
    return _STATUS_NAMES.get(code, f"status {code}")


def _lifetime(v: int) -> str:
    return "infinity" if v == 0xFFFFFFFF else f"{v}s"


def exchange_line(ifname: str, msg: Message, duid: bytes, src: IPv6Address, reply) -> str:
    """The one INFO line of an exchange, in a stable format an operator can
    grep and follow a client by (DUID in colon hex, IAID in 0x hex as Wireshark
    shows them, type names as in RFC 8653)::

        acc: Request xid 0x5c1a2b DUID 00:03:00:01:02:00:00:00:01:01 from fe80::1:
        Reply IA_PD 0x00000004 SESSION_LASTING 2001:db8:5000::/56 pref 40s valid 60s
    """
    parts = []
    for ia in reply.ia_pds:
        head = f"IA_PD 0x{ia.iaid:08x}"
        st = ia.status
        if st is not None and st.status_code != SC.SUCCESS:
            parts.append(f"{head} {_status_name(st.status_code)} \"{st.status_message}\"")
            continue
        for p in ia.prefixes:
            mt = p.mobility_type
            name = mt.name if isinstance(mt, MobilityType) else "untyped"
            parts.append(f"{head} {name} {p.network} pref {_lifetime(p.preferred_lifetime)} "
                         f"valid {_lifetime(p.valid_lifetime)}")
        if not ia.prefixes:
            parts.append(f"{head} no prefix")
    st = reply.status
    if st is not None and st.status_code != SC.SUCCESS:
        parts.append(f"{_status_name(st.status_code)} \"{st.status_message}\"")
    return (f"{ifname}: {type(msg).__name__} xid 0x{msg.transaction_id:06x} DUID "
            f"{duid.hex(':') or '-'} from {src}: {type(reply).__name__} "
            + ("; ".join(parts) or "-"))


class _RateLimitedLog:
    """At most one log line per kind every ``interval`` seconds (core clock);
    the number suppressed in between is reported with the next line."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last: dict[str, float] = {}
        self.suppressed: Counter = Counter()

    def __call__(self, kind: str, now: float, fmt: str, *args, level=logging.WARNING) -> None:
        t = self.last.get(kind)
        if t is not None and now - t < self.interval:
            self.suppressed[kind] += 1
            return
        self.last[kind] = now
        n = self.suppressed.pop(kind, 0)
        if n:
            fmt += " (%d more like this suppressed)"
            args = (*args, n)
        log.log(level, fmt, *args)


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

    def __init__(self, config: RouterConfig, iface: InterfaceConfig, store: LeaseStore,
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
        self.table = BindingTable()
        self._rng = rng
        self.allocator = Allocator(iface, rng)
        self.stats: Counter = Counter({k: 0 for k in BASE_COUNTERS})
        self._out: list[Outgoing] = []
        self._events: deque[Event] = deque()
        self._bad = _RateLimitedLog(config.log_rate_limit)
        lim = config.limits
        self._client_buckets = TokenBuckets(lim.client_rate, lim.max_tracked)
        self._source_buckets = TokenBuckets(lim.source_rate, lim.max_tracked)
        self._last_sweep: float | None = None
        #: rows of the store inside this interface's pools that this core does
        #: not serve (other interfaces, renamed ones, other routers): their
        #: prefixes are kept out of the pools until they expire; heap of
        #: (valid_until, prefix)
        self._others: list[tuple[float, IPv6Network]] = []
        self._other_until: dict[IPv6Network, float] = {}
        self._server_id_opt = ServerId(server_duid)
        self._supported = OdmVendorOpts(
            (SupportedTypesSubOption(tuple(iface.offered_types)),), self.pen)
        self._type_opts = {m: mobility_type_option(m, self.pen) for m in MobilityType}
        self._pref_opt = Preference(config.preference) if config.preference else None
        self._dns_opt = (UnknownOption(OptionCode.DNS_SERVERS,
                                       b"".join(a.packed for a in config.dns_servers))
                         if config.dns_servers else None)
        self._reservations = iface.reservations
        # Looked up for every message; the config objects are frozen, so
        # they are computed once here.
        self._pools_for = {t: iface.pools_for(t) for t in _ASKABLE}
        self._type_caps = {t: config.limits.type_cap(t) for t in _ASKABLE}
        self._pool_timers = {p.name: p.timers() for p in iface.pools}
        self._max_per_client = config.max_bindings_per_client
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
        #: prefix -> (next hop its latest message came from, until when the
        #: change waits for the adapter's verdict on the current next hop)
        self._hop_pending: dict[IPv6Network, tuple[IPv6Address, float]] = {}
        #: next hops the adapter found gone (no answer to neighbour discovery)
        #: -> until when that verdict holds
        self._hop_gone: dict[IPv6Address, float] = {}
        self._stale = False
        #: the adapter commits the store off its loop (:attr:`LeaseStore.deferred`):
        #: :meth:`take_held` / :meth:`batch_failed` instead of a commit in
        #: :meth:`datagrams_to_send`
        self.deferred = store.deferred
        self._acks = 0
        self._load()

    # ================================================================ state
    def _load(self) -> None:
        """(Re)build the in-memory table and pool usage from the store: this
        interface's bindings, then the other rows inside its pools
        (:meth:`_note_others`). The old ones stay if the store cannot be read
        (StoreError)."""
        self.install_state(self.fetch_state(self.store))

    def fetch_state(self, store: LeaseStore) -> tuple[list[Binding], list[Binding]]:
        """Read what :meth:`install_state` needs from ``store``: this
        interface's bindings and the rows of others inside its pools. Touches
        nothing of the core, so an adapter may run it on a thread of its own
        (a lease database one round trip away). Raises StoreError."""
        bindings = store.load(self.router_id, self.ifname)
        others: list[Binding] = []
        for space in dict.fromkeys(p.prefix for p in self.iface.pools):
            others.extend(store.others_in(self.router_id, self.ifname, space))
        return bindings, others

    def install_state(self, state: tuple[list[Binding], list[Binding]]) -> None:
        """Rebuild the table and the pools from what :meth:`fetch_state`
        read; a stale core (after a failed commit) serves again."""
        bindings, others = state
        self.table = BindingTable()
        self.allocator = Allocator(self.iface, self._rng)
        self._others = []
        self._other_until = {}
        add = self.table.add
        pools = self.allocator.pools
        me = self.router_id
        for b in bindings:
            add(b)
            if b.anchor != me:
                continue
            pa = pools.get(b.pool) if b.pool is not None else None
            i = pa.index(b.prefix) if pa is not None else None
            if i is not None:
                pa.used.add(i)
            else:
                self.allocator.mark_used(b.prefix)
        log.info("%s: loaded %d bindings from the lease store", self.ifname, len(bindings))
        n = 0
        for b in others:
            if self.table.get(b.prefix) is None:
                self._note_other(b)
                n += 1
        if n:
            log.info("%s: %d bindings of other interfaces or routers lie in this interface's "
                     "pools; their prefixes stay out of the pools until they expire",
                     self.ifname, n)
        if self._stale:
            log.info("%s: lease store readable again, serving", self.ifname)
        self._stale = False

    def _note_others(self, pas, wall: float | None = None) -> int:
        """Read the store's rows inside the pools ``pas`` that this core does
        not serve (:meth:`LeaseStore.others_in`) and keep their prefixes out
        of the pools; each is looked at again when its valid lifetime ends
        (:meth:`_reclaim`), so expired leftovers (a renamed interface, a
        removed one) go back to the pool; with ``wall`` (the time now), rows
        already expired stay allocatable (an insertion reclaims them). Returns
        how many were noted."""
        seen: set[IPv6Network] = set()
        n = 0
        for pa in pas:
            space = pa.pool.prefix
            if space in seen:
                continue
            seen.add(space)
            for b in self.store.others_in(self.router_id, self.ifname, space):
                if self.table.get(b.prefix) is None:
                    self._note_other(b, wall)
                    n += 1
        return n

    def _note_other(self, b: Binding, wall: float | None = None) -> None:
        if wall is None or b.valid_until > wall:
            self.allocator.mark_used(b.prefix)
        if b.valid_until != _INF and self._other_until.get(b.prefix) != b.valid_until:
            self._other_until[b.prefix] = b.valid_until
            heapq.heappush(self._others, (b.valid_until, b.prefix))

    def _reclaim_others(self, wall: float) -> None:
        """The rows noted by :meth:`_note_others` whose valid lifetime has
        ended: deleted from the store if still expired there (a leftover),
        their prefixes freed; a row its holder extended meanwhile is looked at
        again at its new expiry."""
        h = self._others
        while h and h[0][0] <= wall:
            t, prefix = heapq.heappop(h)
            if self._other_until.get(prefix) != t:
                continue  # noted again later with another expiry
            del self._other_until[prefix]
            if self.table.get(prefix) is not None:
                continue  # ours now
            gone = self.store.delete(prefix, valid_until_max=wall)
            held = None if gone else self.store.find_prefix(prefix)
            if held is not None:
                if self.table.get(prefix) is None and held.valid_until != _INF:
                    t = max(held.valid_until, wall + 1.0)
                    self._other_until[prefix] = t
                    heapq.heappush(h, (t, prefix))
                continue
            pa = self.allocator.mark_free(prefix)
            if gone:
                if pa is not None:
                    pa.reclaimed += 1
                self.stats["reclaimed-leases"] += 1
                self.stats["reclaimed-leftover-leases"] += 1
                log.info("%s: expired binding %s of another interface or router reclaimed "
                         "into this interface's pool", self.ifname, prefix)

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
        self._drop_binding(b, reason)
        return True

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
        out = []
        for name, pa in self.allocator.pools.items():
            p = pa.pool
            out.append({
                "interface": self.ifname, "pool": name, "prefix": str(p.prefix),
                "delegated-length": p.delegated_length,
                "mobility-type": p.mobility_type.cli_name if p.mobility_type else "legacy",
                "default": name == self.iface.default_pool,
                "shared-space": p.shared_space,
                "total-pds": pa.total, "assigned-pds": pa.assigned,
                "cumulative-assigned-pds": pa.cumulative, "reclaimed-leases": pa.reclaimed,
                "utilisation": pa.assigned / pa.total if pa.total else 0.0,
            })
        return out

    # ============================================================ contract
    def handle_datagram(self, data: bytes, src: IPv6Address, now: float, *,
                        kind: str = "dhcp6", hop_limit: int = 255,
                        ifname: str | None = None) -> None:
        """Feed one received UDP payload (port 547) from ``src`` at ``now``
        (seconds, monotonic). Malformed or unexpected input is counted
        (``pkt6-parse-failed``, ``pkt6-receive-drop``) and logged at a limited
        rate; it never raises."""
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
            st["pkt6-parse-failed"] += 1
            self._bad("parse", now, "%s: malformed DHCPv6 datagram from %s dropped: %s",
                      self.ifname, src, exc)
            return
        mt = msg.msg_type
        st[RECEIVED_COUNTERS.get(mt, "pkt6-unknown-received")] += 1
        try:
            if mt is MessageType.RELAY_FORW:
                self._relay(msg, src, now)
                return
            handler = self._handlers.get(mt)
            if handler is None:
                self._drop(now, "unexpected", "%s: %s from %s is not for a server; dropped",
                           self.ifname, type(msg).__name__, src)
                return
            reply = self._answer(handler, msg, src, now)
            if reply is not None:
                self._send(reply, src, DHCP6_CLIENT_PORT)
        except StoreError as exc:
            # busy (another process holds the store's lock past the short
            # busy timeout) or failing: nothing of this batch is acknowledged,
            # the clients retransmit
            st["store-write-failed"] += 1
            self._bad("store", now, "%s: lease store write failed, %s from %s and %d other "
                      "answer(s) of this batch dropped: %s", self.ifname, type(msg).__name__,
                      src, len(self._out), exc, level=logging.ERROR)
            self.store.rollback()
            self._out = []
            self._events.clear()
            self._load()
        except Exception as exc:  # a bug must not stop the agent
            # a local fault, counted apart from the peers' bad input
            # (pkt6-parse-failed, pkt6-receive-drop): h11 keeps
            # LocalProtocolError and RemoteProtocolError apart the same way
            st["internal-errors"] += 1
            self._bad("internal", now, "%s: error answering %s from %s (a bug in odm: please "
                      "report it with this line): %r", self.ifname, type(msg).__name__, src,
                      exc, level=logging.ERROR)
            log.debug("traceback", exc_info=True)

    def handle_timer(self, now: float) -> None:
        """Reclaim expired bindings (Kea's reclaim-timer-wait-time is
        ``reclaim_interval``)."""
        t = self.get_timer()
        if t is None or now < t:
            return
        self._last_sweep = now
        if self._stale and not self._reload():
            return
        self._reclaim(now)

    def get_timer(self) -> float | None:
        """Monotonic time of the next reclamation sweep, or None."""
        exp = self._next_expiry()
        if exp is None:
            return None
        t = exp - self.offset
        if self._last_sweep is not None:
            t = max(t, self._last_sweep + self.config.reclaim_interval)
        return t

    def _next_expiry(self) -> float | None:
        """Wall-clock time of the earliest expiry among this interface's
        bindings and the other rows in its pools."""
        exp = self.table.next_expiry()
        if self._others:
            t = self._others[0][0]
            if exp is None or t < exp:
                return t
        return exp

    def datagrams_to_send(self) -> list[Outgoing]:
        """Commit the lease store, then hand out the datagrams queued since the
        last call. If the commit fails the Replies are dropped (the clients
        retransmit), the store is rolled back and the state reloaded."""
        out = self._out
        if not out and not self.store.pending:
            return []
        self._out = []
        self._acks = 0
        if self.store.pending:
            try:
                self.store.commit()
            except StoreError as exc:
                self.stats["store-commit-failed"] += 1
                log.error("%s: lease store commit failed, %d datagrams dropped: %s",
                          self.ifname, len(out), exc)
                self.store.rollback()
                self._events.clear()
                self._reload()
                return []
        return out

    def take_held(self) -> Held | None:
        """For a deferred store: everything queued since the last call — the
        datagrams and the events — held back until the adapter has committed
        the store's batch of the same writes (:meth:`LeaseStore.seal`). The
        adapter sends them when the commit succeeded and calls
        :meth:`batch_failed` when it did not, so no Reply leaves before its
        binding is durable. ``None`` when nothing is queued."""
        if not self._out and not self._events:
            return None
        held = Held(self._out, list(self._events), self._acks)
        self._out = []
        self._events.clear()
        self._acks = 0
        return held

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
        return self._events.popleft() if self._events else None

    # ============================================================ plumbing
    def _drop(self, now: float, kind: str, fmt: str, *args) -> None:
        self.stats["pkt6-receive-drop"] += 1
        self._bad(kind, now, fmt, *args, level=logging.INFO)

    def _send(self, msg, dst: IPv6Address, port: int) -> None:
        self._out.append(Outgoing(encode_dhcp6(msg), dst, "dhcp6", port))
        st = self.stats
        st["pkt6-sent"] += 1
        inner = msg
        while isinstance(inner, RelayMessage):
            inner = inner.relayed
        if type(inner) is Advertise:
            st["pkt6-advertise-sent"] += 1
        else:
            st["pkt6-reply-sent"] += 1
            self._acks += 1

    def _answer(self, handler, msg: Message, client_ll: IPv6Address, now: float):
        oro = msg.get(OptionRequest)
        duid_opt = msg.get(ClientId)
        ctx = _Ctx(msg, encode_duid(duid_opt.duid) if duid_opt else b"", client_ll, now,
                   now + self.offset, frozenset(oro.requested_options) if oro else _NO_CODES, duid_opt)
        if ctx.duid and not self._client_buckets.allow(ctx.duid, now):
            self.stats["pkt6-rate-limited-client"] += 1
            self._bad("rate-client", now, "%s: client %s (via %s) exceeds the per-client rate "
                      "limit (%d per %g s); %s dropped", self.ifname, ctx.duid.hex(), client_ll,
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
        """RFC 8415 §19.2/§19.3: answer the innermost message and wrap the
        answer in one Relay-Repl per Relay-Forw, echoing each Interface-Id."""
        chain = [relay]
        inner = relay.relayed
        while type(inner) is RelayForw:
            if len(chain) > HOP_COUNT_LIMIT:
                self._drop(now, "relay", "%s: Relay-Forw from %s nested deeper than %d; "
                           "dropped", self.ifname, src, HOP_COUNT_LIMIT)
                return
            chain.append(inner)
            inner = inner.relayed
        if inner is None or isinstance(inner, RelayMessage):
            self._drop(now, "relay", "%s: Relay-Forw from %s carries no client message; "
                       "dropped", self.ifname, src)
            return
        mt = inner.msg_type
        handler = self._handlers.get(mt)
        if handler is None:
            self._drop(now, "unexpected", "%s: relayed %s from %s is not for a server; "
                       "dropped", self.ifname, type(inner).__name__, src)
            return
        self.stats[RECEIVED_COUNTERS[mt]] += 1
        # The route to a relayed client's prefix goes through the relay: the
        # binding's next hop is the relay that handed us the message.
        reply = self._answer(handler, inner, src, now)
        if reply is None:
            return
        for r in reversed(chain):
            opts: list = [RelayMsg(reply)]
            ifid = r.get(InterfaceId)
            if ifid is not None:
                opts.append(ifid)
            reply = RelayRepl(r.hop_count, r.link_address, r.peer_address, tuple(opts))
        self._send(reply, src, DHCP6_SERVER_PORT)

    # ========================================================== validation
    def _server_id_ok(self, ctx: _Ctx, required: bool) -> bool:
        sid = ctx.msg.get(ServerId)
        if sid is None:
            if required:
                self._drop(ctx.now, "no-server-id", "%s: %s from %s without Server "
                           "Identifier; dropped (RFC 8415 §16)", self.ifname,
                           type(ctx.msg).__name__, ctx.client_ll)
            return not required
        # equal DUIDs encode to equal octets: encode only when they differ
        if sid.duid != self.server_duid and encode_duid(sid.duid) != self.server_duid_bytes:
            self.stats["pkt6-receive-drop"] += 1
            log.debug("%s: %s from %s is for another server; dropped", self.ifname,
                      type(ctx.msg).__name__, ctx.client_ll)
            return False
        return True

    def _need_client_id(self, ctx: _Ctx) -> bool:
        if not ctx.duid:
            self._drop(ctx.now, "no-client-id", "%s: %s from %s without Client Identifier; "
                       "dropped (RFC 8415 §16)", self.ifname, type(ctx.msg).__name__,
                       ctx.client_ll)
            return False
        return True

    def _no_server_id(self, ctx: _Ctx) -> bool:
        if ctx.msg.get(ServerId) is not None:
            self._drop(ctx.now, "server-id", "%s: %s from %s carries a Server Identifier; "
                       "dropped (RFC 8415 §16)", self.ifname, type(ctx.msg).__name__,
                       ctx.client_ll)
            return False
        return True

    # ============================================================ handlers
    def _solicit(self, ctx: _Ctx):
        """RFC 8415 §18.3.1, §18.3.9."""
        if not (self._need_client_id(ctx) and self._no_server_id(ctx)):
            return None
        rapid = self.config.rapid_commit and ctx.msg.get(RapidCommit) is not None
        answers = [self._grant(ctx, ia, commit=rapid) for ia in ctx.msg.ia_pds]
        if rapid:
            return self._reply(ctx, Reply, answers, extra=(RapidCommit(),))
        extra = (self._pref_opt,) if self._pref_opt else ()
        return self._reply(ctx, Advertise, answers, extra=extra,
                           no_ia_status=SC.NO_PREFIX_AVAIL)

    def _request(self, ctx: _Ctx):
        """RFC 8415 §18.3.2."""
        if not (self._need_client_id(ctx) and self._server_id_ok(ctx, True)):
            return None
        answers = [self._grant(ctx, ia, commit=True) for ia in ctx.msg.ia_pds]
        return self._reply(ctx, Reply, answers, no_ia_status=SC.NO_PREFIX_AVAIL)

    def _renew(self, ctx: _Ctx):
        """RFC 8415 §18.3.4."""
        if not (self._need_client_id(ctx) and self._server_id_ok(ctx, True)):
            return None
        answers = [self._extend_ia(ctx, ia, rebind=False) for ia in ctx.msg.ia_pds]
        return self._reply(ctx, Reply, answers, na_status=SC.NO_BINDING)

    def _rebind(self, ctx: _Ctx):
        """RFC 8415 §18.3.5 and the moved-host policy (module docstring)."""
        if not (self._need_client_id(ctx) and self._no_server_id(ctx)):
            return None
        answers = [self._extend_ia(ctx, ia, rebind=True) for ia in ctx.msg.ia_pds]
        return self._reply(ctx, Reply, answers, na_status=SC.NO_BINDING)

    def _release(self, ctx: _Ctx):
        """RFC 8415 §18.3.7."""
        return self._give_back(ctx, decline=False)

    def _decline(self, ctx: _Ctx):
        """RFC 8415 §18.3.8 (for a delegated prefix: quarantined like Kea's
        declined leases for ``decline_probation_period``)."""
        return self._give_back(ctx, decline=True)

    def _confirm(self, ctx: _Ctx):
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
        return Reply(ctx.msg.transaction_id, self._ids(ctx) + (st,))

    def _information_request(self, ctx: _Ctx):
        """RFC 8415 §18.3.6."""
        if not self._server_id_ok(ctx, False):
            return None
        m = ctx.msg
        if m.get(IANA) or m.get(IAPD) or any(
                type(o) is UnknownOption and o.option_code == OptionCode.IA_TA
                for o in m.options):
            self._drop(ctx.now, "inforeq-ia", "%s: Information-request from %s holds an IA; "
                       "dropped (RFC 8415 §16.12)", self.ifname, ctx.client_ll)
            return None
        opts = list(self._ids(ctx)) + self._oro_options(ctx)
        return Reply(m.transaction_id, tuple(opts))

    # ============================================================= replies
    def _ids(self, ctx: _Ctx) -> tuple:
        cid = ctx.client_id
        return (cid, self._server_id_opt) if cid is not None else (self._server_id_opt,)

    def _oro_options(self, ctx: _Ctx) -> list:
        out = []
        if OptionCode.VENDOR_OPTS in ctx.oro and self.iface.offered_types:
            out.append(self._supported)
        if OptionCode.DNS_SERVERS in ctx.oro and self._dns_opt is not None:
            out.append(self._dns_opt)
        return out

    def _reply(self, ctx: _Ctx, cls, answers: list[_IaAnswer], extra: tuple = (),
               no_ia_status: SC = SC.NO_PREFIX_AVAIL, na_status: SC | None = None):
        """Build an Advertise/Reply: Client and Server Identifiers, the extra
        options (Rapid Commit, Preference), one IA_PD per answer with the
        message's common T1/T2, IA_NA answers (odm delegates no addresses),
        then ORO-driven options."""
        t1 = t2 = None  # the smallest T1 and T2 of the IA_PDs with timers
        for a in answers:
            if a.t1 is not None:
                if t1 is None:
                    t1, t2 = a.t1, a.t2
                else:
                    t1, t2 = min(t1, a.t1), min(t2, a.t2)
        if t1 is None:
            t1 = t2 = 0
        elif t1 > t2:
            t1 = t2
        opts = [*self._ids(ctx), *extra]
        for a in answers:
            inner = a.prefixes if a.status is None else [*a.prefixes, a.status]
            live = False
            for p in a.prefixes:
                if p.valid_lifetime:
                    live = True
                    break
            opts.append(IAPD(a.iaid, t1, t2, tuple(inner)) if live
                        else IAPD(a.iaid, 0, 0, tuple(inner)))
        msg = ctx.msg
        ianas = msg.get_all(IANA)
        for ia in ianas:
            st = (StatusCode(SC.NO_ADDRS_AVAIL, "this server delegates prefixes only")
                  if na_status is None else StatusCode(na_status, "no IA_NA binding"))
            opts.append(IANA(ia.iaid, 0, 0, (st,)))
        if not answers and not ianas and cls is Advertise:
            # (handlers answer every IA_PD: no answers = no IA_PD in the message)
            opts.append(StatusCode(SC.NO_ADDRS_AVAIL, "no IA_PD in the Solicit"))
        if ctx.oro:
            opts.extend(self._oro_options(ctx))
        return cls(msg.transaction_id, tuple(opts))

    def _iaprefix(self, b: Binding, preferred: int, valid: int) -> IAPrefix:
        opts = (self._type_opts[b.mobility_type],) if b.mobility_type is not None else ()
        return IAPrefix(preferred, valid, b.prefix.prefixlen, b.prefix.network_address, opts)

    @staticmethod
    def _zero(p: IAPrefix) -> IAPrefix:
        """A listed prefix returned with lifetimes 0 (its options kept: a
        typed prefix stays labelled, draft-moses M4)."""
        return IAPrefix(0, 0, p.prefix_length, p.prefix, p.options)

    def _answer_with(self, a: _IaAnswer, b: Binding, fresh: bool) -> None:
        """Add binding ``b`` to answer ``a``; ``fresh``: lifetimes were just
        (re)started, so the pool's T1/T2 apply."""
        pref, valid = b.lifetimes_at(b.cltt if fresh else self._wall_now)
        a.prefixes.append(self._iaprefix(b, pref, valid))
        if valid == 0 or pref == 0:
            return
        t1, t2 = self._timers_for(b)
        if pref != INFINITY:
            t2 = min(t2, pref)
            t1 = min(t1, t2)
        if a.t1 is None:
            a.t1, a.t2 = t1, t2
        else:
            a.t1, a.t2 = min(a.t1, t1), min(a.t2, t2)

    # ============================================================ lifetimes
    def _pool_of(self, b: Binding) -> PdPool | None:
        if b.pool is None or b.anchor != self.router_id:
            return None
        pa = self.allocator.pools.get(b.pool)
        return pa.pool if pa is not None else None

    def _reservation_of(self, b: Binding) -> Reservation | None:
        for r in self._reservations:
            if r.prefix == b.prefix and r.duid == b.duid and (r.iaid is None or r.iaid == b.iaid):
                return r
        return None

    def _timers_for(self, b: Binding) -> tuple[int, int]:
        p = self._pool_of(b)
        if p is not None:
            return self._pool_timers[p.name]
        r = self._reservation_of(b) if b.anchor == self.router_id else None
        if r is not None:
            return _timers(r.preferred_lifetime, r.t1, r.t2)
        return _timers(b.preferred_lifetime, None, None)

    def _lifetimes_for(self, b: Binding) -> tuple[int, int] | None:
        """(preferred, valid) to extend ``b`` with, or None when this server
        cannot extend it (its pool or reservation is gone from the config)."""
        if b.anchor != self.router_id:
            return b.preferred_lifetime, b.valid_lifetime
        p = self._pool_of(b)
        if p is not None:
            return p.preferred_lifetime, p.valid_lifetime
        r = self._reservation_of(b)
        if r is not None:
            return r.preferred_lifetime, r.valid_lifetime
        return None

    # ======================================================== mutations ==
    # Every change to a binding goes through these, which keep the table, the
    # pool usage, the store and the events in step.
    def _event_binding(self, cls, b: Binding):
        return cls(b.prefix, b.duid, b.iaid, b.mobility_type, b.client_ll, b.interface,
                   b.preferred_lifetime, b.valid_lifetime)

    def _save(self, b: Binding) -> None:
        self.store.update(b)
        self.table.schedule(b)

    def _drop_binding(self, b: Binding, reason: str, *, delete: bool = True,
                      free: bool = True) -> None:
        if delete:
            self.store.delete(b.prefix)
        self.table.remove(b)
        if free and b.anchor == self.router_id:
            self.allocator.mark_free(b.prefix)
        if b.state is not _DECLINED:
            self._events.append(PrefixReleased(b.prefix, b.client_ll, b.interface, reason))

    def _reclaim(self, now: float) -> None:
        wall = now + self.offset
        if self._others:
            try:
                self._reclaim_others(wall)
            except StoreError as exc:
                log.error("%s: cannot reclaim leftover bindings: %s", self.ifname, exc)
        for b in self.table.pop_expired(wall):
            try:
                gone = self.store.delete(b.prefix, served_by=self.router_id,
                                         valid_until_max=b.valid_until)
                held = None if gone else self.store.find_prefix(b.prefix)
            except StoreError as exc:
                log.error("%s: cannot reclaim %s: %s", self.ifname, b.prefix, exc)
                self.table.schedule(b)
                continue
            if held is not None and held.valid_until > wall:
                # A stale copy: the host moved and another router serves (and
                # extends) the binding now. Forget the copy, keep the prefix out
                # of the pool, and leave its routes (the anchor's redirect) be.
                self.table.remove(b)
                log.debug("%s: %s is served by %s now; stale copy dropped", self.ifname,
                          b.prefix, held.served_by)
                continue
            pa = None
            self.table.remove(b)
            if b.anchor == self.router_id:
                pa = self.allocator.mark_free(b.prefix)
            if b.state is _DECLINED:
                log.info("%s: declined prefix %s back in its pool", self.ifname, b.prefix)
                continue
            if pa is not None:
                pa.reclaimed += 1
            self.stats["reclaimed-leases"] += 1
            log.info("%s: binding %s of %s/%d expired", self.ifname, b.prefix,
                     b.duid.hex(), b.iaid)
            self._events.append(PrefixReleased(b.prefix, b.client_ll, b.interface, "expired"))

    # ============================================================ grant ==
    @staticmethod
    def _asked(ia: IAPD) -> tuple[bool, MobilityType | None, IAPrefix | None]:
        """(typed?, type, first hint) of an IA_PD. A reserved type value is
        ignored (draft-moses M3): the request then counts as untyped."""
        hint = None
        for p in ia.options:
            if type(p) is IAPrefix:
                if hint is None:
                    hint = p
                for o in p.options:
                    if type(o) is OdmVendorOpts:
                        for s in o.suboptions:
                            if type(s) is MobilityTypeSubOption and s.mobility_type in _LIVE_MT:
                                return True, _LIVE_MT[s.mobility_type], p
        return False, None, hint

    def _grant(self, ctx: _Ctx, ia: IAPD, commit: bool) -> _IaAnswer:
        """Answer one IA_PD of a Solicit or Request: the existing binding, a
        reservation, or a fresh prefix; NoPrefixAvail naming the type when none
        can be had. ``commit``: create the binding (Request, Rapid Commit)."""
        self._wall_now = ctx.wall
        a = _IaAnswer(ia.iaid, [])
        _typed, mt, hint = self._asked(ia)
        held = self.table.client(ctx.duid, ia.iaid)
        if held:  # (a new client, the usual case, holds nothing)
            existing = [b for b in held if b.state is _ACTIVE and b.interface == self.ifname]
            same = [b for b in existing if b.mobility_type == mt]
            for b in same:
                if commit:
                    if self._refresh(b, ctx):
                        self._answer_with(a, b, fresh=True)
                    else:  # its pool or reservation is gone: a fresh prefix instead
                        self._drop_binding(b, "expired")
                elif self._lifetimes_for(b) is not None:
                    self._answer_offer(a, b, ctx)
            if a.prefixes:
                return a
            existing = [b for b in existing if b not in same]
            if existing and commit:  # the IA asks another type now: start over
                for b in existing:
                    self._drop_binding(b, "replaced")
        b, why = self._allocate(ctx, ia.iaid, mt, hint, commit)
        if b is None:
            a.status = StatusCode(SC.NO_PREFIX_AVAIL, why)
            return a
        self._answer_with(a, b, fresh=True)
        return a

    def _answer_offer(self, a: _IaAnswer, b: Binding, ctx: _Ctx) -> None:
        """Show an existing binding in an Advertise with the lifetimes a Request
        would give it (nothing is written)."""
        lt = self._lifetimes_for(b)
        pref, valid = lt if lt is not None else b.lifetimes_at(ctx.wall)
        tmp = Binding(b.prefix, b.duid, b.iaid, b.mobility_type, b.pool, b.interface,
                      b.client_ll, b.anchor, b.served_by, b.state, pref, valid, 0, 0, 0)
        tmp.extend(ctx.wall)
        self._answer_with(a, tmp, fresh=True)

    def _refresh(self, b: Binding, ctx: _Ctx) -> bool:
        """Extend ``b`` from now (Request of a known IA, Renew, Rebind).
        Returns False when it cannot be extended (then it is left alone)."""
        lt = self._lifetimes_for(b)
        if lt is None:
            return False
        b.preferred_lifetime, b.valid_lifetime = lt
        old = b.client_ll
        if old is not None and old != ctx.client_ll and not self._may_move(b, ctx):
            b.extend(ctx.wall)  # the binding is extended, its route stays
            self._save(b)
            return True
        b.client_ll = ctx.client_ll
        self._hop_pending.pop(b.prefix, None)
        b.extend(ctx.wall)
        self._save(b)
        self._events.append(self._event_binding(PrefixRenewed, b))
        if old is not None and old != ctx.client_ll:
            self.stats["next-hop-changed"] += 1
            log.info("%s: %s now via %s (was via %s, which no longer answers neighbour "
                     "discovery)", self.ifname, b.prefix, ctx.client_ll, old)
        return True

    # ====================================================== next-hop moves
    def _may_move(self, b: Binding, ctx: _Ctx) -> bool:
        """May ``b``'s route move from its next hop to ``ctx.client_ll``? Only
        when the adapter has found the current next hop gone from the link
        (it no longer answers neighbour discovery, RFC 4861 §7.3.3): anyone
        on the link who copied the client's DUID and IAID from its multicast
        messages can send a Renew or Rebind (RFC 8415 §22 has no
        authentication), so the source of a message is no evidence that the
        client moved. Otherwise the change waits for the verdict
        (:class:`NextHopCheck`, :meth:`next_hop_unreachable`)."""
        old = b.client_ll
        until = self._hop_gone.get(old)
        if until is not None and until >= ctx.now:
            return True
        self.stats["next-hop-change-deferred"] += 1
        first = b.prefix not in self._hop_pending
        if len(self._hop_pending) >= MAX_NEXT_HOP_FACTS and first:
            self._expire_hop_facts(ctx.now)
        if len(self._hop_pending) < MAX_NEXT_HOP_FACTS or not first:
            self._hop_pending[b.prefix] = (ctx.client_ll, ctx.now + NEXT_HOP_PENDING)
        self._events.append(NextHopCheck(self.ifname, old))
        self._bad("next-hop", ctx.now, "%s: %s for %s came from %s, but its next hop %s has "
                  "not been found gone from the link; the route stays until it is",
                  self.ifname, type(ctx.msg).__name__, b.prefix, ctx.client_ll, old,
                  level=logging.INFO)
        return False

    def _expire_hop_facts(self, now: float) -> None:
        self._hop_pending = {p: v for p, v in self._hop_pending.items() if v[1] >= now}
        self._hop_gone = {a: t for a, t in self._hop_gone.items() if t >= now}

    def next_hop_unreachable(self, next_hop: IPv6Address, now: float) -> int:
        """The adapter's verdict: ``next_hop`` no longer answers neighbour
        discovery on this interface (its neighbour entry is FAILED,
        INCOMPLETE or absent after a probe). Bindings routed via it whose
        client wrote from another address in the last
        :data:`NEXT_HOP_PENDING` seconds move there now (committed by the next
        :meth:`datagrams_to_send`); a message arriving in that time moves its
        binding at once. Returns the number of bindings moved."""
        if len(self._hop_gone) >= MAX_NEXT_HOP_FACTS:
            self._expire_hop_facts(now)
            if len(self._hop_gone) >= MAX_NEXT_HOP_FACTS:
                self._hop_gone.clear()
        self._hop_gone[next_hop] = now + NEXT_HOP_PENDING
        moved = 0
        for prefix, (new, until) in list(self._hop_pending.items()):
            b = self.table.get(prefix)
            if b is None or until < now:
                del self._hop_pending[prefix]
                continue
            if b.client_ll != next_hop or b.state is not _ACTIVE:
                continue
            del self._hop_pending[prefix]
            b.client_ll = new
            try:
                self._save(b)
            except StoreError as exc:
                self.stats["store-write-failed"] += 1
                log.error("%s: lease store write failed, %s stays via %s: %s", self.ifname,
                          prefix, next_hop, exc)
                self.store.rollback()
                self._events.clear()
                self._load()
                return 0
            self._events.append(self._event_binding(PrefixRenewed, b))
            self.stats["next-hop-changed"] += 1
            moved += 1
            log.info("%s: %s now via %s (was via %s, which no longer answers neighbour "
                     "discovery)", self.ifname, prefix, new, next_hop)
        return moved

    def _reservation_for(self, duid: bytes, iaid: int, mt: MobilityType | None
                         ) -> Reservation | None:
        if mt is None:
            return None
        best = None
        for r in self._reservations:
            if r.duid == duid and r.mobility_type == mt:
                if r.iaid == iaid:
                    return r
                if r.iaid is None and best is None:
                    best = r
        return best

    def _new_binding(self, ctx: _Ctx, iaid: int, mt, prefix: IPv6Network, pool: str | None,
                     preferred: int, valid: int) -> Binding:
        b = Binding(prefix, ctx.duid, iaid, mt, pool, self.ifname, ctx.client_ll,
                    self.router_id, self.router_id, _ACTIVE, preferred, valid, 0.0, 0.0, 0.0)
        b.extend(ctx.wall)
        return b

    def _commit_new(self, b: Binding, pa: PoolAllocator | None) -> bool:
        """Insert a new binding; False if the store says its prefix is taken
        (another router, or a record this core does not hold in memory). A
        row in the way whose valid lifetime has ended is reclaimed and the
        insertion retried; a live one is noted (kept out of the pool until it
        expires)."""
        if not self.store.insert(b):
            held = self.store.find_prefix(b.prefix)
            if (held is not None and held.valid_until <= b.cltt
                    and self.table.get(b.prefix) is None
                    and self.store.delete(b.prefix, valid_until_max=b.cltt)):
                self.stats["reclaimed-leases"] += 1
                self.stats["reclaimed-leftover-leases"] += 1
                log.info("%s: expired binding %s of interface %s (router %s) reclaimed",
                         self.ifname, b.prefix, held.interface, held.served_by)
                if self.store.insert(b):
                    return self._committed(b, pa)
                held = self.store.find_prefix(b.prefix)
            if pa is not None:
                loc = pa.index(b.prefix)
                if loc is not None:
                    pa.claim(loc)
            if held is not None and self.table.get(b.prefix) is None:
                self._note_other(held)
            return False
        return self._committed(b, pa)

    def _free_in_store(self, b: Binding, pa: PoolAllocator) -> bool:
        """For an offer: True if the store holds no live row for ``b``'s
        prefix (an expired one is reclaimed by the Request); else the row is
        noted and its prefix claimed, like a refused insertion."""
        held = self.store.find_prefix(b.prefix)
        if held is None or held.valid_until <= b.cltt:
            return True
        loc = pa.index(b.prefix)
        if loc is not None:
            pa.claim(loc)
        if self.table.get(b.prefix) is None:
            self._note_other(held)
        return False

    def _committed(self, b: Binding, pa: PoolAllocator | None) -> bool:
        self.table.add(b)
        if pa is not None:
            pa.claim(pa.index(b.prefix))
            pa.cumulative += 1
        self.stats["cumulative-assigned-pds"] += 1
        self._events.append(self._event_binding(PrefixDelegated, b))
        return True

    def _allocate(self, ctx: _Ctx, iaid: int, mt: MobilityType | None, hint: IAPrefix | None,
                  commit: bool) -> tuple[Binding | None, str]:
        """A new binding for (client, IAID) of type ``mt`` (None = legacy),
        committed when ``commit``. Returns (binding, "") or (None, the reason
        for the NoPrefixAvail status message)."""
        st = self.stats
        label = _LABELS[mt]
        if mt is not None and mt not in self.iface.offered_types:
            st["v6-allocation-fail"] += 1
            st["v6-allocation-fail-type-not-offered"] += 1
            return None, f"mobility type {label} is not offered on this link"
        if self.table.count_duid(ctx.duid) >= self._max_per_client:
            st["v6-allocation-fail"] += 1
            st["v6-allocation-fail-client-limit"] += 1
            return None, (f"no {label} prefix: this client already holds "
                          f"{self._max_per_client} prefixes (per-client limit)")
        cap = self._type_caps[mt]
        if cap is not None and self.table.count_duid_type(ctx.duid, mt) >= cap:
            st["v6-allocation-fail"] += 1
            st["v6-allocation-fail-type-limit"] += 1
            return None, (f"no {label} prefix: this client already holds {cap} "
                          f"{type_key(mt)} prefixes (per-type limit)")
        if commit and not self._grant_token(ctx):
            st["v6-allocation-fail"] += 1
            st["v6-allocation-fail-rate-limited"] += 1
            return None, (f"no {label} prefix: the request rate limit is reached (each new "
                          "prefix counts as one message)")
        r = self._reservation_for(ctx.duid, iaid, mt) if self._reservations else None
        if r is not None:
            holder = self.table.get(r.prefix)
            if holder is None:
                b = self._new_binding(ctx, iaid, mt, r.prefix, None, r.preferred_lifetime,
                                      r.valid_lifetime)
                loc = self.allocator.locate(r.prefix)
                pa = loc[0] if loc else None
                if not commit or self._commit_new(b, pa):
                    return b, ""
        pools = self._pools_for[mt]
        if not pools:
            st["v6-allocation-fail"] += 1
            st["v6-allocation-fail-no-pools"] += 1
            if mt is None:
                return None, "no prefix for untyped requests: this link has no default pool"
            return None, f"no {label} prefix available for this client"
        spec, hlen = (None, 0) if hint is None else Allocator.hint_of(hint.prefix,
                                                                      hint.prefix_length)
        collisions = 0
        for sweep in (False, True):
            if sweep:
                # Exhausted: bindings that expired since the last sweep go back
                # to their pools now rather than at the next reclaim timer.
                exp = self._next_expiry()
                if exp is None or exp > ctx.wall:
                    break
                self._reclaim(ctx.now)
            # every prefix tried and found taken is claimed, so this ends when
            # the pools are full: no cap on tries while a pool has free space
            for pa, net in self.allocator.candidates(pools, spec, hlen, ctx.duid, iaid,
                                                     max_tries=None):
                p = pa.pool
                b = self._new_binding(ctx, iaid, mt, net, p.name, p.preferred_lifetime,
                                      p.valid_lifetime)
                if not commit:
                    # an offer is checked against the store as well (Kea's
                    # allocation engine does so too): never offer what the
                    # Request would then find taken
                    if self._free_in_store(b, pa):
                        return b, ""
                elif self._commit_new(b, pa):
                    return b, ""
                collisions += 1
                if collisions == 1:
                    # the store holds rows this core did not know of (written
                    # since it loaded): read the pools' rows once, so the next
                    # candidates avoid them all
                    self._note_others([self.allocator.pools[q.name] for q in pools
                                       if q.name in self.allocator.pools], ctx.wall)
                elif collisions > MAX_COLLISIONS:
                    break
        st["v6-allocation-fail"] += 1
        st["v6-allocation-fail-pool-exhausted"] += 1
        return None, f"no {label} prefix available (pool exhausted)"

    # =========================================================== extend ==
    def _extend_ia(self, ctx: _Ctx, ia: IAPD, rebind: bool) -> _IaAnswer:
        """Answer one IA_PD of a Renew or Rebind (module docstring)."""
        self._wall_now = ctx.wall
        a = _IaAnswer(ia.iaid, [])
        handled: set[IPv6Network] = set()
        listed: dict[IPv6Network, IAPrefix] = {}
        for p in ia.prefixes:
            if p.prefix.is_unspecified or p.prefix_length == 0:
                continue
            try:
                listed.setdefault(IPv6Network((p.prefix, p.prefix_length)), p)
            except ValueError:
                a.prefixes.append(self._zero(p))  # host bits set: not ours to extend
        if rebind:
            self._rebind_moved(ctx, ia, listed, a, handled)
        for b in list(self.table.client(ctx.duid, ia.iaid)):
            if b.prefix in handled or b.interface != self.ifname:
                continue
            if b.state is _ACTIVE:
                handled.add(b.prefix)
                if self._refresh(b, ctx):
                    self._answer_with(a, b, fresh=True)
                else:
                    a.prefixes.append(self._iaprefix(b, 0, 0))
                    self._drop_binding(b, "expired")
            elif b.state is _GRACE:
                handled.add(b.prefix)
                self._answer_with(a, b, fresh=False)
        _typed, mt, _ = self._asked(ia)
        for net, p in listed.items():
            if net in handled:
                continue
            handled.add(net)
            b = self._recreate(ctx, ia.iaid, net, mt)
            if b is not None:
                self._answer_with(a, b, fresh=True)
            else:
                a.prefixes.append(self._zero(p))
        if not a.prefixes:
            a.status = StatusCode(SC.NO_BINDING, "no binding for this IA_PD")
        return a

    def _recreate(self, ctx: _Ctx, iaid: int, net: IPv6Network, mt: MobilityType | None
                  ) -> Binding | None:
        """Re-create a binding for a prefix a client still holds but this
        server does not know (unknown IA policy), if it may delegate it."""
        if self.table.get(net) is not None:
            return None
        if self.table.count_duid(ctx.duid) >= self.config.max_bindings_per_client:
            return None
        cap = self.config.limits.type_cap(mt)
        if cap is not None and self.table.count_duid_type(ctx.duid, mt) >= cap:
            return None
        r = self._reservation_for(ctx.duid, iaid, mt)
        if r is not None and r.prefix == net:
            b = self._new_binding(ctx, iaid, mt, net, None, r.preferred_lifetime,
                                  r.valid_lifetime)
            loc = self.allocator.locate(net)
            return b if self._commit_new(b, loc[0] if loc else None) else None
        loc = self.allocator.locate(net, self.iface.pools_for(mt))
        if loc is None:
            return None
        pa, i = loc
        if pa.pool not in self.iface.pools_for(mt) or not pa.is_free(i, ctx.duid, iaid):
            return None
        if mt is not None and mt not in self.iface.offered_types:
            return None
        if not self._grant_token(ctx):
            self.stats["v6-allocation-fail"] += 1
            self.stats["v6-allocation-fail-rate-limited"] += 1
            return None
        b = self._new_binding(ctx, iaid, mt, net, pa.pool.name, pa.pool.preferred_lifetime,
                              pa.pool.valid_lifetime)
        return b if self._commit_new(b, pa) else None

    def _grant_token(self, ctx: _Ctx) -> bool:
        """Rate limits count what is granted, not only messages (issue 13
        point 14): the message's own token pays for its first new binding,
        each further one takes one more token from the per-source and the
        per-client bucket. False when either is empty: that IA_PD is refused
        (NoPrefixAvail), the rest of the message is answered."""
        ctx.grants += 1
        if ctx.grants == 1:
            return True
        src, cli = self._source_buckets, self._client_buckets
        if src.limit.count > 0 and src.tokens(ctx.client_ll, ctx.now) < 1.0:
            return False
        if ctx.duid and cli.limit.count > 0 and cli.tokens(ctx.duid, ctx.now) < 1.0:
            return False
        src.allow(ctx.client_ll, ctx.now)
        if ctx.duid:
            cli.allow(ctx.duid, ctx.now)
        return True

    def _rebind_moved(self, ctx: _Ctx, ia: IAPD, listed: dict, a: _IaAnswer,
                      handled: set) -> None:
        """The per-type policy for prefixes of this IA that the shared store
        shows served by another router (module docstring)."""
        recs = {r.prefix: r for r in self.store.find_client(ctx.duid, ia.iaid)}
        for net in listed:
            if net not in recs:
                r = self.store.find_prefix(net)
                if r is not None and r.duid == ctx.duid and r.iaid == ia.iaid:
                    recs[net] = r
        need_new: list[MobilityType | None] = []
        for r in recs.values():
            if r.served_by == self.router_id or r.state is _DECLINED:
                continue
            handled.add(r.prefix)
            mt = r.mobility_type
            old = self.table.get(r.prefix)
            if old is not None:  # a stale copy from before the host left
                self.table.remove(old)
            self.stats["moved-here-pds"] += 1
            r.interface = self.ifname
            r.client_ll = ctx.client_ll
            r.cltt = ctx.wall
            if mt is MobilityType.SESSION_LASTING or mt is MobilityType.FIXED:
                r.served_by = self.router_id
                r.state = _ACTIVE
                r.extend(ctx.wall)
                self._save(r)
                self.table.add(r)
                if r.anchor == self.router_id:
                    self.allocator.mark_used(r.prefix)
                    self._events.append(self._event_binding(PrefixRenewed, r))
                else:
                    self._events.append(BindingMovedHere(
                        r.prefix, r.anchor, ctx.client_ll, mt, self.ifname, r.duid, r.iaid,
                        r.valid_lifetime))
                self._answer_with(a, r, fresh=True)
                log.info("%s: %s %s anchored at %s moved here (%s)", self.ifname,
                         mt.cli_name, r.prefix, r.anchor, ctx.client_ll)
            elif mt is MobilityType.GRACEFUL_REPLACEMENT:
                grace = min(self.config.graceful_replacement_grace,
                            remaining(r.valid_until, ctx.wall))
                r.served_by = self.router_id
                r.state = _GRACE
                r.preferred_until = ctx.wall
                r.valid_until = ctx.wall + grace
                self._save(r)
                self.table.add(r)
                if r.anchor == self.router_id:
                    self.allocator.mark_used(r.prefix)
                self._events.append(BindingMovedHere(
                    r.prefix, r.anchor, ctx.client_ll, mt, self.ifname, r.duid, r.iaid, grace))
                a.prefixes.append(self._iaprefix(r, 0, grace))
                need_new.append(mt)
                log.info("%s: graceful-replacement %s of %s: %d s of grace", self.ifname,
                         r.prefix, r.anchor, grace)
            else:  # NON_PERSISTENT, or untyped: not valid on this link any more
                self.store.delete(r.prefix)
                a.prefixes.append(self._iaprefix(r, 0, 0))
                need_new.append(mt)
                log.info("%s: %s %s of %s ended after a move", self.ifname,
                         mt.cli_name if mt else "untyped", r.prefix, r.anchor)
        for mt in dict.fromkeys(need_new):
            if any(b.mobility_type == mt and b.state is _ACTIVE
                   for b in self.table.client(ctx.duid, ia.iaid)):
                continue
            b, _why = self._allocate(ctx, ia.iaid, mt, None, commit=True)
            if b is not None:
                handled.add(b.prefix)
                self._answer_with(a, b, fresh=True)

    # ===================================================== release/decline
    def _give_back(self, ctx: _Ctx, decline: bool):
        if not (self._need_client_id(ctx) and self._server_id_ok(ctx, True)):
            return None
        opts = list(self._ids(ctx))
        opts.append(StatusCode(SC.SUCCESS, "Decline processed" if decline
                               else "Release processed"))
        for ia in ctx.msg.ia_pds:
            mine = [b for b in self.table.client(ctx.duid, ia.iaid)
                    if b.state is not _DECLINED and b.interface == self.ifname]
            if not mine:
                opts.append(IAPD(ia.iaid, 0, 0, (StatusCode(SC.NO_BINDING,
                                                            "no binding for this IA_PD"),)))
                continue
            listed = set()
            for p in ia.prefixes:
                try:
                    listed.add(IPv6Network((p.prefix, p.prefix_length)))
                except ValueError:
                    pass
            for b in mine:
                if listed and b.prefix not in listed:
                    continue
                if decline and b.anchor == self.router_id and b.pool is not None:
                    self._events.append(PrefixReleased(b.prefix, b.client_ll, b.interface,
                                                       "decline"))
                    self.table.set_state(b, _DECLINED)
                    b.valid_until = b.preferred_until = (
                        ctx.wall + self.config.decline_probation_period)
                    self._save(b)
                    self.stats["declined-pds"] += 1
                else:
                    self._drop_binding(b, "decline" if decline else "release")
        for ia in ctx.msg.get_all(IANA):
            opts.append(IANA(ia.iaid, 0, 0, (StatusCode(SC.NO_BINDING,
                                                        "no binding for this IA_NA"),)))
        return Reply(ctx.msg.transaction_id, tuple(opts))

    _wall_now: float = 0.0
