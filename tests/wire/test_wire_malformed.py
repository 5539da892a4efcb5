"""Malformed input: each case raises WireFormatError at the offset of the field
that is wrong (RFC 8415 §21.1 option framing, RFC 4861 §4.6 and §6.1), and the
semantic rules kept beside the codec (RFC 8415 §21.13, §21.21, §21.22)."""

from __future__ import annotations

import pytest
from test_wire_vectors import ADVERTISE, REPLY_NO_PREFIX, SOLICIT
from wirelib import hexv

import odm_wire
from odm_wire import WireFormatError
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import IAPD, IAPrefix, Reply, StatusCode
from odm_wire.rules import (
    check_ia_pd,
    check_server_message,
    ia_pd_timers_valid,
    ia_status,
    iaprefix_usable,
    message_status,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


SOL = "01 1a2b3c"  # Solicit header, options start at octet 4
RA = "86 00 0000 40 00 0708 00000000 00000000"  # RA header, options start at 16
PIO = "03 04 40 c2 00278d00 00093a80 00000000 20010db8000000010000000000000000"

CASES = {
    # --- option framing: an option-len that runs past its container ------------
    "ia-pd-len-past-datagram": (SOL + "0019 0040 00000001 00000000 00000000", 4),
    "option-header-truncated": (SOL + "0008 0002 0000 00", 10),
    "iaprefix-overruns-ia-pd": (
        # IA_PD (len 41 = 12 + 29) holds an IAPREFIX claiming 38 octets
        SOL + "0019 0029 00000001 00000000 00000000"
        "001a 0026 00000000 00000000 38 00000000000000000000000000000000 00000000", 20),
    "vendor-suboption-overruns-vendor-option": (
        SOL + "0011 0009 00007ed9 0001 0002 02", 12),
    "relay-msg-inner-option-overrun": (
        "0c 00" + "00" * 32 + "0009 0008 01000001 0001 00ff", 42),
    # --- truncated fixed headers ---------------------------------------------
    "dhcpv6-header-3-octets": ("01 1a2b", 0),
    "relay-header-33-octets": ("0c 00" + "00" * 31, 0),
    "ia-pd-shorter-than-12": (SOL + "0019 000b 00000001 00000000 000000", 4),
    "iaprefix-shorter-than-25": (
        SOL + "0019 0028 00000001 00000000 00000000"
        "001a 0018 00000000 00000000 38 000000000000000000000000000000", 20),
    "vendor-shorter-than-enterprise-number": (SOL + "0011 0003 00007e", 4),
    "ra-header-15-octets": ("86 00 0000 40 00 0708 00000000 000000", 0),
    "rs-header-7-octets": ("85 00 0000 000000", 0),
    # --- ND options -------------------------------------------------------------
    "nd-option-length-0": (RA + "01 00 020000000001", 16),
    "nd-option-length-0-after-pio": (RA + PIO + "19 00 000000000000", 48),
    "pio-length-3": (RA + "03 03 40 c2 00278d00 00093a80 00000000 20010db800000001", 16),
    "pio-length-5": (RA + "03 05 40 c2 00278d00 00093a80 00000000 20010db8000000010000000000000000"
                     + "00" * 8, 16),
    "nd-option-past-message": (RA + "03 04 40 c2 00278d00", 16),
    # --- other known options with a wrong fixed length ----------------------
    "elapsed-time-len-3": (SOL + "0008 0003 000000", 4),
    "duid-ll-too-short": (SOL + "0001 0003 000300", 8),  # at the DUID
    "iaprefix-prefix-length-129": (
        SOL + "0019 0029 00000001 00000000 00000000"
        "001a 0019 00000000 00000000 81 00000000000000000000000000000000", 32),
    "unknown-msg-type": ("ee 000000", 0),
    "empty": ("", 0),
}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_raises_with_offset(name):
    data, offset = CASES[name]
    with pytest.raises(WireFormatError) as exc:
        odm_wire.decode(h(data))
    assert exc.value.offset == offset, exc.value
    assert str(offset) in str(exc.value)


def test_every_truncation_of_valid_messages_raises_or_round_trips():
    """Cutting a valid message short anywhere never yields a half-accepted
    message: a prefix of a DHCPv6 message either decodes to something that
    re-encodes to exactly that prefix (it ends on an option boundary) or raises."""
    for vec in (SOLICIT, ADVERTISE, REPLY_NO_PREFIX):
        full = hexv(vec)
        for n in range(len(full)):
            try:
                msg = odm_wire.decode(full[:n])
            except WireFormatError as exc:
                assert 0 <= exc.offset <= n
            else:
                assert odm_wire.encode(msg) == full[:n]


def test_error_is_a_value_error_with_reason():
    with pytest.raises(ValueError) as exc:
        odm_wire.decode(h(CASES["ia-pd-shorter-than-12"][0]))
    assert "IA_PD" in exc.value.reason and exc.value.offset == 4


# ------------------------------------------------------------------ rules --
def prefix(pl: int, vl: int) -> IAPrefix:
    from ipaddress import IPv6Address
    return IAPrefix(pl, vl, 56, IPv6Address("2001:db8:8000:100::"))


def test_iaprefix_preferred_greater_than_valid_is_unusable():
    assert not iaprefix_usable(prefix(3600, 1800))
    assert iaprefix_usable(prefix(1800, 1800)) and iaprefix_usable(prefix(0, 0))
    v = check_ia_pd(IAPD(1, 0, 0, (prefix(3600, 1800),)))
    assert [x.rule for x in v] == ["preferred-gt-valid"]
    assert "§21.22" in v[0].section


def test_ia_pd_t1_greater_than_t2_is_discarded():
    assert not ia_pd_timers_valid(IAPD(1, 1000, 500))
    assert ia_pd_timers_valid(IAPD(1, 500, 1000))
    assert ia_pd_timers_valid(IAPD(1, 1000, 0))   # T2 0: left to the client
    assert ia_pd_timers_valid(IAPD(1, 0, 500))
    assert [x.rule for x in check_ia_pd(IAPD(7, 1000, 500))] == ["t1-gt-t2"]
    assert check_ia_pd(IAPD(7, 1000, 500))[0].where == "IA_PD[iaid=7]"


def test_status_is_read_from_its_own_scope():
    """A Status Code inside an IA_PD is that IA's status, not the message's; a
    top-level one is the message's (RFC 8415 §21.13). scapy's
    ``pkt[DHCP6OptStatusCode]`` returns the first one nested anywhere."""
    from scapy.layers.dhcp6 import DHCP6_Reply, DHCP6OptStatusCode

    nested = odm_wire.decode(hexv(REPLY_NO_PREFIX))
    assert message_status(nested) is SC.SUCCESS
    assert ia_status(nested.ia_pds[0]) is SC.NO_PREFIX_AVAIL
    assert DHCP6_Reply(hexv(REPLY_NO_PREFIX))[DHCP6OptStatusCode].statuscode == 6

    top = Reply(1, (StatusCode(SC.UNSPEC_FAIL, "busy"), IAPD(1, 0, 0)))
    assert message_status(odm_wire.decode(odm_wire.encode(top))) is SC.UNSPEC_FAIL
    assert ia_status(top.ia_pds[0]) is SC.SUCCESS


def test_server_message_rules_flag_both_violations():
    msg = Reply(1, (IAPD(1, 1000, 500, (prefix(3600, 1800),)),))
    rules = {v.rule for v in check_server_message(msg)}
    assert {"t1-gt-t2", "preferred-gt-valid", "no-server-id"} <= rules


# ---------------------------------------------------------- nesting depth --
def nest_ia_pds(levels: int) -> bytes:
    inner = b""
    for _ in range(levels):
        inner = h("0019") + (12 + len(inner)).to_bytes(2, "big") + bytes(12) + inner
    return h(SOL) + inner


def nest_relays(levels: int) -> bytes:
    msg = h(SOL)
    for _ in range(levels):
        msg = h("0c 00") + bytes(32) + h("0009") + len(msg).to_bytes(2, "big") + msg
    return msg


def test_deep_nesting_is_rejected_not_recursed():
    """Options nested thousands deep (a 48 kB datagram of IA_PDs in IA_PDs, or
    relay messages in relay messages) raise WireFormatError, not RecursionError."""
    from odm_wire.dhcp6 import MAX_NESTING

    for data in (nest_ia_pds(3000), nest_relays(1500)):
        with pytest.raises(WireFormatError) as exc:
            odm_wire.decode(data)
        assert "nested" in exc.value.reason
    # the option lists of depth 0..MAX_NESTING may hold options; one deeper may not
    with pytest.raises(WireFormatError) as exc:
        odm_wire.decode(nest_ia_pds(MAX_NESTING + 2))
    assert exc.value.offset == 4 + 16 * (MAX_NESTING + 1)
    for ok in (nest_ia_pds(MAX_NESTING + 1), nest_relays(8)):
        assert odm_wire.encode(odm_wire.decode(ok)) == ok


# ------------------------------------------------------ encoding bad values --
@pytest.mark.parametrize("make", [
    lambda nd, A: nd.RouterAdvertisement(router_preference=5),
    lambda nd, A: nd.RouterAdvertisement(reserved_flags=4),
    lambda nd, A: nd.RouterAdvertisement(cur_hop_limit=256),
    lambda nd, A: nd.RouterAdvertisement(options=(
        nd.Rdnss(10, tuple(A(i) for i in range(200))),)),          # length > 255 units
    lambda nd, A: nd.RouterAdvertisement(options=(
        nd.SourceLinkLayerAddress(bytes(3000)),)),
    lambda nd, A: nd.RouterAdvertisement(options=(
        nd.PrefixInformation(64, "2001:db8::", 1, 1),)),            # prefix not an address
    lambda nd, A: nd.RouterAdvertisement(options=(
        nd.PrefixInformation(64, A("2001:db8::"), 1, 1, mobility_type=8),)),
], ids=["prf-5", "reserved-4", "hop-limit-256", "rdnss-200", "slla-3000", "pio-str",
        "pio-type-8"])
def test_nd_values_that_do_not_fit_raise_wire_format_error(make):
    """Encoding never silently masks a value nor leaks another exception type."""
    from ipaddress import IPv6Address

    from odm_wire import nd
    with pytest.raises(WireFormatError):
        odm_wire.encode(make(nd, IPv6Address))
