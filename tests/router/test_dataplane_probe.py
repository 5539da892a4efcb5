"""The data-plane backends without a kernel (router/dataplane): the probe and
``auto``'s order held to the right answer by a fake netlink that refuses what a
kernel built without an option refuses (EOPNOTSUPP), probes that leave nothing
behind, the one-line refusal naming the kernel option, what each backend asks
of the kernel, and the ``[mobility]`` keys."""

from __future__ import annotations

import os
import tomllib
from ipaddress import IPv6Address, IPv6Network

import pytest
from pyroute2 import NetlinkError

from router.config import ConfigError, parse_config
from router.dataplane import (
    BACKENDS,
    DataplaneUnavailable,
    Peer,
    backend_class,
    choose,
    common,
    fitting_mtu,
    probe_all,
)
from router.dataplane.tunnels import mac_of, vni_of

EOPNOTSUPP, EPERM = 95, 1


class FakeNetlink:
    """The part of pyroute2's ``IPRoute`` the backends use, on dicts. A
    kernel "without" an option refuses its link kinds / route encaps with
    EOPNOTSUPP, as Linux does (rtnetlink: unknown kind, lwtunnel: no ops)."""

    def __init__(self, refuse_kinds=(), refuse_encaps=(), errno=EOPNOTSUPP) -> None:
        self.refuse_kinds, self.refuse_encaps, self.errno = set(refuse_kinds), \
            set(refuse_encaps), errno
        self.links = {"lo": {"index": 1, "kind": None}, "core": {"index": 2, "kind": "veth"}}
        self.routes: dict[tuple, dict] = {}
        self.rules: list[dict] = []
        self.calls: list[tuple] = []

    def link_lookup(self, ifname):
        return [self.links[ifname]["index"]] if ifname in self.links else []

    def link(self, op, **kw):
        self.calls.append(("link", op, kw))
        if op == "add":
            if kw["kind"] in self.refuse_kinds:
                raise NetlinkError(self.errno, os.strerror(self.errno))
            self.links[kw["ifname"]] = {"index": 100 + len(self.links), **kw}
        elif op == "del":
            name = kw.get("ifname") or next(n for n, v in self.links.items()
                                            if v["index"] == kw["index"])
            del self.links[name]

    def route(self, op, **kw):
        self.calls.append(("route", op, kw))
        key = (kw["dst"], kw.get("table", 254))
        if op in ("add", "replace"):
            enc = (kw.get("encap") or {}).get("type")
            if enc in self.refuse_encaps:
                raise NetlinkError(self.errno, os.strerror(self.errno))
            self.routes[key] = kw
        elif op == "del":
            if key not in self.routes:
                raise NetlinkError(3, "No such process")
            del self.routes[key]

    def rule(self, op, **kw):
        self.calls.append(("rule", op, kw))
        if op == "add":
            self.rules.append(kw)

    def addr(self, op, **kw):
        self.calls.append(("addr", op, kw))

    def neigh(self, op, **kw):
        self.calls.append(("neigh", op, kw))

    def get_links(self, index=None):
        class Link(dict):
            def get_attr(self, name):
                return self.get(name)
        return [Link(IFLA_IFNAME=n, index=v["index"]) for n, v in self.links.items()
                if index is None or v["index"] == index]

    def snapshot(self):
        return dict(self.links), dict(self.routes), list(self.rules)


#: this project's machines: SRv6, ip6tnl, GRE and SIT built out; VXLAN in
NO_SRV6_NO_IP6TNL = {"refuse_kinds": {"ip6tnl", "ip6gre", "sit"},
                     "refuse_encaps": {"seg6", "seg6local"}}


def test_auto_order_is_srv6_ip6ip6_vxlan_routed():
    assert [b.name for b in BACKENDS] == ["srv6", "ip6ip6", "vxlan", "routed"]


def test_probe_names_the_missing_kernel_options_and_auto_takes_vxlan():
    ipr = FakeNetlink(**NO_SRV6_NO_IP6TNL)
    found = probe_all(ipr)
    assert found["srv6"].startswith("the kernel lacks CONFIG_IPV6_SEG6_LWTUNNEL")
    assert found["ip6ip6"].startswith("the kernel lacks CONFIG_IPV6_TUNNEL")
    assert found["vxlan"] is None and found["routed"] is None
    cls, _ = choose("auto", ipr)
    assert cls.name == "vxlan"


def test_probes_leave_nothing_behind():
    for kw in ({}, NO_SRV6_NO_IP6TNL):
        ipr = FakeNetlink(**kw)
        before = ipr.snapshot()
        probe_all(ipr)
        assert ipr.snapshot() == before
        added = [c for c in ipr.calls if c[1] == "add"]
        assert added, "the probe asked the kernel nothing"
        # test routes never go to a table that is looked up
        assert all(c[2].get("table") not in (None, 254, 255) for c in added if c[0] == "route")


