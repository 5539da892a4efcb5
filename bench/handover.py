#!/usr/bin/env python3
"""Handover time: odm against plain Linux SLAAC from radvd, in the same lab.

Over ``--moves`` moves of the host between ``ar1`` and ``ar2`` (alternating),
measures from the moment the host's link is up at the new router
(:meth:`lab.Lab.move` returned; the lab's own veth re-homing, a few tens of ms
without carrier, comes before that and is printed apart):

odm (router agents in ar1/ar2 sharing one lease store, SRv6 between them; the
host agent in mh with the lab's timer scale):

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

Prints each run, then median, p95 and the ratio baseline / odm. Targets
(issue 5): ≤ 50 ms for (a) and (b). Needs root; builds and removes its own
labs (prefixes ``hobench``/``hoslaac``).

Usage: ``python bench/handover.py [--moves N]``
"""

from __future__ import annotations

import argparse
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


def bench_odm(moves: int) -> dict:
    lab = Lab(LabConfig(prefix="hobench"))
    work = Path(tempfile.mkdtemp(prefix="odm-handover-"))
    out = {"np": [], "sl": [], "move": []}
    lab.up()
    try:
        agents = LabAgents(lab, work, AgentSettings())
        agents.start_all()
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
            while True:
                ev = st.expect("gap", 60)
                if ev["to"] > t1:
                    break
            sl = ev["to"] - t1
            out["np"].append(t_np - t1)
            out["sl"].append(sl)
            out["move"].append(t1 - t0)
            print(f"  odm move {i + 1:2d} → {to}: link move {1000 * (t1 - t0):6.1f} ms, "
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
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
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
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=10)
    ap.add_argument("--no-baseline", action="store_true")
    a = ap.parse_args()
    print(f"odm: {a.moves} moves between ar1 and ar2", flush=True)
    odm = bench_odm(a.moves)
    base = None
    if not a.no_baseline and shutil.which("radvd"):
        print(f"baseline: radvd + kernel SLAAC, {a.moves} moves", flush=True)
        base = bench_slaac(a.moves)
    print()
    print(f"{'measure (from link up at the new router)':48s} {'median':>9s} {'p95':>9s}")
    rows = [("odm: new NON_PERSISTENT address usable", odm["np"]),
            ("odm: bytes again on SESSION_LASTING TCP", odm["sl"])]
    if base:
        rows.append(("radvd + SLAAC: new address usable", base["np"]))
    for name, xs in rows:
        print(f"{name:48s} {1000 * statistics.median(xs):7.1f}ms {1000 * pct(xs, 95):7.1f}ms")
    print(f"{'(lab link re-homing before link up)':48s} "
          f"{1000 * statistics.median(odm['move']):7.1f}ms")
    if base:
        r = statistics.median(base["np"]) / statistics.median(odm["np"])
        print(f"\nSLAAC / odm, new address usable (medians): {r:.1f}x")
    stalls = sum(1 for x in odm["sl"] if x > 1.0)
    print(f"SL moves with a TCP stall over 1 s: {stalls} of {len(odm['sl'])}")
    ok = statistics.median(odm["np"]) <= 0.05 and statistics.median(odm["sl"]) <= 0.05
    print(f"target ≤ 50 ms (median) for both odm figures: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
