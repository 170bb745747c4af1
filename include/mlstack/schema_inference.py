"""A schema inferred from a sample file (CSV or Parquet), for ``mlstack usecases new --from``.

Reads the file as ingestion would (the ``files`` source's own parsers), decides each column's
type by what ingestion can parse every value as (bool, int, float, date, timestamp, else
category or string), its nullability, its observed range and its categories, and guesses
the columns that play the id, date and target roles, and the task (a 0/1 or true/false
target is classification, another numeric one regression). A file that cannot be read, has
no rows, or has no plausible id, date or target fails with what to pass instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mlstack.exceptions import InvalidInput
from mlstack.specs import ColumnSpec, ColumnType

#: A text column with at most this many distinct values (and repeats) is a category.
MAX_CATEGORIES = 30
#: Names that say "this is what we predict" (whole name or a ``_``-separated word).
TARGET_WORDS = (
    "target",
    "label",
    "outcome",
    "churn",
    "churned",
    "default",
    "defaulted",
    "fraud",
    "is_fraud",
    "survived",
    "converted",
    "y",
    "class",
    "response",
)
ID_WORDS = ("id", "key", "uuid", "guid")
DATE_WORDS = ("date", "day", "time", "timestamp", "ts", "at", "dt")
_DATE_TEXT = re.compile(r"^\s*\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")


@dataclass
class InferredColumn:
    """One column as the sample shows it: its spec, and what was seen (for comments)."""

    name: str
    spec: ColumnSpec
    nulls: int
    distinct: int
    seen_min: object = None
    seen_max: object = None


@dataclass
class InferredSchema:
    """Every column of a sample, the guessed roles, the task, and the sample itself."""

    path: Path
    format: str
    frame: pd.DataFrame
    columns: dict[str, InferredColumn]
    id_column: str | None = None
    date_column: str | None = None
    target_column: str | None = None
    task: str = "classification"
    notes: list[str] = field(default_factory=list)

    def candidates(self, role: str) -> list[str]:
        """Columns that could play ``role`` (id, date, target), the guess first."""
        ok = {
            "id": lambda c: (
                c.nulls == 0 and c.distinct == len(self.frame) and c.spec.type in ("string", "int")
            ),
            "date": lambda c: c.spec.type in ("date", "timestamp"),
            "target": lambda c: _target_task(c) is not None,
        }[role]
        found = [n for n, c in self.columns.items() if ok(c)]
        guess = getattr(self, f"{role}_column")
        return sorted(found, key=lambda n: n != guess)


def read_sample(path: str | Path) -> tuple[pd.DataFrame, str]:
    """The rows of a CSV or Parquet file, as ingestion reads them (values as delivered),
    and its format; InvalidInput naming the file and what to do when it cannot be read or
    has no rows."""
    from mlstack.exceptions import MlstackError
    from mlstack.sources import PARQUET_SUFFIXES, parse_file

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {path}: {exc.strerror or exc}; pass --from a readable CSV or Parquet file"
        ) from exc
    if not data.strip():
        raise InvalidInput(f"{path} is empty; pass --from a CSV (with a header) or Parquet file")
    fmt = "parquet" if path.name.endswith(PARQUET_SUFFIXES) or data[:4] == b"PAR1" else "csv"
    try:
        frame, malformed = parse_file(path.name, data, str(path), fmt)
    except MlstackError as exc:
        raise InvalidInput(f"cannot use {path} as a sample: {exc}") from exc
    frame = frame.drop(columns=[c for c in frame.columns if str(c).startswith("_")])
    if frame.empty:
        raise InvalidInput(
            f"{path} has a header but no rows ({len(malformed)} unparsable record(s)); "
            "pass --from a file with sample rows: the schema is inferred from them"
        )
    return frame.reset_index(drop=True), fmt


def _fits(values: pd.Series, kind: ColumnType) -> bool:
    """Whether ingestion parses every present value of ``values`` as ``kind``."""
    from mlstack.stages.ingest import parse_column

    typed = pd.api.types.is_datetime64_any_dtype(values)
    if (
        kind in ("date", "timestamp")
        and not typed
        and not values.astype(str).str.match(_DATE_TEXT).all()
    ):
        return False
    parsed = parse_column(values, ColumnSpec(type=kind)).values
    return bool(parsed.notna().all())


def _column_type(values: pd.Series) -> ColumnType:
    """The narrowest type ingestion parses every present value of a column as."""
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    text = values.astype(str).str.strip().str.lower()
    if text.isin({"true", "false", "t", "f", "yes", "no"}).all():
        return "bool"
    if pd.api.types.is_float_dtype(values):  # typed upstream (Parquet): keep it a float
        return "float"
    if _fits(values, "int"):
        return "int"
    if _fits(values, "float"):
        return "float"
    if _fits(values, "date"):
        if pd.api.types.is_datetime64_any_dtype(values):
            stamps = pd.to_datetime(values)
            has_time = bool((stamps != stamps.dt.normalize()).any())
        else:
            has_time = bool(text.str.len().gt(10).any())
        return "timestamp" if has_time else "date"
    return "string"


def infer_column(name: str, raw: pd.Series) -> InferredColumn:
    """One column's spec from its sample values: type, nullability, range, categories."""
    present = raw[raw.notna() & (raw.astype(str).str.strip() != "")]
    nulls = len(raw) - len(present)
    kind: ColumnType = _column_type(present) if len(present) else "string"
    distinct = int(present.astype(str).nunique())
    seen_min = seen_max = None
    extra: dict[str, object] = {}
    if kind in ("int", "float"):
        from mlstack.stages.ingest import parse_column

        numbers = parse_column(present, ColumnSpec(type=kind)).values.astype(float)
        seen_min, seen_max = numbers.min(), numbers.max()
        if kind == "int":
            seen_min, seen_max = int(seen_min), int(seen_max)
        if seen_min >= 0:
            extra["min"] = 0
        if kind == "int" and {seen_min, seen_max} <= {0, 1}:
            extra["max"] = 1
    elif kind in ("date", "timestamp"):
        from mlstack.stages.ingest import parse_column

        stamps = parse_column(present, ColumnSpec(type=kind)).values
        seen_min, seen_max = str(stamps.min())[:19], str(stamps.max())[:19]
    elif kind == "string" and 0 < distinct <= MAX_CATEGORIES and distinct < len(present) / 2:
        kind = "category"
        extra["categories"] = sorted(present.astype(str).str.strip().unique().tolist())
    spec = ColumnSpec(type=kind, nullable=nulls > 0, **extra)  # type: ignore[arg-type]
    return InferredColumn(name, spec, nulls, distinct, seen_min, seen_max)


