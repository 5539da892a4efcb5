"""The RFC 8415 §14.1 send budget shared fairly between uids (issue 13 point
2, docs/security.md "Host"): one uid's stream of ON_NET acquisitions must not
take every token ahead of another uid's request. Sans-I/O, fake clock."""

from __future__ import annotations

from hosthelp import CLIENT, config, decoded, rng

from host.core.host import HostCore
from host.core.pd_client import PdClient
from host.core.policy import Policy, Principal, Rule
from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import Solicit

#: no quota or ON_NET rate: only the send budget is under test
OPEN = Policy((), Rule())


def run_until(c, end: float) -> list[tuple[float, object]]:
    """Fire the client's timers up to ``end``; (time, message) of every send."""
    sent = [(0.0, m) for m in decoded(c.datagrams_to_send())]
    t = c.get_timer()
    while t is not None and t <= end:
        c.handle_timer(t)
        sent += [(t, m) for m in decoded(c.datagrams_to_send())]
        t = c.get_timer()
    return sent


def iaid_of(m) -> int:
    return m.ia_pds[0].iaid


def test_a_stream_of_one_uid_does_not_delay_another_uids_request():
    """Bucket 2 per 10 s (one token every 5 s). uid 65534 queues 20 ON_NET
    acquisitions at once; uid 1000 asks one a second later. Its Solicit goes
    out with the next token (at 5 s), not after the 18 waiting ones (90 s)."""
    c = HostCore(config(legacy_pd=False, rate_limit_count=2, rate_limit_interval=10.0,
                        rapid_commit=True), CLIENT, b"k", rng=rng(), policy=OPEN)
    c.start(0.0)
    hog, alice = Principal(65534, 65534), Principal(1000, 1000)
    for i in range(20):
        c.setsc(i, i, MT.NON_PERSISTENT, 0.0, on_net=True, principal=hog, timeout=600)
    first = decoded(c.datagrams_to_send())
    assert len(first) == 2
    c.setsc(100, 100, MT.NON_PERSISTENT, 1.0, on_net=True, principal=alice, timeout=600)
    assert decoded(c.datagrams_to_send()) == []  # no token: it waits, like the others
    mine = c.pending[100].iaid
    sent = run_until(c, 5.5)
    solicits = [(t, m) for t, m in sent if type(m) is Solicit]
    assert [iaid_of(m) for _, m in solicits] == [mine]


def test_waiting_sends_are_served_one_per_uid_in_turn():
    """Three shares with queued Solicits (uids 1, 2 and the agent's own):
    tokens go round-robin among them, whatever order they were queued in."""
    c = PdClient(config(legacy_pd=False, rate_limit_count=1, rate_limit_interval=1.0,
                        first_solicit_delay=False), CLIENT, rng=rng())
    owner = {}
    owner[c.acquire(MT.NON_PERSISTENT, 0.0, share=1)] = 1  # takes the only token
    for share in [1] * 6 + [2] * 3 + [None] * 2:
        owner[c.acquire(MT.NON_PERSISTENT, 0.0, share=share)] = share
    assert c.deferred_count() == 11
    sent = run_until(c, 11.0)
    order = [owner[iaid_of(m)] for _, m in sent if iaid_of(m) in owner]
    # first sends (retransmissions of the earliest come in too: same share)
    firsts = []
    seen = set()
    for _, m in sent:
        if iaid_of(m) not in seen:
            seen.add(iaid_of(m))
            firsts.append(owner[iaid_of(m)])
    # share 1 sent last (the direct send): 2 and the agent's go first
    assert firsts[:7] == [1, 2, None, 1, 2, None, 1]
    assert len(order) == len(sent)


def test_a_new_send_does_not_jump_ahead_of_waiting_ones():
    """A token that came back is for the sends that waited, not for one of the
    same share that arrives at that moment (before, a new acquisition took it
    at once while the queue waited for the timer)."""
    c = PdClient(config(legacy_pd=False, rate_limit_count=1, rate_limit_interval=1.0,
                        first_solicit_delay=False), CLIENT, rng=rng())
    c.acquire(MT.NON_PERSISTENT, 0.0, share=1)
    waiting = c.acquire(MT.NON_PERSISTENT, 0.0, share=1)
    c.datagrams_to_send()
    late = c.acquire(MT.NON_PERSISTENT, 1.0, share=1)  # a token is back at 1.0
    (m,) = decoded(c.datagrams_to_send())
    assert iaid_of(m) == waiting and c.deferred_count() == 1
    c.handle_timer(2.0)
    (m,) = decoded(c.datagrams_to_send())
    assert iaid_of(m) == late


def test_a_light_share_goes_ahead_of_a_heavy_one_for_each_of_its_messages():
    """Issue 13 (bench/local_attacks.py): an application's ON_NET setsc() is
    two messages (Solicit, Request). Under round-robin each of them waited
    one token per other waiting share; now the share that sent fewest lately
    goes first. uid 1 sent 6 messages and queues 3 more; uid 2 then queues 2:
    both of uid 2's go with the next two tokens."""
    c = PdClient(config(legacy_pd=False, rate_limit_count=6, rate_limit_interval=6.0,
                        first_solicit_delay=False), CLIENT, rng=rng())
    owner = {}
    for _ in range(9):
        owner[c.acquire(MT.NON_PERSISTENT, 0.0, share=1)] = 1
    assert c.deferred_count() == 3
    c.datagrams_to_send()
    for _ in range(2):
        owner[c.acquire(MT.NON_PERSISTENT, 0.5, share=2)] = 2
    sent = run_until(c, 3.5)
    firsts = []
    seen = set(list(owner)[:6])  # sent at 0.0 directly
    for _, m in sent:
        if iaid_of(m) not in seen:
            seen.add(iaid_of(m))
            firsts.append(owner[iaid_of(m)])
    assert firsts[:2] == [2, 2], firsts
