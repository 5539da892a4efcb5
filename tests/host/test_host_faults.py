"""Local and remote faults apart (issue 12; h11's LocalProtocolError and
RemoteProtocolError, the router's internal-errors): bad input from a peer is
dropped and counted as received-dropped; an exception in odm's own code while
handling a datagram is caught, counted as internal-errors and logged at ERROR
as a bug, and the host core keeps serving."""

import logging

from hosthelp import CLIENT, SERVER_LL, advertise, config, decoded, drain, prefix, ra, reply, rng

from host.core import pd_receive
from host.core.events import SetscCompleted
from host.core.host import HostCore
from odm_wire.constants import MobilityType as MT

P1 = "2001:db8:5000::/56"


def test_bad_input_and_a_bug_are_counted_and_logged_apart(monkeypatch, caplog):
    c = HostCore(config(legacy_pd=False), CLIENT, b"k", rng=rng())
    c.start(0.0)
    assert c.status(0.0)["errors"] == {"internal-errors": 0, "received-dropped": 0}

    # remote faults: a truncated DHCPv6 message, an RA that crossed a router
    c.handle_datagram(b"\x07\x00", SERVER_LL, 0.1)
    c.handle_datagram(ra(), SERVER_LL, 0.2, kind="icmp6", hop_limit=64)
    assert c.status(0.2)["errors"] == {"internal-errors": 0, "received-dropped": 2}

    # a local fault: odm's own code raises while handling a good Advertise
    c.setsc(1, 10, MT.SESSION_LASTING, 1.0)
    (sol,) = decoded(c.datagrams_to_send())

    def bug(*a, **kw):
        raise RuntimeError("a bug")

    monkeypatch.setattr(pd_receive, "judge", bug)
    with caplog.at_level(logging.ERROR, logger="host.core.host"):
        c.handle_datagram(advertise(sol, [prefix(P1, t=MT.SESSION_LASTING)], pref=255),
                          SERVER_LL, 1.1)
    assert c.status(1.1)["errors"] == {"internal-errors": 1, "received-dropped": 2}
    (rec,) = [r for r in caplog.records if "[internal-errors]" in r.getMessage()]
    assert rec.levelno == logging.ERROR and "a bug in odm" in rec.getMessage()
    assert "RuntimeError('a bug')" in rec.getMessage()

    # and it keeps serving: the Solicit's retransmission is answered and bound
    monkeypatch.undo()
    sent: list = []
    while not sent:
        now = c.get_timer()
        c.handle_timer(now)
        sent = decoded(c.datagrams_to_send())
    (sol2,) = sent
    c.handle_datagram(advertise(sol2, [prefix(P1, t=MT.SESSION_LASTING)], pref=255),
                      SERVER_LL, now)
    (req,) = decoded(c.datagrams_to_send())
    c.handle_datagram(reply(req, [prefix(P1, t=MT.SESSION_LASTING)]), SERVER_LL, now)
    done = [e for e in drain(c) if type(e) is SetscCompleted]
    assert done and done[-1].address is not None
    assert c.status(now)["errors"] == {"internal-errors": 1, "received-dropped": 2}
