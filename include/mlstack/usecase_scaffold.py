"""``mlstack usecases new``: a use case's folder, ready to validate, ingest, test and deploy.

Writes ``usecase.yaml`` (every section, commented: maturity, source, schema, training,
promotion, rollout, monitoring, retraining), ``hooks.py``, its own tests
(``tests/test_<name>.py``), the CI templates of the team's repository (``ci/``) and, from a
sample file, ``tests/sample.<ext>`` (at most :data:`SAMPLE_ROWS` of its rows). Without a
sample the schema is a placeholder of five columns to edit. The schema of a sample is
inferred by :mod:`mlstack.schema_inference`.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import yaml

from mlstack import usecase_templates as templates
from mlstack.schema_inference import InferredColumn, InferredSchema
from mlstack.specs import ColumnSpec

#: Rows of the sample kept in tests/sample.* (the use case's tests and CI train on them).
SAMPLE_ROWS = 5000


def placeholder_schema() -> InferredSchema:
    """The schema written without a sample: five columns to replace with the real ones."""
    cols = {
        "id": ColumnSpec(type="string", nullable=False, description="Unique id of a row"),
        "event_date": ColumnSpec(type="date", nullable=False, description="Day partition"),
        "amount": ColumnSpec(type="float", min=0),
        "channel": ColumnSpec(type="category", categories=["web", "store"]),
        "label": ColumnSpec(type="int", min=0, max=1),
    }
    return InferredSchema(
        path=Path("-"),
        format="csv",
        frame=pd.DataFrame(),
        columns={n: InferredColumn(n, c, 0, 0) for n, c in cols.items()},
        id_column="id",
        date_column="event_date",
        target_column="label",
    )


def _flow(value: object) -> str:
    """One YAML value on one line (flow style)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000, sort_keys=False)
    return str(text).removesuffix("\n...\n").strip()


def _column_line(col: InferredColumn, rows: int) -> str:
    given = col.spec.model_dump(exclude_defaults=True)
    spec: dict[str, object] = {"type": col.spec.type, "nullable": col.spec.nullable}
    spec |= {k: given[k] for k in ("min", "max", "categories", "description") if k in given}
    for bound in ("min", "max"):
        value = given.get(bound)
        if value is not None and float(value).is_integer():
            spec[bound] = int(value)
    seen = ""
    if rows:
        shown = [
            str(v)[:10] if col.spec.type == "date" else v for v in (col.seen_min, col.seen_max)
        ]
        seen = f"  # sample: {col.distinct} distinct, {col.nulls} null"
        seen += f", {shown[0]} .. {shown[1]}" if col.seen_min is not None else ""
    return f"    {_flow(col.name)}: {_flow(spec)}{seen}"


