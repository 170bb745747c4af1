"""`mlstack usecases new NAME --from FILE`: the schema inferred from a sample, the roles
guessed, asked or given, the spec written valid, and bad input refused with what to pass.

Each test names its use case differently: a hooks file registers plugins named after its
use case, once per process."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mlstack.cli import main
from sample_feeds import churn_frame


@pytest.fixture
def usecases_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedded_settings) -> Path:
    """An empty use-case folder the CLI writes into (embedded backends under tmp_path)."""
    from mlstack.settings import get_settings

    folder = tmp_path / "usecases"
    folder.mkdir()
    monkeypatch.setenv("MLSTACK_USECASES_DIR", str(folder))
    get_settings.cache_clear()
    return folder


def new(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["usecases", "new", *args], input=input)
    return result.exit_code, result.output


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_types_nullability_ranges_categories_and_roles_are_inferred(tmp_path, fmt) -> None:
    from mlstack.schema_inference import choose_roles, infer

    path = tmp_path / f"feed.{fmt}"
    frame = churn_frame()
    frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path)
    schema = choose_roles(infer(path))
    specs = {n: c.spec for n, c in schema.columns.items()}
    assert {n: s.type for n, s in specs.items()} == {
        "customer_id": "string",
        "signup_date": "date",
        "age": "int",
        "spend": "float",
        "plan": "category",
        "tenure": "float",
        "churned": "int",
    }
    assert specs["plan"].categories == ["basic", "pro", "team"]
    assert specs["tenure"].nullable and not specs["spend"].nullable
    assert specs["age"].min == 0 and specs["churned"].max == 1
    age = schema.columns["age"]
    assert (age.seen_min, age.seen_max) == (frame.age.min(), frame.age.max())
    assert (schema.id_column, schema.date_column, schema.target_column) == (
        "customer_id",
        "signup_date",
        "churned",
    )
    assert schema.task == "classification"


def test_a_numeric_target_with_many_values_is_regression(tmp_path) -> None:
    from mlstack.schema_inference import choose_roles, infer

    frame = churn_frame().drop(columns="churned").rename(columns={"spend": "target"})
    frame.to_csv(tmp_path / "f.csv", index=False)
    schema = choose_roles(infer(tmp_path / "f.csv"))
    assert (schema.target_column, schema.task) == ("target", "regression")


def test_without_a_terminal_or_flags_the_guesses_are_used_and_printed(
    tmp_path, usecases_dir
) -> None:
    from mlstack.spec_check import spec_problems
    from mlstack.specs import load_spec

    churn_frame().to_csv(tmp_path / "feed.csv", index=False)
    code, out = new("churn", "--from", str(tmp_path / "feed.csv"))
    assert code == 0, out
    assert "id column: customer_id, date column: signup_date, target: churned" in out
    assert "guessed (id, date, target; pass --id-column/--date-column/--target" in out
    assert "next: mlstack ingest churn --date 2026-03-01" in out
    spec = load_spec(usecases_dir / "churn")
    assert spec_problems(spec) == []
    assert spec.maturity == 3 and spec.task == "classification"
    assert [s.column for s in spec.promotion.slices] == ["plan"]
    text = (usecases_dir / "churn" / "usecase.yaml").read_text()
    for section in ("training:", "promotion:", "rollout:", "monitoring:", "retraining:"):
        comment = text.split(section)[0].rstrip().rsplit("\n", 1)[-1]
        assert comment.startswith("#"), f"{section} has no comment above it"
    written = {p.relative_to(usecases_dir / "churn").as_posix() for p in usecases_dir.rglob("*.*")}
    assert {
        "churn/usecase.yaml",
        "churn/hooks.py",
        "churn/tests/test_churn.py",
        "churn/tests/sample.csv",
        "churn/ci/github-actions.yml",
        "churn/ci/gitlab-ci.yml",
    } <= {f"churn/{w}" for w in written}


def test_flags_choose_the_roles(tmp_path, usecases_dir) -> None:
    from mlstack.specs import load_spec

    frame = churn_frame().assign(order_id=lambda f: range(len(f)))
    frame.to_csv(tmp_path / "feed.csv", index=False)
    code, out = new(
        "orders",
        "--from",
        str(tmp_path / "feed.csv"),
        "--id-column",
        "order_id",
        "--target",
        "age",
    )
    assert code == 0, out
    spec = load_spec(usecases_dir / "orders")
    assert (spec.schema.id_column, spec.schema.target_column, spec.task) == (
        "order_id",
        "age",
        "regression",
    )
    assert spec.schema.columns["order_id"].type == "string"  # ids are compared as text


def test_on_a_terminal_the_user_confirms_or_changes_each_guess(
    tmp_path, usecases_dir, monkeypatch
) -> None:
    from mlstack.cli import data
    from mlstack.specs import load_spec

    monkeypatch.setattr(data, "_interactive", lambda: True)
    churn_frame().to_csv(tmp_path / "feed.csv", index=False)
    # id: accept the guess; date: accept; target: change to spend
    code, out = new("asked", "--from", str(tmp_path / "feed.csv"), input="\n\nspend\n")
    assert code == 0, out
    assert "id column (could be: customer_id) [customer_id]: " in out
    assert "target column (could be: churned, age, spend, tenure) [churned]: " in out
    assert "as confirmed" in out
    assert load_spec(usecases_dir / "asked").schema.target_column == "spend"


def test_bad_input_says_what_to_pass(tmp_path, usecases_dir) -> None:
    code, out = new("a", "--from", str(tmp_path / "missing.csv"))
    assert code == 2 and "cannot read" in out and "pass --from a readable CSV or Parquet" in out
    (tmp_path / "empty.csv").write_text("")
    code, out = new("b", "--from", str(tmp_path / "empty.csv"))
    assert code == 2 and "empty.csv is empty" in out
    (tmp_path / "header.csv").write_text("id,day,label\n")
    code, out = new("c", "--from", str(tmp_path / "header.csv"))
    assert code == 2 and "has a header but no rows" in out
    text_target = (
        churn_frame()
        .drop(columns="churned")
        .assign(tenure=lambda f: f.tenure.fillna(0), outcome="x")
    )
    text_target = text_target.drop(columns=["age", "spend", "tenure"])
    text_target.to_csv(tmp_path / "text.csv", index=False)
    code, out = new("d", "--from", str(tmp_path / "text.csv"))
    assert code == 2 and "no plausible target column" in out and "pass --target COLUMN" in out
    churn_frame().to_csv(tmp_path / "feed.csv", index=False)
    code, out = new("e", "--from", str(tmp_path / "feed.csv"), "--target", "plan")
    assert code == 2 and "--target 'plan': a target must be numeric" in out
    code, out = new("f", "--from", str(tmp_path / "feed.csv"), "--date-column", "nope")
    assert code == 2 and "'nope' is not a column" in out
    code, out = new("g", "--target", "churned")
    assert code == 2 and "need --from FILE" in out
    assert not any(usecases_dir.iterdir())  # nothing half-written


def test_without_a_sample_the_placeholder_is_valid_with_tests_and_ci(usecases_dir) -> None:
    from mlstack.spec_check import spec_problems
    from mlstack.specs import load_spec

    code, out = new("placeholder")
    assert code == 0, out
    assert spec_problems(load_spec(usecases_dir / "placeholder")) == []
    assert (usecases_dir / "placeholder" / "tests" / "test_placeholder.py").exists()
    assert (usecases_dir / "placeholder" / "ci" / "github-actions.yml").exists()


def test_check_dags_fails_on_a_broken_spec(usecases_dir) -> None:
    assert new("parsed")[0] == 0
    (usecases_dir / "broken").mkdir()
    (usecases_dir / "broken" / "usecase.yaml").write_text("name: broken\nowner: me\n")
    result = CliRunner().invoke(main, ["usecases", "check-dags"])
    assert result.exit_code == 2, result.output
    assert "the DAGs do not parse" in result.output and "broken" in result.output
