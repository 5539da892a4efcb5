"""Errors an operator meets on the command line say what is wrong and what to
do (issue 16): a misspelt config key named as such, the valid mobility types
listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from odm_wire.constants import MobilityType
from router.cli import router

AR1 = Path(__file__).resolve().parents[2] / "pcaps" / "ar1.toml"


@pytest.mark.parametrize(("old", "new", "key", "meant"), [
    ('id = "ar1"', 'idd = "ar1"', "router.idd", "id"),
    # the misspelling leaves the default, which then fails a check of another key
    ("max_rtr_adv_interval = 30 ", "max_rtr_adv_intervall = 30 ",
     "interface[0].ra.max_rtr_adv_intervall", "max_rtr_adv_interval"),
    # the misspelling leaves a required key missing
    ('  prefix = "2001:db8:1f00::/48"', '  prefx = "2001:db8:1f00::/48"',
     "interface[0].pd_pool[0].prefx", "prefix"),
])
def test_a_misspelt_key_is_named_with_the_key_meant(tmp_path, old, new, key, meant):
    text = AR1.read_text()
    assert old in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(old, new, 1))
    r = CliRunner().invoke(router, ["check-config", str(bad)])
    assert r.exit_code == 1
    assert f"{key}: unknown key; did you mean {meant!r}?" in r.output


@pytest.mark.parametrize("text", ["5", "0", "bogus"])
def test_an_unknown_mobility_type_lists_the_valid_ones(text):
    with pytest.raises(ValueError) as ei:
        MobilityType.from_name(text)
    msg = str(ei.value)
    assert all(f"{m.value} {m.cli_name}" in msg for m in MobilityType)


@pytest.mark.parametrize("which", ["router", "host"])
def test_an_agent_without_the_capabilities_says_so_before_anything(which, monkeypatch,
                                                                     tmp_path):
    """Not root: one line naming the capabilities, not "Permission denied"
    half-way through the start."""
    import odm.capabilities
    monkeypatch.setattr(odm.capabilities, "effective", lambda: 0)
    if which == "router":
        args = ["run", "--config", str(AR1)]
        group = router
    else:
        from host.cli import host as group
        args = ["run", "--iface", "lo", "--socket", str(tmp_path / "h.sock")]
    r = CliRunner().invoke(group, args)
    assert r.exit_code == 1
    assert "needs CAP_NET_ADMIN and CAP_NET_RAW" in r.output and "root" in r.output
    assert not list(tmp_path.iterdir())


def test_tables_never_cut_an_address_piped_or_on_a_narrow_terminal():
    """rich folded "2001:db8:f…" and "fe80::⏎1" at 80 columns (issue 16)."""
    import io

    from rich.console import Console
    from rich.table import Table

    from odm.tables import console, print_table
    addr = "2001:db8:1002:0:f488:7ca3:ffdb:2822"

    def table():
        t = Table(title="addresses")
        for col in ("address", "type", "prefix"):
            t.add_column(col)
        t.add_row(addr, "SESSION_LASTING", "2001:db8:1002::/64")
        return t
    piped = console()  # stdout is not a terminal under pytest
    assert not piped.is_terminal and piped.width > 1000
    out = io.StringIO()
    narrow = Console(file=out, width=40, force_terminal=True, emoji=False, highlight=False)
    print_table(table(), narrow)
    text = out.getvalue()
    assert addr in text and "2001:db8:1002::/64" in text
    assert text.startswith("addresses: address=" + addr)


def test_one_json_style_kebab_keys_and_config_type_names():
    """Issue 16: router status was kebab-case, host status and probe
    snake_case, with three spellings of type names; every --json now goes
    through odm.jsonout."""
    import json

    from odm.jsonout import dumps, type_json
    out = json.loads(dumps({"ia_pds": [{"valid_lifetime": 5, "mobility_type": "x"}],
                            "router-id": "ar1"}))
    assert out == {"ia-pds": [{"valid-lifetime": 5, "mobility-type": "x"}], "router-id": "ar1"}
    assert [type_json(t) for t in (None, 0, MobilityType.FIXED, "SESSION_LASTING", 3, 6)] == [
        "legacy", "legacy", "fixed", "session-lasting", "non-persistent", 6]


def test_a_table_too_wide_for_the_terminal_renders_its_markup_in_record_lines():
    """A fresh-clone try: on a real terminal the demo's table became lines
    with raw "[green]ok[/green]" and an empty column name."""
    import io

    from rich.console import Console
    from rich.table import Table

    from odm.tables import print_table
    t = Table(title="demo")
    for col in ("#", "observed", "result"):
        t.add_column(col)
    t.add_row("1", "2001:db8:1002:0:f488:7ca3:ffdb:2822 (from ar1's session-lasting pool)",
              "[green]ok[/green]")
    out = io.StringIO()
    print_table(t, Console(file=out, width=40, force_terminal=True, color_system=None))
    line = out.getvalue().strip()
    assert line.endswith("result=ok") and "[green]" not in line


@pytest.mark.parametrize("args", [["status", "--json"], ["lease", "list", "--json"],
                                  ["stats", "--json"]])
def test_no_agent_with_json_is_a_json_answer_and_exit_4(tmp_path, args):
    """A fresh-clone try: with --json and no agent, the control commands
    printed text on stderr and nothing on stdout."""
    import json
    r = CliRunner().invoke(router, [*args, "--socket", str(tmp_path / "nobody.sock")])
    assert r.exit_code == 4
    ans = json.loads(r.stdout)
    assert ans["result"] == 1 and "no router agent" in ans["text"]


@pytest.mark.parametrize("args", [["status"], ["renew"], ["rebind"], ["release"]])
def test_a_host_command_without_an_agent_says_which_socket_and_how_to_name_another(
        tmp_path, args):
    """In the lab the host agent's socket is not the default path, and `odm host
    status` said only "no host agent at /run/odm/host.sock" (the router's
    commands say to pass --config or --socket)."""
    from host.cli import host as group

    missing = tmp_path / "none.sock"
    r = CliRunner().invoke(group, [*args, "--socket", str(missing)])
    assert r.exit_code != 0
    assert f"no host agent at {missing}" in r.output and "--socket PATH" in r.output


@pytest.mark.parametrize("args", [["status"], ["renew"], ["rebind"], ["release"]])
@pytest.mark.parametrize("as_json", [False, True])
def test_no_host_agent_exits_4_with_a_json_answer_as_the_router_commands(tmp_path, args,
                                                                       as_json):
    """A user trial: `odm router status --json` without an agent printed
    {"result": 1, ...} and exited 4, `odm host status --json` printed text and
    exited 1, as did `odm host renew|release`."""
    import json

    from host.cli import host as group

    missing = tmp_path / "none.sock"
    r = CliRunner().invoke(group, [*args, "--socket", str(missing),
                                   *(["--json"] if as_json else [])])
    assert r.exit_code == 4, r.output
    if as_json:
        ans = json.loads(r.stdout)
        assert ans["result"] == 1 and f"no host agent at {missing}" in ans["text"]
    else:
        assert r.stdout == "" and f"no host agent at {missing}" in r.stderr
        assert "--socket PATH" in r.stderr


@pytest.mark.parametrize(("answer", "code", "text"), [
    ({"ok": True, "ia-pds": 2}, 0, "renewing 2 IA_PD(s)"),
    ({"ok": False, "error": "EPERM", "detail": "root only"}, 1, "EPERM: root only"),
])
def test_host_renew_json_is_the_routers_answer_shape(monkeypatch, answer, code, text):
    import json

    import host.api
    from host.cli import host as group

    monkeypatch.setattr(host.api, "operate", lambda op, path=None, timeout=5.0: answer)
    r = CliRunner().invoke(group, ["renew", "--json"])
    assert r.exit_code == code and json.loads(r.stdout)["text"] == text
    assert json.loads(r.stdout)["result"] == code
    r = CliRunner().invoke(group, ["renew"])
    assert r.exit_code == code and text in r.output
