"""Parsing one ``[[interface]]`` of the router configuration: its RAs
(``[interface.ra]``, ``[[interface.ra.prefix]]``), DHCPv6-PD pools
(``[[interface.pd_pool]]``) and reservations (``[[interface.reservation]]``).

RA keys may be written in snake_case (``max_rtr_adv_interval``) or exactly as
RFC 4861 §6.2.1 spells them (``MaxRtrAdvInterval``); prefix keys likewise
(``adv_valid_lifetime`` / ``AdvValidLifetime``). Under the ``scaled`` timer
profile every *default* duration (RA intervals and lifetimes, pool lifetimes,
stale-prefix time) is multiplied by the profile's scale; values written in
the file are taken as they are.
"""

from __future__ import annotations

import math
from dataclasses import replace
from ipaddress import IPv6Address, IPv6Network

from odm.tomltable import Table, ipv6_prefix
from odm_wire.constants import INFINITY, MobilityType
from router.config.model import (
    ConfigError,
    ConfigWarning,
    InterfaceConfig,
    PdPool,
    RaConfig,
    RaPrefix,
    Reservation,
    TimerProfile,
    parse_duid_text,
    t1_t2,
)

RA_ALIASES = {
    "AdvSendAdvertisements": "adv_send_advertisements",
    "MaxRtrAdvInterval": "max_rtr_adv_interval",
    "MinRtrAdvInterval": "min_rtr_adv_interval",
    "AdvManagedFlag": "adv_managed_flag",
    "AdvOtherConfigFlag": "adv_other_config_flag",
    "AdvLinkMTU": "adv_link_mtu",
    "AdvReachableTime": "adv_reachable_time",
    "AdvRetransTimer": "adv_retrans_timer",
    "AdvCurHopLimit": "adv_cur_hop_limit",
    "AdvDefaultLifetime": "adv_default_lifetime",
    "AdvPrefixList": "prefix",
}
PREFIX_ALIASES = {
    "AdvValidLifetime": "adv_valid_lifetime",
    "AdvOnLinkFlag": "adv_on_link_flag",
    "AdvPreferredLifetime": "adv_preferred_lifetime",
    "AdvAutonomousFlag": "adv_autonomous_flag",
    "AdvRouterAddr": "adv_router_address_flag",
    "DecrementLifetimes": "decrement_lifetimes",
}



class RouterTable(Table):
    """A table of the router configuration: :class:`odm.tomltable.Table`
    raising :class:`ConfigError`, with the router's own value kinds."""

    def __init__(self, data, path: str, aliases: dict[str, str] | None = None, *,
                 error=ConfigError) -> None:
        super().__init__(data, path, aliases, error=error)

    def lifetime(self, name: str, default: int | None) -> int | None:
        """Seconds as an integer 0..0xffffffff, or the string ``infinity``."""
        v = self.get(name, default)
        if v is None:
            return None
        if isinstance(v, str) and v.lower() in ("infinity", "infinite"):
            return INFINITY
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= INFINITY:
            raise ConfigError(self.key(name),
                              f"must be seconds 0..4294967295 or \"infinity\", not {v!r}")
        return v

    def unicast_prefix(self, name: str, why: str) -> IPv6Network:
        """The prefix ``name``, refused with the key named when it is not a
        unicast prefix a router can route or advertise: one holding the
        unspecified address ``::`` (``::/64``, ``::/0``) or the loopback
        ``::1``, or inside the multicast (``ff00::/8``) or link-local
        (``fe80::/10``) space (RFC 4291 §2.4, §2.5.2, §2.5.3, §2.5.6, §2.7).
        ``why``: what such a prefix would be wrong for, with its RFC."""
        net = self.network(name)
        what = not_unicast(net)
        if what:
            raise ConfigError(self.key(name), f"{net} {what}: {why}")
        return net

    def unicast_prefixes(self, name: str, why: str) -> tuple[IPv6Network, ...]:
        """A list of prefixes, each refused as :meth:`unicast_prefix` refuses
        one; an error names the bad one's index."""
        v = self.get(name, []) or []
        if not isinstance(v, list):
            raise ConfigError(self.key(name), f"must be a list of IPv6 prefixes, not {v!r}")
        out = []
        for i, s in enumerate(v):
            try:
                net = ipv6_prefix(s)
            except ValueError as exc:
                raise ConfigError(f"{self.key(name)}[{i}]", str(exc)) from None
            what = not_unicast(net)
            if what:
                raise ConfigError(f"{self.key(name)}[{i}]", f"{net} {what}: {why}")
            out.append(net)
        return tuple(out)

    def unicast_address(self, name: str, why: str) -> IPv6Address:
        """The address ``name``, refused when it is multicast or the
        unspecified address (RFC 4291 §2.5.2, §2.7), as
        :meth:`~odm.tomltable.Table.addresses` with ``unicast`` does; the
        loopback (a one-machine test bed) and a link-local one are taken."""
        a = self.address(name)
        if a.is_multicast or a.is_unspecified:
            raise ConfigError(self.key(name), f"{a} is not a unicast address: {why}")
        return a

    def mobility_type(self, name: str) -> MobilityType | None:
        v = self.get(name)
        if v is None:
            return None
        try:
            return MobilityType.from_name(str(v))
        except ValueError:
            raise ConfigError(self.key(name), f"unknown mobility type {v!r} (fixed, "
                              "session-lasting, non-persistent, graceful-replacement)") from None


