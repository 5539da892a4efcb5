"""``odm host check-config FILE [--json]``: the host's configuration checked
before the agent runs, in the shape of ``odm router check-config`` (``FILE:
key: reason`` on stderr and exit 1, ``{"ok": false, "key", "reason"}`` with
--json; exit 0 and a summary when the file is good), with the same parser as
``odm host run`` so what it accepts the agent accepts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from host.cli import host
from host.config import HostConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "host" / "example.toml"


def _check(f: Path, *extra: str):
    return CliRunner().invoke(host, ["check-config", str(f), *extra])


def test_the_example_is_accepted_and_summarised():
    r = _check(EXAMPLE)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"OK {EXAMPLE}: host on eth0, timers rfc")
    r = _check(EXAMPLE, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["ok"] is True and out["warnings"] == []
    assert out["iface"] == "eth0" and out["api-socket"] == "/run/odm/host.sock"
    assert out["timers"] == "rfc" and out["policy"] == "built-in default"
    assert out["release-policy"]["session-lasting"] == "release"


@pytest.mark.parametrize(("body", "key", "reason"), [
    # read by the table reader: a misspelt key is named with the key meant
    ('ifac = "mh0"', "host.ifac", "unknown key; did you mean 'iface'?"),
    ('timer_scale = "fast"', "host.timer_scale", "must be a number, not 'fast'"),
    # checked together after reading (HostConfig.validate): named the same way
    ("timer_scale = -1", "host.timer_scale", "must be a finite number > 0"),
    ("timer_scale = inf", "host.timer_scale", "must be a finite number > 0, not inf"),
    ("setsc_timeout = inf", "host.setsc_timeout", "must be a finite number > 0, not inf"),
    ('api_socket = ""', "host.api_socket", "is empty"),
    ('iface = "a/b"', "host.iface", "'a/b' is not an interface name"),
    ('boot_types = ["fixed", "fixed"]', "host.boot_types[1]", "fixed is named twice"),
    ('iid = "weird"', "host.iid", "must be \"stable\" or \"random\", not 'weird'"),
    ('trusted_routers = ["fe80::1", "2001:db8::1"]', "host.trusted_routers[1]",
     "2001:db8::1 is not link-local"),
    ('duid = "zz"', "host.duid", "'zz' is not hex octets"),
    ('[host.release_policy]\nfixed = "burn"', "host.release_policy.fixed",
     "must be \"release\" or \"keep\", not 'burn'"),
])
def test_a_bad_key_is_named_in_text_and_json(tmp_path, body, key, reason):
    f = tmp_path / "h.toml"
    f.write_text("[host]\n" + body + "\n")
    r = _check(f)
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.startswith(f"{f}: {key}: {reason}"), r.stderr
    r = _check(f, "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["key"] == key and out["reason"].startswith(reason)
    with pytest.raises(HostConfigError) as ei:  # odm host run reads it the same way
        load_config(f)
    assert (ei.value.key, str(ei.value)) == (key, f"{key}: {ei.value.reason}")


def test_a_misspelt_table_is_named_with_the_table_meant(tmp_path):
    """``[hosts]`` was ignored (the agent ran on defaults: eth0)."""
    f = tmp_path / "h.toml"
    f.write_text('[hosts]\niface = "mh0"\n')
    r = _check(f, "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout) == {"ok": False, "key": "hosts",
                                    "reason": "unknown key; did you mean 'host'?"}
    with pytest.raises(HostConfigError, match="hosts: unknown key; did you mean 'host'"):
        load_config(f)


def test_a_missing_or_broken_file_is_refused_without_a_key(tmp_path):
    r = _check(tmp_path / "missing.toml", "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout) == {"ok": False, "key": "",
                                    "reason": "No such file or directory"}
    r = _check(tmp_path / "missing.toml")
    assert r.exit_code == 1
    assert r.stderr == f"{tmp_path / 'missing.toml'}: No such file or directory\n"
    f = tmp_path / "h.toml"
    f.write_text("[host\n")
    r = _check(f)
    assert r.exit_code == 1 and r.stderr.startswith(f"{f}: not valid TOML: ")


def test_the_policy_file_is_checked_too(tmp_path):
    """``odm host run`` refuses to start on a bad policy file (fail closed):
    check-config says so first, naming the key that points at it."""
    pol = tmp_path / "policy.toml"
    pol.write_text('[default]\ntypes = ["nonsense"]\n')
    os.chmod(pol, 0o600)
    f = tmp_path / "h.toml"
    f.write_text(f'[host]\npolicy_file = "{pol}"\n')
    r = _check(f, "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["key"] == "host.policy_file" and "default.types" in out["reason"]
    pol.write_text('[default]\nmax_total = 3\n')
    r = _check(f, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["policy"] == str(pol)
