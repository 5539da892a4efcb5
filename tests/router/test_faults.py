"""Local faults (a bug in the core) and remote faults (bad input from the
wire) are counted and logged apart (issue 12 point 5; router.core.faults):
a remote fault is one INFO line naming the reason and its own counter; a
local fault counts ``internal-errors`` and is logged at ERROR with its
traceback as an "internal error"."""

from __future__ import annotations

import logging
from ipaddress import IPv6Address

from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import Reply, ServerId, encode_dhcp6
from tests.router.conftest import SERVER_DUID, prefixes_of


def _records(caplog):
    return [r for r in caplog.records if r.name == "router.dhcp"]


def test_remote_and_local_faults_are_counted_and_logged_apart(h, client, caplog,
                                                              monkeypatch):
    caplog.set_level(logging.DEBUG, logger="router.dhcp")
    st = h.dhcp.stats

    # remote: a datagram that does not decode
    assert h.feed_raw(b"\x01\x00") == []
    (rec,) = _records(caplog)
    assert rec.levelno == logging.INFO and not rec.exc_info
    assert "malformed DHCPv6 datagram" in rec.getMessage()
    assert st["pkt6-parse-failed"] == 1 and st["internal-errors"] == 0
    caplog.clear()

    # remote: a message a server must drop (a server-to-client one)
    assert h.feed_raw(encode_dhcp6(Reply(1, (ServerId(SERVER_DUID),)))) == []
    (rec,) = _records(caplog)
    assert rec.levelno == logging.INFO and not rec.exc_info
    assert "is not for a server" in rec.getMessage()
    assert st["pkt6-receive-drop"] == 1 and st["internal-errors"] == 0
    caplog.clear()

    # local: the core raises while answering
    def boom(*a, **k):
        raise RuntimeError("a bug")
    monkeypatch.setattr(h.dhcp.grants, "offer_ia", boom)
    assert h.exchange(client.solicit(client.typed(1, MT.FIXED))) == []
    (rec,) = [r for r in _records(caplog) if r.levelno >= logging.WARNING]
    assert rec.levelno == logging.ERROR and "internal error" in rec.getMessage()
    assert rec.exc_info is not None and rec.exc_info[0] is RuntimeError
    assert st["internal-errors"] == 1
    assert st["pkt6-parse-failed"] == 1 and st["pkt6-receive-drop"] == 1
    monkeypatch.undo()

    # and the agent serves on
    assert prefixes_of(h.one(client.solicit(client.typed(1, MT.FIXED))))


def test_the_ra_sender_keeps_remote_and_local_faults_apart(h, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG, logger="router.ra")
    st = h.core.ra.stats
    host = IPv6Address("fe80::99")
    rs = b"\x85\x00\x00\x00\x00\x00\x00\x00"

    # remote: an ICMPv6 message that does not decode
    h.feed_raw(b"\x85", src=host, kind="icmp6")
    (rec,) = [r for r in caplog.records if r.name == "router.ra"]
    assert rec.levelno == logging.INFO and not rec.exc_info
    assert "malformed ICMPv6" in rec.getMessage()
    assert st["icmp6-parse-failed"] == 1 and st["icmp6-internal-errors"] == 0
    caplog.clear()

    # local: the sender raises while handling a valid RS
    def boom(*a, **k):
        raise RuntimeError("a bug")
    monkeypatch.setattr(h.core.ra, "handle_rs", boom)
    h.feed_raw(rs, src=host, kind="icmp6")  # does not raise
    (rec,) = [r for r in caplog.records if r.name == "router.ra"]
    assert rec.levelno == logging.ERROR and "internal error" in rec.getMessage()
    assert rec.exc_info is not None and rec.exc_info[0] is RuntimeError
    assert st["icmp6-internal-errors"] == 1 and st["icmp6-parse-failed"] == 1
    monkeypatch.undo()
    h.feed_raw(rs, src=host, kind="icmp6")
    assert st["rs-received"] == 1 and st["icmp6-internal-errors"] == 1
