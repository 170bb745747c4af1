"""The command line as a user meets it: the demo twice, ingest, catalog, validate."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mlstack.cli import main

pytestmark = pytest.mark.integration


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_runs_twice_and_replaces_the_same_days(airflow_db, embedded_settings) -> None:
    from mlstack.stages import catalog

    first = invoke("demo", "--days", "3", "--rows", "300")
    assert "demo summary" in first and "3 days" in first
    # no terminal: a line per simulated day, as it ends
    assert "day 1/3 2026-01-01 ingest: " in first and "day 3/3 2026-01-03 ingest: " in first
    rows_after_first = catalog.get_version("credit_default")["total_rows"]
    second = invoke("demo", "--days", "3", "--rows", "300")
    assert "demo summary" in second
    latest = catalog.get_version("credit_default")
    assert latest["total_rows"] == rows_after_first  # replaced, not duplicated
    assert latest["version"] == 6  # but every run is a version
    assert (embedded_settings.home / "demo.log").exists()


def test_demo_reset_only_removes_the_data(embedded_settings) -> None:
    embedded_settings.home.mkdir(parents=True)
    (embedded_settings.home / "x").write_text("x")
    assert "removed" in invoke("demo", "--reset-only")
    assert not embedded_settings.home.exists()


def test_ingest_then_catalog_commands(embedded_settings) -> None:
    out = invoke("ingest", "credit_default", "--date", "2026-01-03", "--land")
    assert "accepted" in out and "v1" in out
    listing = invoke("catalog", "list")
    assert "credit_default" in listing and "credit_default_labels" in listing
    shown = invoke("catalog", "show", "credit_default")
    assert "day=2026-01-03" in shown and "lineage" in shown and "credit_score" in shown
    assert '"snapshot_id"' in invoke("catalog", "show", "credit_default", "--json")


def test_catalog_show_unknown_dataset_is_a_clean_error(embedded_settings) -> None:
    result = CliRunner().invoke(main, ["catalog", "show", "nope"])
    assert result.exit_code == 2
    assert "no dataset 'nope' in the catalog" in result.output


def test_ingest_bad_date_says_how_to_fix(embedded_settings) -> None:
    result = CliRunner().invoke(main, ["ingest", "credit_default", "--date", "03/01/2026"])
    assert result.exit_code == 2 and "use YYYY-MM-DD" in result.output


def test_usecases_validate_reports_broken_spec(tmp_path: Path, embedded_settings) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "usecase.yaml").write_text("name: broken\nowner: me\n")
    result = CliRunner().invoke(main, ["usecases", "validate", str(tmp_path / "broken")])
    assert result.exit_code == 1
    assert "description: Field required" in result.output
    assert "valid" in invoke("usecases", "validate")


def test_init_prepares_backends(pg_s3_settings) -> None:
    out = invoke("init", "--extra-bucket", "mlflow-test")
    from mlstack.migrations import HEAD

    assert "bucket mlflow-test: created" in out and f"tables at revision {HEAD}" in out
    assert "bucket mlflow-test: exists" in invoke("init", "--extra-bucket", "mlflow-test")


def test_usecases_new_scaffolds_a_valid_spec(tmp_path: Path, monkeypatch) -> None:
    from mlstack.settings import get_settings

    monkeypatch.setenv("MLSTACK_USECASES_DIR", str(tmp_path))
    get_settings.cache_clear()
    invoke("usecases", "new", "churn")
    assert "valid" in invoke("usecases", "validate", str(tmp_path / "churn"))
