"""Sans-I/O Router Advertisement sender of one interface (RFC 4861 §6.2).

:class:`RaSender` decides *when* to multicast an RA and *what* it carries; the
adapter only moves bytes. Timing (RFC 4861 §6.2.4–§6.2.6, constants from the
configured :class:`~router.config.TimerProfile`):

* unsolicited RAs at intervals drawn uniformly from [MinRtrAdvInterval,
  MaxRtrAdvInterval]; the first MAX_INITIAL_RTR_ADVERTISEMENTS at most
  MAX_INITIAL_RTR_ADVERT_INTERVAL apart, the very first at start-up;
* a valid RS is answered by a multicast RA after a random delay in
  [0, MAX_RA_DELAY_TIME], unless an RA is already due by then;
* no two multicast RAs closer than MIN_DELAY_BETWEEN_RAS (§6.2.6), and every
  multicast RA restarts the unsolicited timer (§6.2.4);
* on shutdown, MAX_FINAL_RTR_ADVERTISEMENTS RAs with router lifetime 0 (§6.2.5),
  still spaced by MIN_DELAY_BETWEEN_RAS. An RA with router lifetime 0 is never
  sent at start-up (unless AdvDefaultLifetime is configured as 0).

Content: M/O flags, hop limit, router lifetime, reachable time, retrans timer,
the source link-layer address, MTU, RDNSS (RFC 8106), and one PIO per on-link
prefix with its mobility type in the low three flag bits (DESIGN §2).
Advertised lifetimes never exceed what remains of a prefix
(``valid_until``/``preferred_until``, or DecrementLifetimes). A withdrawn or
replaced prefix stays in the RAs with preferred 0 and valid 0 for
``stale_prefix_time`` (RFC 9096-style stale PIOs, odhcpd's and radvd's
DeprecatePrefix in spirit), and the next few RAs come at the initial fast
cadence so hosts hear it soon. :meth:`add_stale_prefix` announces a prefix this
router never owned (e.g. a moved host's old prefix) the same way.
"""

from __future__ import annotations

import logging
import random
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from ipaddress import IPv6Address, IPv6Network

from odm_sansio import Outgoing
from odm_wire.constants import ALL_NODES, INFINITY, MobilityType
from odm_wire.errors import WireFormatError
from odm_wire.nd import (
    Mtu,
    NdOption,
    PrefixInformation,
    Rdnss,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    decode_nd,
    encode_nd,
)
from odm_wire.rules import check_rs_receipt
from router.config import InterfaceConfig, RaPrefix, TimerProfile
from router.core.events import Event, RaShutdownComplete

__all__ = ["AdvertisedPrefix", "RaSender"]

log = logging.getLogger("router.ra")

_ALL_NODES = IPv6Address(ALL_NODES)
#: Room for options in one RA: IPv6 minimum MTU - IPv6 header - RA header.
_RA_ROOM = 1280 - 40 - 16


@dataclass(slots=True)
class AdvertisedPrefix:
    """One PIO this interface advertises. Lifetimes in seconds (0xffffffff =
    infinity); ``valid_until``/``preferred_until``: monotonic deadlines that
    cap what is advertised (None = no cap); ``stale_until``: set once the
    prefix is withdrawn — it is then advertised with 0/0 until that time."""

    prefix: IPv6Network
    valid_lifetime: int
    preferred_lifetime: int
    on_link: bool = True
    autonomous: bool = True
    router_address: bool = False
    pd_preferred: bool = False
    mobility_type: MobilityType | int = 0
    valid_until: float | None = None
    preferred_until: float | None = None
    stale_until: float | None = None

    def lifetimes(self, now: float) -> tuple[int, int]:
        """(valid, preferred) to advertise at ``now``."""
        if self.stale_until is not None:
            return 0, 0
        v, p = self.valid_lifetime, self.preferred_lifetime
        if self.valid_until is not None:
            v = min(v, _left(self.valid_until, now))
        if self.preferred_until is not None:
            p = min(p, _left(self.preferred_until, now))
        return v, min(p, v)


def _left(until: float, now: float) -> int:
    if until == float("inf"):
        return INFINITY
    return max(0, min(INFINITY - 1, int(until - now)))


