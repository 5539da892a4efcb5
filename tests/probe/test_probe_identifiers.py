"""`odm probe pd` names identifiers as the router's status and logs do (and
as its own ladder does): DUIDs in colon hex, IAIDs in text as 0x%08x; JSON
IAIDs stay integers (Kea's lease6 maps)."""

from __future__ import annotations

import re

from odm.probe_cli import _show_pd, pd_json
from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import encode_duid
from tests.probe.test_probe_logic import S1, Net, run, server


def test_probe_pd_json_and_table_name_duids_and_iaids_alike(capsys, monkeypatch):
    res = run(Net((S1, server(1, {MT.FIXED}))), types=[MT.FIXED])
    assert res.outcome == "granted"
    j = pd_json(res)
    assert j["client_duid"] == encode_duid(res.client_duid).hex(":")
    assert j["server_duid"] == encode_duid(res.server_duid).hex(":")
    assert all(isinstance(ia["iaid"], int) for ia in j["ia_pds"])
    monkeypatch.setenv("COLUMNS", "250")
    _show_pd(res, "mh0", as_json=False)
    out = capsys.readouterr().out
    (ia,) = res.ias
    assert f"IA_PD 0x{ia.iaid:08x}" in out  # the ladder
    table = out[out.index("IA_PDs (server"):]
    assert f"0x{ia.iaid:08x}" in table and not re.search(rf"\b{ia.iaid}\b", table)
