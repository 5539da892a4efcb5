#!/usr/bin/env python3
"""A well-behaved application's setsc() while local users attack the host
agent.

Two network namespaces joined by a veth pair (tests/interop/probe_netns.py,
removed at the end): ``srv`` runs ``odm router run``, ``cli`` runs
``odm host run`` with the built-in policy and the RFC 8415 send budget (20
messages per 20 s), as an operator would, under ``RLIMIT_NOFILE`` 1024.

The application (uid 65533) calls, in a loop, ``setsc(NON_PERSISTENT)`` on a
fresh socket (an address is held: a boot type) and, every ``--on-net-every``
seconds, ``setsc(SESSION_LASTING)`` with ``IPV6_REQUIRE_SRC_ON_NET`` (a
Solicit/Request over the veth, each message under the host's §14.1 send
budget; the prefix is released when the socket closes). It runs once with the
host quiet and once while five attackers run,
each as its own unprivileged uid:

* **hoarding** (65534): ON_NET NON_PERSISTENT acquisitions as fast as the
  policy lets it, sockets closed at once (the prefixes are kept by the release
  policy);
* **token starvation** (65529): a stream of ON_NET GRACEFUL_REPLACEMENT
  acquisitions, each holding a socket, to take the DHCPv6 send budget;
* **pipelined-unread** (65532): 100 connections pipelining ``status``
  requests and never reading an answer;
* **1100 connections** (65531): opens 1100 API connections and holds them
  (``RLIMIT_NOFILE`` raised for it);
* **slowloris** (65530): 100 connections each sending one byte of a request
  every second, never a newline.

Printed: per phase the application's latency (p50 / p99 in ms) and failures
for each kind of call, and the host agent's RSS (before, the most seen while
sampling every 0.2 s, after). Targets: no failure, p99 within 5× the quiet
figure, RSS bounded.

Usage (root): ``python3 bench/local_attacks.py [--calls N] [--on-net-every K]
[--json]``. Bounded: each phase ends after ``--calls`` calls or
``--max-seconds``; every process it started is stopped and the namespaces
removed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "interop")]

APP_UID = 65533
ATTACKERS = {"hoarding": 65534, "starvation": 65529, "pipelined": 65532,
             "connections": 65531, "slowloris": 65530}


# ------------------------------------------------------------ in children --
def become(uid: int, nofile: int | None = None) -> None:
    """Drop to ``uid`` (after the imports: the interpreter may live where
    that uid cannot read)."""
    import host.api  # noqa: F401
    import odm_wire.constants  # noqa: F401
    if nofile:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def _api(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def attacker(kind: str, path: str, seconds: float) -> None:
    """Runs as an unprivileged uid inside the host's namespace."""
    from host.api import SetscError, set_addr_preferences, setsc
    from odm_wire.constants import IPV6_REQUIRE_SRC_ON_NET

    end = time.monotonic() + seconds
    held: list = []
    if kind in ("hoarding", "starvation"):
        t = 3 if kind == "hoarding" else 4  # NON_PERSISTENT / GRACEFUL_REPLACEMENT
        while time.monotonic() < end:
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            set_addr_preferences(s, IPV6_REQUIRE_SRC_ON_NET)
            try:
                setsc(s, t, path=path, timeout=5.0)
            except (SetscError, OSError):
                time.sleep(0.05)
            if kind == "hoarding":
                s.close()
            else:
                held.append(s)
                if len(held) > 64:
                    held.pop(0).close()
    elif kind == "pipelined":
        conns = []
        for _ in range(100):
            try:
                c = _api(path)
                c.setblocking(False)
                conns.append(c)
            except OSError:
                break
        line = b'{"op": "status", "id": 1}\n' * 64
        while time.monotonic() < end:
            for c in list(conns):
                try:
                    c.send(line)
                except BlockingIOError:
                    pass
                except OSError:
                    conns.remove(c)
            time.sleep(0.01)
    elif kind == "connections":
        conns = []
        for _ in range(1100):
            try:
                conns.append(_api(path))
            except OSError:
                time.sleep(0.001)
        while time.monotonic() < end:
            time.sleep(0.2)
    elif kind == "slowloris":
        conns = []
        for _ in range(100):
            try:
                conns.append(_api(path))
            except OSError:
                break
        payload = b'{"op": "status", "id": 1, "pad": "' + b"x" * 100000
        i = 0
        while time.monotonic() < end:
            for c in list(conns):
                try:
                    c.send(payload[i:i + 1] or b"x")
                except OSError:
                    conns.remove(c)
            i += 1
            time.sleep(1.0)


