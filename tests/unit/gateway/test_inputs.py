"""The gateway's inputs: a bad-input corpus (each case's status, the field it names, and that
what was answered is exactly what is logged) and property-based fuzzing of its OpenAPI
(no 5xx, every client error a 400 naming where it is). In process, on SQLite, with a model
that needs no MLflow: the app is the real one (middleware, routes, handlers, OpenAPI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlstack import store
from mlstack.gateway.app import create_app
from mlstack.gateway.core.config import GatewaySettings
from mlstack.gateway.journal import Journal
from mlstack.gateway.metrics import REFUSAL_REASONS, Metrics, sample
from mlstack.gateway.model_cache import InputField, LoadedModel, RolloutState, Serving
from mlstack.gateway.prediction_log import PredictionLogger
from mlstack.gateway.service import PredictionService
from prometheus_client.parser import text_string_to_metric_families

FIELDS = [InputField("amount", "double", True), InputField("purpose", "string", False)]
PURPOSES = ["car", "home"]


def _model(version: int, fail: bool = False) -> LoadedModel:
    def fast(recs: list[dict[str, Any]]) -> np.ndarray:
        if fail:
            raise RuntimeError("challenger broke")
        return np.array([0.2 + 0.6 * (float(r["amount"] or 0) > 0) for r in recs])

    return LoadedModel("u", version, None, FIELDS, "classification", 0.5, fast=fast)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[TestClient]:
    """The real app on SQLite, champion v1 and a challenger v2 at 50% that always fails."""
    spec = SimpleNamespace(
        schema=SimpleNamespace(
            id_column="id",
            columns={"purpose": SimpleNamespace(categories=PURPOSES)},
        )
    )
    rollout = RolloutState("r1", 2, 1, "50%", 0.5, False)
    serving = Serving(champion=_model(1), challenger=_model(2, fail=True), rollout=rollout)
    cache: Any = SimpleNamespace(
        specs={"u": spec}, get=lambda name: serving, serving={"u": serving}, errors={}
    )
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.metadata.create_all(eng)
    journal = Journal(tmp_path / "spool" / "journal", fsync=True)
    journal.open()
    logger = PredictionLogger(
        eng, tmp_path / "spool", journal=journal, flush_interval_s=0.01, replay_interval_s=0.2
    )
    logger.start()
    app = create_app(SimpleNamespace(), GatewaySettings(max_body_bytes=64 * 1024))  # type: ignore[arg-type]
    app.state.service = PredictionService(cache, logger, Metrics(), 0.0)
    client = TestClient(app)  # no lifespan: the service above is the app's
    yield client
    logger.stop()
    journal.close()


def _count(client: TestClient, table: sa.Table, **where: Any) -> int:
    logger = client.app.state.service.logger  # type: ignore[attr-defined]
    logger.flush()
    with logger.engine.connect() as conn:
        q = sa.select(sa.func.count()).select_from(table)
        for k, v in where.items():
            q = q.where(table.c[k] == v)
        return int(conn.execute(q).scalar_one())


GOOD = {"id": "e1", "amount": 12.5, "purpose": "car"}
RAW = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("body", "status", "field", "says"),
    [
        # numbers
        (b'{"record": {"id": "a", "amount": 1' + b"0" * 400 + b"}}", 400, "amount", "64 bits"),
        (b'{"record": {"id": "a", "amount": 1e309}}', 400, "body", "out of range"),
        (b'{"record": {"id": "a", "amount": Infinity}}', 400, "body", "not valid JSON"),
        (b'{"record": {"id": "a", "amount": -Infinity}}', 400, "body", "not valid JSON"),
        (b'{"record": {"id": "a", "amount": NaN}}', 400, "body", "send null"),
        (b'{"record": {"id": "a", "amount": null}}', 200, None, None),
        (b'{"record": {"id": "a", "amount": true}}', 400, "amount", "expected a number"),
        (b'{"record": {"id": "a", "amount": "12"}}', 400, "amount", "expected a number"),
        (b'{"record": {"id": "a", "amount": [1]}}', 400, "amount", "expected a number"),
        (b'{"record": {"id": "a", "amount": 9223372036854775807}}', 200, None, None),
        (b'{"record": {"id": "a", "amount": -0.0}}', 200, None, None),
        (b'{"record": {"id": "a", "amount": 5e-324}}', 200, None, None),
        # strings, encodings, control characters
        (b'{"record": {"id": "a", "amount": 1, "purpose": "\xff"}}', 400, "body", "utf-8"),
        (b'{"record": {"id": "a\\u0000b", "amount": 1}}', 400, "id", "NUL"),
        (b'{"record": {"id": "' + b"x" * 201 + b'", "amount": 1}}', 400, "id", "200"),
        (b'{"record": {"id": "' + b"x" * 200 + b'", "amount": 1}}', 200, None, None),
        (b'{"record": {"id": {"a": 1}, "amount": 1}}', 400, "id", "string or an integer"),
        (b'{"record": {"id": 12345678901234567890123, "amount": 1}}', 400, "id", "64 bits"),
        (b'{"record": {"id": 42, "amount": 1}}', 200, None, None),
        (b'{"record": {"id": "\\u00e9\\u6f22\\ud83d\\ude00", "amount": 1}}', 200, None, None),
        (b'{"record": {"id": "\\ud800", "amount": 1}}', 400, "body", ""),
        (b'{"record": {"id": "a\\u0007\\t", "amount": 1}}', 200, None, None),
        (b'{"record": {"id": "a", "amount": 1, "purpose": "plane"}}', 400, "purpose", "category"),
        (b'{"record": {"id": "a", "amount": 1, "purpose": null}}', 200, None, None),
        # shape
        (b'{"record": {"id": "a", "amount": 1, "colour": "red"}}', 400, "colour", "unknown"),
        (b'{"record": {"id": "a"}}', 400, "amount", "missing"),
        (b'{"records": []}', 400, "records", "at least 1"),
        (b'{"dataframe_records": []}', 400, "dataframe_records", "at least 1"),
        (b'{"records": [1, 2]}', 400, "0", ""),
        (b'{"record": []}', 400, "record", ""),
        (b"[]", 400, "body", ""),
        (b"", 400, "body", ""),
        (b"{not json", 400, "body", "JSON"),
        (
            b'{"record": {"id": "a", "amount": 1}, "records": [{"id": "b", "amount": 1}]}',
            400,
            "body",
            "exactly one",
        ),
        (b'{"rows": [{"id": "a", "amount": 1}]}', 400, "rows", ""),
        (
            b'{"record": {"id": "a", "amount": 1}, "record": {"id": "b", "amount": 1}}',
            200,
            None,
            None,
        ),  # duplicate keys: the last wins, like every JSON parser here
        (b"[" * 100_00 + b"]" * 100_00, 400, "body", ""),
        (
            b'{"record": {"id": "a", "amount": 1, "purpose": "' + b"p" * 1001 + b'"}}',
            400,
            "purpose",
            "1000",
        ),
        (
            b'{"record": {"id": "a", "amount": 1, "purpose": "' + b"p" * 70_000 + b'"}}',
            413,
            None,
            "larger",
        ),
    ],
)
def test_gateway_bad_input_corpus_answers_and_logs_consistently(
    gateway: TestClient, body: bytes, status: int, field: str | None, says: str | None
) -> None:
    r = gateway.post("/v1/u/predict", content=body, headers=RAW)
    assert r.status_code == status, r.text
    if status == 400:
        detail = r.json()["detail"]
        assert isinstance(detail, list) and detail
        assert field in [str(p) for p in detail[0]["loc"]], detail
        assert says.lower() in detail[0]["msg"].lower(), detail
    elif status == 413:
        assert says in r.json()["detail"]
    answered = len(r.json()["predictions"]) if status == 200 else 0
    assert _count(gateway, store.predictions) == answered
    # client errors never reach a model: no challenger error logged for them
    if status != 200:
        assert _count(gateway, store.prediction_errors) == 0
    # every answer counted once; a refusal with a named reason (never a bare http_<status>)
    refused = _refusals(gateway)
    assert sum(refused.values()) == (1 if status >= 400 else 0), refused
    assert set(refused) <= set(REFUSAL_REASONS), refused
    assert (
        _sample(gateway, "requests_total", route="/v1/{usecase}/predict", status=str(status)) == 1
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "reason"),
    [
        ("POST", "/v1/u/predict", b'{"record": {"id": "a", "amount": NaN}}', 400, "invalid_json"),
        ("POST", "/v1/u/predict", b"{not json", 400, "invalid_json"),
        (
            "POST",
            "/v1/u/feedback",
            b'{"labels": [{"entity_id": "e", "label": NaN}]}',
            400,
            "invalid_json",
        ),
        ("POST", "/v1/u/predict", b'{"rows": [{"id": "a", "amount": 1}]}', 400, "invalid_body"),
        ("POST", "/v1/u/feedback", b'{"labels": [{"label": 1}]}', 400, "invalid_body"),
        (
            "POST",
            "/v1/u/predict",
            b'{"record": {"id": "a", "amount": "12"}}',
            400,
            "invalid_record",
        ),
        (
            "POST",
            "/v1/u/predict",
            b'{"record": {"id": "a", "purpose": "' + b"p" * 70_000 + b'"}}',
            413,
            "body_too_large",
        ),
        (
            "POST",
            "/v1/nope/predict",
            b'{"record": {"id": "a", "amount": 1}}',
            404,
            "unknown_usecase",
        ),
        ("GET", "/v1/nope", b"", 404, "unknown_usecase"),
        ("GET", "/v1/u/predict", b"", 405, "http_405"),
        ("GET", "/nothing-here", b"", 404, "http_404"),
    ],
)
def test_every_refused_request_is_counted_with_why_and_nothing_is_logged(
    gateway: TestClient, method: str, path: str, body: bytes, status: int, reason: str
) -> None:
    r = gateway.request(method, path, content=body or None, headers=RAW)
    assert r.status_code == status, r.text
    assert _refusals(gateway) == {reason: 1}
    assert _count(gateway, store.predictions) == 0
    assert _count(gateway, store.feedback) == 0
    assert _count(gateway, store.prediction_errors) == 0


def _metrics(client: TestClient) -> str:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return r.text


def _sample(client: TestClient, name: str, **labels: str) -> float | None:
    return sample(_metrics(client), f"mlstack_gateway_{name}", **labels)


def _refusals(client: TestClient) -> dict[str, float]:
    """``refused_total`` by reason, the reasons counted at least once."""
    out = {}
    for family in text_string_to_metric_families(_metrics(client)):
        for s in family.samples:
            if s.name == "mlstack_gateway_refused_total" and s.value:
                out[s.labels["reason"]] = s.value
    return out


def test_gateway_batch_counts_add_up_and_challenger_errors_are_real_ones(
    gateway: TestClient,
) -> None:
    recs = [{"id": f"e{i}", "amount": float(i - 5)} for i in range(40)]
    r = gateway.post("/v1/u/predict", json={"records": recs})
    assert r.status_code == 200
    out = r.json()["predictions"]
    # the failing challenger's records were answered by the champion
    assert len(out) == 40 and {p["model_version"] for p in out} == {1}
    bad = gateway.post("/v1/u/predict", json={"records": [*recs[:5], {"id": "x", "amount": "1"}]})
    assert bad.status_code == 400 and bad.json()["detail"][0]["loc"][2:] == [5, "amount"]
    assert _count(gateway, store.predictions) == 40
    errors = _count(gateway, store.prediction_errors)
    assert errors == 1  # one failed challenger call (the batch), none for the bad request
    assert gateway.get("/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("label", "status", "field"),
    [
        ({"prediction_id": "p1", "label": 1.0}, 202, None),
        ({"prediction_id": "p1", "label": "Infinity"}, 400, "body"),
        ({"prediction_id": "p1", "label": float("nan")}, 400, "body"),
        ({"prediction_id": "p1", "label": 1e308 * 10}, 400, "body"),
        ({"prediction_id": "p1", "label": "1.5"}, 202, None),
        ({"prediction_id": "p" * 37, "label": 1.0}, 400, "prediction_id"),
        ({"entity_id": "e" * 201, "label": 1.0}, 400, "entity_id"),
        ({"entity_id": "a\x00b", "label": 1.0}, 400, "entity_id"),
        ({"entity_id": 42, "label": 0.0}, 202, None),
        ({"label": 1.0}, 400, "0"),
        ({"prediction_id": "p1", "label": 1.0, "extra": 1}, 400, "extra"),
        ({"prediction_id": "", "label": 1.0}, 400, "prediction_id"),
    ],
)
def test_gateway_feedback_corpus(
    gateway: TestClient, label: dict[str, Any], status: int, field: str | None
) -> None:
    body = json.dumps({"labels": [label]}, allow_nan=True).replace('"Infinity"', "Infinity")
    r = gateway.post("/v1/u/feedback", content=body.encode(), headers=RAW)
    assert r.status_code == status, r.text
    if status == 400:
        assert field in [str(p) for p in r.json()["detail"][0]["loc"]]
    else:
        assert "journaled" in r.json()["detail"]
    assert _count(gateway, store.feedback) == (1 if status == 202 else 0)


def test_gateway_feedback_repeat_replaces_the_label(gateway: TestClient) -> None:
    for label in (1.0, 0.0, 1.0, 0.0):
        r = gateway.post(
            "/v1/u/feedback", json={"labels": [{"prediction_id": "p9", "label": label}]}
        )
        assert r.status_code == 202
    logger = gateway.app.state.service.logger  # type: ignore[attr-defined]
    logger.flush()
    with logger.engine.connect() as conn:
        rows = conn.execute(sa.select(store.feedback.c.label)).scalars().all()
    assert rows == [0.0]


def test_gateway_openapi_describes_records_and_every_status(gateway: TestClient) -> None:
    doc = gateway.get("/openapi.json").json()
    for path in ("/v1/{usecase}/predict", "/v1/{usecase}/feedback"):
        statuses = set(doc["paths"][path]["post"]["responses"])
        assert {"400", "404", "413", "503"} <= statuses and "422" not in statuses
    record = doc["components"]["schemas"]["Record_u"]
    assert record["additionalProperties"] is False and record["required"] == ["amount"]
    assert record["properties"]["purpose"]["anyOf"][0]["enum"] == PURPOSES
    assert "id" in record["properties"]


# --- fuzzing ---------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["car", "home", "plane", "\x00", "\ud7ff", "e" * 250])
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
KEYS = st.sampled_from(["id", "amount", "purpose", "colour", ""]) | st.text(max_size=8)
RECORDS = st.dictionaries(KEYS, VALUES, max_size=5)
BODIES = st.fixed_dictionaries(
    {},
    optional={
        "record": RECORDS | VALUES,
        "records": st.lists(RECORDS, max_size=4) | VALUES,
        "dataframe_records": st.lists(RECORDS, max_size=2),
        "labels": st.lists(st.dictionaries(KEYS, VALUES, max_size=3), max_size=2),
    },
)
SPECIALS = st.sampled_from(
    [b"NaN", b"Infinity", b"-Infinity", b"1e309", b"-1e309", b"1" + b"0" * 400, b'"\xff\xfe"']
)


def _check_answer(r: Any) -> None:
    assert r.status_code < 500, r.text
    if r.status_code == 400:
        detail = r.json()["detail"]
        assert detail and all(d["loc"] and d["loc"][0] == "body" and d["msg"] for d in detail)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=BODIES, route=st.sampled_from(["predict", "feedback"]))
def test_gateway_fuzzed_json_bodies_never_give_5xx(
    gateway: TestClient, body: dict[str, Any], route: str
) -> None:
    r = gateway.post(f"/v1/u/{route}", content=json.dumps(body).encode(), headers=RAW)
    _check_answer(r)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    record=st.dictionaries(st.sampled_from(["id", "amount", "purpose"]), SCALARS),
    special=SPECIALS,
    where=st.sampled_from(["id", "amount", "purpose"]),
)
def test_gateway_fuzzed_raw_numbers_and_bytes_never_give_5xx(
    gateway: TestClient, record: dict[str, Any], special: bytes, where: str
) -> None:
    marker = "__SPECIAL__"
    body = json.dumps({"record": {**record, where: marker}}).encode()
    body = body.replace(json.dumps(marker).encode(), special)
    r = gateway.post("/v1/u/predict", content=body, headers=RAW)
    _check_answer(r)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=200))
def test_gateway_fuzzed_raw_bytes_never_give_5xx(gateway: TestClient, data: bytes) -> None:
    _check_answer(gateway.post("/v1/u/predict", content=data, headers=RAW))
    _check_answer(gateway.post("/v1/u/feedback", content=data, headers=RAW))
