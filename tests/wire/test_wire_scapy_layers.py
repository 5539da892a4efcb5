"""odm's scapy layers: a plain scapy session that imports odm_wire dissects and
builds odm's vendor sub-options and PIO type bits by name (DESIGN §4)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_wire_vectors import ADVERTISE, RA_TWO_PIOS, REPLY_NO_PREFIX, REPLY_TWO_TYPES, SOLICIT
from wirelib import hexv

import odm_wire
from odm_wire.constants import MobilityType
from odm_wire.scapy_layers import (
    DHCP6OptODMVendorOpts,
    ICMPv6NDOptPrefixInfoODM,
    ODMMobilityType,
    ODMSupportedTypes,
    ODMUnknownSubOption,
    register_pen,
    unregister_pen,
)


def test_plain_scapy_session_shows_type_by_name():
    """`import odm_wire`, then scapy alone dissects a Reply whose IAPREFIX carries
    odm's vendor option and prints the mobility type by name."""
    code = (
        "import odm_wire\n"
        "from scapy.all import DHCP6_Reply, DHCP6OptIAPrefix, DHCP6OptVendorSpecificInfo\n"
        f"p = DHCP6_Reply(bytes.fromhex({hexv(REPLY_TWO_TYPES).hex()!r}))\n"
        "p.show()\n"
        "v = p[DHCP6OptIAPrefix].iaprefopts[0]\n"
        "print('CLASS', type(v).__name__, isinstance(v, DHCP6OptVendorSpecificInfo))\n"
        "print('TYPE', v.vso[0].sprintf('%mobility_type%'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "mobility_type= SESSION_LASTING" in out
    assert "mobility_type= FIXED" in out
    assert "enterprisenum= 32473" in out
    assert "CLASS DHCP6OptODMVendorOpts True" in out
    assert "TYPE SESSION_LASTING" in out


RA_TYPED_PIO = ("86000000400007080000000000000000"
                "030440c1" "00278d00" "00093a80" "00000000" "20010db8000000010000000000000000")


@pytest.mark.parametrize("scapy_import", [
    "from scapy.layers.dhcp6 import DHCP6_Reply",   # dhcp6 imports inet6 half-way
    "import scapy.layers.inet6",                     # the RA layers alone
    "import scapy.layers.dns",                       # dns -> inet -> inet6, in a cycle
    "from scapy.all import *",
    "FIRST",                                         # scapy before odm_wire
])
def test_layers_registered_whenever_scapy_is_imported(scapy_import):
    """odm_wire does not import scapy (the agents never use it: 0.3 s of
    start-up), yet odm's layers are there in any session that imports scapy,
    before or after odm_wire, by any of its modules."""
    before = "import scapy.layers.inet6\n" if scapy_import == "FIRST" else ""
    after = "" if scapy_import == "FIRST" else scapy_import + "\n"
    code = (
        f"import sys\n{before}import odm_wire\n"
        "print('SCAPY-AFTER-ODM_WIRE', 'scapy' in sys.modules)\n"
        f"{after}"
        "from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptPrefixInfo\n"
        f"p = ICMPv6ND_RA(bytes.fromhex({RA_TYPED_PIO!r}))\n"
        "print('PIO', type(p[ICMPv6NDOptPrefixInfo]).__name__,"
        " p[ICMPv6NDOptPrefixInfo].sprintf('%mobility_type%'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "PIO ICMPv6NDOptPrefixInfoODM FIXED" in out.stdout
    assert ("SCAPY-AFTER-ODM_WIRE True" if scapy_import == "FIRST"
            else "SCAPY-AFTER-ODM_WIRE False") in out.stdout
    assert "Traceback" not in out.stderr and "ERROR" not in out.stderr, out.stderr[-3000:]


def test_vendor_option_nested_in_iaprefix_dissects_to_odm_classes():
    from scapy.layers.dhcp6 import DHCP6_Reply, DHCP6OptIA_PD, DHCP6OptVendorSpecificInfo

    p = DHCP6_Reply(hexv(REPLY_TWO_TYPES))
    assert p.haslayer(DHCP6OptVendorSpecificInfo)
    assert isinstance(p[DHCP6OptVendorSpecificInfo], DHCP6OptODMVendorOpts)
    types = []
    ia = p[DHCP6OptIA_PD]
    while isinstance(ia, DHCP6OptIA_PD):
        for pfx in ia.iapdopt:
            vso = pfx.iaprefopts[0]
            assert isinstance(vso, DHCP6OptODMVendorOpts)
            assert vso.enterprisenum == 32473
            types.append(vso.vso[0].sprintf("%mobility_type%"))
            assert vso.mobility_type == vso.vso[0].mobility_type
        ia = ia.payload
    assert types == ["SESSION_LASTING", "FIXED"]
    assert bytes(p) == hexv(REPLY_TWO_TYPES)


def test_supported_types_at_top_level():
    from scapy.layers.dhcp6 import DHCP6_Advertise

    p = DHCP6_Advertise(hexv(ADVERTISE))
    st = p[ODMSupportedTypes]
    assert st.types == [1, 2, 3]
    assert st.sprintf("%types%") == "[FIXED, SESSION_LASTING, NON_PERSISTENT]"


def test_build_with_scapy_equals_odm_wire_encoding():
    """Built with scapy from names, the octets equal odm_wire's encoding."""
    from scapy.layers.dhcp6 import (
        DUID_LL,
        DHCP6_Solicit,
        DHCP6OptClientId,
        DHCP6OptElapsedTime,
        DHCP6OptIA_PD,
        DHCP6OptIAPrefix,
        DHCP6OptOptReq,
    )

    pkt = (DHCP6_Solicit(trid=0x1A2B3C)
           / DHCP6OptClientId(duid=DUID_LL(hwtype=1, lladdr="02:00:00:00:00:02"))
           / DHCP6OptElapsedTime(elapsedtime=0) / DHCP6OptOptReq(reqopts=[17, 23])
           / DHCP6OptIA_PD(iaid=1, T1=0, T2=0, iapdopt=[DHCP6OptIAPrefix(
               preflft=0, validlft=0, plen=56, prefix="::",
               iaprefopts=[DHCP6OptODMVendorOpts(
                   vso=[ODMMobilityType(mobility_type="SESSION_LASTING")])])]))
    assert bytes(pkt) == hexv(SOLICIT)
    assert bytes(DHCP6OptODMVendorOpts(vso=[ODMSupportedTypes(types=["FIXED", 3])])) == \
        bytes.fromhex("0011000a00007ed9000200020103")


def test_other_enterprise_and_unknown_suboption_stay_generic():
    from scapy.layers.dhcp6 import VENDOR_SPECIFIC_OPTION, DHCP6OptVendorSpecificInfo

    foreign = DHCP6OptVendorSpecificInfo(bytes.fromhex("0011000900000009" "0001000102"))
    assert type(foreign) is DHCP6OptVendorSpecificInfo
    assert type(foreign.vso[0]) is VENDOR_SPECIFIC_OPTION
    odd = DHCP6OptVendorSpecificInfo(bytes.fromhex("0011000b00007ed9" "0009000300aabb"))
    assert type(odd) is DHCP6OptODMVendorOpts
    assert type(odd.vso[0]) is ODMUnknownSubOption and odd.vso[0].optdata == b"\x00\xaa\xbb"
    # a MOBILITY_TYPE sub-option of the wrong length is not read as a type
    bad = DHCP6OptVendorSpecificInfo(bytes.fromhex("0011000a00007ed9" "000100020203"))
    assert type(bad.vso[0]) is ODMUnknownSubOption


def test_registered_pen():
    from scapy.layers.dhcp6 import DHCP6OptVendorSpecificInfo

    raw = bytes.fromhex("0011000900bc614e" "0001000104")  # PEN 12345678
    assert type(DHCP6OptVendorSpecificInfo(raw)) is DHCP6OptVendorSpecificInfo
    register_pen(12345678)
    try:
        v = DHCP6OptVendorSpecificInfo(raw)
        assert type(v) is DHCP6OptODMVendorOpts
        assert v.vso[0].sprintf("%mobility_type%") == "GRACEFUL_REPLACEMENT"
    finally:
        unregister_pen(12345678)
    assert type(DHCP6OptVendorSpecificInfo(raw)) is DHCP6OptVendorSpecificInfo


def test_pio_type_bits_by_name():
    from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptPrefixInfo, IPv6

    ra = ICMPv6ND_RA(hexv(RA_TWO_PIOS))
    assert ra.haslayer(ICMPv6NDOptPrefixInfo)
    first = ra[ICMPv6NDOptPrefixInfo]
    assert isinstance(first, ICMPv6NDOptPrefixInfoODM)
    assert first.sprintf("%mobility_type%") == "SESSION_LASTING"
    assert (first.L, first.A, first.R, first.P, first.res) == (1, 1, 0, 0, 0)
    second = ra.getlayer(ICMPv6NDOptPrefixInfo, 2)
    assert second.sprintf("%mobility_type%") == "NON_PERSISTENT" and second.P == 1
    # through an IPv6 header too
    pkt = IPv6(bytes(IPv6(src="fe80::1", dst="ff02::1", nh=58, hlim=255) / ra))
    assert pkt[ICMPv6NDOptPrefixInfo].mobility_type == 2
    # settable by name; odm_wire reads what scapy wrote
    first.mobility_type = "FIXED"
    first.P = 1
    ra.cksum = 0
    decoded = odm_wire.decode(bytes(ra))
    assert decoded.prefixes[0].mobility_type is MobilityType.FIXED
    assert decoded.prefixes[0].pd_preferred is True
    built = ICMPv6NDOptPrefixInfoODM(prefixlen=64, prefix="2001:db8::", L=1, A=0,
                                     mobility_type="GRACEFUL_REPLACEMENT")
    assert bytes(built)[3] == 0x84


def test_status_scope_contrast_with_scapy():
    """scapy's ``pkt[DHCP6OptStatusCode]`` finds the NoPrefixAvail nested in the
    IA_PD; odm's message status is Success (RFC 8415 §21.13 scope)."""
    from scapy.layers.dhcp6 import DHCP6_Reply, DHCP6OptStatusCode

    from odm_wire.constants import StatusCode as SC
    from odm_wire.rules import ia_status, message_status

    octets = hexv(REPLY_NO_PREFIX)
    assert DHCP6_Reply(octets)[DHCP6OptStatusCode].statuscode == 6
    msg = odm_wire.decode(octets)
    assert message_status(msg) is SC.SUCCESS
    assert ia_status(msg.ia_pds[0]) is SC.NO_PREFIX_AVAIL
