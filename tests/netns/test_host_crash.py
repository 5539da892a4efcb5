"""Host agent crash durability (issue 7, host/state.py) on the real kernel.

In a lab (cn — ar1 — mh), the odm router agent serves FIXED, SESSION_LASTING
and NON_PERSISTENT; the host agent keeps its state in a file. Two applications
hold a SESSION_LASTING socket connected to cn and a FIXED listening socket.
The host agent is SIGKILLed (no Release, no cleanup) and started again: the
same addresses are in the kernel exactly once, the router holds the same
bindings (none new), the connection still echoes, setsc() returns the same
addresses to new sockets, and the adopted references still hold the
addresses the applications use.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from ipaddress import IPv6Address

import pytest

from lab.agents import AgentSettings, LabAgents, pool_of, wait_for
from lab.config import HOST, HOST_IF
from odm_wire.constants import MobilityType as MT

pytestmark = [pytest.mark.netns]

PORT = 7311
TYPES = (MT.FIXED, MT.SESSION_LASTING, MT.NON_PERSISTENT)


def kernel_addresses(lab) -> list[IPv6Address]:
    """Every global IPv6 address on mh0, as the kernel lists them (duplicates kept)."""
    from pyroute2 import NetNS
    with NetNS(lab.netns(HOST)) as n:
        idx = n.link_lookup(ifname=HOST_IF)[0]
        return [IPv6Address(a.get_attr("IFA_ADDRESS"))
                for a in n.get_addr(family=socket.AF_INET6, index=idx)
                if not IPv6Address(a.get_attr("IFA_ADDRESS")).is_link_local]


def add_address(lab, address: IPv6Address, proto: int) -> None:
    from pyroute2 import NetNS
    with NetNS(lab.netns(HOST)) as n:
        idx = n.link_lookup(ifname=HOST_IF)[0]
        n.addr("add", index=idx, address=str(address), prefixlen=128, proto=proto,
               flags=0x02)  # IFA_F_NODAD


def router_bindings(agents: LabAgents, router: str = "ar1") -> list[dict]:
    res = subprocess.run([sys.executable, "-m", "odm", "router", "status", "--socket",
                          str(agents.workdir / f"{router}.sock"), "--json"],
                         capture_output=True, text=True, timeout=20, check=False)
    assert res.returncode == 0, res.stderr
    st = json.loads(res.stdout)
    out = []
    for iface in st.get("interfaces", [st]):
        out += [b for b in iface.get("bindings", []) if b.get("state") == "active"]
    return out


def setsc_cli(lab, agents, t: MT) -> str:
    """``odm setsc TYPE`` in mh (a fresh socket); returns the address printed."""
    res = lab.exec(HOST, [sys.executable, "-m", "odm", "setsc", t.cli_name, "--socket",
                          str(agents.host_socket), "--timeout", "4"],
                   capture_output=True, text=True, timeout=20)
    assert res.returncode == 0, (res.stdout, res.stderr)
    return res.stdout.strip().splitlines()[-1]


def test_sigkill_and_restart_keeps_fixed_and_session_lasting(lab, tmp_path):
    settings = AgentSettings(offered=TYPES, boot_types=(MT.NON_PERSISTENT,), dataplane=None)
    agents = LabAgents(lab, tmp_path, settings)
    state = tmp_path / "host-state.json"
    base = agents.host_toml
    agents.host_toml = lambda: base() + f'state_file = "{state}"\n'  # type: ignore[method-assign]
    apps = []
    try:
        agents.start_all()
        server = agents.cn_app("cn-server", ["server", "--port", str(PORT)])
        apps.append(server)
        server.expect("listening", 10)
        wait_for(lambda: agents.host_addresses(MT.NON_PERSISTENT), 15, "the boot NP address")
        api = ["--api", str(agents.host_socket), "--timeout", "4"]
        sl_app = agents.app("sl", ["client", "--type", "session-lasting", "--server",
                                   str(lab.config.cn_address), "--port", str(PORT), *api])
        apps.append(sl_app)
        sl = sl_app.expect(("connected", "setsc-error", "connect-error"), 10)
        assert sl["event"] == "connected", sl
        fx_app = agents.app("fixed", ["listen", "--type", "fixed", "--port", str(PORT), *api])
        apps.append(fx_app)
        fx = fx_app.expect(("listening", "setsc-error"), 10)
        assert fx["event"] == "listening", fx
        sl_addr, fx_addr = IPv6Address(sl["src"]), IPv6Address(fx["address"])
        pd1 = lab.router("ar1").pd_pool
        assert sl_addr in pool_of(pd1, MT.SESSION_LASTING)
        assert fx_addr in pool_of(pd1, MT.FIXED)
        assert sl_app.command("ping before", "echo")["ok"]

        before_kernel = sorted(kernel_addresses(lab))
        assert before_kernel.count(sl_addr) == 1 and before_kernel.count(fx_addr) == 1
        before_bind = sorted((b["prefix"], b["mobility-type"]) for b in router_bindings(agents))
        saved = json.loads(state.read_text())
        assert {r["address"] for r in saved["references"]} >= {str(sl_addr), str(fx_addr)}

        # SIGKILL: no Release, no address removal, no last state write
        host = agents.procs.pop("host")
        lab.stop(host, sig=signal.SIGKILL, timeout=5.0)
        assert host.returncode == -signal.SIGKILL
        assert sorted(kernel_addresses(lab)) == before_kernel  # the kernel kept them
        # a leftover of the dead agent that its state no longer lists (as after a
        # crash between the state write and the kernel change), and an address
        # someone else added: the first must go, the second stay
        leftover = IPv6Address(int(pool_of(pd1, MT.SESSION_LASTING).network_address) | 0xbad)
        foreign = IPv6Address("2001:db8:ffff::1")
        add_address(lab, leftover, proto=0x6F)
        add_address(lab, foreign, proto=0)

        agents.start_host()
        wait_for(lambda: agents.host_status().get("ia_pds"), 10, "the restarted host agent")
        log = agents.log_path("host").read_text()
        assert "restored" in log and "2 reference(s) adopted" in log, log[-2000:]

        def rebound():
            st = agents.host_status()
            ias = st.get("ia_pds", [])
            return st if ias and all(ia["state"] == "bound" for ia in ias) else None
        st = wait_for(rebound, 15, "every restored IA_PD to be bound again (Rebind)")
        after_kernel = sorted(kernel_addresses(lab))
        assert leftover not in after_kernel and foreign in after_kernel
        after_kernel.remove(foreign)
        assert after_kernel == before_kernel  # the same addresses, each exactly once
        assert after_kernel.count(sl_addr) == 1 and after_kernel.count(fx_addr) == 1
        assert sorted((b["prefix"], b["mobility-type"])
                      for b in router_bindings(agents)) == before_bind  # none new, none lost
        refs = {(r["address"], r["owner"] < 0) for r in st["references"]}
        assert (str(sl_addr), True) in refs and (str(fx_addr), True) in refs

        # the connection made before the crash still echoes; new sockets get the same
        assert sl_app.command("ping after", "echo")["ok"]
        assert setsc_cli(lab, agents, MT.FIXED) == str(fx_addr)
        assert setsc_cli(lab, agents, MT.SESSION_LASTING) == str(sl_addr)
        assert sorted(kernel_addresses(lab)) == sorted([*before_kernel, foreign])

        # the adopted SESSION_LASTING reference ends when its socket does:
        # default policy "release" gives the prefix back
        sl_app.send("quit")
        sl_app.proc.wait(5)
        wait_for(lambda: str(sl_addr) not in {a["address"] for a in agents.host_addresses(
            MT.SESSION_LASTING, usable=False)}, 10, "the SL address to be released")
        assert sl_addr not in kernel_addresses(lab)
        assert fx_addr in kernel_addresses(lab)
    finally:
        for a in apps:
            a.stop()
        agents.stop_all()


def test_sigkill_without_a_state_file_leaves_no_address_and_no_new_binding(lab, tmp_path):
    """No state file (the default): after a SIGKILL the restarted agent
    removes the addresses the dead one left in the kernel (they are no longer
    served), and asks for its IA_PDs with the same IAIDs (RFC 8415 §12: the
    same across restarts while the configuration is unchanged), so the router
    gives back the same bindings instead of delegating new prefixes and
    keeping the old ones until they expire."""
    settings = AgentSettings(offered=TYPES, boot_types=(MT.NON_PERSISTENT, MT.FIXED),
                             dataplane=None)
    agents = LabAgents(lab, tmp_path, settings)
    try:
        agents.start_all()
        wait_for(lambda: agents.host_addresses(MT.NON_PERSISTENT)
                 and agents.host_addresses(MT.FIXED), 15, "the boot NP and FIXED addresses")
        before = {a["address"] for a in agents.host_addresses(usable=False)}
        before_bind = sorted((b["prefix"], b["iaid"]) for b in router_bindings(agents))
        assert len(before_bind) == 2, before_bind

        host = agents.procs.pop("host")
        lab.stop(host, sig=signal.SIGKILL, timeout=5.0)
        assert {str(a) for a in kernel_addresses(lab)} >= before  # the kernel kept them
        agents.start_host()
        wait_for(lambda: agents.host_addresses(MT.NON_PERSISTENT)
                 and agents.host_addresses(MT.FIXED), 15, "the restarted agent's addresses")
        now = {a["address"] for a in agents.host_addresses(usable=False)}
        kernel = {str(a) for a in kernel_addresses(lab)}
        assert kernel == now, (kernel, now)  # the dead agent's left none behind
        assert sorted((b["prefix"], b["iaid"])
                      for b in router_bindings(agents)) == before_bind  # none new, none lost
        assert "leftover address" in agents.log_path("host").read_text()
    finally:
        agents.stop_all()
