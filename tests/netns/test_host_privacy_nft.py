"""Privacy rotation by octets sent, counted by the kernel (nftables), on the
real host agent (host/core/privacy.py, host/io/nftcount.py).

In a lab (cn — ar1 — mh) the host agent rotates SESSION_LASTING addresses
after 20,000 octets. An application binds a setsc() socket and sends 30 UDP
datagrams of 1,000 octets to cn; the kernel counts them; the next setsc() on a
new socket gets an address from a new prefix, while the old address stays in
the kernel, deprecated, as long as the old socket is open, and goes once it is
closed.
"""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
from ipaddress import IPv6Address

import pytest

from lab.agents import AgentSettings, LabAgents, wait_for
from lab.config import HOST, HOST_IF
from odm_wire.constants import MobilityType as MT

pytestmark = [pytest.mark.netns]

IFA_F_DEPRECATED = 0x20

APP = r"""
import json, socket, sys, time
from host import api
path, cn = sys.argv[1], sys.argv[2]
def say(**kw):
    print(json.dumps(kw), flush=True)
s1 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
a1 = api.setsc(s1, 2, bind=True, path=path, timeout=4)
for _ in range(30):
    s1.sendto(b"x" * 1000, (cn, 9))
say(event="sent", address=str(a1))
end = time.monotonic() + 10
while time.monotonic() < end:
    s2 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    a2 = api.setsc(s2, 2, path=path, timeout=4)
    if a2 != a1:
        break
    s2.close()
    time.sleep(0.1)
say(event="second", address=str(a2), notes=api.notifications(s1))
sys.stdin.readline()
s1.close()
say(event="closed")
sys.stdin.readline()
"""


def kernel_flags(lab) -> dict[IPv6Address, int]:
    from pyroute2 import NetNS
    with NetNS(lab.netns(HOST)) as n:
        idx = n.link_lookup(ifname=HOST_IF)[0]
        return {IPv6Address(a.get_attr("IFA_ADDRESS")): a.get_attr("IFA_FLAGS") or a["flags"]
                for a in n.get_addr(family=socket.AF_INET6, index=idx)}


def nft_tables(lab) -> list[str]:
    code = ("from pyroute2.nftables.main import NFTables\n"
            "print([t.get_attr('NFTA_TABLE_NAME') for t in NFTables(nfgen_family=10)"
            ".get_tables()])")
    res = lab.exec(HOST, [sys.executable, "-c", code], capture_output=True, text=True,
                   timeout=20)
    assert res.returncode == 0, res.stderr
    return eval(res.stdout)


def read(proc, timeout=15.0) -> dict:
    r, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if r else b""
    assert line, f"app gave nothing (exit {proc.poll()})"
    return json.loads(line)


def test_rotation_by_octets_counted_by_nftables(lab, tmp_path):
    settings = AgentSettings(offered=(MT.SESSION_LASTING,), boot_types=(), dataplane=None)
    agents = LabAgents(lab, tmp_path, settings)
    base = agents.host_toml
    agents.host_toml = lambda: base() + (  # type: ignore[method-assign]
        'address_max_bytes = 20000\nbyte_poll_interval = 0.2\nprivacy_drain = 0.5\n'
        'rotate_types = ["session-lasting"]\niid = "random"\n'
        '[host.release_policy]\nsession-lasting = "keep"\n')
    (tmp_path / "app.py").write_text(APP)
    app = None
    try:
        agents.start_all()
        assert nft_tables(lab) == ["odm_host_" + HOST_IF]
        app = lab.spawn(HOST, [sys.executable, str(tmp_path / "app.py"),
                               str(agents.host_socket), str(lab.config.cn_address)],
                        None, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL, env={"PYTHONPATH": str(
                            __import__("pathlib").Path(__file__).resolve().parents[2])})
        a1 = IPv6Address(read(app)["address"])
        second = read(app)
        a2 = IPv6Address(second["address"])
        assert a2 != a1 and a2.packed[:8] != a1.packed[:8]  # another delegated /64
        assert [n["reason"] for n in second["notes"]
                if n.get("event") == "address-deprecated"] == ["privacy"]
        st = agents.host_status()
        (rec,) = [r for r in st["privacy"]["addresses"] if r["address"] == str(a1)]
        assert rec["retired"] and rec["octets"] >= 30 * (1000 + 8 + 40)
        flags = kernel_flags(lab)
        assert flags[a1] & IFA_F_DEPRECATED and not flags[a2] & IFA_F_DEPRECATED
        # the old socket closes: the retired address drains away
        app.stdin.write(b"close\n")
        app.stdin.flush()
        assert read(app)["event"] == "closed"
        wait_for(lambda: a1 not in kernel_flags(lab), 10, "the retired address to go")
        assert a2 in kernel_flags(lab)
        agents.stop_all()
        assert nft_tables(lab) == []  # a clean stop removes the agent's table
    finally:
        if app is not None:
            lab.stop(app, timeout=2.0)
        agents.stop_all()
