"""odm pcap check finds one fault per rule in crafted captures, and nothing in
clean ones (crafted and the peers' captures)."""

from __future__ import annotations

import struct
from ipaddress import IPv6Address
from pathlib import Path

import pytest
from click.testing import CliRunner
from crafted import ALL_DHCP, CLIENT, SERVER, grant, hint, reply, solicit, typed_exchange, typed_ra

import odm_wire
from odm.pcap_cli import pcap
from odm.pcaptools.capture import read_capture
from odm.pcaptools.check import check_packets
from odm.pcaptools.packets import dissect_all
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import MobilityType

PEERS = Path(__file__).resolve().parents[2] / "pcaps" / "peers"
if not PEERS.is_dir():  # CI keeps shared/ beside the clone
    PEERS = Path(__file__).resolve().parents[3] / "shared" / "pcaps-peers"


def findings(path):
    return check_packets(dissect_all(read_capture(path)))


def only(path):
    got = findings(path)
    assert len(got) == 1, got
    return got[0]


def test_clean_typed_exchange_and_ra_have_no_findings(pcap_path):
    p = pcap_path("clean.pcap", typed_exchange() + [(typed_ra(), SERVER, "ff02::1")])
    assert findings(p) == []
    res = CliRunner().invoke(pcap, ["check", p])
    assert res.exit_code == 0, res.output
    assert "no faults" in res.output


@pytest.mark.skipif(not PEERS.is_dir(), reason="shared/pcaps-peers not present")
def test_peer_captures_are_clean():
    files = sorted(PEERS.glob("*.pcap"))
    assert files
    for f in files:
        assert findings(f) == [], f


def test_option_length_overrun_is_malformed_with_offset(pcap_path):
    good = odm_wire.encode(typed_exchange()[3][0])
    # IA_PD is the last option: grow its option-len by 40 so it runs past the message
    at = good.index(struct.pack("!HH", 25, len(d6.IAPD(1, 150, 240, (grant(
        "2001:db8:1::/56", MobilityType.SESSION_LASTING),)).encode_data())))
    bad = good[:at + 2] + struct.pack("!H", struct.unpack_from("!H", good, at + 2)[0] + 40) \
        + good[at + 4:]
    f = only(pcap_path("overrun.pcap", [(bad, SERVER, CLIENT)]))
    assert (f.category, f.rule, f.section) == ("malformed", "codec", "RFC 8415 §21.1")
    assert "runs past" in f.detail
    assert f.offset == 14 + 40 + 8 + at  # Ethernet + IPv6 + UDP headers + option offset


def test_preferred_greater_than_valid(pcap_path):
    ia = d6.IAPD(1, 150, 240, (grant("2001:db8:1::/56", MobilityType.FIXED, pref=700,
                                     valid=600),))
    f = only(pcap_path("pv.pcap", [(reply(1, [ia]), SERVER, CLIENT)]))
    assert (f.rule, f.section) == ("preferred-gt-valid", "RFC 8415 §21.22")


def test_t1_greater_than_t2(pcap_path):
    ia = d6.IAPD(1, 250, 240, (grant("2001:db8:1::/56", MobilityType.FIXED),))
    f = only(pcap_path("t1t2.pcap", [(reply(1, [ia]), SERVER, CLIENT)]))
    assert (f.rule, f.section, f.where) == ("t1-gt-t2", "RFC 8415 §21.21", "IA_PD[iaid=1]")


def test_inconsistent_t1_t2_across_ia_pds_of_one_reply(pcap_path):
    a = d6.IAPD(1, 150, 240, (grant("2001:db8:1::/56", MobilityType.FIXED),))
    b = d6.IAPD(2, 100, 200, (grant("2001:db8:2::/56", MobilityType.SESSION_LASTING),))
    f = only(pcap_path("t1t2differ.pcap", [(reply(1, [a, b]), SERVER, CLIENT)]))
    assert (f.rule, f.section) == ("t1-t2-differ", "RFC 8415 §18.3.2")


def test_zero_length_nd_option(pcap_path):
    ra = nd.encode_nd(typed_ra())
    bad = ra[:16] + bytes((3, 0)) + ra[18:]
    f = only(pcap_path("zero.pcap", [(bad, SERVER, "ff02::1")]))
    assert (f.category, f.section) == ("malformed", "RFC 4861 §4.6")
    assert "length 0" in f.detail and f.offset == 14 + 40 + 16


def test_pio_preferred_greater_than_valid(pcap_path):
    ra = nd.RouterAdvertisement(options=(nd.PrefixInformation(
        64, IPv6Address("2001:db8:a::"), 300, 600, mobility_type=MobilityType.FIXED),))
    f = only(pcap_path("pio.pcap", [(ra, SERVER, "ff02::1")]))
    assert (f.rule, f.section) == ("preferred-gt-valid", "RFC 4861 §4.6.2")


