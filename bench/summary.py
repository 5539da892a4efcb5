#!/usr/bin/env python3
"""Every headline figure of odm against its peer, in one table.

Runs the benchmarks in a short, fixed configuration, each with its JSON
output, and prints one table: figure / odm / peer / ratio / target / met:

* bench/router_vs_kea.py ``--repeat 1 --duration 5 --sync normal --bindings
  100000``: the router agent against Kea 2.x under perfdhcp (exchanges/s at
  saturation, CPU per completed exchange paced and saturating, Request/Reply
  latency paced, peak RSS with 100k bindings, restart to first answer);
* the share of the router's CPU that buys the kernel route of each delegated
  prefix (Kea installs none): :class:`router.io.routes.RouteBatcher` adding
  and removing routes in a namespace of its own, CPU time of the thread (user
  + system, so the kernel's work on the route is in it), printed apart;
* bench/setsc.py ``--held 1000 --fresh 300 --on-net 60 --runs 1``: setsc()
  with an address held (same socket, fresh socket) against a Unix-socket round
  trip measured here, ON_NET setsc()+bind against a real client's wire time
  (dhcpcd, Kea with Preference 255) and the host's share of it;
* bench/handover.py ``--moves 6``: handover medians on every data plane the
  kernel runs, against radvd + kernel SLAAC.

Wall-clock figures (latencies, exchanges/s) move with whatever else runs on
the machine; CPU times per exchange much less. The load average at the start
and end is printed with the table. ``--million`` adds a 1M-binding scale run
of the router (fill, RSS, restart; tens of minutes).

Usage (root; kea-dhcp6, perfdhcp, radvd, dhcpcd, dhcp6c)::

    python3 bench/summary.py [--json FILE] [--skip router,routes,setsc,handover]
                             [--million] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "interop")]

ROUTER_ARGS = ["--repeat", "1", "--duration", "5", "--sync", "normal",
               "--bindings", "100000", "--fill-rate", "3000"]
SETSC_ARGS = ["--held", "1000", "--fresh", "300", "--on-net", "60", "--runs", "1"]
HANDOVER_ARGS = ["--moves", "6"]
ROUTES_N = 20000
PARTS = ("router", "routes", "setsc", "handover")


# ---------------------------------------------------------------- running --
def run_bench(script: str, args: list[str], log: Path, json_path: Path | None,
              stdout_json: bool = False) -> dict:
    """Run bench/``script`` with ``args``; its JSON (from ``json_path``, or
    its stdout with ``stdout_json``), or ``{"error": ...}``."""
    argv = [sys.executable, str(BENCH / script), *args]
    if json_path is not None:
        argv += ["--json", str(json_path)]
    print(f"# {' '.join(argv[1:])}", flush=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    t0 = time.monotonic()
    with open(log, "w") as fh:
        r = subprocess.run(argv, stdout=subprocess.PIPE if stdout_json else fh,
                           stderr=fh, text=True, env=env, check=False, cwd=REPO)
    took = time.monotonic() - t0
    print(f"#   {took:.0f} s, exit {r.returncode}, log {log}", flush=True)
    try:
        if stdout_json:
            out = json.loads(r.stdout)
        else:
            out = json.loads(json_path.read_text())
    except (OSError, ValueError) as exc:
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        return {"error": f"exit {r.returncode}: {exc}; {tail}"}
    if r.returncode != 0:
        out["error"] = f"exit {r.returncode}"
    return out


def route_cost(n: int) -> dict:
    """CPU µs (user + system of this thread) per route added and per route
    removed by :class:`router.io.routes.RouteBatcher`, in batches of 32 as the
    agent sends them, in a router_pair namespace (a veth, a link-local next hop)."""
    from ipaddress import IPv6Address, IPv6Network

    from router_pair import router_pair

    from lab.nsutil import call_in_netns_thread as in_netns
    from router.io.routes import RouteBatcher

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_THREAD)
        return r.ru_utime + r.ru_stime

    def body(ifname: str) -> dict:
        idx = socket.if_nametoindex(ifname)
        rb = RouteBatcher()
        via = IPv6Address("fe80::ff:fe00:102")
        nets = [IPv6Network(((0x20010DB8 << 96) | (i << 72), 56)) for i in range(n)]
        try:
            out = {}
            for what in ("add", "delete"):
                c0 = cpu()
                for i, net in enumerate(nets):
                    if what == "add":
                        rb.add(net, via, idx)
                    else:
                        rb.delete(net)
                    if i % 32 == 31:
                        rb.flush()
                        rb.read_acks()
                ok = rb.drain(30)
                out[f"{what}_us"] = round(1e6 * (cpu() - c0) / n, 2)
                out[f"{what}_ok"] = ok and rb.failures == 0
            return out
        finally:
            rb.close()

    with tempfile.TemporaryDirectory(prefix="odm-summary-routes-") as tmp, \
            router_pair(Path(tmp), tag="sr") as pair:
        res = in_netns(pair.rtr_ns, body, pair.rtr_if)
    res["n"] = n
    return res


def unix_round_trip(n: int = 2000) -> float:
    """p50 µs of a 64-octet request / answer over a Unix stream socket to
    another thread: the floor under a held-address setsc()."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def echo():
        while True:
            d = b.recv(4096)
            if not d:
                return
            b.sendall(d)
    t = threading.Thread(target=echo, daemon=True)
    t.start()
    lat = []
    msg = b"x" * 64
    for _ in range(n):
        t0 = time.perf_counter_ns()
        a.sendall(msg)
        a.recv(4096)
        lat.append(time.perf_counter_ns() - t0)
    a.close()
    t.join(2)
    b.close()
    return statistics.median(lat) / 1e3


