"""No host agent at the socket: the library (host.api, used by applications)
names its own knobs, the ``path=`` argument and ``ODM_HOST_SOCKET`` (it told
applications to "pass --socket PATH", an option of the command line they do
not run); ``odm host`` and ``odm setsc`` still name ``--socket``."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from host.api import AgentUnavailable, operate, setsc, status
from host.cli import host as host_group
from host.cli import setsc_command


def _library_calls(missing):
    def call_setsc():
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            setsc(s, "session-lasting", path=missing)
        finally:
            s.close()
    return [call_setsc, lambda: status(missing), lambda: operate("renew", missing)]


@pytest.mark.parametrize("which", [0, 1, 2])
def test_the_library_names_path_and_the_environment_variable(tmp_path, which):
    missing = tmp_path / "none.sock"
    with pytest.raises(AgentUnavailable) as ei:
        _library_calls(missing)[which]()
    e = ei.value
    assert (e.path, e.reason) == (missing, "No such file or directory")
    assert e.detail == (
        f"no host agent at {missing}: No such file or directory (is the host agent "
        "running? give the path= argument, or set ODM_HOST_SOCKET, to the api_socket "
        "of its config)")
    # a legacy stack (spec §5.1), as before
    assert str(e) == f"EAI_REQUIREDIPNOTSUPPORTED: {e.detail}"
    assert "--socket" not in str(e)


@pytest.mark.parametrize("args", [["status"], ["renew"], ["status", "--json"]])
def test_odm_host_names_its_socket_option(tmp_path, args):
    missing = tmp_path / "none.sock"
    r = CliRunner().invoke(host_group, [*args, "--socket", str(missing)])
    assert r.exit_code == 4
    assert (f"no host agent at {missing}: No such file or directory (is the host agent "
            "running? pass --socket PATH, the api_socket of its config)") in r.output
    assert "ODM_HOST_SOCKET" not in r.output and "path=" not in r.output


def test_odm_setsc_names_its_socket_option(tmp_path):
    missing = tmp_path / "none.sock"
    r = CliRunner().invoke(setsc_command, ["session-lasting", "--socket", str(missing)])
    assert r.exit_code == 6
    assert r.output == (f"no host agent at {missing}: No such file or directory (is the "
                        "host agent running? pass --socket PATH, the api_socket of its "
                        "config)\n")
