"""RFC 8415 §15 retransmission and §14.1 rate limit."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.core.retransmit import Retransmitter, RtParams, TokenBucket


@given(st.integers(0, 2**32))
def test_solicit_first_rt_strictly_above_irt(seed):
    r = Retransmitter(RtParams(1.0, 3600), random.Random(seed), first_rt_above_irt=True)
    deadline = r.start(100.0)
    assert 1.0 < deadline - 100.0 <= 1.1


@given(st.integers(0, 2**32))
def test_first_rt_within_ten_percent(seed):
    r = Retransmitter(RtParams(10.0, 600), random.Random(seed))
    d = r.start(0.0)
    assert 9.0 <= d <= 11.0


@given(st.integers(0, 2**32))
def test_rt_doubles_then_caps_at_mrt(seed):
    r = Retransmitter(RtParams(1.0, 30.0), random.Random(seed))
    now = 0.0
    now = r.start(now)
    prev = r.rt
    capped = False
    for _ in range(12):
        assert r.expire(now)
        if r.rt <= 30.0 * 1.1 and prev * 1.9 > 30.0 * 1.1:
            capped = True
        if not capped and r.rt < 27.0:
            assert 1.9 * prev - 1e-9 <= r.rt <= 2.1 * prev + 1e-9
        assert r.rt <= 33.0 + 1e-9  # MRT + RAND*MRT
        prev = r.rt
        now = r.deadline
    assert 27.0 - 1e-9 <= r.rt <= 33.0 + 1e-9


def test_mrc_ends_exchange_after_mrc_transmissions():
    r = Retransmitter(RtParams(1.0, 30.0, mrc=4), random.Random(3))
    now = r.start(0.0)
    sends = 1
    while r.expire(now):
        sends += 1
        now = r.deadline
    assert sends == 4


def test_mrd_cuts_last_rt_and_ends_exchange():
    r = Retransmitter(RtParams(10.0, 600.0, mrd=25.0), random.Random(5))
    now = r.start(0.0)
    while r.expire(now):
        assert r.deadline <= 25.0 + 1e-9
        now = r.deadline
    assert now == pytest.approx(25.0)


def test_elapsed_time_hundredths_and_cap():
    r = Retransmitter(RtParams(1.0), random.Random(1))
    assert r.elapsed_centis(5.0) == 0
    r.start(5.0)
    assert r.elapsed_centis(6.5) == 150
    assert r.elapsed_centis(5.0 + 1000) == 0xFFFF


def test_token_bucket_twenty_per_twenty_seconds():
    b = TokenBucket(20, 20.0)
    assert all(b.take(100.0) for _ in range(20))
    assert not b.take(100.0)
    assert b.next_available(100.0) == pytest.approx(101.0)
    assert not b.take(100.5)
    assert b.take(101.0)
