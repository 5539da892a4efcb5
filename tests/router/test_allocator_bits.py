"""A pool's usage as a bitmap (:class:`router.core.allocator.UsedBits`)
hands out exactly what the set of integers it replaces handed out: the same
next free prefix after the cursor, the same random one from the same draws,
reserved prefixes skipped, and None when the pool is full."""

from __future__ import annotations

import random
from ipaddress import IPv6Network

from hypothesis import given, settings
from hypothesis import strategies as st

from router.config import PdPool
from router.core.allocator import PoolAllocator, UsedBits


@settings(max_examples=300)
@given(st.integers(1, 300), st.data())
def test_used_bits_is_the_set_it_replaces(size, data):
    used = data.draw(st.sets(st.integers(0, size - 1)))
    u = UsedBits(size)
    for i in used:
        u.add(i)
    if used:
        u.add(min(used))  # twice: counted once
    for i in data.draw(st.lists(st.integers(-1, size + 1), max_size=5)):
        u.discard(i)
        used.discard(i)
    assert len(u) == len(used) and set(u) == used
    assert all((i in u) == (i in used) for i in range(-2, size + 10))
    free = [i for i in range(size) if i not in used]
    for start in range(size + 2):
        assert u.next_clear(start) == next((i for i in free if i >= start), None)
    for k in range(len(free) + 2):
        assert u.nth_clear(k) == (free[k] if k < len(free) else None)


def _pair(bits: int, rnd: bool, seed: int) -> tuple[PoolAllocator, PoolAllocator]:
    pool = PdPool("p", IPv6Network("2001:db8:8000::/48"), 48 + bits)
    a, b = PoolAllocator(pool), PoolAllocator(pool)
    assert type(a.used) is UsedBits
    b.used = set()  # the reference
    if rnd:
        a.rng, b.rng = random.Random(seed), random.Random(seed)
    return a, b


@settings(max_examples=200)
@given(st.integers(1, 9), st.booleans(), st.integers(0, 2**32), st.data())
def test_a_bitmap_pool_allocates_what_a_set_pool_allocates(bits, rnd, seed, data):
    a, b = _pair(bits, rnd, seed)
    size = a.size
    for r in data.draw(st.sets(st.integers(0, size - 1), max_size=4)):
        a.reserved[r] = b.reserved[r] = None  # type: ignore[assignment]
    for op in data.draw(st.lists(st.integers(-1, size - 1), max_size=3 * size)):
        if op < 0:  # allocate the next one
            i, j = a.next_free(), b.next_free()
            assert i == j and a.cursor == b.cursor
            if i is not None:
                assert i not in a.reserved
                a.claim(i)
                b.claim(j)
        elif op in b.used:
            a.free(op)
            b.free(op)
        else:
            a.claim(op)
            b.claim(op)
        assert a.assigned == b.assigned
    # and once full, both say so
    while (i := b.next_free()) is not None:
        assert a.next_free() == i
        a.claim(i)
        b.claim(i)
    assert a.next_free() is None
