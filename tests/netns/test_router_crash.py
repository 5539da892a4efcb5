"""Crash durability of the router agent (issue 7): SIGKILL in the middle of a
``perfdhcp -6 -e prefix-only`` load, restart, and compare every Reply seen on
the wire with the lease store: no acknowledged binding lost, each renewed
with the same prefix by the restarted agent.

Two namespaces joined by a veth pair (tests/interop/router_pair.py, names
``h5r…``/``h5c…``); the router runs with ``lease_db_synchronous = "full"``
(the default); tcpdump captures the client side; Replies are decoded with
odm_wire. Bounded: about 15 s."""

from __future__ import annotations

import shutil
import signal
import socket
import sys
import time
from ipaddress import IPv6Network
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
from router_pair import netns_ok, router_pair

_ok, _why = netns_ok()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(not _ok, reason=_why),
              pytest.mark.skipif(shutil.which("perfdhcp") is None, reason="no perfdhcp"),
              pytest.mark.skipif(shutil.which("tcpdump") is None, reason="no tcpdump")]


def acknowledged(pcap: Path) -> dict[IPv6Network, tuple]:
    """{prefix: (client DUID, IAID, server DUID, time)} of every Reply on
    the wire that granted a prefix (valid lifetime > 0)."""
    from odm.pcaptools.capture import read_capture
    from odm.pcaptools.packets import dissect
    from odm_wire.dhcp6 import Reply, decode_dhcp6, encode_duid

    out = {}
    for fr in read_capture(pcap):
        pkt = dissect(fr)
        if pkt.kind != "dhcp6" or pkt.sport != 547:
            continue
        msg = decode_dhcp6(bytes(pkt.payload))
        if type(msg) is not Reply or msg.client_duid is None:
            continue
        for ia in msg.ia_pds:
            for p in ia.prefixes:
                if p.valid_lifetime:
                    out[IPv6Network((p.prefix, p.prefix_length))] = (
                        encode_duid(msg.client_duid), ia.iaid, msg.server_duid, fr.time)
    return out


def renew_all(pair, acks: dict) -> dict[IPv6Network, IPv6Network | None]:
    """Renew every acknowledged binding from the client namespace (its
    DUID, IAID and prefix); {prefix asked: prefix granted or None}."""
    from odm_wire.dhcp6 import (
        IAPD,
        ClientId,
        ElapsedTime,
        IAPrefix,
        Renew,
        ServerId,
        decode_dhcp6,
        decode_duid,
        encode_dhcp6,
    )
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_router_agent import in_netns

    rll = pair.link_local(pair.rtr_ns, pair.rtr_if)
    want = {}
    for i, (net, (duid, iaid, sid, _)) in enumerate(acks.items()):
        xid = i + 1
        want[xid] = (net, Renew(xid, (ClientId(decode_duid(duid)), ElapsedTime(0), ServerId(sid),
                                      IAPD(iaid, 0, 0, (IAPrefix(0, 0, net.prefixlen,
                                                                 net.network_address),)))))

    def run():
        idx = socket.if_nametoindex(pair.cli_if)
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::", 546, 0, idx))
        s.settimeout(0.5)
        got: dict = {}
        try:
            for _ in range(4):  # retransmit what is still unanswered
                for xid, (_, msg) in want.items():
                    if xid not in got:
                        s.sendto(encode_dhcp6(msg), (rll, 547, 0, idx))
                        time.sleep(0.0005)
                while len(got) < len(want):
                    try:
                        data, _ = s.recvfrom(4096)
                    except TimeoutError:
                        break
                    ans = decode_dhcp6(data)
                    if ans.transaction_id in want:
                        got[ans.transaction_id] = ans
                if len(got) == len(want):
                    break
        finally:
            s.close()
        return got
    got = in_netns(pair.cli_ns, run)
    out = {}
    for xid, (net, _) in want.items():
        ans = got.get(xid)
        granted = [IPv6Network((p.prefix, p.prefix_length)) for ia in (ans.ia_pds if ans else ())
                   for p in ia.prefixes if p.valid_lifetime]
        out[net] = granted[0] if len(granted) == 1 else None
    return out


def _on_postgresql(cfg: Path, factory) -> str:
    """Point the router config ``cfg`` at a fresh schema of the test
    PostgreSQL server, reached over its Unix socket (the socket file crosses
    network namespaces; the router in its namespace cannot reach 127.0.0.1
    of the test's). Returns the schema's name."""
    factory.conninfo("crash")
    schema = factory.schemas["crash"]
    pg = factory.pg
    lines = [ln for ln in cfg.read_text().splitlines()
             if not ln.startswith(("lease_db =", "lease_db_synchronous ="))]
    lines += ["", "[lease_store]", 'type = "postgresql"',
              (f"conninfo = \"host={pg.sockdir} port={pg.port} dbname=odm user=odm "
               f"options='-c search_path={schema}'\"")]
    cfg.write_text("\n".join(lines) + "\n")
    return schema


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_under_perfdhcp_load_loses_no_acknowledged_binding(tmp_path, request, backend):
    from router.store import SqliteLeaseStore

    factory = None
    if backend == "postgresql":
        from tests.pg import StoreFactory
        factory = StoreFactory("postgresql", tmp_path, request.getfixturevalue("pg_server"))
        request.addfinalizer(factory.finish)
    with router_pair(tmp_path, tag="h5") as pair:
        cfg = pair.config(sync="full", pref=300, valid=600)
        if factory is not None:
            _on_postgresql(cfg, factory)
        router = pair.start_router(cfg, log=tmp_path / "router-1.log")
        pcap = tmp_path / "client.pcap"
        cap = pair.capture(pair.cli_ns, pair.cli_if, pcap, "udp port 546 or udp port 547")
        perf = pair.spawn(pair.cli_ns, ["perfdhcp", "-6", "-l", pair.cli_if, "-e", "prefix-only",
                                        "-r", "150", "-p", "7", "-R", "100000"],
                          tmp_path / "perfdhcp.log")
        time.sleep(2.0)
        killed_at = time.time()
        assert pair.stop(router, signal.SIGKILL) == -signal.SIGKILL
        restarted_at = time.time()
        pair.start_router(cfg, log=tmp_path / "router-2.log")
        perf.wait(30)
        time.sleep(0.3)
        pair.stop(cap, signal.SIGINT)

        acks = acknowledged(pcap)
        before = [n for n, a in acks.items() if a[3] < killed_at]
        after = [n for n, a in acks.items() if a[3] > restarted_at]
        assert len(before) >= 50 and len(after) >= 50, (len(before), len(after))

        store = (factory("crash") if factory is not None else
                 SqliteLeaseStore(pair.workdir / "leases.sqlite3", synchronous="normal"))
        try:
            lost = []
            for net, (duid, iaid, _, _) in acks.items():
                b = store.find_prefix(net)
                if b is None or b.duid != duid or b.iaid != iaid:
                    lost.append((net, b))
        finally:
            store.close()
        assert lost == [], f"{len(lost)} of {len(acks)} acknowledged bindings lost: {lost[:5]}"

        renewed = renew_all(pair, acks)
        changed = {n: g for n, g in renewed.items() if g != n}
        assert changed == {}, f"{len(changed)} of {len(acks)} not renewed identically: " \
                              f"{list(changed.items())[:5]}"
        print(f"acknowledged {len(acks)} ({len(before)} before the SIGKILL, {len(after)} after "
              f"the restart); all in the store and renewed identically")
        st = pair.status()
        (i,) = st["interfaces"]
        assert i["counters"]["pkt6-renew-received"] >= len(acks)
