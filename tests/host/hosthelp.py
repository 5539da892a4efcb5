"""Helpers for the host-core tests: a fake clock, a scripted DHCPv6 server that
answers the client's own messages, RA builders."""

from __future__ import annotations

import random
from ipaddress import IPv6Address, IPv6Network

from host.config import HostConfig
from odm_sansio import linksim
from odm_wire import constants as C
from odm_wire import dhcp6
from odm_wire.constants import MobilityType
from odm_wire.nd import PrefixInformation, RouterAdvertisement, encode_nd

SERVER = dhcp6.DuidLL(1, b"\x02\x00\x00\x00\x00\x01")
CLIENT = dhcp6.DuidLL(1, b"\x02\x00\x00\x00\x00\x02")
SERVER_LL = IPv6Address("fe80::ff:fe00:1")
ROUTER_LL = IPv6Address("fe80::ff:fe00:1")
CLIENT_LL = IPv6Address("fe80::ff:fe00:2")


def config(**kw) -> HostConfig:
    base = {"iface": "mh0", "first_solicit_delay": False, "rapid_commit": False,
                "secret": "00" * 16}
    base.update(kw)
    return HostConfig(**base).validate()


def rng(seed: int = 1) -> random.Random:
    return random.Random(seed)


def decoded(outgoing) -> list:
    return [dhcp6.decode_dhcp6(o.payload) for o in outgoing if o.kind == "dhcp6"]


def prefix(text: str, pl: int = 3000, vl: int = 4000, t=None, extra=()) -> dhcp6.IAPrefix:
    net = IPv6Network(text)
    opts = tuple(extra)
    if t is not None:
        opts = (dhcp6.mobility_type_option(t),) + opts
    return dhcp6.IAPrefix(pl, vl, net.prefixlen, net.network_address, opts)


def answer(cls, req, prefixes=(), *, t1=1000, t2=2000, status=None, iaid=None,
           pref=None, top_type=None, supported=None, server=SERVER, client=None, xid=None,
           extra=(), rapid=False, ia_status=None, extra_ia=()):
    """An Advertise/Reply to the client message ``req`` (decoded)."""
    iaid = req.ia_pds[0].iaid if iaid is None else iaid
    ia_opts = tuple(prefixes)
    if ia_status is not None:
        ia_opts += (dhcp6.StatusCode(ia_status, "scripted"),)
    opts = [dhcp6.ClientId(client or req.client_duid), dhcp6.ServerId(server)]
    if status is not None:
        opts.append(dhcp6.StatusCode(status, "top"))
    if pref is not None:
        opts.append(dhcp6.Preference(pref))
    if rapid:
        opts.append(dhcp6.RapidCommit())
    if top_type is not None:
        opts.append(dhcp6.mobility_type_option(top_type))
    if supported is not None:
        opts.append(dhcp6.OdmVendorOpts((dhcp6.SupportedTypesSubOption(tuple(supported)),)))
    opts.append(dhcp6.IAPD(iaid, t1, t2, ia_opts))
    opts.extend(extra_ia)
    opts.extend(extra)
    return dhcp6.encode_dhcp6(cls(req.transaction_id if xid is None else xid, tuple(opts)))


def advertise(req, prefixes=(), **kw) -> bytes:
    return answer(dhcp6.Advertise, req, prefixes, **kw)


def reply(req, prefixes=(), **kw) -> bytes:
    return answer(dhcp6.Reply, req, prefixes, **kw)


def ra(pios=(), *, lifetime=1800, managed=False, other=False, code=0, extra=()) -> bytes:
    return encode_nd(RouterAdvertisement(64, managed, other, lifetime, 0, 0,
                                         tuple(pios) + tuple(extra), code=code))


def pio(text: str, pl=1800, vl=3600, t=0, a=True, on_link=True, p=False) -> PrefixInformation:
    net = IPv6Network(text)
    return PrefixInformation(net.prefixlen, net.network_address, vl, pl, on_link, a, False, p, t)


def drain(core) -> list:
    """Every event the core has queued, in order."""
    out = []
    while (e := core.next_event()) is not None:
        out.append(e)
    return out


def of(evs, cls) -> list:
    """The events in ``evs`` of exactly type ``cls``."""
    return [e for e in evs if type(e) is cls]


