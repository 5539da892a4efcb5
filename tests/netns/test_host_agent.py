"""The host agent in namespaces against the odm router agent (``odm router
run``): setsc() per offered type with the source checked on the accepting
side of a TCP connection, a killed process's reference ended through its API
connection, ON_NET, setsc + bind() over RFC 5014 preferences (spec §5.4), and
a legacy application left to the kernel's source selection (spec §5).

Topology: two namespaces joined by one veth pair (tests/interop/probe_netns.py):
``srv`` runs ``odm router run`` (RAs, DHCPv6-PD, routes of delegated prefixes)
and a TCP server on 2001:db8:1::1; ``cli`` runs ``odm host run`` and the
application processes. One topology serves the whole module; each test
asserts on what it changed.
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
from probe_netns import netns_ok, veth_pair

pytestmark = [pytest.mark.netns]

ROOT = Path(__file__).resolve().parents[2]
ROUTER_ADDR = "2001:db8:1::1"
ONLINK = IPv6Network("2001:db8:1::/64")
PORT = 7001
#: Pools of the router (one /48 per type, /56 delegated).
POOLS = {
    "fixed": IPv6Network("2001:db8:f000::/48"),
    "session-lasting": IPv6Network("2001:db8:5000::/48"),
    "non-persistent": IPv6Network("2001:db8:3000::/48"),
    "graceful-replacement": IPv6Network("2001:db8:4000::/48"),
    None: IPv6Network("2001:db8:8000::/48"),
}
TYPE_VALUES = {"fixed": 1, "session-lasting": 2, "non-persistent": 3,
               "graceful-replacement": 4}
IPV6_PREFER_SRC_PUBLIC = 0x0002  # RFC 5014 §4 (Linux: IPV6_PREFER_SRC_PUBLIC)
IPV6_PREFER_SRC_TMP = 0x0001

ROUTER_TOML = """\
[router]
id = "h2r"
lease_db = "{tmp}/leases.sqlite3"
lease_db_synchronous = "normal"
control_socket = "{tmp}/router.sock"
reclaim_interval = 0.5
preference = 255

[timers]
profile = "scaled"
scale = 0.05

[[interface]]
name = "{iface}"
offered_types = ["fixed", "session-lasting", "non-persistent", "graceful-replacement"]
default_pool = "legacy"
  [interface.ra]
  adv_send_advertisements = true
  adv_managed_flag = false
  max_rtr_adv_interval = 4
  min_rtr_adv_interval = 3
  adv_default_lifetime = 600
    [[interface.ra.prefix]]
    prefix = "{onlink}"
    adv_valid_lifetime = 3600
    adv_preferred_lifetime = 1800
{pools}
"""

POOL_TOML = """\
  [[interface.pd_pool]]
  name = "{name}"
  {mtype}
  prefix = "{prefix}"
  delegated_length = 56
  preferred_lifetime = 600
  valid_lifetime = 1200
"""

HOST_TOML = """\
[host]
iface = "{iface}"
api_socket = "{sock}"
timer_profile = "lab"
timer_scale = 0.05
first_solicit_delay = false
setsc_timeout = 3.0
socket_poll_interval = 0.1
secret = "0011223344556677"
secret_file = "{tmp}/secret"
"""

#: A TCP server for the router's namespace: one JSON line per connection with
#: the peer address the kernel saw and the first line the client sent.
SERVER = r"""
import json, socket, sys, threading
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(64)
print(json.dumps({"event": "listening"}), flush=True)
def one(c, peer):
    with c:
        f = c.makefile("rb")
        tag = f.readline().decode().strip()
        print(json.dumps({"event": "accepted", "peer": peer[0], "tag": tag}), flush=True)
        c.sendall(b"ok\n")
while True:
    c, peer = s.accept()
    threading.Thread(target=one, args=(c, peer), daemon=True).start()
