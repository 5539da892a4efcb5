"""Fuzz properties (hypothesis) of the codec and both sans-I/O cores, on the
engine of tests/fuzz/engine.py (its docstring lists the invariants).

- codec: random octets and mutated golden datagrams give WireFormatError or a
  message that re-encodes to the same octets;
- router core: random and mutated-valid datagrams, and random sequences of
  well-formed client exchanges mixed with mutants and time jumps: no exception
  escapes, nothing undecodable is sent, no prefix is granted to two clients
  at once, and a valid Solicit is still answered with every type afterwards;
- host core (joined to a router core): mutated datagrams to the host and in
  flight, with setsc/close/link/rebind/release calls and time jumps: no
  exception escapes, and setsc() of every type still completes afterwards.

Example counts are kept small for the default run; ``bench/fuzz.py`` runs a
million inputs per target.
"""

from __future__ import annotations

import logging
import random
from ipaddress import IPv6Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from odm_wire.constants import MobilityType
from odm_wire.dhcp6 import (
    IAPD,
    ClientId,
    Decline,
    DuidLL,
    ElapsedTime,
    IAPrefix,
    OptionRequest,
    Rebind,
    Release,
    Renew,
    Request,
    ServerId,
    Solicit,
    decode_dhcp6,
    encode_dhcp6,
    encode_duid,
    mobility_type_option,
)
from tests.fuzz.engine import (
    HOST_LL,
    SERVER_DUID,
    CodecTarget,
    HostTarget,
    InvariantBroken,
    Mutator,
    RouterTarget,
    default_corpus,
    patch_ids,
)

CORPUS = default_corpus()
SEEDS = CORPUS.all()
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.WARNING)  # the cores log every bad datagram
    yield
    logging.disable(logging.NOTSET)


def test_corpus_has_both_directions_of_both_protocols():
    assert len(CORPUS.router_dhcp) >= 20 and len(CORPUS.host_dhcp) >= 20
    assert CORPUS.router_icmp and CORPUS.host_icmp


# ------------------------------------------------------------------ codec --
@FAST
@given(st.binary(max_size=600))
def test_codec_random_octets(data):
    CodecTarget().run_one(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SEEDS), st.randoms(use_true_random=False))
def test_codec_mutated_golden_datagrams(seed, rng):
    CodecTarget().run_one(Mutator(rng).mutate(seed, SEEDS))


def test_codec_round_trip_is_checked():
    """The property can fail: a decoder that normalised octets would be caught."""
    t = CodecTarget()
    seed = CORPUS.router_dhcp[0]
    t.run_one(seed)
    with pytest.raises(InvariantBroken):
        import odm_wire
        real = odm_wire.encode
        try:
            odm_wire.encode = lambda m: real(m) + b"\0"
            t.run_one(seed)
        finally:
            odm_wire.encode = real


# ------------------------------------------------------------------ router --
@FAST
@given(st.randoms(use_true_random=False), st.integers(5, 60))
def test_router_core_survives_mutated_datagrams(tmp_path_factory, rng, n):
    t = RouterTarget(tmp_path_factory.mktemp("r"), CORPUS, rng)
    try:
        for _ in range(n):
            t.run_one(*t.next_input())
        t.check_alive()
    finally:
        t.close()


def test_router_tracker_catches_a_double_grant(tmp_path):
    """The no-double-delegation check fires when a Reply hands a held prefix
    to another DUID (fed by hand: the core never does it)."""
    from odm_wire.dhcp6 import Reply
    t = RouterTarget(tmp_path, CORPUS, random.Random(1))
    try:
        t.check_alive()
        (net, _holder), *_ = t.tracker.holder.items()
        other = DuidLL(1, b"\x02\x99\x99\x99\x99\x99")
        fake = Reply(1, (ClientId(other), ServerId(SERVER_DUID),
                         IAPD(1, 0, 0, (IAPrefix(10, 20, net.prefixlen, net.network_address),))))
        with pytest.raises(InvariantBroken, match="granted"):
            t.tracker.reply(encode_dhcp6(fake), t.pen)
    finally:
        t.close()


