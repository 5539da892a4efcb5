#!/usr/bin/env python3
"""setsc() speed, and time-to-prefix of odm and of real DHCPv6-PD clients.

Everything runs in two network namespaces joined by a veth pair (built by
tests/interop/probe_netns.py, removed at the end): ``srv`` holds the server
(the odm router agent, ``odm router run``, or ISC Kea), ``cli`` the client
(the odm host agent, ``odm host run``, or dhcpcd / WIDE dhcp6c).

Figures (all from the same run, on the same veth pair):

1. **setsc() with an address held** (targets, issue 17: p50 ≤ 50 µs on the
   same socket, ≤ 150 µs on a fresh one): an application in
   the host's namespace calls ``host.api.setsc(sock, NON_PERSISTENT)`` while a
   NON_PERSISTENT address is held (a boot type), ON_NET clear —
   ``same socket``: again and again on one socket (its API connection is
   reused); ``fresh socket``: a new socket each time (a new API connection:
   connect, SCM_RIGHTS, SO_PEERCRED, then the answer).
2. **setsc() with ON_NET** (target p50 ≤ 1.3 ms, the host's part ≤ 0.3 ms): a new socket,
   ``set_addr_preferences(IPV6_REQUIRE_SRC_ON_NET)``,
   ``setsc(SESSION_LASTING)`` and ``bind()`` to the returned address (the
   socket is then closed and its prefix released, untimed) — so the figure
   includes the Request /
   Reply over the veth, the router's lease-store commit, the address put in
   the kernel by netlink and the kernel accepting it as a local address. Against
   the odm router agent with its lease store fsync'd per commit
   (``lease_db_synchronous = "full"``, the default: durable before the Reply
   leaves) and with ``"normal"`` (WAL, survives an agent crash), and against
   Kea configured per docs/kea-typed.md.
3. **time-to-prefix** of a DHCPv6-PD client started from nothing against Kea
   (four-message exchange, Kea's rapid commit off): dhcpcd 9, WIDE dhcp6c and
   the odm host agent, ``--runs`` times each, against Kea as installed and
   against Kea adding Preference 255 to its Advertise (RFC 8415 §18.2.1: a client collects
   Advertises for the whole first retransmission time, 1 s, unless one has Preference 255; dhcp6c
   and odm do, dhcpcd does not). Taken from kernel timestamps of an AF_PACKET capture on the
   client's interface: ``start-up`` = process start → first Solicit (includes the RFC 8415 §18.2.1
   random delay of up to
   1 s that all three apply), ``wire`` = first Solicit → the Reply carrying the
   prefix, ``total`` = process start → that Reply.

Usage (root): ``python3 bench/setsc.py [--held N] [--fresh N] [--on-net N]
[--runs N] [--json]``. Latencies are printed in µs (p50 / p99 / mean of the
samples), time-to-prefix in ms (median and min over the runs).

CPU per setsc() (the machine may be shared: these say what a call costs
whatever else runs), in µs: the host agent's (all its threads,
``/proc/<pid>/task/*/schedstat``), the calling thread's (``time.thread_time``)
and, for ON_NET, the server's. Held and fresh: read before and after the
whole run, divided by the calls (a fresh socket's figures include creating
and closing it, and the agent ending its reference); reading the agent's
schedstat between calls slowed a held call by half. ON_NET: read just before and just after
every timed call (each sample then takes its Release untimed; the agent's
work after the answer, such as reading the kernel's address notification,
falls between samples and is not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# tests/ holds netnscheck, tests/interop the namespace helpers shared with the tests
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "interop")]

from host_kea import kea_plain_config, kea_typed_config, start_kea
from probe_netns import veth_pair
from router_pair import private_mounts

from bench._setsc_capture import Capture, Dumpcap, breakdown, prefix_reply
from lab.nsutil import call_in_netns_thread as in_netns

NP = 3  # MobilityType.NON_PERSISTENT
SL = 2  # MobilityType.SESSION_LASTING

ROUTER_TOML = """\
[router]
id = "bench"
lease_db = "{tmp}/leases.sqlite3"
lease_db_synchronous = "{sync}"
control_socket = "{tmp}/router.sock"
preference = 255
max_bindings_per_client = 100000

