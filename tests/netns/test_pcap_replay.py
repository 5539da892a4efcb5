"""odm pcap replay sends a capture on a veth inside a namespace; tcpdump on
the peer sees every DHCPv6/ND frame with correct checksums."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pcaptools"))

from probe_netns import netns_ok, veth_pair, wait_for_text

from odm.pcaptools.capture import read_capture
from odm.pcaptools.packets import dissect_all

_ok, _why = netns_ok()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(not _ok, reason=_why),
              pytest.mark.skipif(shutil.which("tcpdump") is None, reason="no tcpdump")]


def test_replay_into_a_namespace_fixes_checksums(tmp_path):
    from crafted import SERVER, typed_exchange, typed_ra, write  # tests/pcaptools

    items = typed_exchange()
    items[1] = (*items[1], {"bad_checksum": True})
    src = write(tmp_path / "in.pcap", items + [(typed_ra(), SERVER, "ff02::1",
                                                {"bad_checksum": True})])
    with veth_pair() as pair:
        got = tmp_path / "got.pcap"
        log = tmp_path / "tcpdump.log"
        proc = pair.spawn(pair.srv_ns, ["tcpdump", "-i", pair.srv_if, "-U", "-n", "-w",
                                        str(got), "ip6 and (udp or icmp6)"], log)
        wait_for_text(log, "listening on", proc=proc)
        res = pair.odm("pcap", "replay", src, "--iface", pair.cli_if, "--speed", "5",
                       "--loop", "2")
        assert res.returncode == 0, res.stderr + res.stdout
        assert "sent 10 frames" in res.stdout and "4 checksum(s) fixed" in res.stdout
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pk = [p for p in dissect_all(read_capture(got)) if p.kind] if got.exists() and \
                got.stat().st_size > 24 else []
            if len(pk) >= 10:
                break
            time.sleep(0.1)
        pair.stop_all()
    pk = [p for p in dissect_all(read_capture(got)) if p.kind]
    names = [type(p.message).__name__ for p in pk]
    assert names == ["Solicit", "Advertise", "Request", "Reply", "RouterAdvertisement"] * 2
    assert all(p.checksum_ok for p in pk)
