"""HostCore: addresses from prefixes, setsc() semantics, references and release."""

import random
from ipaddress import IPv6Network

import pytest
from hosthelp import (
    CLIENT,
    ROUTER_LL,
    SERVER_LL,
    ScriptedServer,
    alone,
    config,
    decoded,
    drain,
    of,
    pio,
    prefix,
    ra,
    reply,
    rng,
)

from host.core.addresses import AddressManager
from host.core.events import (
    AddressAdded,
    AddressRemoved,
    AppNotification,
    FailureReason,
    ReleaseDecided,
    SetscCompleted,
)
from host.core.host import HostCore
from odm_wire.constants import MobilityType as MT
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import Release, Request, Solicit

P1 = "2001:db8:8100:100::/56"
P2 = "2001:db8:8200:100::/56"
PL = "2001:db8:8000::/56"


def core(**kw):
    return HostCore(config(**kw), CLIENT, b"secret", rng=rng())


def bound(grants=None, serve=None, **kw):
    """A core made with ``kw``, started at 0 and served ``grants`` (by
    default PL untyped) by :func:`serve_all` with ``serve`` keywords."""
    c = core(**kw)
    c.start(0.0)
    serve_all(c, 0.0, {None: PL} if grants is None else grants, **(serve or {}))
    return c


def serve_all(c, now, grants, **kw):
    """Answer every DHCPv6 message the core sent, for four rounds
    (hosthelp.ScriptedServer): Solicit → Advertise(255), Request → Reply with
    ``grants[type]`` (a prefix text or None = NoPrefixAvail), Release → empty
    Reply; ``kw`` goes to each Advertise and Reply."""
    ScriptedServer(grants=grants, **kw).serve(c, now)


def test_setsc_asks_network_then_address_added_before_answer():
    c = bound()
    drain(c)
    c.setsc(1, owner=10, address_type=MT.SESSION_LASTING, now=1.0)
    serve_all(c, 1.0, {None: PL, MT.SESSION_LASTING: P1})
    evs = drain(c)
    added = [e for e in evs if type(e) is AddressAdded]
    done = of(evs, SetscCompleted)
    assert done and done[0].error is None
    assert evs.index(added[-1]) < evs.index(done[0])
    a = added[-1]
    assert a.address == done[0].address and a.address in IPv6Network(P1)
    assert a.prefix_length == 128 and a.nodad and a.mobility_type == MT.SESSION_LASTING
    # no kernel prefix route: for an address with lifetimes the kernel keeps
    # it past the address's removal, until the old valid lifetime ends
    assert a.noprefixroute
    assert a.preferred_lifetime <= 3000 and a.valid_lifetime <= 4000


def test_setsc_with_held_address_answers_at_once_without_sending():
    c = bound({None: PL, MT.FIXED: P1}, boot_types=(MT.FIXED,))
    drain(c)
    c.setsc(5, 1, MT.FIXED, 2.0)
    (done,) = of(drain(c), SetscCompleted)
    assert done.address in IPv6Network(P1)
    assert c.datagrams_to_send() == []
    c.setsc(6, 2, "fixed", 2.0)
    (d2,) = of(drain(c), SetscCompleted)
    assert d2.address == done.address  # shared
    assert len(c.addrs.by_address[done.address].refs) == 2


def test_on_net_asks_for_a_new_prefix_even_when_one_is_held():
    c = bound({None: PL, MT.NON_PERSISTENT: P1}, boot_types=(MT.NON_PERSISTENT,))
    drain(c)
    c.setsc(1, 1, MT.NON_PERSISTENT, 3.0, on_net=True)
    assert not of(drain(c), SetscCompleted)
    sent = decoded(c.datagrams_to_send())
    assert len(sent) == 1 and sent[0].ia_pds[0].prefixes[0].mobility_type == MT.NON_PERSISTENT
    for m in sent:
        c.handle_datagram(reply(m, [prefix(P2, t=MT.NON_PERSISTENT)]), SERVER_LL, 3.01)
    (done,) = of(drain(c), SetscCompleted)
    assert done.address in IPv6Network(P2)


