"""The tree's shape, checked: dependencies point one way and modules stay readable.

The cores (``router/core``, ``host/core``, ``odm_sansio``, ``odm_wire``) are sans-I/O:
bytes and the time in, datagrams, timers and events out. They import nothing that
does I/O and nothing from the packages above them (the CLI package ``odm``, the lab,
the agents' I/O and data-plane packages, the lease stores). Read with :mod:`ast`,
so an import inside a function or under ``TYPE_CHECKING`` counts as much as one at
the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CORES = ["router/core", "host/core", "odm_sansio", "odm_wire"]

#: Never imported by a core: I/O libraries and the packages above the cores.
FORBIDDEN_EVERYWHERE = {
    "asyncio", "socket", "selectors", "select", "subprocess", "sqlite3", "psycopg",
    "pyroute2", "odm", "lab", "router.io", "host.io", "router.dataplane",
    "router.store", "router.pgstore", "router.cli", "host.cli", "host.api",
}
#: Each core's own extra limits: the two agents' cores never import each other,
#: and the two shared packages import neither agent.
FORBIDDEN_FOR = {
    "router/core": {"host"},
    "host/core": {"router"},
    "odm_sansio": {"router", "host", "odm_wire"},
    "odm_wire": {"router", "host"},
}

#: What a core may import from its own agent's package: itself, the configuration
#: model and the error types; policy, trust, stores and I/O live elsewhere.
OWN_PACKAGE = {
    "router/core": ("router", {"router.core", "router.config", "router.errors"}),
    "host/core": ("host", {"host.core", "host.config"}),
}

#: Packages whose modules are read by people: none longer than this.
SOURCE_DIRS = ["odm", "odm_wire", "odm_sansio", "router", "host", "lab", "bench"]
MAX_LINES = 600


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imported(path: Path) -> list[tuple[int, str]]:
    """Every absolute module name ``path`` imports, with its line."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            # ``from router import store`` imports router.store
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def _matches(name: str, banned: str) -> bool:
    return name == banned or name.startswith(banned + ".")


@pytest.mark.parametrize("core", CORES)
def test_a_core_imports_no_io_and_nothing_above_it(core):
    banned = FORBIDDEN_EVERYWHERE | FORBIDDEN_FOR[core]
    modules = _modules(core)
    assert modules, f"{core} has no modules: the layout changed, update CORES"
    pkg, allowed = OWN_PACKAGE.get(core, ("", set()))

    def wrong(name: str) -> bool:
        if any(_matches(name, b) for b in banned):
            return True
        return bool(pkg) and _matches(name, pkg) and name != pkg and not any(
            _matches(name, a) for a in allowed)

    bad = [f"{p.relative_to(ROOT)}:{line} imports {name}"
           for p in modules for line, name in _imported(p) if wrong(name)]
    assert not bad, "a core imports what it must not:\n" + "\n".join(bad)


def test_scapy_is_imported_only_by_the_codec_module_made_for_it():
    """odm_wire decodes and encodes on its own; scapy is only the optional
    dissection layer (``scapy_layers.py``), so the agents never load it."""
    bad = [f"{p.relative_to(ROOT)}:{line}" for p in _modules("odm_wire")
           if p.name != "scapy_layers.py"
           for line, name in _imported(p) if _matches(name, "scapy")]
    assert not bad, "scapy imported outside odm_wire/scapy_layers.py: " + ", ".join(bad)


def test_the_import_check_sees_each_kind_of_import(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import socket\nfrom router import store\n"
                   "def f():\n    from odm.cli import main\n"
                   "from typing import TYPE_CHECKING\n"
                   "if TYPE_CHECKING:\n    from lab.topology import Lab\n")
    names = {n for _, n in _imported(src)}
    for wanted in ("socket", "router.store", "odm.cli", "lab.topology"):
        assert any(_matches(n, wanted) for n in names), wanted
    assert not _matches("odm_wire.dhcp6", "odm")


def test_no_source_module_is_longer_than_a_reader_can_hold():
    files = [p for d in SOURCE_DIRS for p in _modules(d)]
    assert len(files) > 50
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in files
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, (f"modules over {MAX_LINES} lines (split them by what they do):\n"
                      + "\n".join(long))
