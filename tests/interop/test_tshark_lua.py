"""tshark with odm's Lua dissector names the mobility types (interop: tshark)."""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import IPv6Address
from pathlib import Path

import pytest
from click.testing import CliRunner

from odm.pcap_cli import pcap
from odm.pcaptools.capture import write_pcap
from odm.pcaptools.craft import frame_for
from odm.wireshark import lua_path
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import MobilityType

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")]

GOLDEN = Path(__file__).resolve().parents[2] / "pcaps"
C, S = "fe80::ff:fe00:2", "fe80::ff:fe00:1"
CD, SD = d6.DuidLL(1, b"\x02\0\0\0\0\x02"), d6.DuidLL(1, b"\x02\0\0\0\0\x01")


def _capture(tmp_path) -> str:
    typed = d6.IAPrefix(300, 600, 56, IPv6Address("2001:db8:1::"),
                        (d6.mobility_type_option(MobilityType.SESSION_LASTING),))
    reply = d6.Reply(5, (d6.ClientId(CD), d6.ServerId(SD), d6.IAPD(1, 150, 240, (typed,)),
                         d6.OdmVendorOpts((d6.SupportedTypesSubOption(
                             (MobilityType.FIXED, MobilityType.SESSION_LASTING)),))))
    relayed = d6.RelayRepl(0, IPv6Address("2001:db8::1"), IPv6Address(C),
                           (d6.RelayMsg(reply),))
    ra = nd.RouterAdvertisement(options=(nd.PrefixInformation(
        64, IPv6Address("2001:db8:a::"), 600, 300, mobility_type=MobilityType.FIXED),))
    p = tmp_path / "lua.pcap"
    write_pcap(p, [(1.0, frame_for(reply, S, C)), (2.0, frame_for(ra, S, "ff02::1")),
                   (3.0, frame_for(relayed, "2001:db8::2", "2001:db8::1", sport=547,
                                   dport=547))])
    return str(p)


def tshark(*args: str) -> str:
    res = subprocess.run(["tshark", "-X", f"lua_script:{lua_path()}", *args],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert "Lua: Error" not in res.stderr and "lua_script" not in res.stderr, res.stderr
    return res.stdout


def test_lua_names_types_in_iaprefix_supported_types_and_pio(tmp_path):
    out = tshark("-V", "-O", "odm", "-r", _capture(tmp_path))
    assert "IA_PD 1 IAPREFIX 2001:db8:1::/56: Mobility type: SESSION_LASTING (2)" in out
    assert "SUPPORTED_TYPES FIXED,SESSION_LASTING" in out
    assert "PIO 2001:db8:a::/64" in out and "PIO mobility type: FIXED (1)" in out
    # the relayed Reply (frame 3) is walked through its Relay Message option
    frame3 = out.split("Frame 3:")[1]
    assert "SESSION_LASTING (2)" in frame3


def test_lua_fields_filter(tmp_path):
    out = tshark("-r", _capture(tmp_path), "-Y", "odm.pio.mobility_type == 1")
    assert len(out.strip().splitlines()) == 1 and "[odm FIXED]" in out
    out = tshark("-r", _capture(tmp_path), "-T", "fields", "-e", "odm.mobility_type",
                 "-Y", "odm.iaid == 1")
    assert out.split() == ["2", "2"]


@pytest.mark.skipif(not list(GOLDEN.glob("*.pcap")), reason="no golden captures yet")
def test_lua_names_a_type_in_the_golden_captures():
    found = set()
    for f in sorted(GOLDEN.glob("*.pcap")):
        out = tshark("-V", "-O", "odm", "-r", str(f))
        found |= {n for n in ("FIXED", "SESSION_LASTING", "NON_PERSISTENT",
                              "GRACEFUL_REPLACEMENT") if f"{n} (" in out}
    assert "SESSION_LASTING" in found


def test_lua_path_commands():
    res = CliRunner().invoke(pcap, ["lua-path"])
    assert res.exit_code == 0 and Path(res.output.strip()) == lua_path()
    res = CliRunner().invoke(pcap, ["wireshark"])
    assert res.exit_code == 0 and "lua_script:" in res.output


def test_wireshark_prints_whole_command_lines_at_any_width():
    """Issue 16: at 80 columns or in a pipe the printed tshark command lines
    were broken in two."""
    path = lua_path()
    for cols in ("40", "80", "200"):
        res = CliRunner().invoke(pcap, ["wireshark"], env={"COLUMNS": cols})
        assert res.exit_code == 0
        lines = res.output.splitlines()
        assert f"  tshark -X lua_script:{path} -V -r capture.pcap" in lines
        assert f"  tshark -X lua_script:{path} -r capture.pcap -Y 'odm.mobility_type == 2'" \
            in lines
