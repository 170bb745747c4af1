"""Ingestion: one day of one dataset, from its source into its Iceberg table.

Read the day from the source (undecodable files, an unterminated quote, reserved column
names and a header-only file fail the run) → check the schema as a whole (a missing column
or a changed type fails the run, naming the columns) → check every row (exact types, finite
numbers, nullability, ranges, categories, control characters, the day, ids unique within
the day and across the table's other days) → rejected rows with their reasons to a new
``quarantine/`` file → accepted rows replace that day's partition in one Iceberg commit
whose snapshot names that quarantine file. A re-run of a day replaces it instead of
duplicating it; a failed run leaves the table and the day's quarantine as they were.
Returns what happened, for the Asset event and the catalog.

Long (~650 lines) because every row check with its reason (exact ints, finite floats,
per-row time zones, control characters, duplicate and cross-day ids) lives here, next to
the all-or-nothing commit those checks feed.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from mlstack import lake, plugins
from mlstack.exceptions import SchemaError, SourceError
from mlstack.settings import Settings, get_settings
from mlstack.specs import ColumnSpec, SchemaSpec, UseCaseSpec

log = logging.getLogger(__name__)

TRUE = {"true", "t", "yes", "y", "1"}
FALSE = {"false", "f", "no", "n", "0"}


@dataclass
class IngestResult:
    """What one ingestion did; ``extra()`` is the Asset event's payload."""

    usecase: str
    dataset: str
    table: str
    day: str
    snapshot_id: int | None
    rows_in: int
    accepted: int
    rejected: int
    quarantine: str | None
    files: list[str] = field(default_factory=list)
    batch: str = ""
    malformed: int = 0  # records that could not be parsed (counted in ``rejected`` too)
    unmatched_ids: int = 0  # labels only: accepted labels whose id has no features row
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary for Airflow (Asset event extra, XCom)."""
        return asdict(self)


@dataclass
class Checked:
    """Validation outcome: typed accepted rows, and rejected rows with ``_reason``."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame


# --- validation ---------------------------------------------------------------------------

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# ASCII digits only: Python's \d (and Decimal) would take other scripts' digits too.
NUMBER_RE = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"
SHORT_INT_RE = r"^\s*-?[0-9]{1,18}\s*$"  # always fits int64: Arrow parses it directly
CONTROL_RE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


@dataclass
class Parsed:
    """A column's typed values (NA where unparsable) and, per row, why a value was refused
    when the generic "is not a <type>" would not say it ("" elsewhere)."""

    values: pd.Series
    why: np.ndarray


def parse_column(values: pd.Series, col: ColumnSpec) -> Parsed:
    """Convert raw values to the column's type exactly; unparsable values become NA."""
    why = np.full(len(values), "", dtype=object)
    if col.type == "int":
        return _to_int(values, why)
    if col.type == "float":
        return _to_float(values, why)
    if col.type == "bool":
        if values.dtype == bool:
            return Parsed(values.astype("boolean"), why)
        low = values.astype("string").str.strip().str.lower()
        parsed = low.map(lambda v: True if v in TRUE else False if v in FALSE else pd.NA)
        return Parsed(parsed.astype("boolean"), why)
    if col.type == "date":
        return Parsed(_to_wall_time(values).dt.normalize(), why)
    if col.type == "timestamp":
        return Parsed(_to_datetime(values, utc=True), why)
    import pyarrow.compute as pc

    text = values.astype(object).where(values.notna(), None)
    found = pc.fill_null(pc.match_substring_regex(_arrow_text(values), CONTROL_RE), False)
    mask = found.to_numpy(zero_copy_only=False).astype(bool)
    if mask.any():
        control = pd.Series(mask, index=values.index)
        why[mask] = [
            f"contains control character U+{ord(_first_control(v)):04X} (only tab and line "
            "breaks are allowed in text)"
            for v in values[mask]
        ]
        text = text.where(~control, None)
    return Parsed(text, why)


def _first_control(value: str) -> str:
    import re

    found = re.search(CONTROL_RE, value)
    return found.group(0) if found else "?"


def _arrow_text(values: pd.Series) -> Any:
    """Raw values as an Arrow string array (typed values from Parquet/SQL through ``str``)."""
    import pyarrow as pa

    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed Python objects: one by one
        as_text = values.map(
            lambda v: v if v is None or isinstance(v, str) or pd.isna(v) else str(v)
        )
        return pa.array(as_text, type=pa.string(), from_pandas=True)


