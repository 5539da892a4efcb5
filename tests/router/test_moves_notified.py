"""The anchor learns a move from PostgreSQL LISTEN/NOTIFY (router/dataplane/moves.py,
issue 15 point 3): two router cores on one PostgreSQL database; the anchor
runs :class:`Mobility` with a poll interval of an hour and no nudge can reach
it (the serving router runs no Mobility, so it sends none); the host Rebinds
at the serving router, and the anchor forwards the prefix there as soon as
the serving router's commit is signalled. A broken listening connection is
a re-read at once and a new LISTEN later. SQLite keeps nudges and polling."""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv6Address
from typing import ClassVar

import pytest

from odm_wire.constants import MobilityType as MT
from router.dataplane import redirects
from router.dataplane.base import Backend
from tests.router.conftest import BASE_TOML, Client, FakeClock, Harness, make_config, net
from tests.router.test_moves import AR2_LL, ar2_toml, attach


class _Link:
    def get_attr(self, name):
        return 1500 if name == "IFLA_MTU" else None


class _FakeIpr:
    """What Mobility.start asks of netlink, for the loopback device."""

    def link_lookup(self, ifname):
        return [socket.if_nametoindex(ifname)]

    def get_links(self, idx):
        return [_Link()]


class _Recorder(Backend):
    """A data-plane backend that only records what it is asked to do."""

    name = "recorder"
    kernel_option = None
    overhead = 0
    summary = "records forward() calls"
    forwarded: ClassVar[list] = []

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def forward(self, prefix, peer) -> None:
        type(self).forwarded.append((prefix, peer.router_id))

    def uplink_route(self, peer) -> None:
        pass

    def uplink(self, prefix, peer, iif=None) -> bool:
        return False


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def _mobility_toml(port: int) -> str:
    return BASE_TOML + f"""
[mobility]
dataplane = "routed"
core_interface = "lo"
core_address = "::1"
notify_port = {port}
poll_interval = 3600
[[mobility.peer]]
id = "ar2"
core_address = "::1"
"""


@pytest.fixture
def pg(pg_server, tmp_path):
    from tests.pg import StoreFactory
    f = StoreFactory("postgresql", tmp_path, pg_server)
    yield f
    f.finish()


@pytest.fixture(autouse=True)
def _no_nftables(monkeypatch):
    monkeypatch.setattr(redirects, "install", lambda ifindex: None)
    monkeypatch.setattr(redirects, "remove", lambda: None)
    _Recorder.forwarded = []


async def _until(cond, limit=30.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not cond():
        assert loop.time() < end, "condition not met"
        await asyncio.sleep(0.01)


def test_the_anchor_learns_a_move_from_notify_without_nudge_or_poll(pg):
    from router.dataplane.moves import Mobility

    async def main():
        loop = asyncio.get_running_loop()
        clock = FakeClock()
        cfg1 = make_config(_mobility_toml(_free_udp_port()), graceful_replacement_grace=30)
        ar1 = Harness(cfg1, pg("shared"), clock)
        ar2 = Harness(make_config(ar2_toml(), graceful_replacement_grace=30), pg("shared"),
                      clock)
        mob = Mobility(cfg1, pg("shared"), _FakeIpr(), backend=_Recorder,
                       write_sysctl=lambda k, v: None)
        mob.start(loop)
        try:
            assert mob.status()["moves-signalled"]
            polls = mob.stats["polls"]
            c = Client()
            got = attach(ar1, c, c.typed(1, MT.SESSION_LASTING))
            p = net(got[1].prefixes[0])
            ar2.one(c.rebind(c.held(got[1])), src=IPv6Address(AR2_LL))
            await _until(lambda: _Recorder.forwarded)
            assert _Recorder.forwarded == [(p, "ar2")]
            assert mob.redirected == {p: "ar2"}
            assert mob.stats["nudges-received"] == 0 and mob.stats["moves-notified"] >= 1
            assert mob.stats["polls"] == polls + 1  # the notification's re-read, no timer
            # the listening connection breaks: re-read at once, listen again later
            lst = mob.store._listener
            lst.conn.close()
            mob._on_notify()
            assert mob.stats["notify-lost"] == 1 and not mob.status()["moves-signalled"]
            await _until(lambda: mob.status()["moves-signalled"], 10)
        finally:
            mob.stop()
    asyncio.run(main())


def test_on_sqlite_moves_are_not_signalled_nudges_and_polls_remain(tmp_path):
    from router.dataplane.moves import Mobility
    from router.store import SqliteLeaseStore

    async def main():
        loop = asyncio.get_running_loop()
        cfg = make_config(_mobility_toml(_free_udp_port()))
        mob = Mobility(cfg, SqliteLeaseStore(tmp_path / "a.db"), _FakeIpr(), backend=_Recorder,
                       write_sysctl=lambda k, v: None)
        mob.start(loop)
        try:
            assert not mob.status()["moves-signalled"] and mob._timer is not None
        finally:
            mob.stop()
    asyncio.run(main())
