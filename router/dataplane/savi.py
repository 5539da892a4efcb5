"""Source address validation on the access links: ingress filtering (BCP 38,
RFC 2827; RFC 3704 §2.1), the prefix-level check of SAVI (RFC 7039 §3).

A packet a host sends through the router must come from a prefix the router
gives its link: a prefix of the link's RAs (PIO) or of one of its delegation
pools. A prefix served here for another anchor (a moved SESSION_LASTING,
FIXED or GRACEFUL_REPLACEMENT prefix) has its own source rule at
:data:`~router.dataplane.common.RULE_PRIORITY`, added by the data plane
(:meth:`~router.dataplane.base.Backend.uplink`), which comes first. Anything
else from the link is dropped by the kernel: the old link's NON_PERSISTENT
address a host goes on using after a move (RFC 8653 §3.2: no promise on
another link; the anchoring router has no route back for it) and any spoofed
source.

Policy routing, per access interface (lower priorities are looked at first;
the ``local`` rule at 0 keeps every packet for the router itself; link-local
sources are never forwarded)::

    32000: iif IFACE from PREFIX lookup main      (one per allowed prefix)
    32001: iif IFACE blackhole

Needs CONFIG_IPV6_MULTIPLE_TABLES, as the mobility data plane does; where the
kernel refuses the rules, :func:`install` says so in one line and the link
forwards every source, as a router without filtering does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from ipaddress import IPv6Network

from pyroute2 import NetlinkError

from router.dataplane import common

__all__ = ["ALLOW_PRIORITY", "DROP_PRIORITY", "allowed_prefixes", "install", "remove"]

log = logging.getLogger("router.agent")

#: Priority of the ``iif IFACE from PREFIX lookup main`` rules.
ALLOW_PRIORITY = 32000
#: Priority of the ``iif IFACE blackhole`` rule.
DROP_PRIORITY = 32001
_BLACKHOLE = "FR_ACT_BLACKHOLE"
_EEXIST, _ENOENT = 17, 2


def allowed_prefixes(ic) -> list[IPv6Network]:
    """The source prefixes of the hosts of interface config ``ic``: its RA
    prefixes, its pools' prefixes, its reserved prefixes (which may lie
    outside every pool, as Kea's) and its ``source_prefixes`` (networks
    behind a router on the link), each once, in config order."""
    out = dict.fromkeys([*(p.prefix for p in ic.ra.prefixes), *(p.prefix for p in ic.pools),
                         *(r.prefix for r in ic.reservations), *ic.source_prefixes])
    return list(out)


def _add(ipr, **rule) -> None:
    try:
        ipr.rule("add", family=10, **rule)
    except NetlinkError as exc:
        if exc.code != _EEXIST:
            raise


def install(ipr, ifname: str, prefixes: Iterable[IPv6Network]) -> bool:
    """Filter what interface ``ifname`` forwards to ``prefixes`` (see the
    module docstring); the rules of an earlier call for ``ifname`` are
    replaced. False, with one line saying why, when the kernel refuses."""
    try:
        remove(ipr, ifname)
        nets = list(prefixes)
        for p in nets:
            _add(ipr, iifname=ifname, src=str(p.network_address), src_len=p.prefixlen,
                 table=common.MAIN_TABLE, priority=ALLOW_PRIORITY)
        _add(ipr, iifname=ifname, action=_BLACKHOLE, priority=DROP_PRIORITY)
    except NetlinkError as exc:
        log.warning("%s: source address validation off (the kernel refused its policy "
                    "rules: %s; CONFIG_IPV6_MULTIPLE_TABLES?): every source is forwarded",
                    ifname, exc)
        try:
            remove(ipr, ifname)
        except NetlinkError:
            pass
        return False
    log.info("%s: source address validation on: forwards only from %s (and prefixes "
             "served here for their anchor)", ifname, ", ".join(str(p) for p in nets))
    return True


def remove(ipr, ifname: str | None = None) -> int:
    """Remove the filter of ``ifname`` (None: of every interface). Returns
    how many rules went."""
    n = 0
    for r in ipr.get_rules(family=10):
        prio = r.get_attr("FRA_PRIORITY")
        iif = r.get_attr("FRA_IIFNAME")
        if prio not in (ALLOW_PRIORITY, DROP_PRIORITY) or (ifname is not None and iif != ifname):
            continue
        try:
            ipr.rule("del", family=10, priority=prio, iifname=iif, action=r["action"],
                     table=r.get_attr("FRA_TABLE"), src=r.get_attr("FRA_SRC"),
                     src_len=r["src_len"])
            n += 1
        except NetlinkError as exc:
            if exc.code != _ENOENT:
                raise
    return n
