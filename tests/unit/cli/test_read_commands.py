"""The read commands as a user runs them, on a store with real rows (SQLite, a local lake):

- each runs in a fresh interpreter (``tests/cli_imports.py``, the ``mlstack`` entry point)
  and loads none of MLflow, scikit-learn, Evidently, Airflow, pandas, numpy, scipy, pyarrow,
  pyiceberg, SQLAlchemy, Alembic (the store is at this code's revision: reads are plain SQL);
- its table fits 80 columns (long reasons wrapped between whole phrases, on a line under
  their row), ``--wide`` shows what the narrow table leaves out;
- ``--json`` prints JSON that parses, with the same facts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mlstack.cli import read_commands
from monitoring_rows import RID, STAGES, insert, metric_rows

ROOT = Path(__file__).resolve().parents[3]
RUNNER = ROOT / "tests" / "cli_imports.py"
USECASE = "credit_default"
NOW = datetime(2026, 2, 20, 9, 30, tzinfo=UTC)
REASON = (
    "metric gate: roc_auc 0.7012 is not 0.005 better than the champion's 0.7101; "
    "slice gate: employment=self_employed lost 0.031 (tolerance 0.02); "
    "latency gate: median 3.1 ms within 50 ms"
)

READ_COMMANDS = read_commands(USECASE)  # every read-only command of ``mlstack``
JSON_COMMANDS = [c for c in READ_COMMANDS if c != ["--help"]]


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A store with a day ingested through the real ingest (catalog rows, an Iceberg table),
    two recorded model versions (a champion and a refused one with a long reason), promotion
    decisions, monitoring series and alerts and a running rollout; returns its environment."""
    from click.testing import CliRunner
    from mlstack import model_records, store
    from mlstack.cli import main
    from mlstack.settings import get_settings, scoped_environ

    home = tmp_path_factory.mktemp("cli-store") / "home"
    env = {"MLSTACK_HOME": str(home)}
    with scoped_environ(**env):
        s = get_settings()
        out = CliRunner().invoke(main, ["ingest", USECASE, "--date", "2026-01-03", "--land"])
        assert out.exit_code == 0, out.output
        model_records.record_version(USECASE, 1, "run1", _tags(0.7101, "champion", ""), NOW, s)
        model_records.record_version(USECASE, 2, "run2", _tags(0.7012, "refused", REASON), NOW, s)
        model_records.record_alias(USECASE, "champion", 1, s)
        insert(
            s,
            store.promotion_decisions,
            [_decision(1, "champion", []), _decision(2, "refused", REASON.split("; "))],
        )
        insert(
            s,
            store.monitoring_metrics,
            metric_rows(
                "drift_share", [0.1, 0.2, 0.6], alert_from=2, threshold=0.5, variant="champion"
            ),
        )
        insert(s, store.monitoring_alerts, [_alert()])
        insert(s, store.rollouts, [_rollout()])
    return env


def _tags(value: float, promotion: str, reason: str) -> dict[str, str]:
    return {
        "mlstack.primary_metric": "roc_auc",
        "mlstack.primary_value": str(value),
        "mlstack.features_snapshot": "5093658462815212345",
        "mlstack.holdout_days": "2026-01-20..2026-01-27",
        "mlstack.promotion": promotion,
        "mlstack.promotion_reason": reason,
    }


def _decision(version: int, outcome: str, reasons: list[str]) -> dict[str, Any]:
    return {"usecase": USECASE, "model_version": version, "run_id": f"run{version}"} | {
        "action": "gates",
        "outcome": outcome,
        "compared_with": 1 if version > 1 else None,
        "previous_champion": None,
        "reasons": reasons,
        "gates": [],
        "metrics": {},
        "actor": "airflow:credit_default__promote",
        "created_at": NOW,
    }


def _alert() -> dict[str, Any]:
    return {"usecase": USECASE, "model_version": 1, "run_date": datetime(2026, 2, 12).date()} | {
        "kind": "drift",
        "severity": "warning",
        "message": "3 drifted feature(s): income, debt_ratio, credit_score",
        "details": {},
        "report_uri": None,
        "created_at": NOW,
    }


