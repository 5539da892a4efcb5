"""Annotated wire vectors: each one decodes to the expected model, and the model
encodes to exactly the same octets (RFC 8415 §8, §21; RFC 4861 §4.2, §4.6;
DESIGN §2 for odm's vendor option and PIO bits)."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv6Address

import pytest
from wirelib import CLIENT_LL, hexv

import odm_wire
from odm_wire.constants import (
    DRAFT_NUMBERING,
    INFINITY,
    MobilityType,
    from_draft_numbering,
    to_draft_numbering,
)
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import (
    IAPD,
    Advertise,
    ClientId,
    DuidLL,
    DuidLLT,
    ElapsedTime,
    IAPrefix,
    InterfaceId,
    MobilityTypeSubOption,
    OdmVendorOpts,
    OptionRequest,
    Preference,
    RelayForw,
    RelayMsg,
    Reply,
    Request,
    ServerId,
    Solicit,
    StatusCode,
    SupportedTypesSubOption,
    mobility_type_option,
)
from odm_wire.nd import (
    PrefixInformation,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    encode_nd,
)

SL = MobilityType.SESSION_LASTING
FIXED = MobilityType.FIXED
NP = MobilityType.NON_PERSISTENT
GR = MobilityType.GRACEFUL_REPLACEMENT
CID = ClientId(DuidLL(1, bytes.fromhex("020000000002")))
SID = ServerId(DuidLLT(1, 0x2A5F3C10, bytes.fromhex("020000000001")))
A = IPv6Address

# ---------------------------------------------------------------- vectors --
CLIENT_ID = [
    ("0001 000a", "OPTION_CLIENTID (1), option-len 10"),
    ("0003", "  DUID type 3: DUID-LL"),
    ("0001", "  hardware type 1: Ethernet"),
    ("020000000002", "  link-layer address 02:00:00:00:00:02"),
]
SERVER_ID = [
    ("0002 000e", "OPTION_SERVERID (2), option-len 14"),
    ("0001", "  DUID type 1: DUID-LLT"),
    ("0001", "  hardware type 1: Ethernet"),
    ("2a5f3c10", "  time: 0x2a5f3c10 seconds since 2000-01-01"),
    ("020000000001", "  link-layer address 02:00:00:00:00:01"),
]


def vendor_type(t: str, comment: str) -> list[tuple[str, str]]:
    return [
        ("0011 0009", "OPTION_VENDOR_OPTS (17), option-len 9"),
        ("00007ed9", "  enterprise-number 32473 (odm, RFC 5612 documentation PEN)"),
        ("0001 0001", "  sub-option 1 MOBILITY_TYPE, sub-option-len 1"),
        (t, f"  mobility type {comment}"),
    ]


SOLICIT = [
    ("01", "msg-type SOLICIT (1)"),
    ("1a2b3c", "transaction-id 0x1a2b3c"),
    *CLIENT_ID,
    ("0008 0002", "OPTION_ELAPSED_TIME (8), option-len 2"),
    ("0000", "  elapsed-time 0 (first transmission)"),
    ("0006 0004", "OPTION_ORO (6), option-len 4"),
    ("0011", "  requested: OPTION_VENDOR_OPTS (17)"),
    ("0017", "  requested: OPTION_DNS_SERVERS (23)"),
    ("0019 0036", "OPTION_IA_PD (25), option-len 54 = 12 + 42"),
    ("00000001", "  IAID 1"),
    ("00000000", "  T1 0 (left to the server)"),
    ("00000000", "  T2 0"),
    ("001a 0026", "  OPTION_IAPREFIX (26), option-len 38 = 25 + 13"),
    ("00000000", "    preferred-lifetime 0 (hint)"),
    ("00000000", "    valid-lifetime 0 (hint)"),
    ("38", "    prefix-length 56"),
    ("00000000000000000000000000000000", "    IPv6-prefix :: (hint: any prefix)"),
    *vendor_type("02", "2 = SESSION_LASTING"),
]
SOLICIT_MODEL = Solicit(0x1A2B3C, (
    CID, ElapsedTime(0), OptionRequest((17, 23)),
    IAPD(1, 0, 0, (IAPrefix(0, 0, 56, A("::"), (mobility_type_option(SL),)),)),
))

ADVERTISE = [
    ("02", "msg-type ADVERTISE (2)"),
    ("1a2b3c", "transaction-id 0x1a2b3c (echoes the Solicit)"),
    *CLIENT_ID,
    *SERVER_ID,
    ("0007 0001", "OPTION_PREFERENCE (7), option-len 1"),
    ("0a", "  pref-value 10"),
    ("0019 0036", "OPTION_IA_PD (25), option-len 54"),
    ("00000001", "  IAID 1"),
    ("00000384", "  T1 900 s"),
    ("000005a0", "  T2 1440 s"),
    ("001a 0026", "  OPTION_IAPREFIX (26), option-len 38"),
    ("00000708", "    preferred-lifetime 1800 s"),
    ("00000e10", "    valid-lifetime 3600 s"),
    ("38", "    prefix-length 56"),
    ("20010db8800001000000000000000000", "    IPv6-prefix 2001:db8:8000:100::"),
    *vendor_type("02", "2 = SESSION_LASTING (granted)"),
    ("0011 000b", "OPTION_VENDOR_OPTS (17), option-len 11 (top level)"),
    ("00007ed9", "  enterprise-number 32473"),
    ("0002 0003", "  sub-option 2 SUPPORTED_TYPES, sub-option-len 3"),
    ("01 02 03", "  FIXED, SESSION_LASTING, NON_PERSISTENT"),
]
GRANT_SL = IAPrefix(1800, 3600, 56, A("2001:db8:8000:100::"), (mobility_type_option(SL),))
SUPPORTED = OdmVendorOpts((SupportedTypesSubOption((FIXED, SL, NP)),))
ADVERTISE_MODEL = Advertise(0x1A2B3C, (
    CID, SID, Preference(10), IAPD(1, 900, 1440, (GRANT_SL,)), SUPPORTED))

REQUEST = [
    ("03", "msg-type REQUEST (3)"),
    ("4d5e6f", "transaction-id 0x4d5e6f (a new transaction)"),
    *CLIENT_ID,
    *SERVER_ID,
    ("0008 0002", "OPTION_ELAPSED_TIME (8), option-len 2"),
    ("0000", "  elapsed-time 0"),
    ("0006 0002", "OPTION_ORO (6), option-len 2"),
    ("0011", "  requested: OPTION_VENDOR_OPTS (17)"),
    ("0019 0036", "OPTION_IA_PD (25), option-len 54"),
    ("00000001", "  IAID 1"),
    ("00000000", "  T1 0"),
    ("00000000", "  T2 0"),
    ("001a 0026", "  OPTION_IAPREFIX (26), option-len 38"),
    ("00000708", "    preferred-lifetime 1800 s (as advertised)"),
    ("00000e10", "    valid-lifetime 3600 s"),
    ("38", "    prefix-length 56"),
    ("20010db8800001000000000000000000", "    IPv6-prefix 2001:db8:8000:100::"),
    *vendor_type("02", "2 = SESSION_LASTING (asked)"),
]
REQUEST_MODEL = Request(0x4D5E6F, (
    CID, SID, ElapsedTime(0), OptionRequest((17,)), IAPD(1, 0, 0, (GRANT_SL,))))

REPLY_TWO_TYPES = [
    ("07", "msg-type REPLY (7)"),
    ("4d5e6f", "transaction-id 0x4d5e6f"),
    *CLIENT_ID,
    *SERVER_ID,
    ("0019 0036", "OPTION_IA_PD (25), option-len 54"),
    ("00000001", "  IAID 1"),
    ("00000384", "  T1 900 s"),
    ("000005a0", "  T2 1440 s"),
    ("001a 0026", "  OPTION_IAPREFIX (26), option-len 38"),
    ("00000708", "    preferred-lifetime 1800 s"),
    ("00000e10", "    valid-lifetime 3600 s"),
    ("38", "    prefix-length 56"),
    ("20010db8800001000000000000000000", "    IPv6-prefix 2001:db8:8000:100::"),
    *vendor_type("02", "2 = SESSION_LASTING"),
    ("0019 0036", "OPTION_IA_PD (25), option-len 54"),
    ("00000002", "  IAID 2"),
    ("00000384", "  T1 900 s"),
    ("000005a0", "  T2 1440 s"),
    ("001a 0026", "  OPTION_IAPREFIX (26), option-len 38"),
    ("ffffffff", "    preferred-lifetime infinity"),
    ("ffffffff", "    valid-lifetime infinity"),
    ("38", "    prefix-length 56"),
    ("20010db8800002000000000000000000", "    IPv6-prefix 2001:db8:8000:200::"),
    *vendor_type("01", "1 = FIXED"),
]
GRANT_FIXED = IAPrefix(INFINITY, INFINITY, 56, A("2001:db8:8000:200::"),
                       (mobility_type_option(FIXED),))
REPLY_TWO_TYPES_MODEL = Reply(0x4D5E6F, (
    CID, SID, IAPD(1, 900, 1440, (GRANT_SL,)), IAPD(2, 900, 1440, (GRANT_FIXED,))))

REPLY_NO_PREFIX = [
    ("07", "msg-type REPLY (7)"),
    ("4d5e6f", "transaction-id 0x4d5e6f"),
    *CLIENT_ID,
    *SERVER_ID,
    ("0019 001c", "OPTION_IA_PD (25), option-len 28 = 12 + 16"),
    ("00000004", "  IAID 4"),
    ("00000000", "  T1 0"),
    ("00000000", "  T2 0"),
    ("000d 000c", "  OPTION_STATUS_CODE (13), option-len 12 = 2 + 10"),
    ("0006", "    status-code 6: NoPrefixAvail"),
    ("6e6f20475220706f6f6c", "    status-message 'no GR pool' (UTF-8)"),
]
REPLY_NO_PREFIX_MODEL = Reply(0x4D5E6F, (
    CID, SID, IAPD(4, 0, 0, (StatusCode(SC.NO_PREFIX_AVAIL, "no GR pool"),))))

RELAY_FORW = [
    ("0c", "msg-type RELAY-FORW (12)"),
    ("00", "hop-count 0"),
    ("20010db8000000010000000000000001", "link-address 2001:db8:0:1::1"),
    ("fe80000000000000000000fffe000002", "peer-address fe80::ff:fe00:2"),
    ("0012 0004", "OPTION_INTERFACE_ID (18), option-len 4"),
    ("65746830", "  interface-id 'eth0'"),
    ("0009 0012", "OPTION_RELAY_MSG (9), option-len 18 = 4 + 14"),
    ("05", "  msg-type RENEW (5)"),
    ("000007", "  transaction-id 7"),
    *[(h, "  " + c) for h, c in CLIENT_ID],
]

RA_TWO_PIOS = [
    ("86", "ICMPv6 type 134: Router Advertisement"),
    ("00", "code 0"),
    ("7d8d", "checksum (fe80::ff:fe00:1 → ff02::1)"),
    ("40", "Cur Hop Limit 64"),
    ("00", "flags: M 0, O 0, H 0, Prf medium, P 0"),
    ("0708", "Router Lifetime 1800 s"),
    ("00000000", "Reachable Time 0 (unspecified)"),
    ("00000000", "Retrans Timer 0 (unspecified)"),
    ("03 04", "PIO: type 3, length 4 (32 octets)"),
    ("40", "  prefix length 64"),
    ("c2", "  flags 0xc2: L 1, A 1, R 0, P 0, reserved 0, mobility type 2 SESSION_LASTING"),
    ("00278d00", "  valid lifetime 2592000 s"),
    ("00093a80", "  preferred lifetime 604800 s"),
    ("00000000", "  Reserved2"),
    ("20010db8000000010000000000000000", "  prefix 2001:db8:0:1::"),
    ("03 04", "PIO: type 3, length 4"),
    ("40", "  prefix length 64"),
    ("d3", "  flags 0xd3: L 1, A 1, R 0, P 1, reserved 0, mobility type 3 NON_PERSISTENT"),
    ("00000708", "  valid lifetime 1800 s"),
    ("00000384", "  preferred lifetime 900 s"),
    ("00000000", "  Reserved2"),
    ("20010db8000000020000000000000000", "  prefix 2001:db8:0:2::"),
    ("01 01", "Source Link-Layer Address: type 1, length 1 (8 octets)"),
    ("020000000001", "  02:00:00:00:00:01"),
]
RA_SRC, RA_DST = A("fe80::ff:fe00:1"), A("ff02::1")
RA_TWO_PIOS_MODEL = RouterAdvertisement(
    cur_hop_limit=64, router_lifetime=1800, checksum=0x7D8D, options=(
        PrefixInformation(64, A("2001:db8:0:1::"), 2592000, 604800, mobility_type=SL),
        PrefixInformation(64, A("2001:db8:0:2::"), 1800, 900, pd_preferred=True,
                          mobility_type=NP),
        SourceLinkLayerAddress(bytes.fromhex("020000000001"))))

RS = [
    ("85", "ICMPv6 type 133: Router Solicitation"),
    ("00", "code 0"),
    ("0000", "checksum (left to the kernel)"),
    ("00000000", "Reserved"),
    ("01 01", "Source Link-Layer Address: type 1, length 1"),
    ("020000000002", "  02:00:00:00:00:02"),
]

VECTORS = {
    "solicit-typed": (SOLICIT, SOLICIT_MODEL),
    "advertise": (ADVERTISE, ADVERTISE_MODEL),
    "request": (REQUEST, REQUEST_MODEL),
    "reply-two-ia-pd-two-types": (REPLY_TWO_TYPES, REPLY_TWO_TYPES_MODEL),
    "reply-no-prefix-avail": (REPLY_NO_PREFIX, REPLY_NO_PREFIX_MODEL),
    "relay-forw-renew": (RELAY_FORW, RelayForw(0, A("2001:db8:0:1::1"), A(CLIENT_LL), (
        InterfaceId(b"eth0"),
        RelayMsg(odm_wire.dhcp6.Renew(7, (CID,))),
    ))),
    "ra-two-typed-pios": (RA_TWO_PIOS, RA_TWO_PIOS_MODEL),
    "rs": (RS, RouterSolicitation((SourceLinkLayerAddress(bytes.fromhex("020000000002")),))),
}


@pytest.mark.parametrize("name", list(VECTORS))
def test_vector_decodes_to_model(name):
    octets, model = hexv(VECTORS[name][0]), VECTORS[name][1]
    assert odm_wire.decode(octets) == model


@pytest.mark.parametrize("name", list(VECTORS))
def test_model_encodes_to_vector(name):
    octets, model = hexv(VECTORS[name][0]), VECTORS[name][1]
    assert odm_wire.encode(model) == octets


def test_vector_semantics_read_back():
    """The model's helpers read the fields the vectors annotate."""
    sol = odm_wire.decode(hexv(SOLICIT))
    assert sol.client_duid == DuidLL(1, bytes.fromhex("020000000002"))
    assert [p.mobility_type for ia in sol.ia_pds for p in ia.prefixes] == [SL]
    reply = odm_wire.decode(hexv(REPLY_TWO_TYPES))
    assert [(ia.iaid, ia.prefixes[0].network, ia.prefixes[0].mobility_type)
            for ia in reply.ia_pds] == [(1, "2001:db8:8000:100::/56", SL),
                                        (2, "2001:db8:8000:200::/56", FIXED)]
    nopfx = odm_wire.decode(hexv(REPLY_NO_PREFIX))
    assert nopfx.status is None  # the message's own status: Success
    assert nopfx.ia_pds[0].status.status_code is SC.NO_PREFIX_AVAIL
    assert nopfx.ia_pds[0].prefixes == []
    adv = odm_wire.decode(hexv(ADVERTISE))
    assert adv.get(OdmVendorOpts).suboptions == (SupportedTypesSubOption((FIXED, SL, NP)),)
    ra = odm_wire.decode(hexv(RA_TWO_PIOS))
    assert [(p.network, p.mobility_type, p.pd_preferred) for p in ra.prefixes] == [
        ("2001:db8:0:1::/64", SL, False), ("2001:db8:0:2::/64", NP, True)]


