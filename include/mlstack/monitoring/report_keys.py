"""Where reports live in the lake: the one place that builds and parses their keys.

Two kinds of report, both under ``reports/`` in the lake bucket:

* a **daily monitoring report** of a use case (Evidently's drift report, written by the
  monitor run): ``reports/<usecase>/<day>/monitor.{html,json}``;
* a **rollout decision's report** (written by :func:`mlstack.stages.rollout.act`):
  ``reports/rollouts/<usecase>/<rollout_id>/<stage index>-<action>.{html,json}``.

Writers ask for a key's stem (:func:`daily_report_stem`, :func:`rollout_report_stem`) and
add ``.html``/``.json``; readers (CLI, pages) ask for a validated key of a name they were
given (:func:`daily_report_key`, :func:`rollout_report_key`), which is None for anything
that is not of the shape written here (no path tricks reach the lake).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

#: The top folder of every report in the lake.
REPORTS = "reports"
#: The files of one daily monitoring report under ``reports/<usecase>/<day>/``.
REPORT_FILES = ("monitor.html", "monitor.json")
#: The stem of a daily report's files.
DAILY_STEM = "monitor"
#: The folder of rollout reports under ``reports/``.
ROLLOUTS = "rollouts"
#: A rollout decision's report file: ``<stage index>-<action>.{html,json}``.
ROLLOUT_REPORT = re.compile(r"\d{1,3}-(next_stage|promote|rollback|halt)\.(html|json)")
ROLLOUT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _safe_name(usecase: str) -> bool:
    return "/" not in usecase and usecase not in ("", ".", "..")


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


# --- daily monitoring reports -------------------------------------------------------------------


def daily_reports_prefix(usecase: str) -> str:
    """The lake prefix under which a use case's daily reports lie (for listing)."""
    return f"{REPORTS}/{usecase}"


def daily_report_stem(usecase: str, day: date) -> str:
    """``reports/<usecase>/<day>/monitor``: add ``.html`` or ``.json`` for the files."""
    return f"{daily_reports_prefix(usecase)}/{day.isoformat()}/{DAILY_STEM}"


def daily_report_key(usecase: str, day: str, name: str) -> str | None:
    """The key ``reports/<usecase>/<day>/<name>`` of a daily report file, or None when ``day``
    is no ISO day, ``name`` no report file name or ``usecase`` no plain name."""
    if name not in REPORT_FILES or not _is_day(day) or not _safe_name(usecase):
        return None
    return f"{daily_reports_prefix(usecase)}/{day}/{name}"


def parse_daily_report_key(usecase: str, key: str) -> tuple[str, str] | None:
    """(day, file name) of a daily report key of ``usecase``, or None for any other key."""
    parts = key.split("/")
    if len(parts) != 4 or parts[:2] != [REPORTS, usecase]:
        return None
    if parts[3] not in REPORT_FILES or not _is_day(parts[2]):
        return None
    return parts[2], parts[3]


def report_days(usecase: str, keys: list[str], limit: int = 5) -> list[dict[str, Any]]:
    """Daily reports among lake ``keys``: the newest ``limit`` days, each with the file names
    found (``[{"day": ..., "files": [...]}]``, newest first)."""
    days: dict[str, list[str]] = {}
    for key in keys:
        found = parse_daily_report_key(usecase, key)
        if found is not None:
            days.setdefault(found[0], []).append(found[1])
    return [{"day": d, "files": sorted(days[d])} for d in sorted(days, reverse=True)[:limit]]


def daily_report_of_uri(usecase: str, uri: str | None) -> tuple[str, str] | None:
    """(day, file name) of the daily report a lake URL names (an alert keeps its run's
    ``.../reports/<usecase>/<day>/monitor.html``); None when it names none."""
    if not uri:
        return None
    key = "/".join(uri.split("/")[-4:])
    found = parse_daily_report_key(usecase, key)
    if found is None or not uri.endswith(f"/{key}"):
        return None
    return found


# --- rollout decision reports -------------------------------------------------------------------


def rollout_report_stem(usecase: str, rollout_id: str, stage_index: int, action: str) -> str:
    """``reports/rollouts/<usecase>/<rollout_id>/<stage index>-<action>``: add ``.html`` or
    ``.json`` for the files."""
    return f"{REPORTS}/{ROLLOUTS}/{usecase}/{rollout_id}/{stage_index}-{action}"


def rollout_report_key(usecase: str, rollout_id: str, name: str) -> str | None:
    """The lake key ``reports/rollouts/<usecase>/<rollout_id>/<name>`` of a rollout decision's
    report, or None when ``rollout_id`` is no rollout id or ``name`` no report file name."""
    if not ROLLOUT_ID.fullmatch(rollout_id) or not ROLLOUT_REPORT.fullmatch(name):
        return None
    if not _safe_name(usecase):
        return None
    return f"{REPORTS}/{ROLLOUTS}/{usecase}/{rollout_id}/{name}"


def rollout_report_files(usecase: str, rollout_id: str, report_uri: str | None) -> list[str]:
    """A decision's report files: the HTML its ``report_uri`` names and the JSON written beside
    it; [] when it has no report (waits, stops) or the URI is not a rollout report's."""
    if not report_uri:
        return []
    name = report_uri.rsplit("/", 1)[-1]
    key = rollout_report_key(usecase, rollout_id, name)
    if key is None or not report_uri.endswith(f"/{key}") or not name.endswith(".html"):
        return []
    return [name, f"{name.removesuffix('.html')}.json"]