# ----------------------------------------------------------------- table ---
class Rows:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, figure: str, odm, peer=None, *, unit: str = "", peer_name: str = "",
            target: str = "", met: bool | None = None, ratio: float | None = None,
            note: str = "") -> None:
        if ratio is None and isinstance(odm, (int, float)) and isinstance(peer, (int, float)) \
                and peer:
            ratio = odm / peer
        self.rows.append({"figure": figure, "odm": odm, "peer": peer, "peer_name": peer_name,
                          "unit": unit, "ratio": ratio, "target": target, "met": met,
                          "note": note})


def fmt(v, unit: str) -> str:
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if unit in ("exch/s",):
        return f"{v:,.0f} {unit}"
    if unit == "MiB":
        return f"{v:,.0f} {unit}"
    return f"{v:,.{2 if abs(v) < 10 else 1 if abs(v) < 100 else 0}f} {unit}".strip()


def router_rows(rows: Rows, r: dict, routes: dict | None) -> None:
    if "error" in r and not r.get("best"):
        rows.add("router (bench/router_vs_kea.py)", "failed", note=r["error"][:200])
        return
    best = {(b["server"], b["load"]): b for b in r.get("best", [])}
    odm = next((s for s, _ in best if s.startswith("odm")), "odm (normal)")
    def k(load, key):
        return best.get(("kea", load), {}).get(key)
    def o(load, key):
        return best.get((odm, load), {}).get(key)

    def both(*vals):
        return all(isinstance(v, (int, float)) for v in vals)

    a, b = o("saturating", "exchanges/s"), k("saturating", "exchanges/s")
    rows.add("router exchanges/s, saturating (wall)", a, b, unit="exch/s", peer_name="Kea",
             target="≥ 1.2× Kea", met=both(a, b) and a >= 1.2 * b)
    route = routes.get("add_us") if routes and "error" not in routes else None
    for load in ("paced", "saturating"):
        a, b = o(load, "cpu us/exch"), k(load, "cpu us/exch")
        rows.add(f"router CPU per exchange, {load} (routes incl.)", a, b, unit="µs",
                 peer_name="Kea", target="≤ Kea", met=both(a, b) and a <= b)
        if route is not None and both(a):
            rows.add("  … of it the kernel route (1 add / exchange)", route, None, unit="µs",
                     target="printed apart", note="Kea installs no route")
            rows.add(f"  … without the route, {load}", a - route, b, unit="µs",
                     peer_name="Kea", target="—")
    a, b = o("paced", "rr avg"), k("paced", "rr avg")
    rows.add("router Request→Reply latency, paced (avg; wall)", a, b, unit="ms",
             peer_name="Kea", target="≤ 1.2× Kea", met=both(a, b) and a <= 1.2 * b,
             note="perfdhcp reports the average, not the p50")
    for sc_label, sc in (("", r.get("scale", [])), ("1M ", r.get("scale_1m", []))):
        if not sc:
            continue
        s = {x["server"]: x for x in sc}
        so = next((v for n, v in s.items() if n.startswith("odm")), {})
        sk = s.get("kea", {})
        nb = so.get("bindings") or 0
        a, b = so.get("peak_rss_mib"), sk.get("peak_rss_mib")
        rows.add(f"router peak RSS, {sc_label}{nb:,} bindings", a, b, unit="MiB",
                 peer_name="Kea", target="≤ 1.5× Kea" if not sc_label else "printed",
                 met=(both(a, b) and a <= 1.5 * b) if not sc_label else None)
        a, b = so.get("restart_to_first_answer_s"), sk.get("restart_to_first_answer_s")
        rows.add(f"router restart → first answer, {sc_label}{nb:,} bindings (wall)", a, b,
                 unit="s", peer_name="Kea", target="≤ Kea" if not sc_label else "printed",
                 met=(both(a, b) and a <= b) if not sc_label else None)


