"""SRv6 data plane between access routers: keep a host's prefix routed after a move.

The guarantee of SESSION_LASTING and FIXED prefixes (RFC 8653 §3.2, DESIGN §2)
is that they stay valid *and routed* wherever the host goes. odm delegates such
prefixes per host (a unique prefix per host, as in RFC 8273), so following the
host needs one route per prefix, not per address. The router that delegated a
prefix is its **anchor**; the router the host is attached to now is its
**serving router**. When they differ, traffic crosses the core between them in
an IPv6-in-IPv6 tunnel made with Segment Routing (RFC 8986 behaviours, RFC 8754
header; the approach of draft-ietf-dmm-srv6-mobile-uplane):

* each router owns a SID (a /128 that is *not* a local address) bound to the
  ``End.DT6`` behaviour (RFC 8986 §4.8: decapsulate, look the inner packet up in
  the main table);
* downstream, the anchor routes the prefix with ``H.Encaps`` (RFC 8986 §5.1) to
  the serving router's SID; the serving router decapsulates and finds its own
  route of the prefix to the host's link-local address on the access link;
* upstream, the serving router has a policy rule ``from <prefix>`` to a table
  whose default route encapsulates to the anchor's SID, so the host's packets
  leave the network where its prefix is anchored (no asymmetric path, no
  ingress-filter surprise at the anchor's uplink).

Linux builds used for the lab have ``CONFIG_IPV6_SEG6_LWTUNNEL`` but often not
ip6tnl or GRE (``CONFIG_IPV6_TUNNEL``), which is why SRv6 is the tunnel here.

All functions take a pyroute2 ``IPRoute`` already inside the router's network
namespace. Addresses are ``str`` or ``ipaddress`` objects; prefixes are
``IPv6Network``-compatible strings such as ``"2001:db8:1000:100::/56"``. They
raise ``pyroute2.NetlinkError`` when the kernel refuses; removal functions
ignore what is already gone.
"""

from __future__ import annotations

import logging
from ipaddress import IPv6Address, IPv6Network

from pyroute2 import NetlinkError

log = logging.getLogger(__name__)

#: Routing table for the ``from <prefix>`` rules of a serving router is
#: ``TABLE_BASE + the anchor's peer index`` (one table per anchor).
TABLE_BASE = 1000
#: Priority of the source rules (below the ``main`` rule at 32766).
RULE_PRIORITY = 1000
#: ``proto`` value odm stamps on its routes so they can be found and flushed
#: (RTPROT_STATIC is 4; 0x4f = 'O' for odm, unused by Linux and by routing daemons).
RTPROT_ODM = 0x4F

_ENOENT, _ESRCH, _EEXIST = 2, 3, 17


def _net(p) -> IPv6Network:
    return IPv6Network(str(p), strict=False)


def enable_seg6(write_sysctl, ifnames: list[str]) -> None:
    """Accept SRv6 packets on the given interfaces (``seg6_enabled``, needed by
    the kernel for End behaviours). ``write_sysctl(key, value)`` writes a sysctl
    in the router's namespace (``/proc/sys`` of that namespace)."""
    for name in ["all", "default", *ifnames]:
        write_sysctl(f"net/ipv6/conf/{name}/seg6_enabled", "1")


def install_local_sid(ipr, sid: str | IPv6Address, oif: int) -> None:
    """Bind ``sid``/128 to End.DT6 with the main table (RFC 8986 §4.8) on
    interface index ``oif``. Idempotent."""
    ipr.route("replace", dst=f"{IPv6Address(str(sid))}/128", oif=oif, proto=RTPROT_ODM,
              encap={"type": "seg6local", "action": "End.DT6", "table": 254})


def route_to_peer_sid(ipr, peer_sid_prefix: str, via: str | IPv6Address, oif: int) -> None:
    """Reach a peer router's SIDs (``peer_sid_prefix``) via its core address."""
    ipr.route("replace", dst=str(_net(peer_sid_prefix)), gateway=str(via), oif=oif,
              proto=RTPROT_ODM)


def anchor_redirect(ipr, prefix: str, serving_sid: str | IPv6Address, oif: int) -> None:
    """At the anchor: send traffic for ``prefix`` to the serving router's SID
    (H.Encaps, RFC 8986 §5.1), replacing any route of the prefix to the access
    link. Idempotent."""
    ipr.route("replace", dst=str(_net(prefix)), oif=oif, proto=RTPROT_ODM,
              encap={"type": "seg6", "mode": "encap", "segs": str(serving_sid)})


def route_to_host(ipr, prefix: str, host_link_local: str | IPv6Address, oif: int) -> None:
    """Route ``prefix`` to the host's link-local address on the access link
    (RFC 8415 §6.3: delegated prefixes are routed to the requesting router).
    Replaces an earlier SRv6 redirect of the same prefix. Idempotent."""
    ipr.route("replace", dst=str(_net(prefix)), gateway=str(host_link_local), oif=oif,
              proto=RTPROT_ODM)


def remove_prefix_route(ipr, prefix: str) -> None:
    """Remove odm's route of ``prefix`` (to the host or to a peer), if any."""
    try:
        ipr.route("del", dst=str(_net(prefix)), proto=RTPROT_ODM)
    except NetlinkError as exc:
        if exc.code not in (_ENOENT, _ESRCH):
            raise


def serving_uplink(ipr, prefix: str, anchor_sid: str | IPv6Address, table: int,
                   oif: int) -> None:
    """At the serving router: packets *from* ``prefix`` go back to the anchor
    (a ``from`` rule to ``table`` whose default route encapsulates to
    ``anchor_sid``). Idempotent."""
    ipr.route("replace", dst="::/0", table=table, oif=oif, proto=RTPROT_ODM,
              encap={"type": "seg6", "mode": "encap", "segs": str(anchor_sid)})
    net = _net(prefix)
    try:
        ipr.rule("add", family=10, src=str(net.network_address), src_len=net.prefixlen,
                 table=table, priority=RULE_PRIORITY)
    except NetlinkError as exc:
        if exc.code != _EEXIST:
            raise


def remove_serving_uplink(ipr, prefix: str, table: int) -> None:
    """Remove the ``from prefix`` rule (the table's default route stays for the
    other prefixes of the same anchor; :func:`flush` removes it)."""
    net = _net(prefix)
    try:
        ipr.rule("del", family=10, src=str(net.network_address), src_len=net.prefixlen,
                 table=table, priority=RULE_PRIORITY)
    except NetlinkError as exc:
        if exc.code not in (_ENOENT, _ESRCH):
            raise


def flush(ipr) -> int:
    """Remove every route and rule odm made in this namespace (shutdown path).
    Returns how many were removed."""
    n = 0
    for r in ipr.get_rules(family=10):
        if r.get("priority", r.get_attr("FRA_PRIORITY")) == RULE_PRIORITY:
            try:
                ipr.rule("del", family=10, priority=RULE_PRIORITY,
                         table=r.get_attr("FRA_TABLE"),
                         src=r.get_attr("FRA_SRC"), src_len=r["src_len"])
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
    return n

