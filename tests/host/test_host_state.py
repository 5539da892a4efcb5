"""Crash durability of the host core (host/core/saved_state.py; the file is
host/state.py's): what a run saved, a new run takes back — the same addresses
once each, Rebind (RFC 8415 §18.2.12) of every restored IA_PD and no new
acquisition, references adopted — with a fake clock and a real file."""

import json
from ipaddress import IPv6Network

from hosthelp import CLIENT, SERVER_LL, advertise, config, decoded, drain, prefix, reply, rng

from host.core.events import AddressAdded, PrefixRenewed, SetscCompleted
from host.core.host import HostCore
from host.core.policy import Principal
from host.state import StateFile
from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import Rebind, Release, Request, Solicit

GRANTS = {None: "2001:db8:8000::/56", MT.SESSION_LASTING: "2001:db8:5000::/56",
          MT.FIXED: "2001:db8:f000::/56"}
ALICE = Principal(1000, 1000, pid=77)


def serve(c, now, rounds=4, *, pl=3000, vl=4000):
    seen = []
    for _ in range(rounds):
        for m in decoded(c.datagrams_to_send()):
            seen.append(m)
            ia = m.ia_pds[0]
            t = ia.prefixes[0].mobility_type if ia.prefixes else None
            pf = [prefix(GRANTS[t], t=t, pl=pl, vl=vl)]
            if type(m) is Solicit:
                c.handle_datagram(advertise(m, pf, pref=255), SERVER_LL, now)
            elif type(m) in (Request, Rebind):
                c.handle_datagram(reply(m, pf), SERVER_LL, now)
            elif type(m) is Release:
                c.handle_datagram(reply(m, [], t1=0, t2=0), SERVER_LL, now)
    return seen


def first_run(tmp_path, **kw):
    """A core that bound legacy + SL (boot) + FIXED (setsc by owner 10), saved."""
    c = HostCore(config(boot_types=(MT.SESSION_LASTING,), **kw), CLIENT, b"secret", rng=rng(1))
    c.start(100.0)
    serve(c, 100.0)
    c.setsc(1, 10, MT.FIXED, 101.0, principal=ALICE)
    c.setsc(2, 11, MT.SESSION_LASTING, 101.0, principal=ALICE)
    serve(c, 101.0)
    evs = drain(c)
    done = {e.request_id: e.address for e in evs if type(e) is SetscCompleted}
    sf = StateFile(tmp_path / "host-state.json")
    owners = {10: {"pid": 77, "inode": 5001, "fd": 3}, 11: {"pid": 77, "inode": 5002, "fd": 4}}
    assert sf.save(c.export_state(owners), core_clock=101.0, wall_clock=1_000_000.0)
    return c, sf, done


def second_run(sf, now=0.0, elapsed=5.0, seed=2, **kw):
    c = HostCore(config(boot_types=(MT.SESSION_LASTING,), **kw), CLIENT, b"secret",
                 rng=rng(seed))
    adopted = c.restore_state(sf.load(), now, elapsed)
    return c, adopted


def test_restart_restores_addresses_once_and_rebinds_without_new_acquisitions(tmp_path):
    a, sf, done = first_run(tmp_path)
    old = {x.address: (x.prefix, x.mobility_type, x.iaid) for x in a.addrs.by_prefix.values()}
    assert len(old) == 3 and set(done.values()) <= set(old)
    b, _ = second_run(sf)
    evs = drain(b)
    added = [e for e in evs if type(e) is AddressAdded]
    assert sorted(e.address for e in added) == sorted(old)  # each once
    for e in added:  # lifetimes shortened by the downtime (saved at t=101, 5 s down)
        assert e.valid_lifetime <= 4000 - 5 and e.nodad and e.prefix_length == 128
    assert min(e.valid_lifetime for e in added) == 4000 - 6  # legacy: bound at t=100
    assert {x.address: (x.prefix, x.mobility_type, x.iaid)
            for x in b.addrs.by_prefix.values()} == old
    b.start(0.0)
    assert b.datagrams_to_send() == []  # Rebind after a CNF_MAX_DELAY-style random delay
    now = b.config.timers.cnf_max_delay  # every Rebind is due by then
    b.handle_timer(now)
    msgs = serve(b, now)
    assert msgs and {type(m) for m in msgs} == {Rebind}
    assert sorted(m.ia_pds[0].iaid for m in msgs) == sorted(ia.iaid for ia in a.pd.ias.values())
    for m in msgs:  # the restored prefix in each, no server id (any server may answer)
        ia = a.pd.ias[m.ia_pds[0].iaid]
        assert {IPv6Network((p.prefix, p.prefix_length)) for p in m.ia_pds[0].prefixes} \
            == set(ia.leases)
        assert m.server_duid is None
    evs = drain(b)
    assert len([e for e in evs if type(e) is PrefixRenewed]) == 3
    assert not [e for e in evs if type(e) is AddressAdded]
    assert len(b.addrs.by_prefix) == 3


