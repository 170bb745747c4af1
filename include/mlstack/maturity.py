"""Where a use case stands on the five MLOps maturity levels, answered from evidence.

For each use case: its declared level (the spec's ``maturity:``), then level by level the
checklist the Google/Microsoft frameworks give (as the project's seed summarises them) —
monitoring (level 1 here: monitoring starts at the manual level), data pipeline, data
catalog, tests, automated training, metadata store, model registry, gated promotion, feature
store, CI/CD, A/B testing, automated retraining — each answered ``yes``/``no`` (``n/a``: not
something mlstack provides) with the evidence behind it; the level the evidence supports;
what the next level would need; and the costs the seed warns about for level 5: retrains in
the last 30 days, their compute time and the labels they waited for.

Evidence comes from queries, nothing else: mlstack's record of the registry
(:mod:`mlstack.model_records`), the catalog's versions, monitoring rows, promotion
decisions, rollouts, retrain requests, and the use case's folder (tests, CI files). The
switches come from :mod:`mlstack.automation`. Advice names the DAG that would do the work:
the generated ``<usecase>__<stage>``, or the use case's own DAG (``dags.own``) and the file
in its folder that holds it (``dags/*.py``). ``mlstack
maturity`` and the maturity page print what :func:`report` returns; it imports no MLflow,
pandas or Airflow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from mlstack import automation, model_records, store_read
from mlstack.settings import Settings, get_settings
from mlstack.specs import UseCaseSpec
from mlstack.vocabulary import CHAMPION

#: Days the level-5 costs look back over (ending on the latest monitored day).
COST_WINDOW_DAYS = 30
#: Files in a use case's folder that count as its tests / its CI/CD pipeline.
TEST_GLOBS = ("test_*.py", "tests/test_*.py", "tests/*_test.py")
CI_GLOBS = (".github/workflows/*.yml", ".github/workflows/*.yaml", ".gitlab-ci.yml")
#: Version tag values of ``mlstack.trigger`` that mean "trained without a person".
AUTOMATIC_TRIGGERS = ("scheduled", "asset_triggered", "retrain-request")


@dataclass(frozen=True)
class Item:
    """One checklist line: the level it belongs to, its answer and the evidence."""

    level: int
    name: str
    status: str  # yes | no | n/a
    evidence: str
    needs: str = ""  # what would turn a "no" into a "yes"

    @property
    def met(self) -> bool:
        """Whether the item counts as done (``n/a`` does not hold a level back)."""
        return self.status in ("yes", "n/a")


def _files(folder: Path | None, globs: tuple[str, ...]) -> list[str]:
    """Files under ``folder`` matching ``globs``, relative, sorted."""
    if folder is None:
        return []
    return sorted({str(p.relative_to(folder)) for g in globs for p in folder.glob(g)})


def _count_by(s: Settings, table: str, column: str, where: str, **params: Any) -> dict[str, int]:
    """Rows of ``table`` per value of ``column`` under ``where``."""
    found = store_read.rows(
        f"SELECT {column} AS value, COUNT(*) AS n FROM {table} WHERE {where} GROUP BY {column}",
        params,
        s,
    )
    return {str(r["value"]): int(r["n"]) for r in found}


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


#: Task ids of the stage tasks that move aliases (:mod:`mlstack.airflow.stages`), in words.
ALIAS_TASKS = {"evaluate": "promotion gates", "start": "rollout", "watch": "rollout"}


def _actor_text(actor: str) -> str:
    """Who moved an alias, in words: the rollout, the promotion gates (``in <dag>`` when a
    use case's own DAG ran them), an approver, a CLI user."""
    if actor.startswith("approval:"):
        return f"approval by {actor.removeprefix('approval:')}"
    dag, _, task = actor.partition("/")
    if dag.endswith("__rollout"):
        return "rollout"
    if dag.endswith("__promote"):
        return "promotion gates"
    if task in ALIAS_TASKS:
        return f"{ALIAS_TASKS[task]} in {dag}"
    return actor


def dag_for(spec: UseCaseSpec, stage: str) -> str:
    """The DAG that runs ``stage`` of the use case: the generated ``<usecase>__<stage>``, or,
    for a use case with its own DAGs (``dags.own``: none generated), those, with the files
    in its folder that hold them (``dags/*.py``)."""
    if spec.generated_dags:
        return f"{spec.name}__{stage}"
    ids = spec.own_dag_ids()
    folder = spec.folder
    files = [str(p.relative_to(folder)) for p in spec.own_dag_files()] if folder else []
    where = ", ".join(files) or f"no {spec.name}/dags/*.py file yet"
    if len(ids) == 1:
        return f"{ids[0]} (its own DAG, {where})"
    return f"its own DAG that runs {stage} ({', '.join(ids)}; {where})"


def _evidence(spec: UseCaseSpec, s: Settings) -> dict[str, Any]:
    """Every fact the checklist answers from, one query each."""
    name = {"name": spec.name}
    monitored = store_read.rows(
        "SELECT COUNT(DISTINCT run_date) AS days, MAX(run_date) AS last "
        "FROM monitoring_metrics WHERE usecase = :name",
        name,
        s,
    )[0]
    alerts = store_read.scalar(
        "SELECT COUNT(*) FROM monitoring_alerts WHERE usecase = :name", name, s
    )
    catalog = store_read.rows(
        "SELECT d.name, COUNT(v.id) AS versions, MAX(v.version) AS latest, "
        "MAX(v.snapshot_at) AS snapshot_at FROM catalog_datasets AS d "
        "JOIN catalog_versions AS v ON v.dataset = d.name WHERE d.usecase = :name "
        "GROUP BY d.name ORDER BY d.name",
        name,
        s,
    )
    where = "usecase = :name AND action = 'gates'"
    gates = _count_by(s, "promotion_decisions", "outcome", where, **name)
    rollouts = _count_by(s, "rollouts", "state", "usecase = :name", **name)
    latest_rollout = store_read.rows(
        "SELECT challenger_version, state FROM rollouts WHERE usecase = :name "
        "ORDER BY started_at DESC LIMIT 1",
        name,
        s,
    )
    requests = store_read.rows(
        "SELECT id, run_date, decision, reason, evidence FROM retrain_requests "
        "WHERE usecase = :name ORDER BY run_date",
        name,
        s,
    )
    champion_decision = None
    aliases = model_records.aliases(spec.name, s)
    if CHAMPION in aliases:
        found = store_read.rows(
            "SELECT created_at, actor, action FROM promotion_decisions WHERE usecase = :name "
            "AND model_version = :version AND outcome = :outcome ORDER BY id DESC LIMIT 1",
            name | {"version": aliases[CHAMPION], "outcome": CHAMPION},
            s,
        )
        champion_decision = found[0] if found else None
    return {
        "monitored_days": int(monitored["days"] or 0),
        "last_monitored": store_read.sqlite_date(monitored["last"]),
        "alerts": int(alerts),
        "catalog": [tuple(r.values()) for r in catalog],
        "versions": model_records.list_models(spec.name, s),
        "aliases": aliases,
        "champion_decision": champion_decision,
        "gates": gates,
        "rollouts": rollouts,
        "latest_rollout": latest_rollout[0] if latest_rollout else None,
        "requests": requests,
        "tests": _files(spec.folder, TEST_GLOBS),
        "ci": _files(spec.folder, CI_GLOBS),
    }


def _trigger_text(spec: UseCaseSpec, on: dict[str, bool]) -> str:
    """What trains by itself, in words ('' when nothing does)."""
    parts = []
    if on["scheduled_training"] and not spec.generated_dags:
        parts.append(f"when {dag_for(spec, 'train')} runs")
    elif on["scheduled_training"] and spec.training.schedule:
        parts.append(f"on {spec.training.schedule!r}")
    if on["retrain_on_monitoring"]:
        parts.append("on the retrain policy's requests")
    return " and ".join(parts)


def _data_items(spec: UseCaseSpec, on: dict[str, bool], ev: dict[str, Any]) -> list[Item]:
    """Monitoring (level 1), data pipeline, data catalog and tests (level 2)."""
    days, last = ev["monitored_days"], ev["last_monitored"]
    monitoring = (
        Item(
            1,
            "monitoring",
            "yes",
            f"{days} days monitored, the latest {last}; {ev['alerts']} alerts",
        )
        if days
        else Item(
            1,
            "monitoring",
            "no",
            "no monitoring run recorded yet",
            f"run {dag_for(spec, 'monitor')} "
            f"(or `mlstack monitor run {spec.name} --day YYYY-MM-DD`)",
        )
    )
    features = next((r for r in ev["catalog"] if not r[0].endswith("_labels")), None)
    ingested = (
        f"{features[1]} versions ingested, the latest at {str(features[3])[:10]}"
        if features
        else "nothing ingested yet"
    )
    # a use case's own DAG decides its schedule itself (the example reads `schedule`)
    when = f"on {spec.schedule!r}" if spec.generated_dags else f"in {dag_for(spec, 'ingest')}"
    if on["scheduled_ingest"] and features:
        pipeline = Item(2, "data pipeline", "yes", f"runs {when}; {ingested}")
    elif on["scheduled_ingest"]:
        pipeline = Item(
            2,
            "data pipeline",
            "no",
            f"scheduled {when}; {ingested}",
            f"let {dag_for(spec, 'ingest')} run (unpause it)",
        )
    else:
        pipeline = Item(
            2,
            "data pipeline",
            "no",
            f"ingestion runs only by hand; {ingested}",
            "maturity: 2 (or automation.scheduled_ingest: true) with a schedule",
        )
    if ev["catalog"]:
        listed = "; ".join(f"{n}: {c} versions (latest v{mx})" for n, c, mx, _ in ev["catalog"])
        catalog = Item(2, "data catalog", "yes", listed)
    else:
        catalog = Item(
            2,
            "data catalog",
            "no",
            "no dataset version catalogued yet",
            f"ingest a day; {dag_for(spec, 'catalog')} records it",
        )
    tests = (
        Item(2, "tests", "yes", ", ".join(ev["tests"]))
        if ev["tests"]
        else Item(
            2,
            "tests",
            "no",
            "no test file for this use case",
            "add tests/test_*.py beside usecase.yaml and run them in CI",
        )
    )
    return [monitoring, pipeline, catalog, tests]


def _model_items(spec: UseCaseSpec, on: dict[str, bool], ev: dict[str, Any]) -> list[Item]:
    """Automated training, metadata store, model registry, gated promotion, feature store."""
    versions = ev["versions"]
    by_trigger: dict[str, int] = {}
    for row in ev["versions"]:
        trigger = row.get("trigger") or "unknown"
        by_trigger[trigger] = by_trigger.get(trigger, 0) + 1
    automatic = sum(n for t, n in by_trigger.items() if t in AUTOMATIC_TRIGGERS)
    how = _trigger_text(spec, on)
    if how and automatic:
        training = Item(
            3,
            "automated training",
            "yes",
            f"trains {how}; {automatic} of {len(versions)} versions trained without a person",
        )
    elif how:
        training = Item(
            3,
            "automated training",
            "no",
            f"trains {how}; no version trained that way yet",
            f"let {dag_for(spec, 'train')} run",
        )
    else:
        training = Item(
            3,
            "automated training",
            "no",
            f"training runs only by hand ({len(versions)} versions)",
            "maturity: 3 with training.schedule (or automation.scheduled_training: true)",
        )
    runs = [r for r in versions if r["run_id"]]
    snapped = [r for r in runs if r["features_snapshot"]]
    metadata = (
        Item(
            3,
            "metadata store",
            "yes",
            f"{len(runs)} MLflow runs, {len(snapped)} with their exact data snapshots",
        )
        if runs
        else Item(
            3,
            "metadata store",
            "no",
            "no training run recorded",
            f"train a model (`mlstack train {spec.name}`)",
        )
    )
    champion = ev["aliases"].get(CHAMPION)
    if versions and champion is not None:
        found = ev["champion_decision"]
        when = (
            f" promoted {str(found['created_at'])[:10]} by {_actor_text(found['actor'])}"
            if found
            else ""
        )
        registry = Item(
            3, "model registry", "yes", f"{len(versions)} versions, champion v{champion}{when}"
        )
    elif versions:
        registry = Item(
            3,
            "model registry",
            "no",
            f"{len(versions)} versions, no champion yet",
            f"promote a candidate ({dag_for(spec, 'promote')})",
        )
    else:
        registry = Item(
            3,
            "model registry",
            "no",
            "no version registered",
            f"train a model ({dag_for(spec, 'train')})",
        )
    gates = ev["gates"]
    if on["gated_promotion"] and gates:
        gated = Item(
            3,
            "gated promotion",
            "yes",
            f"each candidate gated as training emits it; {sum(gates.values())} decisions "
            f"({_counts_text(gates)})",
        )
    elif on["gated_promotion"]:
        gated = Item(
            3,
            "gated promotion",
            "no",
            "on, but no candidate gated yet",
            f"train a candidate; {dag_for(spec, 'promote')} gates it",
        )
    else:
        gated = Item(
            3,
            "gated promotion",
            "no",
            f"promotion only by hand; {sum(gates.values())} gate decisions",
            "maturity: 3 (or automation.gated_promotion: true)",
        )
    feature_store = Item(
        3,
        "feature store",
        "n/a",
        "mlstack has no feature store: training reads exact Iceberg snapshots of the "
        "use case's tables, and serving gets the features in each request",
    )
    return [training, metadata, registry, gated, feature_store]


def _automation_items(spec: UseCaseSpec, on: dict[str, bool], ev: dict[str, Any]) -> list[Item]:
    """CI/CD, A/B testing (level 4) and automated retraining (level 5)."""
    ci = (
        Item(4, "CI/CD", "yes", ", ".join(ev["ci"]))
        if ev["ci"]
        else Item(
            4,
            "CI/CD",
            "no",
            "no CI/CD file for this use case",
            "a pipeline file (.github/workflows/*.yml or .gitlab-ci.yml) beside usecase.yaml "
            "that tests and deploys it",
        )
    )
    rollouts, latest = ev["rollouts"], ev["latest_rollout"]
    seen = (
        f"{sum(rollouts.values())} rollouts ({_counts_text(rollouts)})"
        if rollouts
        else "no rollout yet"
    )
    if latest is not None:
        seen += f", the latest of v{latest['challenger_version']} {latest['state']}"
    if on["ab_rollout"] and rollouts:
        ab = Item(4, "A/B testing", "yes", f"each new challenger rolled out by itself; {seen}")
    elif on["ab_rollout"]:
        ab = Item(4, "A/B testing", "no", f"on; {seen}", "a challenger from promotion starts one")
    else:
        ab = Item(
            4,
            "A/B testing",
            "no",
            f"rollouts only by hand; {seen}",
            "maturity: 4 (or automation.ab_rollout: true)",
        )
    sent = [r for r in ev["requests"] if r["decision"] == "retrain"]
    answered = sum(1 for r in ev["versions"] if r.get("trigger") == "retrain-request")
    facts = f"{len(sent)} retrain requests sent, {answered} versions trained on them"
    if on["retrain_on_monitoring"] and answered:
        retrain = Item(
            5,
            "automated retraining",
            "yes",
            f"the retrain policy's requests start training; {facts}",
        )
    elif on["retrain_on_monitoring"]:
        retrain = Item(
            5, "automated retraining", "no", f"on; {facts}", "a performance drop the policy acts on"
        )
    else:
        retrain = Item(
            5,
            "automated retraining",
            "no",
            f"the policy's decisions are recorded, nothing retrains by itself; {facts}",
            "maturity: 5 (or automation.retrain_on_monitoring: true)",
        )
    return [ci, ab, retrain]


def retrain_costs(ev: dict[str, Any], as_of: date) -> dict[str, Any]:
    """The level-5 costs over the 30 days to ``as_of``: retrains (requests sent), the compute
    time of the versions trained on them, the labels they waited for, and the policy runs
    blocked waiting for labels."""
    since = as_of - timedelta(days=COST_WINDOW_DAYS)
    window = [r for r in ev["requests"] if since < r["run_date"] <= as_of]
    by_request = {row.get("retrain_request"): row for row in ev["versions"]}
    retrains = []
    for r in (r for r in window if r["decision"] == "retrain"):
        evidence = (r["evidence"] or {}).get("evidence") or {}
        change = evidence.get("change_date")
        version = by_request.get(str(r["id"]))
        retrains.append(
            {
                "request_id": r["id"],
                "day": r["run_date"].isoformat(),
                "version": version["version"] if version else None,
                "compute_seconds": version.get("train_seconds") if version else None,
                "fresh_labels": evidence.get("fresh_labels"),
                "waited_days": (r["run_date"] - date.fromisoformat(change)).days
                if change
                else None,
            }
        )
    blocked = sum(
        1 for r in window if r["decision"] == "blocked" and "waiting for labels" in r["reason"]
    )
    seconds = [x["compute_seconds"] for x in retrains if x["compute_seconds"] is not None]
    return {
        "since": since.isoformat(),
        "until": as_of.isoformat(),
        "retrains": retrains,
        "compute_seconds": round(sum(seconds), 1) if seconds else None,
        "blocked_waiting_for_labels": blocked,
    }


def costs_text(costs: dict[str, Any]) -> str:
    """The level-5 costs on one line."""
    head = f"{len(costs['retrains'])} retrains in the 30 days to {costs['until']}"
    if not costs["retrains"]:
        return (
            f"{head}; {costs['blocked_waiting_for_labels']} policy runs blocked waiting for labels"
        )
    each = []
    for r in costs["retrains"]:
        v = f"v{r['version']}" if r["version"] is not None else "no version yet"
        cpu = (
            f"{r['compute_seconds']:.0f} s"
            if r["compute_seconds"] is not None
            else "time not recorded"
        )
        waited = (
            f"waited {r['waited_days']} days for {r['fresh_labels']} fresh labels"
            if r["waited_days"] is not None
            else f"{r['fresh_labels']} fresh labels"
        )
        each.append(f"{r['day']} → {v}, {cpu}, {waited}")
    total = (
        f"{costs['compute_seconds']:.0f} s"
        if costs["compute_seconds"] is not None
        else "not recorded"
    )
    return (
        f"{head}, training compute {total}: "
        + "; ".join(each)
        + f"; {costs['blocked_waiting_for_labels']} policy runs blocked waiting for labels"
    )


def _with_train_facts(
    versions: list[dict[str, Any]], s: Settings, name: str
) -> list[dict[str, Any]]:
    """The recorded versions with the tags the checklist reads: trigger, request, seconds."""
    found = store_read.rows(
        "SELECT version, tags FROM registry_versions WHERE model = :name", {"name": name}, s
    )
    tags = {int(r["version"]): r["tags"] for r in found}
    out = []
    for row in versions:
        tg = tags.get(row["version"], {})
        seconds = tg.get("mlstack.train_seconds")
        out.append(
            {
                **row,
                "trigger": tg.get("mlstack.trigger"),
                "retrain_request": tg.get("mlstack.retrain_request.id"),
                "train_seconds": float(seconds) if seconds else None,
            }
        )
    return out


def reached(items: list[Item]) -> int:
    """The highest level whose items, and every lower level's, are all met (1 at least:
    manual is where every use case starts, monitored or not)."""
    level = 1
    for n in range(2, 6):
        if not all(i.met for i in items if i.level <= n):
            break
        level = n
    return level


def next_steps(spec: UseCaseSpec, items: list[Item]) -> list[str]:
    """What the next level needs: first what the declared level still lacks in evidence,
    then the next level's items and the automation it switches on."""
    declared = spec.maturity
    lacking = [f"{i.name}: {i.needs}" for i in items if i.level <= declared and not i.met]
    if declared == 5:
        return lacking or ["nothing: level 5 is the last; watch the retrain costs below"]
    target = declared + 1
    switches = [k for k, lvl in automation.SWITCHES.items() if lvl == target]
    steps = lacking + [f"{i.name}: {i.needs}" for i in items if i.level == target and not i.met]
    turn_on = f" (turns on {', '.join(switches)})" if switches else ""
    steps.append(f"maturity: {target}{turn_on} — {automation.LEVELS[target][1]}")
    return steps


def report(spec: UseCaseSpec, settings: Settings | None = None) -> dict[str, Any]:
    """One use case's maturity: declared level and switches, the checklist with evidence,
    the level the evidence supports, the next level's needs and the level-5 costs."""
    s = settings or get_settings()
    ev = _evidence(spec, s)
    ev["versions"] = _with_train_facts(ev["versions"], s, spec.name)
    on = spec.switches()
    items = _data_items(spec, on, ev) + _model_items(spec, on, ev) + _automation_items(spec, on, ev)
    as_of = ev["last_monitored"] or date.today()
    costs = retrain_costs(ev, as_of)
    return {
        "usecase": spec.name,
        "declared": spec.maturity,
        "declared_name": automation.level_name(spec.maturity),
        "switches": on,
        "evidence_level": reached(items),
        "items": [asdict(i) for i in items],
        "next": next_steps(spec, items),
        "retrain_costs": costs,
        "retrain_costs_text": costs_text(costs),
    }
