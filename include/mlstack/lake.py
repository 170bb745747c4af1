"""The lake: objects under ``settings.lake_url`` (a local folder or an S3 bucket) and the
Iceberg tables in it.

Layout under the lake root::

    landing/<usecase>/<dataset>/day=YYYY-MM-DD/...   raw files as upstream delivers them
    quarantine/<usecase>/<dataset>/day=YYYY-MM-DD/   rejected rows with their reasons
    warehouse/                                        Iceberg data and metadata
    reports/                                          monitoring and rollout reports

Everything speaks the S3 API through the configured endpoint, so any S3 store works.
Writes of whole objects are atomic: a reader sees the old object or the new one.
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from mlstack.exceptions import DatasetNotFound
from mlstack.settings import Settings, get_settings
from mlstack.specs import SchemaSpec

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from pyarrow import fs as pafs
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table

log = logging.getLogger(__name__)


def _s3_parts(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    return parsed.netloc, parsed.path.strip("/")


def filesystem(settings: Settings | None = None) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem for the lake and the lake's root path inside it."""
    from pyarrow import fs as pafs

    s = settings or get_settings()
    if s.lake_is_s3:
        bucket, prefix = _s3_parts(s.lake_url)
        return _s3fs(s), f"{bucket}/{prefix}".rstrip("/")
    root = urlparse(s.lake_url).path
    return pafs.LocalFileSystem(), root


def _s3fs(s: Settings) -> pafs.S3FileSystem:
    from pyarrow import fs as pafs

    kwargs: dict[str, object] = {"region": s.s3_region}
    if s.s3_endpoint_url:
        ep = urlparse(s.s3_endpoint_url)
        kwargs["endpoint_override"] = ep.netloc
        kwargs["scheme"] = ep.scheme or "http"
    if s.s3_access_key_id:
        kwargs["access_key"] = s.s3_access_key_id
        kwargs["secret_key"] = s.s3_secret_access_key
    return pafs.S3FileSystem(**kwargs)


def path(key: str, settings: Settings | None = None) -> str:
    """Filesystem path of ``key`` (relative to the lake root)."""
    _, root = filesystem(settings)
    return f"{root}/{key.lstrip('/')}"


def url(key: str, settings: Settings | None = None) -> str:
    """Full URL (file:// or s3://) of ``key``, for humans and other tools."""
    s = settings or get_settings()
    return f"{s.lake_url}/{key.lstrip('/')}"


def write_bytes(key: str, data: bytes, settings: Settings | None = None) -> str:
    """Write an object atomically (temp + rename locally; one PUT on S3); return its URL.

    The bytes are stored as given: a ``.gz`` name does not make pyarrow compress them.
    """
    fs, root = filesystem(settings)
    target = f"{root}/{key.lstrip('/')}"
    parent = target.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    if (settings or get_settings()).lake_is_s3:
        with fs.open_output_stream(target, compression=None) as out:
            out.write(data)
    else:
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        with fs.open_output_stream(tmp, compression=None) as out:
            out.write(data)
        os.replace(tmp, target)
    return url(key, settings)


def read_bytes(key: str, settings: Settings | None = None) -> bytes:
    """Read a whole object, as stored (a ``.gz`` object is not decompressed)."""
    fs, root = filesystem(settings)
    with fs.open_input_stream(f"{root}/{key.lstrip('/')}", compression=None) as f:
        return bytes(f.read())


def list_keys(
    prefix: str, settings: Settings | None = None, *, recursive: bool = True
) -> list[str]:
    """Keys of the files under ``prefix`` (relative to the lake root), sorted; [] if none.

    Names starting with ``.`` or ``_`` (temporary files, ``_SUCCESS`` markers) are skipped.
    """
    return list_entries(prefix, settings, recursive=recursive)[0]


def list_entries(
    prefix: str, settings: Settings | None = None, *, recursive: bool = False
) -> tuple[list[str], list[str]]:
    """(file keys, folder keys) under ``prefix``, sorted; hidden names (``.``/``_``) skipped.

    A local lake is listed with :mod:`os` (the read commands load no pyarrow for it)."""
    s = settings or get_settings()
    if not s.lake_is_s3:
        return _local_entries(urlparse(s.lake_url).path, prefix.strip("/"), recursive)
    fs, root = filesystem(s)
    return _arrow_entries(fs, root, prefix.strip("/"), recursive)