def setsc_rows(rows: Rows, r: dict, unix_us: float | None) -> None:
    if "error" in r and not r.get("setsc"):
        rows.add("host (bench/setsc.py)", "failed", note=r["error"][:200])
        return
    full = r.get("setsc", {}).get("odm router (sync full)", {})
    same, fresh = full.get("held, same socket"), full.get("held, fresh socket")
    if same:
        rows.add("setsc() address held, same socket, p50 (wall)", same["p50_us"], unix_us,
                 unit="µs", peer_name="Unix-socket round trip", target="≤ 50 µs",
                 met=same["p50_us"] <= 50)
    if fresh:
        rows.add("setsc() address held, fresh socket, p50 (wall)", fresh["p50_us"], unix_us,
                 unit="µs", peer_name="Unix-socket round trip", target="≤ 150 µs",
                 met=fresh["p50_us"] <= 150)
    ttp = r.get("time-to-prefix", {}).get("Kea, Preference 255", {})
    dhcpcd = next((v["wire_ms"]["median"] for n, v in ttp.items() if n.startswith("dhcpcd")),
                  None)
    for server, cases in r.get("setsc", {}).items():
        on = cases.get("ON_NET + bind")
        if not on:
            continue
        ms = on["p50_us"] / 1e3
        odm_server = server.startswith("odm")
        rows.add(f"ON_NET setsc()+bind p50, {server} (wall)", ms, dhcpcd, unit="ms",
                 peer_name="dhcpcd wire time (Kea, Pref 255)",
                 target="≤ 1.3 ms" if odm_server else "—",
                 met=(ms <= 1.3) if odm_server else None)
        bd = on.get("breakdown") or {}
        if bd and odm_server:
            host = (bd["host_to_request_us"] + bd["host_reply_to_return_us"]) / 1e3
            rows.add(f"  … host side of it ({bd['host_to_request_us']} + "
                     f"{bd['host_reply_to_return_us']} µs; wall)", host, None, unit="ms",
                     target="≤ 0.3 ms", met=host <= 0.3)
    odm_ttp = ttp.get("odm host agent")
    if odm_ttp and dhcpcd:
        rows.add("time-to-prefix wire time, odm host agent (Kea, Pref 255; wall)",
                 odm_ttp["wire_ms"]["median"], dhcpcd, unit="ms",
                 peer_name="dhcpcd", target="—")


def handover_rows(rows: Rows, r: dict) -> None:
    if "error" in r and not r.get("odm"):
        rows.add("handover (bench/handover.py)", "failed", note=r["error"][:200])
        return
    slaac = (r.get("slaac") or {}).get("np_median")
    for name, v in r.get("odm", {}).items():
        np_, sl = v.get("np_median"), v.get("sl_median")
        rows.add(f"handover, {name}: new NP address usable, median (wall)",
                 np_ and np_ * 1e3, slaac and slaac * 1e3, unit="ms",
                 peer_name="radvd + kernel SLAAC", target="≤ 20 ms",
                 met=np_ is not None and np_ <= 0.02)
        rows.add(f"handover, {name}: SL bytes flowing again, median (wall)",
                 sl and sl * 1e3, None, unit="ms", target="≤ 20 ms",
                 met=sl is not None and sl <= 0.02)
    for name, why in (r.get("not_measured") or {}).items():
        rows.add(f"handover, {name}", "not measured", note=why)


