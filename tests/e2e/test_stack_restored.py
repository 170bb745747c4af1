"""Backup, then ``down --volumes``, then restore, on the e2e stack: after the lifecycle and
metrics tests (files run in name order; the deploy switch comes after this one), as an
operator would run ``make backup`` and ``make restore FROM=...`` (infra/stack.py's
``backup_stack`` and ``restore_stack``, the functions those targets call).

Before and after, the same records are read in the scheduler: MLflow's model versions and
aliases; mlstack's catalog versions, monitoring metrics and alerts, predictions, labels,
promotion and rollout decisions, registry mirror and model digests (a checksum of every
row); the objects of the ``lake`` and ``mlflow`` buckets (keys and sizes). Everything there
before must be there after, unchanged (the restarted scheduler may add rows of its own, so
"after" may hold more), ``mlstack check-restore`` (run by ``restore_stack``) must find every
file the records name, and the gateway must serve the same champion.

Then ``make upgrade``'s steps on the restored stack, and the same records compared again.

The CI's S3 stand-in keeps its objects in memory: ``down --volumes`` empties it as it
empties a real MinIO's volume, so the buckets come back from the backup alone.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from e2e_stack import Stack, stackctl

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

USECASE = "credit_default"

#: run in the scheduler: what a restore must bring back, as JSON
SNAPSHOT = """
import hashlib, json
import boto3
import sqlalchemy as sa
from mlstack import registry, store
from mlstack.settings import get_settings

s = get_settings()
out = {"tables": {}, "models": {}, "buckets": {}}
tables = ["catalog_versions", "monitoring_metrics", "monitoring_alerts", "predictions",
          "feedback", "promotion_decisions", "rollouts", "rollout_decisions",
          "registry_versions", "registry_aliases", "model_digests", "retrain_requests"]
with store.engine(s, create=False).connect() as c:
    for name in tables:
        table = store.metadata.tables[name]
        # a running rollout's row moves on by itself: its identity, not its state
        columns = [table.c[k] for k in ("rollout_id", "usecase", "challenger_version",
                                        "started_at")] if name == "rollouts" else [table]
        rows = c.execute(sa.select(*columns)).mappings().all()
        out["tables"][name] = sorted(
            hashlib.sha256(json.dumps(dict(r), default=str, sort_keys=True).encode()).hexdigest()
            for r in rows
        )
mlflow = registry.client(s)
for model in mlflow.search_registered_models():
    versions = mlflow.search_model_versions(f"name='{model.name}'")
    out["models"][model.name] = {
        "aliases": dict(model.aliases),
        "versions": sorted([int(v.version), v.run_id, v.source] for v in versions),
    }
s3 = boto3.client("s3", endpoint_url=s.s3_endpoint_url, region_name=s.s3_region,
                  aws_access_key_id=s.s3_access_key_id,
                  aws_secret_access_key=s.s3_secret_access_key)
for bucket in ("lake", "mlflow"):
    keys = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    out["buckets"][bucket] = keys
print(json.dumps(out))
"""


def snapshot(compose: stackctl.Compose) -> dict:
    """The records and objects a restore must bring back (see the module docstring)."""
    out = compose.run("exec", "-T", "airflow-scheduler", "python", "-c", SNAPSHOT, capture=True)
    return json.loads(out.strip().splitlines()[-1])


def served_champion(stack: Stack, timeout: float = 240) -> int:
    """The champion version the gateway serves (it loads it a few seconds after a start)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(f"{stack.gateway_url}/v1/{USECASE}", timeout=10)
        body = answer.json() if answer.status_code == 200 else {}
        version = (body.get("champion") or {}).get("version")
        if version is not None or time.monotonic() > deadline:
            assert version is not None, (answer.status_code, answer.text)
            return int(version)
        time.sleep(3)