_MULTICAST = IPv6Network("ff00::/8")
_LINK_LOCAL = IPv6Network("fe80::/10")
_V4_MAPPED = IPv6Network("::ffff:0:0/96")  # RFC 4291 §2.5.5.2
_LOOPBACK = IPv6Address("::1")


def not_unicast(net: IPv6Network) -> str | None:
    """Why ``net`` is not a unicast prefix (or address, as a /128) of global
    use, in words, or None (see :meth:`RouterTable.unicast_prefix`)."""
    if net.network_address.is_unspecified:
        return "holds the unspecified address ::"
    if _LOOPBACK in net:
        return "holds the loopback address ::1"
    if net.overlaps(_MULTICAST):
        return "is multicast (ff00::/8)"
    if net.overlaps(_LINK_LOCAL):
        return "is link-local (fe80::/10)"
    if net.overlaps(_V4_MAPPED):
        return "is IPv4-mapped (::ffff:0:0/96, never an IPv6 packet's address)"
    return None


def ceil_int(x: float, lo: int = 1) -> int:
    return max(lo, math.ceil(x))


def _slaac_length(p: RouterTable, net: IPv6Network, warn: list[ConfigWarning]) -> None:
    """Warn about a PIO with the autonomous flag that is not a /64: a host
    forms a SLAAC address only when prefix length + interface identifier
    length is 128 (RFC 4862 §5.5.3 d), and identifiers are 64 bits on
    Ethernet and every other IEEE 802 link (RFC 4291 §2.5.1, RFC 7136), so
    hosts ignore it for SLAAC (the PIO is still valid: its on-link flag
    works). radvd warns about this and runs on; so does odm."""
    if net.prefixlen == 64 or not p.bool_("adv_autonomous_flag", True):
        return
    flag = p.spelled.get("adv_autonomous_flag", "adv_autonomous_flag")
    how = "" if p.has("adv_autonomous_flag") else " (its default)"
    warn.append(ConfigWarning(p.key("prefix"), (
        f"{net} is advertised with the autonomous flag{how} but is a /{net.prefixlen}: "
        "hosts form SLAAC addresses only from a /64 (64-bit interface identifiers, RFC 4291 "
        "§2.5.1) and ignore this prefix for SLAAC (RFC 4862 §5.5.3 d); advertise a /64, "
        f"or set {flag} = false if it is meant as on-link only")))


