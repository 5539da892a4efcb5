"""Authorisation of setsc() on the host (spec §7, host/core/policy.py,
host/policy_file.py): the policy file, each rule (type, quota, ON_NET rate),
that a refusal is ODM_POLICY_DENIED, is logged and counted, and sends no
DHCPv6 — with a fake clock."""

import logging
import math

import pytest
from hosthelp import (
    CLIENT,
    ScriptedServer,
    config,
    drain,
    rng,
)

from host import api
from host.core.events import FailureReason, SetscCompleted
from host.core.host import HostCore
from host.core.policy import (
    Policy,
    PolicyError,
    Principal,
    Rule,
    default_policy,
)
from host.policy_file import load_policy, policy_from_mapping
from odm_wire.constants import MobilityType as MT
from odm_wire.constants import StatusCode as SC

ALICE = Principal(1000, 1000, frozenset({27}), pid=4242)
BOB = Principal(1001, 1001)
ROOT = Principal(0, 0)
PL = "2001:db8:8000::/56"


def Server():
    """A fresh /56 per typed acquisition, the legacy prefix PL."""
    return ScriptedServer(legacy=PL)


def answers(evs):
    return [e for e in evs if type(e) is SetscCompleted]


def core(policy=None, **kw):
    c = HostCore(config(**kw), CLIENT, b"secret", rng=rng(), policy=policy)
    srv = Server()
    c.start(0.0)
    srv.serve(c, 0.0)
    drain(c)
    return c, srv


def ask(c, srv, rid, owner, t, now, who, *, on_net=False):
    """One setsc(); returns (its answer, DHCPv6 messages it caused)."""
    c.setsc(rid, owner, t, now, on_net=on_net, principal=who)
    before = len(srv.sent)
    srv.serve(c, now)
    (ans,) = [e for e in answers(drain(c)) if e.request_id == rid]
    return ans, srv.sent[before:]


# ------------------------------------------------------------------ file --
def test_policy_file_rules_inherit_the_default_and_resolve_names(tmp_path):
    doc = {
        "default": {"types": ["np", "gr", "sl"], "on_net_per_minute": 10,
                    "max_addresses": {"session-lasting": 4}},
        "rule": [{"user": "alice", "types": "all", "max_addresses": {"fixed": 2}},
                 {"group": ["wheel"], "on_net_per_minute": "unlimited"}],
    }
    pol = policy_from_mapping(doc, resolve_user={"alice": 1000}.__getitem__,
                              resolve_group={"wheel": 27}.__getitem__)
    assert pol.rule_for(BOB) is pol.default
    assert pol.default.types == {MT.SESSION_LASTING, MT.NON_PERSISTENT,
                                 MT.GRACEFUL_REPLACEMENT}
    r1 = pol.rule_for(ALICE)  # uid match first, though her groups match rule 2 too
    assert r1.name == "rule1" and MT.FIXED in r1.types
    assert r1.limit(MT.FIXED) == 2 and r1.limit(MT.SESSION_LASTING) == 4  # inherited
    assert r1.on_net_per_minute == 10
    r2 = pol.rule_for(Principal(1002, 1002, frozenset({27})))  # supplementary group
    assert r2.name == "rule2" and r2.on_net_per_minute == math.inf
    assert MT.FIXED not in r2.types
    assert pol.rule_for(Principal(1003, 27)).name == "rule2"  # primary group
    # the same from a TOML file, with numeric ids
    f = tmp_path / "policy.toml"
    f.write_text('[default]\ntypes = ["np"]\n\n[[rule]]\nuid = [1000, 1001]\ntypes = "all"\n'
                 '[rule.max_addresses]\nfixed = 0\n')
    pol = load_policy(f)
    assert pol.source == str(f) and pol.rule_for(BOB).limit(MT.FIXED) == 0


@pytest.mark.parametrize("doc, match", [
    ({"default": {"uid": 0}}, "applies to everyone"),
    ({"rule": [{"types": "all"}]}, "needs uid"),
    ({"rule": [{"uid": 1, "colour": "red"}]}, "unknown key"),
    ({"default": {"types": ["fast"]}}, "types"),
    ({"default": {"on_net_per_minute": -1}}, "on_net_per_minute"),
    ({"default": {"max_addresses": {"fixed": 1.5}}}, "whole number"),
    ({"rules": []}, "unknown policy section"),
    ({"rule": [{"user": "nosuchuser-odm-h4"}]}, "no such name"),
])
def test_policy_file_errors_are_refused(doc, match):
    with pytest.raises(PolicyError, match=match):
        policy_from_mapping(doc)


