"""odm's vendor sub-options read through one walk (odm_suboptions, RFC 8415
§21.17, DESIGN §2), and a PD client's messages built by odm_wire.pd_messages
(RFC 8415 §18.2): the same octets as the option list written out by hand."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from odm_wire import dhcp6 as d6
from odm_wire.constants import MessageType, OptionCode, status_name
from odm_wire.constants import MobilityType as MT
from odm_wire.constants import StatusCode as SC
from odm_wire.pd_messages import (
    client_message,
    iaprefix,
    mobility_type_option_count,
    supported_types,
    type_options,
)

DUID = d6.DuidLL(1, bytes.fromhex("020000000002"))
SDUID = d6.DuidLL(1, bytes.fromhex("020000000001"))
FOREIGN = d6.VendorOpts(9, bytes.fromhex("00010001" "02"))


def test_odm_suboptions_one_scope_in_order_and_by_kind():
    sup = d6.SupportedTypesSubOption((MT.FIXED, 7))
    mt = d6.MobilityTypeSubOption(MT.NON_PERSISTENT)
    unk = d6.UnknownSubOption(9, b"x")
    nested = d6.IAPD(1, 0, 0, (d6.IAPrefix(0, 0, 64, IPv6Address("::"),
                                           type_options(MT.FIXED)),))
    opts = (FOREIGN, d6.OdmVendorOpts((sup, unk)), nested, d6.OdmVendorOpts((mt,)))
    assert list(d6.odm_suboptions(opts)) == [sup, unk, mt]
    assert list(d6.odm_suboptions(opts, d6.MobilityTypeSubOption)) == [mt]
    assert supported_types(opts) == [MT.FIXED, 7]
    assert d6.first_mobility_type(opts) == MT.NON_PERSISTENT
    assert d6.first_mobility_type((FOREIGN, nested)) is None


def test_iaprefix_type_is_the_first_mobility_type_suboption():
    two = (d6.OdmVendorOpts((d6.UnknownSubOption(9, b""), d6.MobilityTypeSubOption(5))),
           d6.mobility_type_option(MT.FIXED))
    p = d6.IAPrefix(0, 0, 56, IPv6Address("2001:db8::"), two)
    assert p.mobility_type == 5
    assert mobility_type_option_count(p.options) == 2
    assert mobility_type_option_count((FOREIGN, *type_options(MT.FIXED))) == 1
    assert iaprefix("::", 64).mobility_type is None


@pytest.mark.parametrize("kind", [MessageType.SOLICIT, MessageType.REQUEST,
                                  MessageType.RENEW, MessageType.REBIND, MessageType.RELEASE])
def test_client_message_octets(kind):
    hint = iaprefix("2001:db8:1::", 48, MT.SESSION_LASTING, preferred_lifetime=3,
                    valid_lifetime=4)
    assert hint == d6.IAPrefix(3, 4, 48, IPv6Address("2001:db8:1::"),
                               (d6.mobility_type_option(MT.SESSION_LASTING),))
    ia = d6.IAPD(7, 0, 0, (hint,))
    oro = (OptionCode.VENDOR_OPTS, OptionCode.SOL_MAX_RT)
    got = client_message(kind, 0x123456, DUID, [ia], elapsed=12, server_duid=SDUID, oro=oro,
                         rapid_commit=True, top_level_type=MT.SESSION_LASTING)
    want = d6.MESSAGE_CLASSES[kind](0x123456, (
        d6.ClientId(DUID), d6.ServerId(SDUID), d6.ElapsedTime(12), d6.OptionRequest(oro),
        d6.RapidCommit(), ia, d6.mobility_type_option(MT.SESSION_LASTING)))
    assert type(got) is type(want)
    assert d6.encode_dhcp6(got) == d6.encode_dhcp6(want)
    bare = client_message(kind, 1, DUID, ())
    assert d6.encode_dhcp6(bare) == d6.encode_dhcp6(
        d6.MESSAGE_CLASSES[kind](1, (d6.ClientId(DUID), d6.ElapsedTime(0))))


def test_status_name():
    assert status_name(6) == "NoPrefixAvail"
    assert status_name(SC.NO_BINDING) == "NoBinding"
    assert status_name(99) == "status 99"
