"""The router a host left follows the shared lease store (RFC 8653 §3.2,
DESIGN §2): after a move, its NON_PERSISTENT binding, ENDed by the new
router's answer to the Rebind (router/core/moves.py), is gone from its memory,
its pool and its routes — not kept until its old valid lifetime runs out and
then counted as reclaimed — and its SESSION_LASTING binding says served-by
the new router, as the store (and ``lease6-get-all``) does. A user trial
found both stale on ar1 after ``odm lab move mh ar2``."""

from __future__ import annotations

from ipaddress import IPv6Network

import pytest
from test_mobility import odm_routes

from lab import Lab, LabConfig
from lab.agents import AgentSettings, LabAgents, wait_for
from odm_wire.constants import MobilityType as MT

pytestmark = [pytest.mark.netns]


def _store(agents: LabAgents) -> dict[str, tuple[str, str]]:
    """The shared store's rows (anchor, served-by) of what either router
    holds (``lease6-get-all`` shows the store's row of each binding an agent
    holds in memory, none when the store has none)."""
    from router.io.control import command
    out = {}
    for name in ("ar1", "ar2"):
        listed = command(agents.workdir / f"{name}.sock",
                         "lease6-get-all")["arguments"]["leases"]
        out.update({f"{m['ip-address']}/{m['prefix-len']}": (m["anchor"], m["served-by"])
                    for m in listed})
    return out


def _status(agents: LabAgents, name: str) -> dict:
    return agents.router_status(name)


def _bindings(st: dict) -> dict[str, dict]:
    return {b["prefix"]: b for i in st.get("interfaces", []) for b in i.get("bindings", [])}


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_the_router_left_drops_the_ended_binding_and_follows_the_moved_one(
        store, lab_prefix, lab_state_dir, tmp_path):
    if store == "postgresql":
        from lab.pgserver import find_bindir
        from lab.topology import LabError
        try:
            find_bindir()
        except LabError as exc:
            pytest.skip(str(exc))
    lab = Lab(LabConfig(prefix=lab_prefix, state_dir=lab_state_dir))
    lab.up()
    try:
        agents = LabAgents(lab, tmp_path, AgentSettings(
            boot_types=(MT.SESSION_LASTING, MT.NON_PERSISTENT), dataplane="routed",
            store=store))
        agents.start_all()
        wait_for(lambda: len(agents.host_addresses()) >= 2, 15, "the host's two prefixes")
        before = _bindings(_status(agents, "ar1"))
        np_ = [p for p, b in before.items() if b["mobility-type"] == "non-persistent"]
        sl = [p for p, b in before.items() if b["mobility-type"] == "session-lasting"]
        assert len(np_) == 1 and len(sl) == 1, before
        np_prefix, sl_prefix = np_[0], sl[0]
        assert IPv6Network(np_prefix) in odm_routes(lab, "ar1")

        lab.move("mh", "ar2")
        # the new router ENDs the NP prefix (its record goes) and serves the SL one
        wait_for(lambda: np_prefix not in _store(agents)
                 and _store(agents).get(sl_prefix) == ("ar1", "ar2"), 20,
                 "the Rebind at ar2")

        def agrees() -> bool:
            b = _bindings(_status(agents, "ar1"))
            return np_prefix not in b and b.get(sl_prefix, {}).get("served-by") == "ar2"
        wait_for(agrees, 10, "ar1's bindings to follow the store")
        st = _status(agents, "ar1")
        assert set(_bindings(st)) == {sl_prefix}
        # its route to the host is gone (the SL prefix's is the redirect's now)
        wait_for(lambda: IPv6Network(np_prefix) not in odm_routes(lab, "ar1"), 5,
                 "ar1's route of the ended prefix to go")
        counters = {}
        for i in st["interfaces"]:
            counters.update({k: v for k, v in i["counters"].items() if v})
        assert counters.get("reclaimed-leases", 0) == 0, counters
        assert counters.get("ended-elsewhere-pds") == 1, counters
        np_pool = [p for i in st["interfaces"] for p in i["pools"]
                   if p["mobility-type"] == "non-persistent"]
        assert sum(p["assigned-pds"] for p in np_pool) == 0, np_pool
        from router.io.control import command
        listed = command(agents.workdir / "ar1.sock", "lease6-get-all")["arguments"]["leases"]
        assert {f"{m['ip-address']}/{m['prefix-len']}": m["served-by"] for m in listed} == {
            sl_prefix: "ar2"}
        # the SL prefix reaches the host through the anchor's redirect
        assert odm_routes(lab, "ar1")[IPv6Network(sl_prefix)]["forwarded"]

        # and back: ar1 ends the NP prefix ar2 delegated, serves the SL one
        # again; ar2 keeps neither
        ar2_np = [p for p, b in _bindings(_status(agents, "ar2")).items()
                  if b["mobility-type"] == "non-persistent"]
        assert len(ar2_np) == 1
        lab.move("mh", "ar1")
        wait_for(lambda: ar2_np[0] not in _store(agents)
                 and _store(agents).get(sl_prefix) == ("ar1", "ar1"), 20,
                 "the Rebind back at ar1")
        wait_for(lambda: not _bindings(_status(agents, "ar2")), 10,
                 "ar2's bindings to follow the store")
        wait_for(lambda: not any(p in odm_routes(lab, "ar2") for p in
                                 (IPv6Network(ar2_np[0]), IPv6Network(sl_prefix))), 5,
                 "ar2's routes to the host to go")
        st2 = _status(agents, "ar2")
        c2 = {k: v for i in st2["interfaces"] for k, v in i["counters"].items() if v}
        assert c2.get("reclaimed-leases", 0) == 0 and c2.get("ended-elsewhere-pds") == 1, c2
        assert c2.get("moved-away-pds") == 1, c2
        # ar1's status says what the store says
        b1 = _bindings(_status(agents, "ar1"))
        held = {p: (b["anchor"], b["served-by"]) for p, b in b1.items()}
        assert held == {p: v for p, v in _store(agents).items() if p in held}
        assert held[sl_prefix] == ("ar1", "ar1")
        agents.stop_all()
    finally:
        lab.down()
