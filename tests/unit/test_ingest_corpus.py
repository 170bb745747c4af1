"""A bad-input corpus for ingestion: every case states what a user gets — rows accepted,
rows rejected with which reason on which line, or the file refused with which message —
and that the counts add up (records in = accepted + rejected + malformed).

Cases run the real reading and validation (``parse_file`` → ``validate``) on the demo
spec's schema; the lake, the commit and the quarantine are covered in
``tests/integration/test_ingest_robustness.py``.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zipfile
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import pytest
from mlstack.exceptions import SchemaError, SourceError
from mlstack.sources import CsvOptions, parse_file
from mlstack.stages.ingest import validate

DAY = date(2026, 1, 1)
COLUMNS = [
    "application_id",
    "application_date",
    "age",
    "income",
    "employment_years",
    "debt_to_income",
    "credit_score",
    "loan_amount",
    "loan_term_months",
    "num_open_accounts",
    "num_late_payments",
    "purpose",
    "home_ownership",
    "region",
]
GOOD = {
    "application_date": "2026-01-01",
    "age": "40",
    "income": "50000",
    "employment_years": "3",
    "debt_to_income": "0.3",
    "credit_score": "700",
    "loan_amount": "10000",
    "loan_term_months": "36",
    "num_open_accounts": "4",
    "num_late_payments": "0",
    "purpose": "car",
    "home_ownership": "rent",
    "region": "north",
}


def row(i: int | str, sep: str = ",", **over: str) -> str:
    values = {"application_id": f"A{i}" if isinstance(i, int) else i, **GOOD, **over}
    return sep.join(values[c] for c in COLUMNS)


def text(*rows: str, sep: str = ",", end: str = "\n", header: str | None = None) -> str:
    return end.join([header or sep.join(COLUMNS), *rows]) + end


def good(n: int, start: int = 1, sep: str = ",") -> list[str]:
    return [row(i, sep) for i in range(start, start + n)]


@dataclass
class Outcome:
    accepted: pd.DataFrame
    rejected: pd.DataFrame
    malformed: pd.DataFrame
    records: int


def ingest_bytes(spec: Any, data: bytes, name: str = "day.csv", **options: Any) -> Outcome:
    """Read and validate one file as ``ingest_day`` does, without the lake."""
    frame, malformed = parse_file(name, data, name, None, CsvOptions(**options))
    checked = validate(frame, spec.dataset_schema("features"), DAY, name)
    out = Outcome(checked.accepted, checked.rejected, malformed, len(frame) + len(malformed))
    assert out.records == len(out.accepted) + len(out.rejected) + len(out.malformed)
    return out


def reasons(out: Outcome) -> list[str]:
    return list(out.rejected["_reason"]) + list(out.malformed["_reason"])


# --- files refused as a whole: what was seen, and what to set ------------------------------

REFUSED = [
    ("empty", b"", SourceError, "file is empty"),
    ("whitespace only", b"  \n\n \r\n", SourceError, "file is empty"),
    (
        "utf-16 with BOM",
        text(*good(3)).encode("utf-16"),
        SourceError,
        r"UTF-16 text \(byte-order mark ff fe\), not UTF-8; .*options.encoding: utf-16",
    ),
    (
        "utf-16-le without BOM",
        text(*good(3)).encode("utf-16-le"),
        SourceError,
        r"looks like UTF-16 text \(little-endian.*options.encoding: utf-16-le",
    ),
    (
        "utf-16-be without BOM",
        text(*good(3)).encode("utf-16-be"),
        SourceError,
        r"UTF-16 text \(big-endian.*options.encoding: utf-16-be",
    ),
    (
        "utf-32 with BOM",
        text(*good(3)).encode("utf-32"),
        SourceError,
        r"UTF-32 text.*options.encoding: utf-32",
    ),
    (
        "cp1252 bytes",
        text(row("Aé1")).encode("cp1252"),
        SourceError,
        r"not valid utf-8 text: byte\(s\) b'\\xe9' at offset \d+ \(line 2.*options.encoding "
        r"\(e.g. cp1252",
    ),
    (
        "gzip without the option",
        gzip.compress(text(*good(3)).encode()),
        SourceError,
        r"gzip-compressed \(starts with bytes 1f 8b\); set the source's options.compression: gzip",
    ),
    ("zip archive", b"PK\x03\x04" + b"\x00" * 40, SourceError, "it is a ZIP archive"),
    ("bzip2", b"BZh91AY&SY" + b"\x00" * 20, SourceError, "it is bzip2-compressed"),
    ("parquet as csv", b"PAR1\x15\x04" + b"\x00" * 40, SourceError, "options.format: parquet"),
    ("png", b"\x89PNG\r\n\x1a\n\x00\x00", SourceError, "it is a PNG image"),
    ("pdf", b"%PDF-1.7\n%\xe2\xe3\n", SourceError, "it is a PDF document"),
    ("xz", b"\xfd7zXZ\x00\x00\x04", SourceError, "it is xz-compressed"),
    ("zstd", b"\x28\xb5\x2f\xfd\x00\x58", SourceError, "it is zstd-compressed"),
    ("binary junk", b"\x01\x00\x02\x00\x00\x00" * 200, SourceError, "binary content"),
    ("json", b'{"application_id": 1}\n', SourceError, "looks like JSON"),
    ("html", b"<html><body>502 Bad Gateway</body></html>\n", SourceError, "looks like XML/HTML"),
    (
        "semicolon delimiter",
        text(*good(3, sep=";"), sep=";").encode(),
        SourceError,
        r"one column when split on ',' but 14 when split on ';'.*options.delimiter: ';'",
    ),
    (
        "tab delimiter",
        text(*good(3, sep="\t"), sep="\t").encode(),
        SourceError,
        r"one column when split on ',' but 14 when split on '\\t'.*options.delimiter: '\\t'",
    ),
    (
        "pipe delimiter",
        text(*good(3, sep="|"), sep="|").encode(),
        SourceError,
        r"split on '\|'.*options.delimiter: '\|'",
    ),
    (
        "reserved column _line",
        text(row(1) + ",x", header=",".join([*COLUMNS, "_line"])).encode(),
        SchemaError,
        r"column name\(s\) \['_line'\] are reserved.*Nothing was written",
    ),
    (
        "reserved column _comment",
        text(row(1) + ",x", header=",".join([*COLUMNS, "_comment"])).encode(),
        SchemaError,
        r"\['_comment'\] are reserved",
    ),
    (
        "duplicate header names",
        text(row(1) + ",1", header=",".join([*COLUMNS, "age"])).encode(),
        SourceError,
        r"duplicate column name\(s\) \['age'\]",
    ),
    (
        "empty header name",
        text(row(1) + ",1", header=",".join([*COLUMNS, ""])).encode(),
        SourceError,
        r"column\(s\) \[15\] have no name",
    ),
    (
        "unterminated quote mid-file",
        text(*good(3), row(4, purpose='"car'), *good(16, start=5)).encode(),
        SourceError,
        r"unterminated quote: the quoted value in the record starting on line 5 never closes, "
        r"so lines 5-21 \(17 line\(s\)",
    ),
    (
        "unterminated quote in the very last field",
        (text(*good(3)) + row(4)[: -len("north")] + '"north').encode(),
        SourceError,
        r"record starting on line 5 never closes, so lines 5-5",
    ),
    (
        "missing column",
        text(row(1), header=",".join(COLUMNS[:-1])).encode(),
        SchemaError,
        r"missing column\(s\) \['region'\]",
    ),
]


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [pytest.param(d, e, m, id=i) for i, d, e, m in REFUSED],
)
def test_corpus_unreadable_file_is_refused_naming_what_was_seen(
    credit_spec, data: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as exc:
        ingest_bytes(credit_spec, data)
    assert "day.csv" in str(exc.value)


def test_corpus_wrong_compression_option_is_refused(credit_spec) -> None:
    with pytest.raises(SourceError, match="options.compression is gzip but the file is not"):
        ingest_bytes(credit_spec, text(*good(2)).encode(), compression="gzip")
    with pytest.raises(SourceError, match="damaged gzip file"):
        ingest_bytes(credit_spec, gzip.compress(text(*good(2)).encode())[:-12], compression="gzip")


# --- files read once configured ---------------------------------------------------------------

CONFIGURED = [
    ("gzip", gzip.compress(text(*good(5)).encode()), {"compression": "gzip"}),
    ("utf-16", text(*good(5)).encode("utf-16"), {"encoding": "utf-16"}),
    ("utf-16-le", text(*good(5)).encode("utf-16-le"), {"encoding": "utf-16-le"}),
    ("cp1252", text(*good(5)).encode("cp1252"), {"encoding": "cp1252"}),
    ("semicolon", text(*good(5, sep=";"), sep=";").encode(), {"delimiter": ";"}),
    ("tab", text(*good(5, sep="\t"), sep="\t").encode(), {"delimiter": "\t"}),
    (
        "gzip + utf-16 + semicolon",
        gzip.compress(text(*good(5, sep=";"), sep=";").encode("utf-16")),
        {"compression": "gzip", "encoding": "utf-16", "delimiter": ";"},
    ),
]


@pytest.mark.parametrize(("data", "options"), [pytest.param(d, o, id=i) for i, d, o in CONFIGURED])
def test_corpus_configured_format_reads_every_row(
    credit_spec, data: bytes, options: dict[str, str]
) -> None:
    out = ingest_bytes(credit_spec, data, **options)
    assert len(out.accepted) == 5 and out.rejected.empty and out.malformed.empty
    assert list(out.accepted["application_id"]) == [f"A{i}" for i in range(1, 6)]


def test_corpus_cp1252_text_keeps_its_characters(credit_spec) -> None:
    out = ingest_bytes(
        credit_spec, text(row("Aé1"), row("Aß2")).encode("cp1252"), encoding="cp1252"
    )
    assert list(out.accepted["application_id"]) == ["Aé1", "Aß2"]


def test_corpus_utf8_bom_is_not_part_of_the_header_and_digit_ids_stay_text(credit_spec) -> None:
    data = codecs.BOM_UTF8 + text(row("0001"), row("0002"), row("12")).encode()
    out = ingest_bytes(credit_spec, data)
    assert list(out.accepted["application_id"]) == ["0001", "0002", "12"]
    assert out.rejected.empty


# --- line endings, blank lines, quotes: every line number is the file's --------------------


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_corpus_line_endings_read_alike_with_true_line_numbers(credit_spec, end: str) -> None:
    data = text(row(1), row(2, age="x"), "A3,oops", row(4), end=end).encode()
    out = ingest_bytes(credit_spec, data)
    assert list(out.accepted["application_id"]) == ["A1", "A4"]
    assert list(out.rejected["_line"]) == [3]
    assert "age: x is not a int" in out.rejected["_reason"].iloc[0]
    assert list(out.malformed["_line"]) == [4]
    assert out.malformed["_raw"].iloc[0] == "A3,oops"


def test_corpus_blank_lines_are_skipped_but_counted_in_line_numbers(credit_spec) -> None:
    data = text("", row(1), "", "", row(2, region="mars"), "   ", row(3)).encode()
    out = ingest_bytes(credit_spec, data)
    assert list(out.accepted["application_id"]) == ["A1", "A3"]
    assert list(out.rejected["_line"]) == [6]
    assert list(out.malformed["_line"]) == [7]  # a line of spaces is a record of one field
    assert "1 fields, expected 14" in out.malformed["_reason"].iloc[0]


def test_corpus_quoted_line_breaks_keep_later_line_numbers_right(credit_spec) -> None:
    multi = '"A1\nsecond line\nthird",' + row(1).split(",", 1)[1]
    data = text(multi, row(2, age="x"), "A3,oops", row(4)).encode()
    out = ingest_bytes(credit_spec, data)
    assert list(out.accepted["application_id"]) == ["A1\nsecond line\nthird", "A4"]
    assert list(out.rejected["_line"]) == [5]
    assert list(out.malformed["_line"]) == [6]


def test_corpus_malformed_record_spanning_lines_names_them(credit_spec) -> None:
    data = text(row(1), '"A2\nx",2026-01-01,oops', row(3)).encode()
    out = ingest_bytes(credit_spec, data)
    assert list(out.accepted["application_id"]) == ["A1", "A3"]
    assert out.malformed["_line"].iloc[0] == 3
    assert "3 fields, expected 14 (lines 3-4)" in out.malformed["_reason"].iloc[0]
    assert list(out.rejected["_line"]) == []


def test_corpus_quoted_values_and_escaped_quotes_are_unquoted(credit_spec) -> None:
    data = text(row('"A""1"""', purpose='"car"'), row(2, purpose='"home"')).encode()
    out = ingest_bytes(credit_spec, data)
    assert list(out.accepted["application_id"]) == ['A"1"', "A2"]
    assert list(out.accepted["purpose"]) == ["car", "home"]