def application(path: str, calls: int, on_net_every: float, seconds: float) -> dict:
    """The well-behaved application: ``calls`` setsc(NON_PERSISTENT) on fresh
    sockets, 10 ms apart, and meanwhile (another thread) one ON_NET
    setsc(SESSION_LASTING) every ``on_net_every`` seconds."""
    from host.api import SetscError, set_addr_preferences, setsc
    from odm_wire.constants import IPV6_REQUIRE_SRC_ON_NET

    lat: dict[str, list[float]] = {"held": [], "on-net": []}
    fails: dict[str, list[str]] = {"held": [], "on-net": []}
    end = time.monotonic() + seconds
    done = threading.Event()

    def one(kind: str) -> None:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        if kind == "on-net":
            set_addr_preferences(s, IPV6_REQUIRE_SRC_ON_NET)
        t0 = time.perf_counter()
        try:
            setsc(s, 2 if kind == "on-net" else 3, path=path, timeout=10.0)
            lat[kind].append(time.perf_counter() - t0)
        except (SetscError, OSError) as exc:
            fails[kind].append(f"{type(exc).__name__}: {exc}")
        s.close()

    def on_net() -> None:
        while not done.wait(on_net_every) and time.monotonic() < end:
            one("on-net")
    t = threading.Thread(target=on_net)
    if on_net_every > 0:
        t.start()
    for _ in range(calls):
        if time.monotonic() > end:
            break
        one("held")
        time.sleep(0.01)
    while on_net_every > 0 and len(lat["on-net"]) + len(fails["on-net"]) < 5 and (
            time.monotonic() < end):
        time.sleep(0.1)  # at least a few ON_NET samples
    done.set()
    if on_net_every > 0:
        t.join()
    return {"latency": lat, "failures": fails}


# ------------------------------------------------------------- the parent --
def _spawn(ns: str, uid: int | None, argv: list[str], log: Path,
           nofile: int | None = None) -> subprocess.Popen:
    from lab.nsutil import enter_netns_fd, open_netns
    fd = open_netns(ns)

    if uid is not None:
        argv = [*argv, "--uid", str(uid)] + (["--nofile", str(nofile)] if nofile else [])

    def pre() -> None:
        enter_netns_fd(fd)
    try:
        with open(log, "wb") as fh:
            return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=str(ROOT),
                                    env={**os.environ, "PYTHONPATH": str(ROOT),
                                         "PYTHONDONTWRITEBYTECODE": "1"},
                                    preexec_fn=pre, pass_fds=(fd,))  # noqa: PLW1509
    finally:
        os.close(fd)


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _stats(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0}
    xs = sorted(xs)
    p99 = xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))]
    return {"n": len(xs), "p50_ms": round(statistics.median(xs) * 1e3, 2),
            "p99_ms": round(p99 * 1e3, 2)}


