"""The host agent's line for an API connection that ends: INFO when an
application's socket that held a setsc() reference or waited for an answer
goes away (the operator wants to see that), DEBUG for a connection that only
asked something (every ``odm host status`` of a monitoring script made an INFO
line). The agent's adapter with a real core and no kernel."""

from __future__ import annotations

import logging

import pytest
from hosthelp import CLIENT, ScriptedServer, config, drain, rng

from host.core.host import HostCore
from host.core.policy import Principal
from host.io.agent import HostAgent
from host.io.api_server import Connection
from odm_wire.constants import MobilityType as MT

HOLDS, PENDING, WAITING, ASKED = 1, 2, 3, 4


@pytest.fixture
def agent():
    cfg = config()
    a = HostAgent(cfg)
    a.core = core = HostCore(cfg, CLIENT, b"secret", rng=rng())
    srv = ScriptedServer(legacy="2001:db8:8000::/56")
    core.start(0.0)
    srv.serve(core, 0.0)
    conns = {o: Connection(o, None, 4000 + o, 1000, 1000) for o in (HOLDS, PENDING, WAITING,
                                                                      ASKED)}
    core.setsc(1, HOLDS, MT.SESSION_LASTING, 1.0, principal=Principal(1000, 1000, pid=4001))
    srv.serve(core, 1.0)
    drain(core)
    assert HOLDS in core.refs
    # a request the core has not answered yet (ON_NET: a Solicit must go out first)
    core.setsc(2, PENDING, MT.NON_PERSISTENT, 1.0, on_net=True,
               principal=Principal(1000, 1000, pid=4002))
    core.datagrams_to_send()
    drain(core)
    assert any(p.owner == PENDING for p in core.pending.values())
    # a request the adapter waits to answer
    a._waiting[7] = (conns[WAITING], 1)
    a.now = lambda: 2.0
    a._kick = lambda: None  # what the core sends after (a Release) is not looked at here
    return a, conns


@pytest.mark.parametrize(("owner", "level"), [
    (HOLDS, logging.INFO), (PENDING, logging.INFO), (WAITING, logging.INFO),
    (ASKED, logging.DEBUG),
])
def test_a_connection_that_ends_is_logged_at_info_only_if_it_held_or_waited(
        agent, caplog, owner, level):
    a, conns = agent
    with caplog.at_level(logging.DEBUG, logger="host.io.agent"):
        a._on_close(conns[owner], "eof")
    (rec,) = [r for r in caplog.records if "ended:" in r.getMessage()]
    assert rec.getMessage() == f"owner {owner} (pid {4000 + owner}) ended: eof"
    assert rec.levelno == level
    assert owner not in a.core.refs and a._waiting.get(7, (None,))[0] is not conns[owner]
