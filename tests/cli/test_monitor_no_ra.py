"""``odm monitor ra`` with nothing heard: exit 3 and one line on stderr
naming the interface and the wait (as ``odm probe ra`` says it), stdout empty
(so ``--json``'s JSON Lines stay well-formed); with an RA heard, no such line."""

from __future__ import annotations

import json
import time
from ipaddress import IPv6Address
from typing import ClassVar

import pytest
from click.testing import CliRunner

import odm.monitor_cli
import odm.probetools.link
from odm_wire import nd


class FakeSocket:
    """Icmp6Socket stand-in: hands out ``datagrams``, then waits out the
    monitor's timeout (nothing arrives)."""

    datagrams: ClassVar[list] = []

    def __init__(self, info) -> None:
        self.queue = list(self.datagrams)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def recv(self, timeout: float):
        if self.queue:
            return self.queue.pop(0)
        time.sleep(min(timeout, 0.02))
        return None


@pytest.fixture
def fake_link(monkeypatch):
    monkeypatch.setattr(odm.monitor_cli, "_setup", lambda iface, netns: object())
    monkeypatch.setattr(odm.probetools.link, "Icmp6Socket", FakeSocket)
    monkeypatch.setattr(FakeSocket, "datagrams", [])
    return FakeSocket


def _run(*args: str):
    return CliRunner().invoke(
        odm.monitor_cli.monitor, ["ra", "--iface", "eth9", "--timeout", "0.1", *args])


@pytest.mark.parametrize("as_json", [False, True])
def test_no_ra_heard_says_so_on_stderr_and_exits_3(fake_link, as_json):
    r = _run(*(["--json"] if as_json else []))
    assert r.exit_code == 3
    assert r.stdout == ""  # nothing that is not an RA (JSON Lines: zero lines)
    assert r.stderr.strip() == "odm monitor: no Router Advertisement heard on eth9 in 0.1 s"


def test_an_ra_heard_prints_it_and_no_no_ra_line(fake_link):
    ra = nd.RouterAdvertisement(router_lifetime=1800)
    fake_link.datagrams = [(nd.encode_nd(ra), IPv6Address("fe80::1"), 255)]
    r = _run("--json")
    assert r.exit_code == 0 and r.stderr == ""
    (line,) = r.stdout.splitlines()
    assert json.loads(line)["router"] == "fe80::1"
