#!/usr/bin/env python3
"""Handover time: odm on every data-plane backend this kernel runs, against
plain Linux SLAAC from radvd, in the same run.

Over ``--moves`` moves of the host between ``ar1`` and ``ar2`` (alternating),
measures from the moment the host's link is up at the new router
(:meth:`lab.Lab.move` returned; the lab's own veth re-homing, a few tens of ms
without carrier, comes before that and is printed apart):

odm (router agents in ar1/ar2 sharing one lease store, the backend under test
between them — :mod:`router.dataplane`; the host agent in mh with the lab's
timer scale), once per backend:

* (a) a new NON_PERSISTENT address usable: the host agent's status lists an
  address from the new router's NP pool, ready (in the kernel, no DAD: the
  prefix is the host's alone);
* (b) bytes flowing again on a SESSION_LASTING TCP connection: an application
  in mh sends 8 octets every 2 ms to an echo server in cn from its SL
  address; the first echo after the move ends the gap.

Baseline (radvd on both routers advertising their access prefix with A=1, the
kernel forming the addresses; default sysctls, so DAD runs as on any Linux
host): (a') the kernel has a non-tentative address from the new router's
prefix.

Prints each run, then per backend: median and p95 of (a) and (b), TCP stalls
(a gap over 1 s: retransmission backoff), the encapsulation overhead in octets,
and the ratio SLAAC / odm of the medians. Target: medians ≤ 20 ms for (a) and
(b) on every backend. Backends the kernel lacks are listed with the missing
option. Needs root; builds and removes its own labs (prefixes ``ho<backend>``,
``hoslaac``).

Usage: ``python bench/handover.py [--moves N] [--dataplane NAME ...] [--json FILE]``
(``--json FILE``: the samples and medians also written to FILE, for
bench/summary.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from ipaddress import IPv6Address
from pathlib import Path

from lab import Lab, LabConfig
from lab.agents import AgentSettings, LabAgents, pool_of, wait_for
from odm_wire.constants import MobilityType as MT

IFA_F_TENTATIVE = 0x40


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def move_timed(lab: Lab, to: str) -> tuple[float, float]:
    t0 = time.monotonic()
    lab.move("mh", to)
    return t0, time.monotonic()


def bench_odm(moves: int, dataplane: str, keep_logs: bool = False) -> dict:
    lab = Lab(LabConfig(prefix=f"ho{dataplane}"))
    work = Path(tempfile.mkdtemp(prefix=f"odm-handover-{dataplane}-"))
    out = {"np": [], "sl": [], "move": []}
    lab.up()
    try:
        agents = LabAgents(lab, work, AgentSettings(dataplane=dataplane))
        agents.start_all()
        assert agents.router_dataplane("ar1") == dataplane
        cn = str(lab.config.cn_address)
        server = agents.cn_app("server", ["server", "--port", "7000"])
        server.expect("listening", 10)
        wait_for(lambda: agents.host_addresses(MT.SESSION_LASTING)
                 and agents.host_addresses(MT.NON_PERSISTENT), 15, "boot prefixes")
        st = agents.app("stream", ["stream", "--type", "session-lasting", "--server", cn,
                                   "--port", "7000", "--api", str(agents.host_socket)])
        st.expect("connected", 10)
        for i in range(moves):
            to = ("ar2", "ar1")[i % 2]
            np_pool = pool_of(lab.router(to).pd_pool, MT.NON_PERSISTENT)
            time.sleep(0.3)
            t0, t1 = move_timed(lab, to)

            def np_ready(np_pool=np_pool):
                for a in agents.host_addresses(MT.NON_PERSISTENT):
                    if IPv6Address(a["address"]) in np_pool:
                        return time.monotonic()
                return None
            t_np = wait_for(np_ready, 10, "a new NP address", interval=0.001)
            # the move's gap: the one that ended after the move began (earlier
            # ones are the machine's own hiccups); bytes cannot flow while the
            # host's link is re-homed, so it began before the move returned.
            # It may end before lab.move returns (the host can Rebind and the
            # data plane re-route within the move's own netlink work): 0 then
            while True:
                ev = st.expect("gap", 60)
                if ev["to"] > t0 and ev["from"] < t1:
                    break
            sl = max(0.0, ev["to"] - t1)
            out["np"].append(t_np - t1)
            out["sl"].append(sl)
            out["move"].append(t1 - t0)
            print(f"  odm/{dataplane} move {i + 1:2d} → {to}: "
                  f"link move {1000 * (t1 - t0):6.1f} ms, "
                  f"NP usable {1000 * (t_np - t1):6.1f} ms, SL bytes {1000 * sl:6.1f} ms"
                  + ("  (TCP stalled: retransmission backoff)" if sl > 1.0 else ""),
                  flush=True)
            if sl > 1.0:
                time.sleep(1.0)  # let the connection settle before the next move
        st.stop()
        server.stop()
        agents.stop_all()
    except Exception:
        print(f"odm run failed; agent and app logs kept in {work}/logs", flush=True)
        work = None
        raise
    finally:
        lab.down()
        if work is not None and not keep_logs:
            shutil.rmtree(work, ignore_errors=True)
        elif work is not None:
            print(f"  logs kept in {work}/logs", flush=True)
    return out


RADVD_CONF = """interface acc {{
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    prefix {prefix} {{
        AdvOnLink on;
        AdvAutonomous on;
    }};
}};
"""


def bench_slaac(moves: int) -> dict:
    lab = Lab(LabConfig(prefix="hoslaac"))
    work = Path(tempfile.mkdtemp(prefix="odm-handover-slaac-"))
    out = {"np": [], "move": []}
    lab.up()
    try:
        lab.sysctls("mh", {"net.ipv6.conf.mh0.accept_ra": 1, "net.ipv6.conf.mh0.autoconf": 1})
        for r in lab.config.router_names:
            conf = work / f"{r}.conf"
            conf.write_text(RADVD_CONF.format(prefix=lab.router(r).access_prefix))
            lab.spawn(r, ["radvd", "-n", "-C", str(conf), "-p", str(work / f"{r}.pid"),
                          "-m", "stderr"], work / f"{r}.log")

        def have(prefix):
            with lab.iproute("mh") as ipr:
                for a in ipr.get_addr(family=10):
                    ad = a.get_attr("IFA_ADDRESS")
                    fl = a.get_attr("IFA_FLAGS") or a["flags"]
                    if ad and IPv6Address(ad) in prefix and not fl & IFA_F_TENTATIVE:
                        return time.monotonic()
            return None
        wait_for(lambda: have(lab.router("ar1").access_prefix), 20, "SLAAC address from ar1")
        for i in range(moves):
            to = ("ar2", "ar1")[i % 2]
            prefix = lab.router(to).access_prefix
            # the kernel keeps the previous link's address (valid lifetime left):
            # remove it so "usable from the new router" is what is timed
            with lab.iproute("mh") as ipr:
                idx = ipr.link_lookup(ifname="mh0")[0]
                for a in ipr.get_addr(family=10, index=idx):
                    ad = a.get_attr("IFA_ADDRESS")
                    if ad and IPv6Address(ad) in prefix:
                        ipr.addr("del", index=idx, address=ad, prefixlen=a["prefixlen"])
            time.sleep(0.3)
            t0, t1 = move_timed(lab, to)
            t = wait_for(lambda p=prefix: have(p), 30, "SLAAC address", interval=0.001)
            out["np"].append(t - t1)
            out["move"].append(t1 - t0)
            print(f"  SLAAC move {i + 1:2d} → {to}: link move {1000 * (t1 - t0):6.1f} ms, "
                  f"address usable {1000 * (t - t1):7.1f} ms", flush=True)
    finally:
        lab.down()
        shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> int:
    from lab.kernel import probe_dataplanes
    from router.dataplane import backend_class

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=10)
    ap.add_argument("--dataplane", action="append", default=None,
                    help="only this backend (repeatable; default: every one the kernel runs)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--keep-logs", action="store_true", help="keep the agents' logs")
    ap.add_argument("--json", type=Path, default=None, metavar="FILE",
                    help="also write the samples and medians (seconds) to FILE as JSON")
    a = ap.parse_args()
    found = probe_dataplanes()
    for n, why in found.items():
        if why:
            print(f"{n}: not measured: {why}")
    names = a.dataplane or [n for n, why in found.items() if why is None]
    runs = {}
    for name in names:
        if found.get(name):
            print(f"{name}: cannot run here: {found[name]}")
            return 2
        print(f"odm/{name}: {a.moves} moves between ar1 and ar2", flush=True)
        runs[name] = bench_odm(a.moves, name, a.keep_logs)
    base = None
    if not a.no_baseline and shutil.which("radvd"):
        print(f"baseline: radvd + kernel SLAAC, {a.moves} moves", flush=True)
        base = bench_slaac(a.moves)
    print()
    def ms(xs, f):
        return f"{1000 * f(xs):6.1f}"
    print(f"{'data plane':10s} {'octets':>6s} {'NP usable ms':>16s} {'SL bytes ms':>16s} "
          f"{'stalls':>7s} {'SLAAC/odm NP':>13s}")
    print(f"{'':10s} {'':6s} {'median':>8s}{'p95':>8s} {'median':>8s}{'p95':>8s}")
    met = True
    for name, r in runs.items():
        stalls = sum(1 for x in r["sl"] if x > 1.0)
        ratio = (f"{statistics.median(base['np']) / statistics.median(r['np']):.1f}x"
                 if base else "-")
        print(f"{name:10s} {backend_class(name).overhead:6d} {ms(r['np'], statistics.median):>8s}"
              f"{ms(r['np'], lambda x: pct(x, 95)):>8s} {ms(r['sl'], statistics.median):>8s}"
              f"{ms(r['sl'], lambda x: pct(x, 95)):>8s} {stalls:>3d}/{len(r['sl']):<3d} "
              f"{ratio:>13s}")
        met &= statistics.median(r["np"]) <= 0.02 and statistics.median(r["sl"]) <= 0.02
    if base:
        print(f"{'SLAAC':10s} {0:6d} {ms(base['np'], statistics.median):>8s}"
              f"{ms(base['np'], lambda x: pct(x, 95)):>8s} {'(radvd + kernel, DAD on)':>25s}")
    moves = [x for r in runs.values() for x in r["move"]]
    if moves:
        print("(lab link re-homing before link up: "
              f"median {1000 * statistics.median(moves):.1f} ms)")
    print(f"target ≤ 20 ms (median) for both odm figures on every backend: "
          f"{'met' if met else 'NOT met'}")
    if a.json is not None:
        def med(xs):
            return statistics.median(xs) if xs else None
        a.json.write_text(json.dumps({
            "moves": a.moves, "not_measured": {n: w for n, w in found.items() if w},
            "odm": {n: {**r, "np_median": med(r["np"]), "sl_median": med(r["sl"]),
                        "overhead": backend_class(n).overhead} for n, r in runs.items()},
            "slaac": base and {**base, "np_median": med(base["np"])},
            "met": met}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