def test_last_close_releases_session_lasting_and_keeps_fixed():
    c = bound()
    c.setsc(1, 1, MT.SESSION_LASTING, 1.0)
    c.setsc(2, 2, MT.FIXED, 1.0)
    serve_all(c, 1.0, {MT.SESSION_LASTING: P1, MT.FIXED: P2})
    drain(c)
    c.setsc(3, 3, MT.SESSION_LASTING, 1.5)  # shares the SL address
    drain(c)
    c.close_owner(1, 2.0)
    assert not of(drain(c), ReleaseDecided)
    assert c.datagrams_to_send() == []
    c.close_owner(3, 2.0)
    evs = drain(c)
    assert of(evs, ReleaseDecided)[0].action == "release"
    assert of(evs, AddressRemoved)
    (rel,) = decoded(c.datagrams_to_send())
    assert type(rel) is Release and rel.ia_pds[0].prefixes[0].network == P1
    c.close_owner(2, 2.0)
    evs = drain(c)
    assert of(evs, ReleaseDecided)[0].action == "keep"
    assert not of(evs, AddressRemoved) and c.datagrams_to_send() == []


def test_plain_server_gives_notsupported_and_no_typed_ask_without_setsc():
    c = bound()
    # backward compatibility: nothing typed went out on its own
    drain(c)
    c.setsc(1, 1, MT.GRACEFUL_REPLACEMENT, 1.0)
    (sol_or_req,) = decoded(c.datagrams_to_send())
    # a plain server ignores the type and delegates an untyped prefix
    c.handle_datagram(reply(sol_or_req, [prefix(P1)]), SERVER_LL, 1.01)
    evs = drain(c)
    (done,) = of(evs, SetscCompleted)
    assert done.error == FailureReason.NOTSUPPORTED
    assert not [e for e in of(evs, AddressAdded) if e.address in IPv6Network(P1)]


def test_no_server_at_all_times_out_with_notsupported():
    c = core(setsc_timeout=2.0)
    c.start(0.0)
    c.datagrams_to_send()
    c.setsc(1, 1, MT.FIXED, 0.5)
    link, _ = alone(c)
    done = link.wait_for(lambda: of(drain(c), SetscCompleted), 60.0)
    now = link.now
    assert now == pytest.approx(2.5)
    assert done[0].error == FailureReason.NOTSUPPORTED
    # the on-demand acquisition was abandoned with it
    assert all(ia.mobility_type is None for ia in c.pd.ias.values())


def test_network_offering_the_type_but_out_of_prefixes_gives_failed():
    c = bound(serve={"supported": [MT.FIXED, MT.SESSION_LASTING]})
    drain(c)
    c.setsc(1, 1, MT.FIXED, 1.0)
    serve_all(c, 1.0, {None: PL}, supported=[MT.FIXED, MT.SESSION_LASTING])
    (done,) = of(drain(c), SetscCompleted)
    assert done.error == FailureReason.FAILED


@pytest.mark.parametrize("t", [0, 5, 7, "bogus"])
def test_reserved_address_type_fails_at_once(t):
    c = core()
    c.setsc(1, 1, t, 0.0)
    (done,) = of(drain(c), SetscCompleted)
    assert done.error == FailureReason.NOTSUPPORTED


def test_holders_told_when_their_address_goes():
    c = bound({None: PL, MT.NON_PERSISTENT: P1}, boot_types=(MT.NON_PERSISTENT,))
    c.setsc(1, 7, MT.NON_PERSISTENT, 1.0)
    drain(c)
    c.rebind_all(5.0)
    link, out = alone(c)
    link.wait_for(lambda: len(decoded(o for _, o in out)) >= 2, 60.0)
    sent = decoded(o for _, o in out)
    for m in sent:
        t = m.ia_pds[0].prefixes[0].mobility_type
        if t == MT.NON_PERSISTENT:
            c.handle_datagram(reply(m, [prefix(P1, 0, 0, t=t)]), SERVER_LL, 6.0)
    (n,) = of(drain(c), AppNotification)
    assert n.owners == (7,) and n.message["event"] == "address-gone"


def test_ra_typed_prefix_address_waits_for_dad():
    c = core()
    c.handle_datagram(ra([pio("2001:db8:1::/64", t=MT.NON_PERSISTENT)]), ROUTER_LL, 0.0,
                      kind="icmp6")
    (added,) = of(drain(c), AddressAdded)
    assert not added.nodad and added.prefix_length == 64 and added.noprefixroute
    c.setsc(1, 1, MT.NON_PERSISTENT, 0.1)
    assert not of(drain(c), SetscCompleted)
    assert c.datagrams_to_send() == []  # nothing asked: the address is on its way
    c.address_ready(added.address, 0.2)
    (done,) = of(drain(c), SetscCompleted)
    assert done.address == added.address


