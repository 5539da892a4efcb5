"""What the access link's source address validation allows
(router/dataplane/savi.py): the link's RA prefixes, pools, reservations and
``source_prefixes``, each once; and the config keys that govern it."""

from __future__ import annotations

from ipaddress import IPv6Network

import pytest

from router.config import ConfigError
from router.dataplane import savi
from tests.router.conftest import BASE_TOML, make_config


def _with(lines: str) -> str:
    return BASE_TOML.replace('name = "veth0"\n', f'name = "veth0"\n{lines}', 1)


def test_the_link_allows_its_ra_prefixes_pools_and_extra_sources_once():
    cfg = make_config(_with('source_prefixes = ["2001:db8:77::/48", "2001:db8:1::/64"]\n'))
    ic = cfg.interfaces[0]
    allowed = savi.allowed_prefixes(ic)
    assert allowed[0] == IPv6Network("2001:db8:1::/64")  # the RA prefix first
    assert {p.prefix for p in ic.pools} <= set(allowed)
    assert IPv6Network("2001:db8:77::/48") in allowed
    assert len(allowed) == len(set(allowed))  # the PIO named again is not repeated
    assert ic.source_address_validation  # on unless the file says otherwise


def test_validation_can_be_turned_off():
    ic = make_config(_with("source_address_validation = false\n")).interfaces[0]
    assert ic.source_address_validation is False


@pytest.mark.parametrize("bad, reason", [
    ('["2001:db8:77::/48", "ff02::/64"]', "multicast"),
    ('["2001:db8:77::/48", "fe80::/64"]', "link-local"),
    ('["2001:db8:77::/48", "2001:db8::zz/64"]', "prefix"),
])
def test_a_source_prefix_that_no_host_sends_from_is_refused_by_index(bad, reason):
    with pytest.raises(ConfigError) as e:
        make_config(_with(f"source_prefixes = {bad}\n"))
    assert e.value.key == "interface[0].source_prefixes[1]"
    assert reason in e.value.reason
