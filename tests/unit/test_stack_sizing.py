"""The laptop stack's sizing: Airflow's triggerer runs only where a task would defer.

Tested on infra/stack.py (what `make up`, `make e2e` and the stack benchmark use) and the
compose file, without Docker."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from support import ROOT

sys.path.insert(0, str(ROOT / "infra"))
import stack  # noqa: E402  (infra/stack.py)


def _usecase(folder: Path, name: str, approval: bool | None) -> None:
    (folder / name).mkdir(parents=True)
    spec: dict = {"name": name}
    if approval is not None:
        spec["promotion"] = {"require_approval": approval}
    (folder / name / "usecase.yaml").write_text(yaml.safe_dump(spec))


def test_the_shipped_use_cases_need_no_triggerer() -> None:
    assert stack.approval_usecases() == []
    assert stack.triggerer_reason({}) is None


def test_a_use_case_asking_for_approval_brings_the_triggerer(tmp_path: Path) -> None:
    _usecase(tmp_path, "loans", approval=True)
    _usecase(tmp_path, "churn", approval=None)
    assert stack.approval_usecases(usecases_dir=tmp_path) == ["loans"]
    # overrides (MLSTACK_SPEC_OVERRIDES, JSON or YAML) win over the usecase.yaml
    off = '{"loans": {"promotion": {"require_approval": false}}}'
    assert stack.approval_usecases(off, usecases_dir=tmp_path) == []
    on = "{churn: {promotion: {require_approval: true}}}"
    assert stack.approval_usecases(on, usecases_dir=tmp_path) == ["churn", "loans"]


APPROVAL_YAML = "{credit_default: {promotion: {require_approval: true}}}"
APPROVAL_JSON = '{"credit_default": {"promotion": {"require_approval": 1}}}'


@pytest.mark.parametrize(
    ("env", "runs"),
    [
        ({}, False),
        ({"AIRFLOW_TRIGGERER": "true"}, True),
        ({"AIRFLOW_TRIGGERER": "false", "MLSTACK_SPEC_OVERRIDES": APPROVAL_YAML}, False),
        ({"MLSTACK_SPEC_OVERRIDES": APPROVAL_JSON}, True),
    ],
)
def test_triggerer_profile_follows_the_setting_and_the_specs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], runs: bool
) -> None:
    for name in ("AIRFLOW_TRIGGERER", "MLSTACK_SPEC_OVERRIDES", "COMPOSE_PROFILES"):
        monkeypatch.delenv(name, raising=False)
    compose = stack.Compose("mlstack-test", tmp_path / "missing.env", extra_env=env)
    profiles = compose.environment().get("COMPOSE_PROFILES", "").split(",")
    assert ("triggerer" in profiles) is runs
    assert (compose.triggerer() is not None) is runs


def test_compose_file_sizes_the_stack_for_a_laptop() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["airflow-triggerer"]["profiles"] == ["triggerer"]
    assert services["gateway"]["environment"]["MLSTACK_GATEWAY_WORKERS"] == "${GATEWAY_WORKERS:-1}"
    assert "--workers=${MLFLOW_WORKERS:-1}" in services["mlflow"]["command"]
