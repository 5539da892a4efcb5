"""The namespace lab (lab/): build, reach, move, capture, tear down -- on the real kernel.

Needs root (tests marked ``netns`` are skipped otherwise). Every test uses its
own namespace prefix and the fixtures in conftest.py tear its lab down even
when the test fails. Traffic is only sent between addresses inside the lab.
"""

from __future__ import annotations

import json
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lab import (
    ACCESS_BRIDGE,
    ACCESS_PORT,
    CORE_BRIDGE,
    HOST_IF,
    Lab,
    LabConfig,
    LabConfigError,
    LabError,
    load_config,
    nsutil,
)

PY = sys.executable

# A UDP+TCP echo server: "python3 -c ECHO PORT". Prints "ready" once bound.
ECHO = textwrap.dedent(
    r"""
    import socket, sys, threading
    port = int(sys.argv[1])
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind(("::", port))
    t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("::", port)); t.listen(8)
    def tcp():
        while True:
            c, _ = t.accept()
            with c:
                data = c.recv(65536)
                c.sendall(b"echo:" + data)
    threading.Thread(target=tcp, daemon=True).start()
    print("ready", flush=True)
    while True:
        data, peer = u.recvfrom(65536)
        u.sendto(b"echo:" + data, peer)
    """
)

# A client: "python3 -c CLIENT udp|tcp DST PORT MSG [SRC]". Retries until the
# server answers (so no sleep is needed for it to start), 5 s at most.
CLIENT = textwrap.dedent(
    r"""
    import socket, sys, time
    proto, dst, port, msg = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
    src = sys.argv[5] if len(sys.argv) > 5 else None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        s = socket.socket(socket.AF_INET6, kind)
        s.settimeout(0.3)
        try:
            if src:
                s.bind((src, 0))
            if proto == "udp":
                s.sendto(msg, (dst, port))
                data, _ = s.recvfrom(65536)
            else:
                s.connect((dst, port)); s.sendall(msg); data = s.recv(65536)
            print(data.decode()); sys.exit(0)
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    sys.exit(1)
    """
)

PORT = 7007

BAD_CHECKSUM_FILTER = (
    'udp.checksum.status == "Bad" || tcp.checksum.status == "Bad" '
    '|| icmpv6.checksum.status == "Bad"'
)


def _echo(lab: Lab, node: str, tmp_path: Path) -> subprocess.Popen:
    log = tmp_path / f"echo-{node}.log"
    proc = lab.spawn(node, [PY, "-c", ECHO, str(PORT)], log)
    deadline = time.monotonic() + 5
    while "ready" not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "echo server did not start"
        time.sleep(0.01)
    return proc


