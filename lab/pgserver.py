"""A real PostgreSQL server for the lab's routers (``--store postgresql``).

Debian's ``postgresql`` binaries; the cluster is made by ``initdb`` (as the
``postgres`` user) in ``postgres/`` of the lab's state directory, and the
server runs as ``postgres`` in the namespace of ``cn``, listening on cn's
address on the core link, port 5432: the routers reach it over TCP across
the core link, as access routers on separate machines would reach a shared
lease database. TCP logins need a password (SCRAM); the ``odm`` role's is
made at random and written to ``agents/pg-password`` (mode 0600) for the
routers' ``[lease_store] password_file``. The schema is made as ``odm router
db init`` makes it (:func:`router.pgstore.init_schema`).

The server is started with :meth:`Lab.spawn`, so its PID is in the lab's
state: ``odm lab down`` stops it (also after a crash of whatever started it)
and removes the state directory, data included.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from lab.config import CN
from lab.topology import Lab, LabError

__all__ = ["PG_PORT", "LabPostgres", "find_bindir"]

PG_PORT = 5432
ROLE = "odm"
DBNAME = "odm"


def find_bindir() -> Path:
    """The directory of ``initdb``/``postgres``. Raises LabError naming the
    package to install."""
    cands = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    found = shutil.which("initdb")
    if found:
        cands.insert(0, Path(found).parent)
    for d in cands:
        if (d / "initdb").exists() and (d / "postgres").exists():
            return d
    raise LabError("--store postgresql needs the PostgreSQL server binaries (initdb, "
                   "postgres): apt-get install postgresql (see .ci/install)")


class LabPostgres:
    """The lab's lease database server (see the module docstring)."""

    def __init__(self, lab: Lab, password_file: Path) -> None:
        self.lab = lab
        self.base = lab.state_path.parent / "postgres"
        self.data = self.base / "data"
        self.sockdir = self.base / "sock"
        self.log = self.base / "server.log"
        self.host = str(lab.config.cn_address)
        self.port = PG_PORT
        self.password_file = Path(password_file)
        self.proc: subprocess.Popen | None = None

    def conninfo(self) -> str:
        """What the routers' ``[lease_store]`` names (no password)."""
        return f"host={self.host} port={self.port} dbname={DBNAME} user={ROLE}"

    def start(self, timeout: float = 60.0) -> None:
        """initdb, start the server in cn, make the role, the database and the
        schema. Raises LabError."""
        bindir = find_bindir()
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise LabError("--store postgresql: no 'postgres' user to run the server as "
                           "(apt-get install postgresql makes it)") from None
        uid, gid = pw.pw_uid, pw.pw_gid
        self.base.mkdir(parents=True, exist_ok=True)
        os.chown(self.base, uid, gid)
        os.chmod(self.base, 0o700)
        # the state directory must let postgres reach its own directory
        d = self.base.parent
        os.chmod(d, os.stat(d).st_mode | 0o111)
        self.sockdir.mkdir(exist_ok=True)
        os.chown(self.sockdir, uid, gid)
        password = secrets.token_hex(16)
        pwtmp = self.base / "initpw"
        pwtmp.write_text(password + "\n")
        os.chown(pwtmp, uid, gid)
        try:
            subprocess.run([str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                            "-A", "trust", "--auth-host=scram-sha-256", f"--pwfile={pwtmp}",
                            "-E", "UTF8", "--locale=C", "--no-sync"], user=uid, group=gid,
                           cwd=self.base, check=True, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        except subprocess.CalledProcessError as exc:
            raise LabError(f"initdb failed: {exc.stderr.strip()[-300:]}") from None
        finally:
            pwtmp.unlink(missing_ok=True)
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"listen_addresses = '{self.host}'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.sockdir}'\n"
                    "max_connections = 50\nshared_buffers = 32MB\n")
        core = self.lab.config.core_prefix
        with open(self.data / "pg_hba.conf", "w") as f:
            f.write("local all all trust\n"
                    f"host {DBNAME} {ROLE} {core} scram-sha-256\n")

        def drop_privileges() -> None:  # after setns(2) into cn, in the child
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

        self.proc = self.lab.spawn(CN, [str(bindir / "postgres"), "-D", str(self.data)],
                                   self.log, stop_signal=signal.SIGINT,
                                   preexec_fn=drop_privileges, cwd=str(self.base))
        self._wait(timeout)
        self._prepare(password)

    def _admin(self, dbname: str = "postgres", user: str = "postgres"):
        import psycopg
        return psycopg.connect(host=str(self.sockdir), port=self.port, user=user,
                               dbname=dbname, autocommit=True, connect_timeout=2)

    def _wait(self, timeout: float) -> None:
        import psycopg
        end = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-500:] if self.log.exists() else ""
                raise LabError(f"PostgreSQL exited ({self.proc.returncode}): {tail}")
            try:
                with self._admin():
                    return
            except psycopg.Error:
                if time.monotonic() > end:
                    raise LabError(f"PostgreSQL not up within {timeout:g} s; see {self.log}"
                                   ) from None
                time.sleep(0.1)

    def _prepare(self, password: str) -> None:
        from router.pgstore import init_schema
        with self._admin() as db:
            db.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}'")
            db.execute(f"CREATE DATABASE {DBNAME} OWNER {ROLE}")
        with self._admin(DBNAME, ROLE) as db:
            init_schema(db)
        self.password_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")

    def stop(self) -> None:
        """Stop the server (fast shutdown); its data goes with the lab's state."""
        if self.proc is not None:
            self.lab.stop(self.proc, timeout=10.0)
            self.proc = None
