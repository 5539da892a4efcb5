"""odm pcap show: table, tree and JSON views with types by name; filters."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from crafted import CLIENT, SERVER, reply, typed_exchange, typed_ra

from odm.pcap_cli import pcap
from odm.pcaptools.capture import read_capture
from odm.pcaptools.filters import FilterError, compile_filter
from odm.pcaptools.packets import dissect_all
from odm_wire import dhcp6 as d6
from odm_wire.constants import MobilityType, StatusCode


@pytest.fixture
def mixed(pcap_path):
    nopfx = reply(0x30, [d6.IAPD(9, 0, 0, (d6.StatusCode(StatusCode.NO_PREFIX_AVAIL, "none"),))])
    return pcap_path("mixed.pcap", typed_exchange(MobilityType.SESSION_LASTING)
                     + [(typed_ra(MobilityType.FIXED), SERVER, "ff02::1"),
                        (nopfx, SERVER, CLIENT)])


def run(*args):
    res = CliRunner().invoke(pcap, list(args), env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    return res.output


def test_table_names_types_and_statuses(mixed):
    out = run("show", mixed)
    assert "Solicit" in out and "Reply" in out and "RA" in out
    assert "SESSION_LASTING" in out and "FIXED" in out and "NoPrefixAvail" in out
    assert "hint ::/64 SESSION_LASTING" in out


def test_tree_shows_suboption_by_name(mixed):
    out = run("show", "--tree", "--filter", "frame==4", mixed)
    assert "IAPREFIX (26) 2001:db8:1::/56 SESSION_LASTING" in out
    assert "MOBILITY_TYPE (sub-option 1): SESSION_LASTING" in out
    assert "Frame 4" in out and "Frame 1 " not in out


def test_json_lines(mixed):
    rows = [json.loads(x) for x in run("show", "--json", mixed).splitlines()]
    assert [r["message"] for r in rows] == ["Solicit", "Advertise", "Request", "Reply", "RA",
                                            "Reply"]
    assert rows[3]["mobility-types"] == ["session-lasting"] and rows[3]["iaids"] == [1]
    assert rows[4]["mobility-types"] == ["fixed"]


@pytest.mark.parametrize("expr,frames", [
    ("ra", [5]),
    ("nd", [5]),
    ("dhcp6 and not reply", [1, 2, 3]),
    ("msg == reply and type == session-lasting", [4]),
    ("type==1", [5]),
    ("iaid == 9 or frame < 2", [1, 6]),
    ("status == NoPrefixAvail", [6]),
    ("prefix ~ 2001:db8:a", [5]),
    ("src == fe80::ff:fe00:1 && (xid == 0x10 || ra)", [2, 5]),
    ("xid != 0x10", [3, 4, 6]),
])
def test_filters(mixed, expr, frames):
    pred = compile_filter(expr)
    got = [p.number for p in dissect_all(read_capture(mixed)) if p.kind and pred(p)]
    assert got == frames


@pytest.mark.parametrize("expr", ["bogus", "msg ==", "(ra", "colour == red", "type == 9"])
def test_bad_filters_raise(expr):
    with pytest.raises(FilterError):
        compile_filter(expr)


def test_bad_filter_is_a_usage_error(mixed):
    res = CliRunner().invoke(pcap, ["show", "--filter", "colour==red", mixed])
    assert res.exit_code == 2 and "unknown field" in res.output


def test_malformed_packet_shown_with_offset(pcap_path):
    raw = bytes([7, 0, 0, 1, 0, 25, 0, 40, 0, 0])  # Reply, IA_PD running past the end
    p = pcap_path("bad.pcap", [(raw, SERVER, CLIENT)])
    out = run("show", p)
    assert "MALFORMED" in out and "at octet 66" in out  # 14 + 40 + 8 + 4


def test_not_a_capture_is_a_clear_error(tmp_path):
    f = tmp_path / "x.pcap"
    f.write_bytes(b"hello world")
    res = CliRunner().invoke(pcap, ["show", str(f)])
    assert res.exit_code == 1 and "unknown capture magic" in res.output


def test_show_and_check_tables_never_cut_an_address(pcap_path):
    """Issue 16: piped at 60 columns, rich folded the addresses and prefixes
    of `pcap show` and `pcap check` tables."""
    p = pcap_path("x.pcap", typed_exchange(MobilityType.SESSION_LASTING))
    res = CliRunner().invoke(pcap, ["show", p], env={"COLUMNS": "60"})
    assert res.exit_code == 0
    assert "fe80::ff:fe00:2" in res.output and "ff02::1:2" in res.output
    assert "2001:db8:1::/56 SESSION_LASTING" in res.output
    bad = pcap_path("bad.pcap", [(reply(1, [d6.IAPD(1, 250, 240, ())]), SERVER, CLIENT)])
    res = CliRunner().invoke(pcap, ["check", bad], env={"COLUMNS": "60"})
    assert res.exit_code == 1
    assert "RFC 8415 §21.21" in res.output and "IA_PD[iaid=1]" in res.output
