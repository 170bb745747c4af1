"""After a restore: does every file the records name exist?

Three questions, each answered through the readers the stack itself uses:

* **model versions** (:func:`model_artifacts`): every version of every registered model has
  its artifact files in MLflow's store, and where mlstack recorded a digest, the files match
  it (:func:`mlstack.integrity.check`, as the gateway would before loading);
* **Iceberg snapshots** (:func:`iceberg_snapshots`): every snapshot the catalog names is in
  its table's metadata, and its manifest list, manifests and data files are in the lake;
* **reports** (:func:`linked_reports`): every report an alert or a rollout decision links
  to (what the monitoring pages link) is in the lake.

Each returns the problems found (empty: all there) and :func:`check_stack` all of them.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mlstack import lake, store
from mlstack.exceptions import ModelIntegrityError
from mlstack.monitoring import report_keys
from mlstack.settings import Settings


@dataclass
class StackCheck:
    """What was checked (counts) and what is missing."""

    checked: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def model_artifacts(settings: Settings, check: StackCheck) -> None:
    """Every registered model version's files exist (and match mlstack's digest if any)."""
    from mlstack import integrity, registry

    client = registry.client(settings)
    versions = [
        (m.name, int(v.version))
        for m in client.search_registered_models()
        for v in registry.list_versions(m.name, settings)
    ]
    check.checked["model versions"] = len(versions)
    for name, version in versions:
        with tempfile.TemporaryDirectory(prefix="mlstack-check-") as tmp:
            try:
                folder = integrity.download(name, version, settings, Path(tmp))
            except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds; report them
                check.problems.append(f"model {name} v{version}: artifacts unreadable ({exc})")
                continue
            if not any(p.is_file() for p in folder.rglob("*")):
                check.problems.append(f"model {name} v{version}: no artifact files")
            elif integrity.recorded(name, version, settings) is not None:
                try:
                    integrity.check(name, version, folder, settings)
                except ModelIntegrityError as exc:
                    check.problems.append(str(exc))


def _lake_urls(settings: Settings) -> set[str]:
    """The URL of every object in the lake."""
    return {lake.url(key, settings) for key in lake.list_keys("", settings)}


def _normal(url: str) -> str:
    """An Iceberg file location as :func:`mlstack.lake.url` writes it (``file:`` forms differ)."""
    if not url.startswith("file:"):
        return url
    return "file://" + url.removeprefix("file://").removeprefix("file:")


def iceberg_snapshots(settings: Settings, check: StackCheck) -> None:
    """Every snapshot in ``catalog_versions`` is in its table, with all its files in the lake."""
    d, v = store.datasets.c, store.versions.c
    query = sa.select(d.name, d.table_identifier, v.snapshot_id).join_from(
        store.datasets, store.versions, d.name == v.dataset
    )
    with store.engine(settings).connect() as conn:
        rows = conn.execute(query.order_by(d.name, v.version)).all()
    check.checked["catalog snapshots"] = len(rows)
    existing = {_normal(u) for u in _lake_urls(settings)}
    tables: dict[str, Any] = {}
    for dataset, identifier, snapshot_id in rows:
        try:
            table = tables.get(identifier) or lake.catalog(settings).load_table(identifier)
        except Exception as exc:  # noqa: BLE001 - a missing table or metadata file
            check.problems.append(f"dataset {dataset}: table {identifier} unreadable ({exc})")
            continue
        tables[identifier] = table
        snapshot = table.snapshot_by_id(int(snapshot_id))
        if snapshot is None:
            check.problems.append(f"dataset {dataset}: snapshot {snapshot_id} not in {identifier}")
            continue
        for missing in sorted(_snapshot_files(table, snapshot, existing) - existing):
            check.problems.append(f"dataset {dataset} snapshot {snapshot_id}: {missing} missing")


def _snapshot_files(table: Any, snapshot: Any, existing: set[str]) -> set[str]:
    """The manifest list, manifests and live data files of one snapshot (normalised URLs);
    what cannot be read for a missing file is not followed further (that file is named)."""
    files = {_normal(snapshot.manifest_list)}
    if _normal(snapshot.manifest_list) not in existing:
        return files
    for manifest in snapshot.manifests(table.io):
        files.add(_normal(manifest.manifest_path))
        if _normal(manifest.manifest_path) not in existing:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            files.add(_normal(entry.data_file.file_path))
    return files


def linked_reports(settings: Settings, check: StackCheck) -> None:
    """Every report file an alert or a rollout decision links to is in the lake."""
    a, r = store.monitoring_alerts.c, store.rollout_decisions.c
    with store.engine(settings).connect() as conn:
        alerts = conn.execute(sa.select(a.usecase, a.report_uri).where(a.report_uri.is_not(None)))
        decisions = conn.execute(
            sa.select(r.usecase, r.rollout_id, r.report_uri).where(r.report_uri.is_not(None))
        )
        keys = {
            report_keys.daily_report_key(uc, *found)
            for uc, uri in alerts
            if (found := report_keys.daily_report_of_uri(uc, uri))
        }
        for uc, rollout_id, uri in decisions:
            for name in report_keys.rollout_report_files(uc, rollout_id, uri):
                keys.add(report_keys.rollout_report_key(uc, rollout_id, name))
    wanted = sorted(k for k in keys if k)
    check.checked["linked reports"] = len(wanted)
    present = set(lake.list_keys(report_keys.REPORTS, settings))
    check.problems += [f"report {key} missing" for key in wanted if key not in present]


def check_stack(settings: Settings) -> StackCheck:
    """All three checks on the configured stack."""
    check = StackCheck()
    for step in (model_artifacts, iceberg_snapshots, linked_reports):
        step(settings, check)
    return check