@pytest.mark.parametrize(
    ("line", "fields"),
    [("A9,2026-01-01", 2), (row(9) + ",extra,fields", 16), (",,,,", 5)],
    ids=["too few", "too many", "only commas"],
)
def test_corpus_wrong_field_count_is_malformed_with_raw_text(credit_spec, line, fields) -> None:
    out = ingest_bytes(credit_spec, text(row(1), line, row(2)).encode())
    assert len(out.accepted) == 2 and out.records == 3
    assert out.malformed.iloc[0]["_raw"] == line and out.malformed.iloc[0]["_line"] == 3
    assert f"malformed line: {fields} fields, expected 14" in out.malformed.iloc[0]["_reason"]


# --- numbers: exact ints, finite floats ----------------------------------------------------


def test_corpus_big_ints_are_exact_not_rounded_through_float(credit_spec) -> None:
    values = ["9007199254740993", "9223372036854775807", "0", "+9007199254740995"]
    rows = [row(i, num_late_payments=v) for i, v in enumerate(values)]
    out = ingest_bytes(credit_spec, text(*rows).encode())
    assert out.rejected.empty
    assert list(out.accepted["num_late_payments"]) == [
        9007199254740993,
        9223372036854775807,
        0,
        9007199254740995,
    ]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("+5", 5), (" 7 ", 7), ("40.0", 40), ("1e1", 10), ("0042", 42), ("-0", 0), ("1E2", 100)],
)
def test_corpus_int_spellings_of_whole_numbers_are_accepted(credit_spec, value, parsed) -> None:
    out = ingest_bytes(credit_spec, text(row(1, num_open_accounts=value)).encode())
    assert out.accepted["num_open_accounts"].iloc[0] == parsed


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1e19", "num_open_accounts: 1e19 is out of range for an int (64-bit"),
        ("1e309", "num_open_accounts: 1e309 is out of range for an int"),
        ("9223372036854775808", "9223372036854775808 is out of range for an int"),
        ("-9223372036854775809", "-9223372036854775809 is out of range for an int"),
        ("1" * 400, "is out of range for an int"),
        ("40.5", "num_open_accounts: 40.5 is not a int"),
        ("0x10", "0x10 is not a int"),
        ("1_000", "1_000 is not a int"),
        ("٣", "٣ is not a int"),
        ("inf", "inf is not a int"),
        ("NaN", "NaN is not a int"),
        ("true", "true is not a int"),
    ],
)
def test_corpus_int_values_that_are_not_int64_are_rejected_with_reason(
    credit_spec, value: str, reason: str
) -> None:
    rows = [*good(20), row(99, num_open_accounts=value)]
    out = ingest_bytes(credit_spec, text(*rows).encode())
    assert len(out.accepted) == 20 and len(out.rejected) == 1
    assert reason in out.rejected["_reason"].iloc[0]
    assert out.rejected["_line"].iloc[0] == 22


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1e309", "loan_amount: 1e309 overflows a 64-bit float"),
        ("-1e400", "loan_amount: -1e400 overflows a 64-bit float"),
        ("inf", "loan_amount: inf is not a float"),
        ("Infinity", "loan_amount: Infinity is not a float"),
        ("nan", "loan_amount: nan is not a float"),
        ("1,5", None),  # a decimal comma splits the field: the line is malformed
        ("12 000", "loan_amount: 12 000 is not a float"),
        ("€12", "loan_amount: €12 is not a float"),
    ],
)
def test_corpus_float_values_must_be_finite_numbers(credit_spec, value, reason) -> None:
    out = ingest_bytes(credit_spec, text(*good(20), row(99, loan_amount=value)).encode())
    assert len(out.accepted) == 20 and out.records == 21
    if reason is None:
        assert "15 fields, expected 14" in out.malformed["_reason"].iloc[0]
    else:
        assert reason in out.rejected["_reason"].iloc[0]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [(".5", 0.5), ("5.", 5.0), ("+1.5e3", 1500.0), ("-0", 0.0), ("1e-400", 0.0), (" 3 ", 3.0)],
)
def test_corpus_float_spellings_are_accepted(credit_spec, value: str, parsed: float) -> None:
    out = ingest_bytes(credit_spec, text(row(1, loan_amount=value)).encode())
    assert out.accepted["loan_amount"].iloc[0] == parsed


