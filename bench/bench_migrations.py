"""Benchmark: what mlstack's migrations cost a process, against the previous release's path.

Every mlstack process (each Airflow task, each gateway worker, each CLI command) brings the
database to its schema on first use. Timed here, in one session per backend (SQLite file,
and PostgreSQL when ``--postgres-url`` names an empty database):

- **first use, database current**: this checkout's :func:`mlstack.migrations.ensure_current`
  (one query of the version table) vs 7835cca's ``init_tables`` (``create_all`` +
  reflecting every table for missing columns), each on a fresh engine (a new process's
  pool), median of ``--repeat``;
- **previous release -> head**: the dump of a 7835cca database (tests/previous_release/)
  migrated through the store's startup path by a new interpreter (imports included), and
  the same command again on the migrated database (the interpreter's own cost).

    .venv/bin/python bench/bench_migrations.py [--postgres-url postgresql://...] [--repeat 30]

Writes bench/results/migrations.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "migrations.md"
sys.path.insert(0, str(ROOT / "tests" / "previous_release"))
import make_dumps  # noqa: E402  (tests/previous_release/make_dumps.py: 7835cca's store, the dumps)
from mlstack import migrations, store  # noqa: E402

#: the migration from the dump, in a new interpreter (Alembic's import is part of the cost)
MIGRATE = (
    "import sqlalchemy as sa; from mlstack import store; "
    "store.init_tables(sa.create_engine({url!r}))"
)


def first_use(init, url: str, repeat: int) -> float:
    """Median milliseconds of ``init(engine)`` on a fresh engine of a current database."""
    times = []
    for _ in range(repeat):
        eng = sa.create_engine(url)
        start = time.perf_counter()
        init(eng)
        times.append((time.perf_counter() - start) * 1000)
        eng.dispose()
    return statistics.median(times)


def drop_everything(url: str) -> None:
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        for name in sa.inspect(conn).get_table_names():
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')
    eng.dispose()


def migrate_seconds(url: str) -> float:
    """Wall seconds of a new interpreter's first use of the 7835cca database (to head)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", MIGRATE.format(url=url)], env=env, check=True)
    return time.perf_counter() - start


def run_backend(backend: str, url: str, old, repeat: int) -> list[str]:
    """One table row per measure for ``backend``."""
    drop_everything(url)
    make_dumps.load(sa.create_engine(url))
    seconds = migrate_seconds(url)
    assert migrations.current(sa.create_engine(url)) == migrations.HEAD
    current = migrate_seconds(url)  # the same process on the migrated database: nothing to do

    def old_init(eng: sa.Engine) -> None:
        old._initialised.clear()  # once per process and URL: each engine is a new process
        old.init_tables(eng)

    new_ms = first_use(lambda e: migrations.ensure_current(e, store.metadata), url, repeat)
    old_ms = first_use(old_init, url, repeat)
    return [
        f"| {backend} | first use, database current (in process) | {old_ms:.1f} ms "
        f"| {new_ms:.1f} ms |",
        f"| {backend} | new process: 7835cca database (17 rows) -> head | | {seconds:.2f} s |",
        f"| {backend} | new process: the same, database current | | {current:.2f} s |",
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres-url", default="", help="an empty PostgreSQL database")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = make_dumps.old_store(Path(tmp))
        rows += run_backend("sqlite", f"sqlite:///{tmp}/bench.db", old, args.repeat)
        if args.postgres_url:
            rows += run_backend("postgres", args.postgres_url, old, args.repeat)
    load = os.getloadavg()
    head = [
        "# mlstack's migrations: cost per process",
        "",
        f"`{' '.join(['bench/bench_migrations.py', *argv])}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load[0]:.1f} "
        f"(shared machine), median of {args.repeat} fresh engines for first use.",
        "",
        "| backend | what | 7835cca (create_all + column check) | this checkout |",
        "|---|---|---|---|",
    ]
    OUT.write_text("\n".join([*head, *rows]) + "\n")
    sys.stdout.write(OUT.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
