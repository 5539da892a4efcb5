"""Privacy rotation (spec §7, host/core/privacy.py): address lifetimes by time or by
octets sent; new sockets get an address from a new prefix, the old one is
deprecated and left to drain while referenced — with a fake clock."""

from ipaddress import IPv6Address, IPv6Network

from hosthelp import (
    CLIENT,
    SERVER_LL,
    ScriptedServer,
    advertise,
    config,
    decoded,
    drain,
    prefix,
    reply,
    rng,
)

from host.core.events import AddressRemoved, AddressUpdated, AppNotification, SetscCompleted
from host.core.host import HostCore
from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import Release, Request, Solicit

MASK64 = (1 << 64) - 1


def Server():
    """A fresh /56 per acquisition (per type), long lifetimes and T1/T2."""
    return ScriptedServer(lifetimes=(30000, 40000), timers=(20000, 30000))


def core(seed=1, **kw):
    kw.setdefault("legacy_pd", False)
    c = HostCore(config(**kw), CLIENT, b"secret", rng=rng(seed))
    srv = Server()
    c.start(0.0)
    srv.serve(c, 0.0)
    drain(c)
    return c, srv


def setsc(c, srv, rid, owner, t, now, **kw):
    c.setsc(rid, owner, t, now, **kw)
    srv.serve(c, now)
    evs = drain(c)
    (ans,) = [e for e in evs if type(e) is SetscCompleted and e.request_id == rid]
    return ans.address, evs


def tick(c, srv, now):
    c.handle_timer(now)
    srv.serve(c, now)
    return drain(c)


def test_by_age_new_sockets_get_a_new_prefix_old_one_drains_while_referenced():
    c, srv = core(address_max_age=100.0, privacy_drain=50.0,
                  release_policy={MT.SESSION_LASTING: "keep"})
    a1, _ = setsc(c, srv, 1, 10, MT.SESSION_LASTING, 1.0)
    assert c.get_timer() <= 101.0
    assert not [m for m in srv.sent if type(m) is Release]
    evs = tick(c, srv, 60.0)
    assert not [e for e in evs if type(e) is AddressUpdated]  # not yet due
    evs = tick(c, srv, 101.0)
    (upd,) = [e for e in evs if type(e) is AddressUpdated and e.address == a1]
    assert upd.preferred_lifetime == 0 and upd.valid_lifetime > 0  # deprecated, still valid
    (note,) = [e for e in evs if type(e) is AppNotification]
    assert note.owners == (10,) and note.message["reason"] == "privacy"
    # a new socket (no ON_NET): not the retired address — a new prefix from the network
    n = len(srv.sent)
    a2, _ = setsc(c, srv, 2, 11, MT.SESSION_LASTING, 102.0)
    assert a2 != a1 and IPv6Network(f"{a2}/56", strict=False) != IPv6Network(f"{a1}/56",
                                                                           strict=False)
    assert [type(m) in (Solicit, Request) for m in srv.sent[n:]].count(True) == 1
    # the old socket still holds a1: it stays, even long after the drain time
    tick(c, srv, 190.0)
    assert a1 in c.addrs.by_address and c.addrs.by_address[a1].refs == {10}
    assert c.status(190.0)["privacy"]["rotations"] == 1
    # its socket closes: released, the drain time being over (policy "keep" or not)
    c.close_owner(10, 191.0)
    evs = tick(c, srv, 191.0)
    assert [e.address for e in evs if type(e) is AddressRemoved] == [a1]
    assert [m for m in srv.sent if type(m) is Release]
    assert a2 in c.addrs.by_address and not c.addrs.by_address[a2].deprecated


def test_unreferenced_retired_address_waits_for_the_drain_time():
    c, srv = core(address_max_age=100.0, privacy_drain=50.0,
                  release_policy={MT.NON_PERSISTENT: "keep"})
    a1, _ = setsc(c, srv, 1, 10, MT.NON_PERSISTENT, 1.0)
    c.close_owner(10, 2.0)  # kept (policy), no reference
    tick(c, srv, 101.0)
    assert c.addrs.by_address[a1].deprecated
    evs = tick(c, srv, 150.0)
    assert a1 in c.addrs.by_address and not [e for e in evs if type(e) is AddressRemoved]
    evs = tick(c, srv, 151.0)
    assert [e.address for e in evs if type(e) is AddressRemoved] == [a1]


