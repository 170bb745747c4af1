"""``mlstack demo`` tells the story of issues 5 and 6 on a shortened clock: shock → drift
alert → retrain policy blocked while labels are missing → retrain request → challenger →
A/B rollout through the in-process gateway → decision, printed as a timeline."""

from __future__ import annotations

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
    fresh labels for the retrain: 5 days' worth. Everything else is the shipped spec."""
    sim = spec.simulator.model_dump()
    sim["options"] = {**sim["options"], "label_delay_days": 5, "shock_after_days": 20}
    variant = spec_variant(spec, simulator=sim, retraining={"min_fresh_labels": 10000})
    data = variant.model_dump(by_alias=True, exclude={"path"}, mode="json")
    data["schema"]["label_delay_days"] = 5
    (folder / spec.name).mkdir(parents=True)
    (folder / spec.name / "usecase.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def test_demo_prints_the_story_as_a_timeline(
    airflow_db: Any, embedded_settings: Any, credit_spec: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from mlstack import demo
    from mlstack.settings import get_settings

    monkeypatch.setenv("MLSTACK_USECASES_DIR", str(short_story(credit_spec, tmp_path / "uc")))
    monkeypatch.setenv("COLUMNS", "240")
    get_settings.cache_clear()
    contexts = []
    real_run = demo.run

    def run(*args: Any, **kwargs: Any) -> Any:
        ctx, results = real_run(*args, **kwargs)
        contexts.append(ctx)
        return ctx, results

    monkeypatch.setattr(demo, "run", run)
    result = CliRunner().invoke(main, ["demo", "--days", "36", "--rows", "300"])
    assert result.exit_code == 0, result.output
    assert "timeline" in result.output
    events = [event for _, event, _ in contexts[0].timeline]
    shock = events.index("scripted shock")
    drift = events.index("alert: drift")
    request = events.index("retrain requested")
    assert shock < drift < request
    assert "retrain policy: blocked" in events[:request]  # labels were still missing
    assert any(e.startswith("rollout: ") for e in events[request:]), events
    assert events[-1] == "champion"