@pytest.mark.parametrize(("refuse", "expect"), [
    ({}, "srv6"),
    ({"refuse_encaps": {"seg6", "seg6local"}}, "ip6ip6"),
    (NO_SRV6_NO_IP6TNL, "vxlan"),
    ({"refuse_kinds": {"ip6tnl", "vxlan"}, "refuse_encaps": {"seg6", "seg6local"}}, "routed"),
])
def test_auto_takes_the_first_backend_the_kernel_accepts(refuse, expect):
    assert choose("auto", FakeNetlink(**refuse))[0].name == expect


def test_auto_skips_srv6_when_the_config_has_no_sid():
    cls, found = choose("auto", FakeNetlink(), has_sid=False)
    assert cls.name == "ip6ip6"
    assert "sid" in found["srv6"]


def test_a_named_backend_the_kernel_lacks_is_one_line_naming_the_option():
    with pytest.raises(DataplaneUnavailable) as ei:
        choose("srv6", FakeNetlink(**NO_SRV6_NO_IP6TNL))
    msg = str(ei.value)
    assert "\n" not in msg
    assert "CONFIG_IPV6_SEG6_LWTUNNEL" in msg and "available here: vxlan, routed" in msg
    assert isinstance(ei.value, OSError)  # odm router run reports it as one line


def test_not_being_allowed_is_not_blamed_on_the_kernel():
    found = probe_all(FakeNetlink(refuse_kinds={"ip6tnl", "vxlan"},
                                  refuse_encaps={"seg6", "seg6local"}, errno=EPERM))
    assert "CONFIG_" not in found["vxlan"] and "Operation not permitted" in found["vxlan"]
    assert found["routed"] is None


def test_fitting_mtu_leaves_room_for_the_encapsulation():
    assert fitting_mtu(1500, 1500, backend_class("vxlan")) == 1430
    assert fitting_mtu(1500, 1500, backend_class("srv6")) == 1436
    assert fitting_mtu(1500, 1500, backend_class("ip6ip6")) == 1460
    assert fitting_mtu(1500, 1500, backend_class("routed")) == 1500
    assert fitting_mtu(1400, 9000, backend_class("vxlan")) == 1400
    assert fitting_mtu(1500, 1300, backend_class("vxlan")) == 1280  # never below RFC 8200's


def _backend(name, ipr, me="ar1", peer="ar2"):
    p = Peer(0, peer, IPv6Address("2001:db8:0:c0::2"), IPv6Address("2001:db8:5e6:2::1"),
             IPv6Network("2001:db8:5e6:2::/64"))
    b = backend_class(name)(ipr, router_id=me, core_oif=2,
                            core_address=IPv6Address("2001:db8:0:c0::1"), peers=(p,),
                            sid=IPv6Address("2001:db8:5e6:1::1"), write_sysctl=lambda k, v: None)
    return b, p


def test_vxlan_builds_one_device_per_peer_and_routes_via_the_peers_derived_address():
    ipr = FakeNetlink()
    b, p = _backend("vxlan", ipr)
    b.setup()
    dev = ipr.links["odmvx0"]
    assert dev["kind"] == "vxlan" and dev["vxlan_id"] == vni_of("ar1", "ar2")
    assert dev["vxlan_group6"] == "2001:db8:0:c0::2" and dev["vxlan_port"] == 4789
    neigh = next(c[2] for c in ipr.calls if c[0] == "neigh")
    assert neigh["dst"] == str(common.link_local_of("ar2")) and neigh["lladdr"] == mac_of("ar2")
    prefix = IPv6Network("2001:db8:1000:100::/56")
    b.forward(prefix, p)
    r = ipr.routes[(str(prefix), 254)]
    assert r["oif"] == dev["index"] and r["gateway"] == str(common.link_local_of("ar2"))
    assert r["proto"] == common.RTPROT_ODM
    assert b.uplink(prefix, p)
    assert ipr.routes[("::/0", p.table)]["oif"] == dev["index"]
    assert ipr.rules[-1]["table"] == p.table and ipr.rules[-1]["src_len"] == 56
    b.teardown()
    assert "odmvx0" not in ipr.links


def test_routed_forwards_to_the_core_address_and_sends_upstream_by_the_main_table():
    """No tunnel either way; the serving router's source rule for the moved
    prefix looks in the main table (upstream leaves natively), which lets it
    past the access link's source address validation."""
    ipr = FakeNetlink()
    b, p = _backend("routed", ipr)
    prefix = IPv6Network("2001:db8:1000:100::/56")
    b.forward(prefix, p)
    assert ipr.routes[(str(prefix), 254)]["gateway"] == "2001:db8:0:c0::2"
    assert b.uplink(prefix, p, "acc0") is True
    rule = {"family": 10, "src": "2001:db8:1000:100::", "src_len": 56, "table": 254,
            "priority": common.RULE_PRIORITY, "iifname": "acc0"}  # from the host's link only
    assert ipr.rules == [rule]
    b.remove_uplink(prefix, p, "acc0")
    assert ipr.calls[-1] == ("rule", "del", rule)


