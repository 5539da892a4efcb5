"""Addresses printed by the odm consoles stay addresses: rich would render
the ':100:' of 2001:db8:f000:100::/56 as an emoji."""

import io

import pytest


@pytest.mark.parametrize("factory", ["host.cli:_console"])
def test_console_prints_addresses_verbatim(factory):
    import importlib
    mod, name = factory.split(":")
    console = getattr(importlib.import_module(mod), name)()
    console.file = io.StringIO()
    console.print("2001:db8:f000:100::/56 and 2001:db8:0:c0::100")
    assert console.file.getvalue().strip() == "2001:db8:f000:100::/56 and 2001:db8:0:c0::100"


def test_setsc_cli_exit_status_tells_errors_from_usage(tmp_path):
    """2 is click's usage error; the EAI errors and a missing agent differ."""
    from click.testing import CliRunner

    from host.cli import SETSC_EXIT, setsc_command
    r = CliRunner().invoke(setsc_command, ["session-lasting", "--socket",
                                           str(tmp_path / "none.sock")])
    assert r.exit_code == 6 and "no host agent" in r.output
    assert CliRunner().invoke(setsc_command, ["9"]).exit_code == 2
    assert sorted(SETSC_EXIT.values()) == [3, 4, 5]
