"""odm_sansio.ratelog: one rate-limited log for both agents' cores and
adapters (there were four copies, each with its own wording)."""

from __future__ import annotations

import logging

from odm_sansio.ratelog import RateLimitedLog


def test_one_line_per_kind_per_interval_and_the_held_back_count(caplog):
    log = logging.getLogger("test.ratelog")
    rl = RateLimitedLog(log, interval=1.0)
    with caplog.at_level(logging.INFO, logger="test.ratelog"):
        assert rl("bad", 0.0, "bad datagram from %s", "fe80::1", level=logging.INFO)
        assert not rl("bad", 0.5, "bad datagram from %s", "fe80::2")
        assert not rl("bad", 0.9, "bad datagram from %s", "fe80::3")
        assert rl("other", 0.9, "another kind")  # kinds are apart
        assert rl("bad", 1.2, "bad datagram from %s", "fe80::4")
        assert rl("bad", None, "always")  # no time: always logged
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert lines == [
        (logging.INFO, "bad datagram from fe80::1"),
        (logging.WARNING, "another kind"),
        (logging.WARNING, "bad datagram from fe80::4 (2 more like this since the last report)"),
        (logging.WARNING, "always"),
    ]


def test_exc_info_carries_the_traceback(caplog):
    rl = RateLimitedLog(logging.getLogger("test.ratelog"), interval=1.0)
    try:
        raise ValueError("a bug")
    except ValueError:
        with caplog.at_level(logging.ERROR, logger="test.ratelog"):
            rl("internal", 0.0, "internal error", level=logging.ERROR, exc_info=True)
    (rec,) = caplog.records
    assert rec.exc_info is not None and rec.exc_info[0] is ValueError
