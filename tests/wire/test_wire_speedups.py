"""The compiled decoders (odm_wire/_speedups.pyx) against the pure-Python ones.

``odm_wire.decode``, ``odm_wire.dhcp6.decode_dhcp6`` and ``odm_wire.nd.decode_nd``
are the compiled twins when the extension is built; ``decode_py``,
``decode_dhcp6_py`` and ``decode_nd_py`` are the pure-Python reference. For every
input, both must give the same message (compared by ``repr``, which shows enum
members by name, and by ``==``) or the same WireFormatError (reason and offset).
The interning tables are emptied before each decode, so that neither side can
hand back an object the other built.

The rest of tests/wire runs against whichever decoder ``odm_wire`` exports, so
with the extension built it tests the compiled one and this file ties the two.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_wire_hypothesis import FAST, SEEDS, dhcp_messages, mutated, ras, rss
from test_wire_malformed import CASES, h, nest_ia_pds, nest_relays
from test_wire_pcaps import CAPTURES
from wirelib import peer_payloads

import odm_wire
from odm_wire import WireFormatError, dhcp6, nd
from odm_wire.constants import MobilityType

BUILT = odm_wire._speedups is not None
PURE_ASKED = os.environ.get("ODM_WIRE_PURE", "") not in ("", "0")


def test_extension_is_built_in_ci():
    """CI installs with a compiler and Cython: there the compiled decoders must be
    the ones in use (a silent fall-back would only show as a slower benchmark)."""
    if not os.environ.get("CI") or PURE_ASKED:
        pytest.skip("only CI insists on the compiled decoders")
    assert BUILT, "odm_wire._speedups was not built: pip install printed why"
    assert odm_wire.decode is odm_wire._speedups.decode
    assert dhcp6.decode_dhcp6 is odm_wire._speedups.decode_dhcp6
    assert nd.decode_nd is odm_wire._speedups.decode_nd


needs_built = pytest.mark.skipif(not BUILT, reason="odm_wire._speedups is not built")


def _cold() -> None:
    dhcp6._LEAF_CACHES.clear()
    dhcp6._ADDR_CACHE.clear()


def _outcome(fn, data: bytes, *args):
    """('ok', repr, message) or ('error', reason, offset) of one decode, cold."""
    _cold()
    try:
        msg = fn(data, *args)
    except WireFormatError as exc:
        return ("error", exc.reason, exc.offset)
    return ("ok", repr(msg), msg)


def assert_same(data: bytes, pen: int | None = None) -> None:
    pen_args = () if pen is None else (pen,)
    fast = _outcome(odm_wire.decode, data, *pen_args)
    pure = _outcome(odm_wire.decode_py, data, *pen_args)
    assert fast[:2] == pure[:2], data.hex()
    if fast[0] == "ok":
        assert fast[2] == pure[2] and hash(fast[2]) == hash(pure[2])
        assert odm_wire.encode(fast[2]) == data
    if data and data[0] in (133, 134):
        assert _outcome(nd.decode_nd, data)[:2] == _outcome(nd.decode_nd_py, data)[:2]
    elif data:
        assert (_outcome(dhcp6.decode_dhcp6, data, *pen_args)[:2]
                == _outcome(dhcp6.decode_dhcp6_py, data, *pen_args)[:2])


@needs_built
@FAST
@given(st.binary(max_size=300))
def test_same_for_random_octets(data):
    assert_same(data)


@needs_built
@FAST
@given(st.sampled_from([1, 3, 7, 12, 13, 133, 134]), st.binary(max_size=200))
def test_same_behind_a_valid_first_octet(first, rest):
    assert_same(bytes((first,)) + rest)


@needs_built
@FAST
@given(mutated())
def test_same_for_mutated_valid_messages(data):
    assert_same(data)


@needs_built
@FAST
@given(st.one_of(dhcp_messages, ras, rss))
def test_same_for_random_well_formed_messages(msg):
    assert_same(odm_wire.encode(msg))


@needs_built
@FAST
@given(mutated(), st.sampled_from([1, 9, 32473, 0xFFFFFFFF]))
def test_same_with_another_enterprise_number(data, pen):
    assert_same(data, pen)


@needs_built
@pytest.mark.parametrize("data", SEEDS, ids=lambda b: b[:1].hex() + "-" + str(len(b)))
def test_same_for_vectors_and_emitted_messages(data):
    assert_same(data)


@needs_built
@pytest.mark.parametrize("name", list(CASES))
def test_same_error_for_each_malformed_case(name):
    assert_same(h(CASES[name][0]))


@needs_built
def test_same_for_every_truncation_and_deep_nesting():
    for data in SEEDS:
        for n in range(len(data)):
            assert_same(data[:n])
    for levels in (1, 2, 31, 32, 33, 34, 3000):
        assert_same(nest_ia_pds(levels))
    for levels in (1, 8, 31, 32, 33, 1500):
        assert_same(nest_relays(levels))


@needs_built
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_same_for_peer_captures(path):
    payloads = peer_payloads(path)
    assert payloads
    for _, _, data in payloads:
        assert_same(data)


@needs_built
def test_same_for_relayed_message():
    inner = odm_wire.encode(dhcp6.Solicit(0x010203, (dhcp6.ClientId(dhcp6.DuidLL(1, b"\2" * 6)),)))
    relay = (bytes((12, 0)) + bytes(16) + bytes.fromhex("fe80" + "00" * 13 + "02")
             + b"\x00\x09" + len(inner).to_bytes(2, "big") + inner)
    assert_same(relay)
    msg = odm_wire.decode(relay)
    assert type(msg) is dhcp6.RelayForw and type(msg.relayed) is dhcp6.Solicit


@needs_built
def test_compiled_objects_behave_as_dataclasses():
    """A compiled decode leaves fields at their dataclass default unstored (the
    class attribute answers): replace, pickle, copy, asdict, hash and the frozen
    guard must all still hold."""
    ra = odm_wire.encode(nd.RouterAdvertisement(64, False, False, 1800, 0, 0, (
        nd.PrefixInformation(64, dhcp6.IPv6Address("2001:db8::"), 600, 300,
                             mobility_type=MobilityType.NON_PERSISTENT),
        nd.SourceLinkLayerAddress(b"\2" * 6))))
    sol = odm_wire.encode(dhcp6.Solicit(7, (
        dhcp6.ClientId(dhcp6.DuidLL(1, b"\2" * 6)), dhcp6.ElapsedTime(0),
        dhcp6.IAPD(5, 0, 0, (dhcp6.IAPrefix(0, 0, 56, dhcp6.IPv6Address("::"),
                                            (dhcp6.mobility_type_option(2),)),)))))
    for data in (ra, sol):
        _cold()
        fast = odm_wire.decode(data)
        _cold()
        pure = odm_wire.decode_py(data)
        assert pickle.loads(pickle.dumps(fast)) == pure
        assert copy.deepcopy(fast) == pure and copy.copy(fast) == pure
        assert dataclasses.asdict(fast) == dataclasses.asdict(pure)
        assert dataclasses.replace(fast) == pure
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.options = ()
    _cold()
    pio = odm_wire.decode(ra).prefixes[0]
    assert (pio.on_link, pio.autonomous, pio.router_address, pio.mobility_type) == (
        True, True, False, MobilityType.NON_PERSISTENT)
    assert dataclasses.replace(pio, on_link=False).flags == 0x40 | 3


@needs_built
def test_pure_python_can_be_asked_for(tmp_path):
    """ODM_WIRE_PURE=1 keeps the pure-Python codec (for debugging, to measure
    what the extension buys, and what runs where it cannot be built)."""
    code = ("import odm_wire; from odm_wire import dhcp6, nd; "
            "assert odm_wire._speedups is None; assert odm_wire.decode is odm_wire.decode_py; "
            "assert dhcp6.decode_dhcp6 is dhcp6.decode_dhcp6_py; "
            "assert nd.decode_nd is nd.decode_nd_py; print('pure')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "ODM_WIRE_PURE": "1"}, check=True)
    assert out.stdout.strip() == "pure"


# ------------------------------------------------------------------ encoding --
def _encoded(fn, msg):
    try:
        return ("ok", fn(msg))
    except WireFormatError as exc:
        return ("error", exc.reason, exc.offset)


def assert_same_encoding(msg) -> None:
    fast = _encoded(odm_wire.encode, msg)
    assert fast == _encoded(odm_wire.encode_py, msg)
    if isinstance(msg, (nd.RouterAdvertisement, nd.RouterSolicitation)):
        assert _encoded(nd.encode_nd, msg) == _encoded(nd._encode_nd_body_py, msg)
    else:
        assert _encoded(dhcp6.encode_dhcp6, msg) == _encoded(dhcp6.encode_dhcp6_py, msg)


@needs_built
@FAST
@given(st.one_of(dhcp_messages, ras, rss))
def test_same_octets_for_random_well_formed_messages(msg):
    assert_same_encoding(msg)


odd_int = st.one_of(st.integers(-3, 3), st.sampled_from([127, 128, 255, 256, 0xFFFF, 0x10000,
                                                         0xFFFFFF, 0x1000000, 0xFFFFFFFF,
                                                         2**32, 2**64]),
                    st.just(1.0), st.just(None), st.just(True))
odd_addr = st.one_of(st.just(dhcp6.IPv6Address("2001:db8::1")), st.just("2001:db8::1"),
                     st.just(None))
odd_bytes = st.one_of(st.binary(max_size=10), st.binary(min_size=2040, max_size=2050),
                      st.just("02:00:00:00:00:01"), st.just(None))


@needs_built
@FAST
@given(st.data())
def test_same_outcome_for_values_that_may_not_fit(data):
    """Fields out of range or of the wrong type: the compiled encoders must give
    what the pure-Python ones give, octets or WireFormatError alike."""
    d = data.draw
    prefix = dhcp6.IAPrefix(d(odd_int), d(odd_int), d(odd_int), d(odd_addr),
                            d(st.sampled_from([(), (dhcp6.mobility_type_option(2),)])))
    duid = d(st.sampled_from([dhcp6.DuidLL(d(odd_int), d(odd_bytes)),
                              dhcp6.DuidLLT(1, d(odd_int), b"\2" * 6)]))
    opts = d(st.lists(st.sampled_from([
        dhcp6.IAPD(d(odd_int), d(odd_int), d(odd_int), (prefix,)),
        dhcp6.IAPD(1, 2, 3, (prefix,) * d(st.integers(0, 3000)) if d(st.booleans()) else ()),
        dhcp6.ClientId(duid), prefix, dhcp6.ElapsedTime(d(odd_int)), "not an option"]),
        max_size=4))
    assert_same_encoding(dhcp6.Reply(d(odd_int), tuple(opts)))
    pio = nd.PrefixInformation(d(odd_int), d(odd_addr), d(odd_int), d(odd_int),
                               mobility_type=d(st.one_of(odd_int, st.sampled_from(MobilityType))),
                               reserved2=d(odd_int))
    lla = nd.SourceLinkLayerAddress(d(odd_bytes), d(st.sampled_from([b"", b"\0\0", "x"])))
    nd_opts = tuple(d(st.lists(st.sampled_from([pio, lla, nd.Mtu(1500), 7]), max_size=3)))
    assert_same_encoding(nd.RouterAdvertisement(
        d(odd_int), d(st.booleans()), False, d(odd_int), d(odd_int), d(odd_int), nd_opts,
        router_preference=d(odd_int), reserved_flags=d(st.integers(0, 4)), code=d(odd_int),
        checksum=d(odd_int)))
    assert_same_encoding(nd.RouterSolicitation(nd_opts, d(odd_int), d(odd_int), d(odd_int)))


@pytest.mark.skipif(PURE_ASKED, reason="this run is the pure-Python one already")
def test_wire_suite_passes_on_the_pure_python_codec():
    """Where the extension cannot be built, odm runs the pure-Python codec: the
    codec's own tests (vectors, malformed input, captures, properties, scapy
    agreement) must pass on it as they pass on the compiled one."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(Path(__file__).parent)],  # this test skips itself there
        check=False, capture_output=True, text=True,
        env={**os.environ, "ODM_WIRE_PURE": "1"}, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " passed" in out.stdout.splitlines()[-1]