def _to_int(values: pd.Series, why: np.ndarray) -> Parsed:
    """Integers parsed from their text, never through a float: exact over the whole int64
    range; outside it, or with a fraction, a row is refused with the reason."""
    if pd.api.types.is_bool_dtype(values):
        return Parsed(pd.Series(pd.NA, index=values.index, dtype="Int64"), why)
    if pd.api.types.is_integer_dtype(values):
        return Parsed(values.astype("Int64"), why)
    if pd.api.types.is_float_dtype(values):  # typed upstream as float: exact if integral
        finite = np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))
        ok = finite & (values == np.floor(values)).to_numpy() & (values.abs() < 2.0**63).to_numpy()
        out = pd.array([int(v) if k else pd.NA for v, k in zip(values, ok, strict=True)], "Int64")
        return Parsed(pd.Series(out, index=values.index), why)
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow_text(values)
    text = pd.Series(arr.to_pandas(), index=values.index)
    short = pc.fill_null(pc.match_substring_regex(arr, SHORT_INT_RE), False)
    fast = pc.cast(pc.utf8_trim_whitespace(pc.if_else(short, arr, None)), pa.int64())
    out = pd.Series(fast.to_pandas(types_mapper=pd.ArrowDtype), index=values.index).astype("Int64")
    rest = (~np.asarray(short.to_numpy(zero_copy_only=False), dtype=bool)) & text.notna().to_numpy()
    for i in np.flatnonzero(rest):
        value, reason = _exact_int(str(text.iat[i]))
        if value is not None:
            out.iat[i] = value
        why[i] = reason
    return Parsed(out, why)


def _exact_int(raw: str) -> tuple[int | None, str]:
    """One integer from text like ``9007199254740993``, ``1e3`` or ``40.0``; else the reason."""
    import re
    from decimal import Decimal, InvalidOperation

    if not re.match(NUMBER_RE, raw):
        return None, ""
    try:
        number = Decimal(raw.strip())
    except InvalidOperation:
        return None, ""
    if number.adjusted() > 18 or not (INT64_MIN <= number <= INT64_MAX):
        return None, (
            f"{raw.strip()} is out of range for an int (64-bit: {INT64_MIN} to {INT64_MAX})"
        )
    if number != number.to_integral_value():
        return None, ""
    return int(number), ""


def _to_float(values: pd.Series, why: np.ndarray) -> Parsed:
    """Finite 64-bit floats only: ``nan``/``inf`` are not numbers a model can use, and a
    literal that overflows (``1e309``) is refused, not stored as infinity."""
    if pd.api.types.is_bool_dtype(values):
        return Parsed(pd.Series(np.nan, index=values.index, dtype="float64"), why)
    if pd.api.types.is_numeric_dtype(values):
        num = values.astype("float64")
    else:
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = _arrow_text(values)
        valid = pc.match_substring_regex(arr, NUMBER_RE)
        numbers = pc.cast(pc.utf8_trim_whitespace(pc.if_else(valid, arr, None)), pa.float64())
        num = pd.Series(numbers.to_numpy(zero_copy_only=False), index=values.index, dtype="float64")
    infinite = np.isinf(num.to_numpy())
    if infinite.any():
        why[infinite] = [
            f"{v} overflows a 64-bit float" if isinstance(v, str) else f"{v} is not a finite number"
            for v in values[infinite]
        ]
        num = num.where(~infinite, np.nan)
    return Parsed(num, why)


