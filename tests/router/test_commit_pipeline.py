"""Commits of a PostgreSQL lease store off the agent's event loop
(router/io/commits.py): a core on a DeferredStore, its held Replies released
by a CommitPipeline on a real asyncio loop once the database thread
committed their bindings. The database is stalled by another session's lock
on the bindings table: the loop keeps turning (RAs, Advertises), the stalled
Replies are never sent, the timeout is counted, and after the lock goes the
client's retransmission is answered with a binding that is in the database."""

from __future__ import annotations

import asyncio
import random
import time
from ipaddress import IPv6Network

import pytest

from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import Advertise, ClientId, Reply, decode_dhcp6, encode_dhcp6
from router.core.router import RouterCore
from tests.router.conftest import CLIENT_LL, PEN, SERVER_DUID, Client, make_config


@pytest.fixture
def pg(pg_server, tmp_path):
    from tests.pg import StoreFactory
    f = StoreFactory("postgresql", tmp_path, pg_server)
    yield f
    f.finish()


class _Owner:
    """What the agent passes as a pipeline owner: an interface with a core."""

    def __init__(self, core):
        self.core = core
        self.sent: list = []
        self.events: list = []


def _setup(pg, loop, timeout=1.0):
    from router.io.commits import CommitPipeline, DeferredStore
    reader = pg("shared", timeout=timeout)
    store = DeferredStore(reader)
    core = RouterCore(make_config(), "veth0", store, SERVER_DUID, clock_offset=0.0,
                      rng=random.Random(1), link_layer_address=bytes.fromhex("020000000001"))
    core.start(loop.time())
    owner = _Owner(core)

    def release(o, held):
        o.sent += held.out
        o.events += held.events

    pipe = CommitPipeline(store, reader.clone, loop, timeout=timeout, release=release)
    return store, core, owner, pipe


def _feed(pipe, owner, msg, loop):
    owner.core.handle_datagram(encode_dhcp6(msg), CLIENT_LL, loop.time(), kind="dhcp6")
    pipe.submit(owner, owner.core.dhcp.take_held())