def test_ra_checksum_is_the_icmpv6_checksum():
    """The vector's checksum is what encode_nd computes for its addresses, and
    what scapy computes independently."""
    from scapy.layers.inet6 import ICMPv6ND_RA, IPv6

    octets = hexv(RA_TWO_PIOS)
    unsummed = dataclasses.replace(RA_TWO_PIOS_MODEL, checksum=0)
    assert encode_nd(unsummed, RA_SRC, RA_DST) == octets
    pkt = IPv6(src=str(RA_SRC), dst=str(RA_DST)) / ICMPv6ND_RA(encode_nd(unsummed))
    del pkt[ICMPv6ND_RA].cksum
    assert bytes(pkt)[40 + 2:40 + 4] == octets[2:4]


def test_reserved_mobility_type_is_kept_raw():
    """A reserved type value (0, 5–7) decodes as a plain int and re-encodes."""
    octets = hexv(SOLICIT)[:-1] + b"\x06"
    sol = odm_wire.decode(octets)
    assert sol.ia_pds[0].prefixes[0].mobility_type == 6
    assert not isinstance(sol.ia_pds[0].prefixes[0].mobility_type, MobilityType)
    assert odm_wire.encode(sol) == octets
    assert MobilityTypeSubOption(6).encode() == bytes.fromhex("0001000106")


# ------------------------------------------------------- draft numbering --
def test_draft_numbering_table():
    """The one mapping odm ↔ draft-moses/draft-feng: NP 1, SL 2, FIXED 3, GR 4."""
    assert DRAFT_NUMBERING == {NP: 1, SL: 2, FIXED: 3, GR: 4}
    assert [int(m) for m in (FIXED, SL, NP, GR)] == [1, 2, 3, 4]
    for m in MobilityType:
        assert from_draft_numbering(to_draft_numbering(m)) is m
    assert to_draft_numbering(FIXED) == 3 and from_draft_numbering(1) is NP
    for bad in (0, 5, 7):
        with pytest.raises(ValueError):
            from_draft_numbering(bad)
