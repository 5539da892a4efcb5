"""``odm router check-config`` and ``odm router status`` (against a control
socket served in this process), through click's runner."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from router.cli import router
from router.io.control import ControlServer, ControlUnavailable, request

EXAMPLE = Path(__file__).resolve().parents[2] / "router" / "example.toml"


def test_check_config_accepts_the_example():
    r = CliRunner().invoke(router, ["check-config", str(EXAMPLE), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["ok"] and out["interfaces"][0]["name"] == "eth1"
    assert {p["mobility-type"] for p in out["interfaces"][0]["pools"]} >= {"fixed", "legacy"}


def test_check_config_names_the_offending_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace("delegated_length = 56",
                                               "delegated_length = 20", 1))
    r = CliRunner().invoke(router, ["check-config", str(bad)])
    assert r.exit_code == 1
    assert "interface[0].pd_pool[0].delegated_length" in r.output
    r = CliRunner().invoke(router, ["check-config", str(bad), "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["key"] == \
        "interface[0].pd_pool[0].delegated_length"
    r = CliRunner().invoke(router, ["check-config", str(tmp_path / "missing.toml")])
    assert r.exit_code == 1


STATUS = {
    "router-id": "ar1", "pid": 1, "uptime": 1.0, "server-duid": "00:03:00:01:02:00:00:00:00:01",
    "lease-db": "/tmp/x", "adapter": {"adapter-errors": 0, "routes-added": 3},
    "interfaces": [{
        "interface": "eth1", "server-duid": "", "offered-types": ["fixed"],
        "counters": {"pkt6-received": 7, "cumulative-assigned-pds": 3},
        "pools": [{"interface": "eth1", "pool": "fixed", "prefix": "2001:db8:f000::/48",
                   "delegated-length": 56, "mobility-type": "fixed", "default": False,
                   "total-pds": 256, "assigned-pds": 2, "cumulative-assigned-pds": 3,
                   "reclaimed-leases": 1, "utilisation": 2 / 256}],
        "binding-count": 2,
        "bindings": [{"interface": "eth1", "prefix": f"2001:db8:f000:{i}00::/56",
                      "duid": "00:03:00:01:02:00:00:00:00:02", "iaid": i,
                      "mobility-type": "fixed", "pool": "fixed", "client-ll": "fe80::2",
                      "anchor": "ar1", "served-by": "ar1", "state": "active",
                      "preferred-left": 10, "valid-left": 20} for i in (1, 2)],
        "ra-prefixes": [{"interface": "eth1", "prefix": "2001:db8:1::/64", "valid": 600,
                         "preferred": 300, "stale": False, "mobility-type": "non-persistent"}],
    }],
}


@pytest.fixture
def control(tmp_path):
    """A ControlServer answering like the agent, on a loop in a thread."""
    path = tmp_path / "router.sock"
    seen: list[dict] = []

    def handler(req):
        seen.append(req)
        if req.get("op") != "status":
            return {"ok": False, "error": "EINVAL", "detail": "unknown op"}
        st = json.loads(json.dumps(STATUS))
        lim = req.get("limit")
        if lim is not None:
            for i in st["interfaces"]:
                i["bindings"] = i["bindings"][:lim]
        return {"ok": True, "status": st}

    loop = asyncio.new_event_loop()
    srv = ControlServer(path, handler)
    ready = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(srv.start())
        ready.set()
        loop.run_forever()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(5)
    yield path, seen
    asyncio.run_coroutine_threadsafe(srv.close(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    t.join(5)
    assert not path.exists()


def test_status_table_and_json(control):
    path, seen = control
    r = CliRunner().invoke(router, ["status", "--socket", str(path)],
                           env={"COLUMNS": "220"})
    assert r.exit_code == 0, r.output
    for text in ("assigned-pds", "total-pds", "cumulative-assigned-pds", "0.8%",
                 "2001:db8:f000:100::/56", "bindings (2)", "3 non-persistent"):
        assert text in r.output, text
    assert seen[-1] == {"op": "status", "id": 1, "limit": 50}
    r = CliRunner().invoke(router, ["status", "--socket", str(path), "--json", "--limit", "1"])
    assert r.exit_code == 0
    st = json.loads(r.output)
    assert len(st["interfaces"][0]["bindings"]) == 1 and st["interfaces"][0]["binding-count"] == 2


def test_control_protocol_errors(control):
    path, _ = control
    assert request(path, "nosuch")["ok"] is False
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))
    s.sendall(b"[1, 2]\nnot json\n")
    f = s.makefile()
    assert json.loads(f.readline())["error"] == "EINVAL"
    assert json.loads(f.readline())["error"] == "EINVAL"
    s.close()


def test_status_without_agent(tmp_path):
    with pytest.raises(ControlUnavailable):
        request(tmp_path / "none.sock")
    r = CliRunner().invoke(router, ["status", "--socket", str(tmp_path / "none.sock")])
    assert r.exit_code == 4 and "no router agent" in r.output  # as lease, stats, reload ...
