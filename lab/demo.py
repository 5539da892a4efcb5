"""``odm lab demo``: the spec's §4.2 message flow on real agents and sockets.

RFC 8653 (draft-ietf-dmm-ondemand-mobility-17) §4.2 walks one mobile host
through a move. The demo builds the lab (:mod:`lab.topology`), starts the
router agent in ``ar1`` and ``ar2`` (one shared lease store, SRv6 between
them, :mod:`router.dataplane`) and the host agent in ``mh``, then plays the
flow with real applications (``python -m lab.apps``) talking TCP to a server
in ``cn``:

====  =====================================================================
 1    attach to ar1: the network gives one SESSION_LASTING and one
      NON_PERSISTENT prefix (the host's boot types)
 2    app 1 asks NON_PERSISTENT → IPnp1
 3    app 2 asks NON_PERSISTENT → IPnp1 again (shared)
 4    app 3 asks SESSION_LASTING → IPsl1
 5    each opens a TCP connection to cn and exchanges bytes from its address
 6    the host moves to ar2
 7    ar2 gives a new NON_PERSISTENT prefix; IPnp1 is gone from the host
 8    apps 1 and 2 are told IPnp1 is gone, and reconnect on IPnp2
 9    app 3's connection on IPsl1 keeps exchanging bytes, no reset
10    a new app asks GRACEFUL_REPLACEMENT → EAI_REQUIREDIPNOTSUPPORTED
11    it retries SESSION_LASTING → IPsl1
====  =====================================================================

Scenario ``all-types`` offers all four types: a FIXED server application in
``mh`` and GRACEFUL_REPLACEMENT and SESSION_LASTING clients; after the move cn
opens an inbound connection to the FIXED address, the old GR address stays
usable during the grace and goes when it ends (timed), and a new GR address
serves new sockets; then the host moves back to ar1 and the SL connection and
the FIXED address still work.

Every step records what was expected and what was observed; the captures of
the host's link, each router's access link and the core link are written to
the pcap directory. :func:`run_demo` returns a :class:`DemoResult`; ``ok`` only
if every step matched. The lab is always taken down.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

from lab.agents import AgentSettings, App, DemoTimeout, LabAgents, pool_of, wait_for
from lab.config import LabConfig
from lab.kernel import resolve_dataplane
from lab.topology import Lab
from odm_wire.constants import MobilityType as MT
from router.dataplane import DataplaneUnavailable, unavailable

__all__ = ["SCENARIOS", "DemoResult", "Step", "captures_step", "leftovers", "run_demo",
           "tshark_problems"]

log = logging.getLogger(__name__)

SCENARIOS = ("4.2", "all-types")
SERVER_PORT = 7000
FIXED_PORT = 7001
CAPTURE_LINKS = ("access", "ar1-access", "ar2-access", "core")


@dataclass
class Step:
    """One checked step: ``expected`` and ``observed`` are short texts for people."""

    number: int
    name: str
    expected: str
    observed: str = ""
    ok: bool = False
    seconds: float = 0.0


@dataclass
class DemoResult:
    scenario: str
    steps: list[Step] = field(default_factory=list)
    pcaps: list[str] = field(default_factory=list)
    logs: str = ""
    error: str | None = None
    leftovers: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    #: the data plane the routers ran (as their status reports it) and the
    #: backends this kernel lacks, with why
    dataplane: str = ""
    dataplane_unavailable: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.steps) and all(s.ok for s in self.steps) \
            and not self.leftovers

    def to_json(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


class _Run:
    """Shared machinery of the scenarios: step bookkeeping and probes."""

    def __init__(self, lab: Lab, agents: LabAgents, result: DemoResult,
                 on_step: Callable[[Step], None] | None) -> None:
        self.lab = lab
        self.agents = agents
        self.result = result
        self.on_step = on_step
        self.apps: list[App] = []
        self.cn = str(lab.config.cn_address)

    def step(self, name: str, expected: str, fn: Callable[[], tuple[bool, str]]) -> bool:
        s = Step(len(self.result.steps) + 1, name, expected)
        t0 = time.monotonic()
        try:
            s.ok, s.observed = fn()
        except DemoTimeout as exc:
            s.ok, s.observed = False, str(exc)
        s.seconds = round(time.monotonic() - t0, 3)
        self.result.steps.append(s)
        if self.on_step:
            self.on_step(s)
        return s.ok

    def app(self, name: str, *args: str) -> App:
        a = self.agents.app(name, args)
        self.apps.append(a)
        return a

    def client(self, name: str, t: MT, *extra: str) -> App:
        return self.app(name, "client", "--type", t.cli_name, "--server", self.cn,
                        "--port", str(SERVER_PORT), "--api", str(self.agents.host_socket),
                        "--timeout", "4", *extra)

    def pool(self, router: str, t: MT) -> IPv6Network:
        return pool_of(self.lab.router(router).pd_pool, t)

    def in_pool(self, addr: str | None, router: str, t: MT) -> bool:
        return addr is not None and IPv6Address(addr) in self.pool(router, t)

    def held(self, t: MT) -> list[str]:
        return [a["address"] for a in self.agents.host_addresses(t)]

    def has_address(self, addr: str) -> bool:
        return any(a["address"] == addr for a in self.agents.host_addresses(None, usable=False))

    def stop_apps(self) -> None:
        for a in self.apps:
            a.stop()
        self.apps.clear()


def _attach(r: _Run, types: tuple[MT, ...]) -> dict[MT, str]:
    got: dict[MT, str] = {}

    def check():
        def ready():
            for t in types:
                h = [a for a in r.held(t) if r.in_pool(a, "ar1", t)]
                if not h:
                    return None
                got[t] = h[0]
            return True
        wait_for(ready, 15, "the boot prefixes")
        return True, ", ".join(f"{t.cli_name} {got[t]}" for t in types)
    r.step("attach to ar1", "one prefix of each boot type from ar1's pools: " +
           ", ".join(t.cli_name for t in types), check)
    return got


def _connect(r: _Run, app: App, t: MT, router: str, same_as: str | None = None
             ) -> tuple[bool, str]:
    ev = app.expect(("connected", "setsc-error", "connect-error"), 8)
    if ev["event"] != "connected":
        return False, f"{ev['event']}: {ev.get('error')} {ev.get('detail', '')}"
    src = ev["src"]
    ok = r.in_pool(src, router, t) and (same_as is None or src == same_as)
    return ok, f"{src} (from {router}'s {t.cli_name} pool)" if ok else f"got {src}"


def _ping(app: App, word: str) -> tuple[bool, str]:
    ev = app.command(f"ping {word}", "echo", 12)
    if ev.get("ok"):
        return True, f"echo from {ev['src']}"
    return False, f"failed on {ev.get('src')}: {ev.get('error')}"


def _move(r: _Run, to: str) -> float:
    """Move mh to ``to``; returns the monotonic time of the move."""
    t = time.monotonic()

    def do():
        moved = r.lab.move("mh", to)
        return moved, f"mh0's link re-homed to {to}'s access bridge"
    r.step(f"move to {to}", f"the host's link is re-homed to {to}", do)
    return t


def scenario_42(r: _Run) -> None:
    """The spec's §4.2 flow (module docstring)."""
    boot = _attach(r, (MT.SESSION_LASTING, MT.NON_PERSISTENT))
    ipnp1 = boot.get(MT.NON_PERSISTENT)
    ipsl1 = boot.get(MT.SESSION_LASTING)
    app1 = r.client("app1", MT.NON_PERSISTENT)
    r.step("app 1 asks NON_PERSISTENT", f"IPnp1 = {ipnp1}",
           lambda: _connect(r, app1, MT.NON_PERSISTENT, "ar1", ipnp1))
    app2 = r.client("app2", MT.NON_PERSISTENT)
    r.step("app 2 asks NON_PERSISTENT", f"IPnp1 again ({ipnp1}), shared",
           lambda: _connect(r, app2, MT.NON_PERSISTENT, "ar1", ipnp1))
    app3 = r.client("app3", MT.SESSION_LASTING)
    r.step("app 3 asks SESSION_LASTING", f"IPsl1 = {ipsl1}",
           lambda: _connect(r, app3, MT.SESSION_LASTING, "ar1", ipsl1))

    def talk():
        res = [_ping(a, f"hello-{a.name}") for a in (app1, app2, app3)]
        return all(ok for ok, _ in res), "; ".join(f"{a.name}: {t}" for a, (_, t) in
                                                   zip((app1, app2, app3), res, strict=False))
    r.step("TCP to cn from each app", "each app's bytes echoed by cn", talk)

    t_move = _move(r, "ar2")
    ipnp2: list[str] = []

    def new_np():
        def ready():
            h = [a for a in r.held(MT.NON_PERSISTENT) if r.in_pool(a, "ar2", MT.NON_PERSISTENT)]
            if h and not r.has_address(ipnp1):
                ipnp2.append(h[0])
                return True
            return None
        wait_for(ready, 15, "ar2's NON_PERSISTENT prefix and IPnp1 removed")
        r.result.timings["np-usable-after-move"] = round(time.monotonic() - t_move, 3)
        ms = r.result.timings["np-usable-after-move"] * 1000
        return True, f"IPnp2 = {ipnp2[0]}; IPnp1 removed ({ms:.0f} ms after the move)"
    r.step("ar2's new NON_PERSISTENT prefix", "IPnp2 from ar2's pool; IPnp1 gone", new_np)

    for app in (app1, app2):
        def told(app=app):
            def gone():
                ev = app.command("notices", "notices", 5)
                return [i for i in ev.get("items", []) if i.get("event") == "address-gone"
                        and i.get("address") == ipnp1] or None
            items = wait_for(gone, 5, f"{app.name} told that IPnp1 is gone", interval=0.1)
            app.send("reconnect")
            ok, text = _connect(r, app, MT.NON_PERSISTENT, "ar2", ipnp2[0] if ipnp2 else None)
            if ok:
                ok, t2 = _ping(app, f"again-{app.name}")
                text += "; " + t2
            return ok, f"told ({items[0].get('reason', 'address-gone')}); reconnected from {text}"
        r.step(f"{app.name} re-establishes on IPnp2",
               "told IPnp1 is gone; reconnects from IPnp2", told)

    def sl_survives():
        res = [_ping(app3, f"still-{i}") for i in range(3)]
        ok = all(o for o, _ in res) and all(ipsl1 in t for _, t in res)
        r.result.timings["sl-bytes-after-move"] = round(time.monotonic() - t_move, 3)
        return ok, f"3 round trips on the same connection from {ipsl1}" if ok \
            else "; ".join(t for _, t in res)
    r.step("app 3 keeps its SESSION_LASTING connection", f"bytes keep flowing on {ipsl1}, "
           "no reset", sl_survives)

    app4 = r.client("app4", MT.GRACEFUL_REPLACEMENT)

    def gr_refused():
        ev = app4.expect(("connected", "setsc-error"), 8)
        ok = ev.get("error") == "EAI_REQUIREDIPNOTSUPPORTED"
        return ok, ev.get("error") or f"connected from {ev.get('src')}"
    r.step("new app asks GRACEFUL_REPLACEMENT", "EAI_REQUIREDIPNOTSUPPORTED", gr_refused)
    app5 = r.client("app4-retry", MT.SESSION_LASTING)
    r.step("it retries SESSION_LASTING", f"IPsl1 = {ipsl1} (anchored at ar1)",
           lambda: _connect(r, app5, MT.SESSION_LASTING, "ar1", ipsl1))
    r.step("its connection works", "bytes echoed by cn via ar1", lambda: _ping(app5, "retry"))