# ------------------------------------------------ found by trying to break it --
def _any_outcome(fn, *args):
    """Like _outcome/_encoded, but any exception counts, by type and text."""
    _cold()
    try:
        r = fn(*args)
    except WireFormatError as exc:
        return ("error", exc.reason, exc.offset)
    except Exception as exc:  # noqa: BLE001 - the twin must raise the same
        return (type(exc).__name__, str(exc))
    return ("ok", repr(r))


class _EmptyBytes(bytes):
    def __bytes__(self) -> bytes:
        return b""


def _odd_inputs() -> list:
    from array import array

    return [5, -1, 10**10, 1.5, None, "0100", b"", bytearray(b"\x01\0\0\x07"),
            array("H", [0x0186, 0]), array("b", [-122, 0, 0, 0]),
            memoryview(b"\x01\0\0\0").cast("B", (2, 2)), memoryview(bytes((134,)) + bytes(15)),
            _EmptyBytes(bytes.fromhex("01000007"))]


@needs_built
def test_same_outcome_for_inputs_that_are_not_bytes():
    for data in _odd_inputs():
        assert _any_outcome(odm_wire.decode, data) == _any_outcome(odm_wire.decode_py, data), data


@needs_built
@pytest.mark.parametrize("pen", [None, [], 0, -1, 2**32, 2**64, "x", 32473])
def test_same_outcome_for_any_enterprise_number(pen):
    for hexdata in ("01000007", "010000070011000900007ed90001000101",
                    "0c00" + "00" * 32, "0c00" + "00" * 32 + "0011000900007ed90001000101"):
        data = bytes.fromhex(hexdata)
        assert (_any_outcome(odm_wire.decode, data, pen)
                == _any_outcome(odm_wire.decode_py, data, pen)), (hexdata, pen)
        assert (_any_outcome(dhcp6.decode_dhcp6, data, pen)
                == _any_outcome(dhcp6.decode_dhcp6_py, data, pen)), (hexdata, pen)


