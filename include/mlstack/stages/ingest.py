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
import warnings
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
    import pyarrow as pa
    from pyiceberg.table import Table

log = logging.getLogger(__name__)

META_COLUMNS = {"_ingested_at": "timestamp", "_source": "string"}
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


# --- Iceberg --------------------------------------------------------------------------------


def iceberg_schema(schema: SchemaSpec) -> Any:
    """The Iceberg schema of a dataset: the spec's columns plus ingestion metadata."""
    from pyiceberg import types as it
    from pyiceberg.schema import Schema

    kinds = {
        "string": it.StringType(),
        "category": it.StringType(),
        "int": it.LongType(),
        "float": it.DoubleType(),
        "bool": it.BooleanType(),
        "date": it.DateType(),
        "timestamp": it.TimestamptzType(),
    }
    cols = {**{k: v.type for k, v in schema.columns.items()}, **META_COLUMNS}
    fields = [
        it.NestedField(
            i,
            name,
            kinds[kind],
            required=False,
            doc=schema.columns[name].description if name in schema.columns else None,
        )
        for i, (name, kind) in enumerate(cols.items(), start=1)
    ]
    return Schema(*fields)


def arrow_table(frame: pd.DataFrame, table_schema: Any) -> pa.Table:
    """Arrow table in the Iceberg table's own column order and types."""
    import pyarrow as pa
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    target = schema_to_pyarrow(table_schema, include_field_ids=False)
    arrays = []
    for fld in target:
        if fld.name in frame.columns:
            arrays.append(pa.array(frame[fld.name], type=fld.type, from_pandas=True))
        else:
            arrays.append(pa.nulls(len(frame), type=fld.type))
    return pa.Table.from_arrays(arrays, schema=target)


def open_table(spec: UseCaseSpec, dataset: str, settings: Settings) -> Table:
    """The dataset's Iceberg table, created partitioned by day (or evolved) to match the spec."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import DayTransform, IdentityTransform

    schema = spec.dataset_schema(dataset)
    wanted = iceberg_schema(schema)
    ident = lake.table_identifier(spec.table_name(dataset), settings)
    cat = lake.catalog(settings)
    try:
        table = cat.load_table(ident)
    except NoSuchTableError:
        ts = wanted.find_field(schema.timestamp_column)
        transform: IdentityTransform[Any] | DayTransform = (
            IdentityTransform()
            if schema.columns[schema.timestamp_column].type == "date"
            else DayTransform()
        )
        part = PartitionSpec(PartitionField(ts.field_id, 1000, transform, "day"))
        props = {
            "mlstack.usecase": spec.name,
            "mlstack.dataset": dataset,
            "write.parquet.compression-codec": "zstd",
        }
        try:
            return cat.create_table(ident, schema=wanted, partition_spec=part, properties=props)
        except Exception:  # created concurrently by another run: load the winner's table
            return cat.load_table(ident)
    have = {f.name for f in table.schema().fields}
    if any(f.name not in have for f in wanted.fields):
        with table.update_schema() as update:
            update.union_by_name(wanted)
        table = cat.load_table(ident)
    return table


def day_filter(schema: SchemaSpec, day: date) -> Any:
    """Iceberg row filter selecting one day of the timestamp column."""
    from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual, LessThan

    # pyiceberg's expression classes are pydantic models whose constructors mypy cannot see.
    col = schema.timestamp_column
    if schema.columns[col].type == "date":
        return EqualTo(col, day.isoformat())  # type: ignore[call-arg, arg-type]
    start = pd.Timestamp(day, tz="UTC")
    end = start + pd.Timedelta(days=1)
    return And(
        GreaterThanOrEqual(col, start.isoformat()),  # type: ignore[call-arg, arg-type]
        LessThan(col, end.isoformat()),  # type: ignore[call-arg, arg-type]
    )


def replace_day(
    table: Table, schema: SchemaSpec, day: date, data: pa.Table, props: dict[str, str]
) -> int:
    """Replace one day's partition with ``data`` in one atomic commit; return the snapshot id."""
    flt = day_filter(schema, day)
    with warnings.catch_warnings():  # a first load of a day has nothing to delete: fine
        warnings.filterwarnings("ignore", message="Delete operation did not match any records")
        if data.num_rows:
            table.overwrite(data, overwrite_filter=flt, snapshot_properties=props)
        else:
            table.delete(flt, snapshot_properties=props)
    table.refresh()
    snap = table.current_snapshot()
    if snap is None:  # an empty day on an empty table: commit an empty append to get a version
        table.append(data, snapshot_properties=props)
        snap = table.current_snapshot()
    assert snap is not None
    return int(snap.snapshot_id)


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
    table = open_table(spec, dataset, s)
    batch_id = uuid.uuid4().hex
    props = {
        "mlstack.day": day.isoformat(),
        "mlstack.batch": batch_id,
        "mlstack.producer": producer,
        "mlstack.rows-in": str(rows_in),
        "mlstack.rejected": str(len(rejected)),
    }
    snapshot_id = replace_day(table, schema, day, arrow_table(accepted, table.schema()), props)
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
