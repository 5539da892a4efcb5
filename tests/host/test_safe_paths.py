"""Configured paths against planted symlinks and loose permissions (issue 13
point 15, odm/safefile.py, docs/security.md): root never reads, overwrites or
chmods another file through a symlink at the secret file, the state file or a
socket path; sockets get their mode at bind (no chmod afterwards); a policy
other users may write is not used."""

from __future__ import annotations

import asyncio
import os
import socket
import stat

import pytest
from hosthelp import config

from host.io.api_server import ApiServer
from host.io.secret import load_secret
from host.policy_file import PolicyError, load_policy
from host.state import StateFile
from odm.safefile import UnsafePath, bind_unix, read_private, write_private
from router.io.control import ControlServer


@pytest.fixture
def victim(tmp_path):
    v = tmp_path / "victim"
    v.write_text("precious\n")
    v.chmod(0o644)
    return v


def untouched(v) -> bool:
    return v.read_text() == "precious\n" and stat.S_IMODE(v.stat().st_mode) == 0o644


def test_a_symlink_as_secret_file_is_refused_and_its_target_untouched(tmp_path, victim):
    d = tmp_path / "lib"
    d.mkdir()
    (d / "host.secret").symlink_to(victim)
    with pytest.raises(UnsafePath, match="symbolic link"):
        load_secret(config(secret=None, secret_file=d / "host.secret"))
    assert untouched(victim)


def test_a_secret_file_of_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    f = tmp_path / "host.secret"
    f.write_text("00" * 16)
    os.chown(f, 65534, 65534)
    with pytest.raises(UnsafePath, match="owned by uid 65534"):
        load_secret(config(secret=None, secret_file=f))


def test_the_secret_file_is_created_0600_and_read_back(tmp_path):
    f = tmp_path / "lib" / "host.secret"
    key = load_secret(config(secret=None, secret_file=f))
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert load_secret(config(secret=None, secret_file=f)) == key


def test_files_are_not_written_in_a_directory_other_users_may_write(tmp_path):
    d = tmp_path / "open"
    d.mkdir()
    d.chmod(0o777)
    with pytest.raises(UnsafePath, match="writable by other users"):
        write_private(d / "host.secret", b"x")
    assert list(d.iterdir()) == []
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)  # like /tmp: others cannot replace our files there
    write_private(sticky / "f", b"x")
    assert read_private(sticky / "f") == b"x"


def test_a_symlink_as_state_file_is_not_read_nor_written_through(tmp_path, victim):
    sf = tmp_path / "host.json"
    sf.symlink_to(victim)
    with pytest.raises(UnsafePath):
        StateFile(sf).load()
    StateFile(sf).save({"version": 1}, 1.0, 2.0)  # replaces the link itself
    assert untouched(victim)
    assert not sf.is_symlink() and stat.S_IMODE(sf.stat().st_mode) == 0o600


@pytest.fixture
def no_chmod(monkeypatch):
    calls = []
    real = os.chmod

    def spy(path, mode, *a, **kw):
        calls.append(str(path))
        return real(path, mode, *a, **kw)
    monkeypatch.setattr(os, "chmod", spy)
    return calls


def test_the_api_socket_gets_its_mode_at_bind_without_chmod(tmp_path, no_chmod):
    loop = asyncio.new_event_loop()
    api = ApiServer(tmp_path / "host.sock", loop, lambda c, m: None, lambda c, r: None)
    try:
        api.start()
        st = os.lstat(tmp_path / "host.sock")
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o666
        assert no_chmod == []
    finally:
        api.close()
        loop.close()


@pytest.mark.parametrize("planted", ["symlink", "file"])
def test_an_api_socket_path_that_is_no_socket_is_refused_not_removed(tmp_path, victim,
                                                                     planted):
    path = tmp_path / "host.sock"
    if planted == "symlink":
        path.symlink_to(victim)
    else:
        path.write_text("not a socket\n")
    loop = asyncio.new_event_loop()
    api = ApiServer(path, loop, lambda c, m: None, lambda c, r: None)
    try:
        with pytest.raises(UnsafePath, match="not a socket"):
            api.start()
    finally:
        loop.close()
    assert os.path.lexists(path)
    assert untouched(victim)


def test_a_stale_socket_is_replaced(tmp_path):
    path = tmp_path / "s.sock"
    old = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old.bind(str(path))
    old.close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bind_unix(s, path, 0o600)
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    s.close()


def test_the_router_control_socket_gets_0660_at_bind_without_chmod(tmp_path, no_chmod):
    async def go():
        srv = ControlServer(tmp_path / "router.sock", lambda req: {"ok": True})
        await srv.start()
        try:
            return stat.S_IMODE(os.lstat(tmp_path / "router.sock").st_mode)
        finally:
            await srv.close()
    assert asyncio.run(go()) == 0o660
    assert no_chmod == []


def test_a_policy_file_other_users_may_write_is_not_used(tmp_path):
    f = tmp_path / "policy.toml"
    f.write_text("[default]\non_net_per_minute = 1\n")
    f.chmod(0o644)
    assert load_policy(f).default.on_net_per_minute == 1
    f.chmod(0o666)
    with pytest.raises(PolicyError, match="writable by other users"):
        load_policy(f)
    if os.geteuid() == 0:
        f.chmod(0o644)
        os.chown(f, 65534, 65534)
        with pytest.raises(PolicyError, match="owned by uid 65534"):
            load_policy(f)
