"""Every golden capture of pcaps/ replayed against odm's sans-I/O cores (no
root, no network): the router side to router cores with pcaps/ar*.toml and a
fresh lease store, the server side to a host core with pcaps/host.toml. Also:
the captures and the third-party ones pass ``odm pcap check``, and the
manifest, README and files agree."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("router.core.router")
pytest.importorskip("host.core.host")

from replayset import CASES, GOLDEN

import odm_wire
from odm.cli import main
from odm.pcaptools.capture import read_capture
from odm.pcaptools.conformance import CompareOptions, conform_host, conform_router
from odm.pcaptools.golden import GOLDEN_DIR, core_host_peer, core_router_peer
from odm.pcaptools.packets import dissect_all
from odm_sansio import linksim
from odm_wire import dhcp6 as d6
from odm_wire.constants import MobilityType

PEERS = Path(__file__).resolve().parents[2] / "pcaps" / "peers"


def packets(name: str) -> list:
    return dissect_all(read_capture(GOLDEN[name].path))


@pytest.mark.parametrize("name,side", CASES)
def test_golden_capture_conforms_to_the_cores(name, side, tmp_path):
    g = GOLDEN[name]
    if side == "router":
        rep = conform_router(packets(name), core_router_peer(g, tmp_path), actions=g.actions,
                             options=CompareOptions(exact_prefixes=True))
    else:
        rep = conform_host(packets(name), core_host_peer(g, tmp_path), actions=g.actions)
    assert rep.ok, "\n".join(rep.lines())
    assert rep.compared >= (2 if side == "router" else 1)


def type_label(core, t: MobilityType) -> linksim.Tamper:
    """A router core that labels every delegated prefix with ``t``."""

    def rewrite(o):
        if o.kind != "dhcp6":
            return o
        m = odm_wire.decode(o.payload)
        ias = tuple(dataclasses.replace(ia, options=tuple(
            dataclasses.replace(p, options=(d6.mobility_type_option(t),))
            if isinstance(p, d6.IAPrefix) and p.mobility_type else p
            for p in ia.options)) if isinstance(ia, d6.IAPD) else ia
            for ia in m.options)
        return dataclasses.replace(o, payload=odm_wire.encode(dataclasses.replace(m, options=ias)))

    return linksim.Tamper(core, rewrite)


def test_a_type_changed_in_the_routers_answers_fails_with_a_readable_difference(tmp_path):
    g = GOLDEN["pd-session-lasting"]
    peer = core_router_peer(g, tmp_path, wrap=lambda n, c: type_label(c, MobilityType.FIXED))
    rep = conform_router(packets(g.name), peer, actions=g.actions)
    assert not rep.ok
    path, want, got = rep.first_failure().difference
    assert re.fullmatch(r"Advertise/IA_PD\[iaid=\d+\]/IAPREFIX\[P\d=2001:db8:1500::/56\]/"
                        r"VENDOR_OPTS\(odm\)/MOBILITY_TYPE", path), path
    assert (want, got) == ("SESSION_LASTING", "FIXED")
    text = "\n".join(rep.lines())
    assert "Solicit → Advertise: differs from capture" in text
    assert "capture: SESSION_LASTING" in text and "live:    FIXED" in text


def test_odm_pcap_check_finds_nothing_in_the_golden_and_peer_captures():
    files = sorted(str(p) for p in GOLDEN_DIR.glob("*.pcap"))
    peers = sorted(str(p) for p in PEERS.glob("*.pcap")) if PEERS.is_dir() else []
    assert len(files) >= 12
    res = CliRunner(env={"COLUMNS": "400"}).invoke(main, ["pcap", "check", *files, *peers])
    assert res.exit_code == 0, res.output
    assert res.output.count("no faults") == len(files) + len(peers)
    assert "✗" not in res.output


def test_manifest_readme_and_files_agree():
    on_disk = {p.stem for p in GOLDEN_DIR.glob("*.pcap")}
    assert on_disk == set(GOLDEN)
    readme = (GOLDEN_DIR / "README.md").read_text()
    for name, g in GOLDEN.items():
        assert f"`{name}.pcap`" in readme
        assert g.what and g.actions is not None
        for a in g.actions:
            assert 1 <= a.before_frame <= len(read_capture(g.path)) + 1
    wanted = {"ra-typed", "pd-fixed", "pd-session-lasting", "pd-non-persistent",
              "pd-graceful-replacement", "pd-noprefixavail", "pd-renew", "pd-rebind-move",
              "pd-release", "peer-dhcp6c", "peer-dhclient", "peer-dhcpcd"}
    assert wanted <= on_disk
