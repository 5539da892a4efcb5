"""odm's fuzzing engine: seed corpus, mutator, and harnesses for the codec
and both sans-I/O cores, shared by the hypothesis properties
(tests/fuzz/test_*.py), the atheris harness (tests/fuzz/atheris_harness.py),
the live netns fuzz (tests/netns/test_fuzz_live.py) and ``bench/fuzz.py``.

**Corpus.** Every DHCPv6 and RS/RA payload of the golden captures
(``pcaps/*.pcap``, ``/work/shared/pcaps-peers``, or ``$ODM_PEER_PCAPS``),
split by direction (to a router: UDP 547, RS; to a host: UDP 546, RA), plus
the datagrams of an in-memory session of the host core with the router core
(every type acquired, renewed, rebound after a move, released) so the seeds
carry this run's server DUID, client DUID and transaction ids.

**Mutator.** Byte-level (bit flips, interesting octets and 16-bit values,
insertions, deletions, duplications, truncation, splicing two seeds) and
TLV-aware (DHCPv6 options at top level, inside IA_PD and IAPREFIX, in
Relay-Forw; ND options with their 8-octet length unit): an option's length
field set wrong, an option dropped, duplicated, swapped or replaced by a
random one, the DUIDs and transaction id patched to the ones the target
expects, so mutations get past the first checks and reach deep states.

**Harnesses.** :class:`CodecTarget` (``odm_wire.decode``: raises nothing but
WireFormatError; what decodes re-encodes to the same octets),
:class:`RouterTarget` (a RouterCore on a real SQLite file, fake clock) and
:class:`HostTarget` (a HostCore joined in memory to a RouterCore, with API
calls, link changes and time jumps mixed in). Each ``run_one(data)`` feeds
one input and checks the invariants; a broken invariant raises
:class:`InvariantBroken`. Invariants of the cores:

* no exception escapes a core call (the cores document none for received
  datagrams), and the router's last-resort ``except`` (counted in
  ``internal-errors`` and logged "error answering") never fires;
* every datagram a core sends decodes with odm_wire;
* no prefix is delegated twice: a prefix granted (valid lifetime > 0 in a
  Reply) to one DUID is not granted to another while the first binding lives
  (the core's PrefixReleased events end a binding);
* :meth:`check_alive`: after the fuzzing, the core still answers a valid
  request (the router a fresh Solicit with a prefix of the type asked; the
  host a setsc() with an address of the type).

Everything runs on a fake clock; randomness comes from one seeded
``random.Random``, so a failing input replays exactly.
"""

from __future__ import annotations

import logging
import os
import random
import struct
import tempfile
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import odm_wire
from odm_sansio import linksim
from odm_wire.constants import MobilityType
from odm_wire.dhcp6 import (
    IAPD,
    Advertise,
    ClientId,
    DuidLL,
    ElapsedTime,
    IAPrefix,
    OptionRequest,
    Reply,
    Solicit,
    decode_dhcp6,
    encode_dhcp6,
    encode_duid,
    mobility_type_option,
)
from odm_wire.errors import WireFormatError

REPO = Path(__file__).resolve().parents[2]
PEER_PCAPS = Path(os.environ.get("ODM_PEER_PCAPS", "/work/shared/pcaps-peers"))

ROUTER_LL = IPv6Address("fe80::ff:fe00:1")
HOST_LL = IPv6Address("fe80::ff:fe00:2")
SERVER_DUID = DuidLL(1, b"\x02\x00\x00\x00\x00\x01")
HOST_DUID = DuidLL(1, b"\x02\x00\x00\x00\x00\x02")

#: The router config the harnesses run: every type offered, big pools and no
#: caps or rate limits (the fuzzer must not run into the limits, which
#: tests/router/test_limits*.py cover), short lifetimes so expiry happens.
ROUTER_TOML = """
[router]
id = "fz1"
max_bindings_per_client = 1000
log_rate_limit = 1000000

[timers]
profile = "scaled"
scale = 0.01

[limits]
max_bindings_per_type = {}
client_rate = { count = 0 }

[[interface]]
name = "fz0"
default_pool = "legacy"
  [interface.ra]
  adv_send_advertisements = true
  max_rtr_adv_interval = 10
  adv_managed_flag = false
    [[interface.ra.prefix]]
    prefix = "2001:db8:1::/64"
    mobility_type = "non-persistent"
"""
_POOLS = (("fixed", "2001:db8:f000::/36"), ("session-lasting", "2001:db8:5000::/36"),
          ("non-persistent", "2001:db8:3000::/36"),
          ("graceful-replacement", "2001:db8:4000::/36"), (None, "2001:db8:8000::/36"))
