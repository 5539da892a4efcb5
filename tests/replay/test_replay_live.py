"""Every golden capture of pcaps/ replayed against the current agents running
in a lab (real sockets, real kernel): against the router agent(s) from the
host's interface, and against the host agent from the routers' access links,
with the capture's setsc() calls, socket closes and moves. A changed type in
the router's answers is reported with its path and both values; the same
replays through ``odm pcap replay --against``; a plain ``odm pcap replay``
of a captured Solicit is answered by the router agent."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from replayset import CASES, GOLDEN, STATE_DIR

from odm.pcaptools.golden import GOLDEN_DIR
from odm.pcaptools.labrun import GoldenLab, replay_host, replay_router

pytestmark = pytest.mark.netns


@pytest.mark.parametrize("name,side", CASES)
def test_golden_capture_replays_against_the_live_agent(name, side, lab, tmp_path):
    g = GOLDEN[name]
    replay = replay_router if side == "router" else replay_host
    rep = replay(g, lab, tmp_path)
    assert rep.ok, "\n".join(rep.lines())
    assert rep.compared >= (2 if side == "router" else 1)


def _typed_ra(t: str) -> str:
    text = (GOLDEN_DIR / "ar1.toml").read_text()
    head, sep, tail = text.partition("[[interface.ra.prefix]]")
    assert sep and 'mobility_type = "non-persistent"' in tail.split("[[")[0]
    return head + sep + tail.replace('mobility_type = "non-persistent"',
                                     f'mobility_type = "{t}"', 1)


def test_a_changed_type_in_the_routers_answers_fails_readably(lab, tmp_path):
    rep = replay_router(GOLDEN["pd-fixed"], lab, tmp_path, configs={"ar1": _typed_ra("fixed")})
    assert not rep.ok
    step = rep.first_failure()
    assert step.what == "RS → RA"
    assert step.difference == ("RA/PIO[2001:db8:a1::/64]/mobility_type", "NON_PERSISTENT",
                               "FIXED")
    assert "    capture: NON_PERSISTENT\n    live:    FIXED" in "\n".join(rep.lines())


def _odm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "odm", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "200"}, check=False)


def test_cli_replay_against_router_and_host(lab, tmp_path):
    gl = GoldenLab(lab, tmp_path / "r")
    gl.start_router("ar1", config_text=_typed_ra("graceful-replacement"))
    try:
        res = _odm("pcap", "replay", str(GOLDEN["pd-fixed"].path), "--against", "router",
                   "--iface", "mh0", "--lab", lab.prefix, "--lab-state-dir", str(STATE_DIR),
                   "--exact-prefixes")
        assert res.returncode == 1, res.stdout + res.stderr
        assert "✗ #1 RS → RA: differs from capture #2 at RA/PIO[2001:db8:a1::/64]/" \
               "mobility_type" in res.stdout
        assert "capture: NON_PERSISTENT" in res.stdout
        assert "live:    GRACEFUL_REPLACEMENT" in res.stdout
    finally:
        gl.stop_all()
    gl = GoldenLab(lab, tmp_path / "h")
    gl.start_host()
    try:
        res = _odm("pcap", "replay", str(GOLDEN["pd-release"].path), "--against", "host",
                   "--iface", "acc", "--lab", lab.prefix, "--lab-state-dir", str(STATE_DIR),
                   "--host-socket", str(gl.host_socket))
        assert res.returncode == 0, res.stdout + res.stderr
        assert "host sent Release" in res.stdout and "conformant" in res.stdout
    finally:
        gl.stop_all()


def test_plain_replay_into_the_lab_is_answered_by_the_router_agent(lab, tmp_path):
    """`odm pcap replay` (no comparison) of a golden capture's Solicit from the
    host's interface: the live router agent answers it with an Advertise of
    the captured type."""
    import time

    from odm.pcaptools.capture import read_capture
    from odm.pcaptools.packets import dissect_all

    gl = GoldenLab(lab, tmp_path / "w")
    gl.start_router("ar1")
    got = tmp_path / "got.pcap"
    cap = gl.capture(got)
    try:
        res = _odm("pcap", "replay", str(GOLDEN["pd-session-lasting"].path), "--iface", "mh0",
                   "--netns", lab.netns("mh"), "--filter", "msg == solicit", "--topspeed")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "sent 1 frames" in res.stdout
        deadline = time.monotonic() + 5
        adv = []
        while not adv and time.monotonic() < deadline:
            time.sleep(0.1)
            adv = [p for p in dissect_all(read_capture(got)) if p.message is not None
                   and type(p.message).__name__ == "Advertise"] if got.stat().st_size > 24 else []
    finally:
        lab.stop(cap)
        gl.stop_all()
    assert adv, "no Advertise from the router agent"
    (ia,) = adv[0].message.ia_pds
    assert ia.prefixes[0].mobility_type.name == "SESSION_LASTING"


def test_cli_replay_against_no_agent_is_an_error(lab):
    """Issue 16: with no agent on the link, `--against host` said
    'conformant (0 messages compared)' and exited 0. Now: exit 2 naming the
    missing agent, for either side."""
    for side, iface, name, want in (("host", "acc", "pd-fixed", "is a host agent running"),
                                    ("router", "mh0", "pd-fixed", "is a router agent running"),
                                    ("host", "acc", "ra-typed", "nothing compared")):
        res = _odm("pcap", "replay", str(GOLDEN[name].path), "--against", side,
                   "--iface", iface, "--lab", lab.prefix, "--lab-state-dir", str(STATE_DIR),
                   "--no-actions", "--timeout", "0.5")
        assert res.returncode == 2, (side, name, res.stdout + res.stderr)
        assert want in res.stdout and "conformant (" not in res.stdout, res.stdout