def _arrow_entries(
    fs: pafs.FileSystem, root: str, prefix: str, recursive: bool
) -> tuple[list[str], list[str]]:
    """:func:`list_entries` through a pyarrow filesystem (S3)."""
    from pyarrow import fs as pafs

    base = f"{root}/{prefix}"
    info = fs.get_file_info(base)
    if info.type == pafs.FileType.NotFound:
        return [], []
    if info.type == pafs.FileType.File:
        return [prefix], []
    found = fs.get_file_info(pafs.FileSelector(base, recursive=recursive))
    files, folders = [], []
    for f in found:
        if f.base_name.startswith((".", "_")):
            continue
        key = f.path[len(root) + 1 :]
        if f.type == pafs.FileType.File:
            files.append(key)
        elif f.type == pafs.FileType.Directory and not recursive:
            folders.append(key)
    return sorted(files), sorted(folders)


def _local_entries(root: str, prefix: str, recursive: bool) -> tuple[list[str], list[str]]:
    """:func:`list_entries` of a lake folder: the same keys, found with :func:`os.scandir`."""
    base = os.path.join(root, prefix) if prefix else root
    if os.path.isfile(base):
        return [prefix], []
    if not os.path.isdir(base):
        return [], []
    files, folders = [], []
    todo = [base]
    while todo:
        with os.scandir(todo.pop()) as found:
            for entry in found:
                if entry.is_dir(follow_symlinks=False) and recursive:
                    todo.append(entry.path)
                if entry.name.startswith((".", "_")):
                    continue
                key = entry.path[len(root.rstrip("/")) + 1 :]
                if entry.is_file():
                    files.append(key)
                elif entry.is_dir() and not recursive:
                    folders.append(key)
    return sorted(files), sorted(folders)


def delete_key(key: str, settings: Settings | None = None) -> None:
    """Remove one object (no error if it does not exist)."""
    from pyarrow import fs as pafs

    fs, root = filesystem(settings)
    target = f"{root}/{key.lstrip('/')}"
    if fs.get_file_info(target).type != pafs.FileType.NotFound:
        fs.delete_file(target)


def delete_prefix(prefix: str, settings: Settings | None = None) -> None:
    """Remove every object under ``prefix`` (no error if there is none)."""
    from pyarrow import fs as pafs

    fs, root = filesystem(settings)
    base = f"{root}/{prefix.strip('/')}"
    if fs.get_file_info(base).type != pafs.FileType.NotFound:
        fs.delete_dir_contents(base, missing_dir_ok=True)


def s3_client(settings: Settings | None = None) -> Any:
    """A boto3 S3 client on the configured endpoint and credentials."""
    import boto3

    s = settings or get_settings()
    return boto3.client(
        "s3",
        endpoint_url=s.s3_endpoint_url,
        aws_access_key_id=s.s3_access_key_id,
        aws_secret_access_key=s.s3_secret_access_key,
        region_name=s.s3_region,
    )


def ensure_bucket(name: str, settings: Settings | None = None) -> bool:
    """Create an S3 bucket if it is missing and turn its versioning on (where the server
    supports it: an overwritten or deleted object keeps its earlier versions); return True
    if the bucket was created."""
    from botocore.exceptions import ClientError

    client = s3_client(settings)
    try:
        client.head_bucket(Bucket=name)
        created = False
    except ClientError:
        client.create_bucket(Bucket=name)
        created = True
    enable_versioning(client, name)
    return created


def enable_versioning(client: Any, bucket: str) -> bool:
    """Turn versioning on for ``bucket``; False (logged) when the server does not support it."""
    from botocore.exceptions import ClientError

    try:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    except ClientError as exc:
        log.warning("bucket %s: versioning not enabled (%s)", bucket, exc)
        return False
    return True


def prepare(settings: Settings | None = None) -> None:
    """Make the lake usable: the bucket on S3, the root folder locally."""
    s = settings or get_settings()
    if s.lake_is_s3:
        ensure_bucket(_s3_parts(s.lake_url)[0], s)
    else:
        os.makedirs(urlparse(s.lake_url).path, exist_ok=True)


def iceberg_properties(settings: Settings) -> dict[str, str]:
    """PyIceberg catalog properties: SQL catalog on the mlstack database, warehouse in the lake."""
    props = {
        "uri": settings.database_url,
        "warehouse": f"{settings.lake_url}/warehouse",
        "init_catalog_tables": "true",
    }
    if settings.lake_is_s3:
        props["s3.region"] = settings.s3_region
        if settings.s3_endpoint_url:
            props["s3.endpoint"] = settings.s3_endpoint_url
        if settings.s3_access_key_id:
            props["s3.access-key-id"] = settings.s3_access_key_id
            props["s3.secret-access-key"] = settings.s3_secret_access_key or ""
    return props


@lru_cache(maxsize=4)
def _catalog(items: tuple[tuple[str, str], ...]) -> SqlCatalog:
    from pyiceberg.catalog.sql import SqlCatalog

    memoize_transaction_metadata()
    memoize_manifest_entries()
    memoize_table_metadata()
    return SqlCatalog("mlstack", **dict(items))


