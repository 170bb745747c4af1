"""``mlstack db upgrade|current|downgrade``: the revision of mlstack's own tables
(:mod:`mlstack.migrations`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Engine


def _engine() -> Engine:
    """The mlstack database's engine, not migrated on the way (these commands do that)."""
    from mlstack import store
    from mlstack.settings import get_settings

    return store.engine(get_settings(), create=False)


def _tables() -> sa.MetaData:
    """mlstack's tables (``store.metadata``): what the revisions build."""
    from mlstack import store

    return store.metadata


def _name(revision: str | None) -> str:
    return revision or "none (no version table)"


@click.group("db")
def db() -> None:
    """mlstack's tables: their schema revision, upgrades and downgrades."""


@db.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the mlstack database to REVISION (default: head, the newest).

    An empty database gets every table; one from before versioning (the previous release)
    is stamped at the baseline, then upgraded. Every mlstack process does this on its first
    use of the database too; run it here to see it happen (`make upgrade` does).
    """
    from mlstack import migrations

    eng = _engine()
    before, after = migrations.upgrade(eng, _tables(), revision)
    where = eng.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"mlstack database {where}: at {_name(after)}, nothing to do")
    else:
        click.echo(f"mlstack database {where}: {_name(before)} -> {_name(after)}")


@db.command("current")
def current() -> None:
    """Print the revision the mlstack database is at, and whether it is the newest."""
    from mlstack import migrations

    eng = _engine()
    found = migrations.current(eng)
    state = "head" if found == migrations.HEAD else f"head is {migrations.HEAD}"
    click.echo(f"{_name(found)} ({state})")


@db.command("downgrade", context_settings={"ignore_unknown_options": True})  # -1
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Take the mlstack database back to REVISION (e.g. 0004_model_integrity, or -1).

    Stop mlstack's services first and start the older release after: a process of this
    release upgrades the database again when it starts. Tables a revision added are
    dropped with their rows: take a backup first (make backup).
    """
    from mlstack import migrations

    eng = _engine()
    before, after = migrations.downgrade(eng, revision)
    where = eng.url.render_as_string(hide_password=True)
    click.echo(f"mlstack database {where}: {_name(before)} -> {_name(after)}")
