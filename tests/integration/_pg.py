"""A throw-away PostgreSQL server for tests: Debian's binaries, a temp data dir, a free port.

PostgreSQL refuses to run as root, so under root every server command runs as the
``postgres`` system user (``runuser``) on a temp directory handed to that user. The
server listens on 127.0.0.1 (TCP, as on a cluster) and on a socket in the temp
directory; trust authentication, fsync off. ``postgres_server()`` always stops the
server and removes the directory, also when the test fails.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PgServer", "find_pg_bin", "postgres_server"]

_USER = "molspace"  # the database superuser initdb creates (not an OS user)


def find_pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<v>/bin`` holding initdb, or initdb on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class PgServer:
    """A running server: where it listens and how to name a database on it."""

    host: str
    port: int
    user: str
    base: Path

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        """An SQLAlchemy URL (what ``--storage`` takes)."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create ``name`` and return its SQLAlchemy URL."""
        import psycopg2

        connection = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres"
        )
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)


@contextmanager
def postgres_server(bin_dir: Path | None = None) -> Iterator[PgServer]:
    """Start a fresh server, yield it, and stop and delete it whatever happens."""
    bin_dir = bin_dir or find_pg_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL's initdb is not installed")
    as_root = os.geteuid() == 0
    # not pytest's tmp_path: that is private to root and the server runs as `postgres`
    base = Path(tempfile.mkdtemp(prefix="molspace-pg-"))
    if as_root:
        shutil.chown(base, user="postgres", group="postgres")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(bin_dir / args[0]), *args[1:]]
        if as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            log = base / "server.log"
            tail = log.read_text()[-2000:] if log.is_file() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}\n{tail}"
            )
        return done

    data = base / "data"
    started = False
    try:
        run("initdb", "-D", str(data), "-U", _USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-h 127.0.0.1 -k {base} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        for attempt in range(5):  # the free port may be taken between probe and bind
            port = _free_port()
            try:
                started = True
                log = str(base / "server.log")
                start = ("-w", "-t", "30", "-o", f"{options} -p {port}", "start")
                run("pg_ctl", "-D", str(data), "-l", log, *start)
                break
            except RuntimeError:
                started = False
                if attempt == 4:
                    raise
        yield PgServer("127.0.0.1", port, _USER, base)
    finally:
        try:
            if started:
                run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(base, ignore_errors=True)
