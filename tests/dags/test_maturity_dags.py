"""DAG structure per maturity level: every stage has its DAG at every level; what triggers
each one (schedule, Asset or nothing but a person) and which tasks exist follow the level
and the spec's ``automation:`` overrides. Plus the extra tasks a spec places."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["ingest", "catalog", "train", "promote", "rollout", "monitor"]


def spec_at(tmp_path: Path, maturity: int, **changes: Any) -> Any:
    """The demo spec (credit_default) at ``maturity`` with top-level sections replaced."""
    from mlstack.specs import load_spec

    raw = yaml.safe_load((ROOT / "include/usecases/credit_default/usecase.yaml").read_text())
    raw["maturity"] = maturity
    if maturity < 3:  # a training schedule below level 3 is refused (never used)
        raw["training"].pop("schedule")
    raw.update(changes)
    folder = tmp_path / "credit_default"
    folder.mkdir(exist_ok=True)
    (folder / "usecase.yaml").write_text(yaml.safe_dump(raw))
    return load_spec(folder)


def triggers(spec: Any) -> dict[str, str]:
    """What starts each stage's DAG by itself, in words: 'manual', a cron, Asset names."""
    from mlstack.airflow.factory import build_dags

    out = {}
    for stage in STAGES:
        tt = build_dags(spec)[f"{spec.name}__{stage}"].timetable
        parts = []
        cond = getattr(tt, "asset_condition", None)
        if cond is not None:
            names = sorted(a.name for a in getattr(cond, "objects", [cond]))
            parts.append("assets:" + ",".join(names))
        cron = getattr(getattr(tt, "timetable", tt), "_expression", None)
        if cron is None:
            cron = getattr(getattr(tt, "timetable", tt), "expression", None)
        if cron:
            parts.append(f"cron:{cron}")
        manual = type(tt).__name__ == "NullTimetable"
        out[stage] = " + ".join(parts) or ("manual" if manual else repr(tt))
    return out


def tasks(spec: Any, stage: str) -> list[str]:
    from mlstack.airflow.factory import build_dags

    return sorted(t.task_id for t in build_dags(spec)[f"{spec.name}__{stage}"].tasks)


DAILY, WEEKLY = "cron:0 0 * * *", "cron:0 0 * * 0"
DATA = "assets:credit_default.features,credit_default.labels"
EXPECTED = {
    1: ["manual", DATA, "manual", "manual", "manual", DAILY],
    2: [DAILY, DATA, "manual", "manual", "manual", DAILY],
    3: [DAILY, DATA, WEEKLY, "assets:model-candidate/credit_default", "manual", DAILY],
    4: [
        DAILY,
        DATA,
        WEEKLY,
        "assets:model-candidate/credit_default",
        "assets:model-challenger/credit_default",
        DAILY,
    ],
    5: [
        DAILY,
        DATA,
        f"assets:retrain-request/credit_default + {WEEKLY}",
        "assets:model-candidate/credit_default",
        "assets:model-challenger/credit_default",
        DAILY,
    ],
}


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_each_level_triggers_its_stages(tmp_path: Path, level: int) -> None:
    spec = spec_at(tmp_path, level)
    assert triggers(spec) == dict(zip(STAGES, EXPECTED[level], strict=True))


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_monitoring_runs_at_every_level_and_asks_for_retrains_only_at_5(
    tmp_path: Path, level: int
) -> None:
    spec = spec_at(tmp_path, level)
    expected = ["monitor", "policy_says_retrain", "request_retrain"] if level == 5 else ["monitor"]
    assert tasks(spec, "monitor") == expected
    assert tasks(spec, "ingest") == ["ingest_features", "ingest_labels", "land"]


def test_level_3_with_an_ab_rollout_override(tmp_path: Path) -> None:
    spec = spec_at(tmp_path, 3, automation={"ab_rollout": True})
    assert triggers(spec)["rollout"] == "assets:model-challenger/credit_default"
    assert triggers(spec)["train"] == WEEKLY


def test_level_5_without_a_training_schedule_trains_on_requests_only(tmp_path: Path) -> None:
    raw_training = yaml.safe_load(
        (ROOT / "include/usecases/credit_default/usecase.yaml").read_text()
    )["training"]
    raw_training.pop("schedule")
    spec = spec_at(tmp_path, 5, training=raw_training)
    assert triggers(spec)["train"] == "assets:retrain-request/credit_default"


def test_demo_specs_keep_every_automation(tmp_path: Path) -> None:
    from mlstack.specs import get_spec

    for name in ("credit_default", "diabetes"):
        spec = get_spec(name, ROOT / "include" / "usecases")
        assert spec.maturity == 5
        assert all(spec.switches().values()), name


