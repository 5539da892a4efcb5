"""Router configuration: the example loads, RFC 4861 defaults, the timer
profile, and errors that name the offending key."""

from __future__ import annotations

import tomllib
from ipaddress import IPv6Network
from pathlib import Path

import pytest

from odm_wire.constants import INFINITY
from odm_wire.constants import MobilityType as MT
from router.config import ConfigError, load_config, parse_config
from tests.router.conftest import BASE_TOML

EXAMPLE = Path(__file__).resolve().parents[2] / "router" / "example.toml"


def cfg(extra: str = "", iface: str = "") -> dict:
    return tomllib.loads(f"""
[router]
id = "r"
{extra}
[[interface]]
name = "eth1"
{iface}
  [[interface.pd_pool]]
  name = "p"
  prefix = "2001:db8::/48"
  delegated_length = 56
""")


def test_example_config_loads_and_offers_every_type():
    c = load_config(EXAMPLE)
    (i,) = c.interfaces
    assert i.offered_types == tuple(MT)
    assert i.default_pool == "legacy" and i.pool("legacy").mobility_type is None
    assert c.pen == 32473 and c.preference == 255 and c.rapid_commit
    assert c.timers.name == "rfc"
    assert i.ra.prefixes[0].mobility_type == MT.NON_PERSISTENT
    assert i.reservations[0].mobility_type == MT.FIXED


def test_rfc4861_defaults():
    c = parse_config(cfg())
    ra = c.interfaces[0].ra
    assert ra.adv_send_advertisements is False
    assert ra.max_rtr_adv_interval == 600 and ra.min_rtr_adv_interval == pytest.approx(198)
    assert ra.adv_default_lifetime == 1800 and ra.adv_cur_hop_limit == 64
    assert (ra.adv_managed_flag, ra.adv_other_config_flag) == (False, False)
    assert ra.adv_link_mtu == 0 and ra.adv_reachable_time == 0 and ra.adv_retrans_timer == 0
    p = c.interfaces[0].pools[0]
    assert p.timers() == (1800, 2880)  # 0.5 / 0.8 of Kea's default preferred 3600


def test_min_interval_defaults_to_a_third_of_max_and_rfc_spelling_is_accepted():
    c = parse_config(cfg(iface="[interface.ra]\nMaxRtrAdvInterval = 30\nAdvManagedFlag = true"))
    ra = c.interfaces[0].ra
    assert ra.max_rtr_adv_interval == 30 and ra.min_rtr_adv_interval == pytest.approx(9.9)
    assert ra.adv_managed_flag and ra.adv_default_lifetime == 90


def test_scaled_profile_scales_constants_and_defaults_not_explicit_values():
    c = parse_config(tomllib.loads(BASE_TOML))
    t = c.timers
    assert t.name == "scaled" and t.max_initial_rtr_advert_interval == pytest.approx(0.16)
    assert t.min_delay_between_ras == pytest.approx(0.03)
    assert t.max_ra_delay_time == pytest.approx(0.005)
    assert t.max_initial_rtr_advertisements == 3 and t.max_final_rtr_advertisements == 3
    i = c.interfaces[0]
    assert i.ra.max_rtr_adv_interval == 10  # written explicitly
    assert c.reclaim_interval == pytest.approx(0.1)  # default scaled
    assert i.pool("fixed").valid_lifetime == 2000


def test_infinity_lifetimes():
    d = cfg()
    d["interface"][0]["pd_pool"][0].update(preferred_lifetime="infinity",
                                          valid_lifetime="infinity")
    p = parse_config(d).interfaces[0].pools[0]
    assert p.valid_lifetime == INFINITY and p.timers() == (INFINITY, INFINITY)


