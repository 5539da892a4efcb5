#!/usr/bin/env python3
"""CPU cost of the router's DHCPv6-PD server core per exchange, in-process.

Drives :class:`router.core.RouterCore` with the traffic ``perfdhcp -6 -e
prefix-only`` sends (bench/router_vs_kea.py's load): a new client (DUID-LLT
with a distinct MAC) per exchange, Solicit → Advertise → Request → Reply, or
Solicit with Rapid Commit → Reply with ``--rapid``. The messages carry what
perfdhcp's do: Client Identifier, Elapsed Time, ORO (DNS servers), an IA_PD
(IAID 1, T1 = T2 = 0, an IAPREFIX ``::/0`` hint in the Solicit and the
Advertised prefix in the Request, which also echoes the Server Identifier).

The lease store is a real SQLite file (WAL, ``--sync`` level) in a temporary
directory. The core sits on the fake-clock link of the tests
(:mod:`odm_sansio.linksim`); the clients are not on it (their answers are the
link's ``unrouted``). Datagrams are handed to the core in batches of
``--batch`` (the agent reads up to 256 per wake-up; under perfdhcp's load a
wake-up finds a few dozen) and one delivery round after each batch calls
``datagrams_to_send()`` — the commit — as in
:meth:`router.io.agent.RouterAgent._on_dhcp`. Clients' datagrams are built
before the clock starts (perfdhcp's cost is not ours), and only the core's own
calls are timed (and profiled), so the figure is the core alone: decode,
server logic, store writes, commit, encode.

The collector runs as in the agent while it serves (everything made during
the warm-up frozen, the youngest generation collected every
:data:`router.io.agent.GC_GEN0_THRESHOLD` allocations): with Python's
default a full collection walks every binding made since, which is no cost
of the agent's.

Printed: µs of CPU per 4-way exchange (``time.process_time``, best of
``--repeat``) for the core's ``handle_datagram`` and for the commit, and the
exchanges per second one CPU would sustain; with ``--profile``, the top
functions of a cProfile run.

What it showed (2-CPU bench machine shared with other benchmarks, load
average ~1.5; ±10 %): ``--batch 32`` (saturating load: a wake-up finds
dozens of datagrams, one commit for them) ~67 µs per exchange, of which the
commit ~3 µs; ``--batch 1`` (paced load: one datagram per wake-up, so one
SQLite transaction per Request and a read transaction per Solicit's offer
check) ~105 µs, of which ~25 µs in the commit and ~13 µs more SQLite work in
``handle_datagram`` than batched. The whole agent under perfdhcp at 2000/s
(decode to sendto, routes, asyncio) costs about three times the core's
figure: a wake-up per datagram, and the core's code and SQLite's run with
cold caches (instrumented: SQLite ~85 µs of ~320 per exchange, the rest of
the core ~100, sendto ~35, recvfrom ~20, routes ~20, asyncio ~30).
bench/router_vs_kea.py prints the agent's and Kea's CPU per completed
exchange under the same load (issue 17: Kea ~170-190 µs paced, ~70-80 µs
saturating).

Usage::

    python3 bench/router_core_profile.py [--exchanges 20000] [--batch 32]
        [--sync normal] [--rapid] [--repeat 3] [--profile] [--top 30]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import sys
import tempfile
import time
from ipaddress import IPv6Address
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from odm_sansio.linksim import Link
from odm_wire.dhcp6 import (
    IAPD,
    Advertise,
    ClientId,
    DuidLLT,
    ElapsedTime,
    IAPrefix,
    OptionRequest,
    RapidCommit,
    Reply,
    Request,
    ServerId,
    Solicit,
    decode_dhcp6,
    encode_dhcp6,
)
from router.config import parse_config
from router.core import RouterCore
from router.io.agent import GC_GEN0_THRESHOLD
from router.store import SqliteLeaseStore

IFNAME = "prof0"
SERVER_DUID = DuidLLT(1, 0x2f000000, bytes.fromhex("02aabbccddee"))
_UNSPEC = IPv6Address("::")
ROUTER_LL = IPv6Address("fe80::1")


def make_config(lease_db: Path, sync: str, rapid: bool) -> dict:
    """The pools and lifetimes of bench/router_vs_kea.py (a /36 split into
    /56 as the legacy default pool, three typed /48 pools)."""
    pool = {"preferred_lifetime": 3000, "valid_lifetime": 4000, "delegated_length": 56}
    return {
        "router": {"id": "prof", "lease_db": str(lease_db), "lease_db_synchronous": sync,
                   "rapid_commit": rapid, "max_bindings_per_client": 16},
        "interface": [{
            "name": IFNAME, "default_pool": "legacy",
            "ra": {"adv_send_advertisements": True, "adv_managed_flag": False,
                   "prefix": [{"prefix": "2001:db8:1::/64",
                               "mobility_type": "non-persistent"}]},
            "pd_pool": [
                {"name": "legacy", "prefix": "2001:db8:8000::/36", **pool},
                {"name": "fixed", "mobility_type": "fixed", "prefix": "2001:db8:f000::/48",
                 **pool},
                {"name": "session", "mobility_type": "session-lasting",
                 "prefix": "2001:db8:5000::/48", **pool},
                {"name": "nonpersistent", "mobility_type": "non-persistent",
                 "prefix": "2001:db8:3000::/48", **pool},
            ],
        }],
    }


def client(i: int) -> tuple[ClientId, IPv6Address]:
    mac = (0x020000000000 + i).to_bytes(6, "big")
    ll = IPv6Address(0xfe800000000000000000000000000000 + i)
    return ClientId(DuidLLT(1, 0x2f000001, mac)), ll


def solicit(i: int, rapid: bool) -> tuple[bytes, IPv6Address]:
    cid, ll = client(i)
    opts = [cid, ElapsedTime(0), OptionRequest((23,)),
            IAPD(1, 0, 0, (IAPrefix(0, 0, 0, _UNSPEC),))]
    if rapid:
        opts.append(RapidCommit())
    return encode_dhcp6(Solicit(i & 0xFFFFFF, tuple(opts))), ll


def request(i: int, advertise: Advertise) -> tuple[bytes, IPv6Address]:
    cid, ll = client(i)
    ia = advertise.ia_pds[0]
    opts = (cid, advertise.get(ServerId), ElapsedTime(0), OptionRequest((23,)),
            IAPD(ia.iaid, 0, 0, tuple(IAPrefix(0, 0, p.prefix_length, p.prefix, p.options)
                                      for p in ia.prefixes)))
    return encode_dhcp6(Request((i + 1) & 0xFFFFFF, opts)), ll


class Timed:
    """``core`` with the CPU time (``time.process_time``) of its
    ``handle_datagram`` and of its ``datagrams_to_send`` (the commit) added
    up apart, under ``profiler`` when one is set; all else is the core's."""

    def __init__(self, core: RouterCore) -> None:
        self.core = core
        self.handle_s = 0.0
        self.commit_s = 0.0
        self.profiler: cProfile.Profile | None = None

    def __getattr__(self, name: str):
        return getattr(self.core, name)

    def handle_datagram(self, data: bytes, src: IPv6Address, now: float, **meta) -> None:
        prof, clock = self.profiler, time.process_time
        t0 = clock()
        if prof is not None:
            prof.enable()
        self.core.handle_datagram(data, src, now, **meta)
        if prof is not None:
            prof.disable()
        self.handle_s += clock() - t0

    def datagrams_to_send(self) -> list:
        prof, clock = self.profiler, time.process_time
        t0 = clock()
        if prof is not None:
            prof.enable()
        sent = self.core.datagrams_to_send()
        if prof is not None:
            prof.disable()
        self.commit_s += clock() - t0
        return sent


