"""Help reads right: a command's text names its options as options, and an
option's help says what the command does with it (a user trial: `odm monitor
ra` said "every RA heard on IFACE" but takes --iface, whose help read
"Interface to probe on")."""

from __future__ import annotations

import re

import click
from click.testing import CliRunner

from odm.cli import main


def _commands(group: click.Group, path=()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))
        elif cmd is not None:
            yield (*path, name), cmd


#: protocol field names (RFC 8415) that are also option names: they name the field
FIELD_NAMES = {"DUID", "IAID"}


def test_no_command_names_an_option_as_if_it_were_an_argument():
    wrong, seen = [], 0
    for path, cmd in _commands(main):
        seen += 1
        words = set(re.findall(r"\b[A-Z][A-Z_]+\b", cmd.help or "")) - FIELD_NAMES
        for p in cmd.params:
            if isinstance(p, click.Option) and p.name and p.name.upper() in words:
                wrong.append((" ".join(path), p.name.upper()))
    assert seen > 20 and not wrong


def test_monitor_ra_iface_help_says_it_listens():
    r = CliRunner().invoke(main, ["monitor", "ra", "--help"], terminal_width=200)
    assert r.exit_code == 0
    assert "probe" not in r.output.lower() and "--iface" in r.output
    (line,) = [ln for ln in r.output.splitlines() if ln.strip().startswith("--iface")]
    assert "listen" in line.lower()


def test_each_agent_checks_its_config_file_before_it_runs():
    """``odm router check-config`` had no host twin: a host's file was first
    read by ``odm host run``."""
    cmds = dict(_commands(main))
    for agent in ("router", "host"):
        cmd = cmds[(agent, "check-config")]
        assert [p.name for p in cmd.params] == ["config_file", "as_json"]
        r = CliRunner().invoke(main, [agent, "check-config", "--help"])
        assert r.exit_code == 0 and "offending key" in r.output