def memoize_transaction_metadata() -> bool:
    """Compute a PyIceberg transaction's metadata once per state of the transaction.

    PyIceberg 0.12's ``Transaction.table_metadata`` applies the staged updates to the table's
    metadata and deep-copies the result on *every* read, and one ``overwrite`` reads it about
    40 times; the copy holds every snapshot and log entry, so it grows with the table: 0.65 s
    of a day's ingest after 100 daily commits, most of the commit. The result depends only on
    the table's metadata and the staged updates (both immutable: frozen models and a tuple
    that is replaced, never changed) and the metadata models are frozen, so one result per
    ``(metadata, updates)`` pair is shared. Applied to 0.12 only (returns whether it is): a
    later PyIceberg may change the property, and then it is left as it is.
    """
    import pyiceberg
    from pyiceberg.table import Transaction
    from pyiceberg.table.update import update_table_metadata

    if not pyiceberg.__version__.startswith("0.12."):
        return False
    prop = Transaction.__dict__.get("table_metadata")
    if getattr(getattr(prop, "fget", None), "_mlstack_memo", False):
        return True

    def table_metadata(self: Any) -> Any:
        key = (self._table.metadata, self._updates)
        memo = self.__dict__.get("_mlstack_metadata")
        if memo is None or memo[0][0] is not key[0] or memo[0][1] is not key[1]:
            memo = (key, update_table_metadata(self._table.metadata, self._updates))
            self.__dict__["_mlstack_metadata"] = memo
        return memo[1]

    table_metadata._mlstack_memo = True  # type: ignore[attr-defined]
    Transaction.table_metadata = property(table_metadata)  # type: ignore[method-assign, assignment]
    return True


#: Manifests whose entries :func:`memoize_manifest_entries` keeps (newest used first out).
MANIFEST_MEMO_SIZE = 4096


def memoize_manifest_entries() -> bool:
    """Read each Iceberg manifest file's entries once per process.

    Every commit adds a manifest, and a scan that its partition filter does not narrow to
    one day (an id range, a window of days, a delete's filter) opens and decodes each of them
    again: after 100 daily commits that was the largest single cost of the embedded demo
    (PyIceberg's Avro reader, in Python). A manifest file is never rewritten (a new one gets
    a new name), and what PyIceberg adds to its entries on reading comes from the manifest
    list's record of it (the snapshot that added it, its sequence number), so the entries are
    kept per ``(path, added snapshot, sequence number, live only)``: a manifest read before
    its commit assigned the sequence number is read again after it. Callers get a new list of
    the same entry objects (PyIceberg's readers copy an entry before changing its status).
    Applied to PyIceberg 0.12 only (returns whether it is), as
    :func:`memoize_transaction_metadata`.
    """
    import threading
    from collections import OrderedDict

    import pyiceberg
    from pyiceberg.manifest import ManifestFile

    if not pyiceberg.__version__.startswith("0.12."):
        return False
    read = ManifestFile.fetch_manifest_entry
    if getattr(read, "_mlstack_memo", False):
        return True
    memo: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()
    lock = threading.Lock()

    def fetch_manifest_entry(self: Any, io: Any, discard_deleted: bool = True) -> list[Any]:
        key = (self.manifest_path, self.added_snapshot_id, self.sequence_number, discard_deleted)
        with lock:
            entries = memo.get(key)
            if entries is not None:
                memo.move_to_end(key)
                return list(entries)
        entries = read(self, io, discard_deleted)
        with lock:
            memo[key] = entries
            while len(memo) > MANIFEST_MEMO_SIZE:
                memo.popitem(last=False)
        return list(entries)

    fetch_manifest_entry._mlstack_memo = True  # type: ignore[attr-defined]
    fetch_manifest_entry.memo = memo  # type: ignore[attr-defined]  # for tests
    fetch_manifest_entry.read = read  # type: ignore[attr-defined]  # PyIceberg's own
    ManifestFile.fetch_manifest_entry = fetch_manifest_entry  # type: ignore[method-assign]
    return True


#: Table metadata files :func:`memoize_table_metadata` keeps parsed (newest used first out).
METADATA_MEMO_SIZE = 64


