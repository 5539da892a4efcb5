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
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        pids.append(int(d))
            except OSError:
                pass
    return pids


def test_sigterm_to_lab_exec_stops_the_command(lab, lab_state_dir):
    marker = f"odm-exec-signal-test-{os.getpid()}"
    cli = subprocess.Popen(
        [sys.executable, "-m", "odm", "lab", "exec", "--prefix", lab.prefix, "--state-dir",
         str(lab_state_dir), "ar1", "--", sys.executable, "-c",
         f"import time; time.sleep(60)  # {marker}"])
    try:
        deadline = time.monotonic() + 10
        while len(_children_running(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the CLI and the command both carry the marker
        (cmd_pid,) = [p for p in _children_running(marker) if p != cli.pid]
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
