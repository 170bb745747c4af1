"""Built-in sources: how a day's raw rows are read.

``files`` reads CSV or Parquet files under ``<prefix>/day=YYYY-MM-DD/`` (a lake-relative
prefix, or a full ``s3://`` / ``file://`` URL); ``sql`` runs a query with a ``:day``
parameter against a database URL; ``simulator`` generates the day in memory.

A source returns a :class:`SourceBatch`. Lines that cannot even be parsed (wrong number of
fields) come back in ``malformed`` with their line number and text, never dropped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from mlstack import lake
from mlstack.exceptions import SourceError
from mlstack.plugins import register
from mlstack.settings import Settings, get_settings

if TYPE_CHECKING:
    from mlstack.specs import UseCaseSpec

MALFORMED_COLUMNS = ["_source", "_line", "_raw", "_reason"]


@dataclass
class SourceBatch:
    """One day's raw rows, where they came from, and the lines that could not be parsed."""

    frame: pd.DataFrame
    origins: list[str]
    malformed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=MALFORMED_COLUMNS))


class Source(Protocol):
    """A source reads one day of one dataset."""

    def __call__(
        self,
        day: date,
        *,
        spec: UseCaseSpec,
        dataset: str,
        options: Mapping[str, Any],
        settings: Settings,
    ) -> SourceBatch: ...


def day_prefix(prefix: str, day: date) -> str:
    """The folder of one day under a landing prefix (Hive-style ``day=`` partition)."""
    return f"{prefix.rstrip('/')}/day={day.isoformat()}"


def _settings_for(prefix: str, settings: Settings) -> tuple[str, Settings]:
    """Split a full URL prefix into (lake-relative key, settings whose lake holds it)."""
    if prefix.startswith(("s3://", "file://")):
        return "", settings.model_copy(update={"lake_url": prefix.rstrip("/")})
    return prefix, settings


def read_csv_bytes(data: bytes, origin: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse CSV bytes as all-string columns; return (rows, malformed lines)."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    if not data.strip():
        raise SourceError(f"{origin}: file is empty (no header row); expected a CSV with a header")
    head = data[:4096]
    if b"\x00" in head:
        raise SourceError(
            f"{origin}: not a CSV text file (binary content); check the upstream export"
        )
    try:
        first_line = data.split(b"\n", 1)[0].decode("utf-8").strip("\r")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{origin}: not a UTF-8 CSV file ({exc}); re-export it as UTF-8") from exc
    if first_line.lstrip()[:1] in ("{", "[", "<"):
        kind = "JSON" if first_line.lstrip()[0] in "{[" else "XML/HTML"
        raise SourceError(
            f"{origin}: not a CSV file with a header row (it looks like {kind}: "
            f"{first_line[:80]!r}); deliver CSV or set the source's format"
        )
    header = next(csv.reader([first_line]))
    if len(header) < 2 or len(set(header)) != len(header) or any(not h.strip() for h in header):
        raise SourceError(
            f"{origin}: not a CSV file with a header row (first line: {first_line[:120]!r})"
        )
    bad: list[dict[str, Any]] = []

    def on_invalid(row: Any) -> str:
        bad.append(
            {
                "_source": origin,
                "_line": row.number,
                "_raw": row.text,
                "_reason": (
                    f"malformed line: {row.actual_columns} fields, expected {row.expected_columns}"
                ),
            }
        )
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 26),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise SourceError(f"{origin}: cannot be read as CSV: {exc}") from exc
    frame = table.to_pandas()
    _number_lines(frame, bad)
    return frame, pd.DataFrame(bad, columns=MALFORMED_COLUMNS)


def _number_lines(frame: pd.DataFrame, bad: list[dict[str, Any]]) -> None:
    """Give each parsed row its line number in the file, skipping the malformed ones."""
    if not bad:
        frame.insert(0, "_line", range(2, len(frame) + 2))
        return
    skipped = sorted(b["_line"] for b in bad if b["_line"] is not None)
    lines, line, j = [], 2, 0
    for _ in range(len(frame)):
        while j < len(skipped) and skipped[j] == line:
            line, j = line + 1, j + 1
        lines.append(line)
        line += 1
    frame.insert(0, "_line", lines)


def read_parquet_bytes(data: bytes, origin: str) -> pd.DataFrame:
    """Read a Parquet file; unreadable files fail with the file named."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(io.BytesIO(data)).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{origin}: not a readable Parquet file: {exc}") from exc
    frame.insert(0, "_line", range(1, len(frame) + 1))
    return frame


def parse_file(
    name: str, data: bytes, origin: str, fmt: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse one landed file by its format (``csv``/``parquet``, else by extension)."""
    fmt = fmt or ("parquet" if name.endswith(".parquet") else "csv")
    if fmt == "parquet":
        return read_parquet_bytes(data, origin), pd.DataFrame(columns=MALFORMED_COLUMNS)
    if fmt == "csv":
        return read_csv_bytes(data, origin)
    raise SourceError(f"{origin}: unknown format {fmt!r}; use 'csv' or 'parquet'")