class ScriptedServer:
    """A DHCPv6 server on a link (:mod:`odm_sansio.linksim`) at ``src`` with
    DUID ``server``, answering a client's own messages: Advertise (Preference
    255) to a Solicit, Reply to a Request (and to a Renew when ``answers``
    lists it), an empty Reply (T1 = T2 = 0) to a Release; only the message
    types in ``answers`` are answered.

    What is delegated: with ``grants`` (mobility type, None for untyped →
    prefix text), ``grants[type]``, and a type it does not name (or names
    with None) gets the IA_PD status NoPrefixAvail; without, a listed prefix
    is granted as is, otherwise a fresh /56 per acquisition,
    ``2001:db8:<type><n>::/56`` (``legacy`` for untyped ones when given).
    ``lifetimes``: (preferred, valid) of the grants, ``timers``: (T1, T2);
    other keywords (``supported=``, ``top_type=``, ...) go to every
    Advertise and Reply but the one to a Release (:func:`answer`)."""

    def __init__(self, legacy: str | None = None, lifetimes: tuple[int, int] | None = None,
                 timers: tuple[int, int] | None = None, *,
                 grants: dict[MobilityType | None, str | None] | None = None,
                 server: dhcp6.Duid = SERVER, src: IPv6Address = SERVER_LL,
                 answers: tuple[type, ...] = (dhcp6.Solicit, dhcp6.Request, dhcp6.Release),
                 **kw) -> None:
        self.legacy = legacy
        self.lifetimes = lifetimes
        self.timers = timers
        self.grants = grants
        self.server = server
        self.src = src
        self.answers = answers
        self.kw = kw
        self.n = 0
        self.sent: list = []

    def serve(self, c, now: float, rounds: int = 4) -> linksim.Link:
        """Join ``c`` to this server on a link at ``now`` and answer for at
        most ``rounds`` rounds (:func:`serve`)."""
        return serve(c, now, self, rounds=rounds)

    def _prefixes(self, m, t) -> tuple[list[dhcp6.IAPrefix], dict]:
        """The IAPREFIXes granted to ``m`` (of type ``t``) and, when none
        is, the status that says so."""
        life = {} if self.lifetimes is None else {"pl": self.lifetimes[0],
                                                  "vl": self.lifetimes[1]}
        if self.grants is not None:
            g = self.grants.get(t)
            if not g:
                return [], {"ia_status": C.StatusCode.NO_PREFIX_AVAIL}
            return [prefix(g, t=t, **life)], {}
        ia = m.ia_pds[0]
        if ia.prefixes and int(ia.prefixes[0].prefix):
            p = IPv6Network((ia.prefixes[0].prefix, ia.prefixes[0].prefix_length))
        else:
            self.n += 1
            p = IPv6Network(self.legacy) if t is None and self.legacy else \
                IPv6Network(f"2001:db8:{0 if t is None else int(t)}{self.n:03x}::/56")
        return [prefix(str(p), t=t, **life)], {}

    def _answer(self, payload: bytes, kind: str, src) -> bytes | None:
        if kind != "dhcp6":
            return None
        m = dhcp6.decode_dhcp6(payload)
        self.sent.append(m)
        if type(m) not in self.answers:
            return None
        if type(m) is dhcp6.Release:
            return reply(m, [], t1=0, t2=0, server=self.server)
        ia = m.ia_pds[0]
        t = ia.prefixes[0].mobility_type if ia.prefixes else None
        pf, status = self._prefixes(m, t)
        kw = {} if self.timers is None else {"t1": self.timers[0], "t2": self.timers[1]}
        kw.update(self.kw, server=self.server, **status)
        if type(m) is dhcp6.Solicit:
            return advertise(m, pf, pref=255, **kw)
        if type(m) in (dhcp6.Request, dhcp6.Renew):
            return reply(m, pf, **kw)
        return None


def serve(c, now: float, *servers: ScriptedServer, rounds: int = 4) -> linksim.Link:
    """Host core ``c`` and ``servers`` on one link (:mod:`odm_sansio.linksim`,
    the host at ``CLIENT_LL``, each server at its ``src``) whose clock stands
    at ``now``: what ``c`` sent is delivered and answered for at most
    ``rounds`` rounds (a round: every server receives what the host sent, then
    the host receives the servers' answers, server by server in the order
    given). ``c``'s events stay queued for the test; returns the link."""
    link = linksim.Link(now, rounds=rounds)
    link.add("host", c, CLIENT_LL)
    for i, s in enumerate(servers):
        link.add(f"server{i}", linksim.Sink(s._answer), s.src)
    link.pump()
    return link


def alone(c, now: float = 0.0) -> tuple[linksim.Link, list]:
    """Host core ``c`` alone on a link (:mod:`odm_sansio.linksim`) whose clock
    starts at ``now``, for running its timers (``link.run_until``,
    ``link.wait_for``); nothing answers. The list gets every datagram ``c``
    sends as (the link's clock when it left, :class:`~odm_sansio.Outgoing`)."""
    sent: list = []
    link = linksim.Link(now, on_send=lambda m, out: sent.append((link.now, out)))
    link.add("host", c, CLIENT_LL)
    return link, sent


__all__ = [
    "CLIENT",
    "ROUTER_LL",
    "SERVER",
    "SERVER_LL",
    "C",
    "MobilityType",
    "ScriptedServer",
    "advertise",
    "alone",
    "answer",
    "config",
    "decoded",
    "drain",
    "of",
    "pio",
    "prefix",
    "ra",
    "reply",
    "rng",
    "serve",
]