def scenario_all_types(r: _Run) -> None:
    """All four types offered; FIXED inbound, GR overlap timed, NP and SL."""
    grace = r.agents.settings.grace
    boot = _attach(r, (MT.SESSION_LASTING, MT.NON_PERSISTENT))
    srv = r.app("fixed-server", "listen", "--type", "fixed", "--port", str(FIXED_PORT),
                "--api", str(r.agents.host_socket))
    fixed: list[str] = []

    def fixed_up():
        ev = srv.expect(("listening", "setsc-error"), 8)
        if ev["event"] != "listening":
            return False, ev.get("error", "")
        fixed.append(ev["address"])
        return r.in_pool(ev["address"], "ar1", MT.FIXED), f"listening on {ev['address']}"
    r.step("server app asks FIXED", "an address from ar1's FIXED pool; listening", fixed_up)
    gr = r.client("gr-app", MT.GRACEFUL_REPLACEMENT)
    gr_old: list[str] = []

    def gr_up():
        ok, text = _connect(r, gr, MT.GRACEFUL_REPLACEMENT, "ar1")
        if ok:
            gr_old.append(text.split()[0])
        return ok, text
    r.step("app asks GRACEFUL_REPLACEMENT", "an address from ar1's GR pool", gr_up)
    sl = r.client("sl-app", MT.SESSION_LASTING)
    r.step("app asks SESSION_LASTING", f"IPsl1 = {boot.get(MT.SESSION_LASTING)}",
           lambda: _connect(r, sl, MT.SESSION_LASTING, "ar1", boot.get(MT.SESSION_LASTING)))

    def inbound(word: str):
        def go():
            if not fixed:
                return False, "no FIXED address"
            d = r.agents.cn_app(f"dial-{word}", ["dial", "--to", fixed[0], "--port",
                                                 str(FIXED_PORT), "--word", word])
            r.apps.append(d)
            ev = d.expect("echo", 8)
            return bool(ev.get("ok")), f"cn → {fixed[0]}: " + (
                "echoed" if ev.get("ok") else str(ev.get("error")))
        return go
    r.step("cn connects in to the FIXED address", "accepted and echoed", inbound("before"))

    t_move = _move(r, "ar2")
    gr_new: list[str] = []

    def overlap():
        def both():
            h = [a for a in r.agents.host_addresses(MT.GRACEFUL_REPLACEMENT, usable=False)
                 if a["address"] == (gr_old[0] if gr_old else None)]
            new = [a["address"] for a in r.agents.host_addresses(MT.GRACEFUL_REPLACEMENT)
                   if r.in_pool(a["address"], "ar2", MT.GRACEFUL_REPLACEMENT)]
            if h and h[0]["deprecated"] and new:
                gr_new.append(new[0])
                return h[0]
            return None
        old = wait_for(both, 15, "the GR overlap")
        return True, f"old {old['address']} deprecated, valid {old['valid']} s; new {gr_new[0]}"
    r.step("GR overlap after the move", f"old GR address deprecated with about {grace} s left,"
           " a new GR address from ar2", overlap)
    r.step("GR app told the deadline", "a graceful-deadline notification",
           lambda: _notice(gr, "graceful-deadline"))
    r.step("GR connection works during the grace", "bytes echoed on the old address",
           lambda: _ping(gr, "during-grace"))
    r.step("SL connection survives the move", "bytes echoed on IPsl1",
           lambda: _ping(sl, "sl-after-move"))
    r.step("cn connects in to the FIXED address after the move", "accepted and echoed "
           "(routed via ar1 → ar2)", inbound("after"))

    def grace_ends():
        gone = wait_for(lambda: not r.has_address(gr_old[0]) and time.monotonic(),
                        grace * 3 + 10, "the old GR address to go", interval=0.05)
        took = gone - t_move
        r.result.timings["gr-grace-observed"] = round(took, 3)
        r.result.timings["gr-grace-configured"] = grace
        ok = abs(took - grace) <= 0.1 * grace + 0.3
        return ok, f"old GR address removed {took:.2f} s after the move (grace {grace} s)"
    r.step("GR grace ends", f"old GR address removed {grace} s ± 10 % after the move",
           grace_ends)

    def gr_new_socket():
        a = r.client("gr-app2", MT.GRACEFUL_REPLACEMENT)
        return _connect(r, a, MT.GRACEFUL_REPLACEMENT, "ar2", gr_new[0] if gr_new else None)
    r.step("new GR socket", "the new GR address from ar2", gr_new_socket)

    _move(r, "ar1")
    r.step("SL connection survives the move back", "bytes echoed on IPsl1 (routed by ar1 "
           "directly again)", lambda: _ping(sl, "sl-back-home"))
    r.step("cn connects in to the FIXED address back at ar1", "accepted and echoed",
           inbound("back"))


