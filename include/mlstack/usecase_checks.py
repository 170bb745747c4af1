"""The checks a use case's own tests and its CI run (``mlstack usecases new`` writes both):
the spec is valid, the hooks import, a tiny model trains on the sample rows, and a candidate
trains on the sample through the real pipeline (land → ingest → train → registered version
with alias ``candidate``). The DAG parse is :func:`mlstack.airflow.dag_check.check_dags`
(Airflow is imported only in that layer).

The sample is the use case's ``tests/sample.csv`` (or ``.parquet``): rows in the shape its
source delivers, spread over a few days. Its days are landed one folder per day, as
upstream would deliver them, so ``mlstack ingest`` reads them as any other day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from mlstack.exceptions import InvalidInput, SpecError
from mlstack.settings import Settings, get_settings
from mlstack.specs import UseCaseSpec, load_spec

log = logging.getLogger(__name__)

SAMPLE_NAMES = ("tests/sample.csv", "tests/sample.parquet")


def spec_problems_of(folder: str | Path) -> list[str]:
    """Every problem of the spec in ``folder`` (model and plugin names), [] when valid."""
    from mlstack.spec_check import spec_problems

    try:
        return spec_problems(load_spec(folder))
    except SpecError as exc:
        return [str(exc)]


def import_hooks(folder: str | Path) -> UseCaseSpec:
    """Load the spec in ``folder`` and import its hooks file (its plugins register)."""
    from mlstack import plugins

    spec = load_spec(folder)
    plugins.load_for(spec)
    return spec


def sample_file(folder: str | Path) -> Path | None:
    """The use case's sample rows file, or None when it has none."""
    return next((Path(folder) / n for n in SAMPLE_NAMES if (Path(folder) / n).exists()), None)


def split_days(frame: pd.DataFrame, spec: UseCaseSpec) -> dict[date, pd.DataFrame]:
    """The rows of a sample by the day of their timestamp column (rows whose day cannot be
    read go with the first day: ingestion then quarantines them with the reason)."""
    from mlstack.specs import ColumnSpec
    from mlstack.stages.ingest import parse_column

    column = spec.schema.timestamp_column
    kind = spec.schema.columns[column].type
    parsed = parse_column(frame[column], ColumnSpec(type=kind)).values
    days = pd.Series(
        [None if pd.isna(v) else pd.Timestamp(v).date() for v in parsed], index=frame.index
    )
    known = sorted({d for d in days if d is not None})
    if not known:
        raise InvalidInput(
            f"no row of the sample has a readable {column}; a day partition needs dates "
            "(YYYY-MM-DD)"
        )
    days = days.where(days.notna(), known[0])
    return {d: frame[days == d] for d in known}


def land_sample(
    spec: UseCaseSpec, sample: str | Path, settings: Settings | None = None
) -> list[date]:
    """Write the sample's rows where the use case's ``files`` source reads them, one
    ``day=`` folder per day of its timestamp column, in the sample's own format; the days."""
    from mlstack.schema_inference import read_sample
    from mlstack.sources import land_file

    s = settings or get_settings()
    if spec.source.kind != "files" or "prefix" not in spec.source.options:
        raise InvalidInput(
            f"{spec.name}: the sample lands only for a 'files' source with a prefix; "
            f"this one is {spec.source.kind!r}"
        )
    frame, fmt = read_sample(sample)
    by_day = split_days(frame, spec)
    for day, rows in by_day.items():
        land_file(
            str(spec.source.options["prefix"]), day, Path(sample).name, encode_rows(rows, fmt), s
        )
    return sorted(by_day)


def encode_rows(rows: pd.DataFrame, fmt: str) -> bytes:
    """Rows as a file of ``fmt``: CSV text as read (values untouched), or Parquet."""
    if fmt == "parquet":
        import io

        buf = io.BytesIO()
        rows.to_parquet(buf, index=False)
        return buf.getvalue()
    return rows.to_csv(index=False).encode("utf-8")