"""

#: An application for the host's namespace, driven by JSON commands on stdin,
#: answering one JSON line each on stdout.
APP = r"""
import json, socket, sys
from host import api
from odm_wire.constants import IPV6_ADDR_PREFERENCES
path = sys.argv[1]
socks = {}
print(json.dumps({"ok": True, "ready": True}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    op, name = cmd["op"], cmd.get("name")
    out = {"ok": True}
    try:
        if op == "socket":
            s = socks[name] = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            if cmd.get("prefs"):
                api.set_addr_preferences(s, cmd["prefs"])
                out["kernel_prefs"] = s.getsockopt(socket.IPPROTO_IPV6, IPV6_ADDR_PREFERENCES)
        elif op == "setsc":
            out["address"] = str(api.setsc(socks[name], cmd["type"], bind=cmd.get("bind", True),
                                           path=path))
        elif op == "connect":
            s = socks[name]
            s.settimeout(5)
            s.connect((cmd["to"], cmd["port"]))
            s.sendall((cmd["tag"] + "\n").encode())
            out["answer"] = s.makefile("rb").readline().decode().strip()
            out["src"] = s.getsockname()[0]
        elif op == "send":
            socks[name].sendall(b"more\n")
        elif op == "close":
            socks.pop(name).close()
        elif op == "exit":
            break
    except api.SetscError as exc:
        out = {"ok": False, "error": exc.name, "detail": exc.detail}
    except OSError as exc:
        out = {"ok": False, "error": type(exc).__name__, "detail": str(exc)}
    print(json.dumps(out), flush=True)
"""


class App:
    """One application process in the host's namespace (see ``APP``)."""

    def __init__(self, topo: Topology, name: str) -> None:
        self.topo = topo
        self.name = name
        self.proc = topo.spawn(topo.pair.cli_ns, [sys.executable, str(topo.tmp / "app.py"),
                                                  str(topo.host_sock)], pipe=True)
        assert self.read()["ready"]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read(self, timeout: float = 10.0) -> dict:
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if r else b""
        if not line:
            raise AssertionError(f"app {self.name} gave no answer (exit {self.proc.poll()}): "
                                 f"{self.proc.stderr.read().decode(errors='replace')[-2000:]}"
                                 if self.proc.poll() is not None else
                                 f"app {self.name} gave no answer in {timeout} s")
        return json.loads(line)

    def do(self, **cmd) -> dict:
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()
        return self.read()

    def quit(self) -> None:
        self.proc.stdin.write(b'{"op": "exit"}\n')
        self.proc.stdin.flush()
        assert self.proc.wait(5) == 0

    def setsc(self, name: str, t: str, *, prefs: int = 0, bind: bool = True) -> dict:
        self.do(op="socket", name=name, prefs=prefs)
        return self.do(op="setsc", name=name, type=TYPE_VALUES[t], bind=bind)

    def connect(self, name: str, tag: str) -> tuple[dict, dict]:
        """Connect socket ``name`` to the router's TCP server; returns (the
        app's answer, the server's record of the connection)."""
        ans = self.do(op="connect", name=name, to=ROUTER_ADDR, port=PORT, tag=tag)
        assert ans["ok"] and ans["answer"] == "ok", ans
        return ans, self.topo.accepted(tag)


class Topology:
    def __init__(self, pair, tmp: Path) -> None:
        self.pair = pair
        self.tmp = tmp
        self.host_sock = tmp / "host.sock"
        self.router_sock = tmp / "router.sock"
        self.procs: list[subprocess.Popen] = []

    def spawn(self, ns: str, argv, log: Path | None = None, pipe: bool = False):
        from lab.nsutil import enter_netns_fd, open_netns
        fd = open_netns(ns)
        fh = open(log, "wb") if log else None  # noqa: SIM115 - handed to the child
        try:
            p = subprocess.Popen(
                list(argv), cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdin=subprocess.PIPE if pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipe else fh,
                stderr=subprocess.PIPE if pipe else subprocess.STDOUT,
                preexec_fn=lambda: enter_netns_fd(fd), pass_fds=(fd,))  # noqa: PLW1509
        finally:
            os.close(fd)
            if fh:
                fh.close()
        self.procs.append(p)
        return p

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)

    # -- observations ----------------------------------------------------------------------
    def status(self) -> dict:
        from host.api import status
        return status(self.host_sock)

    def wait(self, pred, what: str, timeout: float = 10.0):
        end = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}; host status: "
                                     f"{json.dumps(self.status())[:3000]}")
            time.sleep(0.03)

    def accepted(self, tag: str, timeout: float = 5.0) -> dict:
        def look():
            for line in (self.tmp / "server.log").read_text().splitlines():
                ev = json.loads(line)
                if ev.get("tag") == tag:
                    return ev
            return None
        return self.wait(look, f"the server to accept {tag!r}", timeout)

    def router_bindings(self) -> list[dict]:
        res = subprocess.run([sys.executable, "-m", "odm", "router", "status", "--socket",
                              str(self.router_sock), "--json"], capture_output=True, text=True,
                             cwd=str(ROOT), timeout=20, check=False)
        assert res.returncode == 0, res.stderr
        st = json.loads(res.stdout)
        out = []
        for iface in st.get("interfaces", [st]):
            out += iface.get("bindings", [])
        return out

    def kernel_routes_to(self, address: str) -> list[str]:
        """The host's main-table routes whose destination is ``address``."""
        from pyroute2 import NetNS
        with NetNS(self.pair.cli_ns) as n:
            return [f"{r.get_attr('RTA_DST')}/{r['dst_len']}"
                    for r in n.get_routes(family=socket.AF_INET6, table=254)
                    if r.get_attr("RTA_DST") == address]

    def kernel_route_source(self, dst: str) -> str | None:
        """The source address the kernel's route lookup picks for ``dst`` in
        the host's namespace (RTA_PREFSRC of ``ip route get``)."""
        from pyroute2 import NetNS
        with NetNS(self.pair.cli_ns) as n:
            (r,) = n.route("get", dst=dst, family=socket.AF_INET6)
            return r.get("RTA_PREFSRC")


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    ok, why = netns_ok()
    if not ok:
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("h2hostagent")
    (tmp / "app.py").write_text(APP)
    (tmp / "server.py").write_text(SERVER)
    with veth_pair() as pair:
        from pyroute2 import NetNS
        with NetNS(pair.srv_ns) as n:
            n.addr("add", index=n.link_lookup(ifname=pair.srv_if)[0], address=ROUTER_ADDR,
                   prefixlen=64)
        t = Topology(pair, tmp)
        try:
            pools = "".join(POOL_TOML.format(
                name=k or "legacy", mtype=f'mobility_type = "{k}"' if k else "",
                prefix=v) for k, v in POOLS.items())
            (tmp / "router.toml").write_text(ROUTER_TOML.format(
                tmp=tmp, iface=pair.srv_if, onlink=ONLINK, pools=pools))
            (tmp / "host.toml").write_text(HOST_TOML.format(iface=pair.cli_if,
                                                            sock=t.host_sock, tmp=tmp))
            t.spawn(pair.srv_ns, [sys.executable, "-m", "odm", "router", "run", "--config",
                                  str(tmp / "router.toml")], tmp / "router.log")
            t.spawn(pair.srv_ns, [sys.executable, str(tmp / "server.py"), str(PORT)],
                    tmp / "server.log")
            t.wait(lambda: t.router_sock.exists() and "listening" in
                   (tmp / "server.log").read_text(), "the router agent and the TCP server")
            t.spawn(pair.cli_ns, [sys.executable, "-m", "odm", "-v", "host", "run",
                                  "--config", str(tmp / "host.toml")], tmp / "host.log")
            t.wait(t.host_sock.exists, "the host agent's API socket")

            def ready():
                st = t.status()
                return any(ia["type"] is None and ia["state"] == "bound"
                           for ia in st["ia_pds"]) and any(
                    a["source"] == "ra" and a["ready"] for a in st["addresses"]) and st["routers"]
            t.wait(ready, "a legacy prefix, an RA address and a default router")
            yield t
        finally:
            t.stop_all()


