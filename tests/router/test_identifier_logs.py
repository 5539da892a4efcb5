"""The router's log lines name a client as its exchange lines do
(router.core.replies.exchange_line: DUID in colon hex, IA_PD IAID in 0x hex),
so one grep for a DUID follows the client to its binding's expiry."""

from __future__ import annotations

import logging
import re

from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import encode_duid
from tests.router.conftest import prefixes_of
from tests.router.test_dhcp_server import bind


def test_the_expiry_line_names_the_duid_and_iaid_as_the_exchange_lines(h, client, caplog):
    bind(h, client, client.typed(0x39c6ae89, MT.NON_PERSISTENT))
    caplog.set_level(logging.INFO, logger="router")
    h.take_events()
    h.advance(801)
    (line,) = [r.getMessage() for r in caplog.records if "expired" in r.getMessage()]
    duid = encode_duid(client.duid).hex(":")
    assert f"DUID {duid} IA_PD 0x39c6ae89" in line, line
    assert not re.search(r"\b[0-9a-f]{12,}\b", line)


def test_exchange_and_expiry_lines_share_the_client_spelling(h, client, caplog):
    caplog.set_level(logging.INFO, logger="router")
    r = bind(h, client, client.typed(7, MT.NON_PERSISTENT))
    assert prefixes_of(r)
    h.advance(801)
    duid = encode_duid(client.duid).hex(":")
    lines = [r.getMessage() for r in caplog.records if duid in r.getMessage()]
    assert any("Reply IA_PD 0x00000007" in ln for ln in lines)
    assert any("expired" in ln and "IA_PD 0x00000007" in ln for ln in lines)
