"""Identifiers look alike in every odm output, so an operator can grep one
DUID across the router's log, the router's and the host's status and the
probe (docs/operations.md): DUIDs in colon hex, IAIDs in text as 0x%08x
(JSON IAIDs stay integers, as in Kea's lease6 maps)."""

import re

from click.testing import CliRunner
from hosthelp import SERVER
from test_host_trust import answer_all, core

from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import encode_duid

COLON = encode_duid(SERVER).hex(":")
BARE_HEX = re.compile(r"\b[0-9a-f]{12,}\b")


def _bound_status():
    c = core(trusted_server_duids=(encode_duid(SERVER).hex(),))
    c.start(0.0)
    c.setsc(1, 10, MT.SESSION_LASTING, 0.0)
    answer_all(c, 0.5, rounds=3)
    return c.status(0.5)


def test_host_status_json_names_duids_in_colon_hex():
    st = _bound_status()
    assert [s["duid"] for s in st["servers"]] == [COLON]
    assert {ia["server"] for ia in st["ia_pds"]} == {COLON}
    assert st["trust"]["ignored"]["trusted_server_duids"] == [COLON]
    assert list(st["trust"]["ignored"]["server_duid_addresses"]) == [COLON]
    assert all(isinstance(ia["iaid"], int) for ia in st["ia_pds"])


def test_host_status_table_names_duids_in_colon_hex(monkeypatch):

    import host.api
    from host.cli import status_cmd
    st = _bound_status()
    st.setdefault("iface", "mh0")
    monkeypatch.setattr(host.api, "status", lambda path=None, timeout=5.0: st)
    r = CliRunner().invoke(status_cmd, [], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert COLON in r.output and not BARE_HEX.search(r.output)
    iaids = {f"0x{ia['iaid']:08x}" for ia in st["ia_pds"]}
    assert iaids and all(i in r.output for i in iaids)
