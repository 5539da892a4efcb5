#!/usr/bin/env python3
"""DHCPv6-PD server speed: the odm router agent against ISC Kea, same load.

Both servers run one after the other in the same pair of network namespaces
(tests/interop/router_pair.py: a veth between ``rtr`` and ``cli``), with the
same pool (2001:db8:8000::/36 split into /56), the same lifetimes, Rapid
Commit off, and a fresh lease database each run: Kea 2.x ``kea-dhcp6``
(memfile, ``persist: true``, logging at WARN) and ``odm router run``
(SQLite WAL, logging at WARNING, routes of every delegated prefix installed
in the kernel — Kea installs none). The odm agent runs twice: with
``lease_db_synchronous = "normal"`` (a commit survives the agent crashing,
like Kea's memfile, which writes each lease to its CSV file without fsync)
and ``"full"`` (fsync per commit: survives a power loss too).

The load is Kea's own ``perfdhcp -6 -e prefix-only`` (Solicit/Advertise/
Request/Reply, a new client for every exchange):

* **paced**: ``-r RATE`` for ``--duration`` seconds;
* **saturating**: ``-r SAT_RATE`` (far above what either server does) for
  ``--duration`` seconds.

Runs are interleaved (Kea, odm, Kea, odm ... ``--repeat`` times) because the
machine may be shared. Printed per run, then the best run per server and
load: completed 4-way exchanges per second (Request/Reply pairs received by
perfdhcp over the sending period), drops of each half, average latency of
each half (ms), and the server's CPU time per completed exchange (user +
system of the whole process, from /proc; the system part apart: the kernel's
share, sockets and routes); then the ratio odm / Kea.

Then, at scale (``--bindings``, default 100000): each server is filled with
that many bindings by perfdhcp at a paced rate, its peak RSS (VmHWM) is read,
it is stopped (SIGTERM) and started again on the same lease file, and the
time from the start of the process to its first answer (an Advertise to a
Solicit sent every 10 ms) is printed, with the peak RSS of the restarted
process (read once its resident set has stopped changing for 2 s: odm
re-installs its routes after it answers); "peak RSS" is the larger of the two.

With ``--store postgresql`` both servers keep their leases in one real
PostgreSQL server instead (tests/pg.py: initdb in a temporary directory,
reached by its Unix socket from the servers' namespace): Kea with its
``postgresql`` lease backend (schema from ``kea-admin db-init pgsql``), odm
with ``[lease_store] type = "postgresql"`` (schema from ``odm router db
init``'s code), a fresh database per run; the table then also shows the
database server's CPU (all its processes) per completed exchange. The server
runs with its defaults (``fsync`` and ``synchronous_commit`` on): a commit
is durable for both.

Usage (root; needs kea-dhcp6, perfdhcp; for --store postgresql also
postgresql and kea's PostgreSQL backend)::

    python3 bench/router_vs_kea.py [--rate 2000] [--sat-rate 10000] [--duration 10]
                                   [--repeat 3] [--bindings 100000] [--fill-rate 2000]
                                   [--skip-scale] [--sync normal,full]
                                   [--store sqlite|postgresql] [--json FILE]
                                   [--odm-only] [--profile DIR] [--keep-work]

The lease files, configs and logs of the runs are removed at the end unless
``--keep-work`` is given or a run failed (then their folder is printed).
``--odm-only`` runs the odm agent alone; ``--profile DIR`` records each odm
run with py-spy (``pip install py-spy``) as collapsed stacks in DIR, for a
flame graph or a count of where the agent's CPU goes.

With ``--json FILE`` the same figures are also written to FILE (the best run
per server and load with its median CPU per exchange, every run, and the scale
figures), for bench/summary.py.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # netnscheck, shared by the tests
sys.path.insert(0, str(REPO / "tests" / "interop"))

from router_pair import RouterPair, router_pair, write_config

from lab.nsutil import call_in_netns_thread as in_netns

POOL_PREFIX, POOL_LEN, DELEGATED = "2001:db8:8000::", 36, 56
PREF, VALID = 3000, 4000


# ------------------------------------------------------------------ servers --
class Server:
    name = "?"

    def __init__(self, pair: RouterPair, workdir: Path) -> None:
        self.pair = pair
        self.dir = workdir
        self.proc = None

    def fresh(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)

    def start(self) -> float:
        """Start; return seconds from spawn to the first answered Solicit."""
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None:
            self.pair.stop(self.proc, signal.SIGTERM, timeout=60)
            self.proc = None

    def peak_rss_mib(self) -> float:
        return rss(self.proc.pid)

    def bindings(self) -> int:
        raise NotImplementedError


class Kea(Server):
    name = "kea"

    def __init__(self, pair: RouterPair, workdir: Path, pg: PgBench | None = None) -> None:
        super().__init__(pair, workdir)
        self.pg = pg
        if pg is not None:
            self.name = "kea (pgsql)"

    def fresh(self) -> None:
        super().fresh()
        if self.pg is not None:
            self.pg.fresh_kea("kea")

    def lease_database(self) -> dict:
        if self.pg is not None:
            return self.pg.kea_lease_database("kea")
        return {"type": "memfile", "persist": True,
                "name": str(self.dir / "kea-leases6.csv"), "lfc-interval": 0}

    def config(self) -> dict:
        return {"Dhcp6": {
            "interfaces-config": {"interfaces": [self.pair.rtr_if]},
            "lease-database": self.lease_database(),
            "server-id": {"type": "LL", "htype": 1, "identifier": "020000000101",
                          "persist": False},
            "renew-timer": PREF // 2, "rebind-timer": PREF * 4 // 5,
            "preferred-lifetime": PREF, "valid-lifetime": VALID,
            "subnet6": [{"id": 1, "subnet": "2001:db8:1::/64", "interface": self.pair.rtr_if,
                         "rapid-commit": False,
                         "pd-pools": [{"prefix": POOL_PREFIX, "prefix-len": POOL_LEN,
                                       "delegated-len": DELEGATED}]}],
            "loggers": [{"name": "kea-dhcp6", "severity": "WARN",
                         "output_options": [{"output": str(self.dir / "kea.log")}]}]}}

    def start(self) -> float:
        cfg = self.dir / "kea-dhcp6.conf"
        cfg.write_text(json.dumps(self.config()))
        env = {"KEA_PIDFILE_DIR": str(self.dir), "KEA_LOCKFILE_DIR": str(self.dir)}
        t0 = time.monotonic()
        self.proc = self.pair.spawn(self.pair.rtr_ns, ["kea-dhcp6", "-c", str(cfg)],
                                    self.dir / "kea.out", env)
        return first_answer(self.pair, self.proc, t0)

    def bindings(self) -> int:
        if self.pg is not None:
            return self.pg.count("kea", "SELECT count(*) FROM lease6 WHERE expire > now()")
        # memfile CSV: one line per lease state change; count live prefixes
        live: dict[str, int] = {}
        with open(self.dir / "kea-leases6.csv") as fh:
            next(fh)
            for line in fh:
                f = line.split(",")
                live[f[0]] = int(f[3])
        now = time.time()
        return sum(1 for exp in live.values() if exp > now)


class Odm(Server):
    def __init__(self, pair: RouterPair, workdir: Path, sync: str,
                 pg: PgBench | None = None) -> None:
        super().__init__(pair, workdir)
        self.sync = sync
        self.pg = pg
        self.name = "odm (pgsql)" if pg is not None else f"odm ({sync})"

    def fresh(self) -> None:
        super().fresh()
        if self.pg is not None:
            self.pg.fresh_odm("odmb")

    def start(self) -> float:
        cfg = write_config(self.dir / "router.toml", self.pair.rtr_if, self.dir,
                           sync=self.sync, rapid=False, pref=PREF, valid=VALID,
                           legacy_pool=f"{POOL_PREFIX}/{POOL_LEN}", legacy_len=DELEGATED,
                           scale=1, max_ra=600, min_ra=200)
        if self.pg is not None:
            text = "".join(line for line in cfg.read_text().splitlines(keepends=True)
                           if not line.startswith("lease_db"))
            cfg.write_text(text + "\n[lease_store]\ntype = \"postgresql\"\n"
                           f"conninfo = \"{self.pg.conninfo('odmb')}\"\n")
        t0 = time.monotonic()
        self.proc = self.pair.spawn(
            self.pair.rtr_ns, [sys.executable, "-m", "odm", "router", "run", "--config",
                               str(cfg), "--log-level", "warning"], self.dir / "router.log",
            env={"PYTHONPATH": str(REPO)})
        return first_answer(self.pair, self.proc, t0)

    def stop(self) -> None:
        super().stop()
        # the next run of the same pair must not find our socket file
        (self.dir / "router.sock").unlink(missing_ok=True)

    def bindings(self) -> int:
        from router.io.control import request
        st = request(self.dir / "router.sock", "status", timeout=60, limit=0)["status"]
        return sum(p["assigned-pds"] for i in st["interfaces"] for p in i["pools"])


class PgBench:
    """One PostgreSQL server for both (tests/pg.py), a fresh database per run."""

    def __init__(self) -> None:
        from pg import PASSWORD, ROLE, PgServer, find_bindir
        bindir, why = find_bindir()
        if bindir is None:
            raise RuntimeError(why)
        self.role, self.password = ROLE, PASSWORD
        self.srv = PgServer(bindir)
        self.srv.start()
        # tests/pg.py runs without fsync; a benchmark of durable commits needs it
        with self.srv.admin() as a:
            a.execute("ALTER SYSTEM SET fsync = on")
            a.execute("ALTER SYSTEM SET full_page_writes = on")
            a.execute("SELECT pg_reload_conf()")

    def _recreate(self, db: str) -> None:
        with self.srv.admin() as a:
            a.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            a.execute(f"CREATE DATABASE {db} OWNER {self.role}")

    def fresh_kea(self, db: str) -> None:
        import subprocess
        self._recreate(db)
        subprocess.run(["kea-admin", "db-init", "pgsql", "-u", self.role, "-p", self.password,
                        "-n", db, "-h", str(self.srv.sockdir), "-P", str(self.srv.port)],
                       check=True, capture_output=True, text=True)

    def fresh_odm(self, db: str) -> None:
        from router.pgstore import init_schema
        self._recreate(db)
        with self.srv.admin(db) as a:
            a.execute(f"SET ROLE {self.role}")
            init_schema(a)

    def kea_lease_database(self, db: str) -> dict:
        return {"type": "postgresql", "name": db, "host": str(self.srv.sockdir),
                "port": self.srv.port, "user": self.role, "password": self.password}

    def conninfo(self, db: str) -> str:
        return f"host={self.srv.sockdir} port={self.srv.port} dbname={db} user={self.role}"

    def count(self, db: str, sql: str) -> int:
        with self.srv.admin(db) as a:
            return a.execute(sql).fetchone()[0]

    def cpu(self) -> float:
        """CPU seconds of the whole server so far: the postmaster, its live
        children, and the children it reaped (cutime/cstime)."""
        pid = int((self.srv.data / "postmaster.pid").read_text().split()[0])
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        t = sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")
        for kid in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            try:
                t += cpu_seconds(int(kid))
            except (FileNotFoundError, ProcessLookupError):
                pass
        return t

    def stop(self) -> None:
        self.srv.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (all threads)."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds used so far by process ``pid`` (all threads)."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(f[11]) / os.sysconf("SC_CLK_TCK"), int(f[12]) / os.sysconf("SC_CLK_TCK")


def rss(pid: int, field: str = "VmHWM") -> float:
    """Peak resident set size (VmHWM; ``field="VmRSS"``: the current one) of
    ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def settled(pid: int, still: float = 2.0, limit: float = 60.0) -> None:
    """Wait until ``pid``'s resident set has not changed for ``still`` seconds
    (at most ``limit``): odm answers before it has re-installed the routes of
    its stored bindings, so a peak read at the first answer missed that work."""
    end = time.monotonic() + limit
    last, since = rss(pid, "VmRSS"), time.monotonic()
    while time.monotonic() < end and time.monotonic() - since < still:
        time.sleep(0.25)
        now = rss(pid, "VmRSS")
        if now != last:
            last, since = now, time.monotonic()


