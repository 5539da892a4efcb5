"""The router core's boundaries (issue 12): it declares the lease store's
interface (router.core.store.BindingStore) and every backend satisfies it;
it imports no I/O, no adapter, no backend — not even under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

import router.core
from router.core.store import BindingStore

CORE = Path(router.core.__file__).parent

#: what no module of router/core may import (DESIGN §4: sans-I/O cores)
FORBIDDEN = ("odm", "lab", "router.io", "router.dataplane", "router.store",
             "router.pgstore", "asyncio", "socket", "pyroute2", "psycopg", "sqlite3")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_the_core_imports_no_io_adapter_or_store_backend():
    bad = [(p.name, n) for p in sorted(CORE.glob("*.py")) for n in _imports(p)
           if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []
    assert len(list(CORE.glob("*.py"))) > 10  # the walk saw the core


def test_every_store_backend_satisfies_the_core_interface(store):
    """``store`` is SQLite, then PostgreSQL; the agent's deferred view of a
    remote database too."""
    from router.io.commits import DeferredStore
    assert isinstance(store, BindingStore)
    assert isinstance(DeferredStore(store), BindingStore)
    assert store.deferred is False and DeferredStore(store).deferred is True
