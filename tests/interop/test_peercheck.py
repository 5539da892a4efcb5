"""The capture check every interop test applies (peercheck.clean) can fail:
tshark's objections and ``odm pcap check``'s exit 1 both stop it."""

from __future__ import annotations

import pytest
from peercheck import clean, needs, tshark_problems

pytestmark = [pytest.mark.interop, needs("tshark", package="tshark")]


def _write(path, frames):
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    wrpcap(str(path), [Ether() / IPv6(src="fe80::2", dst="ff02::1:2")
                       / UDP(sport=546, dport=547, **kw) / Raw(bytes.fromhex(h))
                       for h, kw in frames])


def test_clean_refuses_a_malformed_option_and_a_bad_checksum(tmp_path):
    bad = tmp_path / "bad.pcap"
    _write(bad, [("011a2b3c00190008000000010000000000", {}),   # IA_PD of 8 octets
                 ("011a2b3c", {"chksum": 0x1234})])
    problems = tshark_problems(bad)
    assert any("IA_PD" in p for p in problems) and any(p.startswith("Errors") for p in problems)
    with pytest.raises(AssertionError):
        clean(bad)


def test_clean_accepts_a_well_formed_solicit_and_counts_messages(tmp_path):
    good = tmp_path / "good.pcap"
    _write(good, [("011a2b3c0001000a00030001020000000002", {})])  # Solicit with a DUID-LL
    clean(good, min_dhcp6=1)
    with pytest.raises(AssertionError, match="1 DHCPv6 messages"):
        clean(good, min_dhcp6=2)