# --- dates and timestamps ------------------------------------------------------------------


def test_corpus_date_column_with_mixed_offsets_keeps_each_rows_date(credit_spec) -> None:
    dates = ["2026-01-01T23:30:00-05:00", "2026-01-01T01:00:00Z", "2026-01-01", "2026-01-01 12:00"]
    rows = [row(i, application_date=d) for i, d in enumerate(dates)]
    rows.append(row(9, application_date="2026-01-02T00:30:00+01:00"))
    out = ingest_bytes(credit_spec, text(*rows).encode())
    assert list(out.accepted["application_date"]) == [DAY] * 4
    assert "2026-01-02 is not the ingested day 2026-01-01" in out.rejected["_reason"].iloc[0]


@pytest.mark.parametrize("value", ["2026-02-30", "yesterday", "2026-13-01", "01/01/2026x"])
def test_corpus_impossible_dates_are_rejected(credit_spec, value: str) -> None:
    out = ingest_bytes(credit_spec, text(*good(20), row(99, application_date=value)).encode())
    assert len(out.accepted) == 20
    assert f"application_date: {value} is not a date" in out.rejected["_reason"].iloc[0]


# --- control characters, sizes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "code"),
    [("\x00", "U+0000"), ("\x1b", "U+001B"), ("\x07", "U+0007"), ("\x7f", "U+007F")],
)
def test_corpus_control_characters_in_text_reject_the_row(credit_spec, char, code) -> None:
    out = ingest_bytes(credit_spec, text(*good(300), row(f"A{char}9")).encode())
    assert len(out.accepted) == 300 and len(out.rejected) == 1
    assert f"application_id: contains control character {code}" in out.rejected["_reason"].iloc[0]