def _notice(app: App, event: str) -> tuple[bool, str]:
    def look():
        ev = app.command("notices", "notices", 5)
        return [i for i in ev.get("items", []) if i.get("event") == event] or None
    items = wait_for(look, 5, f"{app.name}: {event}", interval=0.1)
    return True, f"{event}: " + ", ".join(
        f"{i.get('address')} valid for {i.get('valid_for')} s" for i in items)


_SCENARIOS: dict[str, tuple[Callable[[_Run], None], AgentSettings]] = {
    "4.2": (scenario_42, AgentSettings()),
    "all-types": (scenario_all_types, AgentSettings(
        offered=tuple(MT), boot_types=(MT.SESSION_LASTING, MT.NON_PERSISTENT), grace=4)),
}


def leftovers(lab: Lab) -> dict:
    """What :meth:`Lab.status` still shows after ``down``: lab state, namespaces,
    processes (empty when everything is gone)."""
    st = lab.status()
    left: dict = {}
    if st.get("phase") is not None:
        left["phase"] = st["phase"]
    ns = [n["netns"] for n in st.get("nodes", {}).values() if n.get("exists")]
    if ns:
        left["namespaces"] = ns
    procs = [p["pid"] for p in st.get("processes", []) if p.get("alive")]
    if procs:
        left["processes"] = procs
    return left