def test_ra_hop_limit_not_255(pcap_path):
    f = only(pcap_path("hl.pcap", [(typed_ra(), SERVER, "ff02::1", {"hop_limit": 64})]))
    assert (f.rule, f.section) == ("hop-limit", "RFC 4861 §6.1.2")


def test_reserved_pio_type(pcap_path):
    f = only(pcap_path("res.pcap", [(typed_ra(6), SERVER, "ff02::1")]))
    assert f.rule == "reserved-type"


def test_typed_grant_to_untyped_request(pcap_path):
    ask = solicit(7, [d6.IAPD(1, 0, 0, (hint(None),))])
    got = reply(7, [d6.IAPD(1, 150, 240, (grant("2001:db8:1::/56",
                                                MobilityType.FIXED),))], d6.Advertise)
    f = only(pcap_path("m7.pcap", [(ask, CLIENT, ALL_DHCP), (got, SERVER, CLIENT)]))
    assert (f.frame, f.rule) == (2, "type-not-asked")


def test_reserved_type_granted(pcap_path):
    got = reply(7, [d6.IAPD(1, 150, 240, (grant("2001:db8:1::/56", 0),))])
    f = only(pcap_path("zero-type.pcap", [(got, SERVER, CLIENT)]))
    assert f.rule == "reserved-type-granted"


def test_reply_without_server_id(pcap_path):
    msg = d6.Reply(1, (d6.ClientId(d6.DuidLL(1, b"\x02\0\0\0\0\x02")),))
    f = only(pcap_path("nosid.pcap", [(msg, SERVER, CLIENT)]))
    assert (f.rule, f.section) == ("no-server-id", "RFC 8415 §18.3.9")


def test_udp_length_disagreeing_with_ipv6_payload(pcap_path, tmp_path):
    p = pcap_path("ulen.pcap", typed_exchange()[:1])
    fr = read_capture(p)[0]
    data = bytearray(fr.data)
    struct.pack_into("!H", data, 14 + 40 + 4, len(data) - 54 + 16)
    from odm.pcaptools.capture import write_pcap
    write_pcap(tmp_path / "ulen2.pcap", [(fr.time, bytes(data))])
    got = findings(tmp_path / "ulen2.pcap")
    assert [g.rule for g in got if g.category == "malformed"] == ["framing"]


def test_wrong_checksums_reported_apart_and_skippable(pcap_path):
    items = typed_exchange()
    items[1] = (*items[1], {"bad_checksum": True})
    p = pcap_path("sum.pcap", items + [(typed_ra(), SERVER, "ff02::1", {"bad_checksum": True})])
    got = findings(p)
    assert [(g.frame, g.category, g.rule) for g in got] == [
        (2, "checksum", "udp-checksum"), (5, "checksum", "icmpv6-checksum")]
    assert check_packets(dissect_all(read_capture(p)), checksums=False) == []
    res = CliRunner().invoke(pcap, ["check", p])
    assert res.exit_code == 1
    assert "2 wrong checksum(s)" in res.output


def test_check_cli_json_and_exit_status(pcap_path):
    ia = d6.IAPD(1, 250, 240, (grant("2001:db8:1::/56", MobilityType.FIXED),))
    p = pcap_path("t1t2.pcap", [(reply(1, [ia]), SERVER, CLIENT)])
    res = CliRunner().invoke(pcap, ["check", "--json", p])
    assert res.exit_code == 1
    import json
    rows = [json.loads(x) for x in res.output.splitlines()]
    assert rows[0]["rule"] == "t1-gt-t2" and rows[0]["section"] == "RFC 8415 §21.21"


def test_t2_above_shortest_preferred_is_a_warning_not_an_error(pcap_path):
    """Issue 14: RFC 8415 §21.21 only recommends (SHOULD) T1/T2 from the
    shortest preferred lifetime; a real server's capture with T2 above it
    (tcpdump's dhcpv6-ia-pd.pcap) is a warning: exit 0, exit 1 with
    --strict. A MUST violation (an overlong option) still exits 1."""
    ia = d6.IAPD(1, 300, 500, (grant("2001:db8:1::/56", MobilityType.FIXED, pref=400,
                                     valid=600),))
    p = pcap_path("t2pref.pcap", [(reply(1, [ia]), SERVER, CLIENT)])
    f = only(p)
    assert (f.rule, f.section, f.severity) == ("t2-gt-preferred", "RFC 8415 §21.21", "warning")
    res = CliRunner().invoke(pcap, ["check", p])
    assert res.exit_code == 0, res.output
    assert "1 warning(s)" in res.output
    assert CliRunner().invoke(pcap, ["check", "--strict", p]).exit_code == 1
    res = CliRunner().invoke(pcap, ["check", "--json", p])
    assert res.exit_code == 0 and '"severity": "warning"' in res.output
    assert '"rule": "t2-gt-preferred"' in res.output


