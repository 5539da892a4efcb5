"""``odm pcap check`` on other implementations' captures (issue 14, point 10):
tcpdump's public DHCPv6 test captures (tests/pcaptools/public/, source and
licence in its README) and the third-party peers' captures (pcaps/peers/)
exit 0; a SHOULD-level deviation in a real server's capture is a warning
(exit 1 only with ``--strict``); a copy of a real capture with one option
length grown past the end of its message still exits 1."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from odm.pcap_cli import pcap

HERE = Path(__file__).resolve().parent
PUBLIC = sorted((HERE / "public").glob("*.pcap"))
PEERS = sorted((HERE.parents[1] / "pcaps" / "peers").glob("*.pcap"))
#: Public captures with SHOULD-level deviations (exit 1 with --strict only).
WARNED = {"dhcpv6-ia-pd.pcap": "t2-gt-preferred"}


def check(*args) -> tuple[int, str]:
    res = CliRunner().invoke(pcap, ["check", *map(str, args)])
    return res.exit_code, res.output


def test_the_public_and_peer_captures_are_there():
    assert len(PUBLIC) >= 10 and len(PEERS) >= 8
    assert "dhcpv6-ia-pd.pcap" in {p.name for p in PUBLIC}


@pytest.mark.parametrize("path", PUBLIC + PEERS, ids=lambda p: p.name)
def test_pcap_check_exits_0_on_real_implementations_captures(path):
    code, out = check(path)
    assert code == 0, out
    strict, sout = check("--strict", "--json", path)
    if path.name in WARNED:
        assert strict == 1 and f'"rule": "{WARNED[path.name]}"' in sout, sout
    else:
        assert strict == 0, sout


def test_all_of_them_in_one_run_exit_0():
    code, out = check(*PUBLIC, *PEERS)
    assert code == 0, out


def _grow_ia_pd_length(src: Path, dst: Path) -> None:
    """Copy ``src`` with the IA_PD option of its Reply (message type 7)
    claiming 40 octets more than the message holds; UDP checksum recomputed,
    so the overrun is the only fault."""
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap, wrpcap

    pkts = rdpcap(str(src))
    for p in pkts:
        payload = bytes(p[UDP].payload)
        if payload[0] != 7:
            continue
        at = 4
        while at + 4 <= len(payload):
            code, length = struct.unpack_from("!HH", payload, at)
            if code == 25:  # OPTION_IA_PD
                payload = (payload[:at + 2] + struct.pack("!H", length + 40)
                           + payload[at + 4:])
                break
            at += 4 + length
        else:
            raise AssertionError("no IA_PD in the Reply")
        p[UDP].remove_payload()
        p[UDP].add_payload(payload)
        del p[UDP].chksum
        wrpcap(str(dst), pkts)
        return
    raise AssertionError("no Reply in the capture")


def test_an_overlong_option_in_a_real_capture_still_exits_1(tmp_path):
    bad = tmp_path / "dhcpv6-ia-pd-overlong.pcap"
    _grow_ia_pd_length(HERE / "public" / "dhcpv6-ia-pd.pcap", bad)
    code, out = check(bad)
    assert code == 1, out
    assert "malformed" in out and "0 wrong checksum" in " ".join(out.split())
    code, out = check("--json", bad)
    assert code == 1 and '"category": "malformed"' in out and "runs past" in out
