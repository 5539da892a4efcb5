#!/usr/bin/env python3
"""Regenerate every golden capture of ``pcaps/`` from the lab.

Run as root from the source tree (network namespaces; tcpdump, and dhcp6c,
dhclient, dhcpcd for the peer captures)::

    python3 pcaps/regenerate.py                 # all of them
    python3 pcaps/regenerate.py pd-renew ra-typed   # some
    python3 pcaps/regenerate.py --list

Each scenario builds a fresh lab (``lab.Lab``, namespaces ``h3g<hex>-*``),
starts odm's router agent(s) with ``pcaps/ar1.toml`` (and ``ar2.toml``) and a
fresh shared lease store, captures RS/RA and DHCPv6 on the host's ``mh0``, and
drives either odm's host agent (``pcaps/host.toml``) through the scripted
application :mod:`odm.pcaptools.setsc_app` — each setsc(), socket close and
move is recorded as an action — or a third-party DHCPv6 client. Afterwards
every capture must pass ``odm pcap check``; ``pcaps/golden.toml`` (the
manifest tests/replay reads: routers, actions before which frame) and the
table of ``pcaps/README.md`` are rewritten. The lab is torn down whatever
happens.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from lab import Lab
from odm.pcaptools.capture import read_capture
from odm.pcaptools.check import check_packets
from odm.pcaptools.conformance import Action
from odm.pcaptools.labrun import GoldenLab
from odm.pcaptools.packets import dissect_all


@dataclass
class Scenario:
    """``name`` (the pcap's stem), ``what`` it shows, the ``routers``, the
    ``host`` (``"odm"`` or a peer program), the replay sides, and ``steps``:
    ``("setsc", owner, type, on_net)``, ``("close", owner)``, ``("move",
    router)``, ``("wait", seconds)``, ``("answer", owner)`` (wait for the
    setsc() result)."""

    name: str
    what: str
    produce: str
    steps: list = field(default_factory=list)
    routers: tuple = ("ar1",)
    host: str = "odm"
    against: tuple = ("router", "host")
    settle: float = 0.4


TYPES = ("fixed", "session-lasting", "non-persistent", "graceful-replacement")
SCENARIOS = [
    Scenario("ra-typed", "RS from the host agent; ar1's RA with its on-link PIO typed "
             "NON_PERSISTENT (low three bits of the PIO flags)",
             "host agent started, no application", [("wait", 0.5)], against=("router",)),
    *[Scenario(f"pd-{t}", f"typed acquisition of {t.upper().replace('-', '_')}: Solicit, "
               "Advertise, Request, Reply; the type in the IAPREFIX of each",
               f"setsc({t}{', ON_NET' if t == 'non-persistent' else ''}) by one application",
               [("setsc", 1, t, t == "non-persistent"), ("answer", 1)]) for t in TYPES],
    Scenario("pd-noprefixavail", "GRACEFUL_REPLACEMENT twice from a pool of one /56: the "
             "second IA_PD comes back with Status NoPrefixAvail",
             "two applications call setsc(graceful-replacement) with ON_NET",
             [("setsc", 1, "graceful-replacement", True), ("answer", 1),
              ("setsc", 2, "graceful-replacement", True), ("answer", 2)]),
    Scenario("pd-renew", "SESSION_LASTING acquired (preferred 4 s, T1 2 s), then Renew "
             "and Reply at T1", "setsc(session-lasting), then 2.6 s of waiting",
             [("setsc", 1, "session-lasting", False), ("answer", 1), ("wait", 2.6)]),
    Scenario("pd-rebind-move", "SESSION_LASTING, GRACEFUL_REPLACEMENT and NON_PERSISTENT on "
             "ar1; the host moves to ar2 and Rebinds: SESSION_LASTING extended, "
             "GRACEFUL_REPLACEMENT kept 3 s (preferred 0) next to a new prefix, "
             "NON_PERSISTENT ended (lifetimes 0) and replaced",
             "three setsc() calls on ar1, then `Lab.move('mh', 'ar2')`; ar1 and ar2 share "
             "the lease store",
             [("setsc", 1, "session-lasting", False), ("answer", 1),
              ("setsc", 2, "graceful-replacement", False), ("answer", 2),
              ("setsc", 3, "non-persistent", True), ("answer", 3),
              ("move", "ar2"), ("wait", 1.0)], routers=("ar1", "ar2")),
    Scenario("pd-release", "SESSION_LASTING acquired, its only socket closed: Release "
             "and Reply (the host's release policy for SESSION_LASTING)",
             "setsc(session-lasting), then the application closes its socket",
             [("setsc", 1, "session-lasting", False), ("answer", 1), ("wait", 0.2),
              ("close", 1), ("wait", 0.3)]),
    Scenario("peer-dhcp6c", "WIDE dhcp6c (legacy PD client) with the odm router: Solicit, "
             "Advertise, Request, Reply from the legacy pool; Release on exit",
             "`dhcp6c -f` on mh0 with `send ia-pd 0`, stopped with SIGTERM",
             host="dhcp6c", against=("router",)),
    Scenario("peer-dhclient", "ISC dhclient -6 -P with the odm router: Solicit, Advertise, "
             "Request, Reply; Release from `dhclient -r`",
             "`dhclient -6 -P -d` on mh0, then `dhclient -6 -P -r`",
             host="dhclient", against=("router",)),
    Scenario("peer-dhcpcd", "dhcpcd 9 (ia_pd, noipv6rs) with the odm router: Solicit, "
             "Advertise, Request, Reply from the legacy pool; Release on exit",
             "`dhcpcd -6 -B` on mh0 with `ia_pd 1` and `release`, stopped with SIGTERM",
             host="dhcpcd", against=("router",)),
]


class Fail(RuntimeError):
    pass


def _wait_for(pred, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise Fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _count(path: Path, names: tuple[str, ...]) -> int:
    from odm.pcaptools.describe import message_name
    try:
        pkts = dissect_all(read_capture(path))
    except Exception:  # noqa: BLE001 - tcpdump may be mid-write
        return 0
    return sum(1 for p in pkts if p.message is not None and message_name(p.message) in names)


def run_odm_host(sc: Scenario, lab: Lab, gl: GoldenLab, pcap: Path) -> list[tuple[float, dict]]:
    cap = gl.capture(pcap)
    acts: list[tuple[float, dict]] = []
    try:
        gl.start_host()
        app = gl.app()
        try:  # the capture ends before the application (its exit releases)
            for st in sc.steps:
                if st[0] == "setsc":
                    acts.append((time.time(), {"do": "setsc", "owner": st[1], "type": st[2],
                                               "on_net": st[3]}))
                    app.setsc(st[1], st[2], st[3])
                elif st[0] == "answer":
                    r = app.result()
                    print(f"    setsc owner {r['owner']}: {r.get('address') or r.get('error')}")
                elif st[0] == "close":
                    acts.append((time.time(), {"do": "close", "owner": st[1]}))
                    app.close(st[1])
                    app.result("closed")
                elif st[0] == "move":
                    acts.append((time.time(), {"do": "move", "router": st[1]}))
                    lab.move("mh", st[1])
                elif st[0] == "wait":
                    time.sleep(st[1])
            time.sleep(sc.settle)
            lab.stop(cap)
        finally:
            app.stop()
    finally:
        lab.stop(cap)
    return acts


PEER_CONF = {
    "dhcp6c": "interface mh0 {\n  send ia-pd 0;\n};\nid-assoc pd 0 {\n};\n",
    "dhclient": "send dhcp6.oro 17;\n",
    "dhcpcd": "ipv6only\nnoipv6rs\nnohook resolv.conf\nrelease\nia_pd 1\n",
}
PEER_STATE = [Path("/var/lib/dhcpv6/dhcp6c_duid"), Path("/var/lib/dhcpcd/duid"),
              Path("/var/lib/dhcpcd/mh0-6.lease"), Path("/var/lib/dhcpcd/secret")]


def run_peer(sc: Scenario, lab: Lab, gl: GoldenLab, pcap: Path) -> list:
    w = gl.workdir
    conf = w / f"{sc.host}.conf"
    conf.write_text(PEER_CONF[sc.host])
    before = {p for p in PEER_STATE if p.exists()}
    log = gl.log(sc.host)
    if sc.host == "dhcp6c":
        argv = ["dhcp6c", "-f", "-D", "-c", str(conf), "-p", str(w / "dhcp6c.pid"), "mh0"]
    elif sc.host == "dhclient":
        argv = ["dhclient", "-6", "-P", "-d", "-v", "-cf", str(conf), "-lf",
                str(w / "dhclient.leases"), "-pf", str(w / "dhclient.pid"), "-sf", "/bin/true",
                "mh0"]
    else:
        argv = ["dhcpcd", "-6", "-B", "-d", "-f", str(conf), "-c", "/bin/true", "mh0"]
    from odm.pcaptools.livepeers import in_netns
    from odm.probetools.link import interface_info
    with in_netns(lab.netns("mh")):  # a client cannot bind to a tentative address
        if interface_info("mh0", wait=5.0).link_local is None:
            raise Fail("mh0 has no usable link-local address")
    cap = gl.capture(pcap)
    try:
        proc = lab.spawn("mh", argv, log)
        try:
            _wait_for(lambda: _count(pcap, ("Reply",)) >= 1, 20, f"{sc.host}'s Reply")
            time.sleep(0.3)
            if sc.host == "dhclient":
                with open(log, "ab") as fh:
                    lab.exec("mh", ["dhclient", "-6", "-P", "-r", "-v", "-cf", str(conf), "-lf",
                                    str(w / "dhclient.leases"), "-pf", str(w / "dhclient.pid"),
                                    "-sf", "/bin/true", "mh0"], timeout=20,
                             stdout=fh, stderr=subprocess.STDOUT)
            else:
                lab.stop(proc, timeout=10.0, sig=signal.SIGTERM)
            _wait_for(lambda: _count(pcap, ("Reply",)) >= 2, 10, f"{sc.host}'s Release answered")
            time.sleep(0.2)
        finally:
            lab.stop(proc, timeout=5.0)
    finally:
        lab.stop(cap)
        for p in PEER_STATE:  # leave the machine as it was
            if p.exists() and p not in before:
                p.unlink()
    return []


def frames_for(acts: list[tuple[float, dict]], pcap: Path) -> list[Action]:
    """Each action before the first frame captured after it."""
    frames = read_capture(pcap)
    out = []
    for t, a in acts:
        n = next((f.number for f in frames if f.time >= t), len(frames) + 1)
        out.append(Action.from_dict({"before_frame": n, **a}))
    return out


def regenerate(sc: Scenario, out_dir: Path, work: Path) -> tuple[list[Action], int]:
    prefix = "h3g" + secrets.token_hex(3)
    pcap = out_dir / f"{sc.name}.pcap"
    tmp = work / sc.name / f"{sc.name}.pcap"
    with Lab(prefix=prefix) as lab:
        gl = GoldenLab(lab, work / sc.name, HERE)
        try:
            for r in sc.routers:
                gl.start_router(r)
            time.sleep(0.6)  # the initial RAs are over
            acts = run_odm_host(sc, lab, gl, tmp) if sc.host == "odm" else \
                run_peer(sc, lab, gl, tmp)
        except Exception:
            for name in ("ar1", "ar2", "host", sc.host):
                if gl.log(name).exists():
                    print(f"--- {name} log ---\n{gl.log(name).read_text()[-1500:]}")
            raise
        finally:
            gl.stop_all()
    pkts = dissect_all(read_capture(tmp))
    faults = check_packets(pkts)
    if faults:
        raise Fail(f"{sc.name}: odm pcap check finds {len(faults)} fault(s): "
                   + "; ".join(f"#{f.frame} {f.rule}: {f.detail}" for f in faults[:5]))
    shutil.copyfile(tmp, pcap)
    return frames_for(acts, pcap), sum(1 for p in pkts if p.kind is not None)


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_action(a: Action) -> str:
    parts = []
    for k, v in a.as_dict().items():
        if isinstance(v, bool):
            parts.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, (int, float)):
            parts.append(f"{k} = {v}")
        else:
            parts.append(f"{k} = {_toml_str(str(v))}")
    return "{ " + ", ".join(parts) + " }"


def write_manifest(results: dict[str, tuple[Scenario, list[Action]]], out_dir: Path) -> None:
    lines = ["# Golden captures of pcaps/ (written by pcaps/regenerate.py; do not edit).",
             "# actions: what was done to the host before frame `before_frame` (1-based).", ""]
    for sc in SCENARIOS:
        if sc.name not in results:
            continue
        acts = results[sc.name][1]
        lines += ["[[capture]]", f"file = {_toml_str(sc.name + '.pcap')}",
                  f"what = {_toml_str(sc.what)}", f"produce = {_toml_str(sc.produce)}",
                  "routers = [" + ", ".join(_toml_str(r) for r in sc.routers) + "]",
                  f"host = {_toml_str(sc.host)}",
                  "against = [" + ", ".join(_toml_str(s) for s in sc.against) + "]"]
        if acts:
            lines.append("actions = [")
            lines += [f"  {_toml_action(a)}," for a in acts]
            lines.append("]")
        lines.append("")
    (out_dir / "golden.toml").write_text("\n".join(lines))


def write_readme_table(out_dir: Path, results: dict) -> None:
    readme = out_dir / "README.md"
    text = readme.read_text() if readme.exists() else ""
    start, end = "<!-- captures:begin -->", "<!-- captures:end -->"
    rows = [start, "", "| capture | what it shows | how it is produced | replay against |",
            "|---|---|---|---|"]
    for sc in SCENARIOS:
        if not (out_dir / f"{sc.name}.pcap").exists():
            continue
        agents = " and ".join(sc.routers) + (" + odm host agent" if sc.host == "odm"
                                             else f" + {sc.host}")
        rows.append(f"| `{sc.name}.pcap` | {sc.what} | {agents}: {sc.produce} | "
                    f"{', '.join(sc.against)} |")
    rows += ["", end]
    block = "\n".join(rows)
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="scenarios to regenerate (default: all)")
    ap.add_argument("--list", action="store_true", help="list the scenarios")
    ap.add_argument("--out", type=Path, default=HERE, help="where the captures go")
    args = ap.parse_args()
    if args.list:
        for sc in SCENARIOS:
            print(f"{sc.name:22} {sc.what}")
        return 0
    if os.geteuid() != 0:
        print("regenerate.py needs root (network namespaces, tcpdump)", file=sys.stderr)
        return 2
    chosen = [sc for sc in SCENARIOS if not args.names or sc.name in args.names]
    unknown = set(args.names) - {sc.name for sc in SCENARIOS}
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    from odm.pcaptools.golden import ManifestError, load_manifest
    results: dict[str, tuple[Scenario, list[Action]]] = {}
    try:  # keep the entries of captures not regenerated now
        for g in load_manifest(args.out):
            sc = next((s for s in SCENARIOS if s.name == g.name), None)
            if sc is not None:
                results[sc.name] = (sc, list(g.actions))
    except ManifestError:
        pass
    failed = 0
    with tempfile.TemporaryDirectory(prefix="odm-golden-") as work:
        for sc in chosen:
            print(f"{sc.name}: {sc.what}")
            try:
                acts, n = regenerate(sc, args.out, Path(work))
            except Exception as exc:  # noqa: BLE001 - report and go on with the others
                print(f"  FAILED: {exc}")
                failed += 1
                continue
            results[sc.name] = (sc, acts)
            print(f"  {sc.name}.pcap: {n} DHCPv6/ND packets, "
                  f"{len(acts)} action(s), odm pcap check clean")
    write_manifest(results, args.out)
    write_readme_table(args.out, results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
