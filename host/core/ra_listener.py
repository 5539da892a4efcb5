"""Router Advertisement processing for the host (RFC 4861 §6.1.2, §6.3.4;
RFC 4862 §5.5.3), sans-I/O, and the Router Solicitations sent at start.

- Validation (§6.1.2): IPv6 Hop Limit 255, link-local source, ICMP code 0,
  length ≥ 16, no zero-length option (``decode_nd`` raises) — via
  :func:`odm_wire.rules.check_ra_receipt`. A dropped RA yields
  :class:`RaRejected` and changes nothing.
- Routers: every valid RA updates the router list; router lifetime 0 only means
  "not a default router" — the RA's PIOs and M/O flags still count. A router
  absent from the list yields ``RouterSeen(new=True)`` (move detection). A
  lifetime-0 router is remembered for ``router_memory`` seconds.
- PIOs (RFC 4862 §5.5.3 exactly): (a) A flag clear → ignored; (b) link-local
  prefix → ignored; (c) preferred > valid → ignored; (d) a new prefix with a
  non-zero valid lifetime whose length leaves a 64-bit interface identifier
  (:func:`odm_wire.rules.slaac_usable`) → an address is formed; (e) a known
  prefix → preferred lifetime reset; valid lifetime per the two-hour rule.
  RFC 9762: a PIO with the P flag is left to DHCPv6-PD (no SLAAC) when the
  agent does PD. The PIO's low three flag bits give the prefix its mobility type
  (draft-feng §3.1, DESIGN §2; 0 and reserved values = untyped).
- Bounds (issue 13 point 12; the router list and prefix list of RFC 4861 §5.1):
  at most :data:`MAX_ROUTERS` routers and :data:`MAX_ONLINK_PREFIXES` on-link
  prefixes (so SLAAC addresses: the kernel's own ``max_addresses`` default,
  which the agent's addresses would otherwise bypass). An RA from one router
  more is dropped whole (``ra-too-many-routers``); a new PIO past the bound is
  ignored (``pio-too-many-prefixes``); known ones are still refreshed.
"""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

from host.config import Timers
from host.core.droplog import DropLog
from host.core.events import Event, OnLinkPrefix, RaRejected, RouterExpired, RouterSeen
from odm_sansio import Outgoing
from odm_wire import rules
from odm_wire.constants import ALL_ROUTERS, INFINITY, MobilityType
from odm_wire.errors import WireFormatError
from odm_wire.nd import (
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    decode_nd,
    encode_nd,
)

log = logging.getLogger(__name__)

TWO_HOURS = 7200
#: Routers kept at once (a lifetime-0 router counts while remembered).
MAX_ROUTERS = 16
#: On-link (SLAAC) prefixes kept at once, all routers together.
MAX_ONLINK_PREFIXES = 16


@dataclass
class Router:
    """One router on the link (RFC 4861 §6.3.4): link-local address, lifetime
    in seconds, last RA time and flags."""

    address: IPv6Address
    lifetime: int
    last_seen: float
    expires: float
    managed: bool
    other: bool


@dataclass
class SlaacPrefix:
    """A PIO-derived prefix the host formed an address from; ``*_until`` on the
    core clock (``math.inf`` for infinity)."""

    prefix: IPv6Network
    mobility_type: MobilityType | None
    preferred_until: float
    valid_until: float
    router: IPv6Address
    #: when a PIO for it was last heard (core clock)
    heard_at: float = 0.0


def _until(now: float, lifetime: int) -> float:
    return math.inf if lifetime == INFINITY else now + lifetime