def test_legacy_ra_prefix_forms_untyped_address():
    c = core()
    c.handle_datagram(ra([pio("2001:db8:1::/64")]), ROUTER_LL, 0.0, kind="icmp6")
    (added,) = of(drain(c), AddressAdded)
    assert added.mobility_type is None


def test_stable_iid_repeats_and_random_differs():
    net = IPv6Network("2001:db8:1::/64")
    a = AddressManager("mh0", b"k").form(net)
    assert a == AddressManager("mh0", b"k").form(net)
    assert a != AddressManager("mh1", b"k").form(net)
    assert a != AddressManager("mh0", b"k").form(net, 1)
    r1 = AddressManager("mh0", b"k", mode="random", rng=rng(1)).form(net)
    r2 = AddressManager("mh0", b"k", mode="random", rng=rng(2)).form(net)
    assert r1 != r2 and r1 in net


def test_dad_failure_forms_next_address():
    m = AddressManager("mh0", b"k")
    net = IPv6Network("2001:db8:1::/64")
    a = m.add_onlink(net, None, 100.0, 200.0, 0.0)
    first = a.address
    m.dad_failed(first, 1.0)
    assert m.by_prefix[net].address != first and m.by_prefix[net].address in net


def test_untyped_grant_released_even_after_setsc_gave_up():
    c = bound()
    drain(c)
    c.setsc(1, 1, MT.FIXED, 1.0)
    (req,) = decoded(c.datagrams_to_send())
    c.handle_datagram(reply(req, [prefix(P1)]), SERVER_LL, 1.01)  # plain server
    assert of(drain(c), SetscCompleted)[0].error == FailureReason.NOTSUPPORTED
    (rel,) = decoded(c.datagrams_to_send())
    assert type(rel) is Release
    link, out = alone(c)  # retransmitted until answered
    link.wait_for(lambda: decoded(o for _, o in out), 5.0)
    again = decoded(o for _, o in out)
    assert [type(m) for m in again] == [Release]
    c.handle_datagram(reply(rel, [], t1=0, t2=0), SERVER_LL, 3.0)
    assert all(ia.mobility_type is None for ia in c.pd.ias.values())


def test_setsc_again_on_the_same_socket_keeps_its_session_lasting_address():
    """A second setsc() of the same type from the same owner (the same
    application socket) must not drop its only reference first: that ran the
    release policy and gave the SESSION_LASTING prefix back, then asked the
    network for a new one."""
    c = bound()
    c.setsc(1, 1, MT.SESSION_LASTING, 1.0)
    serve_all(c, 1.0, {MT.SESSION_LASTING: P1})
    (first,) = of(drain(c), SetscCompleted)
    c.setsc(2, 1, MT.SESSION_LASTING, 1.5)
    evs = drain(c)
    (again,) = of(evs, SetscCompleted)
    assert again.address == first.address and again.error is None
    assert not of(evs, ReleaseDecided) and not of(evs, AddressRemoved)
    assert c.datagrams_to_send() == []
    assert c.addrs.by_address[first.address].refs == {1}
    # asking another type from the same socket does end the old reference
    c.setsc(3, 1, MT.FIXED, 2.0)
    evs = drain(c)
    assert of(evs, ReleaseDecided)[0].action == "release"
    sent = decoded(c.datagrams_to_send())
    assert [type(m) for m in sent] == [Release, Request]


def test_held_address_is_what_setsc_answers_at_once_and_changes_nothing():
    """HostCore.held_address (the adapter answers a held setsc() with it,
    issue 17): the address setsc() without ON_NET gives again at once, for
    the type as a number or a name; None for another type, an owner with no
    reference, a reserved type, or once the address is deprecated."""
    c = bound({None: PL, MT.FIXED: P1}, boot_types=(MT.FIXED,))
    drain(c)
    c.setsc(5, 1, MT.FIXED, 2.0)
    (done,) = of(drain(c), SetscCompleted)
    before = (dict(c.refs), c.get_timer())
    for t in (MT.FIXED, 1, "fixed"):
        assert c.held_address(1, t, 2.5) == done.address
    assert (dict(c.refs), c.get_timer()) == before
    assert drain(c) == [] and c.datagrams_to_send() == []
    for owner, t in ((1, MT.NON_PERSISTENT), (2, MT.FIXED), (1, 0), (1, 9), (1, "bogus")):
        assert c.held_address(owner, t, 2.5) is None
    c.setsc(6, 1, MT.FIXED, 2.5)
    (again,) = of(drain(c), SetscCompleted)
    assert again.address == done.address
    c.addrs.by_address[done.address].deprecated = True
    assert c.held_address(1, MT.FIXED, 3.0) is None


