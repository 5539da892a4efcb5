"""Operating the router agent as Kea's and radvd's users do (router/io/commands.py):
Kea's commands and answer shape over the real control socket, the ``odm
router`` sub-commands over them, and SIGHUP / config-reload re-reading the
configuration with bindings kept and routes untouched, a broken or
restart-only change refused while the agent runs on."""

from __future__ import annotations

import json
import signal
from ipaddress import IPv6Network

import pytest
from click.testing import CliRunner
from test_router_agent import Client, net_of, wait_until
from test_router_agent import client as client  # noqa: PLC0414 - fixtures
from test_router_agent import pair as pair  # noqa: PLC0414

from odm_wire.constants import MessageType, MobilityType

pytestmark = [pytest.mark.netns]


def kea(pair, name: str, arguments: dict | None = None) -> dict:
    from router.io.control import command
    return command(pair.workdir / "router.sock", name, arguments)


def _ras_with(client: Client, lifetime: int, timeout: float = 5.0) -> bool:
    client.send_rs()
    got = client.ras(timeout, until=lambda ra: ra.router_lifetime == lifetime)
    return bool(got) and got[-1][0].router_lifetime == lifetime


def test_kea_commands_get_page_statistics_delete_wipe(pair, client):
    pair.start_router(pair.config())
    ias = {iaid: client.acquire(iaid, mt) for iaid, mt in
           ((1, None), (2, MobilityType.FIXED), (3, MobilityType.SESSION_LASTING))}
    nets = {iaid: net_of(ia) for iaid, ia in ias.items()}
    wait_until(lambda: len(pair.odm_routes()) == 3, 5, what="three routes")

    ans = kea(pair, "list-commands")
    assert ans["result"] == 0 and {"lease6-get", "lease6-del", "config-reload",
                                   "statistic-get-all"} <= set(ans["arguments"])
    assert kea(pair, "version-get")["text"].startswith("odm ")
    assert kea(pair, "no-such-command")["result"] == 2
    assert kea(pair, "lease6-get", {"ip-address": "not an address"})["result"] == 1

    ans = kea(pair, "lease6-get-all")
    assert ans["result"] == 0 and ans["text"] == "3 IPv6 lease(s) found."
    leases = {le["iaid"]: le for le in ans["arguments"]["leases"]}
    le = leases[2]
    assert IPv6Network(f"{le['ip-address']}/{le['prefix-len']}") == nets[2]
    assert le["type"] == "IA_PD" and le["duid"] == bytes(client.duid).hex(":")
    assert le["mobility-type"] == "fixed" and le["valid-lft"] == 60
    assert le["served-by"] == le["anchor"] == "h1rtr"

    # one lease by its prefix's address alone, by /len, by DUID and IAID
    for args in ({"ip-address": str(nets[3].network_address)},
                 {"ip-address": str(nets[3])},
                 {"duid": bytes(client.duid).hex(), "iaid": 3}):
        ans = kea(pair, "lease6-get", args)
        assert ans["result"] == 0 and ans["arguments"]["iaid"] == 3, (args, ans)
    assert kea(pair, "lease6-get", {"ip-address": "2001:db8:ffff::"})["result"] == 3

    # pages in prefix order
    order = sorted(nets.values(), key=lambda n: int(n.network_address))
    p1 = kea(pair, "lease6-get-page", {"from": "start", "limit": 2})["arguments"]
    assert p1["count"] == 2
    last = p1["leases"][-1]["ip-address"]
    p2 = kea(pair, "lease6-get-page", {"from": last, "limit": 2})["arguments"]
    got = [IPv6Network(f"{x['ip-address']}/{x['prefix-len']}")
           for x in p1["leases"] + p2["leases"]]
    assert got == order
    assert kea(pair, "lease6-get-page",
               {"from": p2["leases"][-1]["ip-address"], "limit": 2})["result"] == 3

    # statistics: Kea's names, summed and per interface; reset
    stats = kea(pair, "statistic-get-all")["arguments"]
    assert stats["pkt6-request-received"][0][0] == 3
    assert stats[f"interface[{pair.rtr_if}].pkt6-request-received"][0][0] == 3
    assert stats["assigned-pds"][0][0] == 3
    assert kea(pair, "statistic-reset", {"name": "pkt6-request-received"})["result"] == 0
    ans = kea(pair, "statistic-get", {"name": "pkt6-request-received"})
    assert ans["arguments"]["pkt6-request-received"][0][0] == 0
    assert kea(pair, "statistic-get", {"name": "no-such"})["result"] == 3

    # delete one: out of the store and the kernel. The client is not told; its
    # Renew finds no binding and, the prefix being free, gets it again (RFC
    # 8415 §18.3.4 lets a server create bindings on Renew; Kea does the same)
    ans = kea(pair, "lease6-del", {"ip-address": str(nets[1])})
    assert ans == {"result": 0, "text": "IPv6 lease deleted."}
    wait_until(lambda: str(nets[1]) not in pair.odm_routes(), 5, what="route of the lease")
    assert kea(pair, "lease6-get", {"ip-address": str(nets[1])})["result"] == 3
    assert kea(pair, "lease6-del", {"ip-address": str(nets[1])})["result"] == 3
    rep = client.renew(ias[1])
    assert rep is not None and rep.msg_type == MessageType.REPLY
    (ia,) = rep.ia_pds
    assert ia.status is None and net_of(ia) == nets[1]
    assert kea(pair, "lease6-get", {"ip-address": str(nets[1])})["result"] == 0
    wait_until(lambda: str(nets[1]) in pair.odm_routes(), 5, what="the route back")

    ans = kea(pair, "lease6-wipe")
    assert ans["result"] == 0 and ans["text"].startswith("Deleted 3 IPv6 lease(s)")
    wait_until(lambda: pair.odm_routes() == {}, 5, what="no route left")
    assert kea(pair, "lease6-get-all")["result"] == 3


