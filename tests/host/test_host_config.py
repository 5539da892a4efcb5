"""Host config: TOML loading, validation, the scaled timer profile."""

import pytest

from odm_wire import constants as C
from odm_wire.constants import MobilityType as MT

from host.config import ConfigError, Timers, load_config


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
    with pytest.raises(ConfigError):
        load_config(f)