def test_ip6ip6_tunnel_carries_no_encapsulation_limit_option():
    ipr = FakeNetlink()
    b, _ = _backend("ip6ip6", ipr)
    b.setup()
    dev = ipr.links["odm6t0"]
    assert dev["ip6tnl_proto"] == 41 and dev["ip6tnl_flags"] & 0x1
    assert dev["ip6tnl_remote"] == "2001:db8:0:c0::2"
    assert b.overhead == 40


def test_both_ends_derive_the_same_vni_and_distinct_addresses():
    assert vni_of("ar1", "ar2") == vni_of("ar2", "ar1") != 0
    assert vni_of("ar1", "ar2") < 1 << 24
    a, b = common.link_local_of("ar1"), common.link_local_of("ar2")
    assert a.is_link_local and b.is_link_local and a != b
    assert mac_of("ar1") != mac_of("ar2") and int(mac_of("ar1")[:2], 16) & 0x03 == 0x02


def _mobility(extra: str) -> dict:
    return tomllib.loads(f"""
[router]
id = "ar1"
[[interface]]
name = "acc"
  [[interface.pd_pool]]
  name = "p"
  prefix = "2001:db8::/48"
  delegated_length = 56
[mobility]
core_interface = "core"
{extra}
  [[mobility.peer]]
  id = "ar2"
  core_address = "2001:db8:0:c0::2"
""")


def test_mobility_config_defaults_to_auto_and_needs_no_sid():
    m = parse_config(_mobility("")).mobility
    assert m.dataplane == "auto" and m.sid is None and m.peers[0].sid is None


@pytest.mark.parametrize("name", ["srv6", "ip6ip6", "vxlan", "routed"])
def test_mobility_config_names_a_backend(name):
    extra = f'dataplane = "{name}"' + ('\nsid = "2001:db8:5e6:1::1"' if name == "srv6" else "")
    if name == "srv6":
        with pytest.raises(ConfigError) as ei:  # the peer has no sid
            parse_config(_mobility(extra))
        assert ei.value.key == "mobility.peer[0].sid"
        return
    assert parse_config(_mobility(extra)).mobility.dataplane == name


@pytest.mark.parametrize(("extra", "key"), [
    ('dataplane = "gre"', "mobility.dataplane"),
    ('dataplane = "srv6"', "mobility.sid"),
    ('core_address = "nope"', "mobility.core_address"),
])
def test_mobility_config_errors_name_the_key(extra, key):
    with pytest.raises(ConfigError) as ei:
        parse_config(_mobility(extra))
    assert ei.value.key == key


def test_srv6_setup_binds_the_sid_to_end_dt6_and_routes_to_the_peers_sids():
    """The srv6 backend does what the data plane did before it became one of
    several (RFC 8986 §4.8 End.DT6 SID, H.Encaps §5.1 to the serving
    router's SID), on kernels that have it (this one may not)."""
    ipr = FakeNetlink()
    sysctls = {}
    p = Peer(0, "ar2", IPv6Address("2001:db8:0:c0::2"), IPv6Address("2001:db8:5e6:2::1"),
             IPv6Network("2001:db8:5e6:2::/64"))
    b = backend_class("srv6")(ipr, router_id="ar1", core_oif=2,
                              core_address=IPv6Address("2001:db8:0:c0::1"), peers=(p,),
                              sid=IPv6Address("2001:db8:5e6:1::1"),
                              write_sysctl=sysctls.__setitem__)
    b.setup()
    assert {k for k, v in sysctls.items() if v == "1"} == {
        f"net/ipv6/conf/{n}/seg6_enabled" for n in ("all", "default", "core")}
    sid = ipr.routes[("2001:db8:5e6:1::1/128", 254)]
    assert sid["encap"] == {"type": "seg6local", "action": "End.DT6", "table": 254}
    assert ipr.routes[("2001:db8:5e6:2::/64", 254)]["gateway"] == "2001:db8:0:c0::2"
    prefix = IPv6Network("2001:db8:1000:100::/56")
    b.forward(prefix, p)
    assert ipr.routes[(str(prefix), 254)]["encap"] == {"type": "seg6", "mode": "encap",
                                                       "segs": "2001:db8:5e6:2::1"}
    assert b.uplink(prefix, p)
    assert ipr.routes[("::/0", p.table)]["encap"]["segs"] == "2001:db8:5e6:2::1"