def py_spy(pid: int, out: Path, duration: float):
    """Start ``py-spy record`` on ``pid`` for ``duration`` seconds, writing
    collapsed stacks of the threads on the CPU to ``out`` (``--nonblocking``:
    the process is not paused, its CPU figure stays honest; no native
    frames, which need pausing)."""
    import subprocess
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(["py-spy", "record", "--nonblocking", "--threads",
                             "--format", "raw", "--rate", "100", "-d", str(max(1, round(duration))),
                             "-o", str(out), "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ------------------------------------------------------------------ probing --
def first_answer(pair: RouterPair, proc, t0: float, timeout: float = 120.0) -> float:
    """Send a Solicit every 10 ms from the client side until an Advertise
    comes back; seconds since ``t0``."""
    from odm_wire import dhcp6 as d6

    def make():
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, 25, pair.cli_if.encode())  # SO_BINDTODEVICE
        s.bind(("::", 546))
        return s, socket.if_nametoindex(pair.cli_if)
    s, idx = in_netns(pair.cli_ns, make)
    duid = d6.DuidLL(1, bytes.fromhex("02000000ff01"))
    s.settimeout(0.01)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            xid = random.randrange(1 << 24)
            msg = d6.encode_dhcp6(d6.Solicit(xid, (d6.ClientId(duid), d6.ElapsedTime(0),
                                                   d6.IAPD(1, 0, 0, ()))))
            s.sendto(msg, ("ff02::1:2", 547, 0, idx))
            end = time.monotonic() + 0.01
            while time.monotonic() < end:
                try:
                    data, _ = s.recvfrom(4096)
                except TimeoutError:
                    break
                if len(data) > 4 and data[0] == 2 and int.from_bytes(data[1:4], "big") == xid:
                    return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("server did not answer")
    finally:
        s.close()


# ----------------------------------------------------------------- perfdhcp --
def perfdhcp(pair: RouterPair, rate: int, *, period: float | None = None,
             num: int | None = None, clients: int = 10_000_000, seed: int = 1) -> dict:
    argv = ["perfdhcp", "-6", "-l", pair.cli_if, "-e", "prefix-only", "-r", str(rate),
            "-R", str(clients), "-s", str(seed), "-W", "2000000"]
    if period is not None:
        argv += ["-p", str(max(1, round(period)))]
    if num is not None:
        argv += ["-n", str(num)]
    t0 = time.monotonic()
    r = pair.run(pair.cli_ns, argv, timeout=3600)
    wall = time.monotonic() - t0
    if r.returncode not in (0, 3):  # 3: drops happened
        raise RuntimeError(f"perfdhcp failed ({r.returncode}): {r.stdout}{r.stderr}")
    res = parse_perfdhcp(r.stdout) | {"wall": wall}
    # completed exchanges per second of sending (perfdhcp's own "Rate" also
    # counts the -W wait at the end)
    sending = period if period is not None else (num / rate if num else wall)
    res["exchanges/s"] = res.get("rr received packets", 0) / sending
    return res


def parse_perfdhcp(out: str) -> dict:
    res: dict = {"rate": float("nan")}
    m = re.search(r"Rate: ([\d.]+) 4-way exchanges/second", out)
    if m:
        res["rate"] = float(m.group(1))
    cur = None
    for line in out.splitlines():
        m = re.match(r"\*\*\*Statistics for: (\S+)\*\*\*", line)
        if m:
            cur = {"SOLICIT-ADVERTISE": "sa", "REQUEST-REPLY": "rr"}.get(m.group(1))
            continue
        if cur and ":" in line:
            k, _, v = line.partition(":")
            k = k.strip()
            v = v.strip().split()[0] if v.strip() else ""
            if k in ("sent packets", "received packets", "drops", "rejected leases"):
                res[f"{cur} {k}"] = int(v)
            elif k == "avg delay":
                res[f"{cur} avg"] = float(v)
    return res


# --------------------------------------------------------------------- main --
def row(name: str, load: str, r: dict) -> str:
    return (f"{name:<14} {load:<11} {r['exchanges/s']:>9.0f} {r.get('sa drops', 0):>8} "
            f"{r.get('rr drops', 0):>8} {r.get('sa avg', float('nan')):>8.2f} "
            f"{r.get('rr avg', float('nan')):>8.2f} {r.get('rr rejected leases', 0):>5} "
            f"{r.get('cpu us/exch', float('nan')):>9.0f} "
            f"{r.get('sys us/exch', float('nan')):>9.0f} "
            f"{r.get('cpu %', float('nan')):>6.0f}"
            + (f" {r['db us/exch']:>9.0f}" if "db us/exch" in r else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=2000, help="paced exchanges/s")
    ap.add_argument("--sat-rate", type=int, default=10000,
                    help="saturating exchanges/s (above both servers; far above, perfdhcp "
                         "itself takes the CPU on a small machine)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    ap.add_argument("--bindings", type=int, default=100_000, help="bindings for the scale test")
    ap.add_argument("--fill-rate", type=int, default=2000, help="exchanges/s when filling")
    ap.add_argument("--repeat", type=int, default=3, help="runs per server and load")
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--sync", default="normal,full", help="odm lease_db_synchronous values")
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                    help="lease stores: Kea memfile vs odm SQLite, or both on one PostgreSQL")
    ap.add_argument("--keep-work", action="store_true",
                    help="keep the lease files, configs and logs (removed at the end "
                    "otherwise: a 1M run's are hundreds of MB)")
    ap.add_argument("--json", type=Path, default=None, metavar="FILE",
                    help="also write the figures to FILE as JSON")
    ap.add_argument("--odm-only", action="store_true",
                    help="run the odm agent only (no Kea runs, no ratios): to profile it")
    ap.add_argument("--profile", type=Path, default=None, metavar="DIR",
                    help="record each odm run with py-spy (pip install py-spy) into "
                         "DIR/<sync>-<load>-<run>.txt (collapsed stacks, native frames)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    for b in ("kea-dhcp6", "perfdhcp"):
        if shutil.which(b) is None:
            print(f"{b} not installed", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="odm-bench-"))
    pg = PgBench() if args.store == "postgresql" else None
    rc = 1
    try:
        rc = run(args, work, pg)
        return rc
    finally:
        if pg is not None:
            pg.stop()
        if args.keep_work or rc != 0:
            print(f"# lease files, configs and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path, pg: PgBench | None) -> int:
    print(f"# lease store: {args.store}")
    print(f"# odm router agent vs Kea {os.popen('kea-dhcp6 -v').read().strip()}, "
          f"{os.cpu_count()} CPUs, pool {POOL_PREFIX}/{POOL_LEN} -> /{DELEGATED}, "
          f"{args.duration:g} s per run")
    results: dict[tuple[str, str], list[dict]] = {}
    out: dict = {"config": {k: v for k, v in vars(args).items() if k != "json"},
                 "cpus": os.cpu_count(), "load_average_start": os.getloadavg(),
                 "runs": [], "best": [], "scale": []}
    try:
        return _run(args, work, pg, results, out)
    finally:
        out["load_average_end"] = os.getloadavg()
        if args.json is not None:
            args.json.write_text(json.dumps(out, indent=2, default=str))


def _run(args, work: Path, pg: PgBench | None, results: dict, out: dict) -> int:
    with router_pair(work / "pair", tag="h1b") as pair:
        if pg is not None:
            servers = [Kea(pair, work / "kea", pg), Odm(pair, work / "odm-pg", "normal", pg)]
        else:
            servers = [Kea(pair, work / "kea")] + [Odm(pair, work / f"odm-{s}", s)
                                                   for s in args.sync.split(",") if s]
        if args.odm_only:
            servers = servers[1:]
        if args.repeat > 0:
            print(f"{'server':<14} {'load':<11} {'exch/s':>9} {'SA drop':>8} {'RR drop':>8} "
                  f"{'SA ms':>8} {'RR ms':>8} {'rej':>5} {'CPU us/x':>9} {'sys us/x':>9} "
                  f"{'CPU %':>6}"
                  + (f" {'DB us/x':>9}" if pg is not None else ""))
            for rep in range(args.repeat):  # interleaved: load from elsewhere hits all alike
                for srv in servers:
                    for load, rate in (("paced", args.rate), ("saturating", args.sat_rate)):
                        srv.fresh()
                        srv.start()
                        spy = None
                        try:
                            if args.profile is not None and isinstance(srv, Odm):
                                spy = py_spy(srv.proc.pid, args.profile /
                                             f"{srv.sync}-{load}-{rep + 1}.txt", args.duration)
                            u0, s0 = cpu_split(srv.proc.pid)
                            d0 = pg.cpu() if pg is not None else 0.0
                            r = perfdhcp(pair, rate, period=args.duration, seed=rep + 1)
                            u1, s1 = cpu_split(srv.proc.pid)
                            cpu = u1 - u0 + s1 - s0
                            dbcpu = pg.cpu() - d0 if pg is not None else None
                        finally:
                            if spy is not None:
                                spy.wait(timeout=60)
                            srv.stop()
                        done = r.get("rr received packets", 0)
                        if dbcpu is not None:
                            r["db us/exch"] = 1e6 * dbcpu / done if done else float("nan")
                        r["cpu us/exch"] = 1e6 * cpu / done if done else float("nan")
                        r["sys us/exch"] = 1e6 * (s1 - s0) / done if done else float("nan")
                        r["cpu %"] = 100 * cpu / r["wall"]
                        results.setdefault((srv.name, load), []).append(r)
                        out["runs"].append({"server": srv.name, "load": load, **r})
                        print(row(srv.name, load, r), flush=True)
            if args.odm_only:
                return 0
            kea = servers[0].name
            print(f"\n# best of {args.repeat} (by exchanges/s); CPU us/x = server CPU time per "
                  "completed exchange (median)")
            best = {k: max(v, key=lambda r: r["exchanges/s"]) for k, v in results.items()}
            for (name, load), r in best.items():
                cpus = sorted(x["cpu us/exch"] for x in results[(name, load)])
                print(row(name, load, r | {"cpu us/exch": cpus[len(cpus) // 2]}))
                out["best"].append({"server": name, "load": load,
                                    **r, "cpu us/exch": cpus[len(cpus) // 2]})
            print()
            for srv in servers[1:]:
                for load in ("paced", "saturating"):
                    k, o = best[(kea, load)], best[(srv.name, load)]
                    print(f"ratio {srv.name} / kea, {load}: "
                          f"{o['exchanges/s'] / k['exchanges/s']:.2f}x exchanges/s; drops "
                          f"{o.get('sa drops', 0) + o.get('rr drops', 0)} vs "
                          f"{k.get('sa drops', 0) + k.get('rr drops', 0)}; RR latency "
                          f"{o.get('rr avg', 0):.2f} vs {k.get('rr avg', 0):.2f} ms")
        if args.skip_scale:
            return 0
        print(f"\n# scale: {args.bindings} bindings filled at {args.fill_rate}/s, "
              "then SIGTERM and restart on the same lease file")
        print(f"{'server':<14} {'bindings':>9} {'peak RSS MiB':>13} {'fill exch/s':>12} "
              f"{'restart->serving s':>19} {'RSS fill':>9} {'RSS restart':>12}")
        for srv in servers[:2]:
            srv.fresh()
            srv.start()
            try:
                # perfdhcp draws clients at random among -R: passes with other
                # seeds until about the target number of bindings is held
                n, rates = 0, []
                for seed in range(7, 12):
                    fill = perfdhcp(pair, args.fill_rate, num=args.bindings - n,
                                    clients=args.bindings * 4, seed=seed)
                    rates.append(fill["exchanges/s"])
                    n = srv.bindings()
                    if n >= 0.98 * args.bindings:
                        break
                fill["exchanges/s"] = sum(rates) / len(rates)
                peak = srv.peak_rss_mib()
            finally:
                srv.stop()
            t = srv.start()
            settled(srv.proc.pid)
            peak2 = srv.peak_rss_mib()
            srv.stop()
            print(f"{srv.name:<14} {n:>9} {max(peak, peak2):>13.1f} {fill['exchanges/s']:>12.0f} "
                  f"{t:>19.2f} {peak:>9.1f} {peak2:>12.1f}", flush=True)
            out["scale"].append({"server": srv.name, "bindings": n,
                                 "peak_rss_mib": max(peak, peak2),
                                 "peak_rss_fill_mib": peak, "peak_rss_restart_mib": peak2,
                                 "fill_exchanges/s": fill["exchanges/s"],
                                 "restart_to_first_answer_s": t})
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
