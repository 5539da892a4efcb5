"""Trust on the host (host/core/trust.py): RAs from routers and Advertise/Reply from
DHCPv6 servers the host was not told to trust are ignored and counted; a
Reconfigure is never accepted and changes nothing — with a fake clock."""

import copy
from ipaddress import IPv6Address, IPv6Network

import pytest
from hosthelp import (
    CLIENT,
    SERVER,
    SERVER_LL,
    ScriptedServer,
    config,
    drain,
    pio,
    ra,
    rng,
    serve,
)

from host.config import HostConfigError, config_from_mapping
from host.core.events import OnLinkPrefix, RouterSeen, SetscCompleted
from host.core.host import HostCore
from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import (
    ClientId,
    DuidLL,
    Reconfigure,
    ReconfigureMessage,
    Renew,
    Request,
    ServerId,
    Solicit,
    encode_dhcp6,
    encode_duid,
)

GOOD_LL = SERVER_LL
EVIL_LL = IPv6Address("fe80::bad")
EVIL = DuidLL(1, b"\x02\x00\x00\x00\x0b\xad")
ONLINK = "2001:db8:1::/64"
PL = "2001:db8:8000::/56"
GRANTS = {None: PL, MT.SESSION_LASTING: "2001:db8:5000::/56"}


def core(**kw):
    return HostCore(config(**kw), CLIENT, b"secret", rng=rng())


def answer_all(c, now, *, rounds=1, **kw):
    """Answer what the core sent (hosthelp.ScriptedServer: ``server=`` its
    DUID, ``src=`` its address, ``grants=``) for ``rounds`` rounds: Solicit →
    Advertise(255), Request and Renew → Reply."""
    kw.setdefault("grants", GRANTS)
    ScriptedServer(answers=(Solicit, Request, Renew), **kw).serve(c, now, rounds)


def test_ra_from_untrusted_router_is_ignored_and_counted():
    c = core(trusted_routers=(str(GOOD_LL),))
    c.start(0.0)
    drain(c)
    c.handle_datagram(ra([pio(ONLINK)]), EVIL_LL, 1.0, kind="icmp6")
    assert drain(c) == [] and not c.ra.routers and not c.addrs.by_prefix
    st = c.status(1.0)
    assert st["trust"]["ignored"]["ra"] == 1
    assert st["trust"]["ignored"]["recent"][-1]["source"] == str(EVIL_LL)
    c.handle_datagram(ra([pio(ONLINK)]), GOOD_LL, 2.0, kind="icmp6")
    evs = drain(c)
    assert [e.router for e in evs if type(e) is RouterSeen] == [GOOD_LL]
    assert [e.prefix for e in evs if type(e) is OnLinkPrefix] == [IPv6Network(ONLINK)]
    assert c.status(2.0)["trust"]["ignored"]["ra"] == 1


def test_by_default_every_router_and_server_counts():
    c = core()
    c.start(0.0)
    c.handle_datagram(ra([pio(ONLINK)]), EVIL_LL, 1.0, kind="icmp6")
    answer_all(c, 1.0, rounds=2, server=EVIL, src=EVIL_LL)
    assert EVIL_LL in c.ra.routers and c.pd.ias and all(ia.leases for ia in c.pd.ias.values())
    assert c.status(1.0)["trust"]["ignored"]["ra"] == 0


@pytest.mark.parametrize("kw", [
    {"trusted_server_duids": (encode_duid(SERVER).hex(),)},
    {"trusted_server_addresses": (str(GOOD_LL),)},
])
def test_answers_from_untrusted_server_are_ignored(kw):
    c = core(**kw)
    c.start(0.0)
    c.setsc(1, 10, MT.SESSION_LASTING, 0.0)
    # the impostor answers every Solicit first
    answer_all(c, 0.5, rounds=3, server=EVIL, src=EVIL_LL)
    assert not any(ia.leases for ia in c.pd.ias.values())
    assert not [e for e in drain(c) if type(e) is SetscCompleted]
    assert c.status(0.5)["trust"]["ignored"]["dhcp6"] >= 2
    # the core is still soliciting: the trusted server's answer binds both IA_PDs
    c.handle_timer(2.0)
    answer_all(c, 2.0, rounds=3)
    (done,) = [e for e in drain(c) if type(e) is SetscCompleted]
    assert done.address in IPv6Network("2001:db8:5000::/56")
    assert all(ia.leases for ia in c.pd.ias.values())
    assert c.status(2.0)["servers"][0]["duid"] == encode_duid(SERVER).hex(":")


