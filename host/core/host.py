"""The host agent's core: RA listener + DHCPv6-PD client + addresses + setsc(),
behind the shared sans-I/O contract (``handle_datagram``, ``handle_timer``,
``get_timer``, ``datagrams_to_send``, ``next_event``).

Events out (in order; an address is always announced before the setsc answer
that hands it out): everything the PD client and the RA listener emit
(PrefixBound, PrefixRenewed, PrefixDeprecated, PrefixExpired, PrefixRemoved,
RequestFailed, ServerSeen, RouterSeen, RouterExpired, OnLinkPrefix, RaRejected),
then AddressAdded / AddressUpdated / AddressRemoved for the netlink adapter,
SetscCompleted for the API server, AppNotification and ReleaseDecided.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter, deque
from ipaddress import IPv6Address

from host.config import HostConfig
from host.core import moves
from host.core.addresses import AddressManager
from host.core.droplog import DropLog
from host.core.events import (
    AppNotification,
    Event,
    FailureReason,
    OnLinkPrefix,
    PrefixBound,
    PrefixDeprecated,
    PrefixExpired,
    PrefixRemoved,
    PrefixRenewed,
    ReleaseDecided,
    RequestFailed,
    RouterSeen,
    SetscCompleted,
)
from host.core.pd_client import IaState, PdClient
from host.core.policy import Policy, Principal, charge_key, charges, default_policy
from host.core.privacy import Rotation
from host.core.ra_listener import RaListener
from host.core.saved_state import Adopted, export_host, restore_host
from host.core.setsc import Pending, Reference, held_address, parse_address_type
from host.core.status import status
from host.core.trust import TrustFilter
from odm_sansio import Outgoing
from odm_wire.constants import MobilityType
from odm_wire.dhcp6 import Duid, encode_duid

log = logging.getLogger(__name__)


class HostCore:
    """One interface's host agent state machine.

    ``duid``: the client DUID; ``secret``: key of the stable interface
    identifiers (octets); ``mac``: link-layer address for the RS's SLLA option.
    API inputs: :meth:`start`, :meth:`setsc`, :meth:`close_owner`,
    :meth:`address_ready`, :meth:`address_dad_failed`, :meth:`rebind_all`,
    :meth:`release_all`, :meth:`link_up`.

    ``policy``: who may ask for what (:mod:`host.core.policy`; default: the built-in
    policy), applied to setsc() calls that carry a :class:`Principal`;
    ``trust``: whose RAs and DHCPv6 answers count (:mod:`host.core.trust`; default:
    from ``config``, which trusts everyone unless told otherwise; a
    Reconfigure is never accepted).
    """

    def __init__(self, config: HostConfig, duid: Duid, secret: bytes = b"odm", *,
                 mac: bytes | None = None, rng: random.Random | None = None,
                 policy: Policy | None = None, trust: TrustFilter | None = None) -> None:
        self.config = config
        self.rng = rng or random.Random()
        self.pd = PdClient(config, duid, rng=self.rng,
                           iaid_key=secret + config.iface.encode() + encode_duid(duid))
        self.ra = RaListener(config.timers, rng=self.rng, router_memory=config.router_memory,
                             mac=mac)
        self._events: deque[Event] = deque()
        # address events go straight out, in order with the others
        self.addrs = AddressManager(config.iface, secret, mode=config.iid, rng=self.rng,
                                    events=self._events)
        self.pending: dict[int, Pending] = {}
        self.refs: dict[int, Reference] = {}
        self.started_at: float | None = None
        #: routers seen since the last carrier change (move detection,
        #: host/core/moves.py)
        self.link_routers: set[IPv6Address] = set()
        #: when the carrier was lost, until it comes back (:mod:`host.core.moves`)
        self.carrier_lost_at: float | None = None
        self.policy = policy if policy is not None else default_policy()
        self.trust = trust if trust is not None else TrustFilter.from_config(config)
        self.pd.trust = self.trust
        #: owner → who it is (from the API connection's credentials)
        self.principals: dict[int, Principal] = {}
        #: IAID of an on-demand IA_PD → uid whose setsc() started it (quota charge)
        self.acquirer: dict[int, int] = {}
        #: setsc() refusals by kind ("type", "quota", "quota-total",
        #: "quota-users", "rate")
        self.denied: Counter = Counter()
        #: unused kept prefixes released to make room under a quota
        self.reclaimed = 0
        self._restored = False
        #: privacy: address lifetimes by time or octets sent (host/core/privacy.py)
        self.rotation = Rotation.from_config(config)
        #: local faults (exceptions in odm's code while handling a datagram),
        #: counted and logged apart from bad input (host/core/status.py)
        self.faults = DropLog(log)

    # --------------------------------------------------------------- API --
    def start(self, now: float) -> None:
        """Send RSs and start the legacy IA_PD and boot types. After
        :meth:`restore_state`: Rebind every restored IA_PD (RFC 8415 §18.2.12,
        a client that restarted) and acquire only the legacy IA_PD / boot
        types that were not restored."""
        self.started_at = now
        self.ra.start(now)
        if self._restored:
            have = {ia.mobility_type for ia in self.pd.ias.values() if ia.persistent}
            wanted = ([None] if self.config.legacy_pd else []) + list(self.config.boot_types)
            self.pd.rebind_all(now)
            for t in wanted:
                if t not in have:
                    self.pd.acquire(t, now, persistent=True, via="solicit")
                    have.add(t)
        else:
            self.pd.start(now)
        self._pump(now)

    def export_state(self, owners: dict[int, dict] | None = None) -> dict:
        """The core's durable state as JSON-able data (:mod:`host.core.saved_state`;
        the adapter writes it, :mod:`host.state`). ``owners``: owner id →
        ``{"pid", "inode", "fd"}`` of its application socket; only references
        of owners in it are kept."""
        return export_host(self, owners)

    def restore_state(self, doc: dict, now: float, elapsed: float) -> list[Adopted]:
        """Take back the state a previous run of the agent saved
        (:meth:`export_state`), before :meth:`start`. ``elapsed``: wall-clock
        seconds since it was written. Returns the adopted references the
        adapter must watch. Raises ValueError for a state of another version
        or DUID."""
        adopted = restore_host(self, doc, now, elapsed)
        self._restored = True
        return adopted

    @property
    def restored(self) -> bool:
        """Whether :meth:`restore_state` took back a previous run's state."""
        return self._restored

    def link_up(self, now: float) -> None:
        """Carrier came back: the host may be on another link (a move,
        RFC 8653 §4.2); what happens to each type's addresses and leases:
        :mod:`host.core.moves`."""
        moves.link_changed(self, now, lambda net, why: self._address_gone(net, why, now))
        self._pump(now)

    def link_down(self, now: float) -> None:
        """Carrier lost: the routers go, the bindings stay (:mod:`host.core.moves`)."""
        moves.link_lost(self, now)
        self._pump(now)

    def renew_all(self, now: float) -> None:
        """``odm host renew``: Renew every bound IA_PD now (RFC 8415 §18.2.4)."""
        self.pd.renew_all(now)
        self._pump(now)

    def rebind_all(self, now: float) -> None:
        """``odm host rebind``: Rebind every bound IA_PD now (RFC 8415 §18.2.12;
        the operator asked, nothing to spread)."""
        self.pd.rebind_all(now, delay=False)
        self._pump(now)

    def release_all(self, now: float) -> None:
        """Shutdown: release every delegated prefix."""
        self.pd.release_all(now)
        self._pump(now)

    def setsc(self, request_id: int, owner: int, address_type, now: float, *,
              on_net: bool = False, timeout: float | None = None,
              principal: Principal | None = None) -> None:
        """A setsc() call from ``owner`` (spec §6.1): answered by a
        :class:`SetscCompleted` with ``request_id`` — at once when an address of
        the type is held and ON_NET is clear, else once the network answered or
        ``timeout`` (default ``config.setsc_timeout``) seconds passed. A second
        setsc() from the same owner replaces its reference — except that the
        same type without ON_NET, while the owner's address is usable, gets
        that address again (its reference is not dropped, so the release
        policy does not run).

        With a ``principal`` (the caller's uid/gids) the :attr:`policy` is asked
        first; a refusal is answered at once with FailureReason.DENIED
        (``ODM_POLICY_DENIED``), logged, counted, and nothing is sent.
        Without ON_NET an address already charged to the caller's uid is
        preferred over other usable ones."""
        t = parse_address_type(address_type)
        if t is None:
            self._events.append(SetscCompleted(request_id, None, FailureReason.NOTSUPPORTED,
                                               f"address type {address_type!r} is reserved"))
            return
        held = None if on_net else held_address(self.refs, self.addrs.by_address, owner, t, now)
        if held is not None:
            self._events.append(SetscCompleted(request_id, held))
            return
        cands = [] if on_net else self.addrs.usable(t, now)
        if principal is not None:
            self.principals[owner] = principal
            charges = self.charges()
            charged = charges.get((principal.uid, t), set())
            mine = [a for a in cands if charge_key(a) in charged]
            if mine:
                cands = mine
            d = self._check(principal, t, on_net, not mine, charges, now)
            if not d.allowed and d.kind.startswith("quota") and self._make_room(
                    principal.uid, t, owner, now):
                d = self._check(principal, t, on_net, not mine, self.charges(), now)
            if not d.allowed:
                self.denied[d.kind] += 1
                log.warning("setsc(%s%s) by uid %d pid %s denied: %s", t.name,
                            ", ON_NET" if on_net else "", principal.uid, principal.pid,
                            d.detail)
                self._events.append(SetscCompleted(request_id, None, FailureReason.DENIED,
                                                   d.detail))
                return
        self._drop_ref(owner, now)
        if not on_net:
            cands = [a for a in cands if a.usable(now) and a.address in self.addrs.by_address]
            if cands:
                self._complete(request_id, owner, cands[0].address, t, now)
                return
        timeout = self.config.setsc_timeout if timeout is None else timeout
        p = Pending(request_id, owner, t, on_net, now + timeout, started=now)
        if not on_net:
            for ia in self.pd.ias.values():
                if ia.mobility_type == t and ia.state in (IaState.SOLICITING,
                                                          IaState.REQUESTING):
                    p.iaid = ia.iaid
                    break
            if p.iaid is None and any(a.mobility_type == t and not a.deprecated
                                      for a in self.addrs.by_prefix.values()):
                self.pending[request_id] = p  # an address in DAD: wait for it
                return
        if p.iaid is None:
            p.iaid = self.pd.acquire(t, now, share=None if principal is None
                                     else principal.uid)
            if principal is not None:
                self.acquirer[p.iaid] = principal.uid
        self.pending[request_id] = p
        self._pump(now)

    def held_address(self, owner: int, address_type, now: float) -> IPv6Address | None:
        """What :meth:`setsc` without ON_NET answers at once, reading only: the
        usable address of ``address_type`` that ``owner`` holds (None: ask
        :meth:`setsc`). The adapter answers such a call itself, with no
        request, event, datagram or timer (host/core/setsc.py, first rule)."""
        return held_address(self.refs, self.addrs.by_address, owner,
                            parse_address_type(address_type), now)

    def _check(self, principal: Principal, t: MobilityType, on_net: bool, new_charge: bool,
               charges: dict, now: float):
        return self.policy.check_charged(principal, t, on_net=on_net, new_charge=new_charge,
                                         charges=charges, now=now)

    def _make_room(self, uid: int, t: MobilityType, owner: int, now: float) -> bool:
        """``uid`` is at a quota: release the oldest on-demand prefix it
        acquired that no socket uses and no request waits for (kept by the
        release policy), of type ``t`` first; never a FIXED one. True when one
        was released (host/core/policy.py)."""
        spare = []
        for iaid, u in self.acquirer.items():
            ia = self.pd.ias.get(iaid)
            if (u != uid or ia is None or ia.persistent or not ia.leases
                    or ia.state == IaState.RELEASING
                    or ia.mobility_type in (None, MobilityType.FIXED)):
                continue
            if any(p.iaid == iaid for p in self.pending.values()):
                continue
            held = [a for a in self.addrs.by_prefix.values() if a.iaid == iaid]
            if any(a.refs - {owner} for a in held):
                continue
            spare.append(ia)
        if not spare:
            return False
        ia = next((x for x in spare if x.mobility_type == t), spare[0])
        assert ia.mobility_type is not None  # untyped IA_PDs are never spare (above)
        log.info("uid %d at its quota: its unused %s prefix (IA_PD 0x%08x) released to make room",
                 uid, ia.mobility_type.name, ia.iaid)
        self.reclaimed += 1
        for a in [a for a in self.addrs.by_prefix.values() if a.iaid == ia.iaid]:
            for o in list(a.refs):  # only ``owner``'s, which it is replacing
                self._drop_ref(o, now, apply_policy=False)
        self.pd.release(ia.iaid, now)
        self._pump(now)
        return True

    def charges(self) -> dict[tuple[int, MobilityType], set]:
        """(uid, type) → the addresses charged to that uid
        (:func:`host.core.policy.charges`)."""
        return charges(self.acquirer, self.pd.ias, self.refs, self.principals,
                       self.addrs.by_address)

    def charged(self, uid: int, t: MobilityType) -> set:
        """The addresses of type ``t`` charged to ``uid`` (:meth:`charges`)."""
        return self.charges().get((uid, t), set())

    def close_owner(self, owner: int, now: float) -> None:
        """``owner``'s socket is closed or its process is gone: its reference and
        pending requests end; on the last reference the release policy applies."""
        for rid, p in list(self.pending.items()):
            if p.owner == owner:
                del self.pending[rid]
                self._maybe_cancel(p.iaid, now)
        self._drop_ref(owner, now)
        self.principals.pop(owner, None)
        self._pump(now)

    def drop_reference(self, owner: int, now: float) -> None:
        """``owner`` no longer holds the address it was just given (its
        answer could not be made durable): the reference goes, and on the last
        one the release policy applies; the owner may ask again."""
        self._drop_ref(owner, now)
        self._pump(now)

    def address_ready(self, address: IPv6Address, now: float) -> None:
        """The kernel finished DAD for ``address``."""
        a = self.addrs.mark_ready(address)
        if a is not None:
            self._address_usable(a, now)

    def address_dad_failed(self, address: IPv6Address, now: float) -> None:
        self.addrs.dad_failed(address, now)

    def address_bytes(self, counts: dict, now: float) -> None:
        """The kernel's octets sent so far per source address (``{address:
        octets}``, nftables counters); an address over ``address_max_bytes``
        is rotated (host/core/privacy.py)."""
        for addr, n in counts.items():
            self.rotation.note_octets(IPv6Address(addr), n)
        self._rotate(now)
        self._pump(now)

    # ----------------------------------------------------------- privacy --
    def _rotate(self, now: float) -> None:
        """Rotate due addresses; release drained ones (host/core/privacy.py)."""
        rot = self.rotation
        if not rot.tracked:
            return
        for tr in rot.due(now):
            a = self.addrs.by_address.get(tr.address)
            ia = self.pd.ias.get(tr.iaid)
            if a is None or ia is None:
                rot.forget(tr.address)
                continue
            if ia.persistent:
                tr.replacement = self.pd.acquire(ia.mobility_type, now, persistent=True)
                log.info("privacy: %s due (age %.0f s, %d octets): acquiring its replacement",
                         tr.address, now - tr.born, tr.octets)
            else:
                self._retire(tr, now)
        for tr in rot.tracked.values():  # replacements that failed
            if tr.replacement is not None and tr.replacement not in self.pd.ias:
                log.info("privacy: replacement of %s not obtained; again in %g s",
                         tr.address, rot.retry)
                tr.replacement = None
                tr.next_try = now + rot.retry
        for tr in rot.drained(now):
            a = self.addrs.by_address.get(tr.address)
            if a is None:
                rot.forget(tr.address)
            elif not a.refs:
                log.info("privacy: %s drained; releasing its prefix", tr.address)
                rot.forget(tr.address)
                if self.pd.ias.get(tr.iaid) is not None:
                    self.pd.release(tr.iaid, now)
                else:
                    self._address_gone(a.prefix, "retired", now)

    def _retire(self, tr, now: float) -> None:
        """No new use of ``tr``'s address: deprecated (kernel and setsc()),
        left to drain while referenced."""
        ia = self.pd.ias.get(tr.iaid)
        if ia is not None:
            ia.persistent = False
        tr.retired_at = now
        self.rotation.rotations += 1
        a = self.addrs.deprecate(tr.prefix, now)
        log.info("privacy: %s retired (age %.0f s, %d octets, %d socket(s) still on it)",
                 tr.address, now - tr.born, tr.octets, len(a.refs) if a else 0)
        if a is not None and a.refs:
            self._events.append(AppNotification(tuple(sorted(a.refs)), {
                "event": "address-deprecated", "address": str(a.address),
                "type": a.mobility_type.cli_name if a.mobility_type else None,
                "reason": "privacy", "valid_for": None}))

    # ---------------------------------------------------------- contract --
    def handle_datagram(self, data: bytes, src: IPv6Address, now: float, *, kind: str = "dhcp6",
                        hop_limit: int = 255, ifname: str | None = None) -> None:
        """One datagram from ``src`` (``kind`` "dhcp6" or "icmp6"). Bad input
        from the peer is dropped, logged and counted by the part that judges
        it (``drops``, ``received-dropped``); an exception raised by odm's own
        code while handling it — a bug, a local fault — is caught, counted as
        ``internal-errors`` apart from the bad input, and logged at ERROR;
        the core keeps serving (:mod:`host.core.status`)."""
        try:
            self._handle_datagram(data, src, now, kind, hop_limit)
        except Exception as exc:  # a bug must not stop the agent
            self.faults("internal-errors", now, "error handling a %s datagram from %s on %s "
                        "(a bug in odm: please report it with this line): %r", kind, src,
                        self.config.iface, exc, level=logging.ERROR)
            log.debug("traceback", exc_info=True)

    def _handle_datagram(self, data: bytes, src: IPv6Address, now: float, kind: str,
                         hop_limit: int) -> None:
        if kind == "icmp6":
            if self.trust.routers and data[:1] == b"\x86" and not self.trust.ra_allowed(src, now):
                return  # an RA from a router we were told not to trust
            self.ra.handle_ra(data, src, hop_limit, now)
        else:
            if not self.trust.dhcp_allowed(data, src, now):
                return  # Reconfigure, or an untrusted server: no state changes
            self.pd.handle_datagram(data, src, now, kind=kind)
        self._pump(now)

    def handle_timer(self, now: float) -> None:
        self.pd.handle_timer(now)
        self.ra.handle_timer(now)
        self._pump(now)
        # RA prefixes that ran out, addresses past their valid lifetime
        for net, a in list(self.addrs.by_prefix.items()):
            if (a.source == "ra" and net not in self.ra.prefixes) or now >= a.valid_until:
                self._address_gone(net, "expired", now)
        for p in list(self.pending.values()):
            if now >= p.deadline:
                reason = self.pd.failure_reason(p.mobility_type)
                self._fail(p, reason, f"no {p.mobility_type.name} prefix within "
                           f"{p.deadline - p.started:g} s")
                self._maybe_cancel(p.iaid, now)
        self._rotate(now)
        self._pump(now)

    def get_timer(self) -> float | None:
        ts = [t for t in (self.pd.get_timer(), self.ra.get_timer()) if t is not None]
        ts += [p.deadline for p in self.pending.values()]
        ts += [a.valid_until for a in self.addrs.by_prefix.values() if a.valid_until != math.inf]
        rt = self.rotation.next_deadline() if self.rotation.tracked else None
        if rt is not None:
            ts.append(rt)
        return min(ts) if ts else None

    def datagrams_to_send(self) -> list[Outgoing]:
        return self.ra.datagrams_to_send() + self.pd.datagrams_to_send()

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # ------------------------------------------------------------ wiring --
    def _pump(self, now: float) -> None:
        while True:
            ev = self.pd.next_event() or self.ra.next_event()
            if ev is None:
                return
            self._events.append(ev)
            self._react(ev, now)

    def _react(self, ev: Event, now: float) -> None:
        # the PD client's and RA listener's events (no subclasses of each other)
        if isinstance(ev, (PrefixBound, PrefixRenewed)):
            bound = isinstance(ev, PrefixBound)
            ia = self.pd.ias.get(ev.iaid)
            lease = ia.leases.get(ev.prefix) if ia else None
            if lease is None:
                return
            a = self.addrs.add_delegated(ev.prefix, ev.mobility_type, lease.preferred_until,
                                         lease.valid_until, ev.iaid, now)
            tr = self.rotation.tracked.get(a.address)
            if tr is not None and tr.retired_at is not None:
                self.addrs.deprecate(ev.prefix, now)  # renewed, but retired: no new use
            elif bound and self.rotation.applies(ev.mobility_type, a.source):
                self.rotation.track(a.address, ev.prefix, ev.iaid, now)
                old = self.rotation.by_replacement(ev.iaid)
                if old is not None:
                    old.replacement = None
                    self._retire(old, now)
            if bound:
                self._address_usable(a, now)
                if not a.refs and ia is not None and not ia.persistent and not any(
                        p.iaid == ev.iaid for p in self.pending.values()):
                    self._last_ref_gone(a, now)
        elif isinstance(ev, PrefixDeprecated):
            d = self.addrs.deprecate(ev.prefix, now, ev.valid_until)
            if d is not None and d.refs:
                self._events.append(AppNotification(
                    tuple(sorted(d.refs)), moves.deprecation_notice(d, ev.valid_until, now)))
        elif isinstance(ev, PrefixExpired):
            self._address_gone(ev.prefix, "expired", now)
        elif isinstance(ev, PrefixRemoved):
            self._address_gone(ev.prefix, ev.reason, now)
        elif isinstance(ev, RequestFailed):
            for p in list(self.pending.values()):
                if p.iaid == ev.iaid:
                    self._fail(p, ev.reason, ev.detail)
            self._maybe_cancel(ev.iaid, now)
        elif isinstance(ev, RouterSeen):
            moves.router_seen(self, ev.router, ev.lifetime, now)
        elif isinstance(ev, OnLinkPrefix):
            if ev.mobility_type is not None:
                self.pd.note_network_types((ev.mobility_type,))
            sp = self.ra.prefixes.get(ev.prefix)
            if sp is None:
                return
            a = self.addrs.add_onlink(ev.prefix, ev.mobility_type, sp.preferred_until,
                                      sp.valid_until, now)
            self._address_usable(a, now)

    def _address_usable(self, a, now: float) -> None:
        if not a.usable(now):
            return
        for rid, p in list(self.pending.items()):
            if p.mobility_type != a.mobility_type:
                continue
            if p.on_net and p.iaid != a.iaid:
                continue
            self._complete(rid, p.owner, a.address, p.mobility_type, now)

    def _address_gone(self, prefix, reason: str, now: float) -> None:
        a = self.addrs.remove(prefix, reason)
        if a is None:
            return
        self.rotation.forget(a.address)
        if a.refs:
            owners = tuple(sorted(a.refs))
            for o in owners:
                self.refs.pop(o, None)
            self._events.append(AppNotification(owners, {
                "event": "address-gone", "address": str(a.address),
                "type": a.mobility_type.cli_name if a.mobility_type else None,
                "reason": reason}))

    def _complete(self, request_id: int, owner: int, address: IPv6Address, t: MobilityType,
                  now: float) -> None:
        p = self.pending.pop(request_id, None)
        a = self.addrs.by_address.get(address)
        if a is None:
            return
        self._drop_ref(owner, now, apply_policy=False)
        a.refs.add(owner)
        self.refs[owner] = Reference(owner, address, t, now)
        self._events.append(SetscCompleted(request_id, address))
        if p is not None and p.iaid is not None and p.iaid != a.iaid:
            self._maybe_cancel(p.iaid, now)

    def _fail(self, p: Pending, reason: FailureReason, detail: str) -> None:
        self.pending.pop(p.request_id, None)
        self._events.append(SetscCompleted(p.request_id, None, reason, detail))

    def _maybe_cancel(self, iaid: int | None, now: float) -> None:
        """Stop an on-demand acquisition nobody waits for any more."""
        if iaid is None:
            return
        ia = self.pd.ias.get(iaid)
        if ia is None or ia.persistent or ia.leases:
            return
        if any(p.iaid == iaid for p in self.pending.values()):
            return
        self.pd.cancel(iaid, now)

    def _drop_ref(self, owner: int, now: float, *, apply_policy: bool = True) -> None:
        ref = self.refs.pop(owner, None)
        if ref is None:
            return
        a = self.addrs.by_address.get(ref.address)
        if a is None:
            return
        a.refs.discard(owner)
        if not a.refs and apply_policy:
            self._last_ref_gone(a, now)

    def _last_ref_gone(self, a, now: float) -> None:
        if a.source != "dhcpv6-pd" or a.mobility_type is None or a.iaid is None:
            return
        ia = self.pd.ias.get(a.iaid)
        if ia is None or ia.persistent:
            return
        action = self.config.policy_for(a.mobility_type)
        self._events.append(ReleaseDecided(a.address, a.mobility_type, action))
        if action == "release":
            self.pd.release(a.iaid, now)
            self._pump(now)

    # ------------------------------------------------------------ status --
    def status(self, now: float) -> dict:
        """Everything ``odm host status`` shows, as plain JSON-able data
        (:func:`host.core.status.status`)."""
        return status(self, now)
