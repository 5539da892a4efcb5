"""``srv6``: Segment Routing over IPv6 (RFC 8986 behaviours, RFC 8754 header;
the approach of draft-ietf-dmm-srv6-mobile-uplane).

* each router owns a SID (a /128 that is *not* a local address) bound to
  ``End.DT6`` (RFC 8986 §4.8: decapsulate, look the inner packet up in the main
  table), and routes to each peer's SID prefix via the peer's core address;
* downstream, the anchor routes the prefix with ``H.Encaps`` (RFC 8986 §5.1)
  to the serving router's SID, which decapsulates and finds its own route of
  the prefix to the host;
* upstream, the serving router's per-anchor table has a default route that
  encapsulates to the anchor's SID.

Needs ``CONFIG_IPV6_SEG6_LWTUNNEL``. Overhead: an outer IPv6 header (40) and a
Segment Routing Header with one segment (8 + 16) = 64 octets.
"""

from __future__ import annotations

from ipaddress import IPv6Address

from pyroute2 import NetlinkError

from router.dataplane import common
from router.dataplane.base import PROBE_TABLE, Backend, Peer

__all__ = ["Srv6"]

_PROBE_SID = "2001:db8:ffff:ffff::5e6"


class Srv6(Backend):
    name = "srv6"
    kernel_option = "CONFIG_IPV6_SEG6_LWTUNNEL"
    overhead = 40 + 8 + 16
    summary = "SRv6 End.DT6 / H.Encaps (RFC 8986)"

    @classmethod
    def probe(cls, ipr) -> str | None:
        lo = ipr.link_lookup(ifname="lo")
        if not lo:
            return "no loopback interface"
        for encap in ({"type": "seg6local", "action": "End.DT6", "table": 254},
                      {"type": "seg6", "mode": "encap", "segs": _PROBE_SID}):
            dst = f"{_PROBE_SID}/128"
            try:
                ipr.route("add", dst=dst, oif=lo[0], table=PROBE_TABLE, encap=encap)
            except (NetlinkError, OSError) as exc:
                return cls.missing(exc)
            try:
                ipr.route("del", dst=dst, oif=lo[0], table=PROBE_TABLE)
            except NetlinkError as exc:
                if exc.code not in (common.ENOENT, common.ESRCH):
                    raise
        return None

    @classmethod
    def config_problem(cls, has_sid: bool, peers_have_sids: bool) -> str | None:
        if not has_sid:
            return "[mobility] sets no sid (this router's End.DT6 SID)"
        if not peers_have_sids:
            return "a [[mobility.peer]] sets no sid"
        return None

    def setup(self) -> None:
        """Accept SRv6 packets on the core link (``seg6_enabled``), bind this
        router's SID to End.DT6 and route each peer's SID prefix to it."""
        ifname = self._core_name()
        for name in ["all", "default", ifname]:
            self.write_sysctl(f"net/ipv6/conf/{name}/seg6_enabled", "1")
        self.ipr.route("replace", dst=f"{IPv6Address(str(self.sid))}/128", oif=self.core_oif,
                       proto=common.RTPROT_ODM,
                       encap={"type": "seg6local", "action": "End.DT6", "table": 254})
        for p in self.peers:
            self.ipr.route("replace", dst=str(common.net(p.sid_prefix)),
                           gateway=str(p.core_address), oif=self.core_oif,
                           proto=common.RTPROT_ODM)

    def _core_name(self) -> str:
        links = self.ipr.get_links(self.core_oif)
        return links[0].get_attr("IFLA_IFNAME")

    def forward(self, prefix, peer: Peer) -> None:
        self.ipr.route("replace", dst=str(common.net(prefix)), oif=self.core_oif,
                       proto=common.RTPROT_ODM,
                       encap={"type": "seg6", "mode": "encap", "segs": str(peer.sid)})

    def uplink_route(self, peer: Peer) -> None:
        self.ipr.route("replace", dst="::/0", table=peer.table, oif=self.core_oif,
                       proto=common.RTPROT_ODM,
                       encap={"type": "seg6", "mode": "encap", "segs": str(peer.sid)})

    def describe(self) -> dict:
        return {**super().describe(), "sid": str(self.sid)}
