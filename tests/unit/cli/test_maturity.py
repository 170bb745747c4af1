"""``mlstack maturity`` on real data (the real ingest into a local lake, the mlstack database
on the session's PostgreSQL): every checklist answer comes from a query or the use case's
folder, and changes when that evidence does — step by step from a fresh use case to one
retrained by its monitoring."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from monitoring_rows import STAGES, insert, metric_rows
from support import use_settings

ROOT = Path(__file__).resolve().parents[3]
UC = "credit_default"
NOW = datetime(2026, 2, 20, 9, 30, tzinfo=UTC)


def maturity(*args: str) -> Any:
    """``mlstack maturity ARGS``: the JSON of ``--json``, else the text."""
    from click.testing import CliRunner
    from mlstack.cli import main

    out = CliRunner().invoke(main, ["maturity", *args])
    assert out.exit_code == 0, out.output
    return json.loads(out.output) if "--json" in args else out.output


def answers() -> dict[str, tuple[str, str]]:
    """Checklist item → (answer, evidence) of credit_default."""
    rep = maturity(UC, "--json")
    return {i["name"]: (i["status"], i["evidence"]) for i in rep["items"]}


def version_tags(**extra: str) -> dict[str, str]:
    return {"mlstack.features_snapshot": "123", "mlstack.promotion": "champion", **extra}


def decision(version: int, outcome: str, actor: str) -> dict[str, Any]:
    return {"usecase": UC, "model_version": version, "run_id": f"run{version}"} | {
        "action": "gates",
        "outcome": outcome,
        "compared_with": None,
        "previous_champion": None,
        "reasons": [],
        "gates": [],
        "metrics": {},
        "actor": actor,
        "created_at": NOW,
    }


@pytest.fixture
def usecases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> Path:
    """A copy of credit_default (its folder gets tests and CI files) on a fresh database."""
    folder = tmp_path / "usecases"
    shutil.copytree(ROOT / "include" / "usecases" / UC, folder / UC)
    use_settings(
        monkeypatch,
        home=str(tmp_path / "home"),
        database_url=postgres_url,
        usecases_dir=str(folder),
    )
    return folder / UC


def test_each_answer_changes_when_its_evidence_does(usecases: Path) -> None:
    from click.testing import CliRunner
    from mlstack import model_records, store
    from mlstack.cli import main
    from mlstack.settings import get_settings

    s = get_settings()
    fresh = maturity(UC, "--json")
    assert (fresh["declared"], fresh["evidence_level"]) == (5, 1)
    assert all(i["status"] in ("no", "n/a") for i in fresh["items"])
    assert answers()["tests"] == ("no", "no test file for this use case")

    # monitoring: the monitor's rows
    insert(s, store.monitoring_metrics, metric_rows("drift_share", [0.1, 0.2, 0.6], alert_from=2))
    assert answers()["monitoring"] == ("yes", "3 days monitored, the latest 2026-02-12; 0 alerts")

    # data pipeline and catalog: one day through the real ingest (catalog rows too)
    out = CliRunner().invoke(main, ["ingest", UC, "--date", "2026-01-03", "--land"])
    assert out.exit_code == 0, out.output
    now = answers()
    assert (
        now["data pipeline"][0] == "yes"
        and "runs on '@daily'; 1 versions" in now["data pipeline"][1]
    )
    assert now["data catalog"] == (
        "yes",
        "credit_default: 1 versions (latest v1); credit_default_labels: 1 versions (latest v1)",
    )

    # tests: a file in the use case's folder
    (usecases / "tests").mkdir()
    (usecases / "tests" / "test_spec.py").write_text("def test_ok():\n    pass\n")
    assert answers()["tests"] == ("yes", "tests/test_spec.py")
    assert maturity(UC, "--json")["evidence_level"] == 2

    # registry: versions, a champion promoted by the rollout
    model_records.record_version(
        UC, 1, "run1", version_tags(**{"mlstack.trigger": "manual"}), NOW, s
    )
    now = answers()
    assert now["model registry"] == ("no", "1 versions, no champion yet")
    assert now["metadata store"] == ("yes", "1 MLflow runs, 1 with their exact data snapshots")
    assert now["automated training"][0] == "no"
    model_records.record_version(
        UC, 2, "run2", version_tags(**{"mlstack.trigger": "scheduled"}), NOW, s
    )
    model_records.record_alias(UC, "champion", 2, s)
    insert(s, store.promotion_decisions, [decision(2, "champion", f"{UC}__rollout/watch")])
    now = answers()
    assert now["model registry"] == (
        "yes",
        "2 versions, champion v2 promoted 2026-02-20 by rollout",
    )
    assert now["automated training"][1].endswith("1 of 2 versions trained without a person")
    assert now["gated promotion"] == (
        "yes",
        "each candidate gated as training emits it; 1 decisions (1 champion)",
    )
    assert maturity(UC, "--json")["evidence_level"] == 3

    # CI/CD and A/B testing
    (usecases / ".gitlab-ci.yml").write_text("stages: [test]\n")
    assert answers()["CI/CD"] == ("yes", ".gitlab-ci.yml")
    assert answers()["A/B testing"] == ("no", "on; no rollout yet")
    insert(s, store.rollouts, [_rollout(2, "promoted")])
    assert answers()["A/B testing"] == (
        "yes",
        "each new challenger rolled out by itself; 1 rollouts (1 promoted), the latest of v2 "
        "promoted",
    )
    assert maturity(UC, "--json")["evidence_level"] == 4

    # automated retraining and its costs: a request sent, the version trained on it
    blocked = _request(date(2026, 2, 10), "blocked", "waiting for labels covering the new period")
    insert(s, store.retrain_requests, [blocked, _request(date(2026, 2, 12), "retrain", "drop")])
    request_id = _request_id(s)
    model_records.record_version(
        UC,
        3,
        "run3",
        version_tags(
            **{
                "mlstack.trigger": "retrain-request",
                "mlstack.retrain_request.id": str(request_id),
                "mlstack.train_seconds": "42.5",
            }
        ),
        NOW,
        s,
    )
    rep = maturity(UC, "--json")
    assert {i["name"]: i["status"] for i in rep["items"]}["automated retraining"] == "yes"
    assert rep["evidence_level"] == 5
    assert rep["retrain_costs"]["retrains"] == [
        {
            "request_id": request_id,
            "day": "2026-02-12",
            "version": 3,
            "compute_seconds": 42.5,
            "fresh_labels": 30000,
            "waited_days": 7,
        }
    ]
    assert rep["retrain_costs"]["blocked_waiting_for_labels"] == 1
    text = maturity(UC)
    assert "the evidence shows level 5" in text
    assert "2026-02-12 → v3, 42 s, waited 7 days for 30000 fresh labels" in text.replace("\n", " ")


def test_the_declared_level_decides_what_the_next_level_needs(usecases: Path) -> None:
    spec = (usecases / "usecase.yaml").read_text()
    spec = spec.replace("maturity: 5", "maturity: 2").replace('  schedule: "@weekly"', "")
    (usecases / "usecase.yaml").write_text(spec)
    rep = maturity(UC, "--json")
    assert rep["declared_name"] == "2 repeatable"
    assert rep["switches"] == {
        "scheduled_ingest": True,
        "scheduled_training": False,
        "gated_promotion": False,
        "ab_rollout": False,
        "retrain_on_monitoring": False,
    }
    assert rep["next"][-1] == (
        "maturity: 3 (turns on scheduled_training, gated_promotion) — a scheduled training "
        "pipeline and gated registry promotion"
    )
    assert "automated training: maturity: 3 with training.schedule" in " ".join(rep["next"])
    answers_now = {i["name"]: i["evidence"] for i in rep["items"]}
    assert answers_now["automated training"] == "training runs only by hand (0 versions)"
    assert answers_now["automated retraining"].startswith("the policy's decisions are recorded")


def _rollout(version: int, state: str) -> dict[str, Any]:
    return {"rollout_id": f"r{version}", "usecase": UC, "champion_version": 1} | {
        "challenger_version": version,
        "stages": STAGES,
        "stage_index": 2,
        "state": state,
        "started_at": NOW,
        "stage_started_at": NOW,
        "ended_at": NOW,
        "actor": "test",
    }


def _request(day: date, decision: str, reason: str) -> dict[str, Any]:
    evidence = {"evidence": {"change_date": "2026-02-05", "fresh_labels": 30000}}
    return {"usecase": UC, "model_version": 2, "run_date": day, "decision": decision} | {
        "reason": reason,
        "evidence": evidence,
        "created_at": NOW,
    }


def _request_id(settings: Any) -> int:
    import sqlalchemy as sa
    from mlstack import store

    t = store.retrain_requests
    with store.engine(settings).connect() as conn:
        return int(conn.execute(sa.select(t.c.id).where(t.c.decision == "retrain")).scalar_one())


@pytest.fixture
def churn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> Path:
    """A copy of customer_churn (run by its own DAG, dags.own) on a fresh database."""
    folder = tmp_path / "usecases"
    shutil.copytree(ROOT / "include" / "usecases" / "customer_churn", folder / "customer_churn")
    use_settings(
        monkeypatch,
        home=str(tmp_path / "home"),
        database_url=postgres_url,
        usecases_dir=str(folder),
    )
    return folder / "customer_churn"


def test_an_own_dag_use_case_is_advised_with_its_own_dag(churn: Path) -> None:
    """The advice names customer_churn__pipeline, never a stage DAG it does not have; a
    promotion its DAG's gates made is said so."""
    from mlstack import model_records, store
    from mlstack.settings import get_settings

    name, own = "customer_churn", "customer_churn__pipeline (its own DAG, dags/pipeline.py)"
    rep = maturity(name, "--json")
    needs = {i["name"]: i["needs"] for i in rep["items"]}
    assert needs["monitoring"].startswith(f"run {own} (or `mlstack monitor run {name}")
    assert needs["data catalog"] == f"ingest a day; {own} records it"
    assert needs["model registry"] == f"train a model ({own})"
    text = json.dumps(rep) + maturity(name)
    for stage in ("ingest", "catalog", "train", "promote", "rollout", "monitor"):
        assert f"{name}__{stage}" not in text

    spec = (churn / "usecase.yaml").read_text()
    spec = spec.replace("maturity: 1", "maturity: 3")
    (churn / "usecase.yaml").write_text(
        spec.replace("training:\n", 'training:\n  schedule: "@weekly"\n')
    )
    s = get_settings()
    model_records.record_version(name, 1, "run1", version_tags(), NOW, s)
    model_records.record_alias(name, "champion", 1, s)
    row = decision(1, "champion", "customer_churn__pipeline/evaluate") | {"usecase": name}
    insert(s, store.promotion_decisions, [row])
    now = {i["name"]: i for i in maturity(name, "--json")["items"]}
    assert now["model registry"]["evidence"] == (
        "1 versions, champion v1 promoted 2026-02-20 by promotion gates in customer_churn__pipeline"
    )
    assert now["data pipeline"]["evidence"] == f"scheduled in {own}; nothing ingested yet"
    assert now["automated training"]["evidence"] == (
        f"trains when {own} runs; no version trained that way yet"
    )
    assert now["automated training"]["needs"] == f"let {own} run"

    # the advice names the file in the use case's folder that holds its own DAG, or its lack
    shutil.rmtree(churn / "dags")
    missing = "customer_churn__pipeline (its own DAG, no customer_churn/dags/*.py file yet)"
    now = {i["name"]: i for i in maturity(name, "--json")["items"]}
    assert now["automated training"]["needs"] == f"let {missing} run"
