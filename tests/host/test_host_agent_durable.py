"""A setsc() answer leaves the agent only once the state file holding its
address is durable; when the file cannot be written (full disk, EMFILE, a
directory gone) the answer is EAI_REQUIREDIPFAILED with the reason and the
reference is not kept (issue 13 point 7, docs/security.md "Durability").
The agent's adapter with a real core, a real state file and a scripted
server; no kernel needed."""

from __future__ import annotations

import errno
import json
import os

import pytest
from hosthelp import CLIENT, ScriptedServer, config, rng

from host.core.host import HostCore
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


class Loop:
    t = 1.0

    def time(self) -> float:
        return self.t

    def call_at(self, when, fn, *args):
        return self

    def cancel(self) -> None:
        pass


class Wire:
    """What the agent sends, for the scripted server; what it answers, to the core."""

    def __init__(self, agent) -> None:
        self.agent = agent
        self.out: list = []

    def datagrams_to_send(self):
        o, self.out = self.out, []
        return o

    def handle_datagram(self, *a, **kw) -> None:
        self.agent.core.handle_datagram(*a, **kw)


def make_agent(state_path):
    cfg = config(legacy_pd=False, state_file=state_path)
    a = HostAgent(cfg)
    a.loop = Loop()
    a.core = HostCore(cfg, CLIENT, b"k", rng=rng())
    wire = Wire(a)
    a._send = lambda out, first_failed=None: wire.out.append(out) or True
    conn = Connection(1, None, os.getpid(), 1000, 1000, inode=4242, fd=7)
    a.api = FakeApi([conn])
    a.core.start(0.0)
    a._kick()
    return a, wire, conn


def setsc(a, wire, conn, rid) -> dict:
    srv = ScriptedServer()
    a.api.sent.clear()
    a._on_request(conn, {"op": "setsc", "id": rid, "type": int(MT.SESSION_LASTING),
                         "on_net": False, "fd": 7})
    for _ in range(4):
        srv.serve(wire, 1.0, rounds=1)
        a._kick()
    ((_owner, ans),) = [x for x in a.api.sent if x[1].get("id") == rid]
    return ans


def break_dir(path):
    path.parent.rename(path.parent.with_name("moved"))
    path.parent.write_text("not a directory")  # even root cannot write under it


def test_answer_is_given_once_the_state_is_written(tmp_path):
    sf = tmp_path / "st" / "host.json"
    a, wire, conn = make_agent(sf)
    ans = setsc(a, wire, conn, 1)
    assert ans["ok"]
    refs = json.loads(sf.read_text())["references"]
    assert [r["address"] for r in refs] == [ans["address"]]


@pytest.mark.parametrize("how", ["directory-gone", "disk-full"])
def test_an_answer_whose_state_cannot_be_written_is_a_failure_and_not_kept(tmp_path, how,
                                                                            monkeypatch):
    sf = tmp_path / "st" / "host.json"
    a, wire, conn = make_agent(sf)
    before = sf.read_text()
    if how == "directory-gone":
        break_dir(sf)
    else:
        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(os, "fsync", full)
    ans = setsc(a, wire, conn, 1)
    assert ans["ok"] is False and ans["error"] == "EAI_REQUIREDIPFAILED"
    assert "not written" in ans["detail"] and "restart" in ans["detail"]
    # nothing acknowledged is left: no reference in the core ...
    assert conn.owner not in a.core.refs
    assert not any(x.refs for x in a.core.addrs.by_prefix.values())
    assert a.state_write_failed >= 1
    # ... and none on disk
    if how == "disk-full":
        assert sf.read_text() == before
        monkeypatch.undo()
    else:
        sf.parent.unlink()
        sf.parent.with_name("moved").rename(sf.parent)
    # the disk works again: the next setsc() succeeds and is written
    ans = setsc(a, wire, conn, 2)
    assert ans["ok"]
    refs = json.loads(sf.read_text())["references"]
    assert [r["address"] for r in refs] == [ans["address"]]



def held_setsc(a, conn, rid) -> dict:
    """A setsc() that needs no network: the answer of the request's own turn."""
    a.api.sent.clear()
    a._on_request(conn, {"op": "setsc", "id": rid, "type": int(MT.SESSION_LASTING),
                         "on_net": False, "fd": conn.fd})
    ((_owner, ans),) = [x for x in a.api.sent if x[1].get("id") == rid]
    return ans


