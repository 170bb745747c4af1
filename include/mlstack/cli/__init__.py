"""The ``mlstack`` command line: ``mlstack --help`` lists the commands.

Commands are grouped by lifecycle stage, one module each (``data``, ``models``, ``serve``,
``rollout``, ``monitor``, ``maturity``, ``demo``, ``system``, ``db``, ``operations``:
backup and restore, ``users``: Airflow logins, ``usecase_ci``: what a use case's CI
runs; ``output`` is the console and the tables they
print through, ``demo_progress`` the demo's live output); this module only assembles them.
The submodules never import this one, and import nothing heavy at their top: ``--help`` and
the read commands load no MLflow, scikit-learn, pandas or Airflow.
"""

from __future__ import annotations

import logging
import sys

import click

from mlstack.cli import (
    data,
    db,
    demo,
    maturity,
    models,
    monitor,
    operations,
    plugins,
    rollout,
    serve,
    system,
    usecase_ci,
    users,
)
from mlstack.exceptions import MlstackError

__all__ = ["main"]


class _Group(click.Group):
    """A group that turns MlstackError into a clean message and exit code 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MlstackError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)


def read_commands(usecase: str) -> list[list[str]]:
    """The read-only commands, as argument lists for ``usecase``: they answer in about a
    second and import no heavy library (a test and bench/bench_cli.py run exactly these).
    ``rollout analyse`` computes statistics: an analysis, not a read."""
    return [
        ["--help"],
        ["usecases", "list"],
        ["catalog", "list"],
        ["catalog", "show", usecase],
        ["models", "list", usecase],
        ["models", "history", usecase],
        ["monitor", "show", usecase],
        ["rollout", "status", usecase],
        ["maturity", usecase],
    ]


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.version_option(package_name="mlstack")
def main(verbose: bool) -> None:
    """mlstack: ingest, catalog, train, promote, roll out, monitor and retrain models."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


for _command in (
    *data.COMMANDS,
    demo.demo,
    system.init,
    system.mlflow_accounts,
    system.mlflow_users,
    system.db_accounts,
    system.s3_accounts,
    system.airflow_metrics,
    db.db,
    *models.COMMANDS,
    *serve.COMMANDS,
    *rollout.COMMANDS,
    *monitor.COMMANDS,
    *operations.COMMANDS,
    *maturity.COMMANDS,
    *plugins.COMMANDS,
    *users.COMMANDS,
    *usecase_ci.COMMANDS,
):
    main.add_command(_command)