def _to_datetime(values: pd.Series, *, utc: bool) -> pd.Series:
    """Parse dates/timestamps: ISO 8601 fast path, any other format as a fallback; a value
    that no path can read (or that pandas cannot hold) becomes NaT."""
    import warnings

    if values.dtype != object and not pd.api.types.is_string_dtype(values):
        return pd.to_datetime(values, errors="coerce", utc=utc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mixed offsets: handled below
        warnings.simplefilter("ignore", UserWarning)
        try:
            parsed = pd.to_datetime(values, errors="coerce", utc=utc, format="ISO8601")
            retry = parsed.isna() & values.notna()
            if retry.any():
                parsed[retry] = pd.to_datetime(
                    values[retry], errors="coerce", utc=utc, format="mixed"
                )
            return parsed
        except (ValueError, TypeError, OverflowError):  # mixed offsets, odd objects: one by one
            return pd.Series([_one_datetime(v, utc) for v in values], index=values.index)


def _one_datetime(value: Any, utc: bool) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return pd.NaT
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT
    if utc:
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts


def _to_wall_time(values: pd.Series) -> pd.Series:
    """Date-times as written (each row's own offset dropped, not converted), naive."""
    parsed = _to_datetime(values, utc=False)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_localize(None)
    if parsed.dtype == object:  # rows with different offsets (or none): one by one
        parsed = pd.Series(
            [
                pd.NaT
                if v is None or v is pd.NaT
                else (pd.Timestamp(v).tz_localize(None) if pd.Timestamp(v).tzinfo else v)
                for v in parsed
            ],
            index=values.index,
            dtype="datetime64[ns]",
        )
    return parsed


def check_schema(frame: pd.DataFrame, schema: SchemaSpec, origin: str) -> None:
    """Fail if the data's columns break the spec (missing, or unexpected unless ignored)."""
    present = {c for c in frame.columns if not c.startswith("_")}
    missing = [c for c in schema.columns if c not in present]
    extra = sorted(present - set(schema.columns))
    problems = []
    if missing:
        problems.append(f"missing column(s) {missing}")
    if extra and schema.extra_columns == "error":
        problems.append(
            f"unexpected column(s) {extra} (add them to the spec's schema, or set "
            f"schema.extra_columns: ignore)"
        )
    if problems:
        raise SchemaError(
            f"{origin}: schema break: {'; '.join(problems)}. The data has {sorted(present)}; "
            "the spec expects " + str(list(schema.columns)) + ". Nothing was written."
        )


IdLookup = Callable[[pd.Series], pd.Series]


def validate(
    frame: pd.DataFrame,
    schema: SchemaSpec,
    day: date,
    origin: str = "input",
    *,
    ingested_on: IdLookup | None = None,
) -> Checked:
    """Type and check every row against ``schema``; reject rows with reasons, never drop them.

    ``ingested_on`` maps ids to the day they were already ingested on (NA if never, or on
    ``day`` itself, which this run replaces): such rows are rejected, so an id is unique
    across the whole table, not only within a day.

    Raises SchemaError when a column is missing or its type changed (more than
    ``schema.max_type_error_ratio`` of its values do not parse).
    """
    check_schema(frame, schema, origin)
    n = len(frame)
    reasons = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray, values: Any, template: str) -> None:
        """Add ``template`` (with ``{v}`` = the row's value) to the reasons of masked rows."""
        if not mask.any():
            return
        if values is None:
            msg: Any = template
        else:
            picked = values[mask] if isinstance(values, np.ndarray) else values.to_numpy()[mask]
            msg = np.array([template.format(v=v) for v in picked], dtype=object)
        reasons[mask] = reasons[mask] + "; " + msg

    typed: dict[str, pd.Series] = {}
    type_breaks = []
    for name, col in schema.columns.items():
        raw = frame[name]
        result = parse_column(raw, col)
        parsed = result.values
        present = raw.notna().to_numpy()
        bad = present & parsed.isna().to_numpy()
        if present.sum() and bad.sum() / present.sum() > schema.max_type_error_ratio and n >= 10:
            sample = raw[bad].head(3).tolist()
            type_breaks.append(f"{name} (expected {col.type}, e.g. got {sample})")
        special = bad & (result.why != "")
        flag(bad & ~special, raw, f"{name}: {{v}} is not a {col.type}")
        flag(special, result.why, f"{name}: {{v}}")
        if not col.nullable:
            flag(~present, None, f"{name}: missing (the column is not nullable)")
        if col.min is not None:
            below = (parsed < col.min).fillna(False).to_numpy(dtype=bool)
            flag(below, parsed, f"{name}: {{v}} is below min {col.min:g}")
        if col.max is not None:
            above = (parsed > col.max).fillna(False).to_numpy(dtype=bool)
            flag(above, parsed, f"{name}: {{v}} is above max {col.max:g}")
        if col.categories:
            unknown = (parsed.notna() & ~parsed.isin(col.categories)).to_numpy(dtype=bool)
            flag(unknown, parsed, f"{name}: {{v}} is not one of {col.categories}")
        typed[name] = parsed
    if type_breaks:
        raise SchemaError(
            f"{origin}: schema break: changed type in column(s) {'; '.join(type_breaks)}. "
            "Fix the upstream export or change the column's type in the spec. Nothing was written."
        )

    ts = typed[schema.timestamp_column]
    day_of = (
        ts.dt.tz_convert(None).dt.normalize()
        if getattr(ts.dt, "tz", None) is not None
        else ts.dt.normalize()
    )
    other_day = (ts.notna() & (day_of != pd.Timestamp(day))).to_numpy(dtype=bool)
    flag(other_day, ts.dt.date, f"{schema.timestamp_column}: {{v}} is not the ingested day {day}")

    id_col = schema.id_column
    ids = typed[id_col]
    repeated = ids.duplicated(keep="first")
    dup = (ids.notna() & repeated).to_numpy(dtype=bool)
    if dup.any():
        data_cols = list(schema.columns)
        firsts = ids.notna() & ~repeated & ids.isin(ids[dup])
        first_line = frame.loc[firsts].set_index(ids[firsts])
        notes = np.full(n, "", dtype=object)
        for i in np.flatnonzero(dup):
            first = first_line.loc[ids.iat[i]]
            same = all(_same(frame[c].iat[i], first[c]) for c in data_cols if c != id_col)
            where = f"line {first['_line']}" if "_line" in frame.columns else "an earlier row"
            notes[i] = f"{id_col}: duplicate id {ids.iat[i]} " + (
                f"(same values as {where})" if same else f"(values differ from {where})"
            )
        flag(dup, notes, "{v}")
    if ingested_on is not None and ids.notna().any():
        seen = ingested_on(ids).reindex(ids.index)
        earlier = (seen.notna() & ~dup).to_numpy(dtype=bool)
        flag(
            earlier,
            np.array(
                [
                    f"{id_col}: id {i} was already ingested for {d}"
                    for i, d in zip(ids, seen, strict=True)
                ],
                dtype=object,
            ),
            "{v} (ids must be unique across days)",
        )

    rejected_mask = reasons != ""
    out = pd.DataFrame(typed)
    if "_source" in frame.columns:
        out["_source"] = frame["_source"].to_numpy()
    for name, col in schema.columns.items():
        if col.type == "date":
            out[name] = out[name].dt.date
    accepted = out[~rejected_mask].reset_index(drop=True)
    rejected = frame[rejected_mask].copy()
    rejected["_reason"] = [r.removeprefix("; ") for r in reasons[rejected_mask]]
    return Checked(accepted=accepted, rejected=rejected.reset_index(drop=True))