def test_corpus_tab_in_text_is_kept(credit_spec) -> None:
    out = ingest_bytes(credit_spec, text(row("A\t1")).encode())
    assert list(out.accepted["application_id"]) == ["A\t1"]


def test_corpus_one_megabyte_value_is_kept_intact(credit_spec) -> None:
    big = "A" + "x" * 1_000_000
    out = ingest_bytes(credit_spec, text(row(big), row(2)).encode())
    assert out.accepted["application_id"].iloc[0] == big


def test_corpus_many_rows_with_damage_everywhere_add_up(credit_spec) -> None:
    rows = []
    for i in range(20_000):
        kind = i % 100
        rows.append(
            row(i, age="x")
            if kind == 1
            else f"A{i},short"
            if kind == 2
            else row(i - 3)
            if kind == 3
            else row(i)
        )
    out = ingest_bytes(credit_spec, text(*rows).encode())
    assert out.records == 20_000
    assert len(out.malformed) == 200
    assert len(out.rejected) == 400  # 200 bad ages + 200 duplicate ids
    assert len(out.accepted) == 19_400
    assert out.rejected["_line"].is_monotonic_increasing
    assert set(out.malformed["_line"]) == {i + 2 for i in range(20_000) if i % 100 == 2}


# --- duplicates and conflicts --------------------------------------------------------------