def _nested_ia_pds(levels: int) -> tuple:
    o: tuple = ()
    for _ in range(levels):
        o = (dhcp6.IAPD(1, 0, 0, o),)
    return o


@needs_built
def test_same_outcome_for_odd_messages_to_encode():
    class FloatType(dhcp6.Solicit):
        msg_type = 2.9

    class Both(dhcp6.RelayForw, dhcp6.Solicit):
        pass

    both = object.__new__(Both)
    for k, v in (("transaction_id", 1), ("hop_count", 0), ("options", ()),
                 ("link_address", dhcp6.IPv6Address("2001:db8::")),
                 ("peer_address", dhcp6.IPv6Address("2001:db8::"))):
        object.__setattr__(both, k, v)
    cases = [
        lambda: dhcp6.Solicit(1, None),
        lambda: dhcp6.Solicit(1, (dhcp6.IAPD(1, options=None),)),
        lambda: dhcp6.Solicit(1, (dhcp6.IAPD(1, options=0),)),
        lambda: dhcp6.Solicit(1, [dhcp6.ElapsedTime(0)]),
        lambda: dhcp6.Solicit(1, iter([dhcp6.ElapsedTime(0), dhcp6.IAPD(-1)])),
        lambda: dhcp6.Solicit(1, (dhcp6.IAPD(1, 0, 0, iter([dhcp6.ElapsedTime(0)])),)),
        lambda: FloatType(1, ()),
        lambda: both,
        lambda: nd.RouterAdvertisement(options=None),
        lambda: nd.RouterAdvertisement(options=[nd.Mtu(1500)]),
        lambda: nd.RouterSolicitation(options=0),
        lambda: dhcp6.Solicit(1, _nested_ia_pds(32)),
        lambda: dhcp6.Solicit(1, _nested_ia_pds(33)),
        lambda: dhcp6.Solicit(1, _nested_ia_pds(300)),
    ]
    for make in cases:
        assert _any_outcome(odm_wire.encode, make()) == _any_outcome(odm_wire.encode_py, make())
        if not isinstance(make(), (nd.RouterAdvertisement, nd.RouterSolicitation)):
            assert (_any_outcome(dhcp6.encode_dhcp6, make())
                    == _any_outcome(dhcp6.encode_dhcp6_py, make()))