for _name, _pfx in _POOLS:
    ROUTER_TOML += f"""
  [[interface.pd_pool]]
  name = "{_name or 'legacy'}"
  prefix = "{_pfx}"
  delegated_length = 56
  preferred_lifetime = 200
  valid_lifetime = 400
""" + (f'  mobility_type = "{_name}"\n' if _name else "")


class InvariantBroken(AssertionError):
    """A fuzz input broke an invariant (message says which)."""


# ------------------------------------------------------------------ corpus --
@dataclass
class Corpus:
    """Seed datagrams by direction: ``router_dhcp`` (client → server, UDP
    547), ``router_icmp`` (RS), ``host_dhcp`` (server → client, UDP 546),
    ``host_icmp`` (RA)."""

    router_dhcp: list[bytes] = field(default_factory=list)
    router_icmp: list[bytes] = field(default_factory=list)
    host_dhcp: list[bytes] = field(default_factory=list)
    host_icmp: list[bytes] = field(default_factory=list)

    def all(self) -> list[bytes]:
        return self.router_dhcp + self.router_icmp + self.host_dhcp + self.host_icmp

    def add(self, kind: str, payload: bytes, to_router: bool) -> None:
        if not payload:
            return
        lst = (self.router_dhcp if kind == "dhcp6" else self.router_icmp) if to_router else \
            (self.host_dhcp if kind == "dhcp6" else self.host_icmp)
        lst.append(bytes(payload))

    def dedupe(self) -> Corpus:
        for name in ("router_dhcp", "router_icmp", "host_dhcp", "host_icmp"):
            setattr(self, name, list(dict.fromkeys(getattr(self, name))))
        return self

    def __len__(self) -> int:
        return len(self.all())


def pcap_files(extra: Iterable[Path] = ()) -> list[Path]:
    """The golden captures of odm and of the peers that are present."""
    files = sorted((REPO / "pcaps").glob("*.pcap"))
    if PEER_PCAPS.is_dir():
        files += sorted(PEER_PCAPS.glob("*.pcap"))
    return files + list(extra)


def corpus_from_pcaps(files: Iterable[Path] | None = None) -> Corpus:
    """DHCPv6 and RS/RA payloads of ``files`` (default :func:`pcap_files`)."""
    from odm.pcaptools.capture import CaptureError, read_capture
    from odm.pcaptools.packets import dissect

    c = Corpus()
    for f in pcap_files() if files is None else files:
        try:
            frames = read_capture(f)
        except (CaptureError, OSError):
            continue
        for fr in frames:
            pkt = dissect(fr)
            if pkt.kind is None or not pkt.payload:
                continue
            payload = bytes(pkt.payload)
            if pkt.kind == "dhcp6":
                c.add("dhcp6", payload, to_router=getattr(pkt, "dport", None) == 547
                      or payload[0] in (1, 3, 5, 6, 8, 9, 11, 12))
            elif payload[0] in (133, 134):
                c.add("icmp6", payload, to_router=payload[0] == 133)
    return c.dedupe()


def corpus_from_session() -> Corpus:
    """Datagrams of an in-memory host/router session (module docstring)."""
    c = Corpus()
    with tempfile.TemporaryDirectory(prefix="h5-fuzz-") as d:
        pair = Pair(Path(d))
        pair.record = c
        for i, t in enumerate(MobilityType):
            pair.host.setsc(i + 1, 100 + i, t, pair.now)
            pair.pump()
        pair.run_until(pair.now + 60)  # renewals
        pair.host.link_down(pair.now)
        pair.pump()
        pair.host.link_up(pair.now + 0.5)  # rebind
        pair.run_until(pair.now + 5)
        for i in range(len(MobilityType)):
            pair.host.close_owner(100 + i, pair.now)
            pair.pump()
        pair.host.setsc(9, 200, MobilityType.NON_PERSISTENT, pair.now, on_net=True)
        pair.run_until(pair.now + 5)
        pair.host.release_all(pair.now)
        pair.run_until(pair.now + 5)
        pair.close()
    return c.dedupe()