def test_a_refused_request_that_ends_the_setsc_sends_no_solicit_behind_it():
    """A setsc() Request refused (NoPrefixAvail) ends the setsc() and its
    acquisition at once; the Solicit the client had just queued to try again
    must not go out — with Rapid Commit a server would commit a prefix to an
    IA_PD the host has forgotten (its Reply is dropped, the binding leaks)."""
    c = bound(rapid_commit=True)
    drain(c)
    c.setsc(1, 1, MT.NON_PERSISTENT, 1.0)
    (req,) = decoded(c.datagrams_to_send())
    assert type(req) is Request  # straight to the known server
    c.handle_datagram(reply(req, [], ia_status=SC.NO_PREFIX_AVAIL), SERVER_LL, 1.01)
    evs = drain(c)
    (done,) = of(evs, SetscCompleted)
    assert done.error == FailureReason.NOTSUPPORTED
    assert decoded(c.datagrams_to_send()) == []
    assert [ia.mobility_type for ia in c.pd.ias.values()] == [None]
    # the refusal is named as RFC 8415 §21.13 names it (it said "status 6")
    from host.core.events import RequestFailed
    assert [e.detail.split()[0] for e in of(evs, RequestFailed)] == ["NoPrefixAvail"]


def test_ended_exchanges_leave_the_rate_limit_queue_and_cost_no_token():
    """RFC 8415 §14.1 bucket of 2 per 10 s: of four ON_NET setsc() two
    Solicits go out and two wait for tokens; then a link change restarts
    every Solicit (new exchanges). The first token (at 5 s) must send one of
    the new Solicits — it went to a replaced exchange still in the queue,
    sending nothing (each stale entry burnt a token: finding 1 of the fuzz
    run, tests/fuzz/test_fuzz_findings.py)."""
    c = core(legacy_pd=False, rate_limit_count=2, rate_limit_interval=10.0)
    c.start(0.0)
    for owner in (1, 2, 3, 4):
        c.setsc(owner, owner, MT.NON_PERSISTENT, 0.0, on_net=True, timeout=60.0)
    assert len(decoded(c.datagrams_to_send())) == 2
    c.rebind_all(0.5)  # nothing bound: every IA_PD solicits anew
    assert decoded(c.datagrams_to_send()) == []
    link, out = alone(c)
    link.run_until(5.5)
    sent = decoded(o for _, o in out)
    assert [type(m) for m in sent] == [Solicit]


def test_onlink_prefix_inside_a_delegated_one_gets_an_address_of_its_own():
    """An RA's PIO equal to the first /64 of a prefix delegated to this host:
    the stable IID of both is the same, so both entries held one address, and
    the RA prefix running out removed the kernel address the delegated prefix
    still handed out (fuzz finding 2). The second one formed moves on to the
    next DAD_Counter."""
    c = bound()
    drain(c)
    (pd_addr,) = [a.address for a in c.addrs.by_prefix.values()]
    c.handle_datagram(ra([pio("2001:db8:8000::/64", pl=30, vl=60)]), ROUTER_LL, 1.0,
                      kind="icmp6", hop_limit=255)
    evs = drain(c)
    (added,) = of(evs, AddressAdded)
    assert added.address != pd_addr and added.address in IPv6Network("2001:db8:8000::/64")
    assert len(c.addrs.by_address) == 2
    c.handle_timer(61.0)  # the on-link prefix expires
    evs = drain(c)
    assert [e.address for e in of(evs, AddressRemoved)] == [added.address]
    assert list(c.addrs.by_address) == [pd_addr]


def _iaids_at_start(secret: bytes, seed: int) -> list[int]:
    c = HostCore(config(boot_types=(MT.NON_PERSISTENT, MT.FIXED)), CLIENT, secret,
                 rng=random.Random(seed))
    c.start(0.0)
    serve_all(c, 0.0, {None: PL, MT.NON_PERSISTENT: P1, MT.FIXED: P2})
    return sorted(c.pd.ias)


def test_iaids_are_the_same_across_restarts_without_a_state_file():
    """RFC 8415 §12: IAIDs stay the same across restarts of the client while
    its configuration is unchanged (made by an algorithm when not stored):
    another run's random numbers do not change them, another host's secret
    does."""
    first = _iaids_at_start(b"secret", 1)
    assert len(first) == 3  # the legacy IA_PD and the two boot types
    assert _iaids_at_start(b"secret", 2) == first
    assert not set(_iaids_at_start(b"other", 1)) & set(first)