@dataclass
class SampleSplit:
    """The spec to train on a sample with: its split shrunk to what the sample holds."""

    spec: UseCaseSpec
    note: str


def sample_split(spec: UseCaseSpec, days: int, rows: int) -> SampleSplit:
    """``spec`` with ``training.split`` shrunk so a sample of ``days`` days and ``rows``
    labelled rows trains (InvalidInput below three days: train, validation, holdout)."""
    cfg = spec.training.split
    if days < 3:
        raise InvalidInput(
            f"{spec.name}: the sample spans {days} day(s); a tiny train needs at least 3 "
            "(train, validation, holdout days): add rows of more days to the sample"
        )
    if cfg.validation_days + cfg.holdout_days < days and cfg.min_train_rows <= rows // 2:
        return SampleSplit(spec, "the spec's own split")
    each = max(1, min(cfg.validation_days, cfg.holdout_days, (days - 1) // 3))
    split = cfg.model_copy(
        update={
            "validation_days": each,
            "holdout_days": each,
            "min_train_rows": max(1, min(cfg.min_train_rows, rows // 4)),
        }
    )
    training = spec.training.model_copy(update={"split": split})
    return SampleSplit(
        spec.model_copy(update={"training": training}),
        f"a split shrunk to the sample: {each} validation and {each} holdout day(s) "
        f"(the spec's needs {cfg.validation_days}+{cfg.holdout_days} and "
        f"{cfg.min_train_rows} train rows)",
    )


def tiny_train(folder: str | Path, sample: str | Path | None = None) -> dict[str, float]:
    """Validate the sample's rows day by day as ingestion does, split them by day and fit
    the spec's pipeline in memory (no lake, no MLflow); the validation and holdout metrics."""
    from mlstack import lake
    from mlstack.schema_inference import read_sample
    from mlstack.stages import train
    from mlstack.stages.ingest import validate

    spec = import_hooks(folder)
    sample = sample or sample_file(folder)
    if sample is None:
        raise InvalidInput(f"{folder}: no sample rows; add {' or '.join(SAMPLE_NAMES)}")
    frame, _ = read_sample(sample)
    schema = spec.dataset_schema("features")
    accepted = [
        validate(rows.reset_index(drop=True), schema, day, str(sample)).accepted
        for day, rows in split_days(frame, spec).items()
    ]
    as_stored = lake.arrow_table(pd.concat(accepted), lake.iceberg_schema(schema)).to_pandas()
    typed = train.labelled_rows(spec, as_stored)
    shrunk = sample_split(spec, len(accepted), len(typed))
    split = train.time_split(shrunk.spec, typed)
    _, metrics, _ = train.fit(shrunk.spec, split)
    return metrics


def trial(
    spec: UseCaseSpec, sample: str | Path | None = None, settings: Settings | None = None
) -> tuple[Any, list[date], str]:
    """Land the sample, ingest each of its days and train a candidate through the real
    stages, in the backends ``settings`` name; (the TrainResult, the days, the split note)."""
    from mlstack.stages import catalog
    from mlstack.stages.ingest import ingest_day
    from mlstack.stages.train import train

    s = settings or get_settings()
    sample = sample or (sample_file(spec.folder) if spec.folder else None)
    if sample is None:
        raise InvalidInput(f"{spec.name}: no sample rows; add {' or '.join(SAMPLE_NAMES)}")
    days = land_sample(spec, sample, s)
    accepted = 0
    for day in days:
        for dataset in spec.datasets():
            result = ingest_day(spec, day, dataset, settings=s, producer="mlstack-cli/trial")
            catalog.record_snapshot(
                spec, dataset, result.snapshot_id or 0, settings=s, sources=result.files
            )
            accepted += result.accepted if dataset == "features" else 0
    shrunk = sample_split(spec, len(days), accepted)
    return train(shrunk.spec, settings=s), days, shrunk.note
