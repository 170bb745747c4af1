"""The monitoring read model: what ``mlstack monitor show`` prints and the pages draw.

One module both the CLI (:mod:`mlstack.cli.monitor`) and the UI (:mod:`mlstack.ui`) read
from, so that a figure looks the same in both: plain dicts and lists, JSON-ready.

* :func:`summary` — one row per use case: status, champion, challenger, last alert, last
  retrain decision; :func:`usecases` lists the use cases.
* :func:`overview` — a use case's aliases, series of the key metrics with their thresholds
  (:func:`chart_points`: recorded, else the spec's, and the retrain bar), drift of the most
  drifted features, alerts, retrain decisions, daily reports and the latest rollout.
* :func:`rollout_view` — the latest rollout, summarised (:func:`rollout_summary`).
* :func:`report_key`, :func:`rollout_report_key`, :func:`alert_report` — which lake object a
  page may stream (the layout itself is :mod:`mlstack.monitoring.report_keys`).
* :func:`catalog_versions` — the use case's datasets, versions and lineage.

Queries live in :mod:`mlstack.monitoring.history`, :mod:`mlstack.stages.rollout_records`,
:mod:`mlstack.stages.catalog_records` and :mod:`mlstack.model_records` (the aliases as mlstack
recorded them); this module composes and shapes them, and loads no numpy, pandas,
scikit-learn, MLflow or SQLAlchemy (``mlstack monitor show`` answers in about a second).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from mlstack import lake, model_records
from mlstack.monitoring import history, report_keys
from mlstack.monitoring.bars import bar, watched_metric
from mlstack.monitoring.history import Point
from mlstack.settings import get_settings
from mlstack.specs import UseCaseSpec, discover, get_spec
from mlstack.stages import catalog_records as catalog
from mlstack.stages import rollout_records
from mlstack.vocabulary import CHALLENGER, CHAMPION

#: Decisions read per rollout (waits are many; they are collapsed before they are shown).
ROLLOUT_DECISIONS = 500
#: The series :func:`overview` draws (``{metric}``: the watched metric).
OVERVIEW_SERIES = (
    "drift_share",
    "estimated_{metric}",
    "realised_{metric}",
    "label_coverage",
    "rows",
)

# re-exported: the CLI and the pages name report keys through this read model
report_days = report_keys.report_days
rollout_report_key = report_keys.rollout_report_key
rollout_report_files = report_keys.rollout_report_files


# --- series -------------------------------------------------------------------------------------


def spec_threshold(spec: UseCaseSpec, metric: str, feature: str | None = None) -> float | None:
    """The threshold the spec itself sets for a series (used where a day recorded none)."""
    if metric == "drift_share":
        return spec.monitoring.drift_share
    if metric == "drift_score" and feature is not None:
        return spec.monitoring.drift_thresholds.get(feature)
    return None


def retrain_bar(spec: UseCaseSpec, metric: str, alert_bar: float | None) -> float | None:
    """The retrain policy's bar on a performance series, from the monitoring alert bar.

    Both are offsets from the champion's holdout value: the alert bar by
    ``monitoring.performance_drop``, the retrain bar by ``retraining.metric_drop``; so the
    retrain bar lies ``metric_drop - performance_drop`` worse than the alert bar.
    """
    return bar(metric, alert_bar, spec.retraining.metric_drop - spec.monitoring.performance_drop)


def chart_points(
    spec: UseCaseSpec, name: str, found: list[Point], feature: str | None = None
) -> list[dict[str, Any]]:
    """Series points as JSON: day, value, alert, threshold (recorded, else the spec's) and,
    on the watched performance metric, the retrain policy's bar when it differs."""
    metric = name.removeprefix("estimated_").removeprefix("realised_")
    performance = name != metric and metric == watched_metric(spec)
    fallback = spec_threshold(spec, name, feature)
    out = []
    for p in found:
        point: dict[str, Any] = {
            "day": p.day.isoformat(),
            "value": p.value,
            "alert": p.alert,
            "threshold": p.threshold if p.threshold is not None else fallback,
        }
        limit = retrain_bar(spec, metric, p.threshold) if performance else None
        if limit is not None and spec.retraining.enabled and limit != point["threshold"]:
            point["retrain_threshold"] = limit
        out.append(point)
    return out


def rank_features(alert_days: list[tuple[str, int]]) -> list[str]:
    """Features by their number of drift-alert days, most first (ties by name)."""
    return [f for f, _ in sorted(alert_days, key=lambda fa: (-fa[1], fa[0]))]


def drifted_features(usecase: str, since: date) -> list[str]:
    """Features with a drift score of the champion in the window, most often drifted first."""
    return rank_features(history.drift_alert_days(usecase, since))


# --- rollouts -----------------------------------------------------------------------------------


def traffic_split(stage: dict[str, Any], state: str) -> dict[str, Any]:
    """Who answers requests: the champion's and challenger's shares in percent, and whether
    the challenger scores in shadow; once the rollout ended, the champion answers all."""
    if state != "running" or stage.get("shadow"):
        return {"champion": 100.0, "challenger": 0.0, "shadow": state == "running"}
    share = round(float(stage["traffic"]) * 100, 2)
    return {"champion": round(100 - share, 2), "challenger": share, "shadow": False}


def split_text(split: dict[str, Any]) -> str:
    """A traffic split in words, e.g. ``champion 90% / challenger 10%``."""
    if split["shadow"]:
        return "champion 100% (challenger scores in shadow)"
    return f"champion {split['champion']:g}% / challenger {split['challenger']:g}%"


def collapse_waits(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decisions oldest first, consecutive waits of a stage folded into their latest one
    (``count`` says how many looks it stands for)."""
    out: list[dict[str, Any]] = []
    for d in decisions:
        last = out[-1] if out else None
        same_stage = last is not None and d["stage_index"] == last["stage_index"]
        if last and same_stage and d["action"] == last["action"] == "wait":
            out[-1] = {**d, "count": last["count"] + 1}
        else:
            out.append({**d, "count": 1})
    return out


def _minute(value: Any) -> str:
    return str(value)[:16].replace("T", " ")


def rollout_summary(status: dict[str, Any]) -> dict[str, Any] | None:
    """The latest rollout as the page and ``show`` present it (from ``rollout.status``): state,
    stages and the current one, traffic split, versions, decisions oldest first with reasons
    and report files. None when the use case never had a rollout."""
    ro = status.get("rollout")
    if ro is None:
        return None
    stages = ro["stages"]
    index = min(int(ro["stage_index"]), len(stages) - 1)

    def decision(d: dict[str, Any]) -> dict[str, Any]:
        i = min(int(d["stage_index"]), len(stages) - 1)
        files = rollout_report_files(ro["usecase"], ro["rollout_id"], d.get("report_uri"))
        return {"at": _minute(d["created_at"]), "stage_index": i, "stage": stages[i]["name"]} | {
            "action": d["action"],
            "reasons": d["reasons"],
            "reports": files,
        }

    return {
        "usecase": ro["usecase"],
        "rollout_id": ro["rollout_id"],
        "state": ro["state"],
        "champion_version": ro["champion_version"],
        "challenger_version": ro["challenger_version"],
        "stages": [st["name"] for st in stages],
        "stage_index": index,
        "stage": stages[index]["name"],
        "split": traffic_split(stages[index], ro["state"]),
        "started_at": _minute(ro["started_at"]),
        "ended_at": _minute(ro["ended_at"]) if ro["ended_at"] else None,
        "decisions": collapse_waits([decision(d) for d in reversed(status["decisions"])]),
    }


def rollout_view(usecase: str) -> dict[str, Any] | None:
    """The use case's latest rollout, summarised (see :func:`rollout_summary`)."""
    return rollout_summary(rollout_records.status(usecase, limit=ROLLOUT_DECISIONS))


# --- reports ------------------------------------------------------------------------------------


def report_key(usecase: str, day: str, name: str) -> str | None:
    """The lake key of a daily monitoring report file when ``name`` is a report file's name,
    ``day`` an ISO day and the file exists; else None."""
    key = report_keys.daily_report_key(usecase, day, name)
    if key is None or not lake.list_keys(key):
        return None
    return key


def alert_report(usecase: str, report_uri: str | None) -> tuple[str, str] | None:
    """(day, file name) of the daily report an alert's run wrote (from the lake URL the
    alert kept), or None when it names none."""
    return report_keys.daily_report_of_uri(usecase, report_uri)


# --- the overview and the summary ---------------------------------------------------------------


def overview(usecase: str, days: int = 30, *, features: int = 6) -> dict[str, Any]:
    """What ``show`` prints and the pages draw: aliases, series of the key metrics with their
    thresholds, drift of the most drifted ``features``, alerts (with their run's report),
    policy decisions, reports, the latest rollout."""
    spec = get_spec(usecase)
    last = history.last_run_date(usecase)
    since = (last or date.today()) - timedelta(days=days - 1)
    metric = watched_metric(spec)
    names = [n.format(metric=metric) for n in OVERVIEW_SERIES]
    series = {
        name: chart_points(spec, name, history.points(usecase, name, since=since, variant=CHAMPION))
        for name in names
    }
    challenger = {
        name: chart_points(spec, name, found)
        for name in names
        if (found := history.points(usecase, name, since=since, variant=CHALLENGER))
    }
    feature_drift = {
        f: chart_points(
            spec,
            "drift_score",
            history.points(usecase, "drift_score", feature=f, since=since, variant=CHAMPION),
            f,
        )
        for f in drifted_features(usecase, since)[:features]
    }
    return {
        "usecase": usecase,
        "aliases": model_records.aliases(usecase),
        "since": since.isoformat(),
        "series": series,
        "challenger_series": challenger,
        "feature_drift": feature_drift,
        "alerts": history.alerts(usecase, since=since),
        "decisions": history.decisions(usecase, since=since),
        "reports": report_days(usecase, lake.list_keys(report_keys.daily_reports_prefix(usecase))),
        "rollout": rollout_view(usecase),
    }


def usecases() -> list[str]:
    """The names of the use cases the stack knows (their specs), sorted."""
    specs, _ = discover(get_settings().usecases_dir)
    return sorted(specs)


def status_of(
    last_day: date | None,
    alerts: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    rolling_out: bool,
    has_champion: bool,
) -> str:
    """A use case's status in one word, the most pressing first: ``rolling out`` (a rollout
    runs), ``retrain requested`` (the newest monitored day's decision), ``alert`` (the newest
    monitored day raised one), ``no model`` (no champion yet), else ``ok``."""
    if rolling_out:
        return "rolling out"
    day = last_day.isoformat() if last_day else None
    if any(d["day"] == day and d["decision"] == "retrain" for d in decisions):
        return "retrain requested"
    if any(a["day"] == day for a in alerts):
        return "alert"
    return "ok" if has_champion else "no model"


def summary(usecase: str) -> dict[str, Any]:
    """One row for a summary table: ``usecase``, ``status`` (see :func:`status_of`),
    ``champion`` and ``challenger`` (versions or None), ``last_alert`` ({day, kind,
    message} or None) and ``last_decision`` ({day, decision, reason} or None)."""
    aliases = model_records.aliases(usecase)
    last_day = history.last_run_date(usecase)
    alerts = history.alerts(usecase, limit=1)
    decisions = history.decisions(usecase, limit=1)
    ro = rollout_records.status(usecase, limit=1)["rollout"]
    rolling_out = ro is not None and ro["state"] == "running"
    last_alert = alerts[0] if alerts else None
    return {
        "usecase": usecase,
        "status": status_of(last_day, alerts, decisions, rolling_out, CHAMPION in aliases),
        "champion": aliases.get(CHAMPION),
        "challenger": aliases.get(CHALLENGER),
        "last_alert": {k: last_alert[k] for k in ("day", "kind", "message")}
        if last_alert
        else None,
        "last_decision": decisions[0] if decisions else None,
    }


# --- the catalog --------------------------------------------------------------------------------


def catalog_versions(usecase: str, limit: int = 20) -> list[dict[str, Any]]:
    """The use case's datasets, each with its latest ``limit`` versions and lineage edges,
    plus the models trained on them (``dataset -trained-> run -registered_as-> model``).

    Each version also says whether its schema changed (``schema_changed``, a bool) and how
    (``schema_change``: the words ``mlstack catalog show`` prints, e.g. ``none``)."""
    found = []
    for d in catalog.list_datasets():
        if d["usecase"] != usecase:
            continue
        shown = catalog.show_dataset(d["name"], limit=limit)
        versions = [
            v
            | {
                "schema_changed": catalog.schema_changed(v["schema_changes"]),
                "schema_change": catalog.schema_change_text(v["schema_changes"]),
            }
            for v in shown["versions"]
        ]
        runs = [e["target"] for e in shown["lineage"] if e["relation"] == "trained"]
        found.append({**shown, "versions": versions, "models": catalog.registered_models(runs)})
    return found
