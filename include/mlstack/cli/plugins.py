"""``mlstack plugins list``: every plugin a spec may name, by kind, with where it came from
(built-in, an installed package and its version, or a use case's hooks file)."""

from __future__ import annotations

import click

from mlstack.cli.output import Column, json_option, print_json, table, wide_option
from mlstack.plugins import KINDS  # light: the registry imports no plugin until asked


@click.group("plugins")
def plugins_group() -> None:
    """The plugin registry: sources, simulators, transforms, models, metrics, notifiers, tasks."""


@plugins_group.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind.")
@json_option
@wide_option
def list_cmd(kind: str | None, as_json: bool, wide: bool) -> None:
    """Every plugin by kind, with where it came from; the use cases' hooks files included."""
    from mlstack import plugins
    from mlstack.settings import get_settings
    from mlstack.specs import discover

    specs, _errors = discover(get_settings().usecases_dir)
    rows = [r for r in plugins.listing(list(specs.values())) if kind in (None, r[0])]
    if as_json:
        print_json([{"kind": k, "name": n, "origin": o} for k, n, o in rows])
        return
    click.echo(table([Column("kind"), Column("name"), Column("from")], rows, wide=wide))


COMMANDS = (plugins_group,)