def _combine(parts: list[tuple[pd.DataFrame, pd.DataFrame, str]]) -> SourceBatch:
    frames, bad, origins = [], [], []
    for frame, malformed, origin in parts:
        frames.append(frame.assign(_source=origin))
        if len(malformed):
            bad.append(malformed)
        origins.append(origin)
    return SourceBatch(
        frame=pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
        origins=origins,
        malformed=pd.concat(bad, ignore_index=True)
        if bad
        else pd.DataFrame(columns=MALFORMED_COLUMNS),
    )


@register("sources", "files")
def files(
    day: date, *, spec: UseCaseSpec, dataset: str, options: Mapping[str, Any], settings: Settings
) -> SourceBatch:
    """Read every CSV/Parquet file under ``<prefix>/day=<day>/``."""
    prefix = options.get("prefix")
    if not prefix:
        raise SourceError(
            f"use case {spec.name!r} ({dataset}): source 'files' needs options.prefix"
        )
    key_prefix, s = _settings_for(str(prefix), settings)
    folder = day_prefix(key_prefix, day).lstrip("/")
    keys = lake.list_keys(folder, s)
    if not keys:
        raise SourceError(
            f"no files for {day} under {lake.url(folder, s)}; has upstream delivered this day? "
            f"(files land in <prefix>/day=YYYY-MM-DD/)"
        )
    parts = []
    for key in keys:
        origin = lake.url(key, s)
        frame, malformed = parse_file(key, lake.read_bytes(key, s), origin, options.get("format"))
        parts.append((frame, malformed, origin))
    return _combine(parts)


@register("sources", "sql")
def sql(
    day: date, *, spec: UseCaseSpec, dataset: str, options: Mapping[str, Any], settings: Settings
) -> SourceBatch:
    """Run ``options.query`` (with a ``:day`` parameter) against ``options.url``."""
    import sqlalchemy as sa

    url, query = options.get("url"), options.get("query")
    if not url or not query:
        raise SourceError(
            f"use case {spec.name!r} ({dataset}): source 'sql' needs options.url and options.query"
        )
    eng = sa.create_engine(str(url))
    try:
        with eng.connect() as conn:
            frame = pd.read_sql_query(sa.text(str(query)), conn, params={"day": day.isoformat()})
    except sa.exc.SQLAlchemyError as exc:
        raise SourceError(f"use case {spec.name!r} ({dataset}): query failed: {exc}") from exc
    finally:
        eng.dispose()
    frame.insert(0, "_line", range(1, len(frame) + 1))
    origin = f"sql:{sa.engine.make_url(str(url)).render_as_string(hide_password=True)}"
    return _combine([(frame, pd.DataFrame(columns=MALFORMED_COLUMNS), origin)])


@register("sources", "simulator")
def simulator(
    day: date, *, spec: UseCaseSpec, dataset: str, options: Mapping[str, Any], settings: Settings
) -> SourceBatch:
    """Generate the day with the spec's simulator, in memory (nothing lands)."""
    from mlstack import plugins

    sim = spec.simulator
    if sim is None:
        raise SourceError(
            f"use case {spec.name!r}: source 'simulator' needs a 'simulator:' section"
        )
    produced = plugins.get("simulators", sim.plugin)(
        day, seed=sim.seed, rows=sim.rows_per_day, start=sim.start, options=sim.options
    )
    if dataset not in produced:
        raise SourceError(f"simulator {sim.plugin!r} produces {sorted(produced)}, not {dataset!r}")
    name, data = produced[dataset]
    origin = f"simulator:{sim.plugin}/{day}/{name}"
    frame, malformed = parse_file(name, data, origin)
    return _combine([(frame, malformed, origin)])


def land(
    spec: UseCaseSpec, day: date, settings: Settings | None = None, *, only_missing: bool = False
) -> list[str]:
    """Run the spec's simulator for ``day`` and write its files where the sources read them.

    With ``only_missing``, a dataset whose day already has files is left as delivered.
    """
    from mlstack import plugins

    s = settings or get_settings()
    sim = spec.simulator
    if sim is None:
        raise SourceError(f"use case {spec.name!r} has no 'simulator:' section; nothing to land")
    plugins.load_for(spec)
    produced = plugins.get("simulators", sim.plugin)(
        day, seed=sim.seed, rows=sim.rows_per_day, start=sim.start, options=sim.options
    )
    written = []
    for dataset, (name, data) in produced.items():
        source = spec.dataset_source(dataset)
        prefix = source.options.get("prefix")
        if source.kind != "files" or not prefix:
            continue
        key_prefix, ds = _settings_for(str(prefix), s)
        if only_missing and lake.list_keys(day_prefix(key_prefix, day), ds):
            continue
        written.append(lake.write_bytes(f"{day_prefix(key_prefix, day)}/{name}", data, ds))
    return written