def test_unreadable_policy_file_fails_closed(tmp_path):
    with pytest.raises(PolicyError):
        load_policy(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[default\n")
    with pytest.raises(PolicyError):
        load_policy(bad)


def test_default_policy_root_unlimited_others_limited():
    pol = default_policy()
    root = pol.rule_for(ROOT)
    assert root.types == set(MT) and root.limit(MT.FIXED) == math.inf
    assert root.on_net_per_minute == math.inf
    other = pol.rule_for(ALICE)
    assert other.limit(MT.FIXED) == 1 and other.limit(MT.SESSION_LASTING) == 4
    assert other.limit(MT.NON_PERSISTENT) == 4 and other.limit(MT.GRACEFUL_REPLACEMENT) == 2
    assert other.max_total == 6 and pol.users_total == 12
    assert other.on_net_per_minute == 6


def test_default_on_net_allowance_of_a_few_users_leaves_the_send_budget_free():
    """Issue 13: two uids asking ON_NET as fast as the default policy let them
    (30 a minute each) kept the §14.1 budget empty, and another user's ON_NET
    waited a second a message. Three users at the default allowance, two
    messages an acquisition, now use at most 60 % of the budget."""
    from host.config import HostConfig
    from host.core.policy import DEFAULT_ON_NET_PER_MINUTE
    t = HostConfig().timers
    budget_per_s = t.rate_limit_count / t.rate_limit_interval
    assert 0.6 * budget_per_s >= 3 * DEFAULT_ON_NET_PER_MINUTE * 2 / 60


def test_default_quotas_fit_in_what_the_router_grants_one_host_by_default():
    """Local users together leave room under the router's default per-DUID cap
    for root, the legacy IA_PD and a boot type (issue 13 point 1)."""
    from router.config import RouterConfig
    cap = RouterConfig.__dataclass_fields__["max_bindings_per_client"].default
    pol = default_policy()
    other = pol.rule_for(ALICE)
    assert max(other.max_addresses.values()) <= other.max_total <= pol.users_total
    assert pol.users_total + 1 + 1 < cap


def quotas_only():
    """The built-in policy with its address quotas, without the per-uid ON_NET
    rate (the hoarding tests ask many prefixes at one instant)."""
    import dataclasses

    from host.core.policy import default_policy
    pol = default_policy()
    pol.default = dataclasses.replace(pol.default, on_net_per_minute=math.inf)
    return pol


def hoard(c, srv, who, t, n, start, *, keep_open=False, now=1.0):
    """``n`` ON_NET setsc() of ``t`` by ``who``, each from a new socket that
    closes right after its answer (unless ``keep_open``); the answers."""
    got = []
    for i in range(n):
        owner = start + i
        ans, _ = ask(c, srv, owner, owner, t, now, who, on_net=True)
        got.append(ans)
        if not keep_open:
            c.close_owner(owner, now)
            srv.serve(c, now)
            drain(c)
    return got


def held(c, uid, t=None):
    return sum(len(v) for (u, ty), v in c.charges().items()
               if u == uid and (t is None or ty == t))


def test_a_hoarder_of_kept_prefixes_holds_its_quota_and_others_are_served():
    """The issue's attack: one uid asks 15 NON_PERSISTENT ON_NET prefixes,
    closing each socket (the release policy keeps them). It never holds more
    than its 4: each one past the quota releases its oldest unused one. Another
    uid and root still get theirs."""
    c, srv = core(quotas_only(), rate_limit_count=1000)
    nobody = Principal(65534, 65534)
    got = []
    for i in range(15):
        got += hoard(c, srv, nobody, MT.NON_PERSISTENT, 1, 100 + i)
        assert held(c, 65534) <= 4
    assert all(a.address is not None for a in got)
    assert len({a.address for a in got}) == 15  # new prefixes, as ON_NET asks
    live = [ia for ia in c.pd.ias.values() if ia.mobility_type == MT.NON_PERSISTENT]
    assert len(live) == 4
    assert c.reclaimed == 11
    for who, owner in ((BOB, 300), (ROOT, 301)):
        ans, sent = ask(c, srv, owner, owner, MT.NON_PERSISTENT, 2.0, who, on_net=True)
        assert ans.address is not None and sent


def test_a_hoarder_that_keeps_its_sockets_open_is_denied_past_its_quotas():
    c, srv = core(quotas_only(), rate_limit_count=1000)
    nobody = Principal(65534, 65534)
    np_ = hoard(c, srv, nobody, MT.NON_PERSISTENT, 6, 100, keep_open=True)
    assert [a.error for a in np_] == [None] * 4 + [FailureReason.DENIED] * 2
    assert "holds 4 NON_PERSISTENT" in np_[4].detail
    gr = hoard(c, srv, nobody, MT.GRACEFUL_REPLACEMENT, 3, 200, keep_open=True)
    assert [a.error for a in gr] == [None, None, FailureReason.DENIED]
    (sl,) = hoard(c, srv, nobody, MT.SESSION_LASTING, 1, 300, keep_open=True)
    assert sl.error is FailureReason.DENIED and "6 address(es) of all types" in sl.detail
    assert held(c, 65534) == 6
    # without ON_NET it shares what it holds: no new charge, allowed
    ans, sent = ask(c, srv, 400, 400, MT.NON_PERSISTENT, 1.0, nobody)
    assert ans.address is not None and sent == []
    assert c.denied == {"quota": 3, "quota-total": 1}


def test_local_users_together_leave_room_for_root():
    c, srv = core(rate_limit_count=1000)
    users = [Principal(1000 + i, 1000 + i) for i in range(3)]
    for i, u in enumerate(users[:2]):
        got = hoard(c, srv, u, MT.NON_PERSISTENT, 4, 100 * (i + 1), keep_open=True)
        got += hoard(c, srv, u, MT.GRACEFUL_REPLACEMENT, 2, 100 * (i + 1) + 50,
                     keep_open=True)
        assert all(a.address is not None for a in got)
    ans, sent = ask(c, srv, 900, 900, MT.SESSION_LASTING, 1.0, users[2], on_net=True)
    assert ans.error is FailureReason.DENIED and "users_total" in ans.detail and not sent
    ans, sent = ask(c, srv, 901, 901, MT.SESSION_LASTING, 1.0, ROOT, on_net=True)
    assert ans.address is not None and sent
    # 12 for local users + root's + the legacy IA_PD: under the router's 16
    assert len([ia for ia in c.pd.ias.values() if ia.leases]) == 14


def test_fixed_prefixes_are_never_released_to_make_room():
    c, srv = core(rate_limit_count=1000)
    nobody = Principal(65534, 65534)
    (f,) = hoard(c, srv, nobody, MT.FIXED, 1, 100)
    (f2,) = hoard(c, srv, nobody, MT.FIXED, 1, 101)
    assert f.address is not None and f2.error is FailureReason.DENIED
    assert c.addrs.by_address.get(f.address) is not None and c.reclaimed == 0


def test_policy_file_total_and_users_total():
    pol = policy_from_mapping({"users_total": 3, "default": {"max_total": 2}})
    assert pol.users_total == 3 and pol.default.max_total == 2
    assert policy_from_mapping({}).users_total == math.inf
    with pytest.raises(PolicyError, match="whole number"):
        policy_from_mapping({"users_total": 2.5})


# ------------------------------------------------------------------ core --
def test_type_not_allowed_is_denied_logged_counted_and_sends_nothing(caplog):
    pol = Policy((), Rule(types=frozenset({MT.NON_PERSISTENT})))
    c, srv = core(pol)
    with caplog.at_level(logging.WARNING, logger="host.core.host"):
        ans, sent = ask(c, srv, 1, 10, MT.FIXED, 1.0, ALICE)
    assert ans.address is None and ans.error is FailureReason.DENIED
    assert ans.error.value == "ODM_POLICY_DENIED" and "FIXED" in ans.detail
    assert sent == [] and c.pd.ias.keys() == {next(iter(c.pd.ias))}  # only the legacy IA_PD
    assert "denied" in caplog.text and "uid 1000" in caplog.text
    st = c.status(1.0)
    assert st["policy"]["denied"] == {"type": 1} and st["policy"]["denied_total"] == 1
    assert not st["references"] and not st["pending"]
    # an allowed type goes to the network as usual
    ans, sent = ask(c, srv, 2, 10, MT.NON_PERSISTENT, 1.0, ALICE)
    assert ans.address is not None and sent


def test_fixed_quota_per_uid_and_the_charged_address_comes_back():
    c, srv = core()  # default policy: 1 FIXED per non-root uid
    ans, sent = ask(c, srv, 1, 10, MT.FIXED, 1.0, ALICE)
    assert ans.address is not None and sent
    first = ans.address
    # another socket of the same uid without ON_NET: the same address, no cost
    ans, sent = ask(c, srv, 2, 11, MT.FIXED, 2.0, ALICE)
    assert ans.address == first and sent == []
    # ON_NET would be a second FIXED prefix: over the quota, nothing sent
    ans, sent = ask(c, srv, 3, 12, MT.FIXED, 3.0, ALICE, on_net=True)
    assert ans.error is FailureReason.DENIED and "holds 1 FIXED" in ans.detail
    assert sent == []
    # another uid has its own quota; root has none
    ans, sent = ask(c, srv, 4, 20, MT.FIXED, 4.0, BOB, on_net=True)
    assert ans.address not in (None, first) and sent
    for i in range(3):
        ans, _ = ask(c, srv, 5 + i, 30 + i, MT.FIXED, 5.0, ROOT, on_net=True)
        assert ans.address is not None
    assert c.denied == {"quota": 1}


def test_kept_fixed_prefix_stays_charged_released_one_does_not():
    c, srv = core()  # FIXED release policy: keep
    ans, _ = ask(c, srv, 1, 10, MT.FIXED, 1.0, ALICE)
    c.close_owner(10, 2.0)
    srv.serve(c, 2.0)
    assert c.addrs.by_address.get(ans.address) is not None  # kept
    ans2, sent = ask(c, srv, 2, 11, MT.FIXED, 3.0, ALICE, on_net=True)
    assert ans2.error is FailureReason.DENIED and sent == []
    # with "release" the prefix goes back and the quota frees up
    c, srv = core(release_policy={MT.FIXED: "release"})
    ans, _ = ask(c, srv, 1, 10, MT.FIXED, 1.0, ALICE)
    c.close_owner(10, 2.0)
    srv.serve(c, 2.0)
    assert c.addrs.by_address.get(ans.address) is None
    assert c.charged(ALICE.uid, MT.FIXED) == set()
    ans2, sent = ask(c, srv, 2, 11, MT.FIXED, 3.0, ALICE, on_net=True)
    assert ans2.address is not None and ans2.address != ans.address and sent


def test_concurrent_acquisitions_count_against_the_quota():
    pol = Policy((), Rule(max_addresses={MT.SESSION_LASTING: 2}))
    c, _ = core(pol)
    for rid in (1, 2):  # two ON_NET requests in flight, no answer yet
        c.setsc(rid, 10 + rid, MT.SESSION_LASTING, 1.0, on_net=True, principal=ALICE)
    c.datagrams_to_send()
    c.setsc(3, 13, MT.SESSION_LASTING, 1.0, on_net=True, principal=ALICE)
    (ans,) = answers(drain(c))
    assert ans.request_id == 3 and ans.error is FailureReason.DENIED
    assert c.datagrams_to_send() == []


def test_on_net_rate_limit_per_uid_refills_over_the_minute():
    pol = Policy((), Rule(on_net_per_minute=2))
    c, srv = core(pol, rate_limit_count=100)
    got = [ask(c, srv, i, 10 + i, MT.NON_PERSISTENT, 1.0, ALICE, on_net=True)[0]
           for i in (1, 2, 3)]
    assert [a.error for a in got] == [None, None, FailureReason.DENIED]
    assert "ON_NET" in got[2].detail
    # without ON_NET the held address still comes back (no token needed)
    ans, sent = ask(c, srv, 4, 20, MT.NON_PERSISTENT, 1.0, ALICE)
    assert ans.address is not None and sent == []
    # BOB has his own bucket
    assert ask(c, srv, 5, 21, MT.NON_PERSISTENT, 1.0, BOB, on_net=True)[0].error is None
    # 2 per minute: one token back after 30 s, not before
    assert ask(c, srv, 6, 22, MT.NON_PERSISTENT, 20.0, ALICE, on_net=True)[0].error \
        is FailureReason.DENIED
    assert ask(c, srv, 7, 23, MT.NON_PERSISTENT, 31.5, ALICE, on_net=True)[0].error is None
    assert c.denied == {"rate": 2}


def test_zero_on_net_forbids_on_net_only():
    pol = Policy((), Rule(on_net_per_minute=0))
    c, srv = core(pol)
    ans, sent = ask(c, srv, 1, 10, MT.SESSION_LASTING, 1.0, ALICE, on_net=True)
    assert ans.error is FailureReason.DENIED and sent == []
    ans, sent = ask(c, srv, 2, 10, MT.SESSION_LASTING, 1.0, ALICE)
    assert ans.address is not None and sent


def test_without_principal_no_policy_applies():
    pol = Policy((), Rule(types=frozenset()))
    c, srv = core(pol)
    c.setsc(1, 10, MT.SESSION_LASTING, 1.0)
    srv.serve(c, 1.0)
    (ans,) = answers(drain(c))
    assert ans.address is not None


def test_api_maps_the_denial_to_its_own_exception():
    assert issubclass(api.SetscDenied, api.SetscError)
    assert not issubclass(api.SetscDenied, (api.EAI_REQUIREDIPFAILED,
                                            api.EAI_REQUIREDIPNOTSUPPORTED))
    assert api._ERRORS["ODM_POLICY_DENIED"] is api.SetscDenied
    assert api.SetscDenied("x").name == "ODM_POLICY_DENIED"
    assert SC.SUCCESS == 0  # the network's codes are untouched