def _parse_ra(t: RouterTable, prof: TimerProfile, name: str,
              warn: list[ConfigWarning]) -> RaConfig:
    s = prof.scale
    # RFC 4861 §6.2.1 (ranges as relaxed by RFC 8319: up to 65535 s)
    max_iv = t.num("max_rtr_adv_interval", 600 * s, lo=4 * s, hi=65535)
    # RFC 4861: 0.33 x Max when Max >= 9 s; below that the RFC says "Max", which
    # its own 0.75 x Max bound forbids, so odm takes 0.75 x Max (at least 3 s).
    min_default = 0.33 * max_iv if max_iv >= 9 * s else max(3 * s, 0.75 * max_iv)
    min_iv = t.num("min_rtr_adv_interval", min_default, lo=3 * s)
    if min_iv > 0.75 * max_iv + 1e-9:
        raise ConfigError(t.key("min_rtr_adv_interval"),
                          f"{min_iv:g} exceeds 0.75 x MaxRtrAdvInterval ({0.75 * max_iv:g}) "
                          "(RFC 4861 §6.2.1)")
    mtu = t.int_("adv_link_mtu", 0, lo=0, hi=0xFFFFFFFF)
    if mtu and mtu < 1280:
        raise ConfigError(t.key("adv_link_mtu"), f"{mtu} is below the IPv6 minimum MTU 1280")
    default_life = t.int_("adv_default_lifetime", ceil_int(3 * max_iv), lo=0, hi=65535)
    if default_life and default_life < max_iv:
        raise ConfigError(t.key("adv_default_lifetime"),
                          f"{default_life} must be 0 or at least MaxRtrAdvInterval "
                          f"({max_iv:g}) (RFC 4861 §6.2.1)")
    prefixes = []
    for p in t.tables("prefix", PREFIX_ALIASES):
        net = p.unicast_prefix("prefix", "not an on-link prefix to advertise (RFC 4861 "
                               "§4.6.2, RFC 4862 §5.5.3)")
        valid = p.lifetime("adv_valid_lifetime", ceil_int(2592000 * s))
        pref = p.lifetime("adv_preferred_lifetime", ceil_int(604800 * s))
        if pref > valid:
            raise ConfigError(p.key("adv_preferred_lifetime"),
                              f"{pref} exceeds the valid lifetime {valid} (RFC 4861 §4.6.2)")
        mt = p.mobility_type("mobility_type")
        _slaac_length(p, net, warn)
        prefixes.append(RaPrefix(
            prefix=net, adv_valid_lifetime=valid, adv_preferred_lifetime=pref,
            adv_on_link_flag=p.bool_("adv_on_link_flag", True),
            adv_autonomous_flag=p.bool_("adv_autonomous_flag", True),
            adv_router_address_flag=p.bool_("adv_router_address_flag", False),
            adv_pd_preferred_flag=p.bool_("adv_pd_preferred_flag", False),
            mobility_type=mt or 0,
            decrement_lifetimes=p.bool_("decrement_lifetimes", False)))
        p.done()
    no_overlap([(pr.prefix, f"{t.path}.prefix[{i}].prefix") for i, pr in enumerate(prefixes)])
    rdnss = t.addresses("rdnss", unicast=True)
    cfg = RaConfig(
        adv_send_advertisements=t.bool_("adv_send_advertisements", False),
        max_rtr_adv_interval=max_iv,
        min_rtr_adv_interval=min_iv,
        adv_managed_flag=t.bool_("adv_managed_flag", False),
        adv_other_config_flag=t.bool_("adv_other_config_flag", False),
        adv_link_mtu=mtu,
        adv_reachable_time=t.int_("adv_reachable_time", 0, lo=0, hi=3600000),
        adv_retrans_timer=t.int_("adv_retrans_timer", 0, lo=0, hi=0xFFFFFFFF),
        adv_cur_hop_limit=t.int_("adv_cur_hop_limit", 64, lo=0, hi=255),
        adv_default_lifetime=default_life,
        prefixes=tuple(prefixes),
        rdnss=rdnss,
        rdnss_lifetime=t.int_("rdnss_lifetime", ceil_int(3 * max_iv), lo=0, hi=0xFFFFFFFF),
        stale_prefix_time=t.num("stale_prefix_time", 7200 * s, lo=0),
        deprecate_prefixes_on_exit=t.bool_("deprecate_prefixes_on_exit", False),
        include_source_link_layer_address=t.bool_("include_source_link_layer_address", True),
    )
    t.done()
    return cfg


def pool_spaces(pools: tuple[PdPool, ...], path: str) -> list[tuple[IPv6Network, str]]:
    """(prefix, key) per address space of ``pools``: pools in a shared space
    (same prefix, same delegated length, all ``shared_space = true``, one
    type each) count once. Raises :class:`ConfigError` for a bad group."""
    out: list[tuple[IPv6Network, str]] = []
    first: dict[IPv6Network, int] = {}
    for i, p in enumerate(pools):
        j = first.get(p.prefix)
        if j is None:
            first[p.prefix] = i
            out.append((p.prefix, f"{path}.pd_pool[{i}].prefix"))
            continue
        q = pools[j]
        if not (p.shared_space and q.shared_space):
            bad = i if not p.shared_space else j
            raise ConfigError(f"{path}.pd_pool[{bad}].shared_space",
                              f"pools {q.name!r} and {p.name!r} have the same prefix "
                              f"{p.prefix}: set shared_space = true on both to share it")
        if p.delegated_length != q.delegated_length:
            raise ConfigError(f"{path}.pd_pool[{i}].delegated_length",
                              f"pools sharing {p.prefix} must delegate one length "
                              f"({q.delegated_length} in {q.name!r})")
        for k, o in enumerate(pools[:i]):
            if o.prefix == p.prefix and o.mobility_type == p.mobility_type:
                raise ConfigError(f"{path}.pd_pool[{i}].mobility_type",
                                  f"pool {o.name!r} (pd_pool[{k}]) already serves this type "
                                  f"from {p.prefix}")
    return out


