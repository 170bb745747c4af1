"""The demo's DAG runner (``mlstack.airflow.runner``) on a real Airflow metadata DB: the
dags folder is parsed and written to the DB by the first ``dag.test()`` and again only when
it may have changed; every run in between still runs the real DAG to its results."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_the_dags_folder_is_synced_once_until_it_changes(
    airflow_db: Any, embedded_settings: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import airflow.dag_processing.dagbag as dagbag_module
    from mlstack.airflow import runner

    syncs: list[str] = []
    real_sync = dagbag_module.sync_bag_to_db

    def counting_sync(*args: Any, **kwargs: Any) -> Any:  # a spy: the real sync still runs
        syncs.append(args[1] if len(args) > 1 else kwargs.get("bundle_name", ""))
        return real_sync(*args, **kwargs)

    monkeypatch.setattr(dagbag_module, "sync_bag_to_db", counting_sync)
    monkeypatch.setattr(runner, "_synced_folder", None)
    log = tmp_path / "runner.log"
    dags = runner.load_dags()

    # The Airflow DB is the session's: other tests' ingest events may be there, so this test
    # ingests a day into its own lake first (the catalog reads the latest event).
    runner.run_dag(dags, "credit_default__ingest", {"day": "2026-01-05"}, log)  # the first sync
    for _ in range(3):  # real runs of the DAG, to their results
        result = runner.run_dag(dags, "credit_default__catalog", None, log)
        assert isinstance(result["record_versions"], list), result
    assert len(syncs) == 1, syncs

    spec = runner.DAGS_DIR / "mlstack_dags.py"  # "edited": parsed and written again
    stat = spec.stat()
    os.utime(spec, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    try:
        runner.run_dag(dags, "credit_default__catalog", None, log)
    finally:
        os.utime(spec, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert len(syncs) == 2, syncs
