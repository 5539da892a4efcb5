"""Session-wide test set-up: tests marked ``netns`` are skipped unless we are
root and can create a network namespace (tests/netnscheck.py)."""

from __future__ import annotations

import pytest
from netnscheck import netns_available


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs = [item for item in items if item.get_closest_marker("netns")]
    if not needs:
        return
    ok, reason = netns_available()
    if not ok:
        skip = pytest.mark.skip(reason=f"netns: {reason}")
        for item in needs:
            item.add_marker(skip)


# ------------------------------------------------------------ lease stores --
@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server of the test session's own (tests/pg.py), started on
    first use, stopped and removed at the end of the session even when tests
    fail; skipped, with the reason, where the server binaries or psycopg are
    missing."""
    import atexit

    from tests.pg import PgServer, find_bindir

    bindir, why = find_bindir()
    if bindir is None:
        pytest.skip(why)
    srv = PgServer(bindir)
    atexit.register(srv.stop)  # also if the session is interrupted past teardown
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_factory(request, tmp_path):
    """A :class:`tests.pg.StoreFactory` per lease store backend: a test that takes it
    runs once on SQLite and once on PostgreSQL."""
    from tests.pg import StoreFactory

    pg = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    f = StoreFactory(request.param, tmp_path, pg)
    yield f
    f.finish()
