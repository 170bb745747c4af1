"""``mlstack demo`` tells the story of issues 5 and 6 on a shortened clock: shock → drift
alert and estimated drop before the labels arrive → retrain policy blocked while labels are
missing → retrain request → challenger → A/B rollout through the in-process gateway right
then → promotion, printed as a timeline — and no realised-drop alert on too few labels."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from mlstack.cli import main
from train_helpers import spec_variant

pytestmark = pytest.mark.integration


def short_story(spec: Any, folder: Path) -> Path:
    """credit_default with labels 5 days late and the shock on day 20 (instead of 30 and 45);
    fresh labels for the retrain: 5 days' worth. At 300 rows a day the first model learns
    from one day of 300 rows, so its estimate moves less with the shock: the drop that
    counts is 10 EUR for 2 days (instead of 25 for 3). The label counts a judgement needs
    (``min_labels``) stay the shipped spec's: no realised figure rests on fewer."""
    sim = spec.simulator.model_dump()
    sim["options"] = {**sim["options"], "label_delay_days": 5, "shock_after_days": 20}
    variant = spec_variant(
        spec,
        simulator=sim,
        monitoring={"performance_drop": 10.0},
        retraining={"min_fresh_labels": 10000, "metric_drop": 10.0, "sustained_days": 2},
    )
    data = variant.model_dump(by_alias=True, exclude={"path"}, mode="json")
    data["schema"]["label_delay_days"] = 5
    (folder / spec.name).mkdir(parents=True)
    (folder / spec.name / "usecase.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def test_demo_prints_the_story_as_a_timeline(
    airflow_db: Any, embedded_settings: Any, credit_spec: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from mlstack.demo import story as demo
    from mlstack.settings import get_settings

    monkeypatch.setenv("MLSTACK_USECASES_DIR", str(short_story(credit_spec, tmp_path / "uc")))
    monkeypatch.setenv("COLUMNS", "240")
    get_settings.cache_clear()
    contexts, days = [], []
    real_run = demo.run

    def run(*args: Any, **kwargs: Any) -> Any:
        ctx, results = real_run(*args, **kwargs)
        contexts.append(ctx)
        days.extend(results)
        return ctx, results

    monkeypatch.setattr(demo, "run", run)
    from mlstack.demo import steps

    runs: list[tuple[str, dict[str, Any] | None]] = []  # every DAG run (dag.test() keeps one)
    real_run_dag = steps.run_dag

    def run_dag(dags: Any, dag_id: str, conf: Any, log_file: Any) -> Any:
        runs.append((dag_id, conf))
        return real_run_dag(dags, dag_id, conf, log_file)

    monkeypatch.setattr(steps, "run_dag", run_dag)
    result = CliRunner().invoke(main, ["demo", "--days", "36", "--rows", "300"])
    assert result.exit_code == 0, result.output
    assert "timeline" in result.output and "only on retrain requests" in result.output
    timeline = sorted(contexts[0].timeline, key=lambda e: e[0])  # as printed: by day
    events = [event for _, event, _ in timeline]
    day_of = {event: day for day, event, _ in reversed(timeline)}  # first day of each event

    def first(prefix: str) -> int:
        found = [i for i, e in enumerate(events) if e.startswith(prefix)]
        assert found, f"no {prefix!r} in the timeline:\n{result.output}"
        return found[0]

    shock = first("scripted shock")
    # the shock's drift (a fluke on an unchanged feature may come earlier)
    drifts = [i for i, (_, e, ev) in enumerate(timeline) if e == "alert: drift" and "income" in ev]
    assert drifts, result.output
    drift = drifts[0]
    estimated = first("alert: estimated drop")
    waiting = first("retrain policy: blocked: waiting for labels")
    request = first("retrain requested")
    challengers = [
        i for i, e in enumerate(events) if "retrain request" in e and e.endswith("challenger")
    ]
    assert challengers, result.output
    challenger = challengers[0]
    rollout = first("rollout")
    promoted, champion = first("rollout: promote"), first("new champion")
    assert shock < drift < request and shock < estimated < waiting < request, events
    assert request < challenger < rollout < promoted < champion, events
    assert [e for e in events[:shock] if e.endswith("(first model) -> champion")], events
    # the estimated drop shows before the shock's first labels arrive (5 days late here)
    shock_day = date.fromisoformat(day_of["scripted shock"])
    est_day = date.fromisoformat(timeline[estimated][0])
    assert est_day < shock_day + timedelta(days=5), timeline[estimated]
    assert "CBPE" in timeline[estimated][2]
    assert "most drifted first" in timeline[drift][2]
    # the challenger is decided on the day it appeared, before the demo's next day ran
    assert timeline[promoted][0] == timeline[request][0] == timeline[champion][0]
    # never an alert on too few labels: no realised drop before the shock
    realised = [d for d, e, _ in timeline if e == "alert: realised drop"]
    assert all(date.fromisoformat(d) >= shock_day for d in realised), timeline
    # off a terminal the story is told while it happens: each event's line comes between
    # the line of the day before and the line of its own day
    lines = result.output.splitlines()
    start = contexts[0].days[0]

    def line_of(prefix: str) -> int:
        return next(i for i, line in enumerate(lines) if line.startswith(prefix))

    for day, event, _ in (timeline[shock], timeline[request], timeline[promoted]):
        n = (date.fromisoformat(day) - start).days + 1
        told = line_of(f"  >> {day} {event}")
        assert line_of(f"day {n}/36 {day} ") > told, result.output
        assert n == 1 or line_of(f"day {n - 1}/36 ") < told, result.output

    # the quiet days before a first model could train went several to an ingest run; each
    # day still has its own summary row, snapshot and catalog versions
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        confs = [
            r.conf for r in session.query(DagRun).filter(DagRun.dag_id == "credit_default__ingest")
        ]
    assert any((c or {}).get("through") for c in confs), confs
    assert [r.day for r in days] == contexts[0].days
    # the monitored days after the shock go several to a run too
    monitored = [c for d, c in runs if d.endswith("__monitor") and c]
    after = [c for c in monitored if c["day"] > shock_day.isoformat()]
    assert any(c["through"] > c["day"] for c in after), monitored
    # a retrain trains on the lake as it was at the end of its day, not on the days its
    # batch ingested after it
    retrains = [c for d, c in runs if d.endswith("__train") and c and c.get("retrain_request")]
    assert retrains, runs
    request_day = next(r for r in days if r.day.isoformat() == timeline[request][0])
    assert retrains[0]["snapshot"] == request_day.ingest["features"]["snapshot_id"]
    assert retrains[0]["labels_snapshot"] == request_day.ingest["labels"]["snapshot_id"]
    assert len({r.ingest["features"]["snapshot_id"] for r in days}) == len(days)
    assert all(len(r.catalog) == 2 for r in days), [(r.day, r.catalog) for r in days]