def _rollout() -> dict[str, Any]:
    return {"rollout_id": RID, "usecase": USECASE, "champion_version": 1} | {
        "challenger_version": 2,
        "stages": STAGES,
        "stage_index": 1,
        "state": "running",
        "started_at": NOW,
        "stage_started_at": NOW,
        "ended_at": None,
        "actor": "test",
    }


def run(env: dict[str, str], *args: str, columns: int = 80) -> tuple[str, list[str]]:
    """``mlstack ARGS`` in a fresh interpreter, stdout a pipe; (stdout, heavy modules loaded)."""
    full = {**os.environ, **env, "COLUMNS": str(columns)}
    full["PYTHONPATH"] = os.pathsep.join([str(ROOT / "include"), full.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, str(RUNNER), *args], capture_output=True, text=True, env=full, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    marker = [line for line in done.stderr.splitlines() if line.startswith("heavy modules: ")]
    assert marker, done.stderr
    return done.stdout, json.loads(marker[-1].removeprefix("heavy modules: "))


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_read_command_loads_no_heavy_library_and_fits_80_columns(
    populated: dict[str, str], args: list[str]
) -> None:
    out, heavy = run(populated, *args)
    assert out.strip()
    assert heavy == [], f"mlstack {' '.join(args)} loaded {heavy}"
    too_long = [line for line in out.splitlines() if len(line) > 80]
    assert not too_long, "\n".join(too_long)


@pytest.mark.parametrize("args", JSON_COMMANDS, ids=" ".join)
def test_read_command_json_parses(populated: dict[str, str], args: list[str]) -> None:
    out, heavy = run(populated, *args, "--json")
    assert json.loads(out) is not None
    assert heavy == []


def test_models_list_puts_the_reason_under_its_row_in_whole_phrases(
    populated: dict[str, str],
) -> None:
    out, _ = run(populated, "models", "list", USECASE)
    lines = out.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("v2 "))
    assert "refused" in lines[row]
    reason = lines[row + 1 : row + 4]
    assert all(line.startswith("    ") for line in reason), out
    assert [line.strip() for line in reason] == [p + ";" for p in REASON.split("; ")[:2]] + [
        REASON.split("; ")[2]
    ]
    assert "champion" in lines[row - 1] and "roc_auc 0.7101" in lines[row - 1]


def test_models_list_wide_shows_snapshot_run_and_reason_on_the_row(
    populated: dict[str, str],
) -> None:
    out, _ = run(populated, "models", "list", USECASE, "--wide")
    row = next(line for line in out.splitlines() if line.startswith("v2 "))
    assert "5093658462815212345" in row and "run2" in row and REASON in row
    narrow, _ = run(populated, "models", "list", USECASE)
    assert "5093658462815212345" not in narrow


def test_models_list_json_has_the_recorded_versions(populated: dict[str, str]) -> None:
    out, _ = run(populated, "models", "list", USECASE, "--json")
    rows = json.loads(out)
    assert [(r["version"], r["aliases"], r["promotion"]) for r in rows] == [
        (1, ["champion"], "champion"),
        (2, [], "refused"),
    ]
    assert rows[1]["reason"] == REASON and rows[0]["value"] == pytest.approx(0.7101)


def test_catalog_and_rollout_read_the_real_rows(populated: dict[str, str]) -> None:
    listed = json.loads(run(populated, "catalog", "list", "--json")[0])
    assert {d["name"] for d in listed} == {USECASE, f"{USECASE}_labels"}
    shown, _ = run(populated, "catalog", "show", USECASE)
    assert "day=2026-01-03" in shown and "credit_score" in shown and "lineage" in shown
    status, _ = run(populated, "rollout", "status", USECASE)
    assert "running" in status and "challenger v2 vs champion v1" in status
    history = json.loads(run(populated, "models", "history", USECASE, "--json")[0])
    assert [d["outcome"] for d in history] == ["refused", "champion"]
