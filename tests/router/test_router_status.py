"""RouterCore.status: the binding list can be limited (the control socket's
``limit``) while ``binding-count`` and the pool counters stay complete."""

from __future__ import annotations

import json

from tests.router.conftest import SERVER_DUID, Client


def test_status_limit_keeps_counts(h):
    for i in range(5):
        c = Client(mac=f"0200000001{i:02x}")
        rep = h.one(c.solicit(c.ia(1), rapid=True))
        assert rep.ia_pds[0].prefixes
    full = h.core.status(h.clock())
    assert full["binding-count"] == 5 and len(full["bindings"]) == 5
    two = h.core.status(h.clock(), limit=2)
    assert two["binding-count"] == 5 and len(two["bindings"]) == 2
    assert {b["prefix"] for b in two["bindings"]} <= {b["prefix"] for b in full["bindings"]}
    none = h.core.status(h.clock(), limit=0)
    assert none["bindings"] == [] and none["pools"] == full["pools"]
    assert sum(p["assigned-pds"] for p in none["pools"]) == 5
    assert none["server-duid"] == bytes(SERVER_DUID).hex(":")
    json.dumps(full)  # JSON-ready
