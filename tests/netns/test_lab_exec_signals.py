"""`odm lab exec` passes SIGTERM on to the command it runs: stopping the CLI
stops the agent it started instead of leaving it to PID 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.netns]


def _children_running(marker: str) -> list[int]:
    """PIDs of the command itself (its cmdline holds the marker, not 'lab')."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as fh:
                    argv = fh.read().split(b"\0")
            except OSError:
                continue
            if any(marker.encode() in a for a in argv) and b"lab" not in argv:
                pids.append(int(d))
    return pids


def test_sigterm_to_lab_exec_stops_the_command(lab, lab_state_dir):
    marker = f"odm-exec-signal-test-{os.getpid()}"
    cli = subprocess.Popen(
        [sys.executable, "-m", "odm", "lab", "exec", "--prefix", lab.prefix, "--state-dir",
         str(lab_state_dir), "ar1", "--", sys.executable, "-c",
         f"import time; time.sleep(60)  # {marker}"])
    try:
        deadline = time.monotonic() + 10
        while not _children_running(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        (cmd_pid,) = _children_running(marker)
        cli.send_signal(signal.SIGTERM)
        rc = cli.wait(10)
        deadline = time.monotonic() + 5
        while cmd_pid in _children_running(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cmd_pid not in _children_running(marker)
        assert rc == 128 + signal.SIGTERM  # the command's own end, passed on
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
