"""The rollout DAG through ``dag.test()`` on the embedded backends, with the gateway
in-process and simulated traffic (and its labels) flowing while the sensor watches."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from gateway_helpers import register_model
from mlstack import lake, registry, store
from mlstack.airflow.rollout import build_rollout
from mlstack.demo.traffic import simulate
from mlstack.gateway.app import create_app
from mlstack.gateway.core.config import GatewaySettings
from train_helpers import spec_variant

pytestmark = pytest.mark.integration


def _traffic(spec: Any, settings: Any, stop: threading.Event, tmp: Any) -> None:
    """Serve with an in-process gateway and send simulated requests + labels until stopped."""
    g = GatewaySettings(usecases=[spec.name], refresh_interval_s=0.5, spool_dir=tmp / "spool")
    with TestClient(create_app(settings, g)) as client:
        day = date(2026, 3, 1)
        while not stop.is_set():
            simulate(spec, client, requests=200, day=day)
            day += timedelta(days=1)


@pytest.mark.parametrize(
    ("champion", "challenger", "outcome"),
    [
        (("decision_tree", {"max_depth": 1}), ("linear", {}), "promote"),
        (("linear", {}), ("sklearn.dummy.DummyClassifier", {"strategy": "prior"}), "rollback"),
    ],
)
def test_rollout_dag_decides_from_live_traffic(
    airflow_db: Any,
    embedded_settings: Any,
    credit_spec: Any,
    tmp_path: Any,
    champion: tuple[str, dict[str, Any]],
    challenger: tuple[str, dict[str, Any]],
    outcome: str,
) -> None:
    spec = spec_variant(
        credit_spec,
        rollout={
            "mode": "shadow",
            "stages": [0.5],
            "min_samples": 150,
            "poll_interval": 1,
            "max_duration": 600,
        },
    )
    champ = register_model(spec, embedded_settings, estimator=champion[0], **champion[1])
    chall = register_model(
        spec, embedded_settings, estimator=challenger[0], alias="challenger", **challenger[1]
    )
    stop = threading.Event()
    sender = threading.Thread(target=_traffic, args=(spec, embedded_settings, stop, tmp_path))
    sender.start()
    try:
        dr = build_rollout(spec).test(logical_date=None)
    finally:
        stop.set()
        sender.join(timeout=120)
    assert str(getattr(dr.state, "value", dr.state)) == "success"
    aliases = registry.aliases_of(spec.name)
    with store.engine(embedded_settings).connect() as conn:
        actions = [
            r.action
            for r in conn.execute(
                sa.select(store.rollout_decisions.c.action).order_by(store.rollout_decisions.c.id)
            )
        ]
        state = conn.execute(sa.select(store.rollouts.c.state)).scalar_one()
    if outcome == "promote":
        assert actions == ["next_stage", "promote"]  # shadow won, then the 50% A/B stage
        assert aliases == {"champion": chall}
        assert state == "promoted"
    else:
        assert actions == ["rollback"]
        assert aliases == {"champion": champ}
        assert state == "rolled_back"
    reports = lake.list_keys(f"reports/rollouts/{spec.name}", embedded_settings)
    assert any(k.endswith(f"-{outcome}.html") for k in reports), reports


def test_rollout_of_a_missing_version_is_refused(embedded_settings: Any, credit_spec: Any) -> None:
    """A stale or mistyped version fails at start, naming the versions there are, instead of
    a rollout the gateway can never serve."""
    from mlstack.exceptions import ModelNotFound
    from mlstack.stages import rollout

    register_model(credit_spec, embedded_settings, estimator="linear")
    register_model(credit_spec, embedded_settings, estimator="linear", alias="challenger")
    with pytest.raises(ModelNotFound, match=r"no version 7; versions: \['2', '1'\]|versions"):
        rollout.start(credit_spec, challenger_version=7)
    assert rollout.running(credit_spec.name) is None


def test_batched_traffic_is_answered_and_labelled_record_by_record(
    embedded_settings: Any, credit_spec: Any, tmp_path: Any
) -> None:
    """``simulate(batch=20)`` (the demo's rollout traffic) posts ``records`` batches: every
    record is answered and logged once, each by its own prediction, and every label comes
    back by prediction id, as with one record a request."""
    register_model(credit_spec, embedded_settings, estimator="linear")
    g = GatewaySettings(
        usecases=[credit_spec.name], refresh_interval_s=0.5, spool_dir=tmp_path / "spool"
    )
    posted: list[Any] = []
    with TestClient(create_app(embedded_settings, g)) as client:

        class Counting:
            def post(self, url: str, *, json: Any) -> Any:
                posted.append((url, json))
                return client.post(url, json=json)

        result = simulate(credit_spec, Counting(), requests=90, day=date(2026, 3, 1), batch=20)
    predicts = [body for url, body in posted if url.endswith("/predict")]
    assert [len(body["records"]) for body in predicts] == [20, 20, 20, 20, 10]
    assert (result.sent, result.answered, result.failed) == (90, 90, 0)
    assert result.variants == {"champion": 90}
    labels = [
        label for url, body in posted if url.endswith("/feedback") for label in body["labels"]
    ]
    assert result.labels_sent == len(labels) == 90
    assert len({label["prediction_id"] for label in labels}) == 90
    with store.engine(embedded_settings).connect() as conn:
        logged = conn.execute(sa.select(sa.func.count()).select_from(store.predictions)).scalar()
    assert logged == 90
