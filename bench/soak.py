"""Soak: the host moves between the lab's routers for T minutes while
applications open and close sockets of every type; resources must stay flat
and every setsc() answer must be right.

    python3 bench/soak.py                  # 10 minutes, 8 applications
    python3 bench/soak.py --minutes 2 --apps 4 --move-every 5 --json

Needs root (a lab: namespaces ``h5…-cn/ar1/ar2/mh``, removed at the end).
The lab has one mobile host, so "N hosts" is one host agent with ``--apps``
applications (``python -m lab.apps client``), one per type in turn, half of
them with ON_NET, all connected to an echo server in ``cn``.

Every ``--move-every`` seconds the host moves to the other router; after a
settle time (``--settle``) every application reconnects (closes its socket,
calls setsc() again, binds, connects to cn) and echoes a word, and one
application is killed and started afresh (its API connection closes under
the agent). A setsc() answer is **right** when the address lies in a
delegation pool of the type asked (either router's) and the connection made
from it echoes; **wrong** otherwise; a setsc() error
(EAI_REQUIREDIPFAILED/NOTSUPPORTED) or a connection that fails is counted on
its own; a refusal because of a router limit (``[limits]``,
``max_bindings_per_client``: ON_NET applications collect prefixes the host
keeps until their lifetimes end) is a right answer, counted as
"refused by a router limit".

Every ``--sample-every`` seconds, per agent (router agents ar1/ar2, host
agent): open fds and RSS; and in the namespaces: global addresses on mh0,
IPv6 routes in mh, IPv6 routes, odm routes (proto 0x4f), SRv6 routes
(seg6/seg6local encap) and IPv6 rules in each router, bindings in the shared
lease store. At the end the maximum of the last third of the samples is
compared with that of the second third (the first third is warm-up): a figure
that grew by more than its allowance (10 % + a few units) is a leak. Route
and rule counts of one router move with the host, so their sums over the
routers are judged.
Exit status 0 only if nothing leaked and no answer was wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import socket
import sqlite3
import sys
import tempfile
import time
from ipaddress import IPv6Address
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lab import Lab, LabConfig
from lab.agents import AgentSettings, DemoTimeout, LabAgents, pool_of, wait_for
from odm_wire.constants import MobilityType

STATE_DIR = Path(os.environ.get("ODM_LAB_STATE_DIR", "/run/odm-lab-test"))
RTPROT_ODM = 0x4F
SEG6_ENCAPS = (5, 6)  # LWTUNNEL_ENCAP_SEG6, LWTUNNEL_ENCAP_SEG6_LOCAL
PORT = 7000


def proc_figures(pid: int) -> tuple[int, int]:
    """(open fds, RSS in KiB) of ``pid``."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return fds, rss


def ns_figures(lab: Lab, node: str) -> dict:
    with lab.iproute(node) as ipr:
        routes = ipr.get_routes(family=socket.AF_INET6, table=254) + \
            ipr.get_routes(family=socket.AF_INET6, table=255)
        out = {
            "routes": sum(1 for r in routes if r.get_attr("RTA_TABLE") == 254),
            "odm-routes": sum(1 for r in routes if r["proto"] == RTPROT_ODM),
            "srv6-routes": sum(1 for r in ipr.get_routes(family=socket.AF_INET6)
                               if r.get_attr("RTA_ENCAP_TYPE") in SEG6_ENCAPS),
            "rules": len(ipr.get_rules(family=socket.AF_INET6)),
        }
        if node == "mh":
            idx = ipr.link_lookup(ifname="mh0")[0]
            out["addresses"] = sum(
                1 for a in ipr.get_addr(family=socket.AF_INET6, index=idx)
                if not IPv6Address(a.get_attr("IFA_ADDRESS")).is_link_local)
        return out


def sample(lab: Lab, agents: LabAgents, t0: float) -> dict:
    s: dict = {"t": round(time.monotonic() - t0, 1)}
    for name, p in agents.procs.items():
        if p.poll() is None:
            s[f"{name}.fds"], s[f"{name}.rss-kib"] = proc_figures(p.pid)
        else:
            s[f"{name}.exited"] = p.returncode
    mh = ns_figures(lab, "mh")
    s["mh.addresses"], s["mh.routes"] = mh["addresses"], mh["routes"]
    for r in lab.config.router_names:
        f = ns_figures(lab, r)
        for k in ("routes", "odm-routes", "srv6-routes", "rules"):
            s[f"{r}.{k}"] = f[k]
    try:
        with sqlite3.connect(f"file:{agents.lease_db}?mode=ro", uri=True, timeout=5) as db:
            s["store.bindings"] = db.execute("SELECT COUNT(*) FROM bindings").fetchone()[0]
    except sqlite3.Error:
        s["store.bindings"] = None
    return s


