"""The gateway's hot path answers like the FastAPI route it shortcuts, and hands it the rest."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from mlstack.gateway.api.fast_predict import PredictHotPath
from mlstack.gateway.api.routes import predictions
from mlstack.gateway.app import bad_request
from mlstack.gateway.metrics import Metrics
from mlstack.gateway.model_cache import InputField, LoadedModel, Serving
from mlstack.gateway.one_write_http import CoalescingTransport
from mlstack.gateway.prediction_log import PredictionLogger
from mlstack.gateway.service import PredictionService


def _service(tmp_path: Path) -> PredictionService:
    model = LoadedModel(
        "u",
        3,
        None,
        [InputField("id", "string", True), InputField("x", "double", True)],
        "classification",
        0.5,
        fast=lambda recs: np.array([0.25 + 0.5 * (r["x"] > 0) for r in recs]),
    )
    cache: Any = SimpleNamespace(
        specs={"u": SimpleNamespace(schema=SimpleNamespace(id_column="id", columns={}))},
        get=lambda name: Serving(champion=model),
    )
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    return PredictionService(cache, PredictionLogger(eng, tmp_path / "spool"), Metrics(), 0.0)


def _client(tmp_path: Path, hot: bool) -> TestClient:
    app = FastAPI()
    app.include_router(predictions.router)
    app.add_exception_handler(RequestValidationError, bad_request)
    if hot:
        app.add_middleware(PredictHotPath)
    app.state.service = _service(tmp_path / ("hot" if hot else "plain"))
    return TestClient(app)


@pytest.fixture
def clients(tmp_path: Path) -> tuple[TestClient, TestClient]:
    (tmp_path / "hot").mkdir()
    (tmp_path / "plain").mkdir()
    return _client(tmp_path, True), _client(tmp_path, False)


def _strip_ids(body: Any) -> Any:
    for p in body.get("predictions", []):
        assert len(p.pop("prediction_id")) == 36
    return body


def test_hot_path_answers_and_logs_like_the_route(clients: tuple[TestClient, TestClient]) -> None:
    hot, plain = clients
    for body in (
        {"record": {"id": "a", "x": 1.5}},
        {"records": [{"id": "a", "x": 1.5}, {"id": "b", "x": -2}]},
        {"dataframe_records": [{"id": "c", "x": 0}], "record": None},
    ):
        a, b = hot.post("/v1/u/predict", json=body), plain.post("/v1/u/predict", json=body)
        assert a.status_code == b.status_code == 200
        assert a.headers["content-type"] == b.headers["content-type"]
        assert _strip_ids(a.json()) == _strip_ids(b.json())
    service = hot.app.state.service  # type: ignore[attr-defined]
    assert service.logger.pending()["queued"] == 4
    # and it is the hot path that answered: without the route it still does
    bare = FastAPI()
    bare.add_middleware(PredictHotPath)
    bare.state.service = service
    assert (
        TestClient(bare)
        .post("/v1/u/predict", json={"record": {"id": "z", "x": 1}})
        .json()["predictions"][0]["score"]
        == 0.75
    )
    answered = service.metrics.value(
        "mlstack_gateway_predictions_total", usecase="u", variant="champion"
    )
    assert answered == 5


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("/v1/u/predict", {"json": {"record": {"id": "a", "x": "high"}}}),  # signature: 400 names x
        ("/v1/u/predict", {"json": {"record": {"id": "a"}}}),  # missing field
        ("/v1/u/predict", {"json": {"rows": [{"id": "a", "x": 1}]}}),  # unknown form
        ("/v1/u/predict", {"json": {"record": {"id": "a", "x": 1}, "records": []}}),  # two forms
        (
            "/v1/u/predict",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
        ),
        ("/v1/u/predict", {"content": b"x=1", "headers": {"content-type": "text/plain"}}),
        ("/v1/nope/predict", {"json": {"record": {"id": "a", "x": 1}}}),  # unknown use case
    ],
)
def test_hot_path_leaves_errors_to_the_route(
    clients: tuple[TestClient, TestClient], path: str, kwargs: dict[str, Any]
) -> None:
    hot, plain = clients
    a, b = hot.post(path, **kwargs), plain.post(path, **kwargs)
    assert a.status_code == b.status_code and a.status_code in (400, 404)
    if "json_invalid" in a.text:  # the hot path says why msgspec refused; FastAPI less
        assert a.json()["detail"][0]["loc"] == b.json()["detail"][0]["loc"] == ["body"]
    else:
        assert a.json() == b.json()
    if a.status_code == 400 and "expected a number" in a.text:
        assert a.json()["detail"][0]["loc"][3] == "x"
    assert hot.app.state.service.logger.pending()["queued"] == 0  # type: ignore[attr-defined]


def test_coalescing_transport_writes_once_per_loop_step() -> None:
    class Sink:
        def __init__(self) -> None:
            self.writes: list[bytes] = []
            self.closed = False

        def write(self, data: bytes) -> None:
            self.writes.append(data)

        def is_closing(self) -> bool:
            return self.closed

        def close(self) -> None:
            self.closed = True

        def get_extra_info(self, name: str) -> str:
            return name

    async def main() -> Sink:
        sink = Sink()
        t = CoalescingTransport(sink, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.write(b"{}")
        assert sink.writes == [] and t.get_extra_info("peername") == "peername"
        await asyncio.sleep(0)
        assert sink.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
        t.write(b"bye")
        t.close()  # close sends what is buffered first
        assert sink.writes[-1] == b"bye" and sink.closed
        return sink

    asyncio.run(main())