def test_corpus_identical_duplicate_names_the_first_line(credit_spec) -> None:
    out = ingest_bytes(credit_spec, text(row(1), row(2), row(1)).encode())
    assert list(out.accepted["application_id"]) == ["A1", "A2"]
    assert out.rejected["_reason"].iloc[0] == (
        "application_id: duplicate id A1 (same values as line 2)"
    )


def test_corpus_conflicting_duplicate_is_told_apart(credit_spec) -> None:
    out = ingest_bytes(credit_spec, text(row(1), row(1, income="1"), row(1)).encode())
    assert list(out.rejected["_reason"]) == [
        "application_id: duplicate id A1 (values differ from line 2)",
        "application_id: duplicate id A1 (same values as line 2)",
    ]


def test_corpus_id_ingested_on_another_day_is_rejected(credit_spec) -> None:
    frame, _ = parse_file("d.csv", text(row(1), row(2), row(3)).encode(), "d.csv")

    def ingested_on(ids: pd.Series) -> pd.Series:  # what the table holds for other days
        return ids.map({"A2": "2025-12-31"})

    checked = validate(
        frame, credit_spec.dataset_schema("features"), DAY, "d.csv", ingested_on=ingested_on
    )
    assert list(checked.accepted["application_id"]) == ["A1", "A3"]
    assert checked.rejected["_reason"].iloc[0] == (
        "application_id: id A2 was already ingested for 2025-12-31 (ids must be unique across days)"
    )


