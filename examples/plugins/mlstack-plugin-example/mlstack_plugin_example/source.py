"""Source ``jsonl``: one day of JSON-lines files from the lake."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd
from mlstack import lake
from mlstack.exceptions import SourceError
from mlstack.plugins import register
from mlstack.settings import Settings
from mlstack.sources import MALFORMED_COLUMNS, SourceBatch, day_prefix, parse_options
from mlstack.specs import UseCaseSpec
from pydantic import BaseModel, ConfigDict


class JsonlOptions(BaseModel):
    """The source's options: where the day folders are (lake-relative)."""

    model_config = ConfigDict(extra="forbid")
    prefix: str


def parse_lines(data: bytes, origin: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The JSON objects of a JSON-lines file, and its malformed lines (not a JSON object)."""
    rows, malformed = [], []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            value, reason = None, f"not JSON: {exc.msg}"
        else:
            reason = "" if isinstance(value, dict) else "not a JSON object"
        if reason:
            malformed.append({"_source": origin, "_line": number, "_raw": line, "_reason": reason})
        else:
            rows.append(value)
    return rows, malformed


@register("sources", "jsonl")
def jsonl(
    day: date, *, spec: UseCaseSpec, dataset: str, options: Mapping[str, Any], settings: Settings
) -> SourceBatch:
    """Read the ``*.jsonl`` files directly in ``<prefix>/day=<day>/``."""
    opts: JsonlOptions = parse_options(
        JsonlOptions, options, f"use case {spec.name!r} ({dataset}): source 'jsonl'"
    )
    folder = day_prefix(opts.prefix, day).lstrip("/")
    found, _folders = lake.list_entries(folder, settings)
    keys = [k for k in found if k.endswith(".jsonl")]
    if not keys:
        raise SourceError(
            f"no .jsonl files for {day} under {lake.url(folder, settings)}; deliver the day's "
            "files there"
        )
    rows: list[dict[str, Any]] = []
    malformed: list[dict[str, Any]] = []
    origins = []
    for key in keys:
        origin = lake.url(key, settings)
        good, bad = parse_lines(lake.read_bytes(key, settings), origin)
        rows += good
        malformed += bad
        origins.append(origin)
    return SourceBatch(
        frame=pd.DataFrame.from_records(rows),
        origins=origins,
        malformed=pd.DataFrame(malformed, columns=MALFORMED_COLUMNS),
    )


jsonl.options_model = JsonlOptions  # type: ignore[attr-defined]  # `usecases validate` checks them