[limits]
client_rate = {{ count = 0, interval = 1.0 }}   # off: an ON_NET run is hundreds of messages

[[interface]]
name = "{iface}"
offered_types = ["fixed", "session-lasting", "non-persistent", "graceful-replacement"]
default_pool = "legacy"
  [interface.ra]
  adv_send_advertisements = true
  adv_managed_flag = false
  max_rtr_adv_interval = 30
  min_rtr_adv_interval = 10
    [[interface.ra.prefix]]
    prefix = "2001:db8:1::/64"
{pools}
"""
POOLS = {"fixed": "2001:db8:f000::/40", "session-lasting": "2001:db8:5000::/40",
         "non-persistent": "2001:db8:3000::/40", "graceful-replacement": "2001:db8:4000::/40",
         None: "2001:db8:8000::/40"}


def router_toml(tmp: Path, sync: str, iface: str) -> str:
    """The odm router agent's config: one pool per type and a legacy one."""
    pools = "".join(
        f'  [[interface.pd_pool]]\n  name = "{k or "legacy"}"\n'
        + (f'  mobility_type = "{k}"\n' if k else "")
        + f'  prefix = "{v}"\n  delegated_length = 56\n'
        for k, v in POOLS.items())
    return ROUTER_TOML.format(tmp=tmp, sync=sync, iface=iface, pools=pools)


# ------------------------------------------------------------------ helpers --
def stats_us(samples_ns: list[int]) -> dict:
    xs = sorted(samples_ns)
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return {"n": len(xs), "p50_us": round(statistics.median(xs) / 1e3, 1),
            "p99_us": round(q[98] / 1e3, 1), "mean_us": round(statistics.fmean(xs) / 1e3, 1),
            "min_us": round(xs[0] / 1e3, 1)}


# ---------------------------------------------------------- odm setsc() ------
def host_toml(pair, tmp: Path, **extra) -> Path:
    """RFC timers; a §14.1 bucket of 10000 messages per second, so a run of
    ON_NET samples is not paced at the default 20 per 20 s."""
    from host_kea import host_config_lines
    extra = {"rate_limit_count": 10000, "rate_limit_interval": 1.0, **extra}
    sock = tmp / "host.sock"
    text = host_config_lines(pair.cli_if, sock, tmp, **extra).replace(
        'timer_profile = "lab"\ntimer_scale = 0.1\n', 'timer_profile = "rfc"\n')
    path = tmp / "host.toml"
    path.write_text(text)
    return path


def start_host_agent(pair, tmp: Path, **extra):
    from host_kea import wait_api
    cfg = host_toml(pair, tmp, **extra)
    proc = pair.spawn(pair.cli_ns, [sys.executable, "-m", "odm", "host", "run", "--config",
                                    str(cfg), "--log-level", "warning"], tmp / "host.log")
    wait_api(proc, tmp / "host.sock", tmp / "host.log")
    return proc, tmp / "host.sock"


def wait_status(sock: Path, pred, timeout: float = 15.0) -> dict:
    from host_kea import wait_status as ws
    return ws(sock, pred, timeout)