@needs_built
def test_very_deep_nesting_to_encode_does_not_crash():
    """60 000 IA_PDs deep: the compiled encoder hands the message over at
    MAX_NESTING instead of recursing in C (it overflowed the C stack)."""
    code = ("import odm_wire; from odm_wire import dhcp6\n"
            "o = ()\n"
            "for _ in range(60000): o = (dhcp6.IAPD(1, 0, 0, o),)\n"
            "try: odm_wire.encode(dhcp6.Solicit(1, o))\n"
            "except RecursionError: print('RecursionError')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False, timeout=120)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert out.stdout.strip() == "RecursionError"


def _iaprefix_chain(levels: int) -> bytes:
    """An IAPREFIX holding an IAPREFIX ... ``levels`` deep (octets)."""
    inner = b""
    for _ in range(levels):
        body = bytes(9) + bytes(16) + inner
        inner = b"\x00\x1a" + len(body).to_bytes(2, "big") + body
    return inner


@pytest.mark.parametrize("which", ["compiled", "pure"])
def test_interned_option_is_not_reused_deeper_than_it_was_checked(which):
    """An IAPREFIX chain decoded at the top (fits under MAX_NESTING) must not
    be handed out, from the interning table, 20 IA_PDs further down, where it
    does not fit: the outcome of a decode must not depend on earlier ones."""
    if which == "compiled" and not BUILT:
        pytest.skip("odm_wire._speedups is not built")
    decode = odm_wire.decode if which == "compiled" else odm_wire.decode_py
    chain = _iaprefix_chain(20)
    shallow = bytes.fromhex("01000001") + chain
    deep = chain
    for _ in range(20):
        deep = b"\x00\x19" + (12 + len(deep)).to_bytes(2, "big") + bytes(12) + deep
    deep = bytes.fromhex("01000002") + deep
    _cold()
    with pytest.raises(WireFormatError) as cold:
        decode(deep)
    _cold()
    decode(shallow)
    with pytest.raises(WireFormatError) as warm:
        decode(deep)
    assert (warm.value.reason, warm.value.offset) == (cold.value.reason, cold.value.offset)
    assert "nested" in cold.value.reason


def test_interning_tables_stay_bounded_across_enterprise_numbers():
    from odm_wire.dhcp6 import _CACHE_TABLES_MAX

    data = bytes.fromhex("010000070011000900007ed90001000101")
    for pen in range(1000):
        odm_wire.decode(data, pen)
        odm_wire.decode_py(data, pen)
    assert len(dhcp6._LEAF_CACHES) <= _CACHE_TABLES_MAX


@needs_built
def test_a_stale_build_is_refused_with_a_warning(monkeypatch):
    """A .so built from an older .pyx (a checkout pulled without rebuilding)
    must not be bound to a newer codec: the pure one runs, and a warning says
    to rebuild."""
    monkeypatch.setattr(odm_wire._speedups, "VERSION", dhcp6._SPEEDUPS_VERSION - 1)
    with pytest.warns(RuntimeWarning, match="pip install -e"):
        assert dhcp6._load_speedups() is None
    monkeypatch.undo()
    assert dhcp6._load_speedups() is odm_wire._speedups
