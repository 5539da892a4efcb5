"""The host core stays sans-I/O and readable (issue 12): no module under
host/core imports from odm/, lab/, host/io, asyncio, socket or pyroute2 (the
host.config model is allowed), nor reads files or the user database (os, pwd,
grp, stat, tomllib, pathlib: the policy file is read by host/policy_file.py,
the state file by host/state.py), and none is longer than ~600 lines."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "host" / "core"
FORBIDDEN = ("odm", "lab", "host.io", "asyncio", "socket", "pyroute2", "host.state",
             "host.policy_file", "os", "pwd", "grp", "stat", "tomllib", "pathlib", "time")


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
    return out


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_a_core_module_imports_no_io_and_stays_short(path):
    bad = {m for m in _imports(path)
           if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"{path.name} imports {sorted(bad)}"
    assert len(path.read_text().splitlines()) <= 600