class RaListener:
    """RS/RA half of the host core. ``handle_ra`` takes an ICMPv6 message with
    its IPv6 source and hop limit; :attr:`prefixes` and :attr:`routers` hold the
    result. Events: RouterSeen, RouterExpired, OnLinkPrefix, RaRejected."""

    def __init__(self, timers: Timers, *, rng: random.Random | None = None,
                 router_memory: float = 1800.0, does_pd: bool = True,
                 mac: bytes | None = None) -> None:
        self.timers = timers
        self.rng = rng or random.Random()
        self.router_memory = router_memory
        self.does_pd = does_pd
        self.mac = mac
        self.routers: dict[IPv6Address, Router] = {}
        self.prefixes: dict[IPv6Network, SlaacPrefix] = {}
        self._events: deque[Event] = deque()
        self._out: list[Outgoing] = []
        self._rs_at: float | None = None
        self._rs_sent = 0
        self.rejected = 0
        #: RAs dropped, per named reason (host/core/droplog.py)
        self.drops = DropLog(log)
        #: (prefix, reason) of PIOs already logged as not used for SLAAC: a
        #: router repeats its RA every few seconds, the log says it once
        self._told_unusable: set[tuple[IPv6Network, str]] = set()

    # --------------------------------------------------------------- RS --
    def start(self, now: float) -> None:
        """Send Router Solicitations: first after a random delay up to
        MAX_RTR_SOLICITATION_DELAY, then every RTR_SOLICITATION_INTERVAL, at
        most MAX_RTR_SOLICITATIONS, until an RA arrives (RFC 4861 §6.3.7)."""
        self._rs_sent = 0
        self._rs_at = now + self.rng.uniform(0, self.timers.max_rtr_solicitation_delay)

    def solicit_now(self, now: float) -> None:
        """Restart solicitation at once (carrier came back, a move)."""
        self._rs_sent = 0
        self._rs_at = now

    def _send_rs(self) -> None:
        opts = (SourceLinkLayerAddress(self.mac),) if self.mac else ()
        self._out.append(Outgoing(encode_nd(RouterSolicitation(opts)), IPv6Address(ALL_ROUTERS),
                                  "icmp6", None))

    # ---------------------------------------------------------- contract --
    def datagrams_to_send(self) -> list[Outgoing]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        t = math.inf if self._rs_at is None else self._rs_at
        for r in self.routers.values():
            t = min(t, r.expires)
        for p in self.prefixes.values():
            t = min(t, p.valid_until)
        return None if t == math.inf else t

    def handle_timer(self, now: float) -> None:
        if self._rs_at is not None and now >= self._rs_at:
            self._send_rs()
            self._rs_sent += 1
            if self._rs_sent >= self.timers.max_rtr_solicitations:
                self._rs_at = None
            else:
                self._rs_at = now + self.timers.rtr_solicitation_interval
        self._expire_routers(now)
        for net, p in list(self.prefixes.items()):
            if now >= p.valid_until:
                del self.prefixes[net]

    def _expire_routers(self, now: float) -> None:
        for addr, r in list(self.routers.items()):
            if now >= r.expires:
                del self.routers[addr]
                self._events.append(RouterExpired(addr))

    def forget_routers(self) -> None:
        """Drop the router list (carrier loss, a move): the next RA of any
        router is new. Each forgotten router yields :class:`RouterExpired`, so
        the adapter removes the default route through it (a router of the
        previous link must not stay the default after a move; RFC 4861 §6.3.5,
        RFC 6059 §2.3)."""
        for addr in list(self.routers):
            self._events.append(RouterExpired(addr))
        self.routers.clear()

    # --------------------------------------------------------------- RA --
    def handle_ra(self, data: bytes, src: IPv6Address, hop_limit: int, now: float) -> None:
        src = IPv6Address(src)
        try:
            msg = decode_nd(data)
        except WireFormatError as exc:
            self._reject(src, f"malformed: {exc}", now, "ra-malformed")
            return
        if not isinstance(msg, RouterAdvertisement):
            return  # an RS from another host: not ours to answer
        bad = rules.check_ra_receipt(msg, src, hop_limit, len(data))
        if bad:
            self._reject(src, "; ".join(str(v) for v in bad), now, "ra-invalid")
            return
        new = src not in self.routers
        if new and len(self.routers) >= MAX_ROUTERS:
            self._expire_routers(now)
            if len(self.routers) >= MAX_ROUTERS:
                self.drops("ra-too-many-routers", now, "RA from %s dropped: %d routers "
                           "are known on this link already (the most kept)", src, MAX_ROUTERS)
                return
        self._rs_at = None  # an RA ends solicitation
        keep = msg.router_lifetime if msg.router_lifetime else self.router_memory
        before = self.routers.get(src)
        changed = before is None or (before.lifetime, before.managed, before.other) != (
            msg.router_lifetime, msg.managed, msg.other)
        self.routers[src] = Router(src, msg.router_lifetime, now, now + keep, msg.managed,
                                   msg.other)
        self._events.append(RouterSeen(src, msg.router_lifetime, new, msg.managed, msg.other,
                                       changed))
        for pio in msg.prefixes:
            self._pio(pio, src, now)

    def _reject(self, src: IPv6Address, why: str, now: float | None = None,
                name: str = "ra-invalid") -> None:
        self.rejected += 1
        self.drops(name, now, "RA from %s dropped: %s", src, why)
        self._events.append(RaRejected(src, why))

    def forget_prefixes(self, mobility_type: MobilityType,
                        heard_before: float | None = None) -> list[IPv6Network]:
        """Drop the on-link prefixes of ``mobility_type`` (after a link change:
        a NON_PERSISTENT prefix carries no promise to another link, RFC 8653
        §3.2); the next RA that advertises one again makes it new. With
        ``heard_before``, only those last heard before that time (the ones a
        router of the new link advertised since stay). Returns the prefixes
        dropped."""
        gone = [net for net, p in self.prefixes.items() if p.mobility_type is mobility_type
                and (heard_before is None or p.heard_at < heard_before)]
        for net in gone:
            del self.prefixes[net]
        return gone

    def _pio(self, pio, router: IPv6Address, now: float) -> None:
        why = rules.slaac_usable(pio)
        net = IPv6Network((int(pio.prefix), pio.prefix_length), strict=False)
        if why is not None:
            told = (net, str(why))
            if told in self._told_unusable:
                log.debug("PIO %s not used for SLAAC: %s", net, why)
            else:
                if len(self._told_unusable) >= 256:
                    self._told_unusable.clear()
                self._told_unusable.add(told)
                log.info("PIO %s not used for SLAAC: %s", net, why)
            return
        if self.does_pd and pio.pd_preferred:
            log.debug("PIO %s has the P flag: left to DHCPv6-PD (RFC 9762)", net)
            return
        mt = pio.mobility_type if isinstance(pio.mobility_type, MobilityType) else None
        known = self.prefixes.get(net)
        if known is None:
            if pio.valid_lifetime == 0:
                return  # (d) only with a non-zero valid lifetime
            if len(self.prefixes) >= MAX_ONLINK_PREFIXES:
                for old, p in list(self.prefixes.items()):
                    if now >= p.valid_until:
                        del self.prefixes[old]
                if len(self.prefixes) >= MAX_ONLINK_PREFIXES:
                    self.drops("pio-too-many-prefixes", now, "PIO %s from %s ignored: %d "
                               "on-link prefixes are in use already (the most kept)", net,
                               router, MAX_ONLINK_PREFIXES)
                    return
            sp = SlaacPrefix(net, mt, _until(now, pio.preferred_lifetime),
                             _until(now, pio.valid_lifetime), router, now)
            self.prefixes[net] = sp
        else:
            sp = known
            sp.heard_at = now
            sp.preferred_until = _until(now, pio.preferred_lifetime)  # (e)
            sp.mobility_type = mt
            sp.router = router
            adv = pio.valid_lifetime
            remaining = sp.valid_until - now
            if adv == INFINITY or adv > TWO_HOURS or adv > remaining:
                sp.valid_until = _until(now, adv)
            elif remaining <= TWO_HOURS:
                pass  # ignore the advertised valid lifetime (two-hour rule)
            else:
                sp.valid_until = now + TWO_HOURS
            sp.preferred_until = min(sp.preferred_until, sp.valid_until)
        pref = INFINITY if sp.preferred_until == math.inf else max(0, int(sp.preferred_until - now))
        valid = INFINITY if sp.valid_until == math.inf else max(0, int(sp.valid_until - now))
        self._events.append(OnLinkPrefix(net, mt, pref, valid, router))

    # ------------------------------------------------------------ status --
    def snapshot(self, now: float) -> dict:
        return {
            "routers": [{"address": str(r.address), "lifetime": r.lifetime,
                         "age": round(now - r.last_seen, 1), "managed": r.managed,
                         "other": r.other} for r in self.routers.values()],
            "onlink": [{"prefix": str(p.prefix),
                        "type": p.mobility_type.cli_name if p.mobility_type else None,
                        "router": str(p.router)} for p in self.prefixes.values()],
        }
