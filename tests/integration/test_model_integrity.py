"""Model integrity on the stack's backends (MLflow server, artifacts in S3 on moto, mlstack
DB on PostgreSQL): promotion records the digest; a version whose files were altered in S3,
or registered outside mlstack, and then given the ``champion`` alias by hand through
MlflowClient is refused by the gateway (which keeps serving the old champion), by the
monitor and by promotion, and each refusal is alerted through the spec's notifier. A
version mlstack trained but never promoted, aliased by hand, is not served either."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from gateway_helpers import applications, gateway_client, records, register_model
from mlflow import MlflowClient
from mlflow import register_model as mlflow_register
from mlstack import integrity, registry, store
from mlstack.cli import main
from mlstack.exceptions import ModelIntegrityError
from mlstack.monitoring import windows
from mlstack.settings import get_settings
from mlstack.specs import get_spec
from mlstack.stages import promote

pytestmark = pytest.mark.integration
UC = "credit_default"


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Events the spec's webhook notifier POSTs (to a local HTTP server), as a list."""
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    notifier = {"kind": "webhook", "options": {"url": url}, "on": ["alert"]}
    overrides = {UC: {"monitoring": {"notifiers": [notifier]}}}
    monkeypatch.setenv("MLSTACK_SPEC_OVERRIDES", json.dumps(overrides))
    get_settings.cache_clear()
    yield received
    server.shutdown()


def _s3_key(mv: Any, name: str, endpoint: str) -> tuple[Any, str, str]:
    """The S3 client, bucket and key of a version's artifact file ``name``."""
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test"
    )
    model_id = mv.source.removeprefix("models:/")
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for obj in page.get("Contents", []):
                if model_id in obj["Key"] and obj["Key"].endswith(f"/{name}"):
                    return s3, bucket["Name"], obj["Key"]
    raise AssertionError(f"no {name} of {mv.source} in S3")


def test_altered_or_foreign_versions_are_refused_everywhere(
    server_settings: Any, s3_endpoint: str, tmp_path: Any, alerts: list[dict[str, Any]]
) -> None:
    s = get_settings()  # with the webhook override
    spec = get_spec(UC)
    for alias in ("champion", "challenger", "candidate"):
        registry.delete_alias(UC, alias, s)
    good = register_model(spec, s, estimator="linear", alias=None)
    decision = promote.override(spec, good, reason="first champion", actor="test", settings=s)
    recorded = integrity.recorded(UC, good, s)
    with store.engine(s).connect() as conn:
        row = conn.execute(
            sa.select(store.promotion_decisions).where(
                store.promotion_decisions.c.id == decision.decision_id
            )
        ).one()
        by = conn.execute(
            sa.select(store.model_digests.c.recorded_by).where(
                store.model_digests.c.usecase == UC, store.model_digests.c.model_version == good
            )
        ).scalars()
        assert sorted(by) == ["promote", "train"]
    assert recorded is not None and row.digest == recorded
    assert registry.get_version(UC, good, s).tags[integrity.TAG] == recorded

    altered = register_model(spec, s, estimator="decision_tree", alias=None, max_depth=3)
    s3, bucket, key = _s3_key(registry.get_version(UC, altered, s), "model.pkl", s3_endpoint)
    _, good_bucket, good_key = _s3_key(registry.get_version(UC, good, s), "model.pkl", s3_endpoint)
    s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": good_bucket, "Key": good_key})
    mlflow = MlflowClient(s.mlflow_tracking_uri)
    good_mv = registry.get_version(UC, good, s)
    foreign = int(mlflow_register(good_mv.source, UC).version)  # by hand, not by mlstack
    trained = register_model(spec, s, estimator="linear", alias=None)  # never promoted
    refusals = (
        (altered, "changed"),
        (foreign, "no digest recorded"),
        (trained, "never promoted"),
    )

    body = {"record": records(spec, applications(1))[0]}
    with gateway_client(s, tmp_path, UC) as client:
        cache = client.app.state.service.cache  # type: ignore[attr-defined]
        assert (
            client.post(f"/v1/{UC}/predict", json=body).json()["predictions"][0]["model_version"]
            == good
        )
        for version, why in refusals:
            mlflow.set_registered_model_alias(UC, "champion", str(version))  # by hand
            cache.refresh()
            assert why in cache.errors[UC]
            answer = client.post(f"/v1/{UC}/predict", json=body)
            assert answer.status_code == 200
            assert answer.json()["predictions"][0]["model_version"] == good
            assert any(
                f"v{version}: model integrity" in a["title"] and why in a["text"] for a in alerts
            ), alerts
            health = client.get("/health").json()
            assert health["usecases"][UC] == good and why in health["errors"][UC]
        cache.refresh()  # the same refusal again is not alerted again
        assert sum(f"v{foreign}:" in a["title"] for a in alerts) == 1

    for version, why in refusals[:2]:  # the monitor reads a trained version's own files
        mlflow.set_registered_model_alias(UC, "champion", str(version))
        before = len(alerts)
        with pytest.raises(ModelIntegrityError, match=why):
            windows.champion_reference(spec, s)  # the monitor's first step
        assert len(alerts) == before + 1
    mlflow.set_registered_model_alias(UC, "champion", str(good))
    for version, why in refusals[:2]:  # a trained version can be promoted: that is the way
        with pytest.raises(ModelIntegrityError, match=why):
            promote.override(spec, version, reason="try", actor="test", settings=s)
        assert registry.aliases_of(UC, s)["champion"] == good  # no alias moved

    cli = CliRunner()
    checked = cli.invoke(main, ["models", "verify", UC, str(altered)])
    assert checked.exit_code == 2 and "changed" in checked.output
    assert cli.invoke(main, ["models", "verify", UC, str(good)]).exit_code == 0
    vouched = cli.invoke(main, ["models", "trust", UC, str(foreign)])
    assert vouched.exit_code == 0, vouched.output
    assert integrity.recorded(UC, foreign, s, promoted=True) is not None
