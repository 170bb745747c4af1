"""Monitoring's storage: the series, alerts, decisions and reports the monitor keeps.

Owns the ``monitoring_metrics`` and ``monitoring_alerts`` tables (writes and queries), reads
the retrain policy's decisions (``retrain_requests``, written by
:mod:`mlstack.stages.retrain`) and stores the day's Evidently report in the lake at the key
:mod:`mlstack.monitoring.report_keys` gives. What the figures mean is
:mod:`mlstack.monitoring.compute`; how they are shown, :mod:`mlstack.monitoring.views`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from mlstack import lake, store_read
from mlstack.monitoring import report_keys
from mlstack.settings import Settings
from mlstack.specs import UseCaseSpec
from mlstack.vocabulary import CHAMPION

if TYPE_CHECKING:  # the writers' types; the queries (what the lists read) load no pandas
    import pandas as pd

    from mlstack.monitoring.compute import AlertRecord, MetricRecord, Reference

# --- writing ------------------------------------------------------------------------------------


def write_metrics(
    spec: UseCaseSpec,
    version: int | None,
    metrics: list[MetricRecord],
    settings: Settings,
    *,
    variant: str = CHAMPION,
) -> None:
    """Replace this version's series points of these (day, metric) pairs with the new values.

    The champion's points also replace any other version's champion points of those pairs
    (one champion per day, also when a day is monitored again after a promotion).
    """
    import sqlalchemy as sa

    from mlstack import store

    t = store.monitoring_metrics
    now = datetime.now(UTC)
    keys = {(m.run_date, m.metric) for m in metrics}
    same = t.c.model_version == version if version is not None else t.c.model_version.is_(None)
    if variant == CHAMPION:
        same = sa.or_(same, t.c.variant == CHAMPION)
    with store.engine(settings).begin() as conn:
        for day, name in keys:
            conn.execute(
                t.delete().where(
                    t.c.usecase == spec.name, t.c.run_date == day, t.c.metric == name, same
                )
            )
        if metrics:
            conn.execute(
                t.insert(),
                [
                    m.row()
                    | {
                        "usecase": spec.name,
                        "model_version": version,
                        "variant": variant,
                        "created_at": now,
                    }
                    for m in metrics
                ],
            )


def write_alerts(
    spec: UseCaseSpec,
    day: date,
    alerts: list[AlertRecord],
    report_uri: str | None,
    settings: Settings,
    *,
    model_version: int | None = None,
) -> None:
    """Replace the day's monitoring alerts (``model_version``: for alerts that name none)."""
    from mlstack import store

    t = store.monitoring_alerts
    with store.engine(settings).begin() as conn:
        conn.execute(
            t.delete().where(t.c.usecase == spec.name, t.c.run_date == day, t.c.kind != "retrain")
        )
        for a in alerts:
            conn.execute(
                t.insert().values(
                    usecase=spec.name,
                    model_version=a.model_version if a.model_version is not None else model_version,
                    run_date=day,
                    kind=a.kind,
                    severity=a.severity,
                    message=a.message,
                    details=a.details,
                    report_uri=report_uri,
                    created_at=datetime.now(UTC),
                )
            )


def write_report(
    spec: UseCaseSpec,
    ref: Reference,
    current: pd.DataFrame,
    day: date,
    summary: dict[str, Any],
    settings: Settings,
) -> str:
    """Evidently's drift report (HTML + JSON, on a sample) at the day's report key; returns
    the HTML's URL."""
    from mlstack.monitoring import reports
    from mlstack.monitoring.compute import split_columns

    numeric, categorical = split_columns(spec)
    rendered = reports.drift_report(
        ref.frame,
        current,
        numeric,
        categorical,
        rows=spec.monitoring.report_sample_rows,
        extra=summary,
    )
    stem = report_keys.daily_report_stem(spec.name, day)
    lake.write_bytes(f"{stem}.json", rendered.json.encode(), settings)
    return lake.write_bytes(f"{stem}.html", rendered.html.encode(), settings)


# --- series -------------------------------------------------------------------------------------


class Point(NamedTuple):
    """One day of a metric's series: its value, whether it alerted, the threshold it had."""

    day: date
    value: float | None
    alert: bool
    threshold: float | None
    version: int | None = None


def points(
    usecase: str,
    metric: str,
    *,
    feature: str | None = None,
    since: date | None = None,
    variant: str | None = None,
    settings: Settings | None = None,
) -> list[Point]:
    """A metric's time series with the threshold each day was judged against, oldest first;
    only one ``variant``'s points when given."""
    where, params = _where(usecase, metric=metric, feature=feature, variant=variant, since=since)
    found = store_read.rows(
        "SELECT run_date, value, alert, threshold, model_version FROM monitoring_metrics "
        f"WHERE {where} ORDER BY run_date",
        params,
        settings,
    )
    return [
        Point(r["run_date"], r["value"], bool(r["alert"]), r["threshold"], r["model_version"])
        for r in found
    ]


def _where(usecase: str, **equal: Any) -> tuple[str, dict[str, Any]]:
    """A WHERE clause on ``usecase`` and each given (not None) column of ``equal`` (``since``:
    ``run_date`` from that day on), with its parameters."""
    since = equal.pop("since", None)
    params = {"usecase": usecase} | {k: v for k, v in equal.items() if v is not None}
    terms = [f"{k} = :{k}" for k in params]
    if since is not None:
        terms.append("run_date >= :since")
        params["since"] = since
    return " AND ".join(terms), params


