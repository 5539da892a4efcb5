"""odm_wire against real encoders and a real dissector.

* every DHCPv6 and RS/RA packet of the peer captures (WIDE dhcp6c, ISC dhclient,
  dhcpcd, Kea, radvd) decodes and re-encodes byte for byte;
* a capture holding one of every message kind odm emits, wrapped in valid
  IPv6/UDP headers, is dissected by tshark with no malformed packet and no
  expert warning, and tshark shows odm's vendor option nested in the IAPREFIX.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from ipaddress import IPv6Address

import pytest
from wirelib import CLIENT_LL, CLIENT_MAC, PEERS, SERVER_LL, SERVER_MAC, peer_payloads

import odm_wire
from odm_wire.constants import INFINITY, MobilityType
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import (
    IANA,
    IAPD,
    Advertise,
    ClientId,
    Confirm,
    Decline,
    DuidLL,
    DuidLLT,
    ElapsedTime,
    IAAddr,
    IAPrefix,
    InformationRequest,
    InterfaceId,
    OdmVendorOpts,
    OptionRequest,
    Preference,
    Rebind,
    RelayForw,
    RelayMsg,
    RelayRepl,
    Release,
    Renew,
    Reply,
    Request,
    ServerId,
    Solicit,
    StatusCode,
    SupportedTypesSubOption,
    VendorOpts,
    mobility_type_option,
)
from odm_wire.nd import (
    PrefixInformation,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    encode_nd,
)

CAPTURES = sorted(PEERS.glob("*.pcap")) if PEERS.is_dir() else []


@pytest.mark.skipif(not CAPTURES, reason=f"no peer captures in {PEERS}")
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_peer_capture_round_trips(path):
    payloads = peer_payloads(path)
    assert payloads, f"{path.name} holds no DHCPv6 or RS/RA packet"
    for frame, kind, raw in payloads:
        msg = odm_wire.decode(raw)
        assert odm_wire.encode(msg) == raw, f"{path.name} frame {frame} ({kind})"


@pytest.mark.skipif(not CAPTURES, reason=f"no peer captures in {PEERS}")
def test_kea_classified_types_capture_reads_types():
    """The Kea capture whose client asks for types 1–4 at top level: each
    Solicit carries one odm type, and type 4 comes back as NoPrefixAvail."""
    msgs = [odm_wire.decode(raw) for _, _, raw in
            peer_payloads(PEERS / "scapy-mobtype-classes-kea.pcap")]
    asked = set()
    for m in msgs:
        if isinstance(m, Solicit):
            for o in m.get_all(OdmVendorOpts):
                asked.update(s.mobility_type for s in o.suboptions)
    assert asked == set(MobilityType)
    no_prefix = [ia for m in msgs if isinstance(m, (Advertise, Reply)) for ia in m.ia_pds
                 if ia.status and ia.status.status_code == SC.NO_PREFIX_AVAIL]
    assert no_prefix


def test_radvd_ra_decodes_with_pio():
    if not (PEERS / "radvd-ra-rs.pcap").exists():
        pytest.skip("no radvd capture")
    msgs = [odm_wire.decode(raw) for _, _, raw in peer_payloads(PEERS / "radvd-ra-rs.pcap")]
    ras = [m for m in msgs if isinstance(m, RouterAdvertisement)]
    assert len(ras) == 2 and any(isinstance(m, RouterSolicitation) for m in msgs)
    assert all(ra.prefixes for ra in ras)


# ------------------------------------------------------------------ tshark --
SL, FIXED, NP = MobilityType.SESSION_LASTING, MobilityType.FIXED, MobilityType.NON_PERSISTENT
CID = ClientId(DuidLL(1, bytes.fromhex("020000000002")))
SID = ServerId(DuidLLT(1, 0x2A5F3C10, bytes.fromhex("020000000001")))
HINT = IAPrefix(0, 0, 56, IPv6Address("::"), (mobility_type_option(SL),))
P_SL = IAPrefix(1800, 3600, 56, IPv6Address("2001:db8:8000:100::"), (mobility_type_option(SL),))
P_FX = IAPrefix(INFINITY, INFINITY, 56, IPv6Address("2001:db8:8000:200::"),
                (mobility_type_option(FIXED),))
SUPPORTED = OdmVendorOpts((SupportedTypesSubOption((FIXED, SL, NP)),))
ORO = OptionRequest((17, 23))


def odm_emitted() -> list[tuple[str, object]]:
    """One of every message kind odm emits, in a plausible order."""
    solicit = Solicit(0x000101, (CID, ElapsedTime(0), ORO, IAPD(1, 0, 0, (HINT,))))
    advertise = Advertise(0x000101, (CID, SID, Preference(10), IAPD(1, 900, 1440, (P_SL,)),
                                     SUPPORTED))
    return [
        ("RS", RouterSolicitation((SourceLinkLayerAddress(bytes.fromhex("020000000002")),))),
        ("RA", RouterAdvertisement(cur_hop_limit=64, router_lifetime=1800, options=(
            PrefixInformation(64, IPv6Address("2001:db8:0:1::"), 2592000, 604800,
                              mobility_type=SL),
            PrefixInformation(64, IPv6Address("2001:db8:0:2::"), 1800, 900,
                              mobility_type=NP),
            SourceLinkLayerAddress(bytes.fromhex("020000000001"))))),
        ("Solicit", solicit),
        ("Advertise", advertise),
        ("Request", Request(0x000102, (CID, SID, ElapsedTime(0), ORO,
                                       IAPD(1, 0, 0, (P_SL,)), IAPD(2, 0, 0, (HINT,))))),
        ("Reply typed", Reply(0x000102, (CID, SID, IAPD(1, 900, 1440, (P_SL,)),
                                         IAPD(2, 900, 1440, (P_FX,)), SUPPORTED))),
        ("Reply NoPrefixAvail", Reply(0x000103, (CID, SID, IAPD(3, 0, 0, (StatusCode(
            SC.NO_PREFIX_AVAIL, "no GRACEFUL_REPLACEMENT prefix"),))))),
        ("Renew", Renew(0x000104, (CID, SID, ElapsedTime(0), ORO, IAPD(1, 0, 0, (P_SL,))))),
        ("Rebind", Rebind(0x000105, (CID, ElapsedTime(100), ORO, IAPD(1, 0, 0, (P_SL,))))),
        ("Release", Release(0x000106, (CID, SID, ElapsedTime(0), IAPD(1, 0, 0, (P_SL,))))),
        ("Decline", Decline(0x000107, (CID, SID, ElapsedTime(0), IAPD(2, 0, 0, (P_FX,))))),
        ("Confirm", Confirm(0x000108, (CID, ElapsedTime(0), IANA(9, 0, 0, (IAAddr(
            IPv6Address("2001:db8:0:1::5"), 0, 0),))))),
        ("Information-Request", InformationRequest(0x000109, (CID, ElapsedTime(0), ORO))),
        ("Relay-Forw", RelayForw(0, IPv6Address("2001:db8:0:1::1"), IPv6Address(CLIENT_LL), (
            InterfaceId(b"veth-mh"), RelayMsg(solicit)))),
        ("Relay-Repl", RelayRepl(0, IPv6Address("2001:db8:0:1::1"), IPv6Address(CLIENT_LL), (
            InterfaceId(b"veth-mh"), RelayMsg(advertise)))),
        ("Reply foreign vendor", Reply(0x00010a, (CID, SID, VendorOpts(
            9, bytes.fromhex("0001000100")), IAPD(1, 900, 1440, (P_SL,))))),
    ]


def frames(msgs) -> list:
    """Wrap each message in Ethernet/IPv6/UDP or Ethernet/IPv6/ICMPv6 with
    scapy; scapy fills lengths and the UDP checksum, encode_nd the ICMPv6 one."""
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    out = []
    for name, m in msgs:
        if isinstance(m, (RouterSolicitation, RouterAdvertisement)):
            rs = isinstance(m, RouterSolicitation)
            src, dst = (CLIENT_LL, "ff02::2") if rs else (SERVER_LL, "ff02::1")
            mac = CLIENT_MAC if rs else SERVER_MAC
            payload = encode_nd(m, IPv6Address(src), IPv6Address(dst))
            out.append(Ether(src=mac, dst="33:33:00:00:00:01")
                       / IPv6(src=src, dst=dst, nh=58, hlim=255) / Raw(payload))
            continue
        to_server = name.split()[0] in ("Solicit", "Request", "Renew", "Rebind", "Release",
                                        "Decline", "Confirm", "Information-Request")
        if name == "Relay-Forw" or name == "Relay-Repl":
            src, dst, sport, dport = "2001:db8:0:1::1", "2001:db8::547", 547, 547
            if name == "Relay-Repl":
                src, dst = dst, src
        elif to_server:
            src, dst, sport, dport = CLIENT_LL, "ff02::1:2", 546, 547
        else:
            src, dst, sport, dport = SERVER_LL, CLIENT_LL, 547, 546
        out.append(Ether(src=SERVER_MAC, dst=CLIENT_MAC) / IPv6(src=src, dst=dst, hlim=64)
                   / UDP(sport=sport, dport=dport) / Raw(odm_wire.encode(m)))
    return out


needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


@pytest.fixture(scope="module")
def emitted_pcap(tmp_path_factory):
    from scapy.utils import wrpcap

    path = tmp_path_factory.mktemp("tshark") / "odm-emitted.pcap"
    wrpcap(str(path), frames(odm_emitted()))
    return path


def _tshark(*args: str) -> str:
    res = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout


def tshark_problems(path) -> list[str]:
    """What tshark objects to in a capture: "Malformed" lines of its ``-V`` tree
    and the Warnings/Errors sections of ``-z expert`` (checksums verified)."""
    verbose = _tshark("-r", str(path), "-V", "-o", "udp.check_checksum:TRUE")
    problems = [line.strip() for line in verbose.splitlines() if "Malformed" in line]
    expert = _tshark("-r", str(path), "-q", "-o", "udp.check_checksum:TRUE", "-z", "expert")
    problems += [line.strip() for line in expert.splitlines()
                 if line.startswith(("Errors", "Warns", "Warnings"))]
    return problems


@needs_tshark
def test_tshark_finds_nothing_malformed(emitted_pcap):
    assert tshark_problems(emitted_pcap) == []
    verbose = _tshark("-r", str(emitted_pcap), "-V")
    assert verbose.count("DHCPv6\n") >= 14
    assert "Router Advertisement" in verbose and "Router Solicitation" in verbose


@needs_tshark
def test_tshark_problems_control(tmp_path):
    """The check above can fail: tshark objects to malformed options and a bad
    UDP checksum."""
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    bad = ["011a2b3c 0008 0001 00",                      # Elapsed Time of 1 octet
           "011a2b3c 0019 0008 00000001 00000000",       # IA_PD of 8 octets
           "011a2b3c 0019 0010 00000001 00000000 00000000 001a 0000"]  # empty IAPREFIX
    pkts = [Ether() / IPv6(src=CLIENT_LL, dst="ff02::1:2") / UDP(sport=546, dport=547)
            / Raw(bytes.fromhex(h.replace(" ", ""))) for h in bad]
    pkts.append(Ether() / IPv6(src=CLIENT_LL, dst="ff02::1:2")
                / UDP(sport=546, dport=547, chksum=0x1234) / Raw(bytes.fromhex("011a2b3c")))
    wrpcap(str(tmp_path / "bad.pcap"), pkts)
    problems = tshark_problems(tmp_path / "bad.pcap")
    assert any("IA_PD" in p for p in problems) and any("Errors" in p for p in problems)


@needs_tshark
def test_tshark_checksums_verify(emitted_pcap):
    """With checksum validation on, every UDP and ICMPv6 checksum is good."""
    out = _tshark("-r", str(emitted_pcap), "-o", "udp.check_checksum:TRUE",
                  "-T", "fields", "-e", "udp.checksum.status", "-e", "icmpv6.checksum.status")
    statuses = [s for line in out.splitlines() for s in line.split("\t") if s]
    assert len(statuses) == len(odm_emitted())
    assert set(statuses) == {"1"}, statuses  # 1 = Good (proto_checksum_enum_e)


@needs_tshark
def test_tshark_shows_vendor_option_nested_in_iaprefix(emitted_pcap):
    """In tshark's tree the odm vendor option (enterprise 32473, sub-option 1,
    the type octet) sits inside the IAPREFIX, itself inside the IA_PD."""
    root = ET.fromstring(_tshark("-r", str(emitted_pcap), "-T", "pdml"))
    found = []  # (frame number, IA_PD's IAID, prefix, type octet)
    for pkt in root.iter("packet"):
        num = int(pkt.find("proto[@name='frame']/field[@name='frame.number']").get("show"))
        for ia in pkt.iter("field"):
            if not _is_option(ia, 25):
                continue
            for pfx in ia.findall("field"):
                if not _is_option(pfx, 26):
                    continue
                for vo in pfx.findall("field"):
                    if not _is_option(vo, 17):
                        continue
                    ent = vo.find("field[@name='dhcpv6.vendoropts.enterprise']")
                    data = vo.find(".//field[@name='dhcpv6.vendoropts.enterprise.option_data']")
                    code = vo.find(".//field[@name='dhcpv6.vendoropts.enterprise.option_code']")
                    found.append((num, ia.find("field[@name='dhcpv6.iaid']").get("show"),
                                  pfx.find("field[@name='dhcpv6.iaprefix.pref_addr']").get("show"),
                                  ent.get("show"), code.get("show"), data.get("show")))
    # frame 6 is the typed Reply (RS, RA, Solicit, Advertise, Request, Reply)
    assert (6, "00000001", "2001:db8:8000:100::", "32473", "1", "02") in found
    assert (6, "00000002", "2001:db8:8000:200::", "32473", "1", "01") in found
    # the Solicit's hint (frame 3) too
    assert (3, "00000001", "::", "32473", "1", "02") in found


@needs_tshark
def test_tshark_reads_pio_flags(emitted_pcap):
    """tshark reads L and A and the prefixes of odm's typed PIOs; the type bits
    sit in what it calls reserved."""
    out = _tshark("-r", str(emitted_pcap), "-Y", "icmpv6.type == 134", "-T", "fields",
                  "-e", "icmpv6.opt.prefix", "-e", "icmpv6.opt.prefix.flag.l",
                  "-e", "icmpv6.opt.prefix.flag.a", "-e", "icmpv6.opt.prefix.flag")
    line = out.strip()
    assert "2001:db8:0:1::" in line and "2001:db8:0:2::" in line
    assert "0xc2" in line and "0xc3" in line


def _is_option(field, code: int) -> bool:
    if field.get("name") != "dhcpv6.option.type_str":
        return False
    t = field.find("field[@name='dhcpv6.option.type']")
    return t is not None and t.get("show") == str(code)
