"""The PD client's transitions as tables (host/core/pd_transitions.py): every
verdict has its entry for every (state, exchange kind) a Reply can meet, the
exchange kinds tell a Request for a new binding from one after NoBinding and a
move's Rebind from the one at T2, and every state change is logged."""

import logging

from hosthelp import CLIENT, SERVER_LL, advertise, config, decoded, prefix, reply, rng

from host.core.pd_client import ExchangeKind, IaState, PdClient, Verdict
from host.core.pd_transitions import ON_GIVE_UP, ON_REPLY, Action
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import Rebind, Renew, Request

P1 = "2001:db8:8000::/56"


def make(**kw):
    return PdClient(config(**kw), CLIENT, rng=rng())


def bound(c, now=0.0):
    iaid = c.acquire(None, now)
    sol = decoded(c.datagrams_to_send())[-1]
    c.handle_datagram(advertise(sol, [prefix(P1)], pref=255), SERVER_LL, now)
    req = decoded(c.datagrams_to_send())[-1]
    c.handle_datagram(reply(req, [prefix(P1)]), SERVER_LL, now)
    return iaid


def test_every_verdict_has_a_transition_for_each_exchange_a_reply_can_answer():
    pairs = {(s, k) for s, k, _ in ON_REPLY}
    assert {k for _, k in pairs} == set(ExchangeKind) - {ExchangeKind.RELEASE}
    for s, k in pairs:
        for v in Verdict:
            assert (s, k, v) in ON_REPLY, (s, k, v)
        assert ON_REPLY[(s, k, Verdict.ABSENT)] == (Action.IGNORE, None)
    # each kind runs in one state; every kind but SOLICIT may give up
    assert {k for _, k in ON_GIVE_UP} == set(ExchangeKind) - {ExchangeKind.SOLICIT}
    assert all((s, k) in pairs for s, k in ON_GIVE_UP if k is not ExchangeKind.RELEASE)


def test_each_state_change_is_logged_once_with_its_cause(caplog):
    c = make()
    with caplog.at_level(logging.DEBUG, logger="host.core.pd_client"):
        iaid = bound(c)
        c.handle_timer(1000.0)  # T1: Renew
        (ren,) = decoded(c.datagrams_to_send())
        assert type(ren) is Renew
        c.handle_datagram(reply(ren, [prefix(P1)]), SERVER_LL, 1000.0)
    lines = [r.getMessage() for r in caplog.records if f"IA_PD 0x{iaid:08x} " in r.getMessage()
             and "->" in r.getMessage()]
    assert [ln.split(": ", 1)[1] for ln in lines] == [
        "SOLICITING -> REQUESTING (Advertise chosen)",
        "REQUESTING -> BOUND (Reply to REQUEST)",
        "BOUND -> RENEWING (T1)",
        "RENEWING -> BOUND (Reply to RENEW)",
    ]
    assert c.ias[iaid].state is IaState.BOUND


def test_nobinding_to_a_renew_requests_the_binding_and_keeps_the_prefix():
    c = make()
    iaid = bound(c)
    c.handle_timer(1000.0)
    (ren,) = decoded(c.datagrams_to_send())
    c.handle_datagram(reply(ren, [], ia_status=SC.NO_BINDING), SERVER_LL, 1000.0)
    ia = c.ias[iaid]
    assert ia.exchange.kind is ExchangeKind.REQUEST_BINDING
    assert ia.state is IaState.BOUND and ia.leases
    assert type(decoded(c.datagrams_to_send())[-1]) is Request


def test_a_move_rebinds_with_its_own_kind_then_the_ordinary_rebind_follows():
    c = make()
    iaid = bound(c)
    c.rebind_all(10.0)
    ia = c.ias[iaid]
    assert ia.exchange.kind is ExchangeKind.REBIND_AFTER_MOVE and ia.state is IaState.REBINDING
    t = 10.0
    while ia.exchange is not None and ia.exchange.kind is ExchangeKind.REBIND_AFTER_MOVE:
        t = c.get_timer()
        c.handle_timer(t)
        assert all(type(m) is Rebind for m in decoded(c.datagrams_to_send()))
    # CNF_MAX_RD ran out (RFC 8415 §18.2.12): the ordinary Rebind, until the leases end
    assert ia.exchange.kind is ExchangeKind.REBIND and ia.state is IaState.REBINDING
    assert t < 4000.0