def test_persistent_address_is_replaced_before_it_is_retired():
    c, srv = core(boot_types=(MT.NON_PERSISTENT,), address_max_age=100.0, privacy_drain=10.0)
    (b1,) = [a.address for a in c.addrs.by_prefix.values()]
    n = len(srv.sent)
    c.handle_timer(100.0)
    # the replacement is being acquired; the old address is still the one handed out
    out = decoded(c.datagrams_to_send())
    assert [type(m) for m in out] in ([Solicit], [Request])
    srv.sent.extend(out)
    assert not c.addrs.by_address[b1].deprecated
    a, _ = setsc(c, srv, 1, 10, MT.NON_PERSISTENT, 100.0)
    assert a == b1
    # (the Solicit/Request above is answered now)
    for m in out:
        pf = [prefix("2001:db8:3fff::/56", t=MT.NON_PERSISTENT, pl=30000, vl=40000)]
        c.handle_datagram((advertise if type(m) is Solicit else reply)(m, pf, pref=255),
                          SERVER_LL, 100.5)
    srv.serve(c, 100.5)
    drain(c)
    b2s = [x.address for x in c.addrs.by_prefix.values() if x.address != b1]
    assert len(b2s) == 1 and c.addrs.by_address[b1].deprecated
    assert type(srv.sent[n]) in (Solicit, Request)
    ia2 = c.pd.ias[c.addrs.by_address[b2s[0]].iaid]
    assert ia2.persistent and not c.pd.ias[c.addrs.by_address[b1].iaid].persistent
    a, _ = setsc(c, srv, 2, 11, MT.NON_PERSISTENT, 101.0)
    assert a == b2s[0]
    c.close_owner(10, 102.0)
    evs = tick(c, srv, 111.0)
    assert [e.address for e in evs if type(e) is AddressRemoved] == [b1]


def test_by_octets_counted_by_the_kernel():
    c, srv = core(address_max_bytes=10_000)
    a1, _ = setsc(c, srv, 1, 10, MT.SESSION_LASTING, 1.0)
    assert c.rotation.next_deadline() is None  # no age limit: no timer for it
    c.address_bytes({str(a1): 9_999}, 5.0)
    assert not c.addrs.by_address[a1].deprecated
    c.address_bytes({str(a1): 10_000, "2001:db8::dead": 10**9}, 6.0)
    evs = drain(c)
    assert c.addrs.by_address[a1].deprecated
    assert next(e for e in evs if type(e) is AppNotification).message["reason"] == "privacy"
    a2, _ = setsc(c, srv, 2, 11, MT.SESSION_LASTING, 7.0)
    assert a2 != a1
    assert c.status(7.0)["privacy"]["addresses"][0]["octets"] == 10_000


def test_fixed_does_not_rotate_by_default_and_rotation_is_off_by_default():
    c, srv = core(address_max_age=10.0)
    f, _ = setsc(c, srv, 1, 10, MT.FIXED, 1.0)
    tick(c, srv, 100.0)
    assert not c.addrs.by_address[f].deprecated and not c.rotation.tracked
    c, srv = core()
    a, _ = setsc(c, srv, 1, 10, MT.SESSION_LASTING, 1.0)
    c.address_bytes({str(a): 10**12}, 2.0)
    tick(c, srv, 15000.0)
    assert not c.addrs.by_address[a].deprecated and not c.rotation.enabled


def test_rotation_uses_random_interface_identifiers_when_configured():
    def rotated(seed):
        c, srv = core(seed, iid="random", address_max_age=100.0)
        a1, _ = setsc(c, srv, 1, 10, MT.SESSION_LASTING, 1.0)
        tick(c, srv, 101.0)
        a2, _ = setsc(c, srv, 2, 11, MT.SESSION_LASTING, 102.0)
        return c, a1, a2
    _, a1, a2 = rotated(1)
    assert a1 != a2 and int(a1) & MASK64 != int(a2) & MASK64
    stable = HostCore(config(), CLIENT, b"secret", rng=rng(1)).addrs
    net2 = IPv6Network(f"{a2}/56", strict=False)
    assert stable.form(net2) != a2  # not the RFC 7217 hash of the new prefix
    _, _, b2 = rotated(2)  # the same prefixes, another random source: other IIDs
    assert IPv6Network(f"{b2}/56", strict=False) == net2 and b2 != a2


def test_retired_state_survives_a_restart():
    c, srv = core(address_max_age=100.0, privacy_drain=50.0)
    a1, _ = setsc(c, srv, 1, 10, MT.SESSION_LASTING, 1.0)
    tick(c, srv, 101.0)
    doc = dict(c.export_state({10: {"pid": 1, "inode": 2, "fd": 3}}), core_clock=101.0)
    d = HostCore(config(address_max_age=100.0, privacy_drain=50.0, legacy_pd=False), CLIENT,
                 b"secret", rng=rng(3))
    d.restore_state(doc, 0.0, 0.0)
    assert d.addrs.by_address[a1].deprecated
    tr = d.rotation.tracked[IPv6Address(a1)]
    assert tr.retired_at == 0.0 and tr.born == -100.0


def test_privacy_config_keys():
    import pytest

    from host.config import HostConfigError, config_from_mapping
    cfg = config_from_mapping({"address_max_age": 600, "address_max_bytes": 10**8,
                               "rotate_types": ["legacy", "fixed"], "privacy_drain": 0,
                               "byte_poll_interval": 0.5, "state_file": "/tmp/x.json",
                               "policy_file": "/etc/odm/policy.toml"})
    assert cfg.rotate_types == (None, MT.FIXED) and cfg.address_max_age == 600.0
    assert str(cfg.state_file) == "/tmp/x.json" and str(cfg.policy_file).endswith(".toml")
    for bad in ({"address_max_age": 0}, {"address_max_bytes": 0},
                {"address_max_bytes": 1.5}, {"privacy_drain": -1},
                {"rotate_types": ["sometimes"]}, {"byte_poll_interval": 0}):
        with pytest.raises(HostConfigError):
            config_from_mapping(bad)
