"""Fixtures of the probe tests: ``odm_router`` is a lab (namespaces
``h3p<hex>-*``) with odm's router agent running on ar1 with ``pcaps/ar1.toml``
(typed PIO, one pool per type, a GRACEFUL_REPLACEMENT pool of a single /56,
a legacy pool), shared by a module and always torn down."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

STATE_DIR = Path(os.environ.get("ODM_TEST_LAB_STATE_DIR", "/run/odm-lab-test"))
PREFIX = "h3p"
@dataclass
class OdmRouter:
    lab: object
    workdir: Path

    def probe(self, *args: str, timeout: float = 60) -> tuple[int, dict | None, str]:
        """``odm probe ARGS --iface mh0 --netns <mh> --json`` → (exit, JSON, stderr)."""
        res = subprocess.run([sys.executable, "-m", "odm", "probe", *args, "--iface", "mh0",
                              "--netns", self.lab.netns("mh"), "--json"],
                             capture_output=True, text=True, timeout=timeout, check=False,
                             env={**os.environ, "COLUMNS": "200"})
        return res.returncode, json.loads(res.stdout) if res.stdout.strip() else None, \
            res.stderr

    def probe_text(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "odm", "probe", *args, "--iface", "mh0",
                               "--netns", self.lab.netns("mh")], capture_output=True,
                              text=True, timeout=60, check=False,
                              env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def odm_router(tmp_path_factory):
    from lab import Lab
    from odm.pcaptools.labrun import GoldenLab
    from odm.pcaptools.livepeers import in_netns
    from odm.probetools.link import interface_info

    lab = Lab(prefix=PREFIX + secrets.token_hex(3), state_dir=STATE_DIR)
    work = tmp_path_factory.mktemp("odm-router")
    try:
        lab.up()
        gl = GoldenLab(lab, work)
        gl.start_router("ar1")
        with in_netns(lab.netns("mh")):  # the probe cannot send from a tentative address
            interface_info("mh0", wait=5.0)
        try:
            yield OdmRouter(lab, work)
        finally:
            gl.stop_all()
    finally:
        lab.down()
