"""A use case scaffolded from a file, on the stack's backends and through its own CI:
`usecases new --from` then `mlstack ingest` on PostgreSQL + S3; the GitHub workflow's
check steps, as written, run on a scaffold in a team repository; `deploy-usecase` copies
the folder into a checkout and re-parses its DAGs there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from mlstack.cli import main
from sample_feeds import churn_frame
from support import ROOT

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
#: ssh's stand-in: runs the remote command here (no ssh server can run in the tests)
FAKE_SSH = str(Path(__file__).with_name("fake_ssh.sh"))


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _usecases_dir(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from mlstack.settings import get_settings

    folder.mkdir(parents=True)
    monkeypatch.setenv("MLSTACK_USECASES_DIR", str(folder))
    get_settings.cache_clear()
    return folder


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_new_from_a_file_then_ingest_on_postgres_and_s3(
    tmp_path, monkeypatch, pg_s3_settings, fmt
) -> None:
    from mlstack.stages import catalog

    _usecases_dir(tmp_path / "usecases", monkeypatch)
    frame = churn_frame()
    path = tmp_path / f"feed.{fmt}"
    frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path)
    name = f"feed_{fmt}"
    out = invoke("usecases", "new", name, "--from", str(path))
    assert f"next: mlstack ingest {name} --date 2026-03-01" in out
    first = (frame.signup_date == "2026-03-01").sum()
    shown = invoke("ingest", name, "--date", "2026-03-01")
    assert f"│ features │ {first} " in shown and f"│ {first} " in shown
    version = catalog.get_version(name)
    assert (version["total_rows"], version["rejected_rows"]) == (first, 0)
    invoke("ingest", name, "--date", "2026-03-12")
    assert (
        catalog.get_version(name)["total_rows"] == first + (frame.signup_date == "2026-03-12").sum()
    )


def _run_steps(steps: list[dict], env: dict[str, str], cwd: Path) -> list[str]:
    """Run each step's ``run:`` in bash as the CI runner would; the names run."""
    ran = []
    for step in steps:
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", step["run"]],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, (
            f"{step['name']}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        ran.append(step["name"])
    return ran


def test_the_ci_template_runs_on_a_scaffold_in_a_team_repository(tmp_path, monkeypatch) -> None:
    repo = tmp_path / "team-repo"
    usecases = _usecases_dir(repo / "usecases", monkeypatch)
    monkeypatch.setenv("MLSTACK_HOME", str(tmp_path / "scaffold-home"))
    churn_frame().to_csv(tmp_path / "feed.csv", index=False)
    invoke("usecases", "new", "team_churn", "--from", str(tmp_path / "feed.csv"))
    ci = usecases / "team_churn" / "ci"
    workflow = yaml.safe_load((ci / "github-actions.yml").read_text())
    assert workflow["jobs"]["deploy"]["needs"] == "check"
    assert "refs/heads/main" in workflow["jobs"]["deploy"]["if"]
    deploy_runs = [s["run"] for s in workflow["jobs"]["deploy"]["steps"] if "run" in s]
    assert any(r.startswith("mlstack deploy-usecase") for r in deploy_runs)
    check = [s for s in workflow["jobs"]["check"]["steps"] if "run" in s]
    # The install step is skipped: mlstack is the code under test, importable here already;
    # installing it would change the shared virtualenv (and needs the network).
    steps = [s for s in check if s["name"] != "Install mlstack"]
    assert len(steps) == len(check) - 1
    # The GitLab file runs the same commands.
    gitlab = yaml.safe_load((ci / "gitlab-ci.yml").read_text())
    assert gitlab["team_churn-check"]["script"] == [s["run"] for s in check]
    assert any("deploy-usecase" in line for line in gitlab["team_churn-deploy"]["script"])
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLSTACK_", "AIRFLOW__CORE__DAGS_FOLDER"))
    }
    env |= {k: str(v) for k, v in workflow["env"].items() if "${{" not in str(v)}
    env |= {
        "CI_TEMP": str(tmp_path / "runner-temp"),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "include"),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
    }
    ran = _run_steps(steps, env, repo)
    assert ran == [
        "Validate specs",
        "Use-case tests",
        "Parse the DAGs",
        "Train a candidate on the sample",
    ]
    trained = tmp_path / "runner-temp" / "mlstack" / "mlflow.db"
    assert trained.exists()  # the candidate was registered in the throwaway embedded MLflow


