#!/usr/bin/env python3
"""CPU cost of the host core's part of a setsc(), in-process.

The host core (:class:`host.core.host.HostCore`) and the router core sit on the
fake-clock link of the tests (:mod:`odm_sansio.linksim`); the router's lease
store is a real SQLite file (``--sync``). Only the host core's own calls are
timed (``time.process_time``) and, with ``--profile``, profiled: ``setsc``,
``close_owner``, ``handle_datagram``, ``datagrams_to_send``, ``next_event``,
``get_timer`` — what :class:`host.io.agent.HostAgent` calls for one request,
after each input as its ``_kick`` does. Three cases, as bench/setsc.py's:

- ``held``: the same owner (one application socket) asks again for the
  NON_PERSISTENT address it holds (the boot type);
- ``fresh``: a new owner each time asks for the held NON_PERSISTENT address
  and then ends (its socket closes);
- ``on-net``: a new owner asks for SESSION_LASTING with ON_NET (a Request to
  the known server, the Reply, the address), then ends: its prefix is
  released (Release, Reply).

Every setsc() carries a principal (uid 0, as bench/setsc.py's calls do), so the
policy is asked as in the agent. Printed: µs of CPU per call of each case (best
of ``--repeat``); with ``--profile``, the top functions of a cProfile run of the
case named by ``--case``. The agent's own share (the Unix socket, JSON,
netlink, asyncio) is not here: bench/setsc.py prints the whole agent's and the
caller's CPU per setsc().

Usage::

    python3 bench/host_core_profile.py [--n 20000] [--repeat 3] [--profile]
        [--case held|fresh|on-net] [--top 30]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import tempfile
import time
from ipaddress import IPv6Address
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from host.config import HostConfig
from host.core.events import SetscCompleted
from host.core.host import HostCore
from host.core.policy import Principal
from odm_sansio.linksim import Link
from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import DuidLL
from router.config import parse_config
from router.core import RouterCore
from router.store import SqliteLeaseStore

RLL, HLL = IPv6Address("fe80::ff:fe00:1"), IPv6Address("fe80::ff:fe00:2")
ROOT = Principal(0, 0, frozenset(), 1)
TIMED = ("setsc", "close_owner", "handle_datagram", "datagrams_to_send", "next_event",
         "get_timer", "handle_timer", "address_ready")


def router_config(db: Path, sync: str) -> dict:
    pool = {"preferred_lifetime": 3000, "valid_lifetime": 4000, "delegated_length": 56}
    return {
        "router": {"id": "prof", "lease_db": str(db), "lease_db_synchronous": sync,
                   "max_bindings_per_client": 100000},
        "limits": {"client_rate": {"count": 0, "interval": 1.0}},
        "interface": [{
            "name": "ar0", "default_pool": "legacy",
            "offered_types": ["session-lasting", "non-persistent"],
            "ra": {"adv_send_advertisements": True, "adv_managed_flag": False,
                   "prefix": [{"prefix": "2001:db8:1::/64"}]},
            "pd_pool": [
                {"name": "legacy", "prefix": "2001:db8:8000::/36", **pool},
                {"name": "session", "mobility_type": "session-lasting",
                 "prefix": "2001:db8:5000::/36", **pool},
                {"name": "nonpersistent", "mobility_type": "non-persistent",
                 "prefix": "2001:db8:3000::/36", **pool},
            ],
        }],
    }


class Timed:
    """``core`` with the CPU time of the calls named in TIMED added up (and
    profiled when ``profiler`` is set)."""

    def __init__(self, core: HostCore) -> None:
        self.core = core
        self.cpu = 0.0
        self.profiler: cProfile.Profile | None = None

    def __getattr__(self, name: str):
        fn = getattr(self.core, name)
        if name not in TIMED:
            return fn

        def timed(*args, **kwargs):
            prof, clock = self.profiler, time.process_time
            t0 = clock()
            if prof is not None:
                prof.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                if prof is not None:
                    prof.disable()
                self.cpu += clock() - t0
        return timed


class Run:
    def __init__(self, workdir: Path, sync: str) -> None:
        db = workdir / f"leases-{time.monotonic_ns()}.sqlite3"
        self.store = SqliteLeaseStore(db, synchronous=sync)
        router = RouterCore(parse_config(router_config(db, sync)), "ar0", self.store,
                            DuidLL(1, b"\x02\0\0\0\0\x01"), rng=random.Random(1),
                            link_layer_address=b"\x02\0\0\0\0\x01")
        core = HostCore(HostConfig(iface="mh0", first_solicit_delay=False, secret="00",
                                   boot_types=(MT.NON_PERSISTENT,), legacy_pd=False,
                                   rate_limit_count=1_000_000, rate_limit_interval=1.0,
                                   ).validate(),
                        DuidLL(1, b"\x02\0\0\0\0\x02"), b"k", rng=random.Random(2))
        self.host = Timed(core)
        self.answers: list[SetscCompleted] = []
        self.link = Link(0.0)
        self.link.add("host", self.host, HLL, on_event=self._event)
        self.link.add("router", router, RLL)
        router.start(0.0)
        self.host.start(0.0)
        self.link.pump()
        self.link.run_until(5.0)
        self.owner = 1
        self.rid = 1

    def _event(self, ev) -> bool:
        if type(ev) is SetscCompleted:
            self.answers.append(ev)
        return False

    def close(self) -> None:
        self.store.close()

    def call(self, owner: int, t: MT, on_net: bool = False) -> IPv6Address:
        """One setsc() and what the agent does after it: the datagrams, the
        events, the timer (the link delivers and answers)."""
        self.rid += 1
        self.link.now += 1e-4
        self.host.setsc(self.rid, owner, t, self.link.now, on_net=on_net, principal=ROOT)
        self.link.pump()
        self.host.get_timer()
        ans = self.answers.pop()
        if ans.address is None:
            raise RuntimeError(f"setsc failed: {ans}")
        return ans.address

    def end(self, owner: int) -> None:
        self.link.now += 1e-4
        self.host.close_owner(owner, self.link.now)
        self.link.pump()
        self.host.get_timer()

    def case(self, name: str, n: int) -> float:
        """CPU µs of the host core per call of case ``name``."""
        self.host.cpu = 0.0
        if name == "held":
            self.call(1, MT.NON_PERSISTENT)
            self.host.cpu = 0.0
            for _ in range(n):
                self.call(1, MT.NON_PERSISTENT)
        else:
            t, on_net = (MT.SESSION_LASTING, True) if name == "on-net" else (
                MT.NON_PERSISTENT, False)
            for _ in range(n):
                self.owner += 1
                self.call(self.owner, t, on_net)
                self.end(self.owner)
        return self.host.cpu / n * 1e6


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="calls per case (on-net: a tenth)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sync", default="normal", help="the router's lease_db_synchronous")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--case", default="on-net", choices=("held", "fresh", "on-net"))
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="odm-host-core-") as td:
        for name in ("held", "fresh", "on-net"):
            n = args.n // 10 if name == "on-net" else args.n
            best = None
            for _ in range(args.repeat):
                r = Run(Path(td), args.sync)
                try:
                    us = r.case(name, n)
                finally:
                    r.close()
                best = us if best is None else min(best, us)
            print(f"{name:7s} host core CPU per setsc(): {best:7.1f} µs (best of {args.repeat}, "
                  f"{n} calls)")
        if args.profile:
            r = Run(Path(td), args.sync)
            prof = cProfile.Profile()
            r.host.profiler = prof
            n = args.n // 10 if args.case == "on-net" else args.n
            r.case(args.case, n)
            r.close()
            print(f"\nprofile of {args.case} ({n} calls)")
            pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