def _prefix_of(st: dict, address: str) -> str:
    (a,) = [a for a in st["addresses"] if a["address"] == address]
    return a["prefix"]


def test_setsc_for_each_offered_type_binds_and_the_router_sees_that_source(topo):
    app = App(topo, "types")
    st = topo.status()
    assert sorted(st["servers"][0]["supported_types"]) == sorted(TYPE_VALUES)
    got = {}
    for t in TYPE_VALUES:
        ans = app.setsc(t, t)
        assert ans["ok"], ans
        addr = IPv6Address(ans["address"])
        assert addr in POOLS[t], (t, addr)
        mine, seen = app.connect(t, f"types-{t}")
        assert IPv6Address(mine["src"]) == addr
        assert IPv6Address(seen["peer"]) == addr  # the source on the accepting side
        got[t] = str(addr)
    st = topo.status()
    for t, addr in got.items():
        (a,) = [a for a in st["addresses"] if a["address"] == addr]
        assert a["type"] == t and a["source"] == "dhcpv6-pd" and a["refs"] == 1
    owners = {r["owner"] for r in st["references"] if r["address"] in got.values()}
    assert len(owners) == 4
    assert {o["pid"] for o in st["owners"] if o["owner"] in owners} == {app.pid}
    # the router delegated each prefix for that type, to this host
    binds = {b["prefix"]: b for b in topo.router_bindings()}
    for t, addr in got.items():
        b = binds[_prefix_of(st, addr)]
        assert b["mobility-type"] == t
    app.quit()