def _same(a: Any, b: Any) -> bool:
    """Raw values equal, two missing values included."""
    missing_a = a is None or (not isinstance(a, str) and pd.isna(a))
    missing_b = b is None or (not isinstance(b, str) and pd.isna(b))
    return (missing_a and missing_b) or (not missing_a and not missing_b and a == b)


# --- quarantine -----------------------------------------------------------------------------


def quarantine_folder(spec: UseCaseSpec, dataset: str, day: date) -> str:
    """Lake folder of one day's rejected rows."""
    return f"quarantine/{spec.name}/{dataset}/day={day.isoformat()}"


def quarantine_key(spec: UseCaseSpec, dataset: str, day: date, batch: str) -> str:
    """Lake key of the rejected rows of one ingestion run (``batch``) of a day."""
    return f"{quarantine_folder(spec, dataset, day)}/rejected-{batch}.csv"


def write_quarantine(rejected: pd.DataFrame, key: str, settings: Settings) -> str:
    """Write rejected rows with their reasons to ``key`` (a new object); return its URL."""
    cols = ["_reason", "_source", "_line"] + [c for c in rejected.columns if not c.startswith("_")]
    cols += [c for c in rejected.columns if c not in cols]
    buf = io.StringIO()
    rejected.reindex(columns=cols).to_csv(buf, index=False)
    return lake.write_bytes(key, buf.getvalue().encode(), settings)


def current_quarantine(
    spec: UseCaseSpec, dataset: str, day: date, settings: Settings | None = None
) -> str | None:
    """Lake key of the day's quarantine as committed (None if the day has no rejected rows).

    The table's newest snapshot for the day names it (``mlstack.quarantine``): a file of a
    run whose commit failed is never the day's quarantine, whatever the folder holds.
    """
    table = lake.load_table(spec.table_name(dataset), settings)
    for snap in sorted(table.snapshots(), key=lambda x: x.sequence_number or 0, reverse=True):
        props = snap.summary.additional_properties if snap.summary else {}
        if props.get("mlstack.day") == day.isoformat():
            return props.get("mlstack.quarantine") or None
    return None


