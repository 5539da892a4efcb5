"""``routed``: no encapsulation. The anchor routes the prefix to the serving
router's core address; the host's packets leave the serving router natively.

Needs nothing optional from the kernel, so ``auto`` always ends here at worst.
Overhead: none. Its limits, which the encapsulating backends do not have:

* the routers must share a link (the core link), or a routing protocol must
  carry the moved prefixes between them: a next hop that is not on-link is
  refused by the kernel;
* upstream does not pass through the anchor, so ingress filtering (BCP 38,
  RFC 2827) at the anchor's uplink never sees the host's packets, and an
  uplink with source-address filtering of its own (e.g. uRPF on the serving
  router's upstream) may drop them;
* the anchor forwards downstream traffic back out of the link it came in on,
  so Linux would send ICMPv6 Redirects (RFC 4861 §8.2) on the core link;
  :mod:`router.dataplane.redirects` drops them where nftables is available.
"""

from __future__ import annotations

from router.dataplane import common
from router.dataplane.base import Backend, Peer

__all__ = ["Routed"]


class Routed(Backend):
    name = "routed"
    kernel_option = None
    overhead = 0
    summary = "plain routing to the serving router's core address (no tunnel)"

    def forward(self, prefix, peer: Peer) -> None:
        self.ipr.route("replace", dst=str(common.net(prefix)), gateway=str(peer.core_address),
                       oif=self.core_oif, proto=common.RTPROT_ODM)

    def uplink_route(self, peer: Peer) -> None:
        """Nothing: upstream leaves natively."""

    def uplink(self, prefix, peer: Peer, iif: str | None = None) -> bool:
        """A source rule to the main table: the host's packets leave natively,
        and pass the access link's source address validation
        (:mod:`router.dataplane.savi`), which would drop a prefix of another
        anchor."""
        common.add_source_rule(self.ipr, prefix, common.MAIN_TABLE, iif)
        return True

    def remove_uplink(self, prefix, peer: Peer, iif: str | None = None) -> None:
        common.remove_source_rule(self.ipr, prefix, common.MAIN_TABLE, iif)