def print_rows(rows: Rows, load: tuple) -> None:
    from rich.table import Table

    from odm.tables import console, print_table
    t = Table(title="odm headline figures (bench/summary.py)")
    for c in ("figure", "odm", "peer", "ratio", "target", "met"):
        t.add_column(c, justify="right" if c in ("odm", "peer", "ratio") else "left")
    for x in rows.rows:
        peer = fmt(x["peer"], x["unit"]) if x["peer"] is not None else ""
        if x["peer_name"] and x["peer"] is not None:
            peer = f"{x['peer_name']} {peer}"
        r = x["ratio"]
        ratio = "" if r is None else f"{r:.2f}×" if r >= 0.1 else f"{r:.1g}×"
        met = {True: "yes", False: "NO", None: ""}[x["met"]]
        odm = fmt(x["odm"], x["unit"]) + (f" ({x['note']})" if x["note"] else "")
        t.add_row(x["figure"], odm, peer, ratio, x["target"], met)
    con = console()
    print_table(t, con)
    con.print(f"load average at start {load[0][0]:.2f}, at end {load[1][0]:.2f} on "
              f"{os.cpu_count()} CPUs; figures marked (wall) move with other work on the "
              "machine", markup=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None, metavar="FILE",
                    help="also write the table (and every benchmark's JSON) to FILE")
    ap.add_argument("--skip", default="", help="comma-separated: router,routes,setsc,handover")
    ap.add_argument("--million", action="store_true",
                    help="add a 1M-binding router scale run (fill, RSS, restart)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the benchmarks' logs and JSON here")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/summary.py needs root (network namespaces)", file=sys.stderr)
        return 2
    skip = set(filter(None, args.skip.split(",")))
    unknown = skip - set(PARTS)
    if unknown:
        ap.error(f"--skip: unknown part(s) {', '.join(sorted(unknown))}; "
                 f"the parts are {', '.join(PARTS)}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="odm-summary-"))
    work.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()
    raw: dict = {}
    if "router" not in skip:
        raw["router"] = run_bench("router_vs_kea.py", ROUTER_ARGS, work / "router.log",
                                  work / "router.json")
        if args.million:
            m = run_bench("router_vs_kea.py", ["--repeat", "0", "--sync", "normal",
                                               "--bindings", "1000000", "--fill-rate", "3000"],
                          work / "router-1m.log", work / "router-1m.json")
            raw["router"]["scale_1m"] = m.get("scale", [])
    if "routes" not in skip:
        print(f"# kernel routes: {ROUTES_N} added and removed through RouteBatcher", flush=True)
        try:
            raw["routes"] = route_cost(ROUTES_N)
        except Exception as exc:  # noqa: BLE001 - one failed part leaves the rest
            raw["routes"] = {"error": repr(exc)}
    if "setsc" not in skip:
        raw["setsc"] = run_bench("setsc.py", [*SETSC_ARGS, "--json"], work / "setsc.log",
                                 None, stdout_json=True)
        raw["unix_round_trip_us"] = unix_round_trip()
    if "handover" not in skip:
        raw["handover"] = run_bench("handover.py", HANDOVER_ARGS, work / "handover.log",
                                    work / "handover.json")
    load1 = os.getloadavg()
    rows = Rows()
    if "router" in raw:
        router_rows(rows, raw["router"], raw.get("routes"))
    elif "routes" in raw and "error" not in raw["routes"]:
        for what in ("add", "delete"):
            rows.add(f"kernel route per delegated prefix, {what} (CPU)",
                     raw["routes"][f"{what}_us"], unit="µs",
                     note="" if raw["routes"][f"{what}_ok"] else "some refused")
    if "setsc" in raw:
        setsc_rows(rows, raw["setsc"], raw.get("unix_round_trip_us"))
    if "handover" in raw:
        handover_rows(rows, raw["handover"])
    print()
    print_rows(rows, (load0, load1))
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": rows.rows, "raw": raw,
                                         "load_average": {"start": load0, "end": load1,
                                                          "cpus": os.cpu_count()}},
                                        indent=2, default=str))
    if args.workdir is None:
        if any(work.iterdir()):
            print(f"logs and each benchmark's JSON: {work}")
        else:
            work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