def _state(c, now):
    st = c.status(now)
    st.pop("trust")
    return copy.deepcopy(st)


@pytest.mark.parametrize("reconf_type", [5, 6, 11])
def test_reconfigure_changes_nothing(reconf_type):
    c = core(boot_types=(MT.SESSION_LASTING,), trusted_server_duids=(encode_duid(SERVER).hex(),))
    c.start(0.0)
    answer_all(c, 0.0, rounds=3)
    drain(c)
    assert len(c.pd.ias) == 2 and all(ia.leases for ia in c.pd.ias.values())
    before = _state(c, 10.0)
    timer = c.get_timer()
    xids = set(c.pd._exchanges)
    # from the trusted server itself, well formed (RFC 8415 §18.3.11), xid 0
    msg = Reconfigure(0, (ClientId(CLIENT), ServerId(SERVER), ReconfigureMessage(reconf_type)))
    c.handle_datagram(encode_dhcp6(msg), GOOD_LL, 10.0)
    assert drain(c) == []
    assert c.datagrams_to_send() == []  # no Renew, Rebind, Information-request
    assert _state(c, 10.0) == before
    assert c.get_timer() == timer and set(c.pd._exchanges) == xids
    assert c.status(10.0)["trust"]["ignored"]["reconfigure"] == 1


def test_reconfigure_is_refused_even_when_every_server_is_trusted():
    c = core()
    c.start(0.0)
    answer_all(c, 0.0, rounds=2)
    drain(c)
    before = _state(c, 5.0)
    msg = Reconfigure(0, (ClientId(CLIENT), ServerId(EVIL), ReconfigureMessage(5)))
    c.handle_datagram(encode_dhcp6(msg), EVIL_LL, 5.0)
    assert drain(c) == [] and c.datagrams_to_send() == []
    assert _state(c, 5.0) == before
    assert c.trust.ignored["reconfigure"] == 1


def test_trust_config_is_validated():
    cfg = config_from_mapping({"trusted_routers": ["fe80::1"],
                               "trusted_server_duids": ["00:03:00:01:02:00:00:00:00:01"],
                               "trusted_server_addresses": ["fe80::1", "2001:db8::547"]})
    assert cfg.trusted_server_duids == ("00030001020000000001",)
    with pytest.raises(HostConfigError, match="link-local"):
        config_from_mapping({"trusted_routers": ["2001:db8::1"]})
    with pytest.raises(HostConfigError, match="not an IPv6"):
        config_from_mapping({"trusted_server_addresses": ["server"]})
    with pytest.raises(HostConfigError, match=r"trusted_server_duids\[0\]: 'zz' is not hex"):
        config_from_mapping({"trusted_server_duids": ["zz"]})


def test_a_rogue_server_that_copies_the_trusted_duid_is_ignored():
    """Issue 13 point 13: with trusted_server_duids alone, a rogue on the link
    copies the Server Identifier from the host's Request and answers it first
    from its own address; the DUID is bound to the address its Advertise came
    from, so the rogue's Reply is ignored and the trusted server's binds."""
    c = core(trusted_server_duids=(encode_duid(SERVER).hex(),))
    c.start(0.0)
    c.setsc(1, 10, MT.SESSION_LASTING, 0.0)
    rogue = {None: "2001:db8:bad0::/56", MT.SESSION_LASTING: "2001:db8:bad1::/56"}
    # the copied DUID, from the rogue's address, answers each Request first
    serve(c, 0.5, ScriptedServer(grants=rogue, server=SERVER, src=EVIL_LL, answers=(Request,)),
          ScriptedServer(grants=GRANTS, answers=(Solicit, Request)), rounds=3)
    (done,) = [e for e in drain(c) if type(e) is SetscCompleted]
    assert done.address in IPv6Network("2001:db8:5000::/56")
    held = {le for ia in c.pd.ias.values() for le in ia.leases}
    assert held and not any(str(p).startswith("2001:db8:bad") for p in held)
    st = c.status(0.5)["trust"]
    assert st["ignored"]["dhcp6"] >= 1
    assert "answered from" in st["ignored"]["recent"][-1]["why"]
    assert st["ignored"]["server_duid_addresses"] == {encode_duid(SERVER).hex(":"): str(GOOD_LL)}


def test_a_duid_is_learnt_again_on_a_new_link():
    c = core(trusted_server_duids=(encode_duid(SERVER).hex(),))
    c.start(0.0)
    answer_all(c, 0.0, rounds=2)
    assert c.trust.pinned == {encode_duid(SERVER): GOOD_LL}
    c.link_down(1.0)
    assert c.trust.pinned == {}
