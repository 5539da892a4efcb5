"""Fuzz odm: a million inputs per agent in-process, then live agents in a lab.

    python3 bench/fuzz.py                       # 1,000,000 inputs per target + live part
    python3 bench/fuzz.py --inputs 100000 --live 0
    python3 bench/fuzz.py --atheris-runs 200000 # plus coverage-guided atheris runs

In-process (tests/fuzz/engine.py, fake clock, real SQLite file): the codec
(``odm_wire.decode``/``encode``), the router core (RouterCore) and the host
core (HostCore joined to a RouterCore), each fed ``--inputs`` mutated golden
datagrams, scapy-free random octets and (host) API calls and time jumps.
Every ``--check-every`` inputs the core must still answer a valid request
(a Solicit with every type; a setsc() of every type); the host pair starts
afresh after each check so its state stays bounded.

Live (root only, ``--live N``): a lab (namespaces ``h5…``) with ``odm router
run`` on ar1/ar2 and ``odm host run`` on mh; N mutated or scapy-``fuzz()``ed
DHCPv6 datagrams and RS/RAs at the router and N at the host over real
sockets (tests/fuzz/live.py); then the agents must still answer.

Printed per target: inputs tried, inputs per second, unhandled exceptions (an
exception out of a core, or the router's last-resort handler firing; must be
0), other invariant violations (a prefix granted twice, an undecodable
datagram sent, no answer to a valid request; must be 0), and for the live
part datagrams sent, agent restarts (must be 0), tracebacks or last-resort
errors in the agents' logs (must be 0). A failing input is saved under
``--out`` for replay. Exit status 0 only if every figure that must be 0 is.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fuzz import engine


def classify(exc: engine.InvariantBroken) -> str:
    text = str(exc)
    if "exception escaped" in text or "last-resort" in text:
        return "unhandled"
    return "invariant"


def run_target(name: str, n: int, check_every: int, seed: int, corpus, work: Path,
               out: Path) -> dict:
    rng = random.Random(seed)
    res = {"target": name, "inputs": 0, "unhandled": 0, "invariant": 0, "checks": 0,
           "examples": []}

    def make():
        d = Path(tempfile.mkdtemp(dir=work))
        if name == "router":
            return engine.RouterTarget(d, corpus, rng)
        if name == "host":
            return engine.HostTarget(d, corpus, rng)
        return engine.CodecTarget()

    def fail(exc: engine.InvariantBroken, data: bytes) -> None:
        kind = classify(exc)
        res[kind] += 1
        if len(res["examples"]) < 5:
            f = out / f"{name}-{kind}-{res['inputs']}.bin"
            f.write_bytes(data)
            res["examples"].append(f"{f}: {str(exc)[:300]}")

    seeds = corpus.all()
    mut = engine.Mutator(rng)
    t = make()
    start = time.perf_counter()
    last = start
    for i in range(1, n + 1):
        if name == "codec":
            data, kind = (mut.mutate(rng.choice(seeds), seeds) if rng.random() < 0.9
                          else mut.random_bytes()), None
        else:
            data, kind = t.next_input()
        res["inputs"] += 1
        try:
            if kind is None:
                t.run_one(data)
            else:
                t.run_one(data, kind)
        except engine.InvariantBroken as exc:
            fail(exc, data)
            if name != "codec":
                t.close()
                t = make()
        if name != "codec" and i % check_every == 0:
            res["checks"] += 1
            try:
                t.check_alive()
            except engine.InvariantBroken as exc:
                fail(exc, b"")
            if name == "host":  # a fresh pair: bounded state, a fresh start each episode
                t.close()
                t = make()
        now = time.perf_counter()
        if now - last > 30:
            last = now
            print(f"  {name}: {i:,} inputs, {i / (now - start):,.0f}/s, "
                  f"unhandled {res['unhandled']}, invariant {res['invariant']}", flush=True)
    if name != "codec":
        res["checks"] += 1
        try:
            t.check_alive()
        except engine.InvariantBroken as exc:
            fail(exc, b"")
        t.close()
    res["seconds"] = round(time.perf_counter() - start, 1)
    res["per_second"] = round(res["inputs"] / max(res["seconds"], 1e-9))
    return res


def run_live(n: int, seed: int, corpus, work: Path) -> dict:
    from tests.fuzz.live import check_live, fuzz_live, live_lab

    res = {"target": "live", "sent_router": 0, "sent_host": 0, "scapy": 0, "restarts": None,
           "log_errors": None, "problems": []}
    start = time.perf_counter()
    with live_lab(work / "live") as (lab, agents):
        st = fuzz_live(lab, agents, corpus, random.Random(seed), n_router=n, n_host=n)
        check_live(lab, agents, st)
        errors = 0
        for name in agents.procs:
            try:
                text = agents.log_path(name).read_text(errors="replace")
            except OSError:
                continue
            errors += text.count("Traceback") + text.count("error answering")
        res.update(sent_router=st.sent_router, sent_host=st.sent_host, scapy=st.scapy,
                   send_errors=st.send_errors, restarts=st.restarts, log_errors=errors,
                   problems=st.problems, pids=st.pids_before)
    res["seconds"] = round(time.perf_counter() - start, 1)
    return res


def run_atheris(runs: int, work: Path) -> list[dict]:
    out = []
    harness = REPO / "tests" / "fuzz" / "atheris_harness.py"
    for target in ("codec", "router", "host"):
        d = work / f"atheris-{target}"
        d.mkdir()
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, str(harness), target, f"-atheris_runs={runs}",
                            "-max_len=1500", str(d / "corpus")], capture_output=True,
                           text=True, cwd=d, check=False)
        cov = [ln for ln in r.stderr.splitlines() if " cov: " in ln]
        out.append({"target": f"atheris-{target}", "runs": runs, "exit": r.returncode,
                    "crashes": len(list(d.glob("crash-*"))),
                    "coverage": cov[-1].split(" cov: ")[1].split()[0] if cov else None,
                    "seconds": round(time.perf_counter() - t0, 1)})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=1_000_000, help="inputs per target")
    ap.add_argument("--targets", default="codec,router,host",
                    help="comma-separated: codec, router, host ('none': only live/atheris)")
    ap.add_argument("--check-every", type=int, default=50_000)
    ap.add_argument("--live", type=int, default=20_000,
                    help="datagrams at each live agent (0: no live part; needs root)")
    ap.add_argument("--atheris-runs", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("fuzz-out"))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    logging.disable(logging.WARNING)  # the cores log every bad datagram
    a.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="h5-fuzz-"))
    results = []
    try:
        corpus = engine.default_corpus()
        print(f"corpus: {len(corpus.router_dhcp)} DHCPv6 to a router, {len(corpus.router_icmp)} "
              f"RS, {len(corpus.host_dhcp)} DHCPv6 to a host, {len(corpus.host_icmp)} RA",
              flush=True)
        for name in [t for t in a.targets.split(",") if t and t != "none"]:
            print(f"{name}: {a.inputs:,} inputs ...", flush=True)
            results.append(run_target(name, a.inputs, a.check_every, a.seed, corpus, work,
                                      a.out))
        if a.live:
            print(f"live: {a.live:,} datagrams at the router and at the host ...", flush=True)
            logging.disable(logging.NOTSET)
            logging.getLogger().setLevel(logging.ERROR)
            try:
                results.append(run_live(a.live, a.seed, corpus, work))
            except Exception as exc:  # noqa: BLE001 - reported as a problem of the run
                results.append({"target": "live", "sent_router": 0, "sent_host": 0,
                                "restarts": None, "log_errors": 0,
                                "problems": [f"live part failed: {exc!r}"]})
        if a.atheris_runs:
            results += run_atheris(a.atheris_runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bad = 0
    if a.json:
        print(json.dumps(results, indent=2, default=str))
    print(f"\n{'target':<16}{'inputs tried':>14}{'per s':>9}{'unhandled exc.':>16}"
          f"{'invariant':>11}{'checks':>8}{'restarts':>10}")
    for r in results:
        if r["target"] == "live":
            bad += (r["restarts"] or 0) + r["log_errors"] + len(r["problems"])
            print(f"{'live agents':<16}{r['sent_router'] + r['sent_host']:>14,}{'':>9}"
                  f"{r['log_errors']:>16}{len(r['problems']):>11}{1:>8}"
                  f"{r['restarts'] if r['restarts'] is not None else '?':>10}")
            for p in r["problems"]:
                print(f"    {p}")
        elif r["target"].startswith("atheris"):
            bad += r["crashes"] + (r["exit"] != 0)
            print(f"{r['target']:<16}{r['runs']:>14,}{'':>9}{r['crashes']:>16}{'':>11}{'':>8}"
                  f"{'':>10}  cov {r['coverage']}")
        else:
            bad += r["unhandled"] + r["invariant"]
            print(f"{r['target']:<16}{r['inputs']:>14,}{r['per_second']:>9,}{r['unhandled']:>16}"
                  f"{r['invariant']:>11}{r['checks']:>8}{'-':>10}")
            for e in r["examples"]:
                print(f"    {e}")
    print("\nall clean" if not bad else f"\n{bad} problem(s)")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