class RaSender:
    """RA scheduling and content of one interface (module docstring).

    ``iface``: the interface configuration (its ``ra`` table); ``timers``: the
    timer profile; ``rng``: a :class:`random.Random` (seed it in tests);
    ``link_layer_address``: the interface MAC for the SLLA option (None: no
    SLLA). Call :meth:`start` once with the current time.
    """

    def __init__(self, iface: InterfaceConfig, timers: TimerProfile,
                 rng: random.Random | None = None, *,
                 link_layer_address: bytes | None = None) -> None:
        self.iface = iface
        self.ifname = iface.name
        self.cfg = iface.ra
        self.timers = timers
        self.rng = rng or random.Random()
        self.lla = link_layer_address
        self.enabled = self.cfg.adv_send_advertisements
        self.prefixes: dict[IPv6Network, AdvertisedPrefix] = {}
        self.stats: Counter = Counter(dict.fromkeys((
            "ra-sent", "ra-unsolicited-sent", "ra-solicited-sent", "ra-final-sent",
            "rs-received", "rs-dropped", "ra-received", "ra-inconsistent",
            "icmp6-parse-failed", "icmp6-internal-errors"), 0))
        self._out: list[Outgoing] = []
        self._events: deque[Event] = deque()
        self._started = False
        self._stopping = False
        self._finished = False
        self._initial_left = 0
        self._next_unsolicited: float | None = None
        self._rs_due: float | None = None
        self._last_mcast: float | None = None
        self._final_left = 0
        self._final_due: float | None = None
        self._last_bad: dict[str, float] = {}
        self._previous: RaSender | None = None
        self._ceasing = False

    # ------------------------------------------------------------ prefixes
    def _from_config(self, p: RaPrefix, now: float) -> AdvertisedPrefix:
        ap = AdvertisedPrefix(
            p.prefix, p.adv_valid_lifetime, p.adv_preferred_lifetime, p.adv_on_link_flag,
            p.adv_autonomous_flag, p.adv_router_address_flag, p.adv_pd_preferred_flag,
            p.mobility_type)
        if p.decrement_lifetimes:
            ap.valid_until = (float("inf") if p.adv_valid_lifetime == INFINITY
                              else now + p.adv_valid_lifetime)
            ap.preferred_until = (float("inf") if p.adv_preferred_lifetime == INFINITY
                                  else now + p.adv_preferred_lifetime)
        return ap

    def set_prefix(self, prefix: IPv6Network, now: float, *, valid_lifetime: int,
                   preferred_lifetime: int, on_link: bool = True, autonomous: bool = True,
                   mobility_type: MobilityType | int = 0, pd_preferred: bool = False,
                   router_address: bool = False, valid_until: float | None = None,
                   preferred_until: float | None = None) -> None:
        """Advertise ``prefix`` from now on (or update how it is advertised).
        Lifetimes in seconds; ``*_until``: monotonic deadlines that cap them
        (e.g. the end of the delegation the prefix comes from). A stale prefix
        set again becomes live. Raises ValueError if preferred > valid or the
        type does not fit 3 bits."""
        if preferred_lifetime > valid_lifetime:
            raise ValueError(f"preferred lifetime {preferred_lifetime} > valid "
                             f"{valid_lifetime} (RFC 4861 §4.6.2)")
        if not 0 <= int(mobility_type) <= 7:
            raise ValueError(f"mobility type {mobility_type} does not fit the PIO's 3 bits")
        self.prefixes[prefix] = AdvertisedPrefix(
            prefix, valid_lifetime, preferred_lifetime, on_link, autonomous, router_address,
            pd_preferred, mobility_type, valid_until, preferred_until)

    def withdraw_prefix(self, prefix: IPv6Network, now: float,
                        duration: float | None = None) -> bool:
        """Stop offering ``prefix``: it stays in the RAs with preferred 0 and
        valid 0 for ``duration`` seconds (default ``stale_prefix_time``), and
        the next RAs come at the initial fast cadence. Returns False if it was
        not advertised."""
        ap = self.prefixes.get(prefix)
        if ap is None:
            return False
        if ap.stale_until is None:
            ap.stale_until = now + (self.cfg.stale_prefix_time if duration is None
                                    else duration)
            self._hurry(now)
        return True

    def replace_prefix(self, old: IPv6Network, new: IPv6Network, now: float, **pio) -> None:
        """Withdraw ``old`` and advertise ``new`` (keyword arguments as for
        :meth:`set_prefix`, defaulting to ``old``'s lifetimes, flags, type)."""
        ap = self.prefixes.get(old)
        if ap is not None:
            for k in ("valid_lifetime", "preferred_lifetime", "on_link", "autonomous",
                      "mobility_type", "pd_preferred", "router_address"):
                pio.setdefault(k, getattr(ap, k))
        self.set_prefix(new, now, **pio)
        self.withdraw_prefix(old, now)

    def add_stale_prefix(self, prefix: IPv6Network, now: float, duration: float | None = None,
                         *, mobility_type: MobilityType | int = 0) -> None:
        """Announce ``prefix`` — one this router may never have advertised,
        such as a moved host's old prefix — with preferred 0 and valid 0 for
        ``duration`` seconds (default ``stale_prefix_time``), so hosts drop it."""
        if prefix in self.prefixes and self.prefixes[prefix].stale_until is None:
            self.withdraw_prefix(prefix, now, duration)
            return
        self.prefixes[prefix] = AdvertisedPrefix(
            prefix, 0, 0, True, True, mobility_type=mobility_type,
            stale_until=now + (self.cfg.stale_prefix_time if duration is None else duration))
        self._hurry(now)

    def advertised(self, now: float) -> list[dict]:
        """What the next RA would say about each prefix (for status)."""
        out = []
        for ap in self.prefixes.values():
            v, p = ap.lifetimes(now)
            mt = ap.mobility_type
            out.append({"interface": self.ifname, "prefix": str(ap.prefix),
                        "valid": v, "preferred": p, "stale": ap.stale_until is not None,
                        # as in the config files; a reserved value as its number
                        "mobility-type": (mt.cli_name if isinstance(mt, MobilityType)
                                          else "legacy" if not mt else int(mt))})
        return out

    # ----------------------------------------------------------- lifecycle
    def start(self, now: float, stale: Iterable[IPv6Network] = ()) -> None:
        """Become an advertising interface at ``now``: the configured prefixes,
        plus ``stale`` ones (advertised before a restart, not configured any
        more) withdrawn; the first RA is due at once, and the next
        MAX_INITIAL_RTR_ADVERTISEMENTS-1 come at the initial fast cadence
        (RFC 4861 §6.2.4). After :meth:`take_over` (a reload) see there."""
        if self._started:
            return
        self._started = True
        old, self._previous = self._previous, None
        for p in self.cfg.prefixes:
            self.prefixes[p.prefix] = self._from_config(p, now)
        if old is not None:
            self._keep_prefixes(old, now)
        for net in stale:
            if net not in self.prefixes:
                self.add_stale_prefix(net, now)
        was_advertising = (old is not None and old.enabled and old._started
                           and not old._stopping)
        if not self.enabled:
            if was_advertising:
                self._cease(now)
            return
        if was_advertising and old is not None:
            self._continue(old, now)
            return
        self._initial_left = self.timers.max_initial_rtr_advertisements
        self._next_unsolicited = now

    def take_over(self, old: RaSender) -> None:
        """Continue the sender this one replaces (a reload; call before
        :meth:`start`): its counters, the time of its last multicast RA (no
        two closer than MIN_DELAY_BETWEEN_RAS, RFC 4861 §6.2.6), the
        withdrawn prefixes it still announces, the countdown of a
        DecrementLifetimes prefix whose configuration is unchanged, and —
        at :meth:`start` — its pacing (:meth:`_continue`)."""
        self.stats.update(old.stats)
        self._last_mcast = old._last_mcast
        self._previous = old

    def _keep_prefixes(self, old: RaSender, now: float) -> None:
        """Prefixes of ``old`` carried into this sender at a reload: a
        configured one whose PIO configuration is unchanged keeps its
        deadlines (a DecrementLifetimes countdown does not restart); one no
        longer configured is withdrawn (0 lifetimes for
        ``stale_prefix_time``, RFC 4861 §6.2.4's MAY), or stays withdrawn
        until its own stale time."""
        old._expire_stale(now)
        was = {p.prefix: p for p in old.cfg.prefixes}
        now_cfg = {p.prefix: p for p in self.cfg.prefixes}
        for net, ap in old.prefixes.items():
            if net in self.prefixes:
                if ap.stale_until is None and was.get(net) == now_cfg.get(net):
                    self.prefixes[net] = replace(ap)
            elif ap.stale_until is not None:
                self.prefixes[net] = replace(ap)
            else:
                self.prefixes[net] = replace(
                    ap, stale_until=now + self.cfg.stale_prefix_time)

    def _cease(self, now: float) -> None:
        """RFC 4861 §6.2.5: an interface that ceases to be an advertising
        interface (AdvSendAdvertisements set to FALSE by a reload) sends
        MAX_FINAL_RTR_ADVERTISEMENTS RAs with router lifetime 0, so hosts
        stop using it as a default router at once; the agent goes on."""
        self._ceasing = True
        self._final_left = self.timers.max_final_rtr_advertisements
        self._final_due = self._allowed(now)

    def _continue(self, old: RaSender, now: float) -> None:
        """Pacing after a reload. RFC 4861 §6.2.4: the initial fast RAs are
        for an interface that *becomes* an advertising interface; when the
        information a router advertises changes it MAY send some too. So:
        if the RA this sender would send now is the one ``old`` would have
        sent, the reload changes nothing on the wire — ``old``'s schedule
        goes on (its next unsolicited RA, capped at the new
        MaxRtrAdvInterval; any RS answer still due; what is left of an
        initial burst). If the content changed, the fast RAs begin, no
        sooner than MIN_DELAY_BETWEEN_RAS after the last one (§6.2.6)."""
        self._rs_due = old._rs_due
        if [encode_nd(ra) for ra in old.build(now)] == [encode_nd(ra) for ra in self.build(now)]:
            self._initial_left = old._initial_left
            nxt = old._next_unsolicited
            cap = now + self.cfg.max_rtr_adv_interval
            self._next_unsolicited = cap if nxt is None else min(nxt, cap)
            return
        self._initial_left = self.timers.max_initial_rtr_advertisements
        self._next_unsolicited = self._allowed(now)

    def shutdown(self, now: float) -> None:
        """Cease advertising (RFC 4861 §6.2.5): MAX_FINAL_RTR_ADVERTISEMENTS
        RAs with router lifetime 0, then :class:`RaShutdownComplete`."""
        if self._stopping:
            return
        self._stopping = True
        self._next_unsolicited = None
        self._rs_due = None
        if self._ceasing:  # final RAs under way already: they end it
            return
        if not (self.enabled and self._started):
            self._finish()
            return
        self._final_left = self.timers.max_final_rtr_advertisements
        self._final_due = self._allowed(now)

    @property
    def finished(self) -> bool:
        """True once the final RAs are all out (or there were none to send)."""
        return self._finished

    def _finish(self) -> None:
        if not self._finished:
            self._finished = True
            self._events.append(RaShutdownComplete(self.ifname))

    def _allowed(self, t: float) -> float:
        """The earliest time ≥ ``t`` a multicast RA may go (§6.2.6)."""
        if self._last_mcast is None:
            return t
        return max(t, self._last_mcast + self.timers.min_delay_between_ras)

    def _hurry(self, now: float) -> None:
        if not (self.enabled and self._started) or self._stopping:
            return
        self._initial_left = max(self._initial_left, self.timers.max_initial_rtr_advertisements)
        due = self._allowed(now)
        if self._next_unsolicited is None or due < self._next_unsolicited:
            self._next_unsolicited = due

    def _interval(self) -> float:
        c = self.cfg
        iv = self.rng.uniform(c.min_rtr_adv_interval, c.max_rtr_adv_interval)
        if self._initial_left > 0:
            iv = min(iv, self.timers.max_initial_rtr_advert_interval)
        return iv

    # ------------------------------------------------------------ contract
    def handle_datagram(self, data: bytes, src: IPv6Address, now: float, *,
                        kind: str = "icmp6", hop_limit: int = 255,
                        ifname: str | None = None) -> None:
        """Feed one ICMPv6 message (RS, or another router's RA) received with
        IPv6 ``hop_limit``. Invalid ones are counted and dropped (§6.1.1): a
        remote fault, one INFO line. An exception of the sender's own is a
        local fault, apart: counted ``icmp6-internal-errors`` and logged with
        its traceback (as :mod:`router.core.faults` does for DHCPv6). It
        never raises."""
        try:
            msg = decode_nd(data)
        except WireFormatError as exc:
            self.stats["icmp6-parse-failed"] += 1
            self._bad("parse", now, "%s: malformed ICMPv6 from %s dropped: %s",
                      self.ifname, src, exc, level=logging.INFO)
            return
        try:
            if isinstance(msg, RouterSolicitation):
                self.handle_rs(msg, src, hop_limit, now)
            else:
                self._check_foreign_ra(msg, src, hop_limit, now)
        except Exception:  # noqa: BLE001 - a bug must not stop the agent: logged with its traceback
            self.stats["icmp6-internal-errors"] += 1
            self._bad("internal", now, "%s: internal error handling %s from %s (a bug in odm: "
                      "please report it with this traceback)", self.ifname,
                      type(msg).__name__, src, level=logging.ERROR, exc_info=True)

    def handle_rs(self, rs: RouterSolicitation, src: IPv6Address, hop_limit: int,
                  now: float) -> None:
        """RFC 4861 §6.2.6: schedule a multicast RA within MAX_RA_DELAY_TIME,
        respecting MIN_DELAY_BETWEEN_RAS."""
        self.stats["rs-received"] += 1
        bad = check_rs_receipt(rs, src, hop_limit)
        if bad:
            self.stats["rs-dropped"] += 1
            self._bad("rs", now, "%s: invalid RS from %s dropped: %s", self.ifname, src,
                      "; ".join(map(str, bad)), level=logging.INFO)
            return
        if not (self.enabled and self._started) or self._stopping:
            return
        due = now + self.rng.uniform(0, self.timers.max_ra_delay_time)
        if self._next_unsolicited is not None and self._next_unsolicited <= due:
            return  # an RA is already due sooner (§6.2.6)
        if self._rs_due is not None:
            return
        self._rs_due = self._allowed(due)

    def handle_timer(self, now: float) -> None:
        """Send whatever RA is due at ``now``."""
        if self._stopping or self._ceasing:
            if self._final_due is not None and now >= self._final_due:
                self._emit(now, final=True)
                self.stats["ra-final-sent"] += 1
                self._final_left -= 1
                if self._final_left > 0:
                    self._final_due = self._allowed(now)
                else:
                    self._final_due = None
                    self._ceasing = False
                    if self._stopping:
                        self._finish()
            return
        self._expire_stale(now)
        fire = False
        solicited = False
        if self._rs_due is not None and now >= self._rs_due:
            fire = solicited = True
        if self._next_unsolicited is not None and now >= self._next_unsolicited:
            fire = True
            solicited = False
        if not fire:
            return
        allowed = self._allowed(now)
        if allowed > now:  # too soon after the last one: wait
            if self._rs_due is not None:
                self._rs_due = max(self._rs_due, allowed)
            if self._next_unsolicited is not None and self._next_unsolicited <= now:
                self._next_unsolicited = allowed
            return
        self._emit(now, final=False)
        self.stats["ra-solicited-sent" if solicited else "ra-unsolicited-sent"] += 1
        self._rs_due = None
        if self._initial_left > 0:
            self._initial_left -= 1
        self._next_unsolicited = now + self._interval()

    def get_timer(self) -> float | None:
        """Monotonic time of the next RA, or None."""
        if self._stopping or self._ceasing:
            return self._final_due
        ts = [t for t in (self._next_unsolicited, self._rs_due) if t is not None]
        stale = [ap.stale_until for ap in self.prefixes.values() if ap.stale_until is not None]
        if stale and ts:
            ts.append(min(stale))
        return min(ts) if ts else None

    def datagrams_to_send(self) -> list[Outgoing]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # -------------------------------------------------------------- content
    def _expire_stale(self, now: float) -> None:
        for p in [p for p, ap in self.prefixes.items()
                  if ap.stale_until is not None and now >= ap.stale_until]:
            del self.prefixes[p]
        for ap in self.prefixes.values():  # a decremented prefix that ran out
            if ap.stale_until is None and ap.valid_until is not None and ap.valid_until <= now:
                ap.stale_until = now + self.cfg.stale_prefix_time

    def build(self, now: float, final: bool = False) -> list[RouterAdvertisement]:
        """The RA(s) to multicast at ``now`` (more than one only when the PIOs
        do not fit the IPv6 minimum MTU). ``final``: router lifetime 0 (and
        preferred 0 with ``deprecate_prefixes_on_exit``)."""
        c = self.cfg
        head: list[NdOption] = []
        if self.lla is not None and c.include_source_link_layer_address:
            head.append(SourceLinkLayerAddress(self.lla))
        if c.adv_link_mtu:
            head.append(Mtu(c.adv_link_mtu))
        if c.rdnss:
            head.append(Rdnss(c.rdnss_lifetime, c.rdnss))
        pios = []
        for ap in self.prefixes.values():
            v, p = ap.lifetimes(now)
            if final and c.deprecate_prefixes_on_exit:
                p = 0
            pios.append(PrefixInformation(
                ap.prefix.prefixlen, ap.prefix.network_address, v, p, ap.on_link,
                ap.autonomous, ap.router_address, ap.pd_preferred, ap.mobility_type))
        room = _RA_ROOM - sum(len(o.encode()) for o in head)
        per = max(1, room // 32)
        chunks = [pios[i:i + per] for i in range(0, len(pios), per)] or [[]]
        return [RouterAdvertisement(
            cur_hop_limit=c.adv_cur_hop_limit, managed=c.adv_managed_flag,
            other=c.adv_other_config_flag,
            router_lifetime=0 if final else c.adv_default_lifetime,
            reachable_time=c.adv_reachable_time, retrans_timer=c.adv_retrans_timer,
            options=tuple(head) + tuple(ch)) for ch in chunks]

    def _emit(self, now: float, final: bool) -> None:
        for ra in self.build(now, final):
            self._out.append(Outgoing(encode_nd(ra), _ALL_NODES, "icmp6", None))
            self.stats["ra-sent"] += 1
        self._last_mcast = now

    # ---------------------------------------------------------- foreign RA
    def _bad(self, kind: str, now: float, fmt: str, *args, level: int = logging.WARNING,
             exc_info: bool = False) -> None:
        """One line per ``kind`` every 10 s at most: bad input from the wire
        at INFO, the sender's own faults at ERROR, another router's RA that
        disagrees with ours at WARNING (RFC 4861 §6.2.7: an operator's
        matter)."""
        t = self._last_bad.get(kind)
        if t is not None and now - t < 10.0:
            return
        self._last_bad[kind] = now
        log.log(level, fmt, *args, exc_info=exc_info or None)

    def _check_foreign_ra(self, ra: RouterAdvertisement, src: IPv6Address, hop_limit: int,
                          now: float) -> None:
        """RFC 4861 §6.2.7: log (rate-limited) where another router's RA
        disagrees with ours; never acted upon."""
        self.stats["ra-received"] += 1
        if hop_limit != 255 or not src.is_link_local:
            return
        c = self.cfg
        diffs = []
        if ra.cur_hop_limit and c.adv_cur_hop_limit and ra.cur_hop_limit != c.adv_cur_hop_limit:
            diffs.append(f"CurHopLimit {ra.cur_hop_limit} vs {c.adv_cur_hop_limit}")
        if ra.managed != c.adv_managed_flag:
            diffs.append(f"M {int(ra.managed)} vs {int(c.adv_managed_flag)}")
        if ra.other != c.adv_other_config_flag:
            diffs.append(f"O {int(ra.other)} vs {int(c.adv_other_config_flag)}")
        mtu = ra.get(Mtu)
        if mtu is not None and c.adv_link_mtu and mtu.mtu != c.adv_link_mtu:
            diffs.append(f"MTU {mtu.mtu} vs {c.adv_link_mtu}")
        for pio in ra.prefixes:
            try:
                net = IPv6Network((pio.prefix, pio.prefix_length))
            except ValueError:
                continue
            ap = self.prefixes.get(net)
            if ap is None or ap.valid_until is not None or ap.stale_until is not None:
                continue
            if pio.valid_lifetime != ap.valid_lifetime:
                diffs.append(f"{net} valid {pio.valid_lifetime} vs {ap.valid_lifetime}")
            if pio.preferred_lifetime != ap.preferred_lifetime:
                diffs.append(f"{net} preferred {pio.preferred_lifetime} vs "
                             f"{ap.preferred_lifetime}")
        if diffs:
            self.stats["ra-inconsistent"] += 1
            self._bad("inconsistent", now, "%s: RA from %s is inconsistent with ours: %s",
                      self.ifname, src, ", ".join(diffs))