async def _until(cond, limit=30.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not cond():
        assert loop.time() < end, "condition not met"
        await asyncio.sleep(0.01)


def _replies(owner):
    return [m for m in (decode_dhcp6(o.payload, PEN) for o in owner.sent
                        if o.kind == "dhcp6") if type(m) is Reply]


def _lock_bindings(pg):
    """Another session holding an EXCLUSIVE lock on the bindings table:
    every write waits (reads do not)."""
    db = pg.pg.admin("odm")
    db.autocommit = False
    db.execute(f"LOCK TABLE {pg.schemas['shared']}.bindings IN EXCLUSIVE MODE")
    return db


def test_a_stalled_commit_stalls_nothing_else_and_acknowledges_nothing(pg):
    async def main():
        loop = asyncio.get_running_loop()
        _store, core, owner, pipe = _setup(pg, loop, timeout=1.0)
        try:
            a = Client("020000000002")
            locker = _lock_bindings(pg)
            try:
                _feed(pipe, owner, a.request(SERVER_DUID, a.typed(1, MT.FIXED)), loop)
                assert pipe.in_flight == 1 and owner.sent == []
                # the loop is free: an Advertise to another client leaves at
                # once, and the RA timer's RA goes out
                b = Client("020000000003")
                _feed(pipe, owner, b.solicit(b.typed(1, MT.FIXED)), loop)
                assert [type(decode_dhcp6(o.payload, PEN)) for o in owner.sent] == [Advertise]
                core.handle_timer(core.get_timer())
                assert [o.kind for o in core.ra.datagrams_to_send()] == ["icmp6"]
                await _until(lambda: core.dhcp.stats["store-commit-timeout"] == 1)
                assert _replies(owner) == [] and owner.events == []  # nothing acknowledged
                assert core.dhcp.stale and not pipe.healthy
                # a stale core answers nobody until it has read its state again
                _feed(pipe, owner, a.request(SERVER_DUID, a.typed(1, MT.FIXED)), loop)
                assert core.dhcp.stats["store-unavailable"] >= 1
            finally:
                locker.rollback()
                locker.close()
            await _until(lambda: not core.dhcp.stale)
            assert pipe.healthy
            _feed(pipe, owner, a.request(SERVER_DUID, a.typed(1, MT.FIXED)), loop)
            await _until(lambda: _replies(owner))
            (rep,) = _replies(owner)
            (p,) = [p for ia in rep.ia_pds for p in ia.prefixes]
            row = pg("shared").find_prefix(IPv6Network((p.prefix, p.prefix_length)))
            assert row is not None and row.duid == bytes(a.duid)
        finally:
            await pipe.close()
    asyncio.run(main())


def test_a_burst_of_commits_is_one_transaction_and_replies_keep_their_order(pg):
    async def main():
        loop = asyncio.get_running_loop()
        _store, core, owner, pipe = _setup(pg, loop, timeout=30.0)
        try:
            clients = [Client(f"0200000001{i:02x}") for i in range(10)]
            locker = _lock_bindings(pg)
            try:
                for c in clients:
                    _feed(pipe, owner, c.request(SERVER_DUID, c.typed(1, MT.FIXED)), loop)
                assert pipe.in_flight == 10 and owner.sent == []
            finally:
                locker.rollback()
                locker.close()
            await _until(lambda: pipe.in_flight == 0)
            # what the thread had taken when it met the lock went as one
            # transaction, everything queued behind it as a second one
            assert pipe.stats["commits"] <= 2 and pipe.stats["batches-committed"] == 10
            reps = _replies(owner)
            assert [r.get(ClientId).duid for r in reps] == [c.duid for c in clients]
            check = pg("shared")
            for r in reps:
                (p,) = [p for ia in r.ia_pds for p in ia.prefixes]
                assert check.find_prefix(IPv6Network((p.prefix, p.prefix_length))) is not None
            assert core.dhcp.stats["store-commit-timeout"] == 0
        finally:
            await pipe.close()
    asyncio.run(main())


def test_a_prefix_taken_by_another_router_fails_the_batch_then_another_is_given(pg):
    """The core does not know another router's new row (it read the pools
    before): its optimistic insert fails the commit on the primary key, the
    Reply is not sent, the state is re-read, and the retransmission gets a
    prefix of its own."""
    async def main():
        loop = asyncio.get_running_loop()
        _store, core, owner, pipe = _setup(pg, loop, timeout=30.0)
        try:
            a = Client("020000000002")
            # ar2 takes the first prefixes of the pool after this core read it
            from tests.router.test_store_and_restart import mk
            base = IPv6Network(core.iface.pools_for(MT.FIXED)[0].prefix).network_address
            taken = [IPv6Network((int(base) + (i << 72), 56)) for i in range(4)]
            ar2 = pg("shared")
            for t in taken:
                other = mk(prefix=str(t), duid=b"ar2-client", valid_until=time.time() + 3600)
                other.anchor = other.served_by = "ar2"
                assert ar2.insert(other)
            ar2.commit()
            _feed(pipe, owner, a.request(SERVER_DUID, a.typed(1, MT.FIXED)), loop)
            await _until(lambda: core.dhcp.stats["store-commit-failed"] == 1, 5)
            assert _replies(owner) == []
            await _until(lambda: not core.dhcp.stale)
            _feed(pipe, owner, a.request(SERVER_DUID, a.typed(1, MT.FIXED)), loop)
            await _until(lambda: _replies(owner))
            (rep,) = _replies(owner)
            (q,) = [q for ia in rep.ia_pds for q in ia.prefixes]
            mine = IPv6Network((q.prefix, q.prefix_length))
            assert mine not in taken
            assert all(ar2.find_prefix(t).duid == b"ar2-client" for t in taken)
            assert ar2.find_prefix(mine).duid == bytes(a.duid)
        finally:
            await pipe.close()
    asyncio.run(main())


def test_database_down_then_back_stops_acknowledging_then_resumes(pg, caplog):
    """PostgreSQL stops while the router serves: the Request's commit fails
    (counted), nothing is acknowledged, the core answers nobody while the
    state cannot be re-read (store-unavailable), re-reads are retried with
    back-off; the change of state is logged once each way; once the server
    is back the client's retransmission gets its Reply and the binding is in
    the database."""
    import logging
    caplog.set_level(logging.INFO, logger="router.commits")

    async def main():
        loop = asyncio.get_running_loop()
        _store, core, owner, pipe = _setup(pg, loop, timeout=5.0)
        a = Client("020000000002")
        try:
            pg.pg.down("fast")
            try:
                _feed(pipe, owner, a.request(SERVER_DUID, a.typed(1, MT.FIXED)), loop)
                await _until(lambda: core.dhcp.stats["store-commit-failed"] == 1)
                for _ in range(3):
                    _feed(pipe, owner, a.request(SERVER_DUID, a.typed(1, MT.FIXED)), loop)
                    await asyncio.sleep(0.2)
                await _until(lambda: pipe.stats["reload-failures"] >= 2)
                assert _replies(owner) == [] and core.dhcp.stale and not pipe.healthy
                assert core.dhcp.stats["store-unavailable"] == 3
            finally:
                pg.pg.up()
            await _until(lambda: pipe.healthy and not core.dhcp.stale, 60)
            _feed(pipe, owner, a.request(SERVER_DUID, a.typed(1, MT.FIXED)), loop)
            await _until(lambda: _replies(owner))
            (rep,) = _replies(owner)
            (p,) = [p for ia in rep.ia_pds for p in ia.prefixes]
            assert pg("shared").find_prefix(IPv6Network((p.prefix, p.prefix_length))) is not None
        finally:
            await pipe.close()
    asyncio.run(main())
    lines = [r for r in caplog.records if r.name == "router.commits"
             and r.levelno >= logging.WARNING]
    assert [r.levelno for r in lines] == [logging.ERROR, logging.WARNING], lines
