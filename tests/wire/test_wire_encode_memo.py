"""The codec remembers the octets of options a server sends again and again
(odm_wire.dhcp6._Memo): the memo must never change what is encoded, nor how
options compare, hash, print or are replaced."""

import copy
import dataclasses
import pickle
from ipaddress import IPv6Address

import pytest

from odm_wire.dhcp6 import (
    IAPD,
    ClientId,
    DuidLLT,
    ElapsedTime,
    IAPrefix,
    OdmVendorOpts,
    OptionRequest,
    Preference,
    RapidCommit,
    Reply,
    ServerId,
    StatusCode,
    SupportedTypesSubOption,
    _Memo,
    decode_dhcp6,
    encode_dhcp6,
    mobility_type_option,
)

DUID = DuidLLT(1, 0x2F000000, bytes.fromhex("02aabbccddee"))
MEMO_OPTIONS = [
    ServerId(DUID), Preference(255), ElapsedTime(7), OptionRequest((23, 17)),
    StatusCode(6, "no prefix"), RapidCommit(), mobility_type_option(2),
    OdmVendorOpts((SupportedTypesSubOption((1, 2, 3, 4)),)),
]


@pytest.mark.parametrize("opt", MEMO_OPTIONS, ids=lambda o: type(o).__name__)
def test_memoised_encoding_is_the_encoding(opt):
    assert isinstance(opt, _Memo)
    fresh = dataclasses.replace(opt)  # a new instance, nothing remembered
    first = opt.encode()
    assert opt.__dict__["_wire"] == first
    assert opt.encode() is first
    assert fresh.encode() == first
    # what encode_data says, framed: code, length, data
    data = fresh.encode_data()
    assert first == opt.code.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data


@pytest.mark.parametrize("opt", MEMO_OPTIONS, ids=lambda o: type(o).__name__)
def test_memo_is_invisible_to_equality_hash_repr_copy_pickle(opt):
    before = (hash(opt), repr(opt))
    other = dataclasses.replace(opt)
    opt.encode()
    assert "_wire" in opt.__dict__ and "_wire" not in other.__dict__
    assert opt == other and hash(opt) == hash(other) == before[0]
    assert repr(opt) == before[1]
    assert dataclasses.fields(opt) == dataclasses.fields(other)
    assert copy.copy(opt) == opt and pickle.loads(pickle.dumps(opt)) == opt


def test_replace_of_a_memoised_option_encodes_its_new_fields():
    p = Preference(255)
    assert p.encode() == bytes.fromhex("00070001ff")
    assert dataclasses.replace(p, preference=7).encode() == bytes.fromhex("0007000107")


def test_interned_decoded_options_shared_by_messages_encode_each_message_exactly():
    sid = ServerId(DUID)
    replies = [Reply(x, (ClientId(DuidLLT(1, 5, bytes([2, 0, 0, 0, 0, x]))), sid, Preference(255),
                         IAPD(1, 10, 20, (IAPrefix(30, 40, 56, IPv6Address(f"2001:db8:{x}::"),
                                                   (mobility_type_option(1),)),))))
               for x in range(1, 6)]
    wires = [encode_dhcp6(r) for r in replies]
    assert len(set(wires)) == len(wires)
    for w in wires:
        # twice: the second decode hands out the interned (and now memoised)
        # Server Identifier, Preference and vendor option of the first
        assert encode_dhcp6(decode_dhcp6(w)) == w
        assert encode_dhcp6(decode_dhcp6(w)) == w