def cpu_ns(pid: int | None) -> int:
    """CPU time (ns) of every thread of process ``pid`` so far (0: none)."""
    if pid is None:
        return 0
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as fh:
                total += int(fh.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended
    return total


class Cpu:
    """CPU (ns) of the agent, the calling thread and the server, added up
    over the timed calls only (:meth:`start` / :meth:`stop` around each)."""

    def __init__(self, agent: int | None, server: int | None) -> None:
        self.pids = (agent, server)
        self.sums = [0, 0, 0]
        self.marks = (0, 0, 0)

    def start(self) -> None:
        agent, server = cpu_ns(self.pids[0]), cpu_ns(self.pids[1])
        self.marks = (agent, time.thread_time_ns(), server)  # the caller's read last

    def stop(self) -> None:
        caller = time.thread_time_ns()  # first: reading /proc is not the call's
        now = (cpu_ns(self.pids[0]), caller, cpu_ns(self.pids[1]))
        for i in range(3):
            self.sums[i] += now[i] - self.marks[i]

    def per_call(self, n: int) -> dict:
        names = ("agent_cpu_us", "caller_cpu_us", "server_cpu_us")
        return {k: round(v / n / 1e3, 1) for k, v in zip(names, self.sums, strict=True)
                if k != "server_cpu_us" or self.pids[1] is not None}


def measure_setsc(sock_path: Path, held: int, fresh: int, on_net: int,
                  agent_pid: int | None = None, server_pid: int | None = None) -> dict:
    """Runs on a thread inside the host's namespace (sockets are created there).

    Held: NON_PERSISTENT (a boot type, so one is held). ON_NET:
    SESSION_LASTING, whose default policy releases the prefix when its last
    socket is done: after each sample the socket's reference is ended
    (``host.api.release``, what closing and dropping the socket does) and
    the sample waits (untimed) until that Release is answered, so no
    Release is in flight while the next sample runs and the host holds one
    prefix per type, as an ordinary host would."""
    from host.api import release, set_addr_preferences, setsc, status
    from odm_wire.constants import IPV6_REQUIRE_SRC_ON_NET

    out: dict = {}
    clock = time.perf_counter_ns
    if held:
        s0 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        setsc(s0, NP, path=sock_path)  # the API connection is open from here on
        lat = []
        cpu = Cpu(agent_pid, None)
        cpu.start()
        for _ in range(held):
            t0 = clock()
            setsc(s0, NP, path=sock_path)
            lat.append(clock() - t0)
        cpu.stop()
        out["held, same socket"] = stats_us(lat) | cpu.per_call(held)
        s0.close()
    if fresh:
        lat = []
        cpu = Cpu(agent_pid, None)
        cpu.start()
        for _ in range(fresh):
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            t0 = clock()
            setsc(s, NP, path=sock_path)
            lat.append(clock() - t0)
            s.close()
        cpu.stop()
        out["held, fresh socket"] = stats_us(lat) | cpu.per_call(fresh)
    if on_net:
        lat, addrs, stamps = [], set(), []
        cpu = Cpu(agent_pid, server_pid)
        for _ in range(on_net):
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            set_addr_preferences(s, IPV6_REQUIRE_SRC_ON_NET)
            cpu.start()
            w0 = time.time()
            t0 = clock()
            a = setsc(s, SL, path=sock_path)
            s.bind((str(a), 0))  # EADDRNOTAVAIL unless the kernel has it
            t1 = clock()
            cpu.stop()
            lat.append(t1 - t0)
            stamps.append((w0, w0 + (t1 - t0) / 1e9))
            addrs.add(a)
            release(s)
            s.close()
            end = time.monotonic() + 2
            while time.monotonic() < end and any(
                    ia["type"] == "session-lasting" for ia in status(sock_path)["ia_pds"]):
                time.sleep(0.002)
        if len(addrs) != on_net:
            raise RuntimeError(f"ON_NET gave {len(addrs)} distinct addresses in {on_net} calls")
        out["ON_NET + bind"] = stats_us(lat) | cpu.per_call(on_net)
        out["_stamps"] = stamps
    return out


def measure_with_capture(pair, tmp: Path, sock: Path, held: int, fresh: int,
                         on_net: int, agent_pid: int | None = None,
                         server_pid: int | None = None) -> dict:
    cap = Dumpcap(pair, pair.cli_ns, pair.cli_if, tmp / "on-net.pcapng") if on_net else None
    try:
        res = in_netns(pair.cli_ns, measure_setsc, sock, held, fresh, on_net, agent_pid,
                       server_pid)
    finally:
        msgs = cap.stop() if cap else []
    stamps = res.pop("_stamps", [])
    if on_net:
        res["ON_NET + bind"]["breakdown"] = breakdown(stamps, msgs)
    return res


def odm_router_phase(args, tmp: Path, sync: str, held: int, fresh: int) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    with veth_pair() as pair:
        (tmp / "router.toml").write_text(router_toml(tmp, sync, pair.srv_if))
        router = pair.spawn(pair.srv_ns, [sys.executable, "-m", "odm", "router", "run",
                                          "--config", str(tmp / "router.toml"),
                                          "--log-level", "warning"], tmp / "router.log")
        deadline = time.monotonic() + 10
        while not (tmp / "router.sock").exists():
            if time.monotonic() > deadline:
                raise RuntimeError((tmp / "router.log").read_text()[-2000:])
            time.sleep(0.02)
        host, sock = start_host_agent(pair, tmp, boot_types=["non-persistent"],
                                      first_solicit_delay=False)
        wait_status(sock, lambda s: any(a["type"] == "non-persistent"
                                        for a in s["addresses"]), timeout=30)
        return measure_with_capture(pair, tmp, sock, held, fresh, args.on_net, host.pid,
                                    router.pid)


def kea_phase(args, tmp: Path) -> dict:
    """ON_NET against Kea (docs/kea-typed.md), then time-to-prefix of each
    client against plain Kea, without and with Preference 255."""

    out: dict = {}
    tmp.mkdir(parents=True, exist_ok=True)
    with veth_pair() as pair:
        cfg = quiet(kea_typed_config(tmp, pair.srv_if))
        kea = start_kea(pair, tmp, cfg)
        host, sock = start_host_agent(pair, tmp, boot_types=["non-persistent"],
                                      top_level_type=True, first_solicit_delay=False)
        wait_status(sock, lambda s: any(a["type"] == "non-persistent" for a in s["addresses"]))
        out["setsc vs Kea"] = measure_with_capture(pair, tmp, sock, 0, 0, args.on_net,
                                                   host.pid, kea.pid)
        host.terminate()
        host.wait(10)
        kea.terminate()
        kea.wait(10)
        out["time-to-prefix"] = {}
        for label, pref in (("Kea", None), ("Kea, Preference 255", 255)):
            out["time-to-prefix"][label] = time_to_prefix(args, pair, tmp, pref)
    return out


def time_to_prefix(args, pair, tmp: Path, preference: int | None) -> dict:
    """Each client started ``args.runs`` times against plain Kea (four-message
    exchange; with ``preference`` Kea's Advertise carries that Preference)."""

    (tmp / "kea-leases6.csv").unlink(missing_ok=True)
    cfg = quiet(kea_plain_config(tmp, pair.srv_if))
    if preference is not None:
        # always-send: Preference is not in the clients' ORO
        cfg["Dhcp6"]["option-data"] = [{"name": "preference", "data": str(preference),
                                        "always-send": True}]
    kea = start_kea(pair, tmp, cfg)
    cap = Capture(pair.cli_ns, pair.cli_if)
    cap.start()
    clients = {}
    d = tmp / "dhcpcd"
    (d / "db").mkdir(parents=True, exist_ok=True)
    (d / "dhcpcd.conf").write_text(
        f"ipv6only\nnoipv6rs\nnohook resolv.conf\nrelease\n"
        f"interface {pair.cli_if}\n  ia_pd 1\n")
    clients["dhcpcd 9.4"] = private_mounts(
        {"/var/lib/dhcpcd": d / "db"},
        ["dhcpcd", "-f", str(d / "dhcpcd.conf"), "-c", "/bin/true", "-B", "-6", pair.cli_if])
    w = tmp / "dhcp6c"
    w.mkdir(exist_ok=True)
    (w / "dhcp6c.conf").write_text(
        f'interface {pair.cli_if} {{\n  send ia-pd 0;\n  script "/bin/true";\n}};\n'
        "id-assoc pd 0 {\n};\n")
    clients["WIDE dhcp6c"] = private_mounts(
        {"/var/lib/dhcpv6": w},
        ["dhcp6c", "-f", "-c", str(w / "dhcp6c.conf"), "-p", str(w / "pid"), pair.cli_if])
    o = tmp / "odmhost"
    o.mkdir(exist_ok=True)
    clients["odm host agent"] = [sys.executable, "-m", "odm", "host", "run", "--config",
                                 str(host_toml(pair, o)), "--log-level", "warning"]
    ttp: dict = {}
    try:
        for name, argv in clients.items():
            runs = []
            for i in range(args.runs):
                log = tmp / f"client-{name.split()[0]}-{preference}-{i}.log"
                for f in (d / "db").iterdir():  # a start from nothing: no lease kept
                    if f.name != "duid":
                        f.unlink()
                cap.reset()
                t0 = time.time()
                p = spawn_group(pair.cli_ns, argv, log)
                try:
                    got = None
                    end = time.monotonic() + 10
                    while got is None and time.monotonic() < end:
                        time.sleep(0.01)
                        got = prefix_reply(cap.dhcp6())
                finally:
                    stop_group(p)
                time.sleep(0.2)  # its Release answered
                wait_port_free(pair.cli_ns, 546)
                if got is None:
                    seen = [(round(t - t0, 3), type(m).__name__) for t, m in cap.dhcp6()]
                    raise RuntimeError(f"{name}: no prefix in 10 s (log {log}; "
                                       f"{len(cap.frames)} frames, DHCPv6: {seen})")
                sol, rep = got
                runs.append({"startup_ms": (sol - t0) * 1e3, "wire_ms": (rep - sol) * 1e3,
                             "total_ms": (rep - t0) * 1e3})
            ttp[name] = {k: {"median": round(statistics.median(r[k] for r in runs), 2),
                             "min": round(min(r[k] for r in runs), 2)}
                         for k in ("startup_ms", "wire_ms", "total_ms")}
    finally:
        cap.close()
        kea.terminate()
        kea.wait(10)
    return ttp


def spawn_group(ns: str, argv, log: Path) -> subprocess.Popen:
    """``argv`` in namespace ``ns`` as the leader of a new session and process
    group, so that :func:`stop_group` reaches every process it forks (dhcpcd's
    privilege-separation helpers outlive a SIGTERM'd parent otherwise)."""
    from lab.nsutil import enter_netns_fd, open_netns
    fd = open_netns(ns)
    try:
        with open(log, "wb") as fh:
            return subprocess.Popen(list(argv), stdout=fh, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=lambda: enter_netns_fd(fd),  # noqa: PLW1509
                                    pass_fds=(fd,))
    finally:
        os.close(fd)


def stop_group(p: subprocess.Popen) -> None:
    """SIGTERM ``p`` (the client releases), wait for it, then SIGTERM and at
    last SIGKILL whatever of its process group is left."""
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    end = time.monotonic() + 2
    while time.monotonic() < end:
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if p.poll() is None:
        p.wait(5)


def wait_port_free(ns: str, port: int, timeout: float = 10.0) -> None:
    """Wait until nothing in namespace ``ns`` holds UDP ``port`` (bind test)."""
    def free() -> bool:
        t = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            t.bind(("::", port))
            return True
        except OSError:
            return False
        finally:
            t.close()
    end = time.monotonic() + timeout
    while not in_netns(ns, free):
        if time.monotonic() > end:
            raise RuntimeError(f"UDP {port} still held in {ns} after {timeout} s")
        time.sleep(0.05)


def quiet(cfg: dict) -> dict:
    """Kea's log at INFO (the test configs log at DEBUG, which slows Kea)."""
    cfg["Dhcp6"]["loggers"][0].update(severity="INFO", debuglevel=0)
    return cfg


# ------------------------------------------------------------------- report --
def report(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    la = res.get("load_average")
    if la:
        con.print(f"load average at start {la['start'][0]:.2f}, at end {la['end'][0]:.2f} "
                  f"on {la['cpus']} CPUs (other work on the machine shows in every figure)")
    t = Table(title="setsc() latency and CPU per call (µs)")
    nums = ("n", "p50", "p99", "mean", "agent CPU", "caller CPU", "server CPU")
    for c in ("server", "case", *nums, "target"):
        t.add_column(c, justify="right" if c in nums else "left")
    for server, cases in res["setsc"].items():
        for case, s in cases.items():
            target = {"held, same socket": "≤ 50 µs p50", "held, fresh socket": "≤ 150 µs p50"
                      }.get(case, "≤ 1.3 ms p50")
            cpu = [f"{s[k]:.0f}" if k in s else "" for k in
                   ("agent_cpu_us", "caller_cpu_us", "server_cpu_us")]
            t.add_row(server, case, str(s["n"]), f"{s['p50_us']:.0f}", f"{s['p99_us']:.0f}",
                      f"{s['mean_us']:.0f}", *cpu, target)
    con.print(t)
    for server, cases in res["setsc"].items():
        b = cases.get("ON_NET + bind", {}).get("breakdown")
        if b:
            host = b["host_to_request_us"] + b["host_reply_to_return_us"]
            con.print(f"ON_NET breakdown, {server} (medians of {b['n']}): host until the "
                      f"Request is on the wire {b['host_to_request_us']} µs, server "
                      f"Request → Reply {b['server_request_to_reply_us']} µs, host from the "
                      f"Reply to setsc()+bind() returning {b['host_reply_to_return_us']} µs "
                      f"(host side {host} µs; target ≤ 300 µs)")
    t = Table(title="time-to-prefix against Kea 2.2, four-message exchange "
                    "(ms, median / min)")
    for c in ("server", "client", "start-up", "wire", "total"):
        t.add_column(c, justify="left" if c in ("server", "client") else "right")
    for server, clients in res["time-to-prefix"].items():
        for name, r in clients.items():
            t.add_row(server, name, *(f"{r[k]['median']:.2f} / {r[k]['min']:.2f}"
                                      for k in ("startup_ms", "wire_ms", "total_ms")))
    con.print(t)
    best = res["time-to-prefix"].get("Kea, Preference 255", {})
    for server, cases in res["setsc"].items():
        on = cases.get("ON_NET + bind")
        if not on:
            continue
        for name, r in best.items():
            if name == "odm host agent":
                continue
            con.print(f"ON_NET setsc()+bind p50, {server}: {on['p50_us'] / 1e3:.2f} ms; "
                      f"{name} wire time (Kea, Preference 255, median): "
                      f"{r['wire_ms']['median']:.2f} ms; ratio "
                      f"{on['p50_us'] / 1e3 / r['wire_ms']['median']:.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--held", type=int, default=2000, help="setsc() calls, address held")
    ap.add_argument("--fresh", type=int, default=500, help="... each on a fresh socket")
    ap.add_argument("--on-net", type=int, default=200, help="setsc() calls with ON_NET")
    ap.add_argument("--runs", type=int, default=5, help="client starts per client")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep configs and logs here (default: a temporary directory)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/setsc.py needs root (network namespaces)", file=sys.stderr)
        return 2
    import tempfile
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="odm-bench-setsc-") as td:
        tmp = args.workdir or Path(td)
        res = {"setsc": {}, "time-to-prefix": {}}
        res["setsc"]["odm router (sync full)"] = odm_router_phase(
            args, tmp / "full", "full", args.held, args.fresh)
        res["setsc"]["odm router (sync normal)"] = odm_router_phase(
            args, tmp / "normal", "normal", 0, 0)
        k = kea_phase(args, tmp / "kea")
        res["setsc"]["Kea (docs/kea-typed.md)"] = k["setsc vs Kea"]
        res["time-to-prefix"] = k["time-to-prefix"]
    res["load_average"] = {"start": load0, "end": os.getloadavg(), "cpus": os.cpu_count()}
    if args.workdir:
        (args.workdir / "results.json").write_text(json.dumps(res, indent=2))
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        report(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