def series(
    usecase: str,
    metric: str,
    *,
    feature: str | None = None,
    since: date | None = None,
    settings: Settings | None = None,
) -> list[tuple[date, float | None, bool]]:
    """A metric's time series: (day, value, alert), oldest first (see :func:`points`)."""
    found = points(usecase, metric, feature=feature, since=since, settings=settings)
    return [(p.day, p.value, p.alert) for p in found]


def version_series(
    usecase: str,
    metric: str,
    model_version: int,
    *,
    since: date | None = None,
    settings: Settings | None = None,
) -> list[tuple[date, float | None, bool]]:
    """One model version's points of a metric: (day, value, alert), oldest first.

    The retrain policy's view: a champion is judged on its own series only, never on a
    challenger's (or a previous champion's) points of the same days.
    """
    where, params = _where(usecase, metric=metric, model_version=model_version, since=since)
    found = store_read.rows(
        "SELECT run_date, value, alert FROM monitoring_metrics "
        f"WHERE {where} AND feature IS NULL ORDER BY run_date",
        params,
        settings,
    )
    return [(r["run_date"], r["value"], bool(r["alert"])) for r in found]


def change_date(
    usecase: str, metric: str, day: date, settings: Settings, model_version: int | None = None
) -> date | None:
    """First day of the streak of alerting days (dataset drift or estimated drop) up to ``day``.

    With ``model_version``, only that version's points count (the champion's, for the policy).
    """

    def of(name: str) -> list[tuple[date, float | None, bool]]:
        if model_version is None:
            return series(usecase, name, settings=settings)
        return version_series(usecase, name, model_version, settings=settings)

    alerting = {d for d, _, a in of(f"estimated_{metric}") if a}
    alerting |= {d for d, v, _ in of("drift_share") if v}
    if day not in alerting:
        return None
    first = day
    while first - timedelta(days=1) in alerting:
        first -= timedelta(days=1)
    return first


def last_run_date(usecase: str, settings: Settings | None = None) -> date | None:
    """The newest day with a stored metric of ``usecase`` (None before its first run)."""
    found = store_read.scalar(
        "SELECT MAX(run_date) FROM monitoring_metrics WHERE usecase = :usecase",
        {"usecase": usecase},
        settings,
    )
    return store_read.sqlite_date(found)


def drift_alert_days(
    usecase: str, since: date, settings: Settings | None = None
) -> list[tuple[str, int]]:
    """(feature, days its champion drift score alerted) since ``since``, for every feature
    with a score. Only the champion's series count: a challenger scored on the same days
    would count each drifted day twice."""
    where, params = _where(usecase, metric="drift_score", variant=CHAMPION, since=since)
    found = store_read.rows(
        "SELECT feature, SUM(CASE WHEN alert THEN 1 ELSE 0 END) AS alerts "
        f"FROM monitoring_metrics WHERE {where} AND feature IS NOT NULL GROUP BY feature",
        params,
        settings,
    )
    return [(str(r["feature"]), int(r["alerts"] or 0)) for r in found]


# --- alerts and decisions -----------------------------------------------------------------------


def alerts(
    usecase: str,
    *,
    since: date | None = None,
    limit: int = 10,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """Alerts newest day first (in the order raised within a day): day (ISO), kind,
    severity, message, report_uri."""
    where, params = _where(usecase, since=since)
    found = store_read.rows(
        "SELECT run_date, kind, severity, message, report_uri FROM monitoring_alerts "
        f"WHERE {where} ORDER BY run_date DESC, id LIMIT :limit",
        params | {"limit": limit},
        settings,
    )
    return [
        {"day": r["run_date"].isoformat(), "kind": r["kind"], "severity": r["severity"]}
        | {"message": r["message"], "report_uri": r["report_uri"]}
        for r in found
    ]


def alert_signatures(
    usecase: str, day: date, model_version: int, settings: Settings | None = None
) -> set[tuple[str, str]]:
    """The :func:`~mlstack.monitoring.compute.alert_signature` of each alert ``model_version``
    raised on ``day`` (empty when none, or when the day was not monitored)."""
    from mlstack.monitoring.compute import alert_signature  # pure, but pandas: only if asked

    where, params = _where(usecase, run_date=day, model_version=model_version)
    found = store_read.rows(
        f"SELECT kind, message FROM monitoring_alerts WHERE {where} AND kind != 'retrain'",
        params,
        settings,
    )
    return {alert_signature(str(r["kind"]), str(r["message"])) for r in found}


def decisions(
    usecase: str,
    *,
    since: date | None = None,
    limit: int = 10,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """The retrain policy's decisions, newest first: day (ISO), decision, reason."""
    where, params = _where(usecase, since=since)
    found = store_read.rows(
        "SELECT run_date, decision, reason FROM retrain_requests "
        f"WHERE {where} ORDER BY run_date DESC LIMIT :limit",
        params | {"limit": limit},
        settings,
    )
    return [
        {"day": r["run_date"].isoformat(), "decision": r["decision"], "reason": r["reason"]}
        for r in found
    ]