def _prune_quarantine(folder: str, keep: str | None, settings: Settings) -> None:
    """After a commit: remove the day's other quarantine files (earlier or failed runs)."""
    for key in lake.list_keys(folder, settings):
        if key != keep:
            lake.delete_key(key, settings)


# --- lookups against the lake ----------------------------------------------------------------


def id_range(id_col: str, ids: pd.Series) -> Any:
    """A row filter ``min(ids) <= id <= max(ids)`` (None without ids): every stored row one
    of ``ids`` can match lies in it, and PyIceberg skips each data file whose id bounds miss
    it — with ids that grow over time (dated, sequential) all other days' files, so a
    day's lookups read the day's neighbours, not the whole table."""
    from pyiceberg.expressions import And, GreaterThanOrEqual, LessThanOrEqual

    present = ids.dropna()
    if present.empty:
        return None
    lo, hi = (v.item() if isinstance(v, np.generic) else v for v in (present.min(), present.max()))
    return And(GreaterThanOrEqual(id_col, lo), LessThanOrEqual(id_col, hi))  # type: ignore[call-arg, arg-type]


def _ids_elsewhere(table: Any, schema: SchemaSpec, day: date) -> IdLookup:
    """A lookup: for each id, the day it is already in ``table`` on (other days only)."""
    from pyiceberg.expressions import Not

    id_col, ts_col = schema.id_column, schema.timestamp_column

    def lookup(ids: pd.Series) -> pd.Series:
        import pyarrow as pa
        import pyarrow.compute as pc
        from pyiceberg.expressions import And

        out = pd.Series(pd.NA, index=ids.index, dtype=object)
        within = id_range(id_col, ids)
        if within is None:
            return out
        stored = table.scan(
            row_filter=And(Not(lake.day_filter(schema, day)), within),
            selected_fields=(id_col, ts_col),
        ).to_arrow()
        if not stored.num_rows:
            return out
        mine = pa.array(ids, from_pandas=True).cast(stored.schema.field(id_col).type)
        known = pc.is_in(mine, value_set=stored.column(id_col).combine_chunks())
        hit = np.asarray(known.to_numpy(zero_copy_only=False), dtype=bool)
        if not hit.any():  # the usual case: nothing more to look up
            return out
        found = stored.filter(pc.is_in(stored.column(id_col), value_set=mine.filter(known)))
        when = found.column(ts_col).to_pandas()
        if isinstance(when.dtype, pd.DatetimeTZDtype):
            when = when.dt.tz_convert(None)
        days = pd.Series(
            pd.to_datetime(when).dt.date.astype(str).to_numpy(),
            index=found.column(id_col).to_pandas(),
        )
        days = days[~days.index.duplicated(keep="first")]
        out[hit] = ids[hit].map(days).to_numpy()
        return out

    return lookup


def _unmatched_labels(
    spec: UseCaseSpec, accepted: pd.DataFrame, settings: Settings
) -> tuple[int, list[Any]]:
    """Labels whose id has never been ingested as features: (count, first ids)."""
    from mlstack.exceptions import DatasetNotFound

    id_col = spec.schema.id_column
    if accepted.empty:
        return 0, []
    try:
        features = lake.load_table(spec.table_name("features"), settings)
        within = id_range(id_col, accepted[id_col])
        scan = features.scan(
            selected_fields=(id_col,), **({"row_filter": within} if within else {})
        )
        known = scan.to_arrow().column(id_col)
    except DatasetNotFound:
        known = None
    ids = accepted[id_col]
    if known is None:
        missing = ids
    else:
        import pyarrow as pa
        import pyarrow.compute as pc

        member = pc.is_in(pa.array(ids, from_pandas=True), value_set=known.combine_chunks())
        missing = ids[~np.asarray(member.to_numpy(zero_copy_only=False), dtype=bool)]
    return len(missing), missing.head(10).tolist()


# --- the stage ------------------------------------------------------------------------------


