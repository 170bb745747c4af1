"""API keys on the in-process gateway (mlstack DB on PostgreSQL): every bad request is a
clear 4xx — missing, malformed, unknown, expired, revoked key (401), a key for another use
case or without the scope (403), over the rate limit (429), an oversized body (413) —
counted in /metrics by reason, logged by key id (never the key) and never logged as a
prediction or a label; a key created while the gateway runs works on its first request."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from gateway_helpers import applications, gateway_client, records, register_model
from mlstack import store
from mlstack.gateway import keys
from mlstack.gateway.metrics import sample
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration
UC = "credit_default"
JSON = {"Content-Type": "application/json"}


def _count(settings: Any, table: sa.Table) -> int:
    with store.engine(settings).connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _auth(text: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {text}"}


def test_keys_guard_predict_and_feedback(
    pg_s3_settings: Any, credit_spec: Any, tmp_path: Any
) -> None:
    s = pg_s3_settings
    register_model(credit_spec, s, estimator="linear", alias="champion")
    both, both_text = keys.create("svc", [UC], ["predict", "feedback"], s)
    _, predict_only = keys.create("app", [UC], ["predict"], s)
    _, other_uc = keys.create("other", ["diabetes"], ["predict", "feedback"], s)
    expired, expired_text = keys.create("old", [UC], ["predict"], s, expires="1h")
    with store.engine(s).begin() as conn:
        conn.execute(
            sa.update(store.gateway_keys)
            .where(store.gateway_keys.c.key_id == expired.key_id)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    _, limited = keys.create("busy", [UC], ["predict"], s)
    _, sloppy = keys.create("sloppy", [UC], ["predict", "feedback"], s)
    body = {"record": records(credit_spec, applications(1))[0]}
    feedback = {"labels": [{"entity_id": "e-1", "label": 1.0}]}
    predict, send_labels = f"/v1/{UC}/predict", f"/v1/{UC}/feedback"
    client = gateway_client(
        s,
        tmp_path,
        UC,
        require_keys=True,
        key_cache_ttl_s=0.2,
        key_rate_per_s=0.001,
        key_burst=3,
        max_body_bytes=4096,
        access_log_file=tmp_path / "access.log",
    )
    with client:
        ok = client.post(predict, json=body, headers=_auth(both_text))
        assert ok.status_code == 200, ok.text
        assert client.get(f"/v1/{UC}", headers=_auth(predict_only)).status_code == 200
        assert client.get("/v1", headers=_auth(other_uc)).status_code == 200
        assert client.get("/health").status_code in (200, 503)  # open: no key needed
        refused = {
            "missing": client.post(predict, json=body),
            "malformed": client.post(predict, json=body, headers={"Authorization": "Bearer x"}),
            "unknown": client.post(predict, json=body, headers=_auth(both_text[:-2] + "zz")),
            "expired": client.post(predict, json=body, headers=_auth(expired_text)),
            "usecase": client.post(predict, json=body, headers=_auth(other_uc)),
            "scope": client.post(send_labels, json=feedback, headers=_auth(predict_only)),
        }
        for reason, r in refused.items():
            assert r.status_code == (403 if reason in ("usecase", "scope") else 401), reason
            assert r.json()["reason"] == reason and r.json()["detail"], r.text
        assert "Bearer" in refused["missing"].headers["www-authenticate"]
        assert "--scope feedback" in refused["scope"].json()["detail"]
        big = {"records": [body["record"]] * 40}  # > 4096 bytes
        too_big = client.post(predict, json=big, headers=_auth(both_text))
        assert too_big.status_code == 413 and "MAX_BODY_BYTES" in too_big.text
        answers = [client.post(predict, json=body, headers=_auth(limited)) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["reason"] == "rate_limited"
        assert int(answers[-1].headers["retry-after"]) >= 1
        bad_body = {  # a valid key, a body the gateway refuses: counted by why, not scored
            "invalid_record": client.post(
                predict,
                json={"record": {**body["record"], "credit_score": "high"}},
                headers=_auth(sloppy),
            ),
            "invalid_json": client.post(
                predict, content=b'{"record": NaN}', headers={**_auth(sloppy), **JSON}
            ),
            "invalid_body": client.post(send_labels, json={"labels": []}, headers=_auth(sloppy)),
        }
        assert [r.status_code for r in bad_body.values()] == [400, 400, 400]
        _, fresh = keys.create("new", [UC], ["predict"], s)  # while the gateway runs
        assert client.get(f"/v1/{UC}", headers=_auth(fresh)).status_code == 200  # at once
        keys.revoke(both.key_id, s)
        time.sleep(0.3)  # the gateway's copy of the keys is older than key_cache_ttl_s:
        client.get(f"/v1/{UC}", headers=_auth(predict_only))  # the next request re-reads it
        time.sleep(0.5)  # (in a background thread; this request was answered from the copy)
        revoked = client.post(predict, json=body, headers=_auth(both_text))
        assert revoked.status_code == 401 and revoked.json()["reason"] == "revoked"
        metrics = client.get("/metrics").text
        for reason in [*refused, *bad_body, "body_too_large", "rate_limited", "revoked"]:
            assert sample(metrics, "mlstack_gateway_refused_total", reason=reason) == 1, reason
        counted = {"refused": 0.0, "4xx": 0.0}  # every 4xx answer is one refusal
        for family in text_string_to_metric_families(metrics):
            for x in family.samples:
                if x.name == "mlstack_gateway_refused_total":
                    counted["refused"] += x.value
                elif x.name == "mlstack_gateway_requests_total" and x.labels["status"][0] == "4":
                    counted["4xx"] += x.value
        assert counted["refused"] == counted["4xx"] == len(refused) + len(bad_body) + 3
    # the gateway stopped: every row it accepted is written; only the 4 answered remain
    assert _count(s, store.predictions) == 4
    assert _count(s, store.feedback) == 0
    lines = (tmp_path / "access.log").read_text().splitlines()
    assert len(lines) == 3 + len(refused) + 1 + 4 + len(bad_body) + 3  # every /v1 request
    assert any(f"key={both.key_id} " in line and " 200 " in line for line in lines)
    assert any("key=- " in line and " 401 " in line for line in lines)
    secrets = (both_text, predict_only, other_uc, expired_text, limited)
    assert not any(sec in line for sec in secrets for line in lines)