# ---- issue 16: a check that finds nothing to check says so and fails ----
def _cli(*args):
    return CliRunner().invoke(pcap, list(args), env={"COLUMNS": "200"})


def test_check_of_an_empty_capture_is_nothing_to_check_exit_2(pcap_path):
    p = pcap_path("empty.pcap", [])
    res = _cli("check", p)
    assert res.exit_code == 2, res.output
    assert "nothing to check" in res.output and "no faults" not in res.output
    res = _cli("check", "--json", p)
    assert res.exit_code == 2
    import json
    (row,) = [json.loads(x) for x in res.stdout.splitlines()]
    assert (row["result"], row["frames"], row["packets"]) == ("nothing-to-check", 0, 0)


def test_check_json_prints_a_result_when_clean(pcap_path):
    import json
    p = pcap_path("clean.pcap", typed_exchange())
    res = _cli("check", "--json", p)
    assert res.exit_code == 0, res.output
    (row,) = [json.loads(x) for x in res.output.splitlines()]
    assert row == {"file": p, "result": "clean", "frames": 4, "packets": 4, "errors": 0,
                   "warnings": 0, "checksums": 0, "cut-short": None}


def test_check_of_a_directory_checks_each_capture_and_a_dir_without_odm_packets(tmp_path):
    from crafted import write
    d = tmp_path / "caps"
    d.mkdir()
    write(d / "a.pcap", typed_exchange())
    write(d / "b.pcap", [(typed_ra(), SERVER, "ff02::1")])
    res = _cli("check", str(d))
    assert res.exit_code == 0, res.output
    assert "a.pcap: 4 DHCPv6/ND packets, no faults" in res.output
    assert "b.pcap: 1 DHCPv6/ND packets, no faults" in res.output
    empty = tmp_path / "none"
    empty.mkdir()
    write(empty / "x.pcap", [])
    res = _cli("check", str(empty))
    assert res.exit_code == 2 and "nothing to check" in res.output


def test_a_truncated_capture_is_checked_up_to_the_damage_with_a_warning(pcap_path):
    import json
    p = Path(pcap_path("whole.pcap", typed_exchange()))
    whole = p.read_bytes()
    cut = p.with_name("cut.pcap")
    cut.write_bytes(whole[:-10])  # the Reply's record runs past the end
    res = _cli("check", str(cut))
    assert res.exit_code == 0, res.output
    assert "3 DHCPv6/ND packets, no faults" in res.stdout
    assert "cut short after frame 3 (file offset" in res.stderr
    assert "runs past the file" in res.stderr
    assert _cli("check", "--strict", str(cut)).exit_code == 1
    row = json.loads(_cli("check", "--json", str(cut)).stdout.splitlines()[-1])
    assert row["cut-short"]["after-frame"] == 3
    # show and flow read it up to the damage as well
    res = _cli("show", "--json", str(cut))
    assert res.exit_code == 0 and len(res.stdout.splitlines()) == 3
    # not a capture at all is still refused
    junk = p.with_name("junk.pcap")
    junk.write_bytes(b"hello world, not a pcap")
    res = _cli("check", str(junk))
    assert res.exit_code == 1 and "unknown capture magic" in res.output


def test_show_takes_several_files_and_a_directory(tmp_path):
    import json

    from crafted import write
    d = tmp_path / "caps"
    d.mkdir()
    write(d / "a.pcap", typed_exchange())
    write(d / "b.pcap", [(typed_ra(), SERVER, "ff02::1")])
    for args in ([str(d)], [str(d / "a.pcap"), str(d / "b.pcap")]):
        res = _cli("show", "--json", *args)
        assert res.exit_code == 0, res.output
        rows = [json.loads(x) for x in res.output.splitlines()]
        assert [(Path(r["file"]).name, r["message"]) for r in rows] == [
            ("a.pcap", "Solicit"), ("a.pcap", "Advertise"), ("a.pcap", "Request"),
            ("a.pcap", "Reply"), ("b.pcap", "RA")]
    res = _cli("show", str(d))
    assert res.exit_code == 0 and "a.pcap: 4 of 4 frames" in res.output
    assert "b.pcap: 1 of 1 frames" in res.output