def default_corpus() -> Corpus:
    """Captures plus a recorded session."""
    c = corpus_from_pcaps()
    s = corpus_from_session()
    for name in ("router_dhcp", "router_icmp", "host_dhcp", "host_icmp"):
        getattr(c, name).extend(getattr(s, name))
    return c.dedupe()


# ----------------------------------------------------------------- mutator --
INTERESTING8 = (0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x40, 0x20, 0x10)
INTERESTING16 = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0xFFFE)
INTERESTING32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE)
#: DHCPv6 options whose value holds options (offset of the nested list)
_NESTED = {3: 12, 25: 12, 26: 25, 5: 24, 18: 0, 9: None}


def dhcp6_options(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """(offset, code, length) of the options in ``data[start:end]``, as far
    as they parse (best effort, never raises)."""
    out = []
    pos = start
    while pos + 4 <= end:
        code, ln = struct.unpack_from("!HH", data, pos)
        if pos + 4 + ln > end:
            break
        out.append((pos, code, ln))
        pos += 4 + ln
    return out


def dhcp6_all_options(data: bytes) -> list[tuple[int, int, int]]:
    """Top-level and nested options of a DHCPv6 message (relay aware)."""
    if len(data) < 4:
        return []
    start = 34 if data[0] in (12, 13) else 4
    out: list[tuple[int, int, int]] = []
    todo = [(start, len(data))]
    while todo and len(out) < 256:
        s, e = todo.pop()
        for off, code, ln in dhcp6_options(data, s, e):
            out.append((off, code, ln))
            inner = _NESTED.get(code)
            if code == 9 and ln >= 4:  # relay message: a whole DHCPv6 message
                s2 = off + 4 + (34 if data[off + 4] in (12, 13) else 4)
                todo.append((s2, off + 4 + ln))
            elif inner is not None and code != 9 and ln >= inner:
                todo.append((off + 4 + inner, off + 4 + ln))
    return out


def nd_options(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, type, length octets) of an RS/RA's options."""
    if not data:
        return []
    start = 16 if data[0] == 134 else 8
    out = []
    pos = start
    while pos + 2 <= len(data):
        t, units = data[pos], data[pos + 1]
        if units == 0 or pos + units * 8 > len(data):
            break
        out.append((pos, t, units * 8))
        pos += units * 8
    return out


class Mutator:
    """Mutations of datagrams (module docstring). ``rng``: the randomness;
    ``max_len``: mutants are cut to this many octets."""

    def __init__(self, rng: random.Random, max_len: int = 1500) -> None:
        self.rng = rng
        self.max_len = max_len
        self._ops = (self.flip, self.flip, self.byte, self.word, self.dword, self.insert,
                     self.delete, self.dup, self.truncate, self.opt_len, self.opt_len,
                     self.opt_drop, self.opt_dup, self.opt_swap, self.opt_random,
                     self.nd_opt)

    def random_bytes(self, n: int | None = None) -> bytes:
        r = self.rng
        n = r.choice((0, 1, 2, 3, 4, 8, 16, 40, r.randrange(200))) if n is None else n
        return r.randbytes(n)

    def mutate(self, data: bytes, others: list[bytes] = (), rounds: int | None = None) -> bytes:
        """One mutant of ``data`` (``rounds`` stacked mutations, default 1..4;
        ``others`` to splice from)."""
        r = self.rng
        b = bytearray(data)
        for _ in range(rounds or r.choice((1, 1, 1, 2, 2, 3, 4))):
            if others and r.random() < 0.06:
                b = self.splice(b, r.choice(others))
            else:
                b = r.choice(self._ops)(b)
        return bytes(b[:self.max_len])

    # -- byte level
    def flip(self, b: bytearray) -> bytearray:
        if b:
            i = self.rng.randrange(len(b))
            b[i] ^= 1 << self.rng.randrange(8)
        return b

    def byte(self, b: bytearray) -> bytearray:
        if b:
            b[self.rng.randrange(len(b))] = self.rng.choice(INTERESTING8)
        return b

    def word(self, b: bytearray) -> bytearray:
        if len(b) >= 2:
            i = self.rng.randrange(len(b) - 1)
            struct.pack_into("!H", b, i, self.rng.choice(INTERESTING16))
        return b

    def dword(self, b: bytearray) -> bytearray:
        if len(b) >= 4:
            i = self.rng.randrange(len(b) - 3)
            struct.pack_into("!I", b, i, self.rng.choice(INTERESTING32))
        return b

    def insert(self, b: bytearray) -> bytearray:
        i = self.rng.randrange(len(b) + 1)
        b[i:i] = self.random_bytes(self.rng.choice((1, 2, 4, 8, 20)))
        return b

    def delete(self, b: bytearray) -> bytearray:
        if b:
            i = self.rng.randrange(len(b))
            del b[i:i + self.rng.choice((1, 2, 4, 8, 16))]
        return b

    def dup(self, b: bytearray) -> bytearray:
        if b:
            i = self.rng.randrange(len(b))
            j = min(len(b), i + self.rng.randrange(1, 64))
            b[j:j] = b[i:j]
        return b

    def truncate(self, b: bytearray) -> bytearray:
        if b:
            del b[self.rng.randrange(len(b)):]
        return b

    def splice(self, b: bytearray, other: bytes) -> bytearray:
        if not b or not other:
            return bytearray(other) or b
        i, j = self.rng.randrange(len(b)), self.rng.randrange(len(other))
        return b[:i] + bytearray(other[j:])

    # -- TLV aware
    def _opt(self, b: bytearray):
        opts = nd_options(b) if b and b[0] in (133, 134) else dhcp6_all_options(b)
        return self.rng.choice(opts) if opts else None

    def opt_len(self, b: bytearray) -> bytearray:
        o = self._opt(b)
        if o is None:
            return self.word(b)
        off, _, ln = o
        if b[0] in (133, 134):
            b[off + 1] = self.rng.choice((0, 1, 2, 3, 4, 0xFF, ln // 8 + 1))
        else:
            struct.pack_into("!H", b, off + 2, self.rng.choice(
                (0, 1, 2, 3, ln - 1 if ln else 0, ln + 1, ln + 4, 0xFFFF)))
        return b

    def _span(self, b: bytearray, o) -> tuple[int, int]:
        off, _, ln = o
        return off, off + (ln if b[0] in (133, 134) else 4 + ln)

    def opt_drop(self, b: bytearray) -> bytearray:
        o = self._opt(b)
        if o is not None:
            s, e = self._span(b, o)
            del b[s:e]
        return b

    def opt_dup(self, b: bytearray) -> bytearray:
        o = self._opt(b)
        if o is not None:
            s, e = self._span(b, o)
            b[e:e] = b[s:e]
        return b

    def opt_swap(self, b: bytearray) -> bytearray:
        o1, o2 = self._opt(b), self._opt(b)
        if o1 is None or o2 is None or o1 == o2:
            return b
        (s1, e1), (s2, e2) = sorted((self._span(b, o1), self._span(b, o2)))
        if e1 > s2:  # nested: not swappable
            return b
        return b[:s1] + b[s2:e2] + b[e1:s2] + b[s1:e1] + b[e2:]

    def opt_random(self, b: bytearray) -> bytearray:
        """Insert a random DHCPv6 option (a known code, random value) at an
        option boundary."""
        r = self.rng
        code = r.choice((1, 2, 3, 5, 6, 7, 8, 9, 12, 13, 14, 17, 18, 20, 23, 25, 26, 37, 38,
                         r.randrange(0x10000)))
        val = self.random_bytes()
        if code == 17 and r.random() < 0.7:  # odm's vendor option, maybe a bad type
            sub = r.choice((1, 2, r.randrange(256)))
            body = bytes([r.choice((0, 1, 2, 3, 4, 5, 7, 255))]) * r.choice((0, 1, 2, 5))
            val = struct.pack("!IHH", r.choice((32473, 0, 311)), sub, len(body)) + body
        opt = struct.pack("!HH", code, len(val)) + val
        o = self._opt(b)
        at = o[0] if o is not None else len(b)
        b[at:at] = opt
        return b

    def nd_opt(self, b: bytearray) -> bytearray:
        """Insert a random ND option (PIO with random flags and type bits,
        MTU, RDNSS, SLLA, or random) into an RS/RA, else a random byte op."""
        if not b or b[0] not in (133, 134):
            return self.byte(b)
        r = self.rng
        t = r.choice((1, 3, 3, 5, 25, r.randrange(256)))
        if t == 3:
            body = bytes([r.choice((0, 32, 48, 64, 65, 128, 255)), r.randrange(256)]) + \
                struct.pack("!II", r.choice(INTERESTING32), r.choice(INTERESTING32)) + \
                b"\0\0\0\0" + r.randbytes(16)
        else:
            body = r.randbytes(r.choice((6, 14, 22)))
        opt = bytes([t, (len(body) + 2) // 8]) + body
        start = 16 if b[0] == 134 else 8
        b[start:start] = opt[:((len(body) + 2) // 8) * 8]
        return b


def patch_ids(data: bytes, xid: int | None = None, client: bytes | None = None,
              server: bytes | None = None) -> bytes:
    """``data`` with its transaction id, Client Identifier and Server
    Identifier values replaced where present (top level only)."""
    if len(data) < 4 or data[0] in (12, 13):
        return data
    b = bytearray(data)
    if xid is not None:
        b[1:4] = (xid & 0xFFFFFF).to_bytes(3, "big")
    for off, code, ln in reversed(dhcp6_options(b, 4, len(b))):
        new = client if code == 1 else server if code == 2 else None
        if new is not None:
            b[off:off + 4 + ln] = struct.pack("!HH", code, len(new)) + new
    return bytes(b)


# -------------------------------------------------------------- harnesses --
class _InternalErrors(logging.Handler):
    """Counts the router's last-resort 'error answering' log records."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if "error answering" in msg:
            self.records.append(msg)


class CodecTarget:
    """``odm_wire.decode`` → WireFormatError, or a message that re-encodes to
    the same octets."""

    name = "codec"

    def __init__(self) -> None:
        self.inputs = 0
        self.rejected = 0

    def run_one(self, data: bytes) -> None:
        self.inputs += 1
        try:
            msg = odm_wire.decode(data)
        except WireFormatError:
            self.rejected += 1
            return
        again = odm_wire.encode(msg)
        if again != data:
            raise InvariantBroken(f"decode/encode round trip changed the octets: "
                                  f"{data.hex()} -> {again.hex()}")


class GrantTracker:
    """Watches a router's Replies and events: a prefix granted to one DUID
    is not granted to another while the first binding lives."""

    def __init__(self) -> None:
        self.holder: dict[IPv6Network, bytes] = {}
        self.grants = 0

    def reply(self, raw: bytes, pen: int) -> None:
        msg = decode_dhcp6(raw, pen)
        while msg.msg_type == 13:  # Relay-Repl
            msg = msg.relayed
        if type(msg) is not Reply or msg.client_duid is None:
            return
        duid = encode_duid(msg.client_duid)
        for ia in msg.ia_pds:
            for p in ia.prefixes:
                if p.valid_lifetime == 0:
                    continue
                n = IPv6Network((p.prefix, p.prefix_length))
                h = self.holder.get(n)
                if h is not None and h != duid:
                    raise InvariantBroken(f"{n} granted to {duid.hex()} while "
                                          f"{h.hex()} holds it")
                self.holder[n] = duid
                self.grants += 1

    def released(self, prefix: IPv6Network) -> None:
        self.holder.pop(prefix, None)


def _router_core(workdir: Path, name: str = "leases.sqlite3", seed: int = 1):
    from router.config import parse_config
    from router.core import RouterCore
    from router.store import SqliteLeaseStore

    cfg = parse_config(tomllib.loads(ROUTER_TOML))
    store = SqliteLeaseStore(workdir / name, synchronous="off")
    core = RouterCore(cfg, "fz0", store, SERVER_DUID, rng=random.Random(seed),
                      link_layer_address=b"\x02\0\0\0\0\x01")
    return core, store


class RouterTarget:
    """A RouterCore on a real SQLite file (module docstring). ``workdir``:
    where the lease file goes; ``corpus``: seeds for mutation; ``rng``."""

    name = "router"

    def __init__(self, workdir: Path, corpus: Corpus, rng: random.Random) -> None:
        self.core, self.store = _router_core(workdir)
        self.pen = self.core.config.pen
        self.corpus = corpus
        self.rng = rng
        self.mut = Mutator(rng)
        self.now = 0.0
        self.core.start(self.now)
        self.tracker = GrantTracker()
        self.errors = _InternalErrors()
        log = logging.getLogger("router.dhcp")
        self._log_level = log.level
        log.addHandler(self.errors)
        log.setLevel(logging.ERROR)
        self.inputs = 0
        self.sent = 0
        self.sid = encode_duid(SERVER_DUID)
        self._clients = [encode_duid(DuidLL(1, bytes([2, 0, 0, 0, 1, i]))) for i in range(8)]

    def close(self) -> None:
        log = logging.getLogger("router.dhcp")
        log.removeHandler(self.errors)
        log.setLevel(self._log_level)
        self.store.close()

    def next_input(self) -> tuple[bytes, str]:
        """A mutated seed (mostly DHCPv6, some RS, some random octets) with
        this server's DUID and a few client DUIDs patched in."""
        r, c = self.rng, self.corpus
        x = r.random()
        if x < 0.08:
            return self.mut.random_bytes(), r.choice(("dhcp6", "icmp6"))
        if x < 0.18 and c.router_icmp:
            return self.mut.mutate(r.choice(c.router_icmp), c.router_icmp), "icmp6"
        seed = r.choice(c.router_dhcp)
        if r.random() < 0.7:
            seed = patch_ids(seed, client=r.choice(self._clients),
                             server=self.sid if r.random() < 0.9 else None)
        if r.random() < 0.15:  # valid, untouched: builds state to mutate against
            return seed, "dhcp6"
        return self.mut.mutate(seed, c.router_dhcp), "dhcp6"

    def run_one(self, data: bytes, kind: str = "dhcp6") -> None:
        self.inputs += 1
        if self.rng.random() < 0.02:
            self.now += self.rng.choice((0.001, 0.5, 5.0, 30.0, 100.0, 250.0, 500.0))
        else:
            self.now += 0.001
        core = self.core
        try:
            t = core.get_timer()
            if t is not None and t <= self.now:
                core.handle_timer(self.now)
            core.handle_datagram(data, self.rng.choice((HOST_LL, HOST_LL, ROUTER_LL)), self.now,
                                 kind=kind, hop_limit=255)
            out = core.datagrams_to_send()
            evs = []
            while (ev := core.next_event()) is not None:
                evs.append(ev)
        except Exception as exc:
            raise InvariantBroken(f"exception escaped the router core: {exc!r}") from exc
        self._check(out, evs)

    def _check(self, out, evs) -> None:
        from router.core.events import PrefixReleased
        for ev in evs:
            if isinstance(ev, PrefixReleased):
                self.tracker.released(ev.prefix)
        for o in out:
            self.sent += 1
            try:
                odm_wire.decode(o.payload, self.pen)
            except WireFormatError as exc:
                raise InvariantBroken(f"the router sent undecodable octets: {exc}: "
                                      f"{o.payload.hex()}") from exc
            if o.kind == "dhcp6":
                self.tracker.reply(o.payload, self.pen)
        if self.errors.records:
            raise InvariantBroken(f"the router's last-resort handler fired: "
                                  f"{self.errors.records[-1]}")

    def check_alive(self) -> None:
        """A fresh client's Solicit (Rapid Commit) for each type gets a Reply
        with a prefix of that type."""
        r = self.rng.randrange(1 << 24)
        duid = DuidLL(1, bytes([2, 0x55]) + r.to_bytes(4, "big"))
        ias = tuple(IAPD(i + 1, 0, 0, (IAPrefix(0, 0, 56, IPv6Address("::"),
                                                (mobility_type_option(mt),)),))
                    for i, mt in enumerate(MobilityType))
        from odm_wire.dhcp6 import RapidCommit
        msg = Solicit(r, (ClientId(duid), ElapsedTime(0), OptionRequest((17,)), RapidCommit())
                      + ias)
        self.now += 0.001
        self.core.handle_datagram(encode_dhcp6(msg), HOST_LL, self.now, kind="dhcp6")
        out = [o for o in self.core.datagrams_to_send() if o.kind == "dhcp6"]
        while self.core.next_event() is not None:
            pass
        if len(out) != 1:
            raise InvariantBroken(f"no answer to a valid Solicit after fuzzing ({len(out)})")
        ans = decode_dhcp6(out[0].payload, self.pen)
        if type(ans) not in (Reply, Advertise):
            raise InvariantBroken(f"answered a valid Solicit with {type(ans).__name__}")
        got = {p.mobility_type for ia in ans.ia_pds for p in ia.prefixes if p.valid_lifetime}
        if got != set(MobilityType):
            raise InvariantBroken(f"valid Solicit after fuzzing got types {got}")
        self.tracker.reply(out[0].payload, self.pen)


class Pair(linksim.Link):
    """A HostCore and a RouterCore joined in memory on a fake clock
    (:mod:`odm_sansio.linksim`); ``mutate``: a function applied to datagrams
    in flight (None = a clean link); ``record``: a :class:`Corpus` every sent
    datagram is added to; ``host_rate_limit``: the host's RFC 8415 §14.1 send
    budget (messages per 20 s; None = the default)."""

    def __init__(self, workdir: Path, seed: int = 2, host_rate_limit: int | None = None
                 ) -> None:
        from host.config import HostConfig
        from host.core.events import AddressAdded
        from host.core.host import HostCore

        super().__init__(on_send=self._sent)
        self.router, self.store = _router_core(workdir, "pair.sqlite3")
        kw = {} if host_rate_limit is None else {"rate_limit_count": host_rate_limit,
                                                  "rate_limit_interval": 20.0}
        self.host = HostCore(HostConfig(iface="mh0", first_solicit_delay=False, secret="00",
                                        setsc_timeout=3.0, **kw).validate(),
                             HOST_DUID, b"k", rng=random.Random(seed))
        self.record: Corpus | None = None
        self.events: list = []
        self.add("host", self.host, HOST_LL,
                 on_event=self.dad_done(self.host, AddressAdded, self.events))
        self.add("router", self.router, ROUTER_LL, on_event=lambda e: False)
        self.router.start(0.0)
        self.host.start(0.0)
        self.pump()

    def close(self) -> None:
        self.store.close()

    def _sent(self, member, o) -> None:
        if self.record is not None:
            self.record.add(o.kind, o.payload, to_router=member.core is self.host)


def _pd_state(pd, now: float) -> dict:
    b = getattr(pd, "_bucket", None)
    return {"deferred": len(getattr(pd, "_deferred", ())),
            "exchanges": len(getattr(pd, "_exchanges", {})),
            "bucket": None if b is None else (round(b.tokens, 3), b.stamp),
            "timer": pd.get_timer(), "now": now}


def _summary(datagrams: list[bytes]) -> list[str]:
    out = []
    for d in datagrams[:20]:
        try:
            m = decode_dhcp6(d)
            out.append(f"{type(m).__name__}({m.transaction_id:#x}, "
                       f"{[(ia.iaid, ia.status) for ia in m.ia_pds]}, {m.status})")
        except Exception as exc:  # noqa: BLE001 - a summary for a failure message
            out.append(repr(exc))
    return out


class HostTarget:
    """A HostCore paired with a RouterCore (module docstring). Each input is
    one step: a mutated or random datagram to the host (with its current
    transaction id and DUID patched in), or a mutated datagram in flight on
    the pair's link, interleaved with API calls (setsc, close, link down/up,
    rebind, release) and time jumps. ``host_rate_limit``: the host's
    RFC 8415 §14.1 send budget (None: its default, 20 per 20 s)."""

    name = "host"

    def __init__(self, workdir: Path, corpus: Corpus, rng: random.Random,
                 host_rate_limit: int | None = None) -> None:
        self.pair = Pair(workdir, host_rate_limit=host_rate_limit)
        self.corpus = corpus
        self.rng = rng
        self.mut = Mutator(rng)
        self.inputs = 0
        self.hduid = encode_duid(HOST_DUID)
        self.sid = encode_duid(SERVER_DUID)
        self._req = 1000

    def close(self) -> None:
        self.pair.close()

    def _xid(self) -> int | None:
        ex = getattr(self.pair.host.pd, "_exchanges", None)
        if ex:
            return self.rng.choice(list(ex))
        return None

    def next_input(self) -> tuple[bytes, str]:
        r, c = self.rng, self.corpus
        x = r.random()
        if x < 0.06:
            return self.mut.random_bytes(), r.choice(("dhcp6", "icmp6"))
        if x < 0.3 and c.host_icmp:
            return self.mut.mutate(r.choice(c.host_icmp), c.host_icmp), "icmp6"
        seed = patch_ids(r.choice(c.host_dhcp), xid=self._xid(), client=self.hduid,
                         server=self.sid if r.random() < 0.8 else None)
        if r.random() < 0.1:
            return seed, "dhcp6"
        return self.mut.mutate(seed, c.host_dhcp), "dhcp6"

    def run_one(self, data: bytes, kind: str = "dhcp6") -> None:
        self.inputs += 1
        p, r = self.pair, self.rng
        try:
            x = r.random()
            if x < 0.04:
                self._api_step()
            elif x < 0.08:  # mutate what flows on the link for one exchange
                p.mutate = lambda d: self.mut.mutate(d) if r.random() < 0.5 else d
                p.pump()
                p.mutate = None
            p.host.handle_datagram(data, r.choice((ROUTER_LL, ROUTER_LL, HOST_LL)), p.now,
                                   kind=kind, hop_limit=r.choice((255, 255, 255, 64)))
            p.pump()
            if r.random() < 0.05:
                p.run_until(p.now + r.choice((0.01, 0.5, 2.0, 20.0, 90.0, 300.0)))
            else:
                p.now += 0.001
            if r.random() < 0.01:
                p.host.status(p.now)
        except Exception as exc:
            raise InvariantBroken(f"exception escaped the host core: {exc!r}") from exc
        self._check()

    def _api_step(self) -> None:
        p, r = self.pair, self.rng
        h = p.host
        op = r.randrange(7)
        owner = r.randrange(1, 6)
        if op <= 2 and len(h.pd.ias) < 12:  # an app's quota (the host's policy)
            self._req += 1
            t = r.choice([*MobilityType, 0, 9, "fixed", "bogus"])
            h.setsc(self._req, owner, t, p.now, on_net=r.random() < 0.3)
        elif op == 3:
            h.close_owner(owner, p.now)
        elif op == 4:
            h.link_down(p.now)
            p.up = False
        elif op == 5:
            p.up = True
            h.link_up(p.now)
        else:
            r.choice((h.rebind_all, h.release_all))(p.now)
        p.pump()

    def _check(self) -> None:
        h = self.pair.host
        seen = {}
        for net, a in h.addrs.by_prefix.items():
            if a.address in seen:
                raise InvariantBroken(f"address {a.address} held for {net} and {seen[a.address]}")
            seen[a.address] = net
        for o in h.datagrams_to_send():  # anything left over must decode too
            try:
                odm_wire.decode(o.payload)
            except WireFormatError as exc:
                raise InvariantBroken(f"the host sent undecodable octets: {exc}") from exc

    def check_alive(self) -> None:
        """Clean link, link up: setsc() of every type with ON_NET completes
        with an address of that type (each given 60 s of fake time: the
        host's RFC 8415 §14.1 send-rate bucket may be empty after fuzzing)."""
        from host.core.events import SetscCompleted

        p = self.pair
        p.mutate = None
        p.up = True
        p.host.link_up(p.now)
        p.run_until(p.now + 10)
        for i, t in enumerate(MobilityType):
            self._req += 1
            rid = self._req
            p.events.clear()
            p.record = Corpus()
            p.host.setsc(rid, 900 + i, t, p.now, on_net=True, timeout=60.0)
            p.pump()
            p.run_until(p.now + 60)
            done = [e for e in p.events if type(e) is SetscCompleted and e.request_id == rid]
            if not done or done[0].error is not None:
                ias = list(p.host.pd.snapshot(p.now))
                raise InvariantBroken(
                    f"setsc({t.name}) after fuzzing: {done}; IA_PDs {ias}; servers "
                    f"{p.host.status(p.now)['servers']}; sent {_summary(p.record.router_dhcp)}"
                    f"; received {_summary(p.record.host_dhcp)}; events "
                    f"{[type(e).__name__ for e in p.events][:40]}; pd state "
                    f"{_pd_state(p.host.pd, p.now)}")
            a = p.host.addrs.by_address.get(done[0].address)
            if a is None or a.mobility_type != t:
                raise InvariantBroken(f"setsc({t.name}) gave {done[0].address} of "
                                      f"{getattr(a, 'mobility_type', None)}")
