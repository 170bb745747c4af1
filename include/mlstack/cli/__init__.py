"""The ``mlstack`` command line: ``mlstack --help`` lists the commands.

Commands are grouped by lifecycle stage, one module each; this module only assembles them.
"""

from __future__ import annotations

import logging
import sys

import click
from rich.console import Console

from mlstack.exceptions import MlstackError


def console() -> Console:
    """A rich console; when output is piped (no terminal) it is 160 columns, not 80."""
    return Console(width=None if sys.stdout.isatty() else 160)


class _Group(click.Group):
    """A group that turns MlstackError into a clean message and exit code 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MlstackError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.version_option(package_name="mlstack")
def main(verbose: bool) -> None:
    """mlstack: ingest, catalog, train, promote, roll out, monitor and retrain models."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    from mlstack.cli import data, demo, system

    for command in (*data.COMMANDS, demo.demo, system.init):
        main.add_command(command)
    from mlstack.cli import models

    for command in models.COMMANDS:
        main.add_command(command)
    from mlstack.cli import serve

    for command in serve.COMMANDS:
        main.add_command(command)
    from mlstack.cli import monitor

    for command in monitor.COMMANDS:
        main.add_command(command)


_register()
