"""What every data-plane backend shares: odm's marks on routes and rules, the
route of a prefix to its host, the source rules of a serving router, and the
flush that removes everything odm made in a namespace.

All functions take a pyroute2 ``IPRoute`` (or the agent's
:class:`~router.io.netlink.IPRouteProxy`) already inside the router's network
namespace. Prefixes are ``IPv6Network``-compatible strings or objects. They
raise ``pyroute2.NetlinkError`` when the kernel refuses; removal functions
ignore what is already gone.
"""

from __future__ import annotations

import hashlib
from ipaddress import IPv6Address, IPv6Network

from pyroute2 import NetlinkError

__all__ = [
    "LINK_PREFIXES", "MAIN_TABLE", "RTPROT_ODM", "RULE_PRIORITY", "TABLE_BASE",
    "add_source_rule", "flush",
    "link_local_of", "remove_prefix_route", "remove_source_rule", "route_to_host",
]

#: Routing table for the ``from <prefix>`` rules of a serving router is
#: ``TABLE_BASE + the anchor's peer index`` (one table per anchor).
TABLE_BASE = 1000
#: Priority of the source rules (below the ``main`` rule at 32766).
RULE_PRIORITY = 1000
#: The kernel's ``main`` routing table (RT_TABLE_MAIN).
MAIN_TABLE = 254
#: ``proto`` value odm stamps on its routes so they can be found and flushed
#: (RTPROT_STATIC is 4; 0x4f = 'O' for odm, unused by Linux and by routing daemons).
RTPROT_ODM = 0x4F
#: Name prefixes of the tunnel devices the backends create (one per peer);
#: :func:`flush` deletes links whose name starts with one of them.
LINK_PREFIXES = ("odm6t", "odmvx")

ENOENT, ESRCH, EEXIST, ENODEV = 2, 3, 17, 19


def net(p) -> IPv6Network:
    return IPv6Network(str(p), strict=False)


def link_local_of(router_id: str) -> IPv6Address:
    """A link-local address derived from a router id (``fe80::/64`` plus 64 bits
    of its SHA-256): both ends of a point-to-point tunnel compute the other's
    address from the id alone, so no address needs configuring (RFC 4291
    §2.5.6 leaves the interface identifier to the node)."""
    iid = int.from_bytes(hashlib.sha256(router_id.encode()).digest()[:8], "big")
    iid &= ~(1 << 57)  # the "u" bit clear: not a universal (EUI-64) identifier
    return IPv6Address((0xFE80 << 112) | iid)


def route_to_host(ipr, prefix, host_link_local, oif: int) -> None:
    """Route ``prefix`` to the host's link-local address on the access link
    (RFC 8415 §6.3: delegated prefixes are routed to the requesting router).
    Replaces an earlier redirect of the same prefix to a peer. Idempotent."""
    ipr.route("replace", dst=str(net(prefix)), gateway=str(host_link_local), oif=oif,
              proto=RTPROT_ODM)


def remove_prefix_route(ipr, prefix) -> None:
    """Remove odm's route of ``prefix`` (to the host or to a peer), if any."""
    try:
        ipr.route("del", dst=str(net(prefix)), proto=RTPROT_ODM)
    except NetlinkError as exc:
        if exc.code not in (ENOENT, ESRCH):
            raise


def _source_rule(prefix, table: int, iif: str | None) -> dict:
    n = net(prefix)
    rule = {"family": 10, "src": str(n.network_address), "src_len": n.prefixlen,
            "table": table, "priority": RULE_PRIORITY}
    if iif is not None:
        rule["iifname"] = iif
    return rule


def add_source_rule(ipr, prefix, table: int, iif: str | None = None) -> None:
    """Packets *from* ``prefix`` — arriving on ``iif``, the access interface
    the host is on, when given — are looked up in ``table`` (policy routing,
    the serving router's upstream path back to the anchor). With ``iif`` the
    rule lets no other link, nor the core, send from the prefix past the
    access link's source address validation (:mod:`router.dataplane.savi`).
    Idempotent."""
    try:
        ipr.rule("add", **_source_rule(prefix, table, iif))
    except NetlinkError as exc:
        if exc.code != EEXIST:
            raise


def remove_source_rule(ipr, prefix, table: int, iif: str | None = None) -> None:
    """Remove the ``from prefix`` rule (the table's default route stays for the
    other prefixes of the same anchor; :func:`flush` removes it)."""
    try:
        ipr.rule("del", **_source_rule(prefix, table, iif))
    except NetlinkError as exc:
        if exc.code not in (ENOENT, ESRCH):
            raise


def flush(ipr) -> int:
    """Remove every route, rule and tunnel device odm made in this namespace
    (shutdown path). Returns how many were removed."""
    from router.dataplane import savi

    n = savi.remove(ipr)
    for r in ipr.get_rules(family=10):
        if r.get("priority", r.get_attr("FRA_PRIORITY")) == RULE_PRIORITY:
            try:
                iif = r.get_attr("FRA_IIFNAME")
                ipr.rule("del", family=10, priority=RULE_PRIORITY,
                         table=r.get_attr("FRA_TABLE"),
                         src=r.get_attr("FRA_SRC"), src_len=r["src_len"],
                         **({"iifname": iif} if iif else {}))
                n += 1
            except NetlinkError:
                pass
    for r in ipr.get_routes(family=10):
        if r["proto"] == RTPROT_ODM:
            try:
                ipr.route("del", dst=f"{r.get_attr('RTA_DST') or '::'}/{r['dst_len']}",
                          table=r.get_attr("RTA_TABLE") or r["table"], proto=RTPROT_ODM)
                n += 1
            except NetlinkError:
                pass
    for link in ipr.get_links():
        name = link.get_attr("IFLA_IFNAME") or ""
        if name.startswith(LINK_PREFIXES):
            try:
                ipr.link("del", index=link["index"])
                n += 1
            except NetlinkError:
                pass
    return n
