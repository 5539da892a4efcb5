"""Replay preparation and timing without a network: checksums fixed, frames
re-framed, gaps scaled by --speed, --topspeed, --loop."""

from __future__ import annotations

import pytest
from crafted import SERVER, typed_exchange, typed_ra

from odm.pcaptools.capture import LINKTYPE_IPV6, Frame, read_capture
from odm.pcaptools.packets import dissect
from odm.pcaptools.replay import odm_only, prepare, replay


def test_prepare_fixes_checksums_and_keeps_offsets(pcap_path):
    items = typed_exchange()
    items[1] = (*items[1], {"bad_checksum": True})
    frames = read_capture(pcap_path("r.pcap", items + [(typed_ra(), SERVER, "ff02::1",
                                                        {"bad_checksum": True})]))
    todo = prepare(frames)
    assert [f.fixed for f in todo] == [False, True, False, False, True]
    assert [round(f.offset, 3) for f in todo] == [0.0, 0.01, 0.02, 0.03, 0.04]
    for f in todo:
        assert dissect(Frame(1, 0.0, 1, f.data, len(f.data))).checksum_ok
    assert len(prepare(frames, odm_only)) == 5


def test_prepare_adds_ethernet_to_raw_ipv6(pcap_path):
    eth = read_capture(pcap_path("r.pcap", [(typed_ra(), SERVER, "ff02::1")]))[0]
    raw = Frame(1, 5.0, LINKTYPE_IPV6, eth.data[14:], len(eth.data) - 14)
    (f,) = prepare([raw], src_mac=b"\x02\0\0\0\0\x01")
    assert f.data[:14] == bytes.fromhex("333300000001" "020000000001" "86dd")


class FakeTime:
    def __init__(self):
        self.t = 0.0
        self.sent = []

    def clock(self):
        return self.t

    def sleep(self, s):
        self.t += s

    def send(self, data):
        self.sent.append((round(self.t, 6), data))


@pytest.mark.parametrize("kw,times", [
    ({}, [0.0, 0.01, 0.02, 0.03]),
    ({"speed": 2.0}, [0.0, 0.005, 0.01, 0.015]),
    ({"topspeed": True}, [0.0, 0.0, 0.0, 0.0]),
    ({"loop": 2, "speed": 10.0}, [0.0, 0.001, 0.002, 0.003, 0.003, 0.004, 0.005, 0.006]),
])
def test_timing(pcap_path, kw, times):
    todo = prepare(read_capture(pcap_path("r.pcap", typed_exchange())))
    ft = FakeTime()
    stats = replay(todo, ft.send, clock=ft.clock, sleep=ft.sleep, **kw)
    assert [t for t, _ in ft.sent] == times
    assert stats.sent == len(times) and stats.loops == kw.get("loop", 1)


def test_bad_arguments(pcap_path):
    with pytest.raises(ValueError):
        replay([], lambda d: None, speed=0)
    with pytest.raises(ValueError):
        replay([], lambda d: None, loop=0)


def test_conformance_replay_that_cannot_run_exits_two():
    from click.testing import CliRunner

    from odm.pcap_cli import pcap
    from odm.pcaptools.golden import GOLDEN_DIR

    golden = str(GOLDEN_DIR / "pd-fixed.pcap")
    for side in ("router", "host"):
        res = CliRunner(env={"COLUMNS": "300"}).invoke(
            pcap, ["replay", golden, "--against", side, "--iface", "nosuch0"])
        assert res.exit_code == 2, res.output
        assert "made with ar1 and the odm host agent" in res.output
        assert "✗ no interface 'nosuch0' here" in res.output
    res = CliRunner().invoke(pcap, ["replay", golden, "--against", "router", "--iface", "lo",
                                    "--lab", "nosuchlab", "--lab-state-dir", "/nonexistent"])
    assert res.exit_code == 2 and "lab 'nosuchlab' is not up" in res.output
