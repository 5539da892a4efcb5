"""odm/logsetup.py: the thresholds an operator asks for are the ones in force
(an explicit --log-level wins over -v; -v lowers it a step; -vv also lets
pyroute2 and asyncio speak), per-logger levels, and JSON lines."""

from __future__ import annotations

import json
import logging

import pytest

from odm import logsetup


@pytest.fixture(autouse=True)
def _restore():
    root = logging.getLogger()
    saved = (root.level, list(root.handlers),
             {n: logging.getLogger(n).level for n in (*logsetup.NOISY, "router.dhcp")})
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for n, lvl in saved[2].items():
        logging.getLogger(n).setLevel(lvl)


def test_verbosity_lowers_the_commands_default_and_an_explicit_level_wins():
    logsetup.setup("info", verbose=0, fmt="text")
    assert logging.getLogger().level == logging.INFO
    logsetup.setup("info", verbose=1, fmt="text")
    assert logging.getLogger().level == logging.DEBUG
    logsetup.setup("warning", verbose=1, fmt="text")
    assert logging.getLogger().level == logging.INFO
    logsetup.setup("info", ["warning"], verbose=2, fmt="text")
    assert logging.getLogger().level == logging.WARNING


def test_third_party_debug_only_with_vv():
    logsetup.setup("info", verbose=1, fmt="text")
    assert not logging.getLogger("pyroute2").isEnabledFor(logging.INFO)
    assert logging.getLogger("router.dhcp").isEnabledFor(logging.DEBUG)
    logsetup.setup("info", verbose=2, fmt="text")
    assert logging.getLogger("pyroute2").isEnabledFor(logging.DEBUG)


def test_per_logger_levels():
    logsetup.setup("info", ["warning", "router.dhcp=debug"], verbose=0, fmt="text")
    assert logging.getLogger("router.dhcp").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("router.agent").isEnabledFor(logging.INFO)
    with pytest.raises(ValueError, match="loud"):
        logsetup.setup("info", ["router.dhcp=loud"], verbose=0, fmt="text")


def test_json_lines(capsys):
    logsetup.setup("info", verbose=0, fmt="json")
    logging.getLogger("router.dhcp").info("acc: Request xid 0x%06x", 0x1A2B3C)
    try:
        raise OSError(5, "boom")
    except OSError:
        logging.getLogger("host.io").exception("send failed")
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert lines[0]["message"] == "acc: Request xid 0x1a2b3c"
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "router.dhcp"
    assert "T" in lines[0]["time"] and isinstance(lines[0]["pid"], int)
    assert "OSError" in lines[1]["exception"]