def test_cli_over_the_commands_never_cuts_an_address(pair, client):
    from router.cli import router
    pair.start_router(pair.config())
    net = net_of(client.acquire(4, MobilityType.FIXED))
    sock = str(pair.workdir / "router.sock")
    r = CliRunner().invoke(router, ["lease", "list", "--socket", sock],
                           env={"COLUMNS": "40"})
    assert r.exit_code == 0, r.output
    assert str(net) in r.output and bytes(client.duid).hex(":") in r.output
    assert "0x00000004" in r.output
    r = CliRunner().invoke(router, ["lease", "get", str(net), "--socket", sock, "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["arguments"]["iaid"] == 4
    r = CliRunner().invoke(router, ["lease", "get", "2001:db8:ffff::/56", "--socket", sock])
    assert r.exit_code == 3
    r = CliRunner().invoke(router, ["stats", "pkt6-reply-sent", "--socket", sock])
    assert r.exit_code == 0 and "pkt6-reply-sent" in r.output
    r = CliRunner().invoke(router, ["lease", "del", str(net), "--socket", sock])
    assert r.exit_code == 0 and "deleted" in r.output
    r = CliRunner().invoke(router, ["lease", "list", "--socket",
                                    str(pair.workdir / "nobody.sock")])
    assert r.exit_code == 4 and "no router agent" in r.output


def test_sighup_reloads_in_place_and_refuses_a_broken_config(pair, client):
    cfg = pair.config()
    proc = pair.start_router(cfg)
    ia = client.acquire(6, MobilityType.SESSION_LASTING)
    net = net_of(ia)
    ll = pair.link_local(pair.cli_ns, pair.cli_if)
    wait_until(lambda: pair.odm_routes() == {str(net): ll}, 5, what="route")
    assert _ras_with(client, 1800)

    # a changed RA and pool: applied at once, the binding and its route kept
    text = cfg.read_text()
    cfg.write_text(text.replace("adv_default_lifetime = 1800", "adv_default_lifetime = 900")
                   .replace("valid_lifetime = 60", "valid_lifetime = 70"))
    proc.send_signal(signal.SIGHUP)
    assert _ras_with(client, 900), "no RA with the reloaded router lifetime"
    assert proc.poll() is None
    assert pair.odm_routes() == {str(net): ll}
    rep = client.renew(ia)
    (ria,) = rep.ia_pds
    assert net_of(ria) == net and ria.prefixes[0].valid_lifetime == 70
    stats = kea(pair, "statistic-get-all")["arguments"]
    assert stats["pkt6-request-received"][0][0] == 1  # counters carried over
    assert kea(pair, "status-get")["arguments"]["reload"] < 30

    # a broken file: refused, logged, the agent runs on unchanged
    cfg.write_text(text.replace("[[interface]]", "[[interface"))
    proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in (pair.workdir / "router.log").read_text(), 5,
               what="the refusal in the log")
    assert proc.poll() is None and _ras_with(client, 900)
    assert pair.odm_routes() == {str(net): ll}
    assert kea(pair, "config-test")["result"] == 1

    # a change only a restart can make: refused over the control socket too
    cfg.write_text(text.replace('id = "h1rtr"', 'id = "another"'))
    ans = kea(pair, "config-reload")
    assert ans["result"] == 1 and "router.id" in ans["text"] and "restart" in ans["text"]
    cfg.write_text(text)
    assert kea(pair, "config-test") == {"result": 0, "text": "Configuration seems sane."}
    assert kea(pair, "config-reload")["result"] == 0
    assert _ras_with(client, 1800)
    assert kea(pair, "config-get")["arguments"]["config"]["router"]["id"] == "h1rtr"

    # shutdown as SIGTERM: final RAs, routes flushed, exit 0
    assert kea(pair, "shutdown")["result"] == 0
    assert proc.wait(10) == 0
    pair.procs.remove(proc)
    assert pair.odm_routes() == {}


def test_the_agent_speaks_systemds_readiness_protocol(pair, tmp_path):
    """contrib/systemd/odm-router.service is Type=notify: READY=1 once the
    agent serves (its control socket answers), RELOADING=1 then READY=1 around
    a SIGHUP reload, STOPPING=1 at SIGTERM (sd_notify(3))."""
    import socket as sk
    import sys

    from router_pair import REPO

    path = tmp_path / "notify.sock"
    s = sk.socket(sk.AF_UNIX, sk.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(15)
    try:
        proc = pair.spawn(pair.rtr_ns, [sys.executable, "-m", "odm", "router", "run",
                                        "--config", str(pair.config())],
                          pair.workdir / "router.log",
                          env={"NOTIFY_SOCKET": str(path), "PYTHONPATH": str(REPO)})

        def next_message() -> list[str]:
            return s.recv(4096).decode().splitlines()

        msg = next_message()
        assert "READY=1" in msg and f"MAINPID={proc.pid}" in msg, msg
        assert kea(pair, "list-commands")["result"] == 0  # ready meant ready
        proc.send_signal(signal.SIGHUP)
        msg = next_message()
        assert msg[0] == "RELOADING=1" and any(m.startswith("MONOTONIC_USEC=") for m in msg)
        assert next_message() == ["READY=1", "STATUS=serving"]
        proc.send_signal(signal.SIGTERM)
        assert next_message() == ["STOPPING=1"]
        assert proc.wait(10) == 0
        pair.procs.remove(proc)
    finally:
        s.close()


def test_a_missing_interface_is_one_line_before_the_store_is_touched(pair):
    """Issue 16: the agent created the lease store and flushed routes before
    saying "Errno 19"; now it names the interface and touches nothing."""
    import sys

    from router_pair import REPO
    cfg = pair.config()
    r = pair.run(pair.rtr_ns, [sys.executable, "-m", "odm", "router", "run", "--config",
                               str(cfg), "--iface", "nosuch0"], env={"PYTHONPATH": str(REPO)})
    assert r.returncode == 1
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert "nosuch0" in line and "Traceback" not in r.stderr
    assert not (pair.workdir / "leases.sqlite3").exists()
    assert not (pair.workdir / "router.sock").exists()


def test_odm_monitor_ra_prints_what_the_router_sends_and_sends_nothing(pair):
    """``odm monitor ra`` (radvdump's place): the RAs heard, decoded, one JSON
    object per line with --json; it sends no RS of its own."""
    import sys

    from router_pair import REPO
    pair.start_router(pair.config())
    r = pair.run(pair.cli_ns, [sys.executable, "-m", "odm", "monitor", "ra", "--iface",
                               pair.cli_if, "--json", "--count", "1", "--timeout", "20"],
                 env={"PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    ra = json.loads(line)
    assert ra["hop-limit"] == 255 and ra["router-lifetime"] == 1800 and not ra["violations"]
    (pio,) = ra["prefixes"]
    assert pio["prefix"] == "2001:db8:1::/64" and pio["mobility-type"] == "non-persistent"
    st = kea(pair, "statistic-get", {"name": "rs-received"})
    assert st["arguments"]["rs-received"][0][0] == 0
    r = pair.run(pair.cli_ns, [sys.executable, "-m", "odm", "monitor", "ra", "--iface",
                               pair.cli_if, "--count", "1", "--timeout", "20"],
                 env={"PYTHONPATH": str(REPO)})
    assert r.returncode == 0 and "PIO 2001:db8:1::/64 LA NON_PERSISTENT" in r.stdout, r.stdout


def test_a_refused_start_flushes_nothing(pair):
    """A data plane the kernel lacks (or a missing interface) is refused
    before the store is opened; the refused agent flushed odm's routes on its
    way out all the same (a fresh-clone try, issue 11)."""
    import sys

    from router_pair import REPO

    from lab.kernel import probe_dataplanes
    missing = next((n for n, why in probe_dataplanes().items() if why), None)
    if missing is None:
        pytest.skip("this kernel runs every backend")
    cfg = pair.config()
    text = cfg.read_text()
    cfg.write_text(text + f'''
[mobility]
dataplane = "{missing}"
core_interface = "{pair.rtr_if}"
sid = "2001:db8:5e6:1::1"
''')
    r = pair.run(pair.rtr_ns, [sys.executable, "-m", "odm", "router", "run", "--config",
                               str(cfg)], env={"PYTHONPATH": str(REPO)})
    assert r.returncode == 1 and "CONFIG_" in r.stderr
    assert "flushed" not in r.stderr
