"""A host agent whose start fails after it took its instance locks (no such
interface, a non-socket at the API socket's path, a refused state file)
gives them back and removes their files, as a clean stop does
(odm/instance_lock.py); what it opened is closed, what it changed is put
back, and nothing another owner has at those paths is removed. The adapter
with a fake netlink and unbound sockets: no kernel interface is touched."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from typing import ClassVar

import pytest
from hosthelp import config

import host.io.agent as agent_mod
import odm.instance_lock as il
from host.io.agent import HostAgent
from odm.safefile import UnsafePath


class FakeNetlink:
    """What HostAgent.run() asks of the netlink adapter, with no kernel."""

    made: ClassVar[list[FakeNetlink]] = []

    def __init__(self, iface: str) -> None:
        self.iface, self.index = iface, 7
        self.monitor = None
        self.closed = self.restored = False
        FakeNetlink.made.append(self)

    def configure_sysctls(self, trusted):
        return {"autoconf": "1 -> 0"}

    def drop_kernel_slaac(self):
        return []

    def accept_ra(self):
        return 0

    def mac(self):
        return b"\x02\x00\x00\x00\x00\x02"

    def link_local(self):
        return None

    def open_monitor(self):
        r, w = socket.socketpair()
        self.monitor, self._w = r, w
        return r.fileno()

    def restore_sysctls(self):
        self.restored = True
        return {"autoconf": "0 -> 1"}

    def close(self):
        self.closed = True
        if self.monitor is not None:
            self.monitor.close()
            self._w.close()


class FakeSocket:
    """A DHCPv6/ICMPv6 socket that sends nowhere (what is sent is kept)."""

    def __init__(self) -> None:
        self._a, self._b = socket.socketpair()
        self.sent: list = []

    def fileno(self) -> int:
        return self._a.fileno()

    def sendto(self, data, dst):
        self.sent.append((data, dst))

    def sendmsg(self, bufs, _anc, _flags, dst):
        self.sent.append((b"".join(bufs), dst))

    def close(self) -> None:
        self._a.close()
        self._b.close()


@pytest.fixture
def fake_kernel(monkeypatch, tmp_path):
    monkeypatch.setattr(il, "LOCK_DIR", tmp_path / "locks")
    FakeNetlink.made = []
    monkeypatch.setattr(agent_mod, "Netlink", FakeNetlink)
    opened: list[FakeSocket] = []

    def udp(*_a):
        s = FakeSocket()
        opened.append(s)
        return s

    monkeypatch.setattr(agent_mod, "dhcp6_client_socket", udp)
    monkeypatch.setattr(agent_mod, "icmp6_socket", udp)
    return opened


def _lock_files(tmp_path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.lock"))


def _run(cfg) -> None:
    stop = asyncio.Event()
    asyncio.run(HostAgent(cfg).run(stop))


def test_no_such_interface_leaves_no_lock_files(fake_kernel, monkeypatch, tmp_path):
    def no_iface(iface):
        raise OSError(19, f"no interface {iface!r}")

    monkeypatch.setattr(agent_mod, "Netlink", no_iface)
    cfg = config(api_socket=tmp_path / "x" / "h.sock", state_file=tmp_path / "h.state")
    with pytest.raises(OSError, match="no interface 'mh0'"):
        _run(cfg)
    assert _lock_files(tmp_path) == []
    assert not (tmp_path / "x" / "h.sock").exists()


def test_a_refused_state_file_leaves_no_lock_files_and_restores_sysctls(fake_kernel, tmp_path):
    (tmp_path / "elsewhere").write_text("{}")
    (tmp_path / "h.state").symlink_to(tmp_path / "elsewhere")
    cfg = config(api_socket=tmp_path / "h.sock", state_file=tmp_path / "h.state")
    with pytest.raises(UnsafePath, match="symbolic link"):
        _run(cfg)
    assert _lock_files(tmp_path) == []
    (nl,) = FakeNetlink.made
    assert nl.restored and nl.closed
    assert (tmp_path / "h.state").is_symlink()  # what was there stays


def test_a_non_socket_at_the_api_path_leaves_no_lock_files_and_is_kept(fake_kernel, tmp_path):
    (tmp_path / "h.sock").write_text("precious\n")
    cfg = config(api_socket=tmp_path / "h.sock")
    with pytest.raises(UnsafePath, match="not a socket"):
        _run(cfg)
    assert _lock_files(tmp_path) == []
    assert (tmp_path / "h.sock").read_text() == "precious\n"
    (nl,) = FakeNetlink.made
    assert nl.restored and nl.closed
    assert [s.fileno() for s in fake_kernel] == [-1, -1]  # DHCPv6 and ICMPv6 closed


def test_a_started_agent_holds_its_lock_files_and_a_stop_removes_them(fake_kernel, tmp_path):
    cfg = config(api_socket=tmp_path / "h.sock", state_file=tmp_path / "h.state")
    seen = []

    async def main():
        stop = asyncio.Event()
        task = asyncio.create_task(HostAgent(cfg).run(stop))
        while not (tmp_path / "h.sock").exists():
            await asyncio.sleep(0.01)
        seen.extend(_lock_files(tmp_path))
        stop.set()
        await task

    asyncio.run(main())
    assert seen == sorted(["h.sock.lock", "h.state.lock", f"locks/host-mh0@{il._netns_id()}.lock"])
    assert _lock_files(tmp_path) == []


def test_odm_host_run_on_a_missing_interface_leaves_no_lock_files(tmp_path):
    """The reported command, as a user runs it (it fails before touching
    the kernel: the interface is looked up first)."""
    env = dict(os.environ, ODM_LOCK_DIR=str(tmp_path / "locks"),
               PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.run([sys.executable, "-m", "odm", "host", "run", "--iface", "odmnosuch0",
                        "--socket", str(tmp_path / "x" / "h.sock")],
                       check=False, capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 1
    assert "odmnosuch0" in p.stderr
    assert _lock_files(tmp_path) == []