def test_killing_the_process_ends_its_reference_and_releases_the_prefix(topo):
    app = App(topo, "victim")
    ans = app.setsc("s", "session-lasting")
    assert ans["ok"], ans
    addr = ans["address"]
    _, seen = app.connect("s", "victim")
    assert seen["peer"] == addr
    st = topo.status()
    prefix = _prefix_of(st, addr)
    assert [r for r in st["references"] if r["address"] == addr]
    assert app.pid in {o["pid"] for o in st["owners"]}
    assert [b for b in topo.router_bindings() if b["prefix"] == prefix
            and b["state"] == "active" and b["mobility-type"] == "session-lasting"]
    os.kill(app.pid, signal.SIGKILL)
    app.proc.wait(5)
    # the agent noticed through the API connection closing (EOF), by itself
    topo.wait(lambda: f"(pid {app.pid}) ended: eof" in (topo.tmp / "host.log").read_text(),
              "the agent to log the owner's end")

    def address_gone():
        s = topo.status()
        return s if not any(a["address"] == addr for a in s["addresses"]) else None
    st = topo.wait(address_gone, "the address to go")
    assert not [r for r in st["references"] if r["address"] == addr]
    # nothing of it left in the kernel: no prefix route that outlives it
    assert topo.kernel_routes_to(addr) == []
    assert app.pid not in {o["pid"] for o in st["owners"]}
    # SESSION_LASTING's default policy is "release": the router got the Release
    topo.wait(lambda: not any(b["prefix"] == prefix and b["state"] == "active"
                              for b in topo.router_bindings()), "the router to drop the binding")


def test_on_net_yields_a_new_prefix_and_without_it_the_held_address_is_shared(topo):
    from odm_wire.constants import IPV6_REQUIRE_SRC_ON_NET

    app = App(topo, "onnet")
    first = app.setsc("a", "non-persistent")["address"]
    again = app.setsc("b", "non-persistent")["address"]
    fresh = app.setsc("c", "non-persistent", prefs=IPV6_REQUIRE_SRC_ON_NET)
    assert fresh["ok"], fresh
    assert again == first  # ON_NET clear: the held address, shared
    st = topo.status()
    p1, p3 = _prefix_of(st, first), _prefix_of(st, fresh["address"])
    assert p1 != p3 and IPv6Network(p3).subnet_of(POOLS["non-persistent"])
    (a1,) = [a for a in st["addresses"] if a["address"] == first]
    assert a1["refs"] == 2
    # the new prefix is routed to the host: a connection from it works
    _, seen = app.connect("c", "onnet")
    assert seen["peer"] == fresh["address"]
    app.quit()


