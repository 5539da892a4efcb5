"""A misspelt key or table of the host's config file is named with the one
meant (docs/operations.md), short names included: the shared did-you-mean
helper (odm/tomltable.py ``close_match``) also takes one typing slip in a
name of up to five letters (difflib's ratio alone missed "hots" for "host",
0.75), without hinting an unrelated short key; and a ``[host]`` key written
at the top level (before any table header) is told to go under ``[host]``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from host.cli import host
from host.config import HostConfigError, load_config
from odm.tomltable import close_match


@pytest.mark.parametrize(("word", "candidates", "meant"), [
    ("hots", ["host"], "host"),            # two neighbours swapped
    ("hsot", ["host"], "host"),
    ("di", ["id"], "id"),                  # a swap counts at two letters too
    ("Host", ["host"], "host"),            # case only
    ("hst", ["host"], "host"),             # a letter dropped
    ("hostt", ["host"], "host"),           # one added
    ("hist", ["host", "iface"], "host"),   # one changed
    ("ifcae", ["iface", "duid"], "iface"),
    ("nmae", ["name", "pen"], "name"),
    ("prefx", ["prefix"], "prefix"),       # difflib's, as before
])
def test_one_slip_in_a_short_name_is_matched(word, candidates, meant):
    assert close_match(word, candidates) == meant


@pytest.mark.parametrize(("word", "candidates"), [
    ("ip", ["id"]),             # two letters: one changed is another name
    ("ra", ["router"]),
    ("foo", ["host"]),
    ("mtu", ["iface", "duid", "pen"]),
    ("dns", ["duid"]),
    ("pool", ["port"]),         # two letters changed
    ("hosts", ["hostname"]),
    ("iid", ["ip"]),
    ("ab", ["ba c"]),
])
def test_unrelated_short_names_get_no_hint(word, candidates):
    assert close_match(word, candidates) is None


def _load(tmp_path, text):
    f = tmp_path / "h.toml"
    f.write_text(text)
    with pytest.raises(HostConfigError) as ei:
        load_config(f)
    return f, ei.value


@pytest.mark.parametrize(("text", "key", "reason"), [
    ('[hots]\niface = "mh0"\n', "hots", "unknown key; did you mean 'host'?"),
    ('[Host]\niface = "mh0"\n', "Host", "unknown key; did you mean 'host'?"),
    ('[host]\nifcae = "mh0"\n', "host.ifcae", "unknown key; did you mean 'iface'?"),
    ('[host]\npne = 5\n', "host.pne", "unknown key; did you mean 'pen'?"),
    ('iface = "eth0"\n', "iface", "unknown key at the top level; put it under [host]"),
    ('iface = "eth0"\n[host]\napi_socket = "/tmp/h.sock"\n', "iface",
     "unknown key at the top level; put it under [host]"),
    ('timer_scale = 0.1\n[host]\niface = "mh0"\n', "timer_scale",
     "unknown key at the top level; put it under [host]"),
    ('ifcae = "eth0"\n', "ifcae", "unknown key; did you mean 'iface' (under [host])?"),
])
def test_a_misspelt_or_misplaced_key_is_named_with_the_one_meant(tmp_path, text, key, reason):
    f, e = _load(tmp_path, text)
    assert (e.key, e.reason) == (key, reason)
    r = CliRunner().invoke(host, ["check-config", str(f), "--json"])
    assert r.exit_code == 1
    assert json.loads(r.stdout) == {"ok": False, "key": key, "reason": reason}


@pytest.mark.parametrize("text", ['mtu = 1500\n[host]\niface = "mh0"\n',
                                  '[foo]\n[host]\niface = "mh0"\n'])
def test_an_unrelated_top_level_key_is_unknown_with_no_hint(tmp_path, text):
    _, e = _load(tmp_path, text)
    assert e.reason == "unknown key"
