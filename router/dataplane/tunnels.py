"""The backends that build one tunnel device per peer router: ``ip6ip6`` and
``vxlan``. Prefixes are routed into the device of the peer; what arrives from a
peer is decapsulated by the kernel and forwarded by the main table, at the
serving router to the host, at the anchor upstream.

* ``ip6ip6`` — RFC 2473 generic packet tunnelling in IPv6 (what Proxy Mobile
  IPv6, RFC 5213 §6.10, uses between LMA and MAG), an ``ip6tnl`` device in
  ``ip6ip6`` mode. Needs ``CONFIG_IPV6_TUNNEL``. The Tunnel Encapsulation
  Limit option (RFC 2473 §4.1.1) is not sent, so the overhead is the outer
  IPv6 header alone: 40 octets.
* ``vxlan`` — RFC 7348 over the IPv6 core: a VXLAN device per peer with the
  peer as its unicast remote and a VNI of the pair (the same at both ends,
  derived from the two router ids). Each end gives its device a MAC address
  and a link-local address derived from its router id, and a permanent
  neighbour entry for the peer's, so no Neighbor Discovery runs over the
  tunnel before the first packet. Needs ``CONFIG_VXLAN``. Overhead: outer
  IPv6 (40) + UDP (8) + VXLAN (8) + inner Ethernet (14) = 70 octets.

Both devices get the core link's MTU less the overhead, so a packet too big
for the tunnel draws an ICMPv6 Packet Too Big (RFC 8201) from the router
rather than vanishing; the router agent also advertises a link MTU that fits
(see :func:`router.dataplane.fitting_mtu`).
"""

from __future__ import annotations

import hashlib

from pyroute2 import NetlinkError

from router.dataplane import common
from router.dataplane.base import Backend, Peer

__all__ = ["Ip6Ip6", "Vxlan", "vni_of"]

IP6_TNL_F_IGN_ENCAP_LIMIT = 0x1
IPPROTO_IPV6 = 41
IFA_F_NODAD = 0x02
NUD_PERMANENT = 0x80
VXLAN_PORT = 4789  # RFC 7348 §5


def vni_of(a: str, b: str) -> int:
    """The VXLAN Network Identifier of the tunnel between routers ``a`` and
    ``b``: 24 bits of a hash of the two ids, the same whichever end asks."""
    h = hashlib.sha256("\0".join(sorted((a, b))).encode()).digest()
    return int.from_bytes(h[:3], "big") or 1


def mac_of(router_id: str) -> str:
    """A locally administered unicast MAC address derived from a router id."""
    h = hashlib.sha256(b"odm-vxlan-mac\0" + router_id.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *h[:5]))


class _PerPeerTunnel(Backend):
    prefix: str = ""

    def devname(self, peer: Peer) -> str:
        return f"{self.prefix}{peer.index}"

    def _need_core_address(self) -> None:
        if self.core_address is None:
            raise OSError(f"{self.name}: the core interface has no global address to "
                          "tunnel from (set [mobility] core_address)")

    def _index(self, peer: Peer) -> int:
        idx = self.ipr.link_lookup(ifname=self.devname(peer))
        if not idx:
            raise OSError(f"{self.name}: tunnel device {self.devname(peer)} is gone")
        return idx[0]

    def _create(self, peer: Peer, kind: str, **attrs) -> int:
        name = self.devname(peer)
        old = self.ipr.link_lookup(ifname=name)
        if old:  # left by a killed earlier run: its settings may differ
            self.ipr.link("del", index=old[0])
        self.ipr.link("add", ifname=name, kind=kind, **attrs)
        idx = self.ipr.link_lookup(ifname=name)[0]
        self.ipr.link("set", index=idx, mtu=max(1280, self.core_mtu - self.overhead))
        return idx

    def setup(self) -> None:
        self._need_core_address()
        for p in self.peers:
            self._add_device(p)

    def _add_device(self, peer: Peer) -> None:
        raise NotImplementedError

    def teardown(self) -> None:
        for p in self.peers:
            idx = self.ipr.link_lookup(ifname=self.devname(p))
            if idx:
                try:
                    self.ipr.link("del", index=idx[0])
                except NetlinkError as exc:
                    if exc.code not in (common.ENODEV, common.ENOENT):
                        raise

    def describe(self) -> dict:
        return {**super().describe(),
                "devices": {p.router_id: self.devname(p) for p in self.peers}}


