"""Built-in sources: how a day's raw rows are read.

``files`` reads the CSV or Parquet files directly in ``<prefix>/day=YYYY-MM-DD/`` (a
lake-relative prefix, or a full ``s3://`` / ``file://`` URL); ``sql`` runs a query with a
``:day`` parameter against a database URL; ``simulator`` generates the day in memory.

A source returns a :class:`SourceBatch`. Records that cannot even be parsed (wrong number of
fields) come back in ``malformed`` with the line they start on and their text, never
dropped. A file that cannot be read as what the spec says (compressed, another encoding or
delimiter, an unterminated quote) fails the run with what was seen and the option to set.
Each source declares its options as a pydantic model (``options_model``), so a spec with a
wrong option fails ``mlstack usecases validate`` naming it.

Long (~640 lines) because the CSV reader detects and names what it cannot read (encodings,
compression, delimiters, quotes) with exact line numbers; it is one concern.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import logging
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mlstack import lake
from mlstack.exceptions import SchemaError, SourceError
from mlstack.plugins import register
from mlstack.settings import Settings, get_settings

if TYPE_CHECKING:
    from mlstack.specs import UseCaseSpec

log = logging.getLogger(__name__)

MALFORMED_COLUMNS = ["_source", "_line", "_raw", "_reason"]
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
#: How the ``sql`` source turns an Airflow connection id into a database URL. This module
#: never imports Airflow: the Airflow layer's ingest task sets it
#: (:func:`mlstack.airflow.connections.connection_url`); None outside Airflow.
connection_url: Callable[[str], str] | None = None
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass
class SourceBatch:
    """One day's raw rows, where they came from, the records that could not be parsed, and
    what the source noticed but did not read (``warnings``: ignored files and folders)."""

    frame: pd.DataFrame
    origins: list[str]
    malformed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=MALFORMED_COLUMNS))
    warnings: list[str] = field(default_factory=list)


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


# --- options ------------------------------------------------------------------------------


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvOptions(_Options):
    """How a CSV file is written: its delimiter, text encoding and compression."""

    delimiter: str = Field(default=",", description="One character, e.g. ',' ';' or '\\t'.")
    encoding: str = Field(default="utf-8", description="Text encoding, e.g. utf-8, utf-16, cp1252.")
    compression: Literal["none", "gzip"] = "none"

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str) -> str:
        if len(v) != 1 or v in '"\r\n':
            raise ValueError("must be one character other than a quote or a line break")
        return v

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            return codecs.lookup(v).name
        except LookupError:
            raise ValueError(
                "unknown text encoding; use a Python codec name such as utf-8, utf-16, cp1252"
            ) from None


class FilesOptions(CsvOptions):
    """Options of the ``files`` source."""

    prefix: str = Field(min_length=1, description="Landing prefix; days are <prefix>/day=D/.")
    format: Literal["csv", "parquet"] | None = Field(
        default=None, description="File format; default: by extension (.parquet, else CSV)."
    )


class SqlOptions(_Options):
    """Options of the ``sql`` source: where the database is (one of ``url``, ``url_env``,
    ``conn_id``) and what to read (one of ``table``, ``query``)."""

    url: str | None = Field(
        default=None, description="SQLAlchemy URL, written in the spec (no secrets here)."
    )
    url_env: str | None = Field(
        default=None, description="Environment variable holding the SQLAlchemy URL."
    )
    conn_id: str | None = Field(default=None, description="Airflow connection id.")
    table: str | None = Field(
        default=None, description="Table (or schema.table): the day's rows by day_column."
    )
    query: str | None = Field(
        default=None,
        description="SQL: filters by :day (YYYY-MM-DD) itself, or its rows are filtered by "
        "day_column.",
    )
    day_column: str | None = Field(
        default=None,
        description="Column a day's rows are selected by; default: the dataset's timestamp column.",
    )

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not ENV_NAME_RE.match(v):
            raise ValueError("must be an environment variable name, e.g. CHURN_DB_URL")
        return v

    @field_validator("table")
    @classmethod
    def _table_name(cls, v: str | None) -> str | None:
        if v is not None and not TABLE_RE.match(v):
            raise ValueError("must be a table name or schema.table (letters, digits, '_')")
        return v

    @field_validator("day_column")
    @classmethod
    def _column_name(cls, v: str | None) -> str | None:
        if v is not None and not COLUMN_RE.match(v):
            raise ValueError("must be a column name (letters, digits, '_')")
        return v

    @model_validator(mode="after")
    def _one_of_each(self) -> SqlOptions:
        where = [k for k in ("url", "url_env", "conn_id") if getattr(self, k)]
        if len(where) != 1:
            raise ValueError(
                "give exactly one of url_env (an environment variable holding the database "
                "URL), conn_id (an Airflow connection) or url" + (f"; got {where}" if where else "")
            )
        what = [k for k in ("table", "query") if getattr(self, k)]
        if len(what) != 1:
            raise ValueError(
                "give exactly one of table (read by day_column) or query"
                + (f"; got {what}" if what else "")
            )
        if self.query and ":day" in self.query and self.day_column:
            raise ValueError(
                "the query filters by :day itself, so day_column is not used; remove one"
            )
        return self


class SimulatorOptions(_Options):
    """The ``simulator`` source takes no options (the spec's ``simulator:`` section does)."""


def parse_options(model: type[_Options], options: Mapping[str, Any], where: str) -> Any:
    """``options`` validated against a source's options model; SourceError naming the field."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        raise SourceError(f"{where}: {options_problems(model, options)[0]}") from exc


def options_problems(model: type[_Options], options: Mapping[str, Any]) -> list[str]:
    """Problems of ``options`` for an options model, one line each ([] when valid)."""
    try:
        model.model_validate(dict(options))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            name = f"options.{field}" if field else "options"  # empty: the options together
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown option; allowed: {sorted(model.model_fields)}"
            got = err.get("input")
            shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
            problems.append(f"{name}: {msg}{shown}")
        return problems
    return []


# --- reading bytes ------------------------------------------------------------------------

# Leading bytes of formats that are not CSV text, and what to do about each.
_MAGIC = (
    (b"PAR1", "a Parquet file", "set the source's options.format: parquet (or name it .parquet)"),
    (b"PK\x03\x04", "a ZIP archive", "deliver the CSV file itself (or gzip it)"),
    (b"BZh", "bzip2-compressed", "deliver plain or gzip-compressed CSV"),
    (b"\xfd7zXZ\x00", "xz-compressed", "deliver plain or gzip-compressed CSV"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "deliver plain or gzip-compressed CSV"),
    (b"\x89PNG", "a PNG image", "check the upstream export"),
    (b"%PDF", "a PDF document", "check the upstream export"),
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _decompress(data: bytes, origin: str, opts: CsvOptions) -> bytes:
    is_gzip = data[:2] == b"\x1f\x8b"
    if opts.compression == "gzip":
        if not is_gzip:
            raise SourceError(
                f"{origin}: options.compression is gzip but the file is not gzip-compressed "
                f"(starts with {data[:4]!r}); remove the option or fix the upstream export"
            )
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceError(f"{origin}: damaged gzip file ({exc}); re-deliver it") from exc
    if is_gzip:
        raise SourceError(
            f"{origin}: the file is gzip-compressed (starts with bytes 1f 8b); set the "
            "source's options.compression: gzip in the spec, or deliver it uncompressed"
        )
    return data


def _decode(data: bytes, origin: str, opts: CsvOptions) -> str:
    """The file as text, in the configured encoding; a clear error naming what was seen."""
    for magic, what, fix in _MAGIC:
        if data.startswith(magic):
            raise SourceError(f"{origin}: not a CSV text file: it is {what}; {fix}")
    configured = opts.encoding
    if configured in ("utf-8", "utf-8-sig"):
        for bom, name in _BOMS:
            if data.startswith(bom):
                raise SourceError(
                    f"{origin}: the file is {name.upper()} text (byte-order mark "
                    f"{bom.hex(' ')}), not UTF-8; re-export it as UTF-8 or set the source's "
                    f"options.encoding: {name}"
                )
        head = data[:4096]
        nuls = head.count(0)
        if nuls:
            odd, even = head[1::2].count(0), head[0::2].count(0)
            if nuls > len(head) // 4 and max(odd, even) > 0.9 * nuls:
                order = "little-endian" if odd > even else "big-endian"
                raise SourceError(
                    f"{origin}: the file looks like UTF-16 text ({order}, no byte-order mark: "
                    f"every other byte is NUL), not UTF-8; re-export it as UTF-8 or set the "
                    f"source's options.encoding: utf-16-{'le' if odd > even else 'be'}"
                )
            if nuls > len(head) // 100:
                raise SourceError(
                    f"{origin}: not a CSV text file (binary content: {nuls} NUL bytes in the "
                    f"first {len(head)}); check the upstream export"
                )
        configured = "utf-8-sig"  # a UTF-8 byte-order mark is dropped, never part of a name
    try:
        return data.decode(configured)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        seen = data[max(0, exc.start - 20) : exc.end + 20]
        hint = (
            "set the source's options.encoding (e.g. cp1252 or latin-1) to what upstream "
            "writes, or re-export it as UTF-8"
            if opts.encoding in ("utf-8", "utf-8-sig")
            else f"check options.encoding ({opts.encoding})"
        )
        raise SourceError(
            f"{origin}: not valid {opts.encoding} text: "
            f"byte(s) {exc.object[exc.start : exc.end]!r} at offset {exc.start} "
            f"(line {line}, near {seen!r}); {hint}"
        ) from exc


def _guess_delimiter(line: str, configured: str) -> str | None:
    """Another delimiter that splits the header better than the configured one, if any."""
    counts = {d: line.count(d) for d in (";", "\t", "|", ",") if d != configured}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] >= max(1, line.count(configured) + 1) else None


def _check_header(header: list[str], first_line: str, origin: str, opts: CsvOptions) -> list[str]:
    names = [h.strip() for h in header]
    shown = first_line[:120]
    if len(names) < 2:
        other = _guess_delimiter(first_line, opts.delimiter)
        if other is not None:
            raise SourceError(
                f"{origin}: the header has one column when split on {opts.delimiter!r} but "
                f"{first_line.count(other) + 1} when split on {other!r} (first line: {shown!r}); "
                f"set the source's options.delimiter: {other!r} if upstream writes that"
            )
    if first_line.lstrip()[:1] in ("{", "[", "<"):
        kind = "JSON" if first_line.lstrip()[0] in "{[" else "XML/HTML"
        raise SourceError(
            f"{origin}: not a CSV file with a header row (it looks like {kind}: "
            f"{first_line[:80]!r}); deliver CSV or set the source's format"
        )
    empty = [i + 1 for i, h in enumerate(names) if not h]
    dupes = sorted({h for h in names if names.count(h) > 1 and h})
    if len(names) < 2 or empty or dupes:
        why = (
            f"column(s) {empty} have no name"
            if empty
            else f"duplicate column name(s) {dupes}"
            if dupes
            else "fewer than two columns"
        )
        raise SourceError(
            f"{origin}: not a CSV file with a usable header row: {why} (first line: {shown!r})"
        )
    reserved_columns(names, origin)
    return names


def reserved_columns(names: list[str], origin: str) -> None:
    """Refuse data columns whose names are reserved for ingestion metadata (``_`` prefix)."""
    reserved = [n for n in names if str(n).startswith("_")]
    if reserved:
        raise SchemaError(
            f"{origin}: column name(s) {reserved} are reserved: names starting with '_' hold "
            "ingestion metadata (_line, _source, _ingested_at, ...). Rename the column(s) "
            "upstream. Nothing was written."
        )


def read_csv_bytes(
    data: bytes, origin: str, options: CsvOptions | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse CSV bytes as all-string columns; return (rows, malformed records).

    Each row carries ``_line``, the physical line its record starts on (the header is line
    1; blank lines and line breaks inside quoted values count). Line breaks may be LF, CRLF
    or CR. An unterminated quote fails the file: its record would swallow the rest of it.
    """
    opts = options or CsvOptions()
    text = _decode(_decompress(data, origin, opts), origin, opts)
    if not text.strip():
        raise SourceError(f"{origin}: file is empty (no header row); expected a CSV with a header")
    if '"' in text:
        return _read_quoted(text, origin, opts)
    return _read_plain(text, origin, opts)


def _read_plain(text: str, origin: str, opts: CsvOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """No quote anywhere: a record is a non-empty line. Parsed by Arrow (fast)."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    raw = text.encode("utf-8")
    buf = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(raw)]))
    nonempty = np.flatnonzero(stops > starts) + 1  # physical line numbers of non-empty lines
    first = int(nonempty[0])
    first_line = raw[starts[first - 1] : stops[first - 1]].decode("utf-8")
    names = _check_header(first_line.split(opts.delimiter), first_line, origin, opts)
    records = nonempty[nonempty > first]  # line numbers of the data records
    if not len(records):  # a header and nothing else
        empty = pd.DataFrame({n: pd.Series([], dtype=object) for n in names})
        empty.insert(0, "_line", pd.Series([], dtype="int64"))
        return empty, pd.DataFrame(columns=MALFORMED_COLUMNS)
    bad: list[dict[str, Any]] = []

    def on_invalid(row: Any) -> str:
        bad.append(
            {
                "_source": origin,
                "_line": int(records[row.number - 1]),  # Arrow numbers non-empty records
                "_raw": row.text,
                "_reason": (
                    f"malformed line: {row.actual_columns} fields, expected {row.expected_columns}"
                ),
            }
        )
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(raw[int(stops[first - 1]) + 1 :]),  # the records after the header
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=1 << 26, column_names=names
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=opts.delimiter, quote_char=False, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in names},
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise SourceError(f"{origin}: cannot be read as CSV: {exc}") from exc
    frame = table.to_pandas()
    if len(records) != len(frame) + len(bad):
        raise SourceError(
            f"{origin}: {len(records)} records but {len(frame)} rows + {len(bad)} malformed "
            "were parsed; please report this file"
        )
    keep = np.ones(len(records), dtype=bool)
    if bad:
        keep[np.searchsorted(records, [b["_line"] for b in bad])] = False
    frame.insert(0, "_line", records[keep])
    return frame, pd.DataFrame(bad, columns=MALFORMED_COLUMNS)


def _read_quoted(text: str, origin: str, opts: CsvOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Quotes present: records may span lines. Parsed with the csv module, line by line."""
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=opts.delimiter, strict=False)
    names: list[str] | None = None
    rows: list[list[str]] = []
    numbers: list[int] = []
    bad: list[dict[str, Any]] = []
    start, last = 1, (1, 1)
    for record in reader:
        end = reader.line_num
        if not record:  # a blank line
            start = end + 1
            continue
        if names is None:
            names = _check_header(
                record, "".join(lines[start - 1 : end]).rstrip("\r\n"), origin, opts
            )
        elif len(record) == len(names):
            rows.append(record)
            numbers.append(start)
        else:
            bad.append(
                {
                    "_source": origin,
                    "_line": start,
                    "_raw": "".join(lines[start - 1 : end]).rstrip("\r\n"),
                    "_reason": f"malformed line: {len(record)} fields, expected {len(names)}"
                    + (f" (lines {start}-{end})" if end > start else ""),
                }
            )
        last = (start, end)
        start = end + 1
    assert names is not None  # text is not blank, so there is a first record
    _refuse_unterminated(lines, last, origin, opts)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    frame = pd.DataFrame(
        {
            n: pd.array([v if v != "" else None for v in col], dtype=object)
            for n, col in zip(names, columns, strict=True)
        }
    )
    frame.insert(0, "_line", numbers)
    return frame, pd.DataFrame(bad, columns=MALFORMED_COLUMNS)


def _refuse_unterminated(
    lines: list[str], last: tuple[int, int], origin: str, opts: CsvOptions
) -> None:
    """Fail when the file's last record ends inside a quoted value (an unterminated quote)."""
    start, end = last
    tail = "".join(lines[start - 1 : end])
    try:
        for _ in csv.reader(io.StringIO(tail, newline=""), delimiter=opts.delimiter, strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" not in str(exc):
            return  # other strictness complaints (e.g. text after a closing quote) are fine
        raise SourceError(
            f"{origin}: unterminated quote: the quoted value in the record starting on line "
            f"{start} never closes, so lines {start}-{end} ({end - start + 1} line(s), to the end "
            f"of the file) would be read as one value. Fix the quoting upstream (a quote inside "
            f'a quoted value is written ""). Nothing was written.'
        ) from None


def read_parquet_bytes(data: bytes, origin: str) -> pd.DataFrame:
    """Read a Parquet file; unreadable files fail with the file named."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(io.BytesIO(data)).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{origin}: not a readable Parquet file: {exc}") from exc
    reserved_columns([str(c) for c in frame.columns], origin)
    frame.insert(0, "_line", range(1, len(frame) + 1))
    return frame


def parse_file(
    name: str,
    data: bytes,
    origin: str,
    fmt: str | None = None,
    options: CsvOptions | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse one landed file by its format (``csv``/``parquet``, else by extension)."""
    fmt = fmt or ("parquet" if name.endswith(PARQUET_SUFFIXES) else "csv")
    if fmt == "parquet":
        return read_parquet_bytes(data, origin), pd.DataFrame(columns=MALFORMED_COLUMNS)
    if fmt == "csv":
        return read_csv_bytes(data, origin, options)
    raise SourceError(f"{origin}: unknown format {fmt!r}; use 'csv' or 'parquet'")


def _readable(name: str, fmt: str | None) -> bool:
    """Whether a file in a day folder is data of the configured format (by its name)."""
    base = name.removesuffix(".gz")
    csv_ok, parquet_ok = base.endswith(CSV_SUFFIXES), base.endswith(PARQUET_SUFFIXES)
    return {"csv": csv_ok, "parquet": parquet_ok}.get(fmt or "", csv_ok or parquet_ok)


def _combine(
    parts: list[tuple[pd.DataFrame, pd.DataFrame, str]], warnings: list[str] | None = None
) -> SourceBatch:
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
        warnings=warnings or [],
    )


@register("sources", "files")
def files(
    day: date, *, spec: UseCaseSpec, dataset: str, options: Mapping[str, Any], settings: Settings
) -> SourceBatch:
    """Read the CSV/Parquet files directly in ``<prefix>/day=<day>/`` (not its subfolders).

    Hidden files (``.x``, ``_SUCCESS``) are skipped; subfolders and files of another
    format are ignored with a warning; no data file at all fails naming what was found.
    """
    opts: FilesOptions = parse_options(
        FilesOptions, options, f"use case {spec.name!r} ({dataset}): source 'files'"
    )
    key_prefix, s = _settings_for(opts.prefix, settings)
    folder = day_prefix(key_prefix, day).lstrip("/")
    found, folders = lake.list_entries(folder, s)
    keys = [k for k in found if _readable(k.rsplit("/", 1)[-1], opts.format)]
    ignored = [k.rsplit("/", 1)[-1] for k in found if k not in keys]
    warnings = []
    if folders:
        warnings.append(
            f"{lake.url(folder, s)}: subfolder(s) {[f.rsplit('/', 1)[-1] for f in folders]} "
            "ignored (a day's files are read from the day folder itself, not recursively)"
        )
    kinds = {"csv": "CSV (.csv, .tsv, .txt)", "parquet": "Parquet (.parquet, .pq)"}
    wanted = kinds.get(opts.format or "", "CSV (.csv, .tsv, .txt) or Parquet (.parquet, .pq)")
    if ignored:
        warnings.append(
            f"{lake.url(folder, s)}: file(s) {ignored} ignored: not {wanted} by their name"
        )
    if not keys and (ignored or folders):
        held = ignored + [f.rsplit("/", 1)[-1] + "/" for f in folders]
        raise SourceError(
            f"no {wanted} files for {day} in {lake.url(folder, s)}: it holds only {held}. "
            "Deliver the day's files there (not in a subfolder), or set the source's "
            "options.format to what upstream delivers"
        )
    if not keys:
        raise SourceError(
            f"no files for {day} under {lake.url(folder, s)}; has upstream delivered this day? "
            "(files land in <prefix>/day=YYYY-MM-DD/)"
        )
    parts = []
    for key in keys:
        origin = lake.url(key, s)
        fmt = opts.format or ("parquet" if key.endswith(PARQUET_SUFFIXES) else "csv")
        frame, malformed = parse_file(key, lake.read_bytes(key, s), origin, fmt, opts)
        parts.append((frame, malformed, origin))
    return _combine(parts, warnings)


@register("sources", "sql")
def sql(
    day: date, *, spec: UseCaseSpec, dataset: str, options: Mapping[str, Any], settings: Settings
) -> SourceBatch:
    """Read one day of rows from a database table or query (see :class:`SqlOptions`).

    ``table``: the rows whose ``day_column`` (default: the dataset's timestamp column) falls
    on the day. ``query`` with ``:day``: run as written, ``:day`` bound to the day
    (``YYYY-MM-DD``); without: its rows whose ``day_column`` falls on the day. A timestamp
    column's day is cut at midnight UTC, as ingestion checks it.
    """
    import sqlalchemy as sa

    where = f"use case {spec.name!r} ({dataset}): source 'sql'"
    opts: SqlOptions = parse_options(SqlOptions, options, where)
    url = sql_url(opts, where)
    eng = sa.create_engine(url)
    statement, params = day_statement(opts, spec, dataset, day, eng.dialect)
    try:
        with eng.connect() as conn:
            frame = pd.read_sql_query(statement, conn, params=params)
    except sa.exc.SQLAlchemyError as exc:
        raise SourceError(f"{where}: query failed: {exc}") from exc
    finally:
        eng.dispose()
    reserved_columns([str(c) for c in frame.columns], f"query of {spec.name!r} ({dataset})")
    frame.insert(0, "_line", range(1, len(frame) + 1))
    origin = f"sql:{sa.engine.make_url(url).render_as_string(hide_password=True)}"
    if opts.table:
        origin += f"/{opts.table}"
    return _combine([(frame, pd.DataFrame(columns=MALFORMED_COLUMNS), origin)])


def sql_url(opts: SqlOptions, where: str) -> str:
    """The database URL the options name: written out, from the environment or from an
    Airflow connection; a SourceError says what to set when it is missing."""
    import os

    if opts.url:
        return opts.url
    if opts.url_env:
        value = os.environ.get(opts.url_env, "").strip()
        if not value:
            raise SourceError(
                f"{where}: environment variable {opts.url_env} is not set; set it to the "
                "database's SQLAlchemy URL, e.g. postgresql+psycopg2://user:password@host/db"
            )
        return value
    return _connection_url(str(opts.conn_id), where)


def _connection_url(conn_id: str, where: str) -> str:
    """The SQLAlchemy URL of Airflow connection ``conn_id``, read by :data:`connection_url`."""
    if connection_url is None:
        raise SourceError(
            f"{where}: conn_id {conn_id!r} is an Airflow connection, read when the ingest runs "
            "in Airflow (its DAG); here, give the URL through url_env instead"
        )
    try:
        return connection_url(conn_id)
    except SourceError:
        raise
    except Exception as exc:  # not found, unreadable: say what to create
        raise SourceError(
            f"{where}: Airflow connection {conn_id!r} cannot be read ({exc}); create it "
            f"(Admin > Connections, or AIRFLOW_CONN_{conn_id.upper()}) as a postgres connection"
        ) from exc


def day_statement(
    opts: SqlOptions, spec: UseCaseSpec, dataset: str, day: date, dialect: Any
) -> tuple[Any, dict[str, Any]]:
    """The statement that reads ``day`` and its parameters (see :func:`sql`)."""
    import sqlalchemy as sa

    if opts.query and ":day" in opts.query:
        return sa.text(opts.query), {"day": day.isoformat()}
    schema = spec.dataset_schema(dataset)
    column = opts.day_column or schema.timestamp_column
    quote = dialect.identifier_preparer.quote
    if opts.table:
        source = ".".join(quote(part) for part in opts.table.split("."))
    else:
        source = f"({str(opts.query).strip().rstrip(';')}) AS mlstack_day"
    start: date | datetime = day
    declared = schema.columns.get(column)
    if declared is not None and declared.type == "timestamp":
        start = datetime.combine(day, time(), UTC)
    text = (
        f"SELECT * FROM {source} WHERE {quote(column)} >= :day_start AND {quote(column)} < :day_end"
    )
    return sa.text(text), {"day_start": start, "day_end": start + timedelta(days=1)}


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


files.options_model = FilesOptions  # type: ignore[attr-defined]
sql.options_model = SqlOptions  # type: ignore[attr-defined]
simulator.options_model = SimulatorOptions  # type: ignore[attr-defined]


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
    landed: dict[str, bool] = {}  # the datasets landed where their files source reads them

    def is_landed(dataset: str) -> bool:
        if dataset not in landed:
            source = spec.dataset_source(dataset)
            prefix = source.options.get("prefix")
            if source.kind != "files" or not prefix:
                landed[dataset] = True  # not the simulator's to land
            else:
                key_prefix, ds = _settings_for(str(prefix), s)
                landed[dataset] = bool(lake.list_keys(day_prefix(key_prefix, day), ds))
        return landed[dataset]

    if only_missing and all(is_landed(d) for d in spec.datasets()):
        return []  # all there: no need to run the simulator
    plugins.load_for(spec)
    produced = plugins.get("simulators", sim.plugin)(
        day, seed=sim.seed, rows=sim.rows_per_day, start=sim.start, options=sim.options
    )
    written = []
    for dataset, (name, data) in produced.items():
        source = spec.dataset_source(dataset)
        prefix = source.options.get("prefix")
        if source.kind != "files" or not prefix or (only_missing and is_landed(dataset)):
            continue
        written.append(land_file(str(prefix), day, name, data, s))
    return written


def land_file(prefix: str, day: date, name: str, data: bytes, settings: Settings) -> str:
    """Write one delivered file ``name`` where the ``files`` source reads ``day`` under
    ``prefix`` (lake-relative or a full URL); its URL."""
    key_prefix, where = _settings_for(prefix, settings)
    return lake.write_bytes(f"{day_prefix(key_prefix, day)}/{name}", data, where)
