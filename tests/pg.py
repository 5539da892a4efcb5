"""A real PostgreSQL server for the tests: Debian's binaries, a cluster made by
``initdb`` in a fresh temporary directory, listening on its own Unix socket
directory and on 127.0.0.1 at a free port, stopped and removed when done.

initdb refuses to run as root, so as root the cluster belongs to the
``postgres`` user (the one Debian's package creates); as anyone else it
belongs to that user. Local (Unix-socket) connections are trusted, TCP ones
need a password (SCRAM), as a router on another machine would use.

:func:`find_bindir` says where the binaries are, or why the tests that need a
server are skipped.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

PASSWORD = "odm-test-password"
ROLE = "odm"
DBNAME = "odm"


def find_bindir() -> tuple[Path | None, str]:
    """The directory holding ``initdb``/``pg_ctl``/``postgres`` and ``""``, or
    ``None`` and the reason the server tests are skipped."""
    cands = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    found = shutil.which("pg_ctl")
    if found:
        cands.insert(0, Path(found).parent)
    for d in cands:
        if all((d / n).exists() for n in ("initdb", "pg_ctl", "postgres")):
            break
    else:
        return None, ("PostgreSQL server binaries (initdb, pg_ctl) not found: "
                      "apt-get install postgresql (see .ci/install)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, "psycopg 3 not installed: pip install 'odm[postgresql]'"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return None, "running as root and no 'postgres' user to run initdb as"
    return d, ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One throw-away cluster. :meth:`start` it, :meth:`stop` it (always:
    :meth:`stop` also removes the directory and is safe to call twice)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="odm-pg-"))
        self.data = self.base / "data"
        self.sockdir = self.base / "sock"
        self.log = self.base / "server.log"
        self.port = _free_port()
        self.host = "127.0.0.1"
        self._user: str | None = None
        self._running = False
        if os.geteuid() == 0:
            self._user = "postgres"
            pw = pwd.getpwnam("postgres")
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
        # others may pass through to the socket directory (as through
        # /var/run/postgresql): a router agent runs as root without
        # CAP_DAC_OVERRIDE (issue 13 point 16); the data directory stays 0700
        os.chmod(self.base, 0o711)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bindir / args[0]), *args[1:]], user=self._user,
                              cwd=self.base, check=check, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)

    def start(self) -> None:
        pwfile = self.base / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._user:
            pw = pwd.getpwnam(self._user)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self.sockdir.mkdir()
        if self._user:
            os.chown(self.sockdir, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                  "--no-sync", "--locale=C")
        pwfile.unlink()
        # fsync off: the tests restart the server cleanly or kill it, never the
        # machine, so what the server wrote survives either way
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"port = {self.port}\nlisten_addresses = '{self.host}'\n"
                    f"unix_socket_directories = '{self.sockdir}'\nfsync = off\n"
                    "full_page_writes = off\nmax_connections = 50\n"
                    "shared_buffers = 16MB\n")
        self.up()
        with self.admin() as db:
            db.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
            db.execute(f"CREATE DATABASE {DBNAME} OWNER {ROLE}")

    def admin(self, dbname: str = "postgres"):
        """A superuser connection over the Unix socket (autocommit)."""
        import psycopg
        return psycopg.connect(host=str(self.sockdir), port=self.port, user="postgres",
                               dbname=dbname, autocommit=True)

    def conninfo(self, schema: str | None = None) -> str:
        """A libpq connection string to the ``odm`` database over TCP as the
        ``odm`` role, without its password (give that separately)."""
        s = f"host={self.host} port={self.port} dbname={DBNAME} user={ROLE}"
        if schema:
            s += f" options='-c search_path={schema}'"
        return s

    def up(self) -> None:
        """Start the server (again) and wait until it accepts connections."""
        if self._running:
            return
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "start")
        self._running = True

    def down(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clean, sessions ended) or ``immediate``
        (as a crash: recovery from the WAL at the next start)."""
        self._running = False
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def stop(self) -> None:
        if self._running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop",
                      check=False)
            self._running = False
        shutil.rmtree(self.base, ignore_errors=True)


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
            schema = self.schemas[name] = f"t{uuid.uuid4().hex[:12]}_{name}".lower()
            from router.pgstore import init_schema
            with self.pg.admin("odm") as db:
                db.execute(f"CREATE SCHEMA {schema} AUTHORIZATION odm")
                if init:
                    db.execute(f"SET search_path = {schema}")
                    db.execute("SET ROLE odm")
                    init_schema(db)
        return self.pg.conninfo(schema)

    def __call__(self, name: str = "leases", *, synchronous: str = "normal",
                 timeout: float = 5.0):
        if self.backend == "sqlite":
            from router.store import SqliteLeaseStore
            s = SqliteLeaseStore(self.tmp_path / f"{name}.sqlite3", synchronous=synchronous,
                                 busy_timeout=timeout)
        else:
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