def run_phase(pair, tmp: Path, sock: Path, host_pid: int, args, attack: bool) -> dict:
    label = "attack" if attack else "quiet"
    procs = []
    if attack:
        for kind, uid in ATTACKERS.items():
            procs.append(_spawn(pair.cli_ns, uid, [sys.executable, __file__, "--attacker",
                                                   kind, "--sock", str(sock), "--seconds",
                                                   str(args.max_seconds + 60)],
                                tmp / f"attack-{kind}.log",
                                nofile=2048 if kind == "connections" else None))
        time.sleep(3.0)  # let the attacks take hold
    rss = {"before_kb": _rss_kb(host_pid), "max_kb": 0}
    cpu0, t0 = _cpu_s(host_pid), time.monotonic()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss["max_kb"] = max(rss["max_kb"], _rss_kb(host_pid))
            stop.wait(0.2)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out = tmp / f"app-{label}.json"
    app = _spawn(pair.cli_ns, APP_UID, [sys.executable, __file__, "--app", "--sock", str(sock),
                                        "--calls", str(args.calls), "--on-net-every",
                                        str(args.on_net_every), "--seconds",
                                        str(args.max_seconds), "--out", str(out)],
                 tmp / f"app-{label}.log")
    agent: dict = {}
    try:
        app.wait(args.max_seconds + 30)
        rss["agent_cpu_percent"] = round(100 * (_cpu_s(host_pid) - cpu0)
                                         / max(1e-3, time.monotonic() - t0), 1)
        from host.api import status
        q0 = time.monotonic()
        st = status(sock, timeout=60.0)
        agent_status_s = round(time.monotonic() - q0, 3)
        agent = {"api": {k: v for k, v in st.get("api", {}).items()
                         if isinstance(v, int) and v},
                 "policy": st.get("policy", {}).get("denied"),
                 "connections": len(st.get("connections", [])),
                 "root_status_seconds": agent_status_s}
    except Exception as exc:  # noqa: BLE001 - a figure, not a verdict
        agent = {"error": repr(exc)}
    finally:
        stop.set()
        t.join()
        for p in [app, *procs]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    rss["after_kb"] = _rss_kb(host_pid)
    try:
        res = json.loads(out.read_text())
    except (OSError, ValueError):
        raise RuntimeError((tmp / f"app-{label}.log").read_text()[-2000:]) from None
    return {"held": {**_stats(res["latency"]["held"]), "failures": len(res["failures"]["held"])},
            "on-net": {**_stats(res["latency"]["on-net"]),
                       "failures": len(res["failures"]["on-net"])},
            "failure_samples": (res["failures"]["held"] + res["failures"]["on-net"])[:5],
            "agent_rss": rss, "agent": agent}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000,
                    help="setsc() calls with an address held, 10 ms apart")
    ap.add_argument("--on-net-every", type=float, default=12.0,
                    help="seconds between the application's ON_NET calls")
    ap.add_argument("--max-seconds", type=float, default=90.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--attacker", help=argparse.SUPPRESS)
    ap.add_argument("--app", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sock", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--uid", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--nofile", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.out:
        Path(args.out).touch()
        os.chown(args.out, args.uid, args.uid)
    if args.uid is not None:
        become(args.uid, args.nofile)
    if args.attacker:
        attacker(args.attacker, args.sock, args.seconds)
        return 0
    if args.app:
        res = application(args.sock, args.calls, args.on_net_every, args.seconds)
        Path(args.out).write_text(json.dumps(res))
        return 0

    import tempfile

    from netnscheck import netns_available
    ok, why = netns_available()
    if not ok:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    from probe_netns import veth_pair

    from bench.setsc import router_toml, start_host_agent, wait_status
    tmp = Path(tempfile.mkdtemp(prefix="odm-attacks-"))
    os.chmod(tmp, 0o755)  # the applications' uids reach the API socket
    with veth_pair() as pair:
        try:
            (tmp / "router.toml").write_text(router_toml(tmp, "normal", pair.srv_if))
            pair.spawn(pair.srv_ns, [sys.executable, "-m", "odm", "router", "run", "--config",
                                     str(tmp / "router.toml"), "--log-level", "warning"],
                       tmp / "router.log")
            deadline = time.monotonic() + 15
            while not (tmp / "router.sock").exists():
                if time.monotonic() > deadline:
                    raise RuntimeError((tmp / "router.log").read_text()[-2000:])
                time.sleep(0.05)
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # as systemd's default
            try:
                host, sock = start_host_agent(pair, tmp, boot_types=["non-persistent"],
                                              first_solicit_delay=False,
                                              rate_limit_count=20, rate_limit_interval=20.0)
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            wait_status(sock, lambda s: any(a["type"] == "non-persistent"
                                            for a in s["addresses"]), timeout=30)
            result = {"quiet": run_phase(pair, tmp, sock, host.pid, args, attack=False),
                      "attack": run_phase(pair, tmp, sock, host.pid, args, attack=True)}
            result["agent_alive"] = host.poll() is None
        finally:
            pair.stop_all()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{'phase':8} {'call':8} {'n':>5} {'p50 ms':>9} {'p99 ms':>9} {'failures':>9}")
    for phase in ("quiet", "attack"):
        for kind in ("held", "on-net"):
            r = result[phase][kind]
            print(f"{phase:8} {kind:8} {r['n']:>5} {r.get('p50_ms', '-'):>9} "
                  f"{r.get('p99_ms', '-'):>9} {r['failures']:>9}")
    for phase in ("quiet", "attack"):
        m = result[phase]["agent_rss"]
        print(f"agent RSS {phase}: before {m['before_kb'] / 1024:.1f} MB, max "
              f"{m['max_kb'] / 1024:.1f} MB, after {m['after_kb'] / 1024:.1f} MB; "
              f"CPU {m.get('agent_cpu_percent')} %")
        print(f"agent {phase}: {json.dumps(result[phase]['agent'])}")
        for f in result[phase]["failure_samples"]:
            print(f"  {phase} failure: {f}")
    print(f"agent alive at the end: {result['agent_alive']}; logs in {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