def counting_exports(monkeypatch) -> list:
    from host.core.host import HostCore

    exports: list = []
    real = HostCore.export_state
    monkeypatch.setattr(HostCore, "export_state",
                        lambda *x, **kw: exports.append(1) or real(*x, **kw))
    return exports


def test_a_held_address_given_again_does_not_rebuild_the_state(tmp_path, monkeypatch):
    """Issue 17: a setsc() answered with the address its socket already holds
    changes nothing durable; the agent used to rebuild and compare the whole
    state document for it (most of the call's CPU time). Anything else —
    another socket's setsc(), the same socket's fd number changed — still goes
    through the state file."""
    sf = tmp_path / "st" / "host.json"
    a, wire, conn = make_agent(sf)
    first = setsc(a, wire, conn, 1)
    assert first["ok"]
    exports = counting_exports(monkeypatch)
    for rid in range(2, 6):
        assert held_setsc(a, conn, rid) == {"id": rid, "ok": True, "address": first["address"]}
    assert exports == []
    refs = json.loads(sf.read_text())["references"]
    assert [(r["address"], r["fd"]) for r in refs] == [(first["address"], 7)]
    # the socket's fd number as the state file knows it changed: written
    conn.fd = 9
    assert held_setsc(a, conn, 6)["address"] == first["address"]
    assert exports == [1]
    assert [r["fd"] for r in json.loads(sf.read_text())["references"]] == [9]
    # a second socket's first setsc() of the type: a new reference, written
    other = Connection(2, None, os.getpid(), 1000, 1000, inode=4343, fd=8)
    a.api.conns[other.owner] = other
    assert held_setsc(a, other, 7)["address"] == first["address"]
    assert len(exports) == 2
    assert len(json.loads(sf.read_text())["references"]) == 2


def test_a_held_address_after_a_failed_write_goes_through_the_state(tmp_path, monkeypatch):
    """The shortcut holds only while the last write succeeded: after a failed
    one, the next answer (the held address again) rebuilds the state."""
    sf = tmp_path / "st" / "host.json"
    a, wire, conn = make_agent(sf)
    ans = setsc(a, wire, conn, 1)
    assert ans["ok"]
    a._persisted_owners = {}  # what a failed write leaves
    exports = counting_exports(monkeypatch)
    assert held_setsc(a, conn, 2)["address"] == ans["address"]
    assert exports == [1]


@pytest.mark.parametrize("kept", [False, True])
def test_a_held_address_is_answered_without_a_round_through_the_core(tmp_path, monkeypatch,
                                                                    kept):
    """Issue 17: a setsc() without ON_NET for the address the socket holds
    is answered from HostCore.held_address, with no request through the core
    and no round of datagrams, events and timer after it (with or without a
    state file); ON_NET, another type, or another socket still go through
    the core."""
    a, wire, conn = make_agent(tmp_path / "st" / "host.json" if kept else None)
    first = setsc(a, wire, conn, 1)
    assert first["ok"]
    through: list = []
    real_setsc, real_kick = a.core.setsc, a._kick
    monkeypatch.setattr(a.core, "setsc", lambda *x, **kw: through.append(x[0]) or real_setsc(
        *x, **kw))
    monkeypatch.setattr(a, "_kick", lambda: through.append("kick") or real_kick())
    for rid in range(2, 5):
        assert held_setsc(a, conn, rid) == {"id": rid, "ok": True, "address": first["address"]}
    assert through == []
    other = Connection(2, None, os.getpid(), 1000, 1000, inode=4343, fd=8)
    a.api.conns[other.owner] = other
    assert held_setsc(a, other, 5)["address"] == first["address"]
    a._on_request(conn, {"op": "setsc", "id": 6, "type": int(MT.NON_PERSISTENT),
                         "on_net": False, "fd": conn.fd})
    a._on_request(conn, {"op": "setsc", "id": 7, "type": int(MT.SESSION_LASTING),
                         "on_net": True, "fd": conn.fd})
    assert len([x for x in through if x != "kick"]) == 3


@pytest.mark.parametrize("rid", [7, 2**40, "req-1", 'a "quoted" id\n'])
def test_a_setsc_answer_line_is_the_json_of_the_answer(rid):
    from ipaddress import IPv6Address

    from host.io.api_requests import setsc_answer
    addr = IPv6Address("2001:db8:5000:100::1")
    line = setsc_answer(rid, addr)
    assert line == json.dumps({"id": rid, "ok": True, "address": str(addr)}).encode() + b"\n"
