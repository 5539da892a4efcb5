"""Conformance replay against odm's sans-I/O cores: sessions recorded in memory
(pairrec.Session) are replayed to fresh cores; a changed answer or a changed
host message is reported at its path with both values."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv6Address

import pytest

pytest.importorskip("router.core.router")
pytest.importorskip("host.core.host")

from pairrec import Session

import odm_wire
from odm.pcaptools.conformance import (
    Action,
    CompareOptions,
    ConformanceError,
    Lifetime,
    Normaliser,
    conform_host,
    conform_router,
    first_difference,
)
from odm.pcaptools.corepeers import CoreRouterPeer
from odm.pcaptools.golden import core_host_peer, core_router_peer
from odm_sansio import linksim
from odm_wire import dhcp6 as d6
from odm_wire.constants import MobilityType

TYPES = ["fixed", "session-lasting", "non-persistent", "graceful-replacement"]


def typed_session(tmp_path, t: str) -> tuple[Session, list]:
    s = Session(tmp_path)
    s.run(0.5)
    s.setsc(t, on_net=True)
    s.run(0.2)
    return s, s.write(tmp_path / f"{t}.pcap")


def move_session(tmp_path) -> tuple[Session, list]:
    s = Session(tmp_path, routers=("ar1", "ar2"))
    s.run(0.5)
    sl = s.setsc("session-lasting")
    s.setsc("graceful-replacement")
    s.setsc("non-persistent", on_net=True)
    s.run(0.3)
    s.move("ar2")
    s.run(0.5)
    s.close(sl)
    s.run(0.2)
    return s, s.write(tmp_path / "move.pcap")


def swap_type(core, old: MobilityType, new: MobilityType) -> linksim.Tamper:
    """A router core whose DHCPv6 answers say ``new`` where they said ``old``."""

    def fix(o):
        if isinstance(o, d6.MobilityTypeSubOption) and o.mobility_type == old:
            return d6.MobilityTypeSubOption(new)
        for f in ("options", "suboptions"):
            if hasattr(o, f) and not isinstance(o, d6.Message):
                return dataclasses.replace(o, **{f: tuple(fix(x) for x in getattr(o, f))})
        return o

    def rewrite(out):
        if out.kind != "dhcp6":
            return out
        msg = odm_wire.decode(out.payload)
        msg = dataclasses.replace(msg, options=tuple(fix(x) for x in msg.options))
        return dataclasses.replace(out, payload=odm_wire.encode(msg))

    return linksim.Tamper(core, rewrite)


# ------------------------------------------------------------- comparator --
def test_normaliser_names_prefixes_and_hides_what_must_differ():
    n = Normaliser()
    ia = d6.IAPD(7, 10, 20, (d6.IAPrefix(30, 40, 56, IPv6Address("2001:db8:1f00::"),
                                         (d6.mobility_type_option(MobilityType.FIXED),)),))
    msg = d6.Reply(0x123456, (d6.ClientId(d6.DuidLL(1, b"\x02" * 6)), d6.ElapsedTime(5),
                              d6.StatusCode(0, "all fine"), ia))
    out = n(msg)
    assert "transaction_id" not in out
    kinds = [o["kind"] for o in out["options"]]
    assert "ElapsedTime" not in kinds  # dropped
    cid = next(o for o in out["options"] if o["kind"] == "ClientId")
    assert cid["duid"] == "<client DUID>"
    st = next(o for o in out["options"] if o["kind"] == "StatusCode")
    assert st == {"kind": "StatusCode", "status_code": "Success"}
    iapd = next(o for o in out["options"] if o["kind"] == "IAPD")
    assert iapd["iaid"] == 7 and iapd["t1"] == Lifetime(10)
    assert iapd["options"][0]["prefix"] == "P1"
    assert Normaliser(CompareOptions(exact_prefixes=True))(msg)["options"][-1]["options"][0][
        "prefix"] == "2001:db8:1f00::/56"


def _reply(t=MobilityType.FIXED, valid=40, iaids=(7,), status=None):
    ias = []
    for i in iaids:
        inner = (d6.IAPrefix(30, valid, 56, IPv6Address(f"2001:db8:1f0{i}::"),
                             (d6.mobility_type_option(t),)),)
        if status is not None:
            inner = (d6.StatusCode(status),)
        ias.append(d6.IAPD(i, 10, 20, inner))
    return d6.Reply(1, (d6.ServerId(d6.DuidLL(1, b"\x01" * 6)), *ias))


def diff(a, b, **kw):
    opts = CompareOptions(**kw)
    return first_difference(Normaliser(opts)(a), Normaliser(opts)(b), slack=opts.lifetime_slack)


def test_first_difference_names_the_path_of_a_changed_type():
    assert diff(_reply(), _reply()) is None
    assert diff(_reply(), _reply(MobilityType.SESSION_LASTING)) == (
        "Reply/IA_PD[iaid=7]/IAPREFIX[P1=2001:db8:1f07::/56]/VENDOR_OPTS(odm)/MOBILITY_TYPE",
        "FIXED", "SESSION_LASTING")


def test_lifetimes_within_the_slack_match_zero_and_infinity_do_not():
    assert diff(_reply(valid=40), _reply(valid=39)) is None
    assert diff(_reply(valid=40), _reply(valid=30)) == (
        "Reply/IA_PD[iaid=7]/IAPREFIX[P1=2001:db8:1f07::/56]/valid_lifetime", "40 s", "30 s")
    assert diff(_reply(valid=1), _reply(valid=0), lifetime_slack=5) is not None
    assert diff(_reply(valid=0xFFFFFFFF), _reply(valid=0xFFFFFFFE), lifetime_slack=5) == (
        "Reply/IA_PD[iaid=7]/IAPREFIX[P1=2001:db8:1f07::/56]/valid_lifetime", "infinity",
        "4294967294 s")


def test_missing_and_replaced_options_are_named():
    assert diff(_reply(iaids=(7, 8)), _reply(iaids=(7,))) == (
        "Reply", "IA_PD[iaid=8]", "no IA_PD[iaid=8]")
    assert diff(_reply(), _reply(status=6)) == (
        "Reply/IA_PD[iaid=7]", "IAPREFIX[P1=2001:db8:1f07::/56]", "STATUS_CODE instead")
    assert diff(_reply(status=6), _reply(status=2))[1:] == ("NoPrefixAvail", "NoAddrsAvail")
    # exact prefixes: another prefix is a difference; named, it is not
    other = d6.Reply(1, (d6.ServerId(d6.DuidLL(1, b"\x01" * 6)), d6.IAPD(7, 10, 20, (
        d6.IAPrefix(30, 40, 56, IPv6Address("2001:db8:aaaa::"),
                    (d6.mobility_type_option(MobilityType.FIXED),)),))))
    assert diff(_reply(), other) is None
    assert diff(_reply(), other, exact_prefixes=True) == (
        "Reply/IA_PD[iaid=7]", "IAPREFIX[2001:db8:1f07::/56]",
        "IAPREFIX[2001:db8:aaaa::/56] instead")


# ------------------------------------------------------------- router side --
@pytest.mark.parametrize("t", TYPES)
def test_typed_acquisition_replayed_to_a_fresh_router_conforms(tmp_path, t):
    s, pkts = typed_session(tmp_path, t)
    rep = conform_router(pkts, core_router_peer(s.golden, tmp_path / "live"),
                         actions=s.actions, options=CompareOptions(exact_prefixes=True))
    assert rep.ok, "\n".join(rep.lines())
    assert rep.compared == 2  # Solicit → Advertise, Request → Reply


def test_a_type_changed_in_the_routers_answers_fails_readably(tmp_path):
    s, pkts = typed_session(tmp_path, "fixed")
    peer = core_router_peer(s.golden, tmp_path / "live", wrap=lambda name, core: swap_type(
        core, MobilityType.FIXED, MobilityType.SESSION_LASTING))
    rep = conform_router(pkts, peer, actions=s.actions)
    assert not rep.ok
    step = rep.first_failure()
    assert step.what == "Solicit → Advertise"
    (iaid,) = [i for i, ia in s.host.pd.ias.items() if ia.mobility_type is MobilityType.FIXED]
    path = (f"Advertise/IA_PD[iaid={iaid}]/IAPREFIX[P1=2001:db8:1f00::/56]/"
            "VENDOR_OPTS(odm)/MOBILITY_TYPE")
    assert step.difference == (path, "FIXED", "SESSION_LASTING")
    text = "\n".join(rep.lines())
    assert "capture: FIXED" in text and "live:    SESSION_LASTING" in text
    assert text.endswith("NOT conformant")
    assert len(rep.steps) == 2  # stopped at the first difference


def test_a_router_with_another_pool_layout_fails_only_with_exact_prefixes(tmp_path):
    s, pkts = typed_session(tmp_path, "non-persistent")
    golden = dataclasses.replace(s.golden, routers=("ar2",))  # ar2 delegates 2001:db8:2300::
    peer = core_router_peer(golden, tmp_path / "named")
    peer.routers = {"ar1": peer.routers["ar2"]}
    peer.attached = "ar1"
    assert conform_router(pkts, peer).ok  # same structure, other prefixes
    peer = core_router_peer(golden, tmp_path / "exact")
    peer.attached = "ar2"
    rep = conform_router(pkts, peer, options=CompareOptions(exact_prefixes=True))
    assert rep.first_failure().difference[1:] == ("IAPREFIX[2001:db8:1300::/56]",
                                                  "IAPREFIX[2001:db8:2300::/56] instead")


def test_rebind_after_a_move_replayed_to_two_routers_sharing_a_store(tmp_path):
    s, pkts = move_session(tmp_path)
    peer = core_router_peer(s.golden, tmp_path / "live")
    rep = conform_router(pkts, peer, actions=s.actions,
                         options=CompareOptions(exact_prefixes=True))
    assert rep.ok, "\n".join(rep.lines())
    whats = [st.what for st in rep.steps]
    assert whats.count("Rebind → Reply") >= 1 and "Release → Reply" in whats
    assert peer.attached == "ar2"
    # without the move, ar1 answers the Rebinds itself: the old prefixes stay
    rep = conform_router(pkts, core_router_peer(s.golden, tmp_path / "nomove"),
                         actions=[a for a in s.actions if a.do != "move"])
    assert not rep.ok and rep.first_failure().what in ("RS → RA", "Rebind → Reply")


def test_a_silent_router_is_reported_with_the_answer_it_owed(tmp_path):
    s, pkts = typed_session(tmp_path, "fixed")

    peer = core_router_peer(s.golden, tmp_path / "live", wrap=lambda n, c: linksim.Tamper(
        c, lambda o: o if o.kind != "dhcp6" else None))  # a router that never answers
    rep = conform_router(pkts, peer, timeout=2.0)
    assert rep.first_failure().difference == ("answer", f"Advertise (frame #{pkts[4].number})",
                                              "nothing within 2 s")


def test_an_action_the_peer_cannot_do_stops_the_replay(tmp_path):
    s, pkts = move_session(tmp_path)
    peer = core_router_peer(dataclasses.replace(s.golden, routers=("ar1",)), tmp_path / "l")
    rep = conform_router(pkts, peer, actions=s.actions)
    assert not rep.ok and "cannot move router=ar2" in rep.error
    with pytest.raises(ConformanceError):
        CoreRouterPeer({"ar1": None}).act(Action(1, "move", {"router": "ar9"}))


# --------------------------------------------------------------- host side --
@pytest.mark.parametrize("t", TYPES)
def test_host_side_typed_acquisition_conforms(tmp_path, t):
    s, pkts = typed_session(tmp_path, t)
    rep = conform_host(pkts, core_host_peer(s.golden, tmp_path / "live"), actions=s.actions)
    assert rep.ok, "\n".join(rep.lines())
    assert rep.compared == 2  # Solicit and Request came from the live host


def test_host_side_move_session_conforms(tmp_path):
    s, pkts = move_session(tmp_path)
    peer = core_host_peer(s.golden, tmp_path / "live")
    rep = conform_host(pkts, peer, actions=s.actions)
    assert rep.ok, "\n".join(rep.lines())
    assert [st.what for st in rep.steps if st.capture_frame].count("host sent Rebind") >= 1


def test_host_side_finds_a_changed_client(tmp_path):
    s, pkts = typed_session(tmp_path, "fixed")
    peer = core_host_peer(s.golden, tmp_path / "live", rapid_commit=True)
    rep = conform_host(pkts, peer, actions=s.actions)
    assert rep.first_failure().difference == ("Solicit", "no RAPID_COMMIT", "RAPID_COMMIT")
    # a host that is never asked for anything sends nothing
    rep = conform_host(pkts, core_host_peer(s.golden, tmp_path / "idle"), timeout=1.0)
    assert rep.first_failure().difference[0] == "message"
    assert "nothing within" in rep.first_failure().difference[2]


def test_host_side_accepts_concurrent_messages_in_another_order(tmp_path):
    s, pkts = move_session(tmp_path)
    rebinds = [i for i, p in enumerate(pkts) if type(p.message).__name__ == "Rebind"]
    assert len(rebinds) >= 2
    a, b = rebinds[0], rebinds[1]
    if b == a + 2:  # each Rebind followed by its Reply: swap the two exchanges
        swapped = pkts[:a] + pkts[b:b + 2] + pkts[a:a + 2] + pkts[b + 2:]
    elif b == a + 1:  # both Rebinds at once (the Rebind after a move is not delayed)
        swapped = pkts[:a] + [pkts[b], pkts[a]] + pkts[b + 1:]
    else:
        swapped = None
    assert swapped is not None and len(swapped) == len(pkts)
    rep = conform_host(swapped, core_host_peer(s.golden, tmp_path / "live"), actions=s.actions)
    assert rep.ok, "\n".join(rep.lines())
    assert any("(before #" in st.note for st in rep.steps)


def test_a_replay_that_compares_nothing_is_an_error_not_conformant(tmp_path):
    """Issue 16: an RA-only capture played to a host (nothing comes back to
    compare) used to say 'conformant (0 messages compared)'."""
    s, pkts = typed_session(tmp_path, "fixed")
    ras = [p for p in pkts if type(p.message).__name__ == "RouterAdvertisement"]
    assert ras
    rep = conform_host(ras, core_host_peer(s.golden, tmp_path / "live"), timeout=0.5)
    assert not rep.ok and rep.error.startswith("nothing compared")
    assert "conformant (0 messages compared)" not in rep.lines()
    assert rep.lines()[-1] == "NOT conformant"


def test_a_host_silent_from_the_start_is_an_error(tmp_path):
    """No host agent on the link: an error (exit 2), not a difference."""
    s, pkts = typed_session(tmp_path, "fixed")
    rep = conform_host(pkts, core_host_peer(s.golden, tmp_path / "idle"), timeout=1.0)
    assert rep.error and "is a host agent running" in rep.error


def test_a_router_silent_from_the_start_is_an_error(tmp_path):
    _s, pkts = typed_session(tmp_path, "fixed")

    class Dead:
        def ask(self, kind, payload, accept, timeout):
            return None

        def act(self, action):
            return None

    rep = conform_router(pkts, Dead(), timeout=0.1)
    assert rep.error and "is a router agent running" in rep.error


def test_replay_cli_exits_2_when_nothing_was_compared(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from odm.pcap_cli import pcap
    from odm.pcaptools import livepeers

    s, _pkts = typed_session(tmp_path, "fixed")
    live = tmp_path / "livehost"

    def fake_run_against(packets, side, iface, **kw):
        return conform_host(packets, core_host_peer(s.golden, live), timeout=0.5)

    monkeypatch.setattr(livepeers, "run_against", fake_run_against)
    res = CliRunner().invoke(pcap, ["replay", str(tmp_path / "fixed.pcap"), "--against", "host",
                                    "--iface", "eth9", "--no-actions"])
    assert res.exit_code == 2, res.output
    assert "is a host agent running" in res.output and "conformant (" not in res.output
