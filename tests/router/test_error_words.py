"""User errors say what is wrong in the field's words, never a Python
exception's text (a user trial: `At least 3 parts expected in 'garbage'`,
`non-hexadecimal number found in fromhex() arg at position 0`, `router_id
changed` for the key `router.id`)."""

from __future__ import annotations

import tomllib
from types import SimpleNamespace

import pytest

from host.config import HostConfigError, config_from_mapping
from router.config import ConfigError, parse_config
from router.io.commands import KeaCommands
from tests.router.test_config import cfg

PYTHON_WORDS = ("parts expected", "fromhex", "non-hexadecimal", "position", "Expected ",
                "does not appear to be")


def _kea(args: dict, command: str = "lease6-get") -> dict:
    return KeaCommands(SimpleNamespace(ifaces={}))({"command": command, "arguments": args})


@pytest.mark.parametrize(("args", "text"), [
    ({"ip-address": "garbage"}, "'garbage' is not an IPv6 address"),
    ({"ip-address": "2001:db8::/300"}, "'2001:db8::/300' is not an IPv6 prefix"),
    ({"ip-address": "2001:db8::1/64"}, "'2001:db8::1/64' has host bits set"),
    ({"duid": "zz", "iaid": 1}, "duid 'zz' is not hex octets (like 00:01:00:01:"),
    ({"duid": "00:01", "iaid": 1}, "duid '00:01' is 2 octets; a DUID is 3..130"),
])
def test_lease_commands_name_the_fault_in_the_fields_words(args, text):
    ans = _kea(args)
    assert ans["result"] == 1 and text in ans["text"], ans["text"]
    assert not any(w in ans["text"] for w in PYTHON_WORDS), ans["text"]


@pytest.mark.parametrize(("extra", "iface", "key", "text"), [
    ('server_duid = "zz"', "", "router.server_duid", "'zz' is not hex octets (like 00:01:00:01:"),
    ('dns_servers = ["2001:db8::53", "nonsense"]', "", "router.dns_servers[1]",
     "'nonsense' is not an IPv6 address"),
    ("", 'ra = { rdnss = ["10.0.0.1"] }', "interface[0].ra.rdnss[0]",
     "'10.0.0.1' is not an IPv6 address"),
    ('dns_servers = ["2001:db8::53", "ff02::1"]', "", "router.dns_servers[1]",
     "'ff02::1' is not a unicast address"),
    ("", 'ra = { rdnss = ["::"] }', "interface[0].ra.rdnss[0]", "'::' is not a unicast address"),
    ("", '[[interface.reservation]]\nduid = "zz"\nprefix = "2001:db8::/56"',
     "interface[0].reservation[0].duid", "'zz' is not hex octets"),
])
def test_router_config_errors_name_the_key_and_the_fault(extra, iface, key, text):
    with pytest.raises(ConfigError) as ei:
        parse_config(cfg(extra, iface) if "reservation" not in iface else _with(iface))
    msg = str(ei.value)
    assert ei.value.key == key and text in msg, msg
    assert not any(w in msg for w in PYTHON_WORDS), msg


def _with(iface: str) -> dict:
    d = cfg()
    d["interface"][0].update(tomllib.loads(iface.replace("[[interface.reservation]]",
                                                         "[[reservation]]")))
    return d


@pytest.mark.parametrize(("mapping", "text"), [
    ({"duid": "zz"}, "host.duid: 'zz' is not hex octets (like 00:01:00:01:"),
    ({"trusted_server_duids": ["00:01:00:01:00:00:00:01", "zz"]},
     "trusted_server_duids[1]: 'zz' is not hex octets"),
    ({"trusted_routers": ["fe80::1", "10.0.0.1"]}, "trusted_routers[1]: '10.0.0.1' is not an "
                                                   "IPv6 address"),
])
def test_host_config_errors_name_the_key_and_the_fault(mapping, text):
    with pytest.raises(HostConfigError) as ei:
        config_from_mapping(mapping)
    msg = str(ei.value)
    assert text in msg and not any(w in msg for w in PYTHON_WORDS), msg


def test_a_refused_reload_names_the_config_keys():
    from router.io import control_wiring

    cls = next(c for c in vars(control_wiring).values()
               if isinstance(c, type) and hasattr(c, "_restart_only"))
    old = parse_config(cfg())
    d = cfg()
    d["router"]["id"] = "r2"
    d["router"]["control_socket"] = "/run/odm/other.sock"
    keys = cls._restart_only(SimpleNamespace(config=old), parse_config(d))
    assert keys == ["router.id", "router.control_socket"]


def test_probe_options_name_the_fault_in_the_fields_words():
    import click
    from click.testing import CliRunner

    from odm.cli import main
    from odm.probe_cli import _client_duid
    r = CliRunner().invoke(main, ["probe", "pd", "--iface", "lo", "--hint", "garbage"])
    assert r.exit_code == 2 and "'garbage' is not an IPv6 prefix" in r.output, r.output
    with pytest.raises(click.BadParameter) as ei:
        _client_duid(SimpleNamespace(name="lo", mac=b""), "zz")
    assert "'zz' is not hex octets (like 00:01:00:01:" in ei.value.message
    assert not any(w in r.output + ei.value.message for w in PYTHON_WORDS)
