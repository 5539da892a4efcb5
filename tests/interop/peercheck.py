"""Checks every interop test applies to its captures, and the skip markers
naming the missing peer program.

``clean(pcap)`` asserts that tshark objects to nothing in a capture ("Malformed"
in its ``-V`` tree, the Warnings/Errors sections of ``-z expert``, UDP and
ICMPv6 checksums verified) and that ``odm pcap check`` exits 0 on it. When the
environment names a directory in ``ODM_KEEP_PEER_CAPTURES``, the checked
capture is copied there under ``name`` (how pcaps/peers/ is refreshed: the
tests themselves never write into the tree).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def needs(*binaries: str, package: str | None = None):
    """Skip unless every program in ``binaries`` is installed (on PATH or an
    absolute path that exists); the reason names the missing one and its
    Debian package."""
    missing = [b for b in binaries
               if not (Path(b).is_file() if b.startswith("/") else shutil.which(b))]
    why = f"{', '.join(missing)} not installed" + (f" (Debian {package})" if package else "")
    return pytest.mark.skipif(bool(missing), reason=why)


def _tshark_read(path: Path) -> str:
    """tshark's ``-V`` tree of ``path`` followed by its ``-z expert``
    summary, checksums verified (one run)."""
    r = subprocess.run(["tshark", "-r", str(path), "-o", "udp.check_checksum:TRUE", "-V",
                        "-z", "expert"], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout


def tshark_problems(path: Path, text: str | None = None) -> list[str]:
    """What tshark objects to in ``path`` (empty: nothing): "Malformed" in
    its tree, the Errors/Warnings sections of its expert summary."""
    text = _tshark_read(path) if text is None else text
    return [ln.strip() for ln in text.splitlines()
            if "Malformed" in ln or ln.startswith(("Errors", "Warns", "Warnings"))]


def pcap_check(path: Path) -> subprocess.CompletedProcess:
    """``odm pcap check PATH`` run as the user would."""
    return subprocess.run([sys.executable, "-m", "odm", "pcap", "check", str(path)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def clean(path: Path, name: str | None = None, min_dhcp6: int = 1) -> None:
    """Assert the capture holds at least ``min_dhcp6`` DHCPv6 messages, and
    that tshark and ``odm pcap check`` find nothing wrong in it; keep a copy
    when asked (module docstring)."""
    if shutil.which("tshark") is not None:
        text = _tshark_read(path)
        assert tshark_problems(path, text) == [], path
        n = text.count("\nDHCPv6\n")
        assert n >= min_dhcp6, f"{path}: {n} DHCPv6 messages"
    r = pcap_check(path)
    assert r.returncode == 0, r.stdout + r.stderr
    keep = os.environ.get("ODM_KEEP_PEER_CAPTURES")
    if keep and name:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(keep) / name)


def capture(pair, ns: str, ifname: str, pcap: Path, bpf: str = "udp or icmp6"):
    """tcpdump on ``ifname`` in ``ns`` (started through ``pair.spawn``, so
    stopped at teardown); returns once it listens. End it with
    :func:`end_capture` before reading the file."""
    from probe_netns import start_tcpdump

    return start_tcpdump(pair.spawn, ns, ifname, pcap, bpf)


def end_capture(p) -> None:
    """Stop a capture started by :func:`capture` (SIGINT: it flushes)."""
    import signal
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        p.wait(10)