class Run:
    """One benchmark run on a fresh lease file."""

    def __init__(self, workdir: Path, sync: str, rapid: bool) -> None:
        db = workdir / f"leases-{time.monotonic_ns()}.sqlite3"
        self.config = parse_config(make_config(db, sync, rapid))
        self.store = SqliteLeaseStore(db, synchronous=sync)
        self.core = Timed(RouterCore(self.config, IFNAME, self.store, SERVER_DUID,
                                     rng=random.Random(1)))
        self.link = Link(1000.0, rounds=1)  # one round: one commit per batch
        self.link.add("router", self.core, ROUTER_LL)
        self.rapid = rapid

    def close(self) -> None:
        self.store.close()

    def phase(self, datagrams: list[tuple[bytes, IPv6Address]], batch: int) -> list[bytes]:
        """Hand ``datagrams`` to the core ``batch`` at a time, 1 ms apart,
        delivering (committing) after each batch; returns the answers
        (octets)."""
        link = self.link
        for k in range(0, len(datagrams), batch):
            link.now += 0.001
            for data, src in datagrams[k:k + batch]:
                link.inject("router", data, src, ifname=IFNAME)
            link.pump()
        out = [o.payload for _, o in link.unrouted]
        link.unrouted.clear()
        return out

    def exchanges(self, first: int, n: int, batch: int) -> int:
        """``n`` new clients numbered from ``first``; returns the Replies
        received that delegate a prefix."""
        sols = [solicit(first + i, self.rapid) for i in range(n)]
        answers = self.phase(sols, batch)
        if self.rapid:
            replies = answers
        else:
            advs = [decode_dhcp6(a) for a in answers]
            assert len(advs) == n and all(type(a) is Advertise for a in advs), "no Advertise"
            reqs = [request(first + i, a) for i, a in enumerate(advs)]
            replies = self.phase(reqs, batch)
        ok = 0
        for r in replies:
            m = decode_dhcp6(r)
            if type(m) is Reply and m.ia_pds and m.ia_pds[0].prefixes:
                ok += 1
        return ok