def assert_kept(before: dict, after: dict, what: str) -> None:
    """Every model version and alias, table row and bucket object of ``before`` is in
    ``after``, unchanged ("after" may hold more: the restarted scheduler adds rows)."""
    for name, model in before["models"].items():
        assert after["models"][name]["aliases"] == model["aliases"], name
        assert set(map(tuple, model["versions"])) <= set(
            map(tuple, after["models"][name]["versions"])
        )
    for name, rows in before["tables"].items():
        lost = set(rows) - set(after["tables"][name])
        assert not lost, f"{name}: {len(lost)} of {len(rows)} rows lost (or changed) by the {what}"
    counts = {
        name: (len(rows), len(after["tables"][name])) for name, rows in before["tables"].items()
    }
    stackctl.say(f"e2e: rows before -> after the {what}: {counts}")
    for bucket in ("lake", "mlflow"):
        missing = sorted(set(before["buckets"][bucket]) - set(after["buckets"][bucket]))
        assert not missing, f"{bucket}: {len(missing)} objects lost by the {what}: {missing[:5]}"
        changed = [k for k, size in before["buckets"][bucket].items()
                   if after["buckets"][bucket][k] != size]  # fmt: skip
        assert not changed, f"{bucket}: sizes differ for {changed[:5]}"


def test_backup_then_down_volumes_then_restore(stack: Stack, tmp_path: Path) -> None:
    compose = stack.compose
    before = snapshot(compose)
    assert before["models"].get(USECASE, {}).get("aliases", {}).get("champion"), before["models"]
    assert before["tables"]["predictions"] and before["buckets"]["lake"], "nothing to lose"
    champion = served_champion(stack)

    dest = tmp_path / "backups"
    stackctl.backup_stack(compose, str(dest))
    [backup] = [p for p in dest.iterdir() if p.is_dir()]
    assert (backup / "manifest.json").exists(), sorted(p.name for p in backup.iterdir())

    stackctl.say("e2e: down --volumes, then restore onto the empty stack")
    compose.run("down", "--volumes", "--remove-orphans")
    stackctl.restore_stack(compose, str(backup))  # ends with `mlstack check-restore`

    assert_kept(before, snapshot(compose), "restore")
    assert served_champion(stack) == champion


def test_upgrade_migrates_in_place_keeps_everything_and_says_the_way_back(
    stack: Stack, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """`make upgrade` on the restored stack: its backup, then ``infra/stack.py upgrade`` (the
    image that ran kept under a tag, the image built again, the app services stopped, the
    three databases migrated — airflow db migrate, mlflow db upgrade, mlstack db upgrade —
    every service started and healthy, then all but the newest three pre-upgrade images
    removed: three older ones are tagged first, so the oldest must go). The same source is
    built, so this checks the steps on real containers and databases, not a schema change
    (tests/integration's migration tests start from the previous release's schema with rows
    in it)."""
    compose = stack.compose
    before = snapshot(compose)
    champion = served_champion(stack)
    dest = tmp_path / "backups"
    stackctl.backup_stack(compose, str(dest))  # what `make upgrade` runs first
    # three older upgrades' images, as a VM upgraded before has them (tags of the running image)
    image = compose.project_image()
    repository = stackctl._repository(image)  # as the upgrade names its tags
    older = [f"{repository}:pre-upgrade-2000010{n}-000000" for n in (1, 2, 3)]
    for tag in older:
        stackctl.docker("tag", image, tag)
    try:
        stackctl.upgrade(compose, "make backup")
        printed = capfd.readouterr()
        left = stackctl.docker("image", "ls", "--format", "{{.Tag}}", repository).split()
    finally:
        for tag in older:
            subprocess.run(["docker", "image", "rm", tag], capture_output=True, check=False)
    # this upgrade's own is the newest; of the newest KEEP_IMAGES (3) at most two are ours
    assert f"removed {older[0]}" in printed.out, printed.out
    assert older[0].rsplit(":", 1)[1] not in left, left
    kept_tags = sorted((t for t in left if stackctl.PREVIOUS_TAG.fullmatch(t)), reverse=True)
    assert len(kept_tags) == stackctl.KEEP_IMAGES, left
    assert "airflow db migrate" in printed.out and "mlstack db upgrade" in printed.out
    assert "The way back" in printed.out and "make restore FROM=" in printed.out, printed.out
    kept = re.search(r"kept as (\S+)", printed.out)
    assert kept, printed.out
    stackctl.docker("image", "inspect", kept.group(1))  # the way back's image exists
    assert_kept(before, snapshot(compose), "upgrade")
    current = compose.run(
        "exec", "-T", "airflow-scheduler", "mlstack", "db", "current", capture=True
    )
    assert current.strip().endswith("(head)"), current
    assert served_champion(stack) == champion