# --- Parquet: typed columns get the same rules ----------------------------------------------


def parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def typed_frame(n: int = 3) -> pd.DataFrame:
    frame = pd.DataFrame([dict(zip(COLUMNS, row(i).split(","), strict=True)) for i in range(n)])
    for c in ("age", "credit_score", "loan_term_months", "num_open_accounts", "num_late_payments"):
        frame[c] = frame[c].astype("int64")
    for c in ("income", "employment_years", "debt_to_income", "loan_amount"):
        frame[c] = frame[c].astype("float64")
    return frame


def test_corpus_parquet_non_finite_float_and_fractional_int_are_rejected(credit_spec) -> None:
    frame = typed_frame(4)
    frame["loan_amount"] = [1.0, float("inf"), 3.0, 4.0]
    frame["num_open_accounts"] = [1.0, 2.0, 2.5, 2.0**53 + 2]
    out = ingest_bytes(credit_spec, parquet(frame), name="day.parquet")
    assert list(out.accepted["application_id"]) == ["A0", "A3"]
    assert out.accepted["num_open_accounts"].iloc[1] == 2**53 + 2
    assert "loan_amount: inf is not a finite number" in out.rejected["_reason"].iloc[0]
    assert "num_open_accounts: 2.5 is not a int" in out.rejected["_reason"].iloc[1]


def test_corpus_parquet_reserved_column_is_refused(credit_spec) -> None:
    frame = typed_frame().assign(_source="upstream")
    with pytest.raises(SchemaError, match=r"\['_source'\] are reserved"):
        ingest_bytes(credit_spec, parquet(frame), name="day.parquet")


def test_corpus_zip_holding_a_csv_says_deliver_the_csv(credit_spec) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("day.csv", text(*good(2)))
    with pytest.raises(SourceError, match="ZIP archive; deliver the CSV file itself"):
        ingest_bytes(credit_spec, buf.getvalue())


def test_corpus_timestamp_column_converts_each_rows_offset_to_utc() -> None:
    from mlstack.specs import SchemaSpec

    schema = SchemaSpec.model_validate(
        {
            "id_column": "id",
            "timestamp_column": "at",
            "columns": {"id": {"type": "string"}, "at": {"type": "timestamp"}},
        }
    )
    data = (
        b"id,at\n"
        b"a,2026-01-01T23:30:00-00:30\n"  # 2026-01-02 00:00 UTC: another day
        b"b,2026-01-01T01:00:00+02:00\n"  # 2025-12-31 23:00 UTC: another day
        b"c,2026-01-01T12:00:00Z\n"
        b"d,2026-01-01 08:00\n"  # no offset: UTC
        b"e,2026-01-02T00:30:00+01:00\n"  # 2026-01-01 23:30 UTC
    )
    frame, _ = parse_file("t.csv", data, "t.csv")
    checked = validate(frame, schema, DAY, "t.csv")
    assert list(checked.accepted["id"]) == ["c", "d", "e"]
    assert [str(t) for t in checked.accepted["at"]] == [
        "2026-01-01 12:00:00+00:00",
        "2026-01-01 08:00:00+00:00",
        "2026-01-01 23:30:00+00:00",
    ]
    assert list(checked.rejected["id"]) == ["a", "b"]


def test_corpus_sql_result_with_reserved_column_is_refused(tmp_path, credit_spec) -> None:
    import sqlite3

    from mlstack.sources import sql

    db = tmp_path / "upstream.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (application_id text, _line int)")
        conn.execute("insert into t values ('A1', 1)")
    with pytest.raises(SchemaError, match=r"\['_line'\] are reserved"):
        sql(
            DAY,
            spec=credit_spec,
            dataset="features",
            options={"url": f"sqlite:///{db}", "query": "select * from t where :day = :day"},
            settings=None,  # type: ignore[arg-type]
        )
