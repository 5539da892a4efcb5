"""Privacy on the router side (RFC 8653 §7, issue 7): pools of every type can
share one prefix space and allocate at random, so a delegated prefix does not
reveal its type; ``pd_allocator = "random"`` for ordinary pools. Sans-I/O
core, fake clock, seeded randomness."""

from __future__ import annotations

import tomllib
from collections import defaultdict
from ipaddress import IPv6Network

import pytest

from odm_wire.constants import MobilityType as MT
from odm_wire.constants import StatusCode as SC
from router.config import ConfigError, parse_config
from tests.router.conftest import SERVER_DUID, Client, Harness, net, prefixes_of

SPACE = IPv6Network("2001:db8:7000::/52")  # 16 prefixes of /56

SHARED_TOML = """
[router]
id = "ar1"
max_bindings_per_client = 64

[timers]
profile = "scaled"
scale = 0.01

[limits]
max_bindings_per_type = {}
client_rate = { count = 0 }

[[interface]]
name = "veth0"
""" + "".join(f"""
  [[interface.pd_pool]]
  name = "{name}"
  mobility_type = "{name}"
  prefix = "{SPACE}"
  delegated_length = 56
  shared_space = true
  preferred_lifetime = {pref}
  valid_lifetime = {valid}
""" for name, pref, valid in (("fixed", 5000, 9000), ("session-lasting", 800, 1600),
                              ("non-persistent", 400, 800),
                              ("graceful-replacement", 300, 600)))

LIFETIMES = {MT.FIXED: 9000, MT.SESSION_LASTING: 1600, MT.NON_PERSISTENT: 800,
             MT.GRACEFUL_REPLACEMENT: 600}


def config(text: str = SHARED_TOML):
    return parse_config(tomllib.loads(text))


def bind(h, c, *ias):
    h.one(c.solicit(*ias))
    return h.one(c.request(SERVER_DUID, *ias))


def test_every_type_is_delegated_from_the_one_space_with_its_own_lifetimes(clock, store):
    h = Harness(config(), store, clock)
    c = Client()
    r = bind(h, c, *(c.typed(int(mt), mt) for mt in MT))
    got = {p.mobility_type: p for p in prefixes_of(r)}
    assert set(got) == set(MT)
    for mt, p in got.items():
        assert net(p).subnet_of(SPACE) and p.prefix_length == 56
        assert p.valid_lifetime == LIFETIMES[mt]


def test_shared_space_never_delegates_a_prefix_twice_and_fills_up_for_every_type(clock, store):
    h = Harness(config(), store, clock)
    seen = set()
    for i in range(4):
        c = Client(f"0200000003{i:02x}")
        r = bind(h, c, *(c.typed(int(mt), mt) for mt in MT))
        for p in prefixes_of(r):
            assert net(p) not in seen
            seen.add(net(p))
    assert len(seen) == 16  # the whole space, shared by four types
    late = Client("0200000003ff")
    r = bind(h, late, *(late.typed(int(mt), mt) for mt in MT))
    assert prefixes_of(r) == []
    assert all(ia.status.status_code == SC.NO_PREFIX_AVAIL for ia in r.ia_pds)
    pools = h.core.status(clock())["pools"]
    assert all(p["shared-space"] and p["assigned-pds"] == 16 for p in pools)


def test_over_time_each_prefix_serves_several_types(clock, store):
    """Bind one prefix of each type, release, repeat: the prefixes a type
    gets are spread over the whole space, and every prefix seen served more
    than one type (so a prefix does not tell its type)."""
    h = Harness(config(), store, clock, seed=7)
    c = Client()
    types_of: dict[IPv6Network, set] = defaultdict(set)
    for _ in range(40):
        ias = [c.typed(int(mt), mt) for mt in MT]
        r = bind(h, c, *ias)
        for ia in r.ia_pds:
            for p in ia.prefixes:
                types_of[net(p)].add(p.mobility_type)
        h.one(c.release(SERVER_DUID, *(c.held(ia) for ia in r.ia_pds)))
    assert len(types_of) == 16
    assert all(len(ts) >= 2 for ts in types_of.values()), types_of


def test_shared_space_survives_a_restart(clock, store, tmp_path):
    h = Harness(config(), store, clock)
    c = Client()
    first = {net(p) for p in prefixes_of(bind(h, c, *(c.typed(int(mt), mt) for mt in MT)))}
    h2 = Harness(config(), store, clock, seed=3)  # a restarted core on the same store
    other = Client("020000000444")
    again = set()
    for _ in range(3):
        r = bind(h2, other, *(other.typed(int(mt) + 10 * len(again), mt) for mt in MT))
        again |= {net(p) for p in prefixes_of(r)}
    assert len(again) == 12 and not (again & first)


def test_random_allocator_is_not_sequential(clock, store):
    text = (tomllib.loads(SHARED_TOML))
    iface = text["interface"][0]
    iface["pd_allocator"] = "random"
    for i, p in enumerate(iface["pd_pool"]):
        p["shared_space"] = False
        p["prefix"] = f"2001:db8:7{i}00::/48"
        p["delegated_length"] = 64
    h = Harness(parse_config(text), store, clock, seed=5)
    c = Client()
    got = [net(p) for p in prefixes_of(bind(h, c, *(c.typed(i, MT.NON_PERSISTENT)
                                                     for i in range(8))))]
    idx = [int(n.network_address) >> 64 & 0xFFFF for n in got]
    assert len(set(idx)) == 8
    assert idx != sorted(idx) or idx[-1] - idx[0] != 7  # not 0,1,2,...,7


@pytest.mark.parametrize("change,key", [
    (lambda pools: pools[1].pop("shared_space"), "interface[0].pd_pool[1].shared_space"),
    (lambda pools: pools[2].update(delegated_length=60),
     "interface[0].pd_pool[2].delegated_length"),
    (lambda pools: pools[3].update(mobility_type="fixed"), "interface[0].pd_pool[3].mobility_type"),
])
def test_shared_space_config_errors_name_the_key(change, key):
    data = tomllib.loads(SHARED_TOML)
    change(data["interface"][0]["pd_pool"])
    with pytest.raises(ConfigError) as ei:
        parse_config(data)
    assert ei.value.key == key


def test_pd_allocator_must_be_known():
    data = tomllib.loads(SHARED_TOML)
    data["interface"][0]["pd_allocator"] = "shuffled"
    with pytest.raises(ConfigError) as ei:
        parse_config(data)
    assert ei.value.key == "interface[0].pd_allocator"
