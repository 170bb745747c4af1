"""Train → register → promote on real backends: embedded (MLflow on SQLite, local lake) and
the stack's (MLflow server on PostgreSQL with S3 artifacts, lake on S3, mlstack DB on
PostgreSQL). A first model becomes champion, a worse one is refused with the reason, a
better one becomes challenger, an override and a rollback are recorded."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import sqlalchemy as sa
from mlstack import registry, store
from mlstack.exceptions import DatasetNotFound, PromotionRefused, TrainingError
from mlstack.stages import promote, train
from train_helpers import build_lake, small_credit, spec_variant, with_model

pytestmark = pytest.mark.integration

DAYS = 14  # 12 labelled days with a 2-day label delay: 7 train, 2 validation, 3 holdout


def lifecycle(spec, settings) -> None:
    """The whole registry story on one snapshot, asserting what a user would see."""
    name = spec.name
    weak = with_model(spec, "decision_tree", max_depth=1)
    first = train.train(weak)
    assert registry.aliases_of(name) == {"candidate": first.version}
    d1 = promote.apply(weak, promote.evaluate(weak))
    assert d1.outcome == "champion"
    assert registry.aliases_of(name) == {"champion": first.version}

    worse = with_model(spec, "sklearn.dummy.DummyClassifier", strategy="prior")
    second = train.train(worse)
    assert second.snapshot == first.snapshot  # same rows, same holdout
    d2 = promote.apply(worse, promote.evaluate(worse))
    assert d2.outcome == "refused"
    assert any(r.startswith("metric: roc_auc 0.5000 vs champion") for r in d2.reasons), d2.reasons
    assert registry.aliases_of(name) == {"champion": first.version}
    tags = registry.get_version(name, second.version).tags
    assert tags["mlstack.promotion"] == "refused" and "metric" in tags["mlstack.promotion_reason"]
    assert tags["mlstack.gate.metric"] == "failed"

    better = with_model(spec, "linear", C=1.0)
    third = train.train(better)
    d3 = promote.apply(better, promote.evaluate(better))
    assert d3.outcome == "challenger", d3.reasons
    assert {g.name for g in d3.gates} >= {"metric", "slices", "signature", "latency"}
    assert registry.aliases_of(name) == {"champion": first.version, "challenger": third.version}

    again = train.train(better)  # same snapshot and seed: identical to the challenger
    d4 = promote.apply(better, promote.evaluate(better))
    assert d4.outcome == "refused"
    assert [g.name for g in d4.gates if not g.passed] == ["challenger"]
    assert registry.aliases_of(name)["challenger"] == third.version
    assert again.metrics == third.metrics

    promote.override(spec, third.version, to="champion", reason="won the A/B test")
    assert registry.aliases_of(name) == {"champion": third.version}
    back = promote.rollback(spec, reason="complaints")
    assert back.version == first.version
    assert registry.aliases_of(name)["champion"] == first.version
    assert registry.get_version(name, third.version).tags["mlstack.promotion"] == "rolled_back"
    with pytest.raises(PromotionRefused, match="no previous champion"):
        promote.rollback(spec)

    decisions = promote.history(name)
    assert [(r["action"], r["outcome"]) for r in reversed(decisions)] == [
        ("gates", "champion"),
        ("gates", "refused"),
        ("gates", "challenger"),
        ("gates", "refused"),
        ("override", "champion"),
        ("rollback", "champion"),
    ]
    assert decisions[0]["previous_champion"] is None and decisions[1]["previous_champion"] == 1

    e = store.lineage.c
    with store.engine(settings).connect() as conn:
        edges = {(r.source, r.relation, r.target) for r in conn.execute(sa.select(store.lineage))}
    run, model = f"run:{first.run_id}", f"model:{name}/v{first.version}"
    assert (run, "registered_as", model) in edges
    trained = {s for s, rel, t in edges if rel == "trained" and t == run}
    assert {s.split("@")[0] for s in trained} == {f"dataset:{name}", f"dataset:{name}_labels"}
    assert (model, "promoted_to", f"alias:{name}@champion") in edges
    assert e is not None

    listed = promote.list_models(spec)
    assert [m["version"] for m in listed] == [1, 2, 3, 4]
    assert listed[0]["aliases"] == ["champion"]

    model_obj = registry.load_model(name, third.version)
    x = train.load_frame(spec)[0].head(3)
    from mlstack import modeling

    proba = model_obj.predict_proba(modeling.model_input(spec, x))[:, 1]
    assert np.all((proba >= 0) & (proba <= 1))


def test_lifecycle_on_embedded_backends_moves_aliases_and_records(embedded_settings, credit_spec):
    spec = small_credit(credit_spec)
    build_lake(spec, DAYS, embedded_settings)
    lifecycle(spec, embedded_settings)
    artifacts = embedded_settings.home / "mlartifacts"
    assert any(artifacts.rglob("MLmodel")), "embedded artifacts live under home"


def test_lifecycle_on_mlflow_server_postgres_s3_moves_aliases_and_records(
    server_settings, credit_spec
):
    # the server lives for the session and other tests register credit_default there too
    spec = spec_variant(small_credit(credit_spec), name=f"credit_{uuid.uuid4().hex[:8]}")
    build_lake(spec, DAYS, server_settings)
    lifecycle(spec, server_settings)
    version = registry.get_version(spec.name, 1)
    assert version.source.startswith("models:/")
    run = registry.client().get_run(version.run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    inputs = run.inputs.dataset_inputs
    assert {i.dataset.source_type for i in inputs} == {"iceberg"}
    assert str(train.load_frame(spec)[1].features_snapshot) in inputs[0].dataset.source


def test_train_same_snapshot_and_seed_gives_identical_metrics(embedded_settings, credit_spec):
    spec = with_model(small_credit(credit_spec), "random_forest", n_estimators=20)
    build_lake(spec, DAYS, embedded_settings)
    first = train.train(spec)
    build_lake(spec, 1, embedded_settings)  # re-ingest day one: a newer snapshot exists now
    again = train.train(
        spec,
        snapshot_id=first.snapshot.features_snapshot,
        labels_snapshot_id=first.snapshot.labels_snapshot,
    )
    assert again.snapshot == first.snapshot
    assert again.metrics == first.metrics
    assert again.version == first.version + 1


def test_train_unknown_snapshot_fails_listing_known_ones(embedded_settings, credit_spec):
    spec = small_credit(credit_spec)
    build_lake(spec, 3, embedded_settings)
    with pytest.raises(DatasetNotFound, match=r"snapshot 123 does not exist in table .*latest"):
        train.train(spec, snapshot_id=123)


def test_train_too_few_labelled_days_fails_with_empty_window(embedded_settings, credit_spec):
    spec = small_credit(credit_spec)
    build_lake(spec, 6, embedded_settings)  # 4 labelled days; the split needs more than 5
    with pytest.raises(TrainingError, match=r"empty training window .* 4 labelled day\(s\)"):
        train.train(spec)


def test_train_regression_usecase_registers_candidate(embedded_settings, diabetes_spec):
    build_lake(diabetes_spec, 20, embedded_settings)
    result = train.train(diabetes_spec)
    assert result.primary_metric == "rmse" and result.metrics["holdout_rmse"] > 0
    assert result.snapshot.labels_snapshot is None
    decision = promote.apply(diabetes_spec, promote.evaluate(diabetes_spec))
    assert decision.outcome == "champion"


def test_promote_over_latency_budget_is_refused_with_the_timing(embedded_settings, credit_spec):
    spec = small_credit(credit_spec)
    data = spec.model_dump(by_alias=True, exclude={"path"})
    data["promotion"]["max_latency_ms"] = 0.001
    slow = type(spec).model_validate({**data, "path": spec.path})
    build_lake(slow, DAYS, embedded_settings)
    train.train(slow)
    decision = promote.apply(slow, promote.evaluate(slow))
    assert decision.outcome == "refused"
    assert decision.reasons[0].startswith("latency: single-row median")
    assert registry.aliases_of(slow.name) == {}