@pytest.mark.parametrize(
    ("maturity", "changes", "message"),
    [
        (
            1,
            {"training": {"schedule": "@weekly"}},
            r"training.schedule: '@weekly' is never used: maturity 1 manual trains only by hand",
        ),
        (
            3,
            {"training": {"schedule": None}},
            r"training.schedule: null, but maturity 3 reproducible schedules training",
        ),
        (
            3,
            {"automation": {"scheduled_ingest": False}},
            r"every run would train on the same snapshot; turn automation.scheduled_ingest on",
        ),
        (
            5,
            {"retraining": {"enabled": False}},
            r"retraining.enabled: false, but maturity 5 continuously improved retrains",
        ),
        (
            5,
            {"automation": {"gated_promotion": False}},
            r"every retrained candidate would wait for someone to trigger its promotion",
        ),
        (
            3,
            {"automation": {"retrain_on_monitoring": True}, "monitoring": {"schedule": None}},
            r"monitoring.schedule: null, but automation.retrain_on_monitoring: true needs",
        ),
        (2, {"schedule": None}, r"schedule: null, but maturity 2 repeatable runs the data"),
        (6, {}, r"maturity: Input should be less than or equal to 5"),
    ],
)
def test_validator_explains_combinations_that_make_no_sense(
    tmp_path: Path, maturity: int, changes: dict[str, Any], message: str
) -> None:
    from mlstack.exceptions import SpecError
    from mlstack.specs import load_spec, merge_overrides

    raw = yaml.safe_load((ROOT / "include/usecases/credit_default/usecase.yaml").read_text())
    raw = merge_overrides({**raw, "maturity": maturity}, changes)
    folder = tmp_path / "credit_default"
    folder.mkdir()
    (folder / "usecase.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError, match=message):
        load_spec(folder)


def test_extra_tasks_are_placed_before_and_after_their_stage(tmp_path: Path) -> None:
    from mlstack.airflow.factory import build_dags

    spec = spec_at(
        tmp_path,
        5,
        tasks=[
            {"task": "fairness", "before": "promote"},
            {"task": "features", "after": "ingest"},
            {"task": "report", "after": "monitor"},
        ],
    )
    dags = build_dags(spec)
    promote = dags["credit_default__promote"]
    assert promote.get_task("before_promote__fairness").downstream_task_ids == {"evaluate"}
    ingest = dags["credit_default__ingest"]
    assert ingest.get_task("after_ingest__features").upstream_task_ids == {
        "ingest_features",
        "ingest_labels",
    }
    report = dags["credit_default__monitor"].get_task("after_monitor__report")
    assert report.upstream_task_ids == {"request_retrain"}
    assert report.trigger_rule == "none_failed"  # runs when the policy asked for nothing
    assert "before_train" not in " ".join(dags["credit_default__train"].task_ids)


def test_an_extra_task_needs_one_place(tmp_path: Path) -> None:
    from mlstack.exceptions import SpecError

    with pytest.raises(SpecError, match=r"task 'x' needs exactly one of 'before' or 'after'"):
        spec_at(tmp_path, 3, tasks=[{"task": "x", "before": "train", "after": "promote"}])
    with pytest.raises(SpecError, match=r"tasks: before_train__x is placed twice"):
        spec_at(tmp_path, 3, tasks=[{"task": "x", "before": "train"}] * 2)


def test_per_stage_retries_timeouts_pools_and_queues(tmp_path: Path) -> None:
    """``stages.<stage>`` in the spec sets how Airflow runs that stage's tasks, over mlstack's
    defaults and the stage's own time limit; the other stages keep theirs."""
    from datetime import timedelta

    from mlstack.airflow.factory import build_dags

    stages = {"train": {"retries": 5, "retry_delay": "PT7M", "execution_timeout": "PT30M",
                        "pool": "training", "queue": "training"}}  # fmt: skip
    dags = build_dags(spec_at(tmp_path, 3, stages=stages))
    for task in dags["credit_default__train"].tasks:
        assert (task.retries, task.retry_delay) == (5, timedelta(minutes=7)), task.task_id
        assert task.execution_timeout == timedelta(minutes=30), task.task_id
        assert (task.pool, task.queue) == ("training", "training"), task.task_id
    for task in dags["credit_default__ingest"].tasks:
        assert task.retries == 2 and task.pool == "default_pool", task.task_id
        assert task.queue != "training", task.task_id


def test_per_stage_settings_are_checked(tmp_path: Path) -> None:
    from mlstack.exceptions import SpecError

    with pytest.raises(SpecError, match="stages"):
        spec_at(tmp_path, 3, stages={"training": {"retries": 1}})  # not a stage
    with pytest.raises(SpecError, match="positive duration"):
        spec_at(tmp_path, 3, stages={"train": {"execution_timeout": "-PT1H"}})
    with pytest.raises(SpecError, match="not a pool or queue name"):
        spec_at(tmp_path, 3, stages={"train": {"pool": "my pool"}})
    with pytest.raises(SpecError, match="retries"):
        spec_at(tmp_path, 3, stages={"train": {"retries": -1}})
