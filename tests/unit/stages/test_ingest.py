"""Validation of incoming rows: every rejected row is kept with a reason; schema breaks fail."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from mlstack.exceptions import SchemaError, SourceError
from mlstack.sources import parse_file, read_csv_bytes
from mlstack.stages.ingest import validate
from support import CREDIT_ROW

DAY = date(2026, 1, 1)
HEADER = (
    "application_id,application_date,age,income,employment_years,debt_to_income,credit_score,"
    "loan_amount,loan_term_months,num_open_accounts,num_late_payments,purpose,home_ownership,region"
)


def row(i: int, **over: str) -> str:
    values = {"application_id": f"A{i}", **CREDIT_ROW, **over}
    return ",".join(values.values())


def csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def check(spec, data: bytes):
    frame, malformed = read_csv_bytes(data, "test.csv")
    return validate(frame, spec.dataset_schema("features"), DAY, "test.csv"), malformed


def test_validate_clean_rows_are_typed(credit_spec) -> None:
    checked, malformed = check(credit_spec, csv(row(1), row(2)))
    assert len(checked.accepted) == 2 and checked.rejected.empty and malformed.empty
    assert checked.accepted["age"].dtype == "Int64"
    assert checked.accepted["income"].dtype == "float64"
    assert checked.accepted["application_date"].iloc[0] == DAY


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"age": "forty"}, "age: forty is not a int"),
        ({"income": "-5"}, "income: -5.0 is below min 0"),
        ({"credit_score": ""}, "credit_score: missing (the column is not nullable)"),
        ({"purpose": "crypto"}, "purpose: crypto is not one of"),
        ({"application_date": "2026-01-02"}, "is not the ingested day 2026-01-01"),
        ({"age": "40.5"}, "age: 40.5 is not a int"),
    ],
)
def test_validate_bad_value_rejected_with_reason(
    credit_spec, bad: dict[str, str], reason: str
) -> None:
    rows = [row(i) for i in range(20)] + [row(99, **bad)]
    checked, _ = check(credit_spec, csv(*rows))
    assert len(checked.accepted) == 20
    assert len(checked.rejected) == 1
    assert reason in checked.rejected["_reason"].iloc[0]
    assert checked.rejected["_line"].iloc[0] == 22  # header is line 1


def test_validate_duplicate_id_keeps_first_rejects_rest(credit_spec) -> None:
    checked, _ = check(credit_spec, csv(row(1), row(2), row(1, income="1")))
    assert list(checked.accepted["application_id"]) == ["A1", "A2"]
    assert checked.rejected["_reason"].iloc[0] == (
        "application_id: duplicate id A1 (values differ from line 2)"
    )


def test_validate_several_problems_in_one_row_all_reported(credit_spec) -> None:
    checked, _ = check(credit_spec, csv(row(1), row(2, age="x", region="mars")))
    reason = checked.rejected["_reason"].iloc[0]
    assert "age: x is not a int" in reason and "region: mars is not one of" in reason


def test_malformed_line_is_kept_with_line_number(credit_spec) -> None:
    data = csv(row(1), "A2,2026-01-01,oops,extra", row(3))
    checked, malformed = check(credit_spec, data)
    assert len(checked.accepted) == 2
    assert malformed.iloc[0]["_raw"] == "A2,2026-01-01,oops,extra"
    assert "4 fields, expected 14" in malformed.iloc[0]["_reason"]
    assert list(checked.accepted["application_id"]) == ["A1", "A3"]


def test_missing_column_fails_naming_it(credit_spec) -> None:
    data = csv(row(1)).replace(b",region", b"").replace(b",north", b"")
    with pytest.raises(SchemaError, match=r"missing column\(s\) \['region'\].*Nothing was written"):
        check(credit_spec, data)


def test_unexpected_column_fails_with_fix(credit_spec) -> None:
    data = (
        csv(row(1)).replace(b",region\n", b",region,score_v2\n").replace(b",north\n", b",north,1\n")
    )
    with pytest.raises(
        SchemaError, match=r"unexpected column\(s\) \['score_v2'\].*extra_columns: ignore"
    ):
        check(credit_spec, data)


def test_changed_type_fails_naming_column(credit_spec) -> None:
    rows = [row(i, income=f"{i}k EUR") for i in range(20)]
    with pytest.raises(SchemaError, match=r"changed type in column\(s\) income \(expected float"):
        check(credit_spec, csv(*rows))


def test_empty_file_fails_clearly() -> None:
    with pytest.raises(SourceError, match="file is empty"):
        read_csv_bytes(b"", "landing/x.csv")


def test_header_only_file_is_zero_rows(credit_spec) -> None:
    checked, malformed = check(credit_spec, (HEADER + "\n").encode())
    assert checked.accepted.empty and checked.rejected.empty and malformed.empty


def test_binary_file_is_not_csv() -> None:
    with pytest.raises(SourceError, match="not a CSV text file"):
        read_csv_bytes(b"PK\x03\x04\x00\x00binary zip", "landing/x.csv")


def test_json_file_is_not_csv() -> None:
    with pytest.raises(SourceError, match="not a CSV file with a header row"):
        read_csv_bytes(b'{"rows": [1, 2, 3]}\n', "landing/x.csv")


def test_parquet_garbage_fails_naming_file() -> None:
    with pytest.raises(SourceError, match="x.parquet: not a readable Parquet file"):
        parse_file("x.parquet", b"not parquet at all", "x.parquet")


def test_regression_spec_validates_typed_parquet_rows(diabetes_spec) -> None:
    from mlstack.demo.simulator import diabetes

    name, data = diabetes(DAY, seed=7, rows=40, start=DAY, options={})["features"]
    frame, _ = parse_file(name, data, name)
    checked = validate(frame, diabetes_spec.dataset_schema("features"), DAY, name)
    assert len(checked.accepted) == 40 and checked.rejected.empty
    assert isinstance(checked.accepted["visit_date"].iloc[0], date)
    assert pd.api.types.is_float_dtype(checked.accepted["progression"])


def test_landing_only_missing_files_runs_no_simulator_when_all_are_there(
    credit_spec, embedded_settings, monkeypatch
) -> None:
    """sources.land(only_missing=True), as the ingest DAG's land task calls it: a day whose
    files all landed already costs no simulator run; a dataset whose files went missing is
    landed again, and only it."""
    from mlstack import lake, plugins
    from mlstack.sources import land

    first = land(credit_spec, DAY, embedded_settings)
    assert len(first) == 2  # features and labels
    real_get = plugins.get
    monkeypatch.setattr(plugins, "get", lambda *a: pytest.fail("the simulator ran"))
    assert land(credit_spec, DAY, embedded_settings, only_missing=True) == []
    monkeypatch.setattr(plugins, "get", real_get)
    labels = next(url for url in first if "labels" in url)
    lake.delete_key(labels.removeprefix(f"{embedded_settings.lake_url}/"), embedded_settings)
    again = land(credit_spec, DAY, embedded_settings, only_missing=True)
    assert again == [labels]