class Ip6Ip6(_PerPeerTunnel):
    name = "ip6ip6"
    kernel_option = "CONFIG_IPV6_TUNNEL"
    overhead = 40
    summary = "IPv6-in-IPv6 tunnels (RFC 2473), one ip6tnl device per peer"
    prefix = "odm6t"

    @classmethod
    def probe(cls, ipr) -> str | None:
        return cls._probe_link(ipr, "ip6tnl", ip6tnl_proto=IPPROTO_IPV6,
                               ip6tnl_flags=IP6_TNL_F_IGN_ENCAP_LIMIT)

    def _add_device(self, peer: Peer) -> None:
        idx = self._create(peer, "ip6tnl", ip6tnl_local=str(self.core_address),
                           ip6tnl_remote=str(peer.core_address), ip6tnl_link=self.core_oif,
                           ip6tnl_proto=IPPROTO_IPV6, ip6tnl_ttl=64,
                           ip6tnl_flags=IP6_TNL_F_IGN_ENCAP_LIMIT)
        self.ipr.link("set", index=idx, state="up")

    def forward(self, prefix, peer: Peer) -> None:
        self.ipr.route("replace", dst=str(common.net(prefix)), oif=self._index(peer),
                       proto=common.RTPROT_ODM)

    def uplink_route(self, peer: Peer) -> None:
        self.ipr.route("replace", dst="::/0", table=peer.table, oif=self._index(peer),
                       proto=common.RTPROT_ODM)


class Vxlan(_PerPeerTunnel):
    name = "vxlan"
    kernel_option = "CONFIG_VXLAN"
    overhead = 40 + 8 + 8 + 14
    summary = "VXLAN over the IPv6 core (RFC 7348), one device per peer"
    prefix = "odmvx"

    @classmethod
    def probe(cls, ipr) -> str | None:
        return cls._probe_link(ipr, "vxlan", vxlan_id=1, vxlan_port=VXLAN_PORT)

    def _add_device(self, peer: Peer) -> None:
        idx = self._create(peer, "vxlan", vxlan_id=vni_of(self.router_id, peer.router_id),
                           vxlan_local6=str(self.core_address),
                           vxlan_group6=str(peer.core_address), vxlan_link=self.core_oif,
                           vxlan_port=VXLAN_PORT, vxlan_learning=0, vxlan_ttl=64,
                           address=mac_of(self.router_id))
        self.ipr.addr("add", index=idx, address=str(common.link_local_of(self.router_id)),
                      prefixlen=64, flags=IFA_F_NODAD)
        self.ipr.link("set", index=idx, state="up")
        self.ipr.neigh("replace", ifindex=idx, dst=str(common.link_local_of(peer.router_id)),
                       lladdr=mac_of(peer.router_id), state=NUD_PERMANENT)

    def _via(self, peer: Peer) -> str:
        return str(common.link_local_of(peer.router_id))

    def forward(self, prefix, peer: Peer) -> None:
        self.ipr.route("replace", dst=str(common.net(prefix)), gateway=self._via(peer),
                       oif=self._index(peer), proto=common.RTPROT_ODM)

    def uplink_route(self, peer: Peer) -> None:
        self.ipr.route("replace", dst="::/0", table=peer.table, gateway=self._via(peer),
                       oif=self._index(peer), proto=common.RTPROT_ODM)

    def describe(self) -> dict:
        return {**super().describe(),
                "vni": {p.router_id: vni_of(self.router_id, p.router_id) for p in self.peers}}