@pytest.mark.parametrize("mutate, key", [
    (lambda d: d["interface"][0]["pd_pool"][0].update(delegated_length=40),
     "interface[0].pd_pool[0].delegated_length"),
    (lambda d: d["interface"][0]["pd_pool"][0].update(delegated_length=129),
     "interface[0].pd_pool[0].delegated_length"),
    (lambda d: d["interface"][0]["pd_pool"][0].update(prefix="2001:db8::1/48"),
     "interface[0].pd_pool[0].prefix"),
    (lambda d: d["interface"][0]["pd_pool"][0].update(preferred_lifetime=10, valid_lifetime=5),
     "interface[0].pd_pool[0].preferred_lifetime"),
    (lambda d: d["interface"][0]["pd_pool"][0].update(t1=3000, t2=2000),
     "interface[0].pd_pool[0].t1"),
    (lambda d: d["interface"][0]["pd_pool"][0].update(t2=5000),
     "interface[0].pd_pool[0].t2"),
    (lambda d: d["interface"][0]["pd_pool"][0].update(mobility_type="sticky"),
     "interface[0].pd_pool[0].mobility_type"),
    (lambda d: d["interface"][0]["pd_pool"][0].update(colour="red"),
     "interface[0].pd_pool[0].colour"),
    (lambda d: d["interface"][0].update(offered_types=["fixed"]),
     "interface[0].offered_types"),
    (lambda d: d["interface"][0].update(default_pool="nope"), "interface[0].default_pool"),
    (lambda d: d["interface"][0].update(ra={"max_rtr_adv_interval": 2}),
     "interface[0].ra.max_rtr_adv_interval"),
    (lambda d: d["interface"][0].update(ra={"MaxRtrAdvInterval": 100, "MinRtrAdvInterval": 90}),
     "interface[0].ra.MinRtrAdvInterval"),
    (lambda d: d["interface"][0].update(ra={"adv_default_lifetime": 5}),
     "interface[0].ra.adv_default_lifetime"),
    (lambda d: d["interface"][0].update(ra={"adv_link_mtu": 1000}),
     "interface[0].ra.adv_link_mtu"),
    (lambda d: d["interface"][0].update(ra={"prefix": [{"prefix": "fe80::/64"}]}),
     "interface[0].ra.prefix[0].prefix"),
    (lambda d: d["interface"][0].update(ra={"prefix": [{"prefix": "2001:db8::/64"}]}),
     "interface[0].ra.prefix[0].prefix"),
    (lambda d: d["interface"][0]["pd_pool"].append(
        {"name": "p", "prefix": "2001:db9::/48", "delegated_length": 56}),
     "interface[0].pd_pool[1].name"),
    (lambda d: d["interface"][0]["pd_pool"].append(
        {"name": "q", "prefix": "2001:db8:0:100::/56", "delegated_length": 60}),
     "interface[0].pd_pool[1].prefix"),
    (lambda d: d["interface"][0].update(reservation=[{"duid": "zz", "prefix": "2001:db9::/56"}]),
     "interface[0].reservation[0].duid"),
    (lambda d: d["interface"][0].update(reservation=[{"duid": "000300010200", "prefix":
                                                      "2001:db8::/60"}]),
     "interface[0].reservation[0].prefix"),
    (lambda d: d["router"].update(pen="x"), "router.pen"),
    (lambda d: d["router"].update(server_duid="nonsense"), "router.server_duid"),
    (lambda d: d["router"].update(preference=256), "router.preference"),
    (lambda d: d.update(timers={"profile": "fast"}), "timers.profile"),
    (lambda d: d.update(timers={"profile": "rfc", "scale": 0.1}), "timers.scale"),
    (lambda d: d.pop("interface"), "interface"),
    (lambda d: d["interface"].append(dict(d["interface"][0])), "interface[1].name"),
])
def test_errors_name_the_offending_key(mutate, key):
    d = cfg()
    mutate(d)
    with pytest.raises(ConfigError) as ei:
        parse_config(d)
    assert ei.value.key == key, str(ei.value)
    assert str(ei.value).startswith(key)


def test_toml_syntax_error(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[router\nid=1")
    with pytest.raises(ConfigError) as ei:
        load_config(f)
    assert "not valid TOML" in str(ei.value)


def test_with_interface_names_renames_a_single_interface_template():
    c = parse_config(cfg())
    assert c.with_interface_names(["veth9"]).interfaces[0].name == "veth9"
    assert c.with_interface_names(["eth1"]).interfaces[0].name == "eth1"


def test_reservation_lifetimes_default_to_the_pool_of_its_type():
    d = cfg()
    d["interface"][0]["pd_pool"][0]["mobility_type"] = "fixed"
    d["interface"][0]["pd_pool"][0]["valid_lifetime"] = 9000
    d["interface"][0]["reservation"] = [{"duid": "00:03:00:01:02:00:00:00:00:02",
                                         "prefix": "2001:db9::/56"}]
    (r,) = parse_config(d).interfaces[0].reservations
    assert r.prefix == IPv6Network("2001:db9::/56") and r.valid_lifetime == 9000
    assert r.preferred_lifetime == 3600