def test_setsc_then_bind_wins_over_rfc5014_preferences(topo):
    """Spec §5.4: the same RFC 5014 preference on two sockets; the one that
    called setsc() and bound shows the setsc() address on the wire, the other
    the kernel's choice under that preference."""
    app = App(topo, "prefs")
    for prefs in (IPV6_PREFER_SRC_PUBLIC, IPV6_PREFER_SRC_TMP):
        typed = app.setsc(f"typed{prefs}", "fixed", prefs=prefs)
        assert typed["ok"], typed
        assert app.do(op="socket", name=f"plain{prefs}", prefs=prefs)["kernel_prefs"] & prefs
        _, seen_typed = app.connect(f"typed{prefs}", f"prefs-typed-{prefs}")
        _, seen_plain = app.connect(f"plain{prefs}", f"prefs-plain-{prefs}")
        assert seen_typed["peer"] == typed["address"]
        assert seen_plain["peer"] != typed["address"]
        assert IPv6Address(seen_plain["peer"]) in ONLINK  # the kernel's pick: longest match
    app.quit()


def test_an_application_that_never_calls_setsc_gets_kernel_source_selection(topo):
    """Spec §5: no setsc, no agent involvement: the source is the one the
    kernel's route lookup picks, the agent asks the network for nothing."""
    before = topo.status()
    app = App(topo, "legacy")
    app.do(op="socket", name="l")
    mine, seen = app.connect("l", "legacy")
    assert seen["peer"] == mine["src"] == topo.kernel_route_source(ROUTER_ADDR)
    (a,) = [a for a in before["addresses"] if a["address"] == seen["peer"]]
    assert a["type"] is None and a["source"] == "ra"
    after = topo.status()
    assert app.pid not in {o["pid"] for o in after["owners"]}
    assert not after["pending"]
    assert sorted(ia["iaid"] for ia in after["ia_pds"]) == sorted(
        ia["iaid"] for ia in before["ia_pds"])
    app.quit()


def _netlink_script(ifname: str) -> dict:
    """Runs inside the host's namespace: the agent's address requests."""
    from host.core.events import AddressAdded, AddressRemoved, AddressUpdated
    from host.io.netlink import Netlink

    def kernel():
        out = {}
        for a in nl.ipr.get_addr(family=socket.AF_INET6, index=nl.index):
            ci = a.get("IFA_CACHEINFO")
            out[a.get("IFA_ADDRESS")] = (a["prefixlen"], a.get("IFA_FLAGS") or a["flags"],
                                         ci["ifa_preferred"], ci["ifa_valid"])
        return out

    nl = Netlink(ifname)
    res = {}
    a = IPv6Address("2001:db8:3000:1::1")
    net = IPv6Network("2001:db8:3000::/56")
    nl.apply(AddressAdded(a, 128, None, 100, 200, True, False, net, "dhcpv6-pd"))
    res["added"] = kernel().get(str(a))
    nl.apply(AddressUpdated(a, 128, None, 0, 60, True, False, net, "dhcpv6-pd"))
    res["updated"] = kernel().get(str(a))
    b = IPv6Address("2001:db8:1::99")
    nl.apply(AddressAdded(b, 64, None, 30, 40, False, True, IPv6Network("2001:db8:1::/64"),
                          "ra"))
    res["onlink"] = kernel().get(str(b))
    nl.apply(AddressRemoved(a, 128, None, "released"))
    nl.apply(AddressRemoved(a, 128, None, "released"))  # already gone: fine
    res["removed"] = str(a) in kernel()
    try:
        nl.apply(AddressAdded(IPv6Address("ff02::99"), 128, None, 1, 2, True, False,
                              IPv6Network("ff02::/16"), "ra"))
        res["multicast"] = "accepted"
    except OSError as exc:
        res["multicast"] = exc.errno
    nl.close()
    return res


