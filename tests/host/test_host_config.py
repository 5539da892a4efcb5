"""Host config: TOML loading, validation, the scaled timer profile."""

import pytest

from host.config import HostConfigError, Timers, load_config
from odm_wire import constants as C
from odm_wire.constants import MobilityType as MT


def test_toml_loads_and_scales_timers(tmp_path):
    f = tmp_path / "host.toml"
    f.write_text('[host]\niface = "mh0"\ntimer_profile = "lab"\ntimer_scale = 0.1\n'
                 'boot_types = ["fixed", "np"]\n[host.release_policy]\nfixed = "release"\n')
    cfg = load_config(f)
    assert cfg.iface == "mh0" and cfg.boot_types == (MT.FIXED, MT.NON_PERSISTENT)
    assert cfg.policy_for(MT.FIXED) == "release"
    assert cfg.policy_for(MT.SESSION_LASTING) == "release"
    assert cfg.timers.sol_timeout == pytest.approx(C.SOL_TIMEOUT * 0.1)
    assert cfg.timers.req_max_rc == C.REQ_MAX_RC
    assert load_config(None, iface="x").timers == Timers.rfc()


@pytest.mark.parametrize("body", [
    'bogus = 1', 'iid = "weird"', 'timer_profile = "fast"', 'prefix_length_hint = 0',
    'boot_types = ["none"]', 'duid = "zz"', '[host.release_policy]\nfixed = "burn"'])
def test_bad_values_raise_config_error(tmp_path, body):
    f = tmp_path / "h.toml"
    f.write_text("[host]\n" + body + "\n")
    with pytest.raises(HostConfigError):
        load_config(f)


def test_rate_limit_is_configurable_and_bounds_a_burst_of_on_net_requests(tmp_path):
    """RFC 8415 §14.1: 20 messages per 20 s unless the config says otherwise; a
    burst of ON_NET setsc() calls beyond the bucket waits for tokens."""
    import random

    from host.core.host import HostCore
    from odm_wire.dhcp6 import DuidLL

    f = tmp_path / "h.toml"
    f.write_text('[host]\niface = "mh0"\nrate_limit_count = 100\nrate_limit_interval = 2\n'
                 "first_solicit_delay = false\nlegacy_pd = false\n")
    big = load_config(f)
    assert (big.timers.rate_limit_count, big.timers.rate_limit_interval) == (100, 2.0)
    assert load_config(None, iface="x").timers.rate_limit_count == 20
    small = load_config(None, iface="mh0", first_solicit_delay=False, legacy_pd=False)
    sent = {}
    for name, cfg in (("big", big), ("small", small)):
        core = HostCore(cfg, DuidLL(1, b"\x02\x00\x00\x00\x00\x02"), b"k",
                        rng=random.Random(1))
        core.start(0.0)
        for i in range(30):
            core.setsc(i, i, MT.NON_PERSISTENT, 0.0, on_net=True)
        sent[name] = len(core.datagrams_to_send())
    assert sent == {"big": 30, "small": 20}
    for body in ("rate_limit_count = 0", "rate_limit_interval = -1",
                 "rate_limit_count = 1.5"):
        f.write_text("[host]\n" + body + "\n")
        with pytest.raises(HostConfigError):
            load_config(f)


def test_the_example_documents_every_key_and_each_documented_value_loads(tmp_path):
    """host/example.toml is the host agent's configuration reference, like
    router/example.toml: every HostConfig key is in it, and the file with every
    commented line switched on is a valid configuration."""
    import dataclasses
    import re
    from pathlib import Path

    from host.config import HostConfig, load_config
    example = Path(__file__).resolve().parents[2] / "host" / "example.toml"
    text = example.read_text()
    assert load_config(example) == load_config(None)  # as shipped: all defaults
    keys = set(re.findall(r"^#?\s*([a-z_]+) = ", text, re.MULTILINE)) | set(
        re.findall(r"\[host\.([a-z_]+)\]", text))
    assert {f.name for f in dataclasses.fields(HostConfig)} - keys == set()
    on = re.sub(r"^#\s?(\s*\[host\.release_policy\])", r"\1", text, flags=re.MULTILINE)
    on = re.sub(r"^#\s?(\s*[a-z_-]+ = )", r"\1", on, flags=re.MULTILINE)
    f = tmp_path / "all.toml"
    f.write_text(on)
    cfg = load_config(f)
    assert cfg.iid == "stable" and cfg.address_max_age == 86400.0
    assert cfg.trusted_routers == ("fe80::1",)


@pytest.mark.parametrize(("table", "message"), [
    ({"ifac": "mh0"}, "host.ifac: unknown key; did you mean 'iface'?"),
    ({"bogus": 1}, "host.bogus: unknown key"),
    ({"timer_scale": "fast"}, "host.timer_scale: must be a number, not 'fast'"),
    ({"pen": "odm"}, "host.pen: must be an integer, not 'odm'"),
    ({"rapid_commit": 1}, "host.rapid_commit: must be true or false, not 1"),
    ({"api_socket": 5}, "host.api_socket: must be a string, not 5"),
    ({"trusted_routers": "fe80::1"}, "host.trusted_routers: must be a list of strings"),
    ({"release_policy": {"fxed": "keep"}}, "host.release_policy.fxed: unknown mobility type"),
    ({"release_policy": "keep"}, "host.release_policy: must be a table, not str"),
])
def test_an_error_names_the_key_and_a_misspelt_key_the_key_meant(table, message):
    """The [host] table is read by the shared table reader (odm.tomltable):
    a wrong type is named by its key path, not met later as a TypeError."""
    from host.config import config_from_mapping
    with pytest.raises(HostConfigError) as ei:
        config_from_mapping(table)
    assert str(ei.value).startswith(message)


def test_every_key_of_the_example_is_read_with_its_declared_type(tmp_path):
    """Paths become Path, numbers float, type lists MobilityType (legacy: None)."""
    from pathlib import Path

    from host.config import config_from_mapping
    cfg = config_from_mapping({"state_file": "/tmp/s.json", "router_memory": 60,
                               "rotate_types": ["legacy", "np"],
                               "trusted_server_duids": ["00:03:00:01:02:00:00:00:00:01"]})
    assert cfg.state_file == Path("/tmp/s.json")
    assert cfg.router_memory == 60.0 and isinstance(cfg.router_memory, float)
    assert cfg.rotate_types == (None, MT.NON_PERSISTENT)
    assert cfg.trusted_server_duids == ("00030001020000000001",)