def memoize_table_metadata() -> bool:
    """Parse each Iceberg table metadata file once per process.

    Loading a table reads its current metadata file and parses it into PyIceberg's models:
    every snapshot and log entry, so the cost grows with the table (after 100 daily commits,
    about 6 ms of each of the embedded demo's thousand loads). A metadata file is written
    once under a new name for every change and never rewritten, and the parsed models are
    frozen, so one parse per file location is shared. Applied to PyIceberg 0.12 only
    (returns whether it is), as :func:`memoize_transaction_metadata`.
    """
    import threading
    from collections import OrderedDict

    import pyiceberg
    from pyiceberg.serializers import FromInputFile

    if not pyiceberg.__version__.startswith("0.12."):
        return False
    parse = FromInputFile.table_metadata
    if getattr(parse, "_mlstack_memo", False):
        return True
    memo: OrderedDict[str, Any] = OrderedDict()
    lock = threading.Lock()

    def table_metadata(input_file: Any, encoding: str = "utf-8") -> Any:
        key = input_file.location
        with lock:
            metadata = memo.get(key)
            if metadata is not None:
                memo.move_to_end(key)
                return metadata
        metadata = parse(input_file, encoding)
        with lock:
            memo[key] = metadata
            while len(memo) > METADATA_MEMO_SIZE:
                memo.popitem(last=False)
        return metadata

    table_metadata._mlstack_memo = True  # type: ignore[attr-defined]
    table_metadata.memo = memo  # type: ignore[attr-defined]  # for tests
    FromInputFile.table_metadata = staticmethod(table_metadata)  # type: ignore[method-assign]
    return True


def catalog(settings: Settings | None = None) -> SqlCatalog:
    """The Iceberg SQL catalog (cached per configuration); creates the namespace if missing."""
    s = settings or get_settings()
    if not s.lake_is_s3:
        prepare(s)
    if s.database_url.startswith("sqlite:///"):
        os.makedirs(
            os.path.dirname(s.database_url.removeprefix("sqlite:///")) or ".", exist_ok=True
        )
    cat = _catalog(tuple(sorted(iceberg_properties(s).items())))
    cat.create_namespace_if_not_exists(s.iceberg_namespace)
    return cat


def table_identifier(name: str, settings: Settings | None = None) -> str:
    """Fully qualified Iceberg identifier ``namespace.name``."""
    return f"{(settings or get_settings()).iceberg_namespace}.{name}"


def load_table(name: str, settings: Settings | None = None) -> Table:
    """The existing Iceberg table ``name``; :class:`DatasetNotFound` says to ingest first."""
    from pyiceberg.exceptions import NoSuchTableError

    ident = table_identifier(name, settings)
    try:
        return catalog(settings).load_table(ident)
    except NoSuchTableError as exc:
        raise DatasetNotFound(
            f"table {ident} does not exist yet; ingest a day first (mlstack ingest USECASE --day D)"
        ) from exc


META_COLUMNS = {"_ingested_at": "timestamp", "_source": "string"}


# --- Iceberg tables ----------------------------------------------------------------------


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


def open_table(
    name: str, schema: SchemaSpec, properties: dict[str, str], settings: Settings
) -> Table:
    """Table ``name``, created partitioned by day (or evolved) to match ``schema``; the
    ``properties`` (owner use case and dataset) are set when it is created."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import DayTransform, IdentityTransform

    wanted = iceberg_schema(schema)
    ident = table_identifier(name, settings)
    cat = catalog(settings)
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
        props = {**properties, "write.parquet.compression-codec": "zstd"}
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
    import pandas as pd

    start = pd.Timestamp(day, tz="UTC")
    end = start + pd.Timedelta(days=1)
    return And(
        GreaterThanOrEqual(col, start.isoformat()),  # type: ignore[call-arg, arg-type]
        LessThan(col, end.isoformat()),  # type: ignore[call-arg, arg-type]
    )


def replace_day(
    table: Table, schema: SchemaSpec, day: date, data: pa.Table, props: dict[str, str]
) -> int:
    """Replace one day's partition with ``data`` in one atomic commit; return the snapshot id.

    Every call commits a new snapshot carrying ``props``, also when ``data`` is empty (the
    day is then recorded as empty), so the id returned is always this commit's.
    """
    flt = day_filter(schema, day)
    with warnings.catch_warnings():  # a first load of a day has nothing to delete: fine
        warnings.filterwarnings("ignore", message="Delete operation did not match any records")
        if data.num_rows:
            table.overwrite(data, overwrite_filter=flt, snapshot_properties=props)
        else:  # delete + an empty append in one transaction: one commit, always a new snapshot
            with table.transaction() as tx:
                tx.delete(flt, snapshot_properties=props)
                tx.append(data, snapshot_properties=props)
    table.refresh()
    batch = props.get("mlstack.batch")
    ours = [
        s
        for s in table.snapshots()
        if batch is None
        or (s.summary and s.summary.additional_properties.get("mlstack.batch")) == batch
    ]
    if not ours:
        raise RuntimeError(f"the commit to {table.name()} left no snapshot of batch {batch}")
    return int(max(ours, key=lambda s: s.sequence_number or 0).snapshot_id)