def ingest_day(
    spec: UseCaseSpec,
    day: date,
    dataset: str = "features",
    *,
    settings: Settings | None = None,
    producer: str = "mlstack-cli",
) -> IngestResult:
    """Ingest one day of one dataset; see the module docstring for the steps.

    All or nothing: the day's rows, its quarantine and the counts become visible in one
    Iceberg commit; a run that fails anywhere leaves the table and the day's quarantine as
    they were (its own quarantine file, written before the commit, is removed or, if the
    store is down, left unreferenced until the next run of the day removes it).
    """
    s = settings or get_settings()
    plugins.load_for(spec)
    source_spec = spec.dataset_source(dataset)
    field_name = "source.kind" if dataset == "features" else "labels.source.kind"
    source = plugins.get_for(spec, "sources", source_spec.kind, field_name)
    schema = spec.dataset_schema(dataset)
    batch = source(day, spec=spec, dataset=dataset, options=source_spec.options, settings=s)
    origin = ", ".join(batch.origins) or source_spec.kind
    rows_in = len(batch.frame) + len(batch.malformed)
    ident = lake.table_identifier(spec.table_name(dataset), s)
    if rows_in == 0 and source_spec.empty_day != "record":
        raise SourceError(
            f"{origin}: no rows for {day} (only a header). Nothing was written: {ident} keeps "
            f"{day} as it was. If the day is really empty, set 'empty_day: record' on the "
            f"{'source' if dataset == 'features' else 'labels source'} in the spec to record it "
            "as an empty day."
        )
    table = lake.open_table(
        spec.table_name(dataset),
        schema,
        {"mlstack.usecase": spec.name, "mlstack.dataset": dataset},
        s,
    )
    checked = validate(
        batch.frame, schema, day, origin, ingested_on=_ids_elsewhere(table, schema, day)
    )
    rejected = (
        pd.concat([batch.malformed, checked.rejected], ignore_index=True)
        if len(batch.malformed)
        else checked.rejected
    )
    warnings = list(batch.warnings)
    unmatched = 0
    if dataset == "labels":
        unmatched, sample = _unmatched_labels(spec, checked.accepted, s)
        if unmatched:
            warnings.append(
                f"{unmatched} label(s) have an id never ingested as features (e.g. {sample}); "
                "they are kept in the labels table and join no features row until those arrive"
            )
    accepted = checked.accepted.assign(_ingested_at=pd.Timestamp(datetime.now(UTC)))
    if "_source" not in accepted.columns:
        accepted["_source"] = origin

    batch_id = uuid.uuid4().hex
    qkey = quarantine_key(spec, dataset, day, batch_id) if len(rejected) else None
    props = {
        "mlstack.day": day.isoformat(),
        "mlstack.batch": batch_id,
        "mlstack.producer": producer,
        "mlstack.rows-in": str(rows_in),
        "mlstack.rejected": str(len(rejected)),
        "mlstack.malformed": str(len(batch.malformed)),
        "mlstack.quarantine": qkey or "",
    }
    if dataset == "labels":
        props["mlstack.unmatched-ids"] = str(unmatched)
    quarantine = None
    try:
        if qkey is not None:
            quarantine = write_quarantine(rejected, qkey, s)
        snapshot_id = lake.replace_day(
            table, schema, day, lake.arrow_table(accepted, table.schema()), props
        )
    except BaseException:
        if qkey is not None:
            try:
                lake.delete_key(qkey, s)
            except Exception as exc:  # the store is down: the file stays, unreferenced
                log.warning("Could not remove %s of the failed run: %s", qkey, exc)
        raise
    try:
        _prune_quarantine(quarantine_folder(spec, dataset, day), qkey, s)
    except Exception as exc:  # committed already; older files are unreferenced, pruned later
        log.warning("Could not remove older quarantine files of %s: %s", day, exc)
    for warning in warnings:
        log.warning("%s", warning)
    result = IngestResult(
        usecase=spec.name,
        dataset=dataset,
        table=ident,
        day=day.isoformat(),
        snapshot_id=snapshot_id,
        rows_in=rows_in,
        accepted=len(accepted),
        rejected=len(rejected),
        quarantine=quarantine,
        files=batch.origins,
        batch=batch_id,
        malformed=len(batch.malformed),
        unmatched_ids=unmatched,
        warnings=warnings,
    )
    log.info(
        "Ingested %s/%s %s: %d in, %d accepted, %d rejected (%d malformed), snapshot %s",
        spec.name,
        dataset,
        day,
        rows_in,
        result.accepted,
        result.rejected,
        result.malformed,
        snapshot_id,
    )
    return result
