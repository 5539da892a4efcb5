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

    from pg import PgServer, find_bindir

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


class StoreFactory:
    """Opens lease stores of one backend for a test: ``factory("name")`` is a
    new store (a new connection) on the database ``name`` of this test: the
    SQLite file ``tmp_path/name.sqlite3``, or a PostgreSQL schema of its own
    (created and initialised by ``init_schema`` on first use, dropped at the
    end). Two calls with one name are two routers sharing one store, or one
    router before and after a restart."""

    def __init__(self, backend: str, tmp_path, pg=None) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.pg = pg
        self.opened: list = []
        self.schemas: dict[str, str] = {}

    def conninfo(self, name: str = "leases", *, init: bool = True) -> str:
        """PostgreSQL: the connection string of database ``name``'s schema."""
        schema = self.schemas.get(name)
        if schema is None:
            StoreFactory._seq += 1
            schema = self.schemas[name] = f"t{StoreFactory._seq}_{name}".lower()
            from router.pgstore import init_schema
            with self.pg.admin("odm") as db:
                db.execute(f"CREATE SCHEMA {schema} AUTHORIZATION odm")
                if init:
                    db.execute(f"SET search_path = {schema}")
                    db.execute("SET ROLE odm")
                    init_schema(db)
        return self.pg.conninfo(schema)

    _seq = 0

    def __call__(self, name: str = "leases", *, synchronous: str = "normal",
                 timeout: float = 5.0):
        if self.backend == "sqlite":
            from router.store import SqliteLeaseStore
            s = SqliteLeaseStore(self.tmp_path / f"{name}.sqlite3", synchronous=synchronous,
                                 busy_timeout=timeout)
        else:
            from pg import PASSWORD

            from router.pgstore import PostgresLeaseStore
            s = PostgresLeaseStore(self.conninfo(name), password=PASSWORD, timeout=timeout)
        self.opened.append(s)
        return s

    def finish(self) -> None:
        for s in self.opened:
            try:
                s.close()
            except Exception:  # noqa: BLE001 - a test may have broken it on purpose
                s.rollback()
                if hasattr(s, "_drop"):
                    s._drop()
        if self.schemas:
            with self.pg.admin("odm") as db:
                for schema in self.schemas.values():
                    db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_factory(request, tmp_path):
    """A :class:`StoreFactory` per lease store backend: a test that takes it
    runs once on SQLite and once on PostgreSQL."""
    pg = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    f = StoreFactory(request.param, tmp_path, pg)
    yield f
    f.finish()