def test_netlink_address_requests_reach_the_kernel_with_lifetimes_and_flags():
    """host.io.netlink: RTM_NEWADDR (create/replace) with IFA_CACHEINFO and
    IFA_FLAGS, RTM_DELADDR, the kernel's NACK raised as OSError."""
    ok, why = netns_ok()
    if not ok:
        pytest.skip(why)
    from lab.nsutil import run_in_netns
    with veth_pair() as pair:
        res = run_in_netns(pair.cli_ns, _netlink_script, pair.cli_if)
    plen, flags, pref, valid = res["added"]
    assert plen == 128 and flags & 0x02 and 98 <= pref <= 100 and 198 <= valid <= 200
    plen, flags, pref, valid = res["updated"]
    assert pref == 0 and 58 <= valid <= 60  # replaced in place (deprecated)
    plen, flags, pref, valid = res["onlink"]
    assert plen == 64 and flags & 0x200 and not flags & 0x02  # NOPREFIXROUTE, DAD kept
    assert res["removed"] is False
    assert res["multicast"] == errno.EADDRNOTAVAIL  # the kernel refuses a multicast address


def _kernel_routes(ns: str) -> list[str]:
    from pyroute2 import NetNS
    with NetNS(ns) as n:
        return sorted(f"{r.get('RTA_DST')}/{r['dst_len']}"
                      for r in n.get_routes(family=socket.AF_INET6)
                      if r.get("RTA_DST", "").startswith("2001:db8:"))


def _kernel_addresses(ns: str) -> list[str]:
    from pyroute2 import NetNS
    with NetNS(ns) as n:
        return sorted(a.get("IFA_ADDRESS") for a in n.get_addr(family=socket.AF_INET6))


def _second_copy(topo, ns: str, argv: list[str], log: str) -> tuple[int, str]:
    p = topo.spawn(ns, [sys.executable, "-m", "odm", *argv], topo.tmp / log)
    rc = p.wait(30)
    return rc, (topo.tmp / log).read_text()


def test_odm_host_renew_and_rebind_reach_the_server_now(topo):
    """Issue 16: ``odm host renew`` / ``rebind`` (dhcpcd -n style) send a
    Renew / Rebind for every bound IA_PD at once, not at T1/T2."""
    from click.testing import CliRunner

    from host.cli import host
    from router.io.control import command

    def count(name):
        ans = command(topo.router_sock, "statistic-get", {"name": name})
        return ans["arguments"][name][0][0]

    for op, stat in (("renew", "pkt6-renew-received"), ("rebind", "pkt6-rebind-received")):
        before = count(stat)
        r = CliRunner().invoke(host, [op, "--socket", str(topo.host_sock)])
        assert r.exit_code == 0 and "IA_PD(s)" in r.output, r.output
        topo.wait(lambda stat=stat, before=before: count(stat) > before,
                  f"a {op} at the router")


def test_a_second_host_agent_on_the_same_interface_exits_and_removes_nothing(topo):
    """Issue 13 point 10: a second ``odm host run`` with the same config
    starts, finds the first agent's lock and exits with one line naming it,
    before it touches the API socket, a sysctl or an address; the first agent
    keeps serving, with every address it had."""
    before = topo.status()
    addrs = _kernel_addresses(topo.pair.cli_ns)
    inode = topo.host_sock.stat().st_ino
    rc, out = _second_copy(topo, topo.pair.cli_ns,
                           ["host", "run", "--config", str(topo.tmp / "host.toml")],
                           "host2.log")
    assert rc != 0
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and "another host agent" in lines[0] and "holds" in lines[0], out
    assert topo.host_sock.stat().st_ino == inode  # its socket was not replaced
    assert _kernel_addresses(topo.pair.cli_ns) == addrs
    after = topo.status()
    assert {a["address"] for a in after["addresses"]} == {a["address"]
                                                          for a in before["addresses"]}


def test_a_second_router_agent_with_the_same_config_exits_and_removes_nothing(topo):
    """Issue 13 point 10: a second ``odm router run`` with the same config
    exits with one line naming the lock; the routes of the running agent's
    bindings and its control socket stay (before, its cleanup flushed them)."""
    app = App(topo, "second-router")
    try:
        assert app.setsc("s1", "session-lasting")["ok"]
        routes = _kernel_routes(topo.pair.srv_ns)
        assert routes
        rc, out = _second_copy(topo, topo.pair.srv_ns,
                               ["router", "run", "--config", str(topo.tmp / "router.toml")],
                               "router2.log")
        assert rc != 0
        lines = [ln for ln in out.splitlines() if ln.strip()]
        assert len(lines) == 1 and "another router agent" in lines[0], out
        assert _kernel_routes(topo.pair.srv_ns) == routes
        assert topo.router_bindings()  # its control socket still answers
    finally:
        app.quit()


