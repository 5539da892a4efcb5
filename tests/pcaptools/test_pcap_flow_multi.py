"""odm pcap flow over several captures (one per link): merged by time, one
arrow per message seen on several links with the links named, lanes named
after nodes (--lab-names, --name), data traffic drawn per burst (--data),
SRv6 tunnels with what they carry, a directory taken as its captures."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from ipaddress import IPv6Address

from click.testing import CliRunner
from crafted import ALL_DHCP, typed_exchange

from odm.pcap_cli import pcap
from odm.pcaptools.capture import write_pcap
from odm.pcaptools.craft import frame_for, ipv6_packet
from odm.pcaptools.flowlanes import Lanes, lab_names
from odm_wire import dhcp6 as d6

NS = "{http://www.w3.org/2000/svg}"
MH, AR1, AR2 = "fe80::ff:fe00:10", "fe80::1", "fe80::2"
CN = "2001:db8:0:c0::100"
HOST_G = "2001:db8:1f00::5"  # inside the prefix delegated below
T0 = 1_700_000_000.0


def eth(ip: bytes) -> bytes:
    return b"\x02\0\0\0\0\x99" + b"\x02\0\0\0\0\x98" + b"\x86\xdd" + ip


def tcp(src, dst, sport, dport, flags, data=b"") -> bytes:
    seg = struct.pack("!HHIIHHHH", sport, dport, 1, 1, (5 << 12) | flags, 65535, 0, 0) + data
    return ipv6_packet(IPv6Address(src), IPv6Address(dst), 6, seg, 64)


def srv6(outer_src, sid, inner: bytes) -> bytes:
    srh = bytes([41, 2, 4, 0, 0, 0, 0, 0]) + IPv6Address(sid).packed
    return ipv6_packet(IPv6Address(outer_src), IPv6Address(sid), 43, srh + inner, 64)


def vxlan(outer_src, outer_dst, inner: bytes, port: int = 4789) -> bytes:
    """RFC 7348: UDP to port 4789, the 8-octet header (I flag, VNI 42), an
    Ethernet frame carrying ``inner``."""
    payload = bytes([0x08, 0, 0, 0, 0, 0, 42, 0]) + eth(inner)
    udp = struct.pack("!HHHH", 50000, port, 8 + len(payload), 0) + payload
    return ipv6_packet(IPv6Address(outer_src), IPv6Address(outer_dst), 17, udp, 64)


def exchange(t: float = 0.0):
    """(time, frame) of a typed four-message exchange between mh and ar1."""
    items = typed_exchange(prefix="2001:db8:1f00::/56")
    return [(T0 + t + i * 0.01, frame_for(m, MH if s != "fe80::ff:fe00:1" else AR1,
                                          ALL_DHCP if d == ALL_DHCP else MH))
            for i, (m, s, d) in enumerate(items)]


def texts(path):
    root = ET.parse(path).getroot()
    return [t.text for t in root.iter(f"{NS}text")], root


def write_set(tmp_path):
    d = tmp_path / "demo"
    d.mkdir()
    ex = exchange()
    write_pcap(d / "access.pcap", ex + [
        (T0 + 1.0, eth(tcp(HOST_G, CN, 40000, 7000, 0x02))),
        (T0 + 1.001, eth(tcp(CN, HOST_G, 7000, 40000, 0x12))),
        (T0 + 1.002, eth(tcp(HOST_G, CN, 40000, 7000, 0x18, b"hello")))])
    # ar1's access bridge saw the same DHCPv6 messages a few microseconds apart
    write_pcap(d / "ar1-access.pcap", [(t + 0.00002, f) for t, f in ex])
    # the core link: the connection tunnelled from ar2 to ar1's SID after a move
    write_pcap(d / "core.pcap", [
        (T0 + 2.0, eth(srv6("2001:db8:0:c0::2", "2001:db8:5e6:1::1",
                            tcp(HOST_G, CN, 40000, 7000, 0x18, b"again")))),
        (T0 + 2.001, eth(srv6("2001:db8:0:c0::2", "2001:db8:5e6:1::1",
                              tcp(HOST_G, CN, 40000, 7000, 0x11))))])
    return d


def test_several_links_merge_into_one_ladder(tmp_path):
    d = write_set(tmp_path)
    out = tmp_path / "f.svg"
    res = CliRunner().invoke(pcap, ["flow", str(d), "--out", str(out), "--lab-names"])
    assert res.exit_code == 0, res.output
    assert "from 3 capture(s)" in res.output
    words, root = texts(out)
    heads = [t.text for t in root.iter(f"{NS}text") if "head" in (t.get("class") or "")]
    assert len(heads) == 4  # each DHCPv6 message once, though two links saw it
    assert words.count("access, ar1-access") == 4  # the links, under each time
    lanes = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "lane"]
    assert lanes == ["mh", "ar1", "ff02::1:2"]
    assert words[0] == "access, ar1-access, core"  # default title: the captures


def test_data_traffic_is_drawn_per_burst_and_tunnels_name_their_cargo(tmp_path):
    d = write_set(tmp_path)
    out = tmp_path / "f.svg"
    res = CliRunner().invoke(pcap, ["flow", str(d / "access.pcap"), str(d / "ar1-access.pcap"),
                                    str(d / "core.pcap"), "--out", str(out), "--lab-names",
                                    "--data", "--title", "move"])
    assert res.exit_code == 0, res.output
    words, root = texts(out)
    lanes = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "lane"]
    assert lanes == ["mh", "ar1", "ar2", "cn", "ff02::1:2"]
    assert any(w and w.endswith("TCP 40000→7000 ⇄") for w in words)
    assert "SYN, SYN+ACK, data 5 B  (3 packets)" in words
    assert any(w and w.endswith("SRv6 tunnel: TCP 40000→7000") for w in words)
    assert "data 5 B, FIN  (2 packets)" in words
    assert f"inner mh {HOST_G} → cn {CN}" in words
    dotted = [e for e in root.iter(f"{NS}line") if e.get("stroke-dasharray") == "2,3"]
    assert len(dotted) == 2


def test_lanes_group_addresses_of_one_node():
    lanes = Lanes({"fe80::1": "ar1", "2001:db8:1000::/36": "mh"})
    assert lanes(IPv6Address("fe80::1")) == "ar1"
    assert lanes(IPv6Address("2001:db8:1234::1")) == "mh"
    assert lanes(IPv6Address("ff02::1:2")) == "ff02::1:2"
    assert lanes(IPv6Address("2001:db8:9::1")) == "2001:db8:9::1"
    names = lab_names()
    assert names["fe80::ff:fe00:10"] == "mh" and names["2001:db8:0:c0::2"] == "ar2"
    assert names["fe80::ff:fe00:c011"] == "ar1" and names["2001:db8:0:c0::100"] == "cn"


def test_delegated_prefixes_and_slaac_addresses_join_their_host():
    from odm.pcaptools.capture import Frame
    from odm.pcaptools.packets import dissect

    lanes = Lanes({"fe80::ff:fe00:10": "host"})
    reply = d6.Reply(1, (d6.IAPD(1, 1, 2, (d6.IAPrefix(3, 4, 56, IPv6Address("2001:db8:77::")),)),))
    for msg, src, dst in ((reply, AR1, MH),):
        lanes.learn(dissect(Frame(1, 0.0, 1, frame_for(msg, src, dst), 0)))
    lanes.learn(dissect(Frame(2, 0.0, 1, frame_for(
        d6.Solicit(2, ()), MH, ALL_DHCP), 0)))
    assert lanes(IPv6Address("2001:db8:77:0:1::9")) == "host"
    assert lanes(IPv6Address("2001:db8:a1::ff:fe00:10")) == "host"  # EUI-64 of mh's MAC
    assert lanes(IPv6Address("2001:db8:5e6:1::1")) == "2001:db8:5e6:1::1"  # not EUI-64


def test_name_option_and_errors(tmp_path):
    d = write_set(tmp_path)
    out = tmp_path / "f.svg"
    res = CliRunner().invoke(pcap, ["flow", str(d / "access.pcap"), "--out", str(out),
                                    "--name", f"{MH}=host", "--name", f"{AR1}=router"])
    assert res.exit_code == 0, res.output
    words, root = texts(out)
    lanes = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "lane"]
    assert lanes == ["host", "router", "ff02::1:2"]
    assert "access" not in words  # one capture: no link names in the margin
    res = CliRunner().invoke(pcap, ["flow", str(d), "--out", str(out), "--name", "nonsense"])
    assert res.exit_code == 2 and "ADDR=NAME" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(pcap, ["flow", str(empty), "--out", str(out)])
    assert res.exit_code == 1 and "no .pcap" in res.output


def test_vxlan_tunnels_name_their_cargo_and_other_udp_stays_udp():
    from odm.pcaptools.capture import Frame
    from odm.pcaptools.traffic import summarise

    inner = tcp(HOST_G, CN, 40000, 7000, 0x18, b"again")
    t = summarise(Frame(1, T0, 1, eth(vxlan("2001:db8:0:c0::2", "2001:db8:0:c0::1", inner)), 0))
    assert t.tunnel == "VXLAN" and t.proto == "TCP" and t.event == "data"
    assert t.inner.src == IPv6Address(HOST_G) and t.inner.length == 5
    other = summarise(Frame(1, T0, 1, eth(vxlan("2001:db8:0:c0::2", "2001:db8:0:c0::1", inner,
                                                port=4790)), 0))
    assert other.tunnel is None and other.proto == "UDP"


# ---- issue 16: a ladder an engineer would print ----
MH_G = "2001:db8:1f00::5"


def move_set(tmp_path):
    """Three captures around a move of mh from ar1 to ar2: mh's own link
    (everything), ar1's access link (before), ar2's access link (ar2's RAs,
    then mh after the move); data between mh and cn before and after."""
    from crafted import typed_ra

    from odm.pcaptools.craft import frame_for as ff
    d = tmp_path / "move"
    d.mkdir()
    ra1 = (T0 - 0.5, ff(typed_ra(), AR1, "ff02::1"))
    ra2_early = (T0 + 0.5, ff(typed_ra(), AR2, "ff02::1"))
    before = [*exchange(), (T0 + 1.0, eth(tcp(MH_G, CN, 40000, 7000, 0x02))),
              (T0 + 1.001, eth(tcp(CN, MH_G, 7000, 40000, 0x12)))]
    rebind = d6.Rebind(0x77, (d6.ClientId(d6.DuidLL(1, bytes(6))), d6.ElapsedTime(0)))
    back = d6.Reply(0x77, (d6.ClientId(d6.DuidLL(1, bytes(6))),
                           d6.ServerId(d6.DuidLL(1, b"\x02" * 6))))
    after = [(T0 + 2.0, ff(rebind, MH, ALL_DHCP)),
             (T0 + 2.01, ff(back, AR2, MH)),
             (T0 + 2.02, ff(typed_ra(), AR2, "ff02::1")),
             (T0 + 3.0, eth(tcp(MH_G, CN, 40000, 7000, 0x18, b"after")))]
    write_pcap(d / "access.pcap", [ra1, *before, *after])
    write_pcap(d / "ar1-access.pcap", [ra1, *[(t + 0.00002, f) for t, f in before]])
    write_pcap(d / "ar2-access.pcap", [ra2_early, *[(t + 0.00002, f) for t, f in after]])
    return d


def draw(tmp_path, *args):
    out = tmp_path / "ladder.svg"
    res = CliRunner().invoke(pcap, ["flow", *args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return ET.parse(out).getroot()


def by_class(root, cls):
    return [t for t in root.iter(f"{NS}text") if cls in (t.get("class") or "").split()]


def test_frame_labels_are_unique_across_captures(tmp_path):
    import re
    root = draw(tmp_path, str(move_set(tmp_path)), "--data")
    heads = [t.text for t in by_class(root, "head")]
    tags = [re.match(r"^([\w-]+#\d+) ", h).group(1) for h in heads]
    assert len(tags) == len(set(tags)) == len(heads)
    # frame 1 of two captures: both drawn, told apart by their capture
    assert {"access#1", "ar2-access#1"} <= set(tags)
    assert "access#1 RA  router lifetime 1800 s" in heads


def test_the_move_is_a_horizontal_rule_between_the_links(tmp_path):
    root = draw(tmp_path, str(move_set(tmp_path)), "--data")
    (rule,) = [e for e in root.iter(f"{NS}line") if e.get("class") == "move"]
    (said,) = [t.text for t in by_class(root, "move")]
    assert said == "move: mh now seen on ar2-access (was on ar1-access)"
    y = float(rule.get("y1"))
    assert rule.get("y1") == rule.get("y2") and float(rule.get("x2")) - float(rule.get("x1")) > 500
    links = by_class(root, "link")
    above = [t.text for t in links if float(t.get("y")) < y]
    below = [t.text for t in links if float(t.get("y")) > y]
    assert all("ar1-access" not in x for x in below)
    assert any("ar1-access" in x for x in above) and any("ar2-access" in x for x in below)
    # mh's own link alone: no links to go by, the move is where the router changed
    root = draw(tmp_path, str(tmp_path / "move" / "access.pcap"))
    assert [t.text for t in by_class(root, "move")] == ["move: mh now served by ar2 (was ar1)"]


def test_legend_names_every_colour(tmp_path):
    from odm.pcaptools.flow import COLOURS
    root = draw(tmp_path, str(write_set(tmp_path)), "--data", "--lab-names")
    legend = [t.text for t in by_class(root, "legend")]
    for want in ("DHCPv6 client", "DHCPv6 server", "RS / RA", "data", "tunnel",
                 "to a multicast group", "frame labels: capture#frame"):
        assert want in legend
    samples = [e for e in root.iter(f"{NS}path") if e.get("class") == "legend-sample"]
    colours = {e.get("stroke") for e in samples}
    for cls in ("client", "server", "nd", "data", "tunnel"):
        assert COLOURS[cls] in colours
    # the tunnel arrows have the tunnel's colour, and the legend sits above the lanes
    tunnel = [e for e in root.iter(f"{NS}line") if e.get("stroke") == COLOURS["tunnel"]]
    assert len(tunnel) == 1
    lane_y = min(float(t.get("y")) for t in by_class(root, "lane"))
    assert all(float(t.get("y")) < lane_y for t in by_class(root, "legend"))


def test_lanes_are_named_by_role_with_the_address_as_sub_label(tmp_path):
    root = draw(tmp_path, str(move_set(tmp_path)), "--data")  # no --lab-names
    lanes = [t.text for t in by_class(root, "lane")]
    assert lanes == ["ar1", "mh", "ar2", "cn", "multicast"]  # in order of appearance
    subs = [t.text for t in by_class(root, "sub")]
    assert subs[:4] == [AR1, MH, AR2, CN]
    assert subs[4:] == ["ff02::1", "ff02::1:2"]


def test_relay_and_server_roles():
    from crafted import solicit

    from odm.pcaptools.capture import Frame
    from odm.pcaptools.craft import frame_for as ff
    from odm.pcaptools.packets import dissect
    relay, server = "2001:db8:99::1", "2001:db8:99::2"
    inner = solicit(5, [])
    fwd = d6.RelayForw(0, IPv6Address("2001:db8:1::1"), IPv6Address(MH),
                       (d6.RelayMsg(inner),))
    pkts = [dissect(Frame(i + 1, T0 + i, 1, f, 0)) for i, f in enumerate(
        [ff(inner, MH, ALL_DHCP), ff(fwd, relay, server, sport=547, dport=547)])]
    lanes = Lanes()
    lanes.assign_roles(pkts)
    assert lanes(IPv6Address(MH)) == "mh" and lanes(IPv6Address(relay)) == "relay"
    lanes = Lanes({"2001:db8:99::/64": "site"})
    lanes.assign_roles(pkts)
    assert lanes(IPv6Address(relay)) == "site"  # a given name wins


def test_multicast_is_one_narrow_lane_and_the_group_is_named_at_the_arrow(tmp_path):
    root = draw(tmp_path, str(move_set(tmp_path)))
    lanes = list(by_class(root, "lane"))
    assert [t.text for t in lanes][-1] == "multicast"
    xs = [float(t.get("x")) for t in lanes]
    assert xs[-1] - xs[-2] < xs[-2] - xs[-3]  # narrower than a node's lane
    dashed = [e for e in root.iter(f"{NS}line") if e.get("stroke-dasharray") == "6,4"]
    assert dashed and len({e.get("x2") for e in dashed}) == 1  # all end on that lane
    groups = [t.text for t in by_class(root, "group")]
    assert groups.count("All Nodes") == 3 and "All DHCP Relay Agents and Servers" in groups


def test_demo_4_2_ladder_fits_a_page():
    """pcaps/demo-4.2 drawn as the README does: within 1600 px, mh/ar1/ar2/cn
    and one multicast lane, a single move from ar1's to ar2's access link."""
    from pathlib import Path

    from odm.pcaptools.capture import read_capture
    from odm.pcaptools.flow import flow_svg
    from odm.pcaptools.packets import dissect_all
    demo = Path(__file__).resolve().parents[2] / "pcaps" / "demo-4.2"
    pkts, links = [], []
    for p in sorted(demo.glob("*.pcap")):
        got = dissect_all(read_capture(p))
        pkts += got
        links += [p.stem] * len(got)
    root = ET.fromstring(flow_svg(pkts, "demo", links=links, names=lab_names(), data=True))
    assert int(root.get("width")) <= 1600
    assert [t.text for t in by_class(root, "lane")] == ["mh", "ar1", "ar2", "cn", "multicast"]
    assert [t.text for t in by_class(root, "move")] == [
        "move: mh now seen on ar2-access (was on ar1-access)"]
    heads = [t.text.split(" ")[0] for t in by_class(root, "head")]
    assert len(heads) == len(set(heads))
    # no label runs out of the picture
    w = int(root.get("width"))
    for t in by_class(root, "label"):
        if t.get("text-anchor") == "middle":
            half = len(t.text) * 7.0 / 2
            assert float(t.get("x")) - half >= 0 and float(t.get("x")) + half <= w, t.text


def test_tunnelled_mld_is_left_out_like_untunnelled_mld():
    """A VXLAN datagram carrying an MLD report is not drawn as a bare 'UDP
    datagram' (it cluttered the top of the demo-4.2 ladder)."""
    from odm.pcaptools.capture import Frame
    from odm.pcaptools.traffic import summarise

    mld = ipv6_packet(IPv6Address("fe80::1"), IPv6Address("ff02::16"), 58,
                      bytes([143, 0, 0, 0, 0, 0, 0, 1]) + bytes(20), 1)
    f = Frame(1, T0, 1, eth(vxlan("2001:db8:0:c0::1", "2001:db8:0:c0::2", mld)), 0)
    assert summarise(f) is None
