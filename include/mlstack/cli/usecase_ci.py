"""The commands a use case's CI runs (the templates ``mlstack usecases new`` writes call
them): ``usecases check-dags``, ``usecases trial`` and ``deploy-usecase``."""

from __future__ import annotations

from pathlib import Path

import click

from mlstack.cli.data import usecases


@usecases.command("check-dags")
@click.option(
    "--dags-folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Where else to look, after the use case's own dags/*.py, for hand-written DAGs of "
    "use cases with `dags.own`: the files naming the use case (default: Airflow's DAG "
    "folder, AIRFLOW__CORE__DAGS_FOLDER).",
)
def usecases_check_dags(dags_folder: Path | None) -> None:
    """Parse every use case's DAGs with Airflow's DagBag (strict: a broken spec or own DAG
    file fails): the generated ones and the own DAGs a spec declares (`dags.own`), each of
    which a file in the use case's folder, <usecase>/dags/*.py, must define (or a file of the
    DAG folder that names the use case)."""
    from mlstack.airflow.dag_check import check_dags
    from mlstack.settings import get_settings

    found = check_dags(get_settings().usecases_dir, dags_folder)
    for name, dag_ids in found.items():
        click.echo(f"{name}: {len(dag_ids)} DAGs ({', '.join(dag_ids)})")


@usecases.command("trial")
@click.argument("usecase")
@click.option(
    "--sample",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Rows to train on (default: the use case's tests/sample.csv or .parquet).",
)
def usecases_trial(usecase: str, sample: Path | None) -> None:
    """Land the sample, ingest its days and train a candidate of USECASE on them, in the
    backends the settings name (CI: a throwaway MLSTACK_HOME, all embedded)."""
    from mlstack.specs import get_spec
    from mlstack.usecase_checks import trial

    result, days, note = trial(get_spec(usecase), sample)
    primary = result.primary_metric
    click.echo(
        f"{usecase}: ingested {len(days)} day(s) {days[0]} .. {days[-1]}; trained v"
        f"{result.version} (alias candidate) on {result.rows['train']} rows with {note}; "
        f"holdout {primary}={result.metrics[f'holdout_{primary}']:.4g}"
    )


@click.command("deploy-usecase")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--target",
    required=True,
    envvar="MLSTACK_DEPLOY_TARGET",
    help="[user@]host:/path of the mlstack checkout on the VM (env MLSTACK_DEPLOY_TARGET).",
)
@click.option(
    "--ssh", default="ssh", show_default=True, help="The ssh command (options, key: -i FILE)."
)
@click.option(
    "--remote-command",
    default=None,
    help="Run in the checkout after the copy (default: rebuild with `make up`, then "
    "`airflow dags reserialize` in the dag-processor).",
)
def deploy_usecase(folder: Path, target: str, ssh: str, remote_command: str | None) -> None:
    """Validate the use case in FOLDER, copy it over ssh into the VM's
    include/usecases/<name>/ (replacing what was there) and re-parse the DAGs. The whole
    folder goes, its own DAG files (dags/*.py) too, and the re-parse loads them."""
    from mlstack.usecase_deploy import REMOTE_COMMAND, deploy

    deploy(folder, target, ssh=ssh, remote_command=remote_command or REMOTE_COMMAND, say=click.echo)


COMMANDS = (deploy_usecase,)
