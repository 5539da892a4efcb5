"""The host agent's netlink by struct (host/io/netlink.py) against pyroute2's:
its address requests (encode_addr_request) are the octets pyroute2's
ifaddrmsg encodes for the same request, for any address, prefix length,
lifetimes, flags and sequence number; what it reads from address and link
notifications (parse_monitor) is what pyroute2's marshal reads."""

from __future__ import annotations

import socket
from ipaddress import IPv6Address

import pytest

pytest.importorskip("pyroute2")

from hypothesis import given, settings
from hypothesis import strategies as st
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_DELLINK, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from host.io.netlink import (
    IFA_F_DADFAILED,
    IFA_F_TENTATIVE,
    IFF_LOWER_UP,
    ODM_ADDR_PROTO,
    AddrState,
    encode_addr_request,
    parse_monitor,
)

U32 = st.integers(0, 0xFFFFFFFF)


def pyroute2_request(kind, seq, index, address, plen, nlm_flags, ifa_flags, cacheinfo):
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET6
    msg["prefixlen"] = plen
    msg["flags"] = ifa_flags & 0xFF
    msg["index"] = index
    attrs = [("IFA_ADDRESS", str(address))]
    if cacheinfo is not None:
        attrs.append(("IFA_CACHEINFO", cacheinfo))
    if kind == RTM_NEWADDR:
        attrs.append(("IFA_FLAGS", ifa_flags))
        attrs.append(("IFA_PROTO", ODM_ADDR_PROTO))
    msg["attrs"] = attrs
    msg["header"]["type"] = kind
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | nlm_flags
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return bytes(msg.data)


@settings(max_examples=300, deadline=None)
@given(seq=st.integers(1, 0xFFFFFFFF), index=st.integers(1, 0x7FFFFFFF),
       address=st.integers(0, (1 << 128) - 1).map(IPv6Address),
       plen=st.integers(0, 128), ifa_flags=st.sampled_from([0, 0x02, 0x200, 0x202, 0x1FF]),
       preferred=U32, valid=U32, replace=st.booleans())
def test_new_address_request_is_pyroute2s(seq, index, address, plen, ifa_flags, preferred,
                                          valid, replace):
    nlm = NLM_F_CREATE | (NLM_F_REPLACE if replace else 0)
    cache = {"ifa_preferred": preferred, "ifa_valid": valid, "cstamp": 0, "tstamp": 0}
    assert encode_addr_request(RTM_NEWADDR, seq, index, address, plen, nlm, ifa_flags,
                               cache) == pyroute2_request(RTM_NEWADDR, seq, index, address,
                                                          plen, nlm, ifa_flags, cache)


@settings(max_examples=100, deadline=None)
@given(seq=st.integers(1, 0xFFFFFFFF), index=st.integers(1, 0x7FFFFFFF),
       address=st.integers(0, (1 << 128) - 1).map(IPv6Address), plen=st.integers(0, 128))
def test_delete_address_request_is_pyroute2s(seq, index, address, plen):
    assert encode_addr_request(RTM_DELADDR, seq, index, address, plen, 0) == pyroute2_request(
        RTM_DELADDR, seq, index, address, plen, 0, 0, None)


# ------------------------------------------------------------- monitor --
def pyroute2_monitor(data: bytes, index: int) -> list:
    """What the agent read from a notification datagram with pyroute2's
    marshal (the reference parse_monitor is held to)."""
    out: list = []
    for msg in MarshalRtnl().parse(data):
        ev = msg.get("event")
        if ev in ("RTM_NEWADDR", "RTM_DELADDR"):
            if msg.get("index") != index:
                continue
            a = msg.get_attr("IFA_ADDRESS")
            if not a:
                continue
            fl = msg.get_attr("IFA_FLAGS") or msg["flags"]
            out.append(AddrState(IPv6Address(a), bool(fl & IFA_F_TENTATIVE),
                                 bool(fl & IFA_F_DADFAILED), ev == "RTM_DELADDR"))
        elif ev == "RTM_NEWLINK" and msg.get("index") == index:
            out.append(("carrier", bool(msg["flags"] & IFF_LOWER_UP)))
    return out


@st.composite
def notification(draw):
    kind = draw(st.sampled_from([RTM_NEWADDR, RTM_DELADDR, RTM_NEWLINK, RTM_DELLINK,
                                 RTM_NEWROUTE]))
    index = draw(st.sampled_from([3, 7]))
    if kind in (RTM_NEWADDR, RTM_DELADDR):
        msg = ifaddrmsg()
        msg["family"] = socket.AF_INET6
        msg["prefixlen"] = draw(st.sampled_from([64, 128]))
        msg["flags"] = draw(st.sampled_from([0, IFA_F_TENTATIVE, IFA_F_DADFAILED, 0x80]))
        msg["scope"] = 0
        msg["index"] = index
        attrs = []
        if draw(st.booleans()):
            attrs.append(("IFA_ADDRESS", str(IPv6Address(draw(st.integers(1, (1 << 128) - 1))))))
        attrs.append(("IFA_CACHEINFO", {"ifa_preferred": draw(U32), "ifa_valid": draw(U32),
                                        "cstamp": 1, "tstamp": 2}))
        if draw(st.booleans()):
            attrs.append(("IFA_FLAGS", draw(st.sampled_from(
                [0, 0x02, IFA_F_TENTATIVE, IFA_F_DADFAILED | 0x200, 0x240]))))
        if draw(st.booleans()):
            attrs.append(("IFA_PROTO", 0x6F))
        msg["attrs"] = draw(st.permutations(attrs))
    else:
        msg = ifinfmsg()
        msg["index"] = index
        msg["flags"] = draw(st.sampled_from([0x1003, 0x11043, IFF_LOWER_UP, 0]))
        msg["attrs"] = [("IFLA_IFNAME", "veth0"), ("IFLA_MTU", 1500)]
    msg["header"]["type"] = kind
    msg.encode()
    return bytes(msg.data)


@settings(max_examples=300, deadline=None)
@given(msgs=st.lists(notification(), min_size=1, max_size=5), index=st.sampled_from([3, 7]))
def test_monitor_notifications_read_as_pyroute2_reads_them(msgs, index):
    data = b"".join(msgs)
    assert parse_monitor(data, index) == pyroute2_monitor(data, index)


def test_a_truncated_notification_ends_the_reading():
    msg = ifinfmsg()
    msg["index"] = 3
    msg["flags"] = IFF_LOWER_UP
    msg["header"]["type"] = RTM_NEWLINK
    msg.encode()
    whole = bytes(msg.data)
    assert parse_monitor(whole, 3) == [("carrier", True)]
    assert parse_monitor(whole + whole[:20], 3) == [("carrier", True)]
    assert parse_monitor(whole[:-1], 3) == []