def _ask(lab: Lab, node: str, dst: str, msg: str, proto: str = "udp",
         src: str | None = None) -> str:
    argv = [PY, "-c", CLIENT, proto, dst, str(PORT), msg] + ([src] if src else [])
    r = lab.exec(node, argv, capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, f"{node} -> {dst} ({proto}) got no answer: {r.stderr}"
    return r.stdout.strip()


def _add_nodad(lab: Lab, node: str, ifname: str, address: str) -> None:
    """Add address/64 with IFA_F_NODAD so it is usable at once."""
    with lab.iproute(node) as ipr:
        idx = ipr.link_lookup(ifname=ifname)[0]
        ipr.addr("add", index=idx, address=address, prefixlen=64, flags=0x02)


def _ifaces(lab: Lab, node: str) -> dict[str, dict]:
    return {i["ifname"]: i for i in lab.status()["nodes"][node]["interfaces"]}


# -- checksum verification (independent of any dissector) ---------------------


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _l4_checksums(pcap: Path) -> tuple[list[tuple[int, bool]], int]:
    """[(proto, checksum ok)] for every UDP/TCP/ICMPv6 packet in an Ethernet pcap,
    and the total frame count."""
    from scapy.utils import RawPcapReader

    out = []
    frames = 0
    for frame, _meta in RawPcapReader(str(pcap)):
        frames += 1
        if len(frame) < 54 or frame[12:14] != b"\x86\xdd":
            continue
        ip = frame[14:]
        plen = struct.unpack("!H", ip[4:6])[0]
        nh, off = ip[6], 40
        src, dst = ip[8:24], ip[24:40]
        while nh in (0, 43, 60):  # hop-by-hop, routing, destination options
            nh, off = ip[off], off + (ip[off + 1] + 1) * 8
        if nh not in (6, 17, 58):
            continue
        upper = ip[off:40 + plen]
        pseudo = src + dst + struct.pack("!IxxxB", len(upper), nh)
        ok = _csum(pseudo + upper) == 0xFFFF
        if nh == 17 and upper[6:8] == b"\0\0":
            ok = False  # a zero UDP checksum is invalid in IPv6
        out.append((nh, ok))
    return out, frames


# -- configuration (no root needed) ---------------------------------------------


def test_default_address_plan() -> None:
    cfg = LabConfig()
    assert cfg.nodes == ("cn", "ar1", "ar2", "mh")
    assert cfg.netns("ar2") == "odm-ar2"
    assert str(cfg.cn_address) == "2001:db8:0:c0::100"
    ar1, ar2 = cfg.router("ar1"), cfg.router("ar2")
    assert (str(ar1.core_address), str(ar2.core_address)) == ("2001:db8:0:c0::1",
                                                                "2001:db8:0:c0::2")
    assert (str(ar1.pd_pool), str(ar2.pd_pool)) == ("2001:db8:1000::/36", "2001:db8:2000::/36")
    assert str(ar1.access_address) == "2001:db8:a1::1"
    assert ar1.access_link_local != ar2.access_link_local
    assert LabConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.state_path == Path("/run/odm-lab/odm/state.json")


def test_config_from_toml(tmp_path: Path) -> None:
    f = tmp_path / "lab.toml"
    f.write_text(textwrap.dedent("""
        prefix = "demo"
        [routers.ar1]
        pd_pool = "2001:db8:4000::/36"
        [routers.ar2]
        [routers.ar3]
        core_address = "2001:db8:0:c0::3"
        access_link_local = "fe80::3"
        access_prefix = "2001:db8:a3::/64"
        pd_pool = "2001:db8:3000::/36"
        access_mac = "02:00:00:00:a3:01"
    """))
    cfg = load_config(f, prefix="other", state_dir=str(tmp_path))
    assert cfg.prefix == "other" and cfg.state_dir == tmp_path
    assert cfg.router_names == ("ar1", "ar2", "ar3")
    assert str(cfg.router("ar1").pd_pool) == "2001:db8:4000::/36"
    assert str(cfg.router("ar2").pd_pool) == "2001:db8:2000::/36"


@pytest.mark.parametrize(
    "data",
    [
        {"prefix": "Bad Prefix"},
        {"routers": {"ar1": {"pd_pool": "2001:db8:2000::/36"}, "ar2": {}}},  # overlap
        {"cn_address": "2001:db8:1::1"},  # not on the core link
        {"initial_router": "ar9"},
        {"routers": {"ar1": {"access_link_local": "2001:db8::1"}, "ar2": {}}},
        {"bogus": 1},
    ],
)
def test_config_rejects(data: dict) -> None:
    with pytest.raises(LabConfigError):
        LabConfig.from_dict(data)


# -- the lab itself ---------------------------------------------------------------


@pytest.mark.netns
def test_up_builds_topology(lab: Lab) -> None:
    names = set(nsutil.NETNS_DIR.iterdir()) if nsutil.NETNS_DIR.exists() else set()
    for node in ("cn", "ar1", "ar2", "mh"):
        assert nsutil.NETNS_DIR / f"{lab.prefix}-{node}" in names
    st = json.loads(lab.state_path.read_text())
    assert st["phase"] == "up" and st["attached"] == "ar1"
    assert sorted(st["netns"]) == sorted(f"{lab.prefix}-{n}" for n in lab.nodes)

    cn = _ifaces(lab, "cn")
    assert cn[CORE_BRIDGE]["kind"] == "bridge"
    assert "2001:db8:0:c0::100/64" in cn[CORE_BRIDGE]["addresses"]
    assert cn["ar1"]["master"] == CORE_BRIDGE and cn["ar2"]["master"] == CORE_BRIDGE
    for r, ll in (("ar1", "fe80::1/64"), ("ar2", "fe80::2/64")):
        ifs = _ifaces(lab, r)
        assert f"{lab.router(r).core_address}/64" in ifs["core"]["addresses"]
        want = [ll, f"{lab.router(r).access_address}/64"]
        assert sorted(ifs[ACCESS_BRIDGE]["addresses"]) == sorted(want)
        assert lab.sysctl(r, "net.ipv6.conf.all.forwarding") == "1"
        assert lab.sysctl(r, "net/ipv6/conf/acc/accept_dad") == "0"
    assert _ifaces(lab, "ar1")[ACCESS_PORT]["master"] == ACCESS_BRIDGE
    assert ACCESS_PORT not in _ifaces(lab, "ar2")
    assert _ifaces(lab, "ar2")[ACCESS_BRIDGE]["carrier"] is False  # nobody attached
    mh = _ifaces(lab, "mh")
    assert mh[HOST_IF]["carrier"] and mh[HOST_IF]["mac"] == "02:00:00:00:00:10"

    # TX checksum offload is off on every veth end and bridge
    for node, ifname in [("cn", CORE_BRIDGE), ("cn", "ar1"), ("cn", "ar2"), ("ar1", "core"),
                         ("ar1", ACCESS_BRIDGE), ("ar1", ACCESS_PORT), ("ar2", "core"),
                         ("ar2", ACCESS_BRIDGE), ("mh", HOST_IF)]:
        assert lab.tx_checksum(node, ifname) is False, f"{node}/{ifname}"

    # cn routes every pool towards its router
    with lab.iproute("cn") as ipr:
        routes = {(r.get_attr("RTA_DST"), r["dst_len"]): r.get_attr("RTA_GATEWAY")
                  for r in ipr.get_routes(family=10)}
    assert routes[("2001:db8:1000::", 36)] == "2001:db8:0:c0::1"
    assert routes[("2001:db8:2000::", 36)] == "2001:db8:0:c0::2"


@pytest.mark.netns
def test_cn_reaches_routers(lab: Lab, tmp_path: Path) -> None:
    servers = [_echo(lab, r, tmp_path) for r in ("ar1", "ar2")]
    assert _ask(lab, "cn", "2001:db8:0:c0::1", "hi-ar1") == "echo:hi-ar1"
    assert _ask(lab, "cn", "2001:db8:0:c0::2", "hi-ar2", proto="tcp") == "echo:hi-ar2"
    # routers reach each other over the core link (where tunnels will run)
    assert _ask(lab, "ar1", "2001:db8:0:c0::2", "r2r") == "echo:r2r"
    # cn reaches a router's access address through the pool/access routes
    assert _ask(lab, "cn", str(lab.router("ar2").access_address), "acc") == "echo:acc"
    recorded = {p["pid"] for p in lab.status()["processes"]}
    assert {s.pid for s in servers} <= recorded
    for s in servers:
        assert lab.stop(s) == -signal.SIGTERM
    assert not {s.pid for s in servers} & {p["pid"] for p in lab.status()["processes"]}


@pytest.mark.netns
def test_move_rehomes_the_host_link(lab: Lab, tmp_path: Path) -> None:
    mh_index = lab.ifindex("mh", HOST_IF)
    changes = _ifaces(lab, "mh")[HOST_IF]["carrier_changes"]
    _add_nodad(lab, "mh", HOST_IF, "2001:db8:a1::10")
    _add_nodad(lab, "mh", HOST_IF, "2001:db8:a2::10")
    servers = [_echo(lab, r, tmp_path) for r in ("ar1", "ar2")]
    assert _ask(lab, "mh", "2001:db8:a1::1", "at-ar1") == "echo:at-ar1"

    assert lab.move("mh", "ar2") is True
    assert lab.attached == "ar2"
    assert ACCESS_PORT not in _ifaces(lab, "ar1")
    ar2 = _ifaces(lab, "ar2")
    assert ar2[ACCESS_PORT]["master"] == ACCESS_BRIDGE and ar2[ACCESS_PORT]["state"] == "up"
    assert ar2[ACCESS_BRIDGE]["carrier"] is True
    assert _ifaces(lab, "ar1")[ACCESS_BRIDGE]["carrier"] is False
    mh = _ifaces(lab, "mh")[HOST_IF]
    assert lab.ifindex("mh", HOST_IF) == mh_index
    assert mh["carrier"] and mh["carrier_changes"] >= changes + 2
    assert "2001:db8:a1::10/64" in mh["addresses"]  # addresses stay
    assert lab.tx_checksum("ar2", ACCESS_PORT) is False
    assert _ask(lab, "mh", "2001:db8:a2::1", "at-ar2") == "echo:at-ar2"
    # the old router's access link is gone for the host
    r = lab.exec("mh", [PY, "-c", CLIENT.replace("+ 5", "+ 0.5"), "udp", "2001:db8:a1::1",
                        str(PORT), "x"], capture_output=True, timeout=10)
    assert r.returncode == 1

    assert lab.move("mh", "ar2") is False  # already there
    assert lab.move("mh", "ar1", gap=0.05) is True
    assert ACCESS_PORT in _ifaces(lab, "ar1") and ACCESS_PORT not in _ifaces(lab, "ar2")
    assert lab.ifindex("mh", HOST_IF) == mh_index
    for s in servers:
        lab.stop(s)
    with pytest.raises(LabError):
        lab.move("mh", "ar9")
    with pytest.raises(LabError):
        lab.move("cn", "ar2")


@pytest.mark.netns
def test_capture_has_valid_checksums(lab: Lab, tmp_path: Path) -> None:
    core_pcap, acc_pcap = tmp_path / "core.pcap", tmp_path / "access.pcap"
    caps = [lab.capture("core", None, core_pcap), lab.capture(HOST_IF, "mh", acc_pcap)]
    _add_nodad(lab, "mh", HOST_IF, "2001:db8:a1::10")
    servers = [_echo(lab, "ar1", tmp_path), _echo(lab, "cn", tmp_path)]
    _ask(lab, "cn", "2001:db8:0:c0::1", "udp-cn")
    _ask(lab, "cn", "2001:db8:0:c0::1", "tcp-cn" * 300, proto="tcp")
    _ask(lab, "ar1", "2001:db8:0:c0::100", "udp-ar1")
    _ask(lab, "mh", "2001:db8:a1::1", "udp-mh")
    _ask(lab, "mh", "2001:db8:a1::1", "tcp-mh" * 300, proto="tcp")
    for c in caps:
        assert lab.stop(c) == 0
    for s in servers:
        lab.stop(s)

    for pcap in (core_pcap, acc_pcap):
        sums, _frames = _l4_checksums(pcap)
        protos = {p for p, _ in sums}
        assert {6, 17, 58} <= protos, (pcap, protos)  # TCP, UDP and ICMPv6 (ND) seen
        bad = [p for p, ok in sums if not ok]
        assert not bad, f"{pcap.name}: {len(bad)} bad checksums of {len(sums)}"
        if shutil.which("tshark"):
            r = subprocess.run(
                ["tshark", "-r", str(pcap), "-o", "udp.check_checksum:TRUE",
                 "-o", "tcp.check_checksum:TRUE", "-Y", BAD_CHECKSUM_FILTER],
                capture_output=True, text=True, timeout=60, check=False,
            )
            assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr


@pytest.mark.netns
def test_checker_sees_offloaded_checksums(lab: Lab, tmp_path: Path) -> None:
    """Control: with TX offload back on, a capture does carry bad checksums
    (so the lab's offload-off setting is what makes captures clean)."""
    assert lab.tx_checksum("ar1", "core", True) is True
    pcap = tmp_path / "offload.pcap"
    cap = lab.capture("core", "ar1", pcap, bpf="udp")
    server = _echo(lab, "cn", tmp_path)
    _ask(lab, "ar1", "2001:db8:0:c0::100", "offloaded")
    lab.stop(cap)
    lab.stop(server)
    sums, _ = _l4_checksums(pcap)
    assert any(not ok for _, ok in sums)
    if shutil.which("tshark"):  # and tshark's filter used above does flag them
        r = subprocess.run(["tshark", "-r", str(pcap), "-o", "udp.check_checksum:TRUE",
                            "-Y", BAD_CHECKSUM_FILTER],
                           capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0 and r.stdout.strip(), r.stderr


@pytest.mark.netns
def test_down_removes_everything(lab_prefix: str, lab_state_dir: Path, tmp_path: Path) -> None:
    lab = Lab(LabConfig(prefix=lab_prefix, state_dir=lab_state_dir))
    with lab:
        sleeper = lab.spawn("cn", [PY, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")
        cap = lab.capture("access", None, tmp_path / "a.pcap")
        lab.move("mh", "ar2")
    assert sleeper.poll() is not None and cap.poll() is not None
    _assert_gone(lab_prefix, lab_state_dir, [sleeper.pid, cap.pid])
    report = lab.down()  # again: nothing to do, no error
    assert report["netns_removed"] == [] and report["errors"] == []
    assert Lab(prefix=lab_prefix, state_dir=lab_state_dir).down()["netns_removed"] == []


def _assert_gone(prefix: str, state_dir: Path, pids: list[int]) -> None:
    leftovers = [n for n in nsutil.NETNS_DIR.iterdir() if n.name.startswith(prefix + "-")] \
        if nsutil.NETNS_DIR.exists() else []
    assert leftovers == []
    assert not (state_dir / prefix).exists()
    for pid in pids:
        assert not nsutil.proc_alive(pid), pid


CRASHER = textwrap.dedent(
    r"""
    import os, signal, sys
    from lab import Lab, LabConfig
    lab = Lab(LabConfig(prefix=sys.argv[1], state_dir=sys.argv[2])).up()
    p = lab.spawn("ar1", [sys.executable, "-c", "import time; time.sleep(60)"], sys.argv[3])
    lab.move("mh", "ar2")
    print(p.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # crash: no down(), no finally
    """
)


@pytest.mark.netns
def test_down_after_crash_from_state(lab_prefix: str, lab_state_dir: Path, tmp_path: Path) -> None:
    r = subprocess.run([PY, "-c", CRASHER, lab_prefix, str(lab_state_dir), str(tmp_path / "s.log")],
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == -signal.SIGKILL, r.stderr
    pid = int(r.stdout.split()[0])
    assert nsutil.proc_alive(pid)
    assert nsutil.netns_exists(f"{lab_prefix}-cn")
    info = [i for i in Lab.list_labs(lab_state_dir) if i["prefix"] == lab_prefix]
    assert info and info[0]["owner_alive"] is False

    fresh = Lab(prefix=lab_prefix, state_dir=lab_state_dir)
    assert fresh.attached == "ar2"
    report = fresh.down()
    assert pid in report["stopped"]
    assert sorted(report["netns_removed"]) == sorted(f"{lab_prefix}-{n}" for n in fresh.nodes)
    _assert_gone(lab_prefix, lab_state_dir, [pid])


class _FailingLab(Lab):
    def _build(self) -> None:
        super()._build()
        raise KeyboardInterrupt  # as if Ctrl-C hit the end of up()


@pytest.mark.netns
def test_failed_up_cleans_up(lab_prefix: str, lab_state_dir: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        _FailingLab(LabConfig(prefix=lab_prefix, state_dir=lab_state_dir)).up()
    _assert_gone(lab_prefix, lab_state_dir, [])


@pytest.mark.netns
def test_up_refuses_twice_and_foreign_namespaces(lab: Lab, lab_state_dir: Path) -> None:
    with pytest.raises(LabError, match="already up"):
        Lab(LabConfig(prefix=lab.prefix, state_dir=lab_state_dir)).up()
    assert lab.is_up  # the refused attempt did not touch the running lab

    from pyroute2 import netns

    foreign = lab.prefix + "x"
    netns.create(f"{foreign}-mh")
    try:
        with pytest.raises(LabError, match="not ours"):
            Lab(LabConfig(prefix=foreign, state_dir=lab_state_dir)).up()
        assert nsutil.netns_exists(f"{foreign}-mh")
        assert not nsutil.netns_exists(f"{foreign}-cn")
        assert not (lab_state_dir / foreign).exists()
    finally:
        netns.remove(f"{foreign}-mh")
        Lab(prefix=foreign, state_dir=lab_state_dir).down()


@pytest.mark.netns
def test_exec_and_spawn_run_inside_the_namespace(lab: Lab, tmp_path: Path) -> None:
    code = "import socket; print(socket.if_nameindex())"
    r = lab.exec("mh", [PY, "-c", code], capture_output=True, text=True, check=True)
    assert "mh0" in r.stdout and "core" not in r.stdout
    with pytest.raises(subprocess.CalledProcessError):
        lab.exec("cn", [PY, "-c", "raise SystemExit(3)"], check=True)
    with pytest.raises(subprocess.TimeoutExpired):
        lab.exec("cn", [PY, "-c", "import time; time.sleep(30)"], timeout=0.3)
    assert lab.status()["processes"] == []  # exec'd processes are forgotten when done
    log = tmp_path / "spawn.log"
    p = lab.spawn("ar2", [PY, "-c", code], log)
    assert p.wait(10) == 0
    assert "acc" in log.read_text()
    with pytest.raises(LabError):
        lab.exec("nowhere", ["true"])


@pytest.mark.netns
def test_cli_round_trip(lab_prefix: str, lab_state_dir: Path) -> None:
    from click.testing import CliRunner

    from lab.cli import lab as lab_cli

    runner = CliRunner()
    common = ["--prefix", lab_prefix, "--state-dir", str(lab_state_dir)]
    r = runner.invoke(lab_cli, ["up", *common])
    assert r.exit_code == 0, r.output
    r = runner.invoke(lab_cli, ["status", "--json", *common])
    assert r.exit_code == 0, r.output
    st = json.loads(r.output)
    assert st["up"] and st["attached"] == "ar1"
    r = runner.invoke(lab_cli, ["move", "mh", "ar2", *common])
    assert r.exit_code == 0, r.output
    r = runner.invoke(lab_cli, ["exec", *common, "cn", "--", PY, "-c", "raise SystemExit(4)"])
    assert r.exit_code == 4, r.output
    r = runner.invoke(lab_cli, ["status", *common])
    assert r.exit_code == 0 and "ar2" in r.output
    r = runner.invoke(lab_cli, ["down", *common])
    assert r.exit_code == 0, r.output
    assert not nsutil.netns_exists(f"{lab_prefix}-cn")
    r = runner.invoke(lab_cli, ["down", *common])
    assert r.exit_code == 0, r.output
