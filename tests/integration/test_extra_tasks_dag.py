"""A use case's extra task in its generated promote DAG, through ``dag.test()`` on the
embedded backends: placed before promote, it gets the run's context; when it stops the run,
nothing is promoted and the task says why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from train_helpers import build_lake, spec_variant

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

HOOKS = """
import json
from pathlib import Path

from mlstack.plugins import register
from mlstack.usecase_tasks import StopRun


@register("tasks", "fairness_gate")
def fairness_gate(ctx):
    Path(ctx.options["record"]).write_text(json.dumps({
        "usecase": ctx.usecase, "stage": ctx.stage, "position": ctx.position,
        "dag_id": ctx.dag_id, "day": ctx.day.isoformat(), "version": ctx.model_version,
    }))
    if ctx.options.get("fail"):
        raise StopRun("approval-rate gap 0.21 between sexes exceeds 0.05")
    return {"gap": 0.01}
"""


def states(dr) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dr.get_task_instances()}


def test_an_extra_task_before_promote_that_stops_the_run_stops_promotion(
    airflow_db, embedded_settings, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from mlstack import registry
    from mlstack.airflow.factory import build_dags
    from mlstack.specs import load_spec
    from mlstack.stages import train

    folder = tmp_path / "usecases" / "diabetes"
    shutil.copytree(ROOT / "include" / "usecases" / "diabetes", folder)
    (folder / "hooks.py").write_text(HOOKS)
    record = tmp_path / "context.json"
    raw = yaml.safe_load((folder / "usecase.yaml").read_text())
    raw["hooks"] = "hooks.py"
    # the extra task is what is tested, not the latency gate (a loaded machine misses 50 ms)
    raw["promotion"]["max_latency_ms"] = 5000
    raw["tasks"] = [
        {
            "task": "fairness_gate",
            "before": "promote",
            "options": {"record": str(record), "fail": True},
        }
    ]
    (folder / "usecase.yaml").write_text(yaml.safe_dump(raw))
    spec = load_spec(folder)
    build_lake(spec, 20, embedded_settings)
    train.train(spec)
    assert registry.aliases_of("diabetes") == {"candidate": 1}

    dag = build_dags(spec)["diabetes__promote"]
    capfd.readouterr()
    stopped = dag.test(logical_date=None, run_conf={"version": 1})
    assert str(getattr(stopped.state, "value", stopped.state)) == "failed"
    assert states(stopped) == {
        "before_promote__fairness_gate": "failed",
        "evaluate": "upstream_failed",
        "announce_challenger": "upstream_failed",
    }
    assert registry.aliases_of("diabetes") == {"candidate": 1}  # nothing promoted
    assert (
        "fairness_gate (before promote) stopped diabetes__promote: approval-rate gap 0.21 "
        "between sexes exceeds 0.05"
    ) in capfd.readouterr().out  # the failed task's log
    seen = json.loads(record.read_text())
    assert seen == {
        "usecase": "diabetes",
        "stage": "promote",
        "position": "before",
        "dag_id": "diabetes__promote",
        "day": seen["day"],
        "version": 1,
    }

    passing = spec_variant(
        spec, tasks=[{**raw["tasks"][0], "options": {"record": str(record), "fail": False}}]
    )
    done = build_dags(passing)["diabetes__promote"].test(logical_date=None, run_conf={})
    assert str(getattr(done.state, "value", done.state)) == "success"
    assert states(done)["before_promote__fairness_gate"] == "success"
    assert registry.aliases_of("diabetes") == {"champion": 1}
