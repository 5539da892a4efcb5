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