def tshark_problems(pcap: Path) -> list[str]:
    """What keeps ``pcap`` from counting as a clean capture: missing,
    unreadable, cut short, holding no packet at all (a capture of nothing
    checks nothing), and the DHCPv6 and ND (RS, RA) packets that tshark
    marks Malformed or with an expert warning or error (that part is skipped
    when tshark is not installed). Other ICMPv6 is the kernel's (an Address
    Unreachable during a move quotes a TCP segment, whose expert notes are
    TCP's), so it is not odm's to answer for."""
    from odm.pcaptools.capture import CaptureError, read_capture_until_damage

    try:
        frames, damage = read_capture_until_damage(pcap)
    except FileNotFoundError:
        return [f"{pcap.name}: no such capture"]
    except (CaptureError, OSError) as exc:
        return [f"{pcap.name}: unreadable: {exc}"]
    problems = []
    if damage is not None:
        problems.append(f"{pcap.name}: cut short {damage.where()}")
    if not frames:
        problems.append(f"{pcap.name}: no packet at all")
        return problems
    tshark = shutil.which("tshark")
    if tshark is None:
        return problems
    flt = ("(dhcpv6 || icmpv6.type == 133 || icmpv6.type == 134) "
           "&& (_ws.malformed || _ws.expert.severity >= 0x600000)")
    try:
        out = subprocess.run([tshark, "-n", "-r", str(pcap), "-Y", flt], capture_output=True,
                             text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return [*problems, f"{pcap.name}: tshark timed out"]
    return problems + [f"{pcap.name}: {line.strip()}" for line in out.stdout.splitlines()
                       if line.strip()]


def captures_step(pcaps: list[str], number: int) -> Step:
    """The step "captures decode cleanly" over ``pcaps``: every capture
    exists, holds packets and has no problem in :func:`tshark_problems`."""
    problems = [p for f in pcaps for p in tshark_problems(Path(f))]
    return Step(number, "captures decode cleanly",
                "packets in every capture; no Malformed or expert warning on DHCPv6/RS/RA "
                "in tshark",
                "; ".join(problems[:3]) or f"{len(pcaps)} captures clean", not problems)


def default_pcap_dir(scenario: str, prefix: str = "odm") -> Path:
    """Where the demo's captures go unless told: ``$TMPDIR/odm-demo-<scenario>``
    for the default lab prefix, ``$TMPDIR/odm-demo-<prefix>-<scenario>`` for
    another (two demos at once do not overwrite each other's); replaced by each
    run of the same scenario and prefix."""
    name = f"odm-demo-{scenario}" if prefix == "odm" else f"odm-demo-{prefix}-{scenario}"
    return Path(tempfile.gettempdir()) / name


def run_demo(scenario: str = "4.2", *, pcap_dir: Path | None = None, prefix: str = "odm",
             state_dir: Path | None = None, keep_logs: bool = False, dataplane: str = "auto",
             store: str = "sqlite",
             on_step: Callable[[Step], None] | None = None) -> DemoResult:
    """Build the lab, run ``scenario`` (one of :data:`SCENARIOS`), take it all
    down. ``pcap_dir``: where the captures go (default
    :func:`default_pcap_dir`: outside any checkout, so the demo never rewrites
    the committed ``pcaps/demo-4.2``); ``prefix``: the lab's namespace prefix;
    ``dataplane``: the routers' data plane (:mod:`router.dataplane`; one this
    kernel lacks fails at once, before anything is built); ``store``: the
    routers' lease store, ``"sqlite"`` or ``"postgresql"`` (a real server in
    cn, reached over the core link: :mod:`lab.pgserver`); ``on_step``:
    called with each :class:`Step` as it completes. Never raises for a failed
    step; a setup failure is in :attr:`DemoResult.error`."""
    if scenario not in _SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
    fn, settings = _SCENARIOS[scenario]
    result = DemoResult(scenario)
    try:
        chosen, found = resolve_dataplane(dataplane)
    except DataplaneUnavailable as exc:
        result.error = str(exc)
        return result
    result.dataplane_unavailable = unavailable(found)
    settings = replace(settings, dataplane=chosen, store=store)
    cfg = LabConfig(prefix=prefix, **({"state_dir": state_dir} if state_dir else {}))
    lab = Lab(cfg)
    if lab.state_path.exists():
        # a lab of that prefix is up (the user's own): the demo builds its own
        # and takes it down after, so it must not start on top of that one
        result.error = (f"a lab {prefix!r} is already up ({lab.state_path}); give the demo "
                        f"another --prefix, or take that lab down first: odm lab down"
                        + cfg.cli_options())
        return result
    pcap_dir = Path(pcap_dir) if pcap_dir is not None else default_pcap_dir(scenario, prefix)
    work = Path(tempfile.mkdtemp(prefix=f"odm-demo-{scenario}-"))
    result.logs = str(work / "logs")
    captures = []
    try:
        lab.up()
        pcap_dir.mkdir(parents=True, exist_ok=True)
        for old in pcap_dir.glob("*.pcap"):
            old.unlink()
        for link in CAPTURE_LINKS:
            p = pcap_dir / f"{link}.pcap"
            captures.append(lab.capture(link, None, p, log_path=work / "logs" /
                                        f"tcpdump-{link}.log"))
            result.pcaps.append(str(p))
        agents = LabAgents(lab, work, settings)
        run = _Run(lab, agents, result, on_step)
        try:
            agents.start_all()
            result.dataplane = agents.router_dataplane(cfg.router_names[0])
            server = agents.cn_app("cn-server", ["server", "--port", str(SERVER_PORT)])
            run.apps.append(server)
            server.expect("listening", 10)
            fn(run)
        finally:
            run.stop_apps()
            agents.stop_all()
    except Exception as exc:
        log.exception("demo setup failed")
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        for c in captures:
            try:
                lab.stop(c, timeout=3.0)
            except Exception as exc:  # noqa: BLE001 - down() stops it anyway
                log.warning("stopping a capture: %s", exc)
        try:
            lab.down()
            result.leftovers = leftovers(lab)
        except Exception as exc:  # noqa: BLE001
            result.leftovers = {"down": str(exc)}
    s = captures_step(result.pcaps, len(result.steps) + 1)
    if result.pcaps:
        result.steps.append(s)
        if on_step:
            on_step(s)
    if result.ok and not keep_logs:
        shutil.rmtree(work, ignore_errors=True)
        result.logs = ""
    return result
