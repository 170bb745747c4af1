"""Bring-your-own-data specs: the ``sql`` source's options (where the database is, what to
read, the day column) and ``dags.own`` are validated with errors that say what to fix; the
source reads one day of a real (SQLite) table by its day column."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlstack.exceptions import SourceError, SpecError
from mlstack.spec_check import spec_problems
from mlstack.specs import get_spec, load_spec

ROOT = Path(__file__).resolve().parents[2]
USECASES = ROOT / "include" / "usecases"
DAY = date(2026, 1, 2)


def churn_spec(tmp_path: Path, **changes: Any) -> Any:
    """The example ``customer_churn`` spec with top-level sections replaced."""
    raw = yaml.safe_load((USECASES / "customer_churn" / "usecase.yaml").read_text())
    raw.update(changes)
    folder = tmp_path / "customer_churn"
    folder.mkdir(exist_ok=True)
    (folder / "usecase.yaml").write_text(yaml.safe_dump(raw))
    return load_spec(folder)


def source(**options: Any) -> dict[str, Any]:
    return {"kind": "sql", "options": options}


def test_the_example_spec_is_valid_and_declares_its_own_dag() -> None:
    spec = get_spec("customer_churn", USECASES)
    assert spec_problems(spec) == []
    assert spec.source.kind == "sql"
    assert not spec.generated_dags
    assert spec.own_dag_ids() == ["customer_churn__pipeline"]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            {"table": "t"},
            "source.options: give exactly one of url_env (an environment variable holding the "
            "database URL), conn_id (an Airflow connection) or url",
        ),
        (
            {"url_env": "A", "conn_id": "b", "table": "t"},
            "give exactly one of url_env (an environment variable holding the database URL), "
            "conn_id (an Airflow connection) or url; got ['url_env', 'conn_id']",
        ),
        ({"url_env": "A"}, "give exactly one of table (read by day_column) or query"),
        (
            {"url_env": "A", "table": "t", "query": "select 1"},
            "give exactly one of table (read by day_column) or query; got ['table', 'query']",
        ),
        (
            {
                "url_env": "A",
                "query": "select * from t where d = :day",
                "day_column": "renewal_date",
            },
            "the query filters by :day itself, so day_column is not used; remove one",
        ),
        (
            {"url_env": "not a name", "table": "t"},
            "source.options.url_env: must be an environment variable name, e.g. CHURN_DB_URL "
            "(got 'not a name')",
        ),
        (
            {"url_env": "A", "table": "t; drop table x"},
            "source.options.table: must be a table name or schema.table",
        ),
        ({"url_env": "A", "table": "t", "dsn": "x"}, "source.options.dsn: unknown option"),
        (
            {"url_env": "A", "table": "t", "day_column": "signup_day"},
            "source.options.day_column: 'signup_day' is not a column of the features schema",
        ),
        (
            {"url_env": "A", "table": "t", "day_column": "tenure_months"},
            "source.options.day_column: 'tenure_months' is a int column; a day is selected by "
            "a date or timestamp column",
        ),
    ],
)
def test_sql_source_options_are_checked_naming_the_fix(
    tmp_path: Path, options: dict[str, Any], problem: str
) -> None:
    problems = spec_problems(churn_spec(tmp_path, source=source(**options)))
    assert len(problems) == 1, problems
    assert problem in problems[0]


def test_dags_own_with_extra_tasks_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"tasks: places extra tasks in the generated DAGs, but"):
        churn_spec(tmp_path, tasks=[{"task": "report", "after": "monitor"}])


@pytest.mark.parametrize(
    ("own", "message"),
    [
        (["Pipeline"], "DAG names ['Pipeline'] are not allowed: lower_snake_case"),
        (["daily", "daily"], "DAG names ['daily'] listed twice"),
    ],
)
def test_dags_own_names_are_checked(tmp_path: Path, own: list[str], message: str) -> None:
    with pytest.raises(SpecError, match=r"dags\.own: " + message.replace("[", r"\[")):
        churn_spec(tmp_path, dags={"own": own})


def test_a_spec_without_dags_is_generated() -> None:
    spec = get_spec("diabetes", USECASES)
    assert spec.generated_dags and spec.own_dag_ids() == []


# --- the source reading a real table ------------------------------------------------------


def renewals_db(tmp_path: Path) -> str:
    """A SQLite database with renewals on three days (one a timestamp column too)."""
    db = tmp_path / "billing.db"
    rows = [
        ("R1", "2026-01-01", "2026-01-01 23:59:59", 1),
        ("R2", "2026-01-02", "2026-01-02 00:00:00", 0),
        ("R3", "2026-01-02", "2026-01-02 12:00:00", 1),
        ("R4", "2026-01-03", "2026-01-03 00:00:00", 0),
    ]
    with sqlite3.connect(db) as conn:
        conn.execute("create table renewals (renewal_id text, renewal_date text, at text, c int)")
        conn.executemany("insert into renewals values (?, ?, ?, ?)", rows)
    return f"sqlite:///{db}"


@pytest.mark.parametrize(
    "options",
    [
        {"table": "renewals"},  # the day column defaults to the timestamp column
        {"query": "select * from renewals where renewal_date = :day"},
        {"query": "select * from renewals;"},  # filtered by day_column (the default)
    ],
)
def test_sql_source_reads_the_rows_of_one_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    from mlstack.sources import sql

    monkeypatch.setenv("CHURN_DB_URL", renewals_db(tmp_path))
    spec = get_spec("customer_churn", USECASES)
    batch = sql(
        DAY,
        spec=spec,
        dataset="features",
        options={"url_env": "CHURN_DB_URL", **options},
        settings=None,  # type: ignore[arg-type]
    )
    assert sorted(batch.frame["renewal_id"]) == ["R2", "R3"]
    assert list(batch.frame["_line"]) == [1, 2]


def test_sql_source_without_its_environment_variable_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlstack.sources import sql

    monkeypatch.delenv("CHURN_DB_URL", raising=False)
    with pytest.raises(SourceError, match="environment variable CHURN_DB_URL is not set; set it"):
        sql(
            DAY,
            spec=get_spec("customer_churn", USECASES),
            dataset="features",
            options={"url_env": "CHURN_DB_URL", "table": "renewals"},
            settings=None,  # type: ignore[arg-type]
        )


def test_sql_source_cuts_a_timestamp_day_at_midnight_utc() -> None:
    import sqlalchemy as sa
    from mlstack.sources import SqlOptions, day_statement

    spec = get_spec("customer_churn", USECASES)
    raw = spec.model_dump(by_alias=True, exclude={"path"})
    raw["schema"]["columns"]["renewal_at"] = {"type": "timestamp"}
    timed = type(spec).model_validate(raw)
    opts = SqlOptions(url="sqlite://", table="billing.renewals", day_column="renewal_at")
    statement, params = day_statement(
        opts, timed, "features", DAY, sa.create_engine("sqlite://").dialect
    )
    assert str(statement) == (
        "SELECT * FROM billing.renewals WHERE renewal_at >= :day_start AND renewal_at < :day_end"
    )
    assert [str(params["day_start"]), str(params["day_end"])] == [
        "2026-01-02 00:00:00+00:00",
        "2026-01-03 00:00:00+00:00",
    ]


def test_the_demo_says_why_it_does_not_run_the_sql_example(
    embedded_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make demo` runs the simulated use case; asked for the example, it says why not."""
    from mlstack.demo import story
    from mlstack.exceptions import MlstackError
    from mlstack.settings import get_settings

    monkeypatch.setenv("MLSTACK_USECASES_DIR", str(USECASES))
    get_settings.cache_clear()
    with pytest.raises(
        MlstackError,
        match=r"'customer_churn' has no simulator; the demo simulates its data, so it runs only "
        r"use cases with a 'simulator:' section\. customer_churn reads its own data \(sql source\)",
    ):
        story.run("customer_churn", days=1)


def test_sql_source_conn_id_outside_airflow_names_url_env(monkeypatch) -> None:
    """A connection id is read through Airflow (the ingest task); elsewhere: url_env."""
    from mlstack import sources
    from mlstack.sources import sql

    # outside Airflow: no ingest task of this process has handed over its reader
    monkeypatch.setattr(sources, "connection_url", None)

    with pytest.raises(SourceError, match=r"conn_id 'billing' is an Airflow connection, read when"):
        sql(
            DAY,
            spec=get_spec("customer_churn", USECASES),
            dataset="features",
            options={"conn_id": "billing", "table": "renewals"},
            settings=None,  # type: ignore[arg-type]
        )
