"""A router agent whose start is refused removes its lock files
(odm/instance_lock.py) and nothing it did not make: the control socket's
path is removed at close only when this agent bound a socket there (a file
found there, or another listener's socket, stays)."""

from __future__ import annotations

import asyncio
import socket

import pytest

import odm.instance_lock as il
from odm.safefile import UnsafePath
from router.io.agent import RouterAgent
from router.io.control import ControlServer
from tests.router.conftest import BASE_TOML, make_config


def _start_then_close(path, exc_type, match):
    async def main():
        c = ControlServer(path, lambda req: {"ok": True})
        with pytest.raises(exc_type, match=match):
            await c.start()
        await c.close()
    asyncio.run(main())


def test_a_file_at_the_control_path_is_refused_and_kept(tmp_path):
    p = tmp_path / "r.sock"
    p.write_text("precious\n")
    _start_then_close(p, UnsafePath, "not a socket")
    assert p.read_text() == "precious\n"


def test_another_listener_at_the_control_path_is_refused_and_its_socket_kept(tmp_path):
    p = tmp_path / "r.sock"
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        other.bind(str(p))
        other.listen(1)
        _start_then_close(p, OSError, "another router agent answers")
        assert p.is_socket()
    finally:
        other.close()


def test_a_bound_control_socket_is_removed_at_close(tmp_path):
    p = tmp_path / "r.sock"

    async def main():
        c = ControlServer(p, lambda req: {"ok": True})
        await c.start()
        assert p.is_socket()
        await c.close()
    asyncio.run(main())
    assert not p.exists()


def test_a_missing_interface_leaves_no_lock_files(tmp_path, monkeypatch):
    monkeypatch.setattr(il, "LOCK_DIR", tmp_path / "locks")
    cfg = make_config(BASE_TOML.replace('"veth0"', '"odmnosuch0"'),
                      control_socket=str(tmp_path / "r.sock"), lease_db=str(tmp_path / "l.db"))
    with pytest.raises(OSError, match="no interface 'odmnosuch0'"):
        asyncio.run(RouterAgent(cfg).run(asyncio.Event()))
    assert sorted(tmp_path.rglob("*.lock")) == []