def run_once(args, workdir: Path, profiler: cProfile.Profile | None = None) -> dict:
    r = Run(workdir, args.sync, args.rapid)
    thresholds = gc.get_threshold()
    try:
        # warm-up: caches, SQLite pages, a table that is not empty
        r.exchanges(10_000_000, args.warmup, args.batch)
        # the agent's collector while it serves (router.io.agent): what is
        # there frozen, the youngest generation collected seldom
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_GEN0_THRESHOLD, *thresholds[1:])
        core = r.core
        core.handle_s = core.commit_s = 0.0
        core.profiler = profiler  # the core's calls only, not the clients'
        ok = r.exchanges(0, args.exchanges, args.batch)
        if ok != args.exchanges:
            raise SystemExit(f"only {ok} of {args.exchanges} exchanges delegated a prefix")
        n = args.exchanges
        return {"handle_us": core.handle_s / n * 1e6, "commit_us": core.commit_s / n * 1e6,
                "total_us": (core.handle_s + core.commit_s) / n * 1e6}
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        r.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exchanges", type=int, default=20000, help="timed exchanges per run")
    ap.add_argument("--warmup", type=int, default=2000, help="exchanges before timing")
    ap.add_argument("--batch", type=int, default=32, help="datagrams per commit")
    ap.add_argument("--sync", default="normal", choices=("normal", "full", "extra"),
                    help="lease_db_synchronous (the values the router accepts)")
    ap.add_argument("--rapid", action="store_true", help="Solicit with Rapid Commit")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print cProfile top functions")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="odm-core-prof-") as tmp:
        work = Path(tmp)
        best = None
        for _ in range(args.repeat):
            res = run_once(args, work)
            if best is None or res["total_us"] < best["total_us"]:
                best = res
        kind = "Solicit+RapidCommit/Reply" if args.rapid else "Solicit/Advertise/Request/Reply"
        print(f"router core, {kind}, batch {args.batch}, synchronous={args.sync}, "
              f"{args.exchanges} exchanges (best of {args.repeat}):")
        print(f"  handle_datagram  {best['handle_us']:8.1f} µs/exchange")
        print(f"  commit           {best['commit_us']:8.1f} µs/exchange")
        print(f"  total            {best['total_us']:8.1f} µs/exchange  "
              f"= {1e6 / best['total_us']:.0f} exchanges/s on one CPU (core only)")
        if args.profile:
            prof = cProfile.Profile()
            run_once(args, work, prof)
            print()
            pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
