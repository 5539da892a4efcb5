"""``status`` over the setsc() API shows a non-root caller only its own API
connections, references and pending requests (SO_PEERCRED uid); root sees
everyone's (issue 13 point 6, docs/security.md "Host"). The agent's adapter
with a real core and a fake API server: no kernel needed."""

from __future__ import annotations

import json

from hosthelp import CLIENT, ScriptedServer, config, drain, rng

from host.core.host import HostCore
from host.core.policy import Principal
from host.io.agent import HostAgent
from host.io.api_server import Connection
from odm_wire.constants import MobilityType as MT


class FakeApi:
    def __init__(self, conns) -> None:
        self.conns = {c.owner: c for c in conns}
        self.sent: list[tuple[int, dict]] = []

    def send(self, c, obj) -> None:
        self.sent.append((c.owner, obj))

    def send_line(self, c, line: bytes) -> None:
        self.sent.append((c.owner, json.loads(line)))

    def snapshot(self) -> dict:
        return {"connections": len(self.conns)}


class Loop:
    def time(self) -> float:
        return 1.0

    def call_at(self, when, fn, *args):
        return self

    def cancel(self) -> None:  # the timer handle
        pass


def agent_with_two_users():
    cfg = config()
    a = HostAgent(cfg)
    a.loop = Loop()
    a.core = core = HostCore(cfg, CLIENT, b"secret", rng=rng())
    srv = ScriptedServer(legacy="2001:db8:8000::/56")
    core.start(0.0)
    srv.serve(core, 0.0)
    conns = [Connection(1, None, 4001, 1000, 1000, inode=11),
             Connection(2, None, 4002, 1001, 1001, inode=22),
             Connection(3, None, 4003, 1001, 1001, inode=33),
             Connection(4, None, 1, 0, 0),
             Connection(5, None, 4001, 1000, 1000)]
    a.api = FakeApi(conns)
    for c in conns[:3]:
        core.setsc(c.owner, c.owner, MT.SESSION_LASTING, 1.0,
                   principal=Principal(c.uid, c.gid, pid=c.pid))
        srv.serve(core, 1.0)
    drain(core)
    # one pending (not yet answered) request of uid 1000
    core.setsc(9, 5, MT.NON_PERSISTENT, 1.0, on_net=True,
               principal=Principal(1000, 1000, pid=4001))
    core.datagrams_to_send()  # its Solicit: not sent anywhere here
    drain(core)
    return a, conns


def status_as(a, c) -> dict:
    a.api.sent.clear()
    a._on_request(c, {"op": "status", "id": 5})
    ((owner, ans),) = a.api.sent
    assert owner == c.owner and ans["ok"]
    return ans["status"]


def test_a_non_root_caller_sees_only_its_own_connections_and_references():
    a, conns = agent_with_two_users()
    st = status_as(a, conns[1])  # uid 1001
    assert {o["owner"] for o in st["owners"]} == {2, 3}
    assert {o["uid"] for o in st["owners"]} == {1001}
    assert {r["owner"] for r in st["references"]} == {2, 3}
    assert st["pending"] == []
    # the address they share with uid 1000 counts their own sockets only
    assert sorted(x["refs"] for x in st["addresses"] if x["refs"]) == [2]
    assert st["visible"] == "uid 1001 only"
    st = status_as(a, conns[0])  # uid 1000
    assert [o["pid"] for o in st["owners"]] == [4001, 4001]
    assert [r["owner"] for r in st["references"]] == [1]
    assert [p["owner"] for p in st["pending"]] == [5]


def test_root_sees_every_connection_reference_and_pending_request():
    a, conns = agent_with_two_users()
    st = status_as(a, conns[3])
    assert {o["owner"] for o in st["owners"]} == {1, 2, 3, 4, 5}
    assert {r["owner"] for r in st["references"]} == {1, 2, 3}
    assert [p["owner"] for p in st["pending"]] == [5]
    assert sorted(x["refs"] for x in st["addresses"] if x["refs"]) == [3]
    assert st["visible"] == "all"