def test_references_are_adopted_and_setsc_returns_the_same_addresses(tmp_path):
    _, sf, done = first_run(tmp_path)
    b, adopted = second_run(sf)
    assert sorted((x.pid, x.inode, x.fd) for x in adopted) == [(77, 5001, 3), (77, 5002, 4)]
    assert all(x.owner < 0 for x in adopted)
    b.start(0.0)
    drain(b)
    # a new socket of the same uid: the FIXED address charged to it comes back, nothing sent
    b.setsc(5, 20, MT.FIXED, 1.0, principal=ALICE)
    (ans,) = [e for e in drain(b) if type(e) is SetscCompleted]
    assert ans.address == done[1]
    assert not [m for m in decoded(b.datagrams_to_send()) if type(m) is not Rebind]
    b.setsc(6, 21, MT.SESSION_LASTING, 1.0, principal=ALICE)
    (ans,) = [e for e in drain(b) if type(e) is SetscCompleted]
    assert ans.address == done[2]
    # the policy still counts the adopted FIXED reference (quota 1): ON_NET refused
    b.setsc(7, 22, MT.FIXED, 1.0, on_net=True, principal=ALICE)
    (ans,) = [e for e in drain(b) if type(e) is SetscCompleted]
    assert ans.error is not None and ans.error.value == "ODM_POLICY_DENIED"
    # the adopted SL reference ends when its socket is gone; the other one holds
    sl = next(x for x in adopted if b.refs[x.owner].mobility_type == MT.SESSION_LASTING)
    b.close_owner(sl.owner, 2.0)
    assert b.addrs.by_address[done[2]].refs == {21}


def test_prefix_that_expired_while_down_is_dropped_and_reacquired(tmp_path):
    _, sf, _ = first_run(tmp_path)
    b, adopted = second_run(sf, elapsed=4001.0)
    assert not b.addrs.by_prefix and not b.pd.ias and adopted == []
    b.start(0.0)
    msgs = serve(b, 0.0)
    # legacy and the boot type acquired afresh; FIXED (on demand) is not
    assert [type(m) for m in msgs].count(Solicit) == 2
    assert {m.ia_pds[0].prefixes[0].mobility_type for m in msgs if type(m) is Solicit} \
        == {None, MT.SESSION_LASTING}


def test_random_interface_identifiers_survive_the_restart(tmp_path):
    a, sf, _ = first_run(tmp_path, iid="random")
    old = sorted(x.address for x in a.addrs.by_prefix.values())
    b, _ = second_run(sf, seed=99, iid="random")
    assert sorted(x.address for x in b.addrs.by_prefix.values()) == old
    # and a fresh core with another seed would have formed others
    c = HostCore(config(iid="random"), CLIENT, b"secret", rng=rng(99))
    assert c.addrs.form(next(iter(a.addrs.by_prefix))) not in old


def test_state_of_another_duid_or_version_is_refused(tmp_path):
    import pytest

    from odm_wire.dhcp6 import DuidLL
    _, sf, _ = first_run(tmp_path)
    other = HostCore(config(), DuidLL(1, b"\x02\x00\x00\x00\x00\x99"), b"s", rng=rng())
    with pytest.raises(ValueError, match="DUID"):
        other.restore_state(sf.load(), 0.0, 0.0)
    doc = sf.load()
    doc["version"] = 99
    with pytest.raises(ValueError, match="version"):
        HostCore(config(), CLIENT, b"s", rng=rng()).restore_state(doc, 0.0, 0.0)


def test_state_file_atomic_write_only_on_change_and_corrupt_file(tmp_path):
    sf = StateFile(tmp_path / "d" / "s.json")
    assert sf.load() is None
    assert sf.save({"a": 1}, 1.0, 2.0)
    assert not sf.save({"a": 1}, 5.0, 6.0)  # unchanged: no write
    assert sf.writes == 1 and json.loads(sf.path.read_text())["core_clock"] == 1.0
    assert sf.save({"a": 2}, 7.0, 8.0) and sf.load()["a"] == 2
    assert [p.name for p in sf.path.parent.iterdir()] == ["s.json"]  # no temp left
    assert oct(sf.path.stat().st_mode & 0o777) == "0o600"
    sf.path.write_text("{half")
    assert StateFile(sf.path).load() is None
    sf.remove()
    assert not sf.path.exists()


def test_event_log_lines_name_fields_as_operators_read_them():
    """Host INFO lines are no dataclass reprs (issue 16): RFC type names, IAID
    in 0x hex, DUID in colon hex, lifetimes in seconds, no core-clock times."""
    from ipaddress import IPv6Network

    from host.core.events import PrefixBound, PrefixDeprecated
    from odm_wire.constants import MobilityType
    line = PrefixBound(IPv6Network("2001:db8:1002::/64"), MobilityType.SESSION_LASTING, 600,
                       0xFFFFFFFF, 0x6411FB, bytes.fromhex("000100013a")).describe()
    assert line == ("PrefixBound: prefix=2001:db8:1002::/64 type=SESSION_LASTING "
                    "preferred=600s valid=infinity iaid=0x006411fb "
                    "server-duid=00:01:00:01:3a")
    line = PrefixDeprecated(IPv6Network("2001:db8::/64"), None, 5, 1234.5).describe()
    assert line == "PrefixDeprecated: prefix=2001:db8::/64 type=untyped iaid=0x00000005"
