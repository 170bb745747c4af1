"""Ingestion: one day of one dataset, from its source into its Iceberg table.

Read the day from the source → check the schema as a whole (a missing column or a changed
type fails the run, naming the columns) → check every row (types, nullability, ranges,
categories, the day, duplicate ids) → rejected rows with their reasons to
``quarantine/`` → accepted rows replace that day's partition in one Iceberg commit, so a
re-run of a day replaces it instead of duplicating it and a failed run leaves nothing
half-written. Returns what happened, for the Asset event and the catalog.
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlstack import lake, plugins
from mlstack.exceptions import SchemaError
from mlstack.settings import Settings, get_settings
from mlstack.specs import ColumnSpec, SchemaSpec, UseCaseSpec

if TYPE_CHECKING:
    pass

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary for Airflow (Asset event extra, XCom)."""
        return asdict(self)


@dataclass
class Checked:
    """Validation outcome: typed accepted rows, and rejected rows with ``_reason``."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame


# --- validation ---------------------------------------------------------------------------


def _parse(values: pd.Series, col: ColumnSpec) -> pd.Series:
    """Convert raw values to the column's type; unparsable values become NA."""
    if col.type in ("int", "float"):
        num = _to_number(values)
        if col.type == "int":
            num = num.where(num.isna() | (num == np.floor(num)))
            return num.astype("Int64")
        return num.astype("float64")
    if col.type == "bool":
        if values.dtype == bool:
            return values.astype("boolean")
        low = values.astype("string").str.strip().str.lower()
        return low.map(lambda v: True if v in TRUE else False if v in FALSE else pd.NA).astype(
            "boolean"
        )
    if col.type == "date":
        parsed = _to_datetime(values, utc=False)
        return (
            parsed.dt.tz_localize(None).dt.normalize()
            if parsed.dt.tz is not None
            else parsed.dt.normalize()
        )
    if col.type == "timestamp":
        return _to_datetime(values, utc=True)
    return values.astype(object).where(values.notna(), None)


NUMBER_RE = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


def _to_number(values: pd.Series) -> pd.Series:
    """Strings to float64 (NaN where not a number), vectorised in Arrow; others via pandas."""
    if values.dtype != object:
        return pd.to_numeric(values, errors="coerce")
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed Python objects: the slow, sure path
        return pd.to_numeric(values, errors="coerce")
    valid = pc.match_substring_regex(arr, NUMBER_RE)
    numbers = pc.cast(pc.utf8_trim_whitespace(pc.if_else(valid, arr, None)), pa.float64())
    return pd.Series(numbers.to_numpy(zero_copy_only=False), index=values.index, dtype="float64")


def _to_datetime(values: pd.Series, *, utc: bool) -> pd.Series:
    """Parse dates/timestamps: ISO 8601 fast path, any other format as a fallback."""
    if values.dtype != object and not pd.api.types.is_string_dtype(values):
        return pd.to_datetime(values, errors="coerce", utc=utc)
    parsed = pd.to_datetime(values, errors="coerce", utc=utc, format="ISO8601")
    retry = parsed.isna() & values.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(values[retry], errors="coerce", utc=utc, format="mixed")
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


def validate(frame: pd.DataFrame, schema: SchemaSpec, day: date, origin: str = "input") -> Checked:
    """Type and check every row against ``schema``; reject rows with reasons, never drop them.

    Raises SchemaError when a column is missing or its type changed (more than
    ``schema.max_type_error_ratio`` of its values do not parse).
    """
    check_schema(frame, schema, origin)
    n = len(frame)
    reasons = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray, values: pd.Series | None, template: str) -> None:
        """Add ``template`` (with ``{v}`` = the row's value) to the reasons of masked rows."""
        if not mask.any():
            return
        if values is None:
            msg: Any = template
        else:
            msg = np.array([template.format(v=v) for v in values.to_numpy()[mask]], dtype=object)
        reasons[mask] = reasons[mask] + "; " + msg

    typed: dict[str, pd.Series] = {}
    type_breaks = []
    for name, col in schema.columns.items():
        raw = frame[name]
        parsed = _parse(raw, col)
        present = raw.notna().to_numpy()
        bad = present & parsed.isna().to_numpy()
        if present.sum() and bad.sum() / present.sum() > schema.max_type_error_ratio and n >= 10:
            sample = raw[bad].head(3).tolist()
            type_breaks.append(f"{name} (expected {col.type}, e.g. got {sample})")
        flag(bad, raw, f"{name}: {{v}} is not a {col.type}")
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

    ids = typed[schema.id_column]
    dup = (ids.notna() & ids.duplicated(keep="first")).to_numpy(dtype=bool)
    flag(dup, ids, f"{schema.id_column}: duplicate id {{v}}")

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


