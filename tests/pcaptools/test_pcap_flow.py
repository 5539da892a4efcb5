"""odm pcap flow: an SVG/PNG ladder with one lane per address and labelled
arrows (type, xid, IAIDs, mobility types, statuses)."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from crafted import ALL_DHCP, CLIENT, SERVER, hint, reply, solicit, typed_exchange, typed_ra

from odm.pcap_cli import pcap
from odm_wire import dhcp6 as d6
from odm_wire.constants import MobilityType, StatusCode

NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def capture(pcap_path):
    ask = solicit(0x30, [d6.IAPD(3, 0, 0, (hint(MobilityType.GRACEFUL_REPLACEMENT),))])
    no = reply(0x30, [d6.IAPD(3, 0, 0, (d6.StatusCode(StatusCode.NO_PREFIX_AVAIL, ""),))],
               d6.Advertise)
    return pcap_path("f.pcap", [(typed_ra(MobilityType.FIXED), SERVER, "ff02::1")]
                     + typed_exchange() + [(ask, CLIENT, ALL_DHCP), (no, SERVER, CLIENT)])


def texts(svg_path):
    root = ET.parse(svg_path).getroot()
    return [t.text for t in root.iter(f"{NS}text")], root


def test_svg_lanes_and_labels(capture, tmp_path):
    out = tmp_path / "f.svg"
    res = CliRunner().invoke(pcap, ["flow", capture, "--out", str(out)])
    assert res.exit_code == 0, res.output
    words, root = texts(out)
    # one lane per address, unicast first, multicast groups named
    lanes = [w for w in words if w in (CLIENT, SERVER, "ff02::1", "ff02::1:2")]
    assert lanes == [SERVER, CLIENT, "ff02::1", "ff02::1:2"]
    assert "All DHCP Relay Agents and Servers" in words
    assert "#3 Advertise  xid 0x000010" in words
    assert "IA_PD 0x00000001: SESSION_LASTING 2001:db8:1::/56" in words
    assert "IA_PD 0x00000001: SESSION_LASTING (hint /64)" in words
    assert "PIO 2001:db8:a::/64 FIXED 300/600 s" in words
    assert "IA_PD 0x00000003: NoPrefixAvail" in words
    # every message is an arrow (a line with a marker)
    arrows = [e for e in root.iter(f"{NS}line") if e.get("marker-end")]
    assert len(arrows) == 7
    red = [t for t in root.iter(f"{NS}text") if t.text == "IA_PD 0x00000003: NoPrefixAvail"]
    assert red[0].get("fill") == "#c62828"


def test_filter_and_title(capture, tmp_path):
    out = tmp_path / "f.svg"
    res = CliRunner().invoke(pcap, ["flow", capture, "--out", str(out), "--filter", "dhcp6",
                                    "--title", "typed PD"])
    assert res.exit_code == 0 and "6 DHCPv6/ND packets" in res.output
    words, _ = texts(out)
    assert "typed PD" in words and "ff02::1" not in words


@pytest.mark.skipif(shutil.which("rsvg-convert") is None, reason="rsvg-convert missing")
def test_png(capture, tmp_path):
    out = tmp_path / "f.png"
    res = CliRunner().invoke(pcap, ["flow", capture, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_suffix(capture, tmp_path):
    res = CliRunner().invoke(pcap, ["flow", capture, "--out", str(tmp_path / "f.pdf")])
    assert res.exit_code == 1 and ".svg or .png" in res.output


def test_nd_messages_odm_does_not_model_are_not_drawn_as_malformed(tmp_path):
    """A DAD Neighbor Solicitation from :: (RFC 4862 §5.4.2) is well formed:
    odm_wire leaves it undissected, which is not a fault."""
    from scapy.layers.inet6 import ICMPv6ND_NS, IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    from odm.pcaptools.capture import read_capture
    from odm.pcaptools.flowarrows import arrow_labels
    from odm.pcaptools.packets import dissect_all
    pcap = tmp_path / "ns.pcap"
    wrpcap(str(pcap), [Ether(src="02:00:00:00:00:10", dst="33:33:ff:00:00:10")
                       / IPv6(src="::", dst="ff02::1:ff00:10", hlim=255)
                       / ICMPv6ND_NS(tgt="fe80::ff:fe00:10")])
    (pkt,) = dissect_all(read_capture(pcap))
    lines, cls = arrow_labels(pkt)
    assert cls == "nd" and not any("MALFORMED" in line for line in lines)


# ---- issue 16: --out into a missing directory is a one-line error ----
@pytest.mark.parametrize("name", ["x.svg", "x.png"])
def test_flow_out_into_a_missing_directory_is_a_one_line_error(tmp_path, name):
    from click.testing import CliRunner

    from odm.pcap_cli import pcap
    src = Path(__file__).resolve().parents[2] / "pcaps" / "pd-fixed.pcap"
    out = tmp_path / "missing" / "deeper" / name
    res = CliRunner().invoke(pcap, ["flow", str(src), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert res.output.strip().splitlines() == [
        f"Error: --out: cannot write {out}: no directory {out.parent} (create it first)"]
    assert not out.parent.exists()  # not created behind the user's back


def test_flow_out_onto_a_directory_or_under_a_file_is_a_one_line_error(tmp_path):
    from click.testing import CliRunner

    from odm.pcap_cli import pcap
    src = Path(__file__).resolve().parents[2] / "pcaps" / "pd-fixed.pcap"
    (tmp_path / "d.svg").mkdir()
    (tmp_path / "f").write_text("")
    for out, want in ((tmp_path / "d.svg", "is a directory"),
                      (tmp_path / "f" / "x.svg", "is not a directory")):
        res = CliRunner().invoke(pcap, ["flow", str(src), "--out", str(out)])
        assert res.exit_code == 2 and not isinstance(res.exception, OSError), res.output
        assert "Traceback" not in res.output and want in res.output.splitlines()[-1]


def test_write_flow_reports_an_unwritable_file_as_flow_error(tmp_path):
    from odm.pcaptools.flow import FlowError, write_flow
    with pytest.raises(FlowError, match="no directory"):
        write_flow([], tmp_path / "nope" / "x.svg")


def test_replay_host_socket_that_does_not_exist_is_a_usage_error(tmp_path):
    from click.testing import CliRunner

    from odm.pcap_cli import pcap
    src = Path(__file__).resolve().parents[2] / "pcaps" / "pd-fixed.pcap"
    res = CliRunner().invoke(pcap, ["replay", str(src), "--against", "host", "--iface", "eth9",
                                    "--host-socket", str(tmp_path / "none" / "api.sock")])
    assert res.exit_code == 2 and "does not exist" in res.output


# ---- issue 16: the move in a single capture of the host's link ----
def test_a_single_capture_marks_the_move_where_the_host_changed_routers(pcap_path, tmp_path):
    ar2 = "fe80::ff:fe00:3"
    rs = d6.Solicit(0x40, ())  # stands for the host's first message on the new link
    items = [(typed_ra(), SERVER, "ff02::1"), *typed_exchange(),
             (rs, CLIENT, ALL_DHCP), (typed_ra(), ar2, "ff02::1"),
             (reply(0x40, [], d6.Advertise), ar2, CLIENT)]
    out = tmp_path / "m.svg"
    res = CliRunner().invoke(pcap, ["flow", pcap_path("m.pcap", items), "--out", str(out)])
    assert res.exit_code == 0, res.output
    words, root = texts(out)
    assert "move: mh now served by ar2 (was ar1)" in words
    (rule,) = [e for e in root.iter(f"{NS}line") if e.get("class") == "move"]
    y = float(rule.get("y1"))
    heads = {t.text.split()[0]: float(t.get("y")) for t in root.iter(f"{NS}text")
             if "head" in (t.get("class") or "")}
    assert heads["#5"] < y < heads["#6"] < heads["#7"]  # after ar1's last Reply, before the host


def test_two_servers_answering_on_one_link_are_not_a_move(pcap_path, tmp_path):
    other = "fe80::ff:fe00:3"
    ex = typed_exchange()
    items = [ex[0], (ex[1][0], other, CLIENT), ex[1], ex[2], (ex[3][0], other, CLIENT), ex[3]]
    out = tmp_path / "two.svg"
    res = CliRunner().invoke(pcap, ["flow", pcap_path("two.pcap", items), "--out", str(out)])
    assert res.exit_code == 0, res.output
    _, root = texts(out)
    assert not [e for e in root.iter(f"{NS}line") if e.get("class") == "move"]
