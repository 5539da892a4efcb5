"""``odm router status``'s bindings: anchor and served-by always shown, this
router's own id written out (after a move the anchor's table says which router
serves the binding now), with the same kebab-case JSON keys as ``odm router
lease list``; at 80 columns nothing is cut (odm.tables.print_table)."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner
from rich.console import Console
from test_router_cli import STATUS
from test_router_cli import control as control  # noqa: PLC0414 - fixture

import router.cli
from router.cli import router as router_cmd


def _moved(monkeypatch) -> None:
    """The second binding's host moved to ar2; ar1 stays its anchor."""
    monkeypatch.setitem(STATUS["interfaces"][0]["bindings"][1], "served-by", "ar2")


def test_anchor_and_served_by_are_shown_with_the_own_id(control, monkeypatch):
    path, _ = control
    _moved(monkeypatch)
    r = CliRunner().invoke(router_cmd, ["status", "--socket", str(path)])
    assert r.exit_code == 0, r.output
    head = next(line for line in r.output.splitlines() if "anchor" in line)
    assert re.search(r"\banchor\b.*\bserved-by\b", head)
    rows = {m.group(1): line for line in r.output.splitlines()
            if (m := re.search(r"(2001:db8:f000:[12]00::/56)", line))}
    assert re.search(r"\bar1\b.*\bar1\b", rows["2001:db8:f000:100::/56"])
    assert re.search(r"\bar1\b.*\bar2\b", rows["2001:db8:f000:200::/56"])

    r = CliRunner().invoke(router_cmd, ["status", "--socket", str(path), "--json"])
    b = json.loads(r.output)["interfaces"][0]["bindings"]
    assert [(x["anchor"], x["served-by"]) for x in b] == [("ar1", "ar1"), ("ar1", "ar2")]
    assert all(k == k.lower() and "_" not in k for x in b for k in x)


def test_at_80_columns_nothing_is_cut(control, monkeypatch):
    path, _ = control
    _moved(monkeypatch)
    con = Console(width=80, force_terminal=True, color_system=None, emoji=False,
                  highlight=False)
    monkeypatch.setattr(router.cli, "_console", lambda: con)
    with con.capture() as cap:
        r = CliRunner().invoke(router_cmd, ["status", "--socket", str(path)])
    assert r.exit_code == 0, r.output
    line = next(x for x in cap.get().splitlines() if "2001:db8:f000:200::/56" in x)
    for text in ("DUID=00:03:00:01:02:00:00:00:00:02", "via=fe80::2", "anchor=ar1",
                 "served-by=ar2"):
        assert text in line, line