def no_overlap(nets: list[tuple[IPv6Network, str]]) -> None:
    for i, (a, ka) in enumerate(nets):
        for b, kb in nets[:i]:
            if a.overlaps(b):
                raise ConfigError(ka, f"{a} overlaps {b} ({kb})")


def _check_timers(t: RouterTable, pref: int, valid: int, t1: int | None, t2: int | None) -> None:
    if pref > valid:
        raise ConfigError(t.key("preferred_lifetime"),
                          f"{pref} exceeds the valid lifetime {valid} (RFC 8415 §21.22)")
    T1, T2 = t1_t2(pref, t1, t2)
    if T1 > T2:
        raise ConfigError(t.key("t1" if t1 is not None else "t2"),
                          f"T1 {T1} exceeds T2 {T2} (RFC 8415 §21.21)")
    if pref != INFINITY and pref < T2:
        raise ConfigError(t.key("t2" if t2 is not None else "t1"),
                          f"T2 {T2} exceeds the preferred lifetime {pref} (RFC 8415 §21.21)")


def _parse_pool(t: RouterTable, prof: TimerProfile) -> PdPool:
    s = prof.scale
    name = t.str_("name", required=True)
    net = t.unicast_prefix("prefix", "not a prefix to delegate (RFC 8415 §6.3: delegated "
                           "prefixes are routed to the requesting router)")
    dl = t.int_("delegated_length", None, lo=1, hi=128)
    if dl is None:
        raise ConfigError(t.key("delegated_length"), "is required")
    if dl < net.prefixlen:
        raise ConfigError(t.key("delegated_length"),
                          f"{dl} is shorter than the pool prefix length {net.prefixlen}")
    pref = t.lifetime("preferred_lifetime", ceil_int(3600 * s))
    valid = t.lifetime("valid_lifetime", ceil_int(7200 * s))
    t1 = t.lifetime("t1", None)
    t2 = t.lifetime("t2", None)
    _check_timers(t, pref, valid, t1, t2)
    if valid == 0:
        raise ConfigError(t.key("valid_lifetime"), "must be greater than 0")
    pool = PdPool(name=name, prefix=net, delegated_length=dl, preferred_lifetime=pref,
                  valid_lifetime=valid, t1=t1, t2=t2,
                  mobility_type=t.mobility_type("mobility_type"),
                  shared_space=t.bool_("shared_space", False))
    t.done()
    return pool


def _parse_reservation(t: RouterTable) -> Reservation:
    text = t.str_("duid", required=True)
    try:
        duid = parse_duid_text(text)
    except ValueError as exc:
        raise ConfigError(t.key("duid"), str(exc)) from None
    r = Reservation(
        duid=duid, prefix=t.unicast_prefix("prefix", "not a prefix to delegate (RFC 8415 "
                                           "§6.3)"),
        iaid=t.int_("iaid", None, lo=0, hi=0xFFFFFFFF),
        mobility_type=t.mobility_type("mobility_type") or MobilityType.FIXED,
        preferred_lifetime=t.lifetime("preferred_lifetime", None),
        valid_lifetime=t.lifetime("valid_lifetime", None),
        t1=t.lifetime("t1", None), t2=t.lifetime("t2", None))
    if r.preferred_lifetime is not None and r.valid_lifetime is not None:
        _check_timers(t, r.preferred_lifetime, r.valid_lifetime, r.t1, r.t2)
    t.done()
    return r


def _resolve_reservation(r: Reservation, pools: tuple[PdPool, ...], prof: TimerProfile
                         ) -> Reservation:
    if r.preferred_lifetime is not None and r.valid_lifetime is not None:
        return r
    same = [p for p in pools if p.mobility_type == r.mobility_type]
    if same:
        pref, valid = same[0].preferred_lifetime, same[0].valid_lifetime
        t1 = r.t1 if r.t1 is not None else same[0].t1
        t2 = r.t2 if r.t2 is not None else same[0].t2
    else:
        pref, valid = ceil_int(604800 * prof.scale), ceil_int(2592000 * prof.scale)
        t1, t2 = r.t1, r.t2
    pref = r.preferred_lifetime if r.preferred_lifetime is not None else pref
    valid = r.valid_lifetime if r.valid_lifetime is not None else valid
    return replace(r, preferred_lifetime=min(pref, valid), valid_lifetime=valid, t1=t1, t2=t2)