def _words(name: str) -> set[str]:
    return {name.lower(), *re.split(r"[^a-z0-9]+", name.lower())}


def _target_task(col: InferredColumn) -> str | None:
    """The task a column would be the target of (None: it cannot be a target)."""
    if col.spec.type == "bool" or (
        col.spec.type == "int" and {col.seen_min, col.seen_max} <= {0, 1} and col.distinct == 2
    ):
        return "classification"
    if col.spec.type in ("int", "float") and col.distinct > 2:
        return "regression"
    return None


def _guess(columns: dict[str, InferredColumn], ok: list[str], words: tuple[str, ...]) -> str | None:
    """The first of ``ok`` whose name has one of ``words`` (in the order of ``words``)."""
    for word in words:
        for name in ok:
            if word in _words(name):
                return name
    return None


def infer(path: str | Path) -> InferredSchema:
    """The schema of a sample file with its best guesses of the id, date and target."""
    frame, fmt = read_sample(path)
    columns = {str(c): infer_column(str(c), frame[c]) for c in frame.columns}
    schema = InferredSchema(Path(path), fmt, frame, columns)
    ids = schema.candidates("id")
    schema.id_column = _guess(columns, ids, ID_WORDS) or next(
        (n for n in ids if columns[n].spec.type == "string"), None
    )
    dates = schema.candidates("date")
    schema.date_column = _guess(columns, dates, DATE_WORDS) or (dates[0] if dates else None)
    targets = [n for n in schema.candidates("target") if n not in (schema.id_column,)]
    last = list(columns)[-1]
    schema.target_column = _guess(columns, targets, TARGET_WORDS) or (
        last if last in targets and _target_task(columns[last]) == "classification" else None
    )
    return schema


def choose_roles(
    schema: InferredSchema,
    *,
    id_column: str | None = None,
    date_column: str | None = None,
    target: str | None = None,
) -> InferredSchema:
    """Apply the roles the user chose over the guesses; check each can play its role and
    that every role has a column; InvalidInput saying which flag to pass otherwise."""
    for role, chosen in (("id", id_column), ("date", date_column), ("target", target)):
        if chosen is None:
            continue
        if chosen not in schema.columns:
            raise InvalidInput(
                f"--{_FLAG[role]} {chosen!r} is not a column of {schema.path}; its columns: "
                f"{list(schema.columns)}"
            )
        if chosen not in schema.candidates(role):
            raise InvalidInput(f"--{_FLAG[role]} {chosen!r}: {_WHY[role]}")
        setattr(schema, f"{role}_column", chosen)
    for role in ("id", "date", "target"):
        if getattr(schema, f"{role}_column") is None:
            fits = schema.candidates(role)
            raise InvalidInput(
                f"no plausible {role} column in {schema.path}: {_WHY[role]}; pass "
                f"--{_FLAG[role]} COLUMN"
                + (f" (candidates: {fits})" if fits else f" (columns: {list(schema.columns)})")
            )
    roles = [schema.id_column, schema.date_column, schema.target_column]
    if len(set(roles)) < 3:
        raise InvalidInput(
            f"one column cannot play two roles (id {roles[0]}, date {roles[1]}, target "
            f"{roles[2]}); pass --id-column, --date-column and --target with distinct columns"
        )
    target_col = schema.columns[str(schema.target_column)]
    schema.task = _target_task(target_col) or "classification"
    id_col = schema.columns[str(schema.id_column)]
    schema.columns[str(schema.id_column)].spec = ColumnSpec(
        type="string", nullable=False, description="Unique id of a row"
    )
    schema.columns[str(schema.date_column)].spec = schema.columns[
        str(schema.date_column)
    ].spec.model_copy(update={"nullable": False, "description": "Day partition of the table"})
    if id_col.spec.type != "string":
        schema.notes.append(f"id {id_col.name} is typed string (ids are compared as text)")
    return schema


_FLAG = {"id": "id-column", "date": "date-column", "target": "target"}
_WHY = {
    "id": "an id column must have a value on every row, all different (text or integers)",
    "date": "a date column must hold dates or timestamps (YYYY-MM-DD...) on every row",
    "target": "a target must be numeric: 0/1 or true/false (classification) or a number "
    "with more than two values (regression); recode text labels to 0/1",
}