class RouterExchanges(RuleBasedStateMachine):
    """Well-formed client exchanges (several clients, every type, legacy),
    mutants of them, and time jumps, in any order."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile
        self._dir = tempfile.TemporaryDirectory(prefix="h5-fuzz-")
        self.t: RouterTarget | None = None
        self.held: dict[tuple[int, int], IAPD] = {}
        self.xid = 0

    @initialize(rng=st.randoms(use_true_random=False))
    def start(self, rng):
        from pathlib import Path
        self.t = RouterTarget(Path(self._dir.name), CORPUS, rng)

    def _duid(self, c: int) -> DuidLL:
        return DuidLL(1, bytes([2, 0, 0, 0, 7, c]))

    def _send(self, msg, mutate_rng=None):
        self.xid += 1
        data = encode_dhcp6(msg)
        if mutate_rng is not None:
            data = Mutator(mutate_rng).mutate(data)
        self.t.run_one(data, "dhcp6")

    def _ia(self, iaid: int, mt) -> IAPD:
        opts = (mobility_type_option(mt),) if mt is not None else ()
        if mt is None:
            return IAPD(iaid, 0, 0, ())
        return IAPD(iaid, 0, 0, (IAPrefix(0, 0, 56, IPv6Address("::"), opts),))

    @rule(c=st.integers(0, 3), iaid=st.integers(1, 4),
          mt=st.sampled_from([None, *MobilityType]), rapid=st.booleans())
    def solicit_request(self, c, iaid, mt, rapid):
        from odm_wire.dhcp6 import RapidCommit
        base = (ClientId(self._duid(c)), ElapsedTime(0), OptionRequest((17,)))
        ia = self._ia(iaid, mt)
        if rapid:
            self._send(Solicit(self.xid, base + (RapidCommit(), ia)))
        else:
            self._send(Solicit(self.xid, base + (ia,)))
            self._send(Request(self.xid, base + (ServerId(SERVER_DUID), ia)))
        self._learn(c)

    def _learn(self, c: int) -> None:
        duid = encode_duid(self._duid(c))
        self.held = {k: v for k, v in self.held.items() if k[0] != c}
        for net, d in self.t.tracker.holder.items():
            if d == duid:
                for b in self.t.core.dhcp.table.by_prefix.values():
                    if b.prefix == net and b.duid == duid:
                        self.held[(c, b.iaid)] = IAPD(b.iaid, 0, 0, (IAPrefix(
                            0, 0, net.prefixlen, net.network_address,
                            (mobility_type_option(b.mobility_type),)
                            if b.mobility_type else ()),))

    @rule(c=st.integers(0, 3), kind=st.sampled_from(["renew", "rebind", "release", "decline"]),
          mutate=st.none() | st.randoms(use_true_random=False))
    def give_or_extend(self, c, kind, mutate):
        ias = tuple(v for k, v in self.held.items() if k[0] == c) or (self._ia(1, None),)
        cid = (ClientId(self._duid(c)), ElapsedTime(0))
        sid = (ServerId(SERVER_DUID),)
        msg = {"renew": lambda: Renew(self.xid, cid + sid + ias),
               "rebind": lambda: Rebind(self.xid, cid + ias),
               "release": lambda: Release(self.xid, cid + sid + ias),
               "decline": lambda: Decline(self.xid, cid + sid + ias)}[kind]()
        self._send(msg, mutate)
        self._learn(c)

    @rule(rng=st.randoms(use_true_random=False))
    def mutant(self, rng):
        self.t.rng = rng
        self.t.mut = Mutator(rng)
        self.t.run_one(*self.t.next_input())

    @rule(dt=st.sampled_from([0.01, 1.0, 30.0, 199.0, 401.0]))
    def advance(self, dt):
        self.t.now += dt
        self.t.run_one(b"", "dhcp6")  # runs due timers; an empty datagram is dropped

    @invariant()
    def store_matches_table(self):
        if self.t is None:
            return
        table = {b.prefix for b in self.t.core.dhcp.bindings()}
        stored = {b.prefix for b in self.t.store.load("fz1", "fz0")}
        assert table == stored

    def teardown(self):
        if self.t is not None:
            try:
                self.t.check_alive()
            finally:
                self.t.close()
        self._dir.cleanup()


TestRouterExchanges = RouterExchanges.TestCase
TestRouterExchanges.settings = settings(max_examples=25, stateful_step_count=30, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])


# -------------------------------------------------------------------- host --
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(5, 80))
def test_host_core_survives_mutated_datagrams_and_api_calls(tmp_path_factory, rng, n):
    t = HostTarget(tmp_path_factory.mktemp("h"), CORPUS, rng)
    try:
        for _ in range(n):
            t.run_one(*t.next_input())
        t.check_alive()
    finally:
        t.close()


def test_host_alive_check_can_fail(tmp_path):
    """check_alive fails when the network cannot answer (link held down)."""
    t = HostTarget(tmp_path, CORPUS, random.Random(3))
    try:
        t.pair.host.link_up = lambda now: None
        t.pair.up = False
        orig = t.pair.pump

        def cut():
            t.pair.up = False
            orig()
        t.pair.pump = cut
        with pytest.raises(InvariantBroken, match="setsc"):
            t.check_alive()
    finally:
        t.close()


def test_patch_ids_reaches_past_the_first_checks():
    sol = CORPUS.router_dhcp[0]
    msg = decode_dhcp6(patch_ids(sol, xid=0x123456, client=b"\x00\x03\x00\x01" + b"\x02" * 6))
    assert msg.transaction_id == 0x123456
    assert encode_duid(msg.get(ClientId).duid) == b"\x00\x03\x00\x01" + b"\x02" * 6
    assert HOST_LL.is_link_local