# --- quarantine -----------------------------------------------------------------------------


def quarantine_key(spec: UseCaseSpec, dataset: str, day: date) -> str:
    """Lake key of one day's rejected rows."""
    return f"quarantine/{spec.name}/{dataset}/day={day.isoformat()}/rejected.csv"


def write_quarantine(rejected: pd.DataFrame, key: str, settings: Settings) -> str | None:
    """Keep rejected rows with their reasons, replacing an earlier run's; None if there are none."""
    if rejected.empty:
        lake.delete_prefix(key.rsplit("/", 1)[0], settings)
        return None
    cols = ["_reason", "_source", "_line"] + [c for c in rejected.columns if not c.startswith("_")]
    cols += [c for c in rejected.columns if c not in cols]
    buf = io.StringIO()
    rejected[cols].to_csv(buf, index=False)
    return lake.write_bytes(key, buf.getvalue().encode(), settings)


# --- the stage ------------------------------------------------------------------------------


def ingest_day(
    spec: UseCaseSpec,
    day: date,
    dataset: str = "features",
    *,
    settings: Settings | None = None,
    producer: str = "mlstack-cli",
) -> IngestResult:
    """Ingest one day of one dataset; see the module docstring for the steps."""
    s = settings or get_settings()
    plugins.load_for(spec)
    source_spec = spec.dataset_source(dataset)
    source = plugins.get("sources", source_spec.kind)
    schema = spec.dataset_schema(dataset)
    batch = source(day, spec=spec, dataset=dataset, options=source_spec.options, settings=s)
    origin = ", ".join(batch.origins) or source_spec.kind
    checked = validate(batch.frame, schema, day, origin)
    rejected = (
        pd.concat([batch.malformed, checked.rejected], ignore_index=True)
        if len(batch.malformed)
        else checked.rejected
    )
    rows_in = len(batch.frame) + len(batch.malformed)

    qkey = quarantine_key(spec, dataset, day)
    quarantine = write_quarantine(rejected, qkey, s)
    accepted = checked.accepted
    accepted = accepted.assign(_ingested_at=pd.Timestamp(datetime.now(UTC)))
    if "_source" not in accepted.columns:
        accepted["_source"] = origin
    table = lake.open_table(
        spec.table_name(dataset),
        spec.dataset_schema(dataset),
        {"mlstack.usecase": spec.name, "mlstack.dataset": dataset},
        s,
    )
    batch_id = uuid.uuid4().hex
    props = {
        "mlstack.day": day.isoformat(),
        "mlstack.batch": batch_id,
        "mlstack.producer": producer,
        "mlstack.rows-in": str(rows_in),
        "mlstack.rejected": str(len(rejected)),
    }
    snapshot_id = lake.replace_day(
        table, schema, day, lake.arrow_table(accepted, table.schema()), props
    )
    result = IngestResult(
        usecase=spec.name,
        dataset=dataset,
        table=lake.table_identifier(spec.table_name(dataset), s),
        day=day.isoformat(),
        snapshot_id=snapshot_id,
        rows_in=rows_in,
        accepted=len(accepted),
        rejected=len(rejected),
        quarantine=quarantine,
        files=batch.origins,
        batch=batch_id,
    )
    log.info(
        "Ingested %s/%s %s: %d in, %d accepted, %d rejected, snapshot %s",
        spec.name,
        dataset,
        day,
        rows_in,
        result.accepted,
        result.rejected,
        snapshot_id,
    )
    return result