class Soak:
    def __init__(self, lab: Lab, agents: LabAgents, apps: int, rng: random.Random) -> None:
        self.lab, self.agents, self.rng = lab, agents, rng
        self.cn = str(lab.config.cn_address)
        self.pools = {t: [pool_of(r.pd_pool, t) for r in lab.config.routers]
                      for t in MobilityType}
        self.specs = []
        types = list(MobilityType)
        for i in range(apps):
            self.specs.append((f"app{i}", types[i % len(types)], i % 2 == 1))
        self.apps: dict = {}
        self.gen = 0
        self.counts = {"setsc": 0, "right": 0, "wrong": 0, "refused-by-limit": 0,
                       "setsc-error": 0,
                       "connect-error": 0, "echo-failed": 0, "app-restarts": 0}
        self.wrong: list = []
        self.errors: dict[str, int] = {}

    def start_app(self, name: str, t: MobilityType, on_net: bool):
        self.gen += 1
        args = ["client", "--type", t.cli_name, "--server", self.cn, "--port", str(PORT),
                "--api", str(self.agents.host_socket), "--timeout", "5"]
        if on_net:
            args.append("--on-net")
        app = self.agents.app(f"{name}-{self.gen}", args)
        self.apps[name] = (app, t, on_net)
        self.judge(name, app.expect(("connected", "setsc-error", "connect-error"), 10))

    def judge(self, name: str, ev: dict) -> bool:
        _, t, _ = self.apps[name]
        self.counts["setsc"] += 1
        if ev["event"] == "setsc-error":
            limit = "limit)" in str(ev.get("detail", ""))
            self.counts["refused-by-limit" if limit else "setsc-error"] += 1
            why = f"{t.cli_name}{' ON_NET' if self.apps[name][2] else ''}: {ev.get('error')}: " \
                  f"{str(ev.get('detail', ''))[:90]}"
            self.errors[why] = self.errors.get(why, 0) + 1
            return False
        if ev["event"] == "connect-error":
            self.counts["connect-error"] += 1
            return False
        a = IPv6Address(ev["src"])
        if not any(a in p for p in self.pools[t]):
            self.counts["wrong"] += 1
            self.wrong.append(f"{name} asked {t.cli_name}, got {a}")
            return False
        app = self.apps[name][0]
        word = secrets.token_hex(4)
        echo = app.command(f"ping {word}", "echo", 5)
        if echo.get("ok"):
            self.counts["right"] += 1
            return True
        self.counts["echo-failed"] += 1
        return False

    def round(self) -> None:
        for name in list(self.apps):
            app = self.apps[name][0]
            try:
                ev = app.command("reconnect", ("connected", "setsc-error", "connect-error"), 10)
            except DemoTimeout as exc:
                self.counts["setsc-error"] += 1
                self.wrong.append(f"{name}: {exc}"[:300])
                continue
            self.judge(name, ev)
        name = self.rng.choice(list(self.apps))
        app, t, on_net = self.apps[name]
        app.stop()
        self.counts["app-restarts"] += 1
        self.start_app(name, t, on_net)

    def stop(self) -> None:
        for app, _, _ in self.apps.values():
            app.stop()


#: per-router figures move with the host (the router it is attached to holds
#: the routes); their sums over the routers are judged instead
_PER_ROUTER = ("routes", "odm-routes", "srv6-routes", "rules")


def with_totals(s: dict, routers: list[str]) -> dict:
    out = dict(s)
    for k in _PER_ROUTER:
        vals = [s.get(f"{r}.{k}") for r in routers]
        if all(isinstance(v, int) for v in vals):
            out[f"routers.{k}"] = sum(vals)
    return out


