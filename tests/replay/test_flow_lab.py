"""odm pcap flow on a capture set of the lab's own links (host link, each
access link, core link) around a move: one ladder, lanes named after the
nodes, each DHCPv6 message drawn once with the links that saw it, a
datagram to cn and its ICMPv6 error as data traffic."""

from __future__ import annotations

import sys
import time
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from odm.pcap_cli import pcap
from odm.pcaptools.labrun import GoldenLab

pytestmark = pytest.mark.netns
NS = "{http://www.w3.org/2000/svg}"
#: one datagram from the setsc() address to cn's discard port (cn answers
#: ICMPv6 port unreachable: nothing listens)
UDP_TO_CN = ("import socket, sys; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); "
             "s.bind((sys.argv[1], 0)); s.sendto(b'odm', (sys.argv[2], 9))")


def test_flow_of_every_link_around_a_move(lab, tmp_path):
    caps = tmp_path / "caps"
    gl = GoldenLab(lab, tmp_path / "w")
    procs = []
    try:
        gl.start_router("ar1")
        gl.start_router("ar2")
        for link in ("access", "ar1-access", "ar2-access", "core"):
            procs.append(gl.capture(caps / f"{link}.pcap", bpf="ip6", link=link))
        gl.start_host()
        app = gl.app()
        try:
            app.setsc(1, "session-lasting")
            addr = app.result()["address"]
            send = lab.exec("mh", [sys.executable, "-c", UDP_TO_CN, addr,
                                   str(lab.config.cn_address)], capture_output=True, timeout=20)
            assert send.returncode == 0, send.stdout + send.stderr
            lab.move("mh", "ar2")
            time.sleep(1.0)  # RS, RA of ar2, Rebind, Reply
        finally:
            for p in procs:
                lab.stop(p)
            app.stop()
    finally:
        gl.stop_all()
    out = tmp_path / "move.svg"
    res = CliRunner().invoke(pcap, ["flow", str(caps), "--out", str(out), "--lab-names",
                                    "--data"])
    assert res.exit_code == 0, res.output
    root = ET.parse(out).getroot()
    texts = list(root.iter(f"{NS}text"))
    lanes = [t.text for t in texts if t.get("class") == "lane"]
    assert lanes[:4] == ["mh", "ar1", "ar2", "cn"], lanes
    heads = [t.text for t in texts if "head" in (t.get("class") or "")]
    rebinds = [i for i, t in enumerate(texts) if t.text and " Rebind " in t.text]
    assert rebinds and sum(1 for h in heads if " Rebind " in h) == 1
    links = [t.text for t in texts if t.get("class") == "link"]
    assert "access, ar2-access" in links or "ar2-access, access" in links
    assert any(h.endswith("UDP") or "UDP " in h for h in heads)  # the datagram, as data
    assert any("port unreachable" in (t.text or "") for t in texts)
