"""One agent per interface, socket and state file (odm/instance_lock.py,
issue 13 point 10): the second locker is refused with the holder's pid, a
crashed holder's lock is free again, a symlink planted as the lock file is
not followed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from odm.instance_lock import AlreadyRunning, InstanceLock, interface_lock_path

HOLD = ("import sys, time; from odm.instance_lock import InstanceLock; "
        "InstanceLock('test agent', [sys.argv[1]]).acquire(); print('locked', flush=True); "
        "time.sleep(60)")


def test_a_second_agent_is_refused_naming_the_holder_and_a_killed_holder_frees_it(tmp_path):
    lock = tmp_path / "host.sock.lock"
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE,
                         text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        assert p.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunning) as exc:
            InstanceLock("host agent on mh0", [tmp_path / "other.lock", lock]).acquire()
        assert str(exc.value) == (f"another host agent on mh0 is running (pid {p.pid} holds "
                                  f"{lock}); nothing was changed")
        # all or nothing: the first lock it took is given back
        InstanceLock("x", [tmp_path / "other.lock"]).acquire().release()
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    InstanceLock("host agent on mh0", [lock]).acquire().release()  # SIGKILL freed it


def test_a_symlink_planted_as_lock_file_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "a.lock").symlink_to(victim)
    with pytest.raises(OSError, match="cannot open lock file"):
        InstanceLock("x", [tmp_path / "a.lock"]).acquire()
    assert victim.read_text() == "precious\n"


def test_interface_locks_are_per_network_namespace(tmp_path):
    p = interface_lock_path("host", "mh0", tmp_path)
    ns = os.stat("/proc/self/ns/net").st_ino
    assert p == tmp_path / f"host-mh0@net{ns}.lock"


def test_an_agent_that_stops_removes_its_lock_files_and_the_next_one_locks_afresh(tmp_path):
    locks = [tmp_path / "host.sock.lock", interface_lock_path("host", "mh0", tmp_path)]
    held = InstanceLock("host agent on mh0", locks).acquire()
    assert all(p.read_text() == f"{os.getpid()}\n" for p in locks)
    with pytest.raises(AlreadyRunning):
        InstanceLock("host agent on mh0", locks[1:]).acquire()
    held.release()
    assert [p for p in locks if p.exists()] == []
    InstanceLock("host agent on mh0", locks).acquire().release()
    assert list(tmp_path.iterdir()) == []


def test_a_lock_taken_on_a_file_removed_meanwhile_is_taken_again_on_the_new_one(tmp_path,
                                                                               monkeypatch):
    # the race removal opens: B opens the file, A (stopping) removes it and
    # lets go, B's flock succeeds on a file no path names; a third agent
    # would create and lock a new file of the same name. B must notice and
    # lock the file the path names.
    import odm.instance_lock as il
    path = tmp_path / "router.sock.lock"
    a = InstanceLock("router agent", [path]).acquire()
    real_open = il.InstanceLock._open
    calls = []

    def open_then_holder_stops(self, p, *, optional):
        fd = real_open(self, p, optional=optional)
        calls.append(fd)
        if len(calls) == 1:
            a.release()  # the holder stops between B's open and B's flock
        return fd

    monkeypatch.setattr(il.InstanceLock, "_open", open_then_holder_stops)
    b = InstanceLock("router agent", [path]).acquire()
    try:
        assert len(calls) == 2  # opened again after finding its file removed
        st, fd_st = os.stat(path), os.fstat(b.fds[0])
        assert (st.st_dev, st.st_ino) == (fd_st.st_dev, fd_st.st_ino)
        monkeypatch.setattr(il.InstanceLock, "_open", real_open)
        with pytest.raises(AlreadyRunning):
            InstanceLock("router agent", [path]).acquire()
    finally:
        b.release()
    assert not path.exists()