def trend(samples: list[dict], routers: list[str]) -> dict:
    """Per figure: (max of the second third, max of the last third, flat?),
    the first third being warm-up. Flat: the last third's maximum is within
    10 % (+ 3 units, + 2 MiB for RSS) of the second third's. Per-router
    figures are shown (flat = None) but only their sums are judged."""
    n = len(samples)
    if n < 3:
        return {}
    samples = [with_totals(s, routers) for s in samples]
    mid, last = samples[n // 3: 2 * n // 3], samples[2 * n // 3:]
    out = {}
    for k in samples[-1]:
        if k == "t":
            continue
        a = [s[k] for s in mid if isinstance(s.get(k), (int, float))]
        b = [s[k] for s in last if isinstance(s.get(k), (int, float))]
        if not a or not b:
            continue
        ma, mb = max(a), max(b)
        slack = 2048 if k.endswith("rss-kib") else 3
        judged = not any(k == f"{r}.{f}" for r in routers for f in _PER_ROUTER)
        out[k] = (ma, mb, (mb <= ma * 1.10 + slack) if judged else None)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--apps", type=int, default=8)
    ap.add_argument("--move-every", type=float, default=8.0)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--sample-every", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = Path(tempfile.mkdtemp(prefix="h5-soak-"))
    lab = Lab(LabConfig(prefix=f"h5s{secrets.token_hex(3)}", state_dir=STATE_DIR))
    samples: list[dict] = []
    moves = 0
    soak = None
    try:
        lab.up()
        agents = LabAgents(lab, work, AgentSettings(offered=tuple(MobilityType)))
        agents.start_all()
        server = agents.cn_app("echo", ["server", "--port", str(PORT)])
        server.expect("listening", 10)
        wait_for(lambda: agents.host_addresses(MobilityType.SESSION_LASTING), 15,
                 "the host's first SESSION_LASTING prefix")
        soak = Soak(lab, agents, a.apps, rng)
        for name, t, on_net in soak.specs:
            soak.start_app(name, t, on_net)
        t0 = time.monotonic()
        end = t0 + a.minutes * 60
        next_sample = t0
        next_move = t0 + a.move_every
        print(f"soak: {a.minutes:g} min, {a.apps} apps, a move every {a.move_every:g} s, "
              f"lab {lab.prefix}", flush=True)
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                s = sample(lab, agents, t0)
                samples.append(s)
                next_sample += a.sample_every
                print(f"  t={s['t']:>6}s moves={moves:<4} " + " ".join(
                    f"{k}={v}" for k, v in s.items() if k != "t"), flush=True)
            if now >= next_move:
                target = "ar2" if lab.attached == "ar1" else "ar1"
                lab.move("mh", target)
                moves += 1
                next_move = now + a.move_every
                time.sleep(a.settle)
                continue
            soak.round()
            time.sleep(0.2)
        samples.append(sample(lab, agents, t0))
    finally:
        if soak is not None:
            soak.stop()
        lab.down()
    tr = trend(samples, list(lab.config.router_names))
    leaks = {k: v for k, v in tr.items() if v[2] is False}
    c = soak.counts if soak else {}
    result = {"minutes": a.minutes, "apps": a.apps, "moves": moves, "counts": c,
              "errors": soak.errors if soak else {},
              "wrong": soak.wrong[:20] if soak else [], "samples": samples,
              "trend": tr, "leaks": leaks}
    if a.json:
        print(json.dumps(result, indent=2, default=str))
    print(f"\nmoves {moves}; setsc answers {c.get('setsc')}: right {c.get('right')}, "
          f"refused by a router limit {c.get('refused-by-limit')} (EAI_REQUIREDIPFAILED, right), "
          f"wrong {c.get('wrong')}, other setsc errors {c.get('setsc-error')}, connect errors "
          f"{c.get('connect-error')}, echo failed {c.get('echo-failed')}; app restarts "
          f"{c.get('app-restarts')}")
    print(f"{'figure (max)':<24}{'2nd third':>12}{'last third':>12}  flat")
    for k, (mid, last, ok) in tr.items():
        verdict = "yes" if ok else "(moves with the host)" if ok is None else "NO"
        print(f"{k:<24}{mid:>12}{last:>12}  {verdict}")
    for w in result["wrong"]:
        print(f"  wrong: {w}")
    for why, n in sorted((soak.errors if soak else {}).items(), key=lambda x: -x[1]):
        print(f"  setsc error x{n}: {why}")
    return 0 if not leaks and not c.get("wrong") else 1


if __name__ == "__main__":
    sys.exit(main())
