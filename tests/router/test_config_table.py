"""odm.tomltable: the one TOML table reader of every config parser (router,
host, lab): key paths in errors, types and ranges, unknown keys with the key
probably meant, files another user could write refused where asked."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from odm.safefile import UnsafePath
from odm.tomltable import TOML_ERRORS, Table, TableError, hinting, read_toml

ROOT = Path(__file__).resolve().parents[2]


def _err(fn) -> TableError:
    with pytest.raises(TableError) as ei:
        fn()
    return ei.value


def test_an_error_names_the_key_by_its_path_through_arrays_of_tables():
    doc = {"interface": [{"name": "eth0", "pd_pool": [{"prefix": "2001:db8::/48"},
                                                      {"prefix": "2001:db8::1/48"}]}]}
    top = Table(doc, "")
    iface = top.tables("interface")[0]
    pools = iface.tables("pd_pool")
    assert pools[0].network("prefix").prefixlen == 48
    e = _err(lambda: pools[1].network("prefix"))
    assert e.key == "interface[0].pd_pool[1].prefix"
    assert str(e) == ("interface[0].pd_pool[1].prefix: '2001:db8::1/48' has host bits set "
                      "(the prefix is 2001:db8::/48)")
    assert iface.table("ra").path == "interface[0].ra"


def test_one_table_where_an_array_is_expected_counts_as_one_entry_and_a_scalar_is_refused():
    t = Table({"peer": {"id": "ar2"}, "bad": 3}, "mobility")
    assert [p.str_("id") for p in t.tables("peer")] == ["ar2"]
    assert _err(lambda: t.tables("bad")).reason == "must be an array of tables ([[...]])"
    assert _err(lambda: Table(5, "router")).reason == "must be a table, not int"


@pytest.mark.parametrize(("value", "call", "reason"), [
    ("x", lambda t: t.int_("k", None), "must be an integer, not 'x'"),
    (True, lambda t: t.int_("k", None), "must be an integer, not True"),
    (7, lambda t: t.int_("k", None, lo=8), "7 is below the minimum 8"),
    (9, lambda t: t.int_("k", None, hi=8), "9 is above the maximum 8"),
    (True, lambda t: t.num("k", None), "must be a number, not True"),
    (math.nan, lambda t: t.num("k", None), "must be a number, not nan"),
    (0.5, lambda t: t.num("k", None, lo=1), "0.5 is below the minimum 1"),
    (1, lambda t: t.bool_("k", False), "must be true or false, not 1"),
    (3, lambda t: t.str_("k"), "must be a string, not 3"),
    (["a", 1], lambda t: t.strings("k"), "must be a list of strings, not ['a', 1]"),
    ("fe80::zz", lambda t: t.address("k"), "'fe80::zz' is not an IPv6 address"),
])
def test_types_and_ranges_are_checked_and_the_reason_names_the_value(value, call, reason):
    e = _err(lambda: call(Table({"k": value}, "router")))
    assert e.key == "router.k" and e.reason.startswith(reason)


def test_absent_keys_give_the_default_and_a_required_one_is_named():
    t = Table({}, "router")
    assert (t.int_("n", 3), t.num("x", None), t.bool_("b", True), t.strings("s")) == \
        (3, None, True, ())
    assert t.path_("p", Path("/etc/odm"), "leases.db") == Path("/etc/odm/leases.db")
    assert t.path_("q", Path("/etc/odm"), "/abs") == Path("/abs")
    assert _err(lambda: t.str_("id", required=True)).key == "router.id"


def test_a_key_nobody_read_is_refused_with_the_key_probably_meant():
    t = Table({"max_rtr_adv_intervall": 30, "colour": "red"}, "interface[0].ra")
    t.num("max_rtr_adv_interval", 600.0)
    e = _err(t.done)
    assert str(e) == ("interface[0].ra.max_rtr_adv_intervall: unknown key; "
                      "did you mean 'max_rtr_adv_interval'?")
    t.get("max_rtr_adv_intervall")
    assert str(_err(t.done)) == "interface[0].ra.colour: unknown key"


def test_given_counts_every_known_key_as_asked_for():
    t = Table({"ifac": "eth0", "pen": 1}, "host")
    assert t.given(("iface", "pen", "duid")) == {"pen": 1}
    assert _err(t.done).reason == "unknown key; did you mean 'iface'?"


def test_aliases_map_other_spellings_and_a_key_given_twice_is_refused():
    aliases = {"MaxRtrAdvInterval": "max_rtr_adv_interval"}
    t = Table({"MaxRtrAdvInterval": 30}, "ra", aliases)
    assert t.num("max_rtr_adv_interval", 600.0) == 30.0
    t.done()
    e = _err(lambda: Table({"max_rtr_adv_interval": 20, "MaxRtrAdvInterval": 30}, "ra",
                           aliases))
    assert e.key == "ra.MaxRtrAdvInterval" and "given twice" in e.reason


def test_a_misspelling_is_reported_instead_of_the_error_it_caused():
    """The key meant is then missing, or its default fails a check elsewhere:
    the misspelt key is what the operator has to fix."""
    def walk():
        top = Table({"pool": {"prefx": "2001:db8::/48"}}, "")
        top.table("pool").network("prefix")

    e = _err(walk)
    assert e.key == "pool.prefix" and e.reason == "is required"
    with pytest.raises(TableError) as ei, hinting(TableError):
        walk()
    assert str(ei.value) == "pool.prefx: unknown key; did you mean 'prefix'?"


def test_each_parser_raises_its_own_error_class():
    class MyError(ValueError):
        def __init__(self, key, reason):
            super().__init__(f"<{key}> {reason}")

    t = Table({"n": "x"}, "lab", error=MyError)
    with pytest.raises(MyError, match=r"<lab\.n> must be an integer"):
        t.int_("n", None)
    with pytest.raises(MyError, match=r"<lab\.sub\.m> must be true or false"):
        t.sub({"m": 1}, "lab.sub").bool_("m", False)


def test_read_toml_reads_a_file_and_its_errors_are_toml_errors(tmp_path):
    f = tmp_path / "a.toml"
    f.write_text('[router]\nid = "ar1"\n')
    assert read_toml(f) == {"router": {"id": "ar1"}}
    f.write_text("[router\n")
    with pytest.raises(TOML_ERRORS, match="line 1"):
        read_toml(f)
    with pytest.raises(TOML_ERRORS):
        read_toml(tmp_path / "missing.toml")


def test_read_toml_trusted_only_refuses_a_file_others_may_write(tmp_path):
    f = tmp_path / "policy.toml"
    f.write_text("users_total = 3\n")
    f.chmod(0o644)
    assert read_toml(f, trusted_only=True) == {"users_total": 3}
    f.chmod(0o664)
    with pytest.raises(UnsafePath, match="writable by other users"):
        read_toml(f, trusted_only=True)
    assert read_toml(f) == {"users_total": 3}  # only where asked


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another uid needs root")
def test_read_toml_trusted_only_refuses_a_file_of_another_user(tmp_path):
    f = tmp_path / "policy.toml"
    f.write_text("users_total = 3\n")
    f.chmod(0o644)
    os.chown(f, 65534, 65534)
    with pytest.raises(UnsafePath, match="owned by uid 65534"):
        read_toml(f, trusted_only=True)


def test_the_config_models_load_without_the_parsers():
    """The cores import the models; the file-reading code (odm/) is loaded only
    when a parser name is used."""
    code = ("import sys, router.config, host.config\n"
            "import router.config.model, host.config.model\n"
            "assert 'odm.tomltable' not in sys.modules, 'model loaded the parser'\n"
            "from router.config import load_config, parse_config, t1_t2\n"
            "from host.config import config_from_mapping, load_config as h\n"
            "assert 'odm.tomltable' in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60, check=False)
    assert r.returncode == 0, r.stderr


def test_a_misspelt_copy_of_a_key_that_is_given_too_is_hinted():
    """`first_solicit_dely = false` next to `first_solicit_delay` got a bare
    "unknown key" (the hint looked only among keys not given)."""
    t = Table({"first_solicit_delay": True, "first_solicit_dely": False}, "host")
    t.bool_("first_solicit_delay", True)
    assert _err(t.done).reason == ("unknown key; did you mean 'first_solicit_delay' "
                                   "(given too)?")
    t = Table({"x": 1, "zzz": 2}, "host")
    t.int_("x", 0)
    assert _err(t.done).reason == "unknown key"