def test_deploy_usecase_replaces_the_folder_and_reparses_on_the_vm(
    tmp_path, monkeypatch, embedded_settings
) -> None:
    """The VM is a folder here and ssh a stand-in that runs the remote command locally (no
    ssh server can run in the tests); the copy, the replacement and the re-parse are real."""
    usecases = _usecases_dir(tmp_path / "repo" / "usecases", monkeypatch)
    churn_frame().to_csv(tmp_path / "feed.csv", index=False)
    invoke("usecases", "new", "vm_churn", "--from", str(tmp_path / "feed.csv"))
    checkout = tmp_path / "vm" / "mlstack"
    old = checkout / "include" / "usecases" / "vm_churn"
    old.mkdir(parents=True)
    (old / "stale.py").write_text("removed by the deploy")
    reparse = (
        f"MLSTACK_USECASES_DIR=include/usecases AIRFLOW_HOME={tmp_path / 'airflow'} "
        f"PYTHONPATH={ROOT / 'include'} {BIN / 'mlstack'} usecases check-dags > reparsed.txt"
    )
    out = _deploy(usecases / "vm_churn", checkout, reparse)
    assert f"deployed vm_churn to deploy@vm:{checkout}" in out
    assert not (old / "stale.py").exists()
    assert (old / "usecase.yaml").read_text() == (
        usecases / "vm_churn" / "usecase.yaml"
    ).read_text()
    assert "vm_churn: 6 DAGs" in (checkout / "reparsed.txt").read_text()
    assert not list(checkout.glob(".deploy-*"))  # the temporary folder became the use case


def _deploy(folder: Path, checkout: Path, reparse: str) -> str:
    """`mlstack deploy-usecase FOLDER` to the fake VM's ``checkout`` (ssh faked), running
    ``reparse`` there as the remote command; its output."""
    return invoke(
        "deploy-usecase",
        str(folder),
        "--target",
        f"deploy@vm:{checkout}",
        "--ssh",
        FAKE_SSH,
        "--remote-command",
        reparse,
    )


def test_deploy_usecase_carries_the_usecase_own_dags_and_reparses_them(
    tmp_path, monkeypatch, embedded_settings
) -> None:
    """A use case with its own DAG (customer_churn: dags/pipeline.py in its folder) deploys
    with it: the file lands in the checkout's use-case folder and the re-parse there finds
    the DAG it defines, with no file of the DAG folder naming the use case."""
    import shutil

    repo = _usecases_dir(tmp_path / "repo" / "usecases", monkeypatch)
    shutil.copytree(ROOT / "include" / "usecases" / "customer_churn", repo / "customer_churn")
    checkout = tmp_path / "vm" / "mlstack"
    (checkout / "include" / "usecases").mkdir(parents=True)
    (checkout / "dags").mkdir()  # the VM's DAG folder names no use case
    reparse = (
        f"MLSTACK_USECASES_DIR=include/usecases AIRFLOW_HOME={tmp_path / 'airflow'} "
        f"PYTHONPATH={ROOT / 'include'} {BIN / 'mlstack'} usecases check-dags "
        "--dags-folder dags > reparsed.txt"
    )
    out = _deploy(repo / "customer_churn", checkout, reparse)
    assert "(its own DAG files: dags/pipeline.py)" in out
    deployed = checkout / "include" / "usecases" / "customer_churn" / "dags" / "pipeline.py"
    assert deployed.read_text() == (repo / "customer_churn" / "dags" / "pipeline.py").read_text()
    reparsed = (checkout / "reparsed.txt").read_text()
    assert "customer_churn: 1 DAGs (customer_churn__pipeline)" in reparsed


def test_deploy_usecase_refuses_what_cannot_work(tmp_path, monkeypatch, embedded_settings) -> None:
    usecases = _usecases_dir(tmp_path / "repo" / "usecases", monkeypatch)
    invoke("usecases", "new", "refused")
    run = CliRunner().invoke
    bad = run(main, ["deploy-usecase", str(usecases / "refused"), "--target", "vm-no-path"])
    assert bad.exit_code == 2 and "use [user@]host:/absolute/path" in bad.output
    no_checkout = run(
        main,
        ["deploy-usecase", str(usecases / "refused"), "--target", f"vm:{tmp_path / 'none'}"]
        + ["--ssh", FAKE_SSH],
    )
    assert no_checkout.exit_code == 2 and "no mlstack checkout at" in no_checkout.output
    spec = usecases / "refused" / "usecase.yaml"
    spec.write_text(
        spec.read_text().replace("estimator: hist_gradient_boosting", "estimator: nope")
    )
    invalid = run(main, ["deploy-usecase", str(usecases / "refused"), "--target", "vm:/srv"])
    assert invalid.exit_code == 2 and "not deployed, the spec is invalid" in invalid.output
