"""contrib/systemd: the units systemd itself accepts (systemd-analyze verify,
with the ExecStart binary pointed at this machine's odm), and whose commands
are odm's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "contrib" / "systemd"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None or shutil.which("odm") is None,
                    reason="systemd-analyze (Debian systemd) or odm not installed")
@pytest.mark.parametrize(("unit", "name"), [("odm-router.service", "odm-router.service"),
                                            ("odm-host@.service", "odm-host@eth0.service")])
def test_systemd_accepts_the_unit(tmp_path, unit, name):
    text = (UNITS / unit).read_text().replace("/usr/local/bin/odm", shutil.which("odm"))
    (tmp_path / name).write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / name)],
                       capture_output=True, text=True, timeout=60, check=False)
    problems = [ln for ln in (r.stdout + r.stderr).splitlines()
                if ln.strip() and "sys-subsystem-net-devices" not in ln]
    assert r.returncode == 0 and not problems, problems


@pytest.mark.parametrize("unit", ["odm-router.service", "odm-host@.service"])
def test_the_units_run_odm_commands_that_exist(unit):
    from click.testing import CliRunner

    from odm.cli import main
    for line in (UNITS / unit).read_text().splitlines():
        if line.startswith(("ExecStart=", "ExecStartPre=")):
            argv = line.split("=", 1)[1].split()
            assert argv[0] == "/usr/local/bin/odm"
            cmd = [a for a in argv[1:] if not a.startswith("-")][:2]
            r = CliRunner().invoke(main, [*cmd, "--help"])
            assert r.exit_code == 0, (line, r.output)
    assert "Type=notify" in (UNITS / unit).read_text()


def test_the_host_unit_serves_the_api_where_applications_look():
    """Under the unit, setsc() and `odm host status` without --socket reach the
    agent: the unit's API socket is the one host.api and the config default to
    (a user trial: the unit used /run/odm/host-%i.sock, every setsc() failed)."""
    from host.config.model import DEFAULT_API_SOCKET

    (line,) = [ln for ln in (UNITS / "odm-host@.service").read_text().splitlines()
               if ln.startswith("ExecStart=")]
    argv = line.split("=", 1)[1].split()
    sock = argv[argv.index("--socket") + 1] if "--socket" in argv else str(DEFAULT_API_SOCKET)
    assert sock == str(DEFAULT_API_SOCKET) == "/run/odm/host.sock"
    api = Path(__file__).resolve().parents[2] / "host" / "api.py"
    assert '"ODM_HOST_SOCKET", "/run/odm/host.sock"' in api.read_text()
