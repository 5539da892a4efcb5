"""The router's config file gets the shared did-you-mean helper
(odm/tomltable.py ``close_match``): one typing slip in a short key is named
with the key meant (before, ``di`` had no hint and ``nmae`` made
"interface[0].name: is required"); an unrelated short key gets none."""

from __future__ import annotations

import tomllib

import pytest

from router.config import ConfigError
from router.config.parse import parse_config
from tests.router.conftest import BASE_TOML


def _error(old: str, new: str) -> ConfigError:
    assert old in BASE_TOML
    with pytest.raises(ConfigError) as ei:
        parse_config(tomllib.loads(BASE_TOML.replace(old, new, 1)))
    return ei.value


@pytest.mark.parametrize(("old", "new", "message"), [
    ('id = "ar1"', 'di = "ar1"', "router.di: unknown key; did you mean 'id'?"),
    ('name = "veth0"', 'nmae = "veth0"', "interface[0].nmae: unknown key; did you mean 'name'?"),
    ('name = "veth0"', 'Name = "veth0"', "interface[0].Name: unknown key; did you mean 'name'?"),
    ("scale = 0.01", "sacle = 0.01", "timers.sacle: unknown key; did you mean 'scale'?"),
    ("[router]", "[rotuer]", "rotuer: unknown key; did you mean 'router'?"),
])
def test_a_slip_in_a_router_key_is_named_with_the_key_meant(old, new, message):
    assert str(_error(old, new)) == message


def test_an_unrelated_short_router_key_gets_no_hint():
    assert str(_error('id = "ar1"', 'id = "ar1"\nmtu = 1500')) == "router.mtu: unknown key"
