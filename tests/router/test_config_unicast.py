"""Every router configuration key that takes a prefix to advertise, delegate
or route refuses one that is not unicast of global use — multicast,
link-local, holding :: or ::1 — naming the key, as ``fe80::/64`` in a PIO
always was (RFC 4861 §4.6.2, RFC 4862 §5.5.3 b, RFC 4291 §2.4); a SID or a
core address refuses a multicast or the unspecified address."""

from __future__ import annotations

import tomllib

import pytest
from click.testing import CliRunner

from router.config import ConfigError, parse_config

NOT_UNICAST = ["ff02::/64", "ff00::/8", "::/64", "::/0", "::1/128", "fe80::/64",
               "fe80::/10", "fe80:0:0:1::/64", "fc00::/6",  # fc00::/6 holds fe80::/10
               "::ffff:0:0/96", "::ffff:192.0.2.0/120"]


def _doc(pio="2001:db8:1::/64", pool="2001:db8::/48", resv="2001:db8:0:100::/64",
         mobility="") -> str:
    return f"""
[router]
id = "ar1"
[[interface]]
name = "eth1"
  [interface.ra]
  adv_send_advertisements = true
    [[interface.ra.prefix]]
    prefix = "{pio}"
  [[interface.pd_pool]]
  name = "p"
  prefix = "{pool}"
  delegated_length = {64 if pool.endswith(("/0", "/6", "/8", "/10", "/48")) else 128}
  [[interface.reservation]]
  duid = "00:03:00:01:02:00:00:00:00:02"
  prefix = "{resv}"
{mobility}
"""


def _mobility(sid="2001:db8:5e6:1::1", core="2001:db8:0:c0::1", psid="2001:db8:5e6:2::1",
              pnet="2001:db8:5e6:2::/64", pcore="2001:db8:0:c0::2") -> str:
    return f"""
[mobility]
dataplane = "srv6"
core_interface = "core"
core_address = "{core}"
sid = "{sid}"
  [[mobility.peer]]
  id = "ar2"
  core_address = "{pcore}"
  sid = "{psid}"
  sid_prefix = "{pnet}"
"""


def test_the_unicast_document_loads():
    c = parse_config(tomllib.loads(_doc(mobility=_mobility())))
    assert str(c.interfaces[0].ra.prefixes[0].prefix) == "2001:db8:1::/64"
    assert str(c.mobility.peers[0].sid_prefix) == "2001:db8:5e6:2::/64"


@pytest.mark.parametrize("net", NOT_UNICAST)
@pytest.mark.parametrize(("where", "key"), [
    ("pio", "interface[0].ra.prefix[0].prefix"),
    ("pool", "interface[0].pd_pool[0].prefix"),
    ("resv", "interface[0].reservation[0].prefix"),
])
def test_a_prefix_that_is_not_unicast_is_refused_naming_its_key(where, key, net):
    with pytest.raises(ConfigError) as ei:
        parse_config(tomllib.loads(_doc(**{where: net})))
    assert ei.value.key == key, str(ei.value)
    assert str(ei.value).startswith(key)
    assert any(w in str(ei.value) for w in ("multicast", "link-local", "unspecified",
                                            "loopback", "IPv4-mapped")), str(ei.value)


@pytest.mark.parametrize(("arg", "value", "key"), [
    ("sid", "ff02::1", "mobility.sid"),
    ("sid", "::", "mobility.sid"),
    ("core", "ff05::2", "mobility.core_address"),
    ("psid", "ff0e::1", "mobility.peer[0].sid"),
    ("pnet", "::/0", "mobility.peer[0].sid_prefix"),
    ("pcore", "ff02::1", "mobility.peer[0].core_address"),
    ("pcore", "::", "mobility.peer[0].core_address"),
])
def test_a_mobility_address_or_sid_prefix_that_is_not_unicast_is_refused(arg, value, key):
    with pytest.raises(ConfigError) as ei:
        parse_config(tomllib.loads(_doc(mobility=_mobility(**{arg: value}))))
    assert ei.value.key == key, str(ei.value)


@pytest.mark.parametrize("net", ["ff02::/64", "::/64"])
def test_check_config_refuses_a_multicast_or_unspecified_pio(tmp_path, net):
    from router.cli import router

    f = tmp_path / "r.toml"
    f.write_text(_doc(pio=net))
    r = CliRunner().invoke(router, ["check-config", str(f)])
    assert r.exit_code != 0, r.output
    assert "interface[0].ra.prefix[0].prefix" in r.output