def parse_interface(t: RouterTable, prof: TimerProfile,
                    warn: list[ConfigWarning] | None = None) -> InterfaceConfig:
    """One ``[[interface]]``; what is valid but probably not meant is
    appended to ``warn`` (:class:`ConfigWarning`)."""
    name = t.str_("name", required=True)
    if not name or len(name) > 15 or "/" in name or " " in name:
        raise ConfigError(t.key("name"), f"{name!r} is not a Linux interface name")
    ra = _parse_ra(t.table("ra", RA_ALIASES), prof, name, [] if warn is None else warn)
    pools = tuple(_parse_pool(p, prof) for p in t.tables("pd_pool"))
    seen = {}
    for i, p in enumerate(pools):
        if p.name in seen:
            raise ConfigError(f"{t.path}.pd_pool[{i}].name",
                              f"pool name {p.name!r} already used by pd_pool[{seen[p.name]}]")
        seen[p.name] = i
    no_overlap(pool_spaces(pools, t.path)
                + [(r.prefix, f"{t.path}.ra.prefix[{i}].prefix")
                   for i, r in enumerate(ra.prefixes)])
    res = tuple(_parse_reservation(r) for r in t.tables("reservation"))
    for i, r in enumerate(res):
        k = f"{t.path}.reservation[{i}].prefix"
        for j, o in enumerate(res[:i]):
            if r.prefix.overlaps(o.prefix):
                raise ConfigError(k, f"{r.prefix} overlaps reservation[{j}] {o.prefix}")
            if r.duid == o.duid and r.iaid == o.iaid and r.mobility_type == o.mobility_type:
                raise ConfigError(f"{t.path}.reservation[{i}].duid",
                                  f"the same DUID/IAID/type is reserved in reservation[{j}]")
        for rp in ra.prefixes:
            if r.prefix.overlaps(rp.prefix):
                raise ConfigError(k, f"{r.prefix} overlaps the on-link prefix {rp.prefix}")
        for p in pools:
            if r.prefix.overlaps(p.prefix) and not (
                    r.prefix.subnet_of(p.prefix) and r.prefix.prefixlen == p.delegated_length):
                raise ConfigError(k, f"{r.prefix} overlaps pool {p.name!r} ({p.prefix}) but is "
                                  f"not one of its /{p.delegated_length} prefixes")
    res = tuple(_resolve_reservation(r, pools, prof) for r in res)
    if t.has("offered_types"):
        raw = t.get("offered_types")
        if not isinstance(raw, list):
            raise ConfigError(t.key("offered_types"), "must be a list of mobility types")
        offered = []
        for v in raw:
            try:
                offered.append(MobilityType.from_name(str(v)))
            except ValueError:
                raise ConfigError(t.key("offered_types"), f"unknown mobility type {v!r}") \
                    from None
        for m in offered:
            if not any(p.mobility_type == m for p in pools) and not any(
                    r.mobility_type == m for r in res):
                raise ConfigError(t.key("offered_types"),
                                  f"{m.cli_name} is offered but no pd_pool or reservation "
                                  "serves it")
        offered_t = tuple(dict.fromkeys(offered))
    else:
        offered_t = tuple(m for m in MobilityType
                          if any(p.mobility_type == m for p in pools)
                          or any(r.mobility_type == m for r in res))
    pd_allocator = t.str_("pd_allocator", "iterative")
    if pd_allocator not in ("iterative", "random"):
        raise ConfigError(t.key("pd_allocator"),
                          f"must be \"iterative\" or \"random\", not {pd_allocator!r}")
    default_pool = t.str_("default_pool")
    if default_pool is None:
        untyped = [p for p in pools if p.mobility_type is None]
        default_pool = untyped[0].name if untyped else None
    elif default_pool not in seen:
        raise ConfigError(t.key("default_pool"), f"no pd_pool named {default_pool!r}")
    savi = t.bool_("source_address_validation", True)
    sources = t.unicast_prefixes("source_prefixes", "not a source prefix a host can "
                                 "send from (RFC 4291 §2.5)")
    t.done()
    return replace(InterfaceConfig(name=name), ra=ra, pools=pools, reservations=res,
                   offered_types=offered_t, default_pool=default_pool,
                   pd_allocator=pd_allocator, source_address_validation=savi,
                   source_prefixes=sources)

