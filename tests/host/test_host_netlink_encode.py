"""The host agent's address requests (host/io/netlink.py encode_addr_request)
are the octets pyroute2's ifaddrmsg encodes for the same request, for any
address, prefix length, lifetimes, flags and sequence number."""

from __future__ import annotations

import socket
from ipaddress import IPv6Address

import pytest

pytest.importorskip("pyroute2")

from hypothesis import given, settings
from hypothesis import strategies as st
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_NEWADDR
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

from host.io.netlink import ODM_ADDR_PROTO, encode_addr_request

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