def _split(schema: InferredSchema) -> tuple[int, int]:
    """(validation and holdout days, min train rows) that the sample itself satisfies."""
    if schema.frame.empty or schema.date_column is None:
        return 7, 100
    days = schema.frame[schema.date_column].astype(str).str[:10].nunique()
    each = max(1, min(7, (days - 1) // 3))
    per_day = len(schema.frame) / max(days, 1)
    return each, max(1, min(100, int(per_day * max(days - 2 * each, 1) / 2)))


def _drop(schema: InferredSchema) -> float:
    """A first performance-drop bar: 0.03 of AUC, or a tenth of the target's spread."""
    if schema.task == "classification" or schema.frame.empty:
        return 0.03
    target = pd.to_numeric(schema.frame[schema.target_column], errors="coerce")
    spread = float(target.std()) if target.notna().sum() > 1 else 1.0
    return float(f"{max(spread, 1e-9) / 10:.2g}") if math.isfinite(spread) else 1.0


def render_spec(name: str, schema: InferredSchema) -> str:
    """The usecase.yaml of ``name`` for ``schema``, every section commented."""
    rows = len(schema.frame)
    classification = schema.task == "classification"
    primary, metrics = (
        ("roc_auc", "[pr_auc, log_loss, f1]")
        if classification
        else (
            "rmse",
            "[mae, r2]",
        )
    )
    each, min_train = _split(schema)
    categories = [n for n, c in schema.columns.items() if c.spec.type == "category"]
    slice_line = (
        f"    - {{column: {_flow(categories[0])}, tolerance: 0.05, min_rows: 50}}"
        if categories
        else "    # - {column: a_category_column, tolerance: 0.05, min_rows: 50}"
    )
    origin = (
        f"inferred from {schema.path.name} ({rows} rows); check every line"
        if rows
        else "a placeholder: replace the columns with your data's"
    )
    columns = "\n".join(_column_line(c, rows) for c in schema.columns.values())
    drop = _drop(schema)
    return f"""\
# The {name} use case. Written by `mlstack usecases new`; `mlstack usecases validate` checks
# it, `mlstack maturity {name}` shows what its level runs by itself.
name: {name}
owner: your-team
description: >
  What {schema.target_column} predicts, for whom, and how the prediction is used.
team: {{users: [], groups: []}}   # deploy mode: who sees and runs it in Airflow (and admins)
tags: []
task: {schema.task}   # {"the target is 0/1" if classification else "the target is a number"}
schedule: "@daily"        # the data pipeline (ingest, then catalog)

# 1 manual, 2 repeatable, 3 reproducible, 4 automated, 5 continuously improved: which stages
# run by themselves (monitoring runs at every level). 3 = scheduled ingest and training,
# gated promotion; rollout of a challenger and retraining by hand. `automation:` overrides
# single switches, e.g. automation: {{ab_rollout: true}}.
maturity: 3
hooks: hooks.py           # plugins of this use case (transforms, tasks, models, ...)

# Where each day's rows land: CSV/Parquet files under <prefix>/day=YYYY-MM-DD/ in the lake.
source:
  kind: files
  options:
    prefix: landing/{name}
    format: {schema.format}

# The data contract, {origin}.
# Rows that break it go to quarantine/ with the reason.
# nullable: false where the sample had no empty value; min: 0 where it had no negative one.
schema:
  id_column: {_flow(schema.id_column)}          # unique per row, across days
  timestamp_column: {_flow(schema.date_column)}  # the table's day partition
  target_column: {_flow(schema.target_column)}
  label_delay_days: 0       # days after a row's date before its label is known
  columns:
{columns}

# Training: an exact Iceberg snapshot, split by whole days (oldest train, then validation,
# newest holdout), fit, one MLflow run, a registered version with alias `candidate`.
training:
  schedule: "@weekly"       # level 3+ trains on this schedule (below 3: remove the line)
  model:
    estimator: hist_gradient_boosting   # or random_forest, linear, ..., or an import path
    params: {{}}
  split: {{validation_days: {each}, holdout_days: {each}, min_train_rows: {min_train}}}
  primary_metric: {primary}
  metrics: {metrics}
{_classification_lines() if classification else ""}
# Promotion: a candidate must beat the champion on the same holdout rows to become challenger.
promotion:
  min_delta: {"0.002" if classification else "0.0"}  # how much {primary} must beat the champion by
  # min_score: {"0.6" if classification else "10.0"}  # floor of {primary}, also for a first model
  slices:                   # no slice may lose more than its tolerance of {primary}
{slice_line}
  max_latency_ms: 100       # median single-row prediction time
  require_approval: false   # true: a person approves each promotion in Airflow

# Rollout of a challenger through the gateway (by hand below level 4): shadow, then A/B
# stages of traffic, decided by an always-valid test on the labels fed back.
rollout:
  mode: shadow
  stages: [0.1, 0.5]
  min_samples: 200          # labelled rows per variant before a win counts
  max_duration: P7D         # per stage; longer than label_delay_days
  guardrails: {{max_error_rate: 0.01, max_p99_latency_ms: 100}}

# Monitoring (every level, daily): drift, data quality, realised and estimated performance.
monitoring:
  schedule: "@daily"
  performance_drop: {drop}    # alert when {primary} is this much worse than the champion's holdout
  min_labels: 200           # labelled rows before realised figures count
  notifiers:
    - {{kind: log}}
    # - {{kind: slack, options: {{url_env: SLACK_WEBHOOK_URL}}, on: [retrain]}}

# Retraining is a decision (level 5, or automation.retrain_on_monitoring): drift alone only
# alerts; a retrain needs a sustained drop, fresh labels, a cooldown and a budget.
retraining:
  metric_drop: {drop}
  min_labels: 1000
  sustained_days: 3
  min_fresh_labels: 1000
  cooldown_days: 7
  max_per_30_days: 2

# Extra tasks from hooks.py, placed before/after a stage in its DAG:
# tasks:
#   - {{task: {name}_fairness_check, before: promote}}

# Or your own DAGs instead of the generated ones: each name is DAG {name}__<name>, defined
# by a file in this folder's dags/ (dags/pipeline.py, composed from mlstack.airflow.stages),
# which ships with the use case (`mlstack deploy-usecase`).
# dags:
#   own: [pipeline]
"""


def _classification_lines() -> str:
    return """\
  threshold: 0.5            # predict positive when P(positive) >= threshold
  # Value of one decision (positive = predicted 1), for the business-value metric:
  # cost_matrix: {tp: 0, fp: -1, fn: -5, tn: 0}
"""


def write_usecase(folder: Path, schema: InferredSchema | None, usecases_dir: str) -> list[Path]:
    """Write the use case's folder (it must not exist); the files written."""
    name = folder.name
    schema = schema or placeholder_schema()
    files = {
        "usecase.yaml": render_spec(name, schema),
        "hooks.py": templates.HOOKS.format(name=name),
        f"tests/test_{name}.py": templates.TESTS.format(
            name=name, tests_dir=f"{usecases_dir}/{name}/tests"
        ),
        "ci/github-actions.yml": templates.github_workflow(name, usecases_dir),
        "ci/gitlab-ci.yml": templates.gitlab_ci(name, usecases_dir),
    }
    written = []
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    if not schema.frame.empty:
        written.append(_write_sample(folder / "tests", schema))
    return written


def _write_sample(tests: Path, schema: InferredSchema) -> Path:
    """tests/sample.<ext>: the sample's rows (at most SAMPLE_ROWS, drawn over every day)."""
    from mlstack.usecase_checks import encode_rows

    rows = schema.frame
    if len(rows) > SAMPLE_ROWS:
        rows = rows.sample(SAMPLE_ROWS, random_state=0).sort_index()
    path = tests / f"sample.{schema.format}"
    path.write_bytes(encode_rows(rows, schema.format))
    return path