def test_the_interface_is_left_as_the_agent_found_it(tmp_path):
    """Issue 16: the host agent turns the kernel's SLAAC off on its interface
    (it forms the addresses itself) and turns it back on when it stops."""
    from lab.nsutil import run_in_netns

    def sysctl(ns, iface, value=None):
        def body():
            p = Path(f"/proc/sys/net/ipv6/conf/{iface}/autoconf")
            if value is not None:
                p.write_text(value)
            return p.read_text().strip()
        return run_in_netns(ns, body)

    with veth_pair() as pair:
        assert sysctl(pair.cli_ns, pair.cli_if, "1") == "1"
        sock = tmp_path / "host.sock"
        (tmp_path / "host.toml").write_text(HOST_TOML.format(iface=pair.cli_if, sock=sock,
                                                             tmp=tmp_path))
        p = pair.spawn(pair.cli_ns, [sys.executable, "-m", "odm", "host", "run", "--config",
                                     str(tmp_path / "host.toml")], tmp_path / "host.log")
        try:
            end = time.monotonic() + 15
            while not sock.exists():
                assert p.poll() is None, (tmp_path / "host.log").read_text()
                assert time.monotonic() < end, "the host agent did not start"
                time.sleep(0.05)
            assert sysctl(pair.cli_ns, pair.cli_if) == "0"
        finally:
            p.send_signal(signal.SIGTERM)
            assert p.wait(15) == 0, (tmp_path / "host.log").read_text()
        assert sysctl(pair.cli_ns, pair.cli_if) == "1"
        assert "sysctls on" in (tmp_path / "host.log").read_text()


def test_the_running_host_agent_keeps_only_what_it_needs(topo):
    """Issue 13 point 16: every thread of ``odm host run`` holds the network
    capabilities and CAP_SYS_PTRACE (to read another uid's /proc/<pid>/fd)
    and nothing else; it still serves setsc()."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from netnscaps import mask, thread_caps

    from odm.capabilities import HOST_KEEPS

    agent = next(p for p in topo.procs if "host" in p.args and "run" in p.args)
    want = mask(*HOST_KEEPS)
    for tid, caps in thread_caps(agent.pid).items():
        assert caps["CapEff"] == caps["CapPrm"] == want, (tid, caps)
        assert caps["CapBnd"] == want and caps["CapInh"] == 0 and caps["CapAmb"] == 0
    app = App(topo, "caps")
    assert app.setsc("c1", "non-persistent")["ok"]
    app.quit()


def test_an_address_released_ends_the_tcp_connections_that_use_it(topo):
    """``odm host release`` (release-all): the addresses go, and so do the
    TCP connections from them (SOCK_DESTROY): the application's next send
    fails with ECONNABORTED instead of the kernel going on sending from an
    address the host no longer has. Last in this file: it releases every
    prefix of the module's host."""
    from host.api import operate

    app = App(topo, "aborted")
    ans = app.setsc("s", "session-lasting")
    assert ans["ok"], ans
    addr = ans["address"]
    app.connect("s", "aborted")
    assert operate("release-all", topo.host_sock)["ok"]

    def address_gone():
        return not any(a["address"] == addr for a in topo.status()["addresses"])
    topo.wait(address_gone, "the address to go")
    log = (topo.tmp / "host.log").read_text()
    if "lacks CONFIG_INET_DIAG_DESTROY" in log:
        pytest.skip("the kernel lacks CONFIG_INET_DIAG_DESTROY (SOCK_DESTROY)")
    out = app.do(op="send", name="s")
    assert not out["ok"] and out["error"] == "ConnectionAbortedError", out
    assert f"TCP connection(s) of {addr} ended" in log, log[-3000:]
