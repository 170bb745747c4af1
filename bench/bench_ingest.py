"""Benchmark: ingest + catalog of one simulated day, warm process (issue: under 10 s for
100k rows on the 2-core machine), and throughput on 1M rows.

Compares, in one run on the same landed files: the stages called directly (what a task
does) and the same day through the real DAGs with ``dag.test()`` (Airflow's overhead
included). Writes bench/results/ingest.md.

    .venv/bin/python bench/bench_ingest.py [--rows 100000] [--big 1000000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.mkdtemp(prefix="mlstack-bench-"))
os.environ["MLSTACK_HOME"] = str(WORK / "home")
os.environ["AIRFLOW_HOME"] = str(WORK / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    args = parser.parse_args()

    from mlstack.airflow import runner
    from mlstack.settings import get_settings
    from mlstack.sources import land
    from mlstack.specs import get_spec
    from mlstack.stages import catalog
    from mlstack.stages.ingest import ingest_day

    spec = get_spec("credit_default")
    settings = get_settings()
    start = spec.simulator.start

    def with_rows(n: int):
        return spec.model_copy(
            update={"simulator": spec.simulator.model_copy(update={"rows_per_day": n})}
        )

    # Warm the process: imports, table creation, first catalog write.
    land(with_rows(1000), start, settings)
    ingest_day(spec, start)
    catalog.sync(spec)

    rows: list[tuple[str, int, float, str]] = []

    day = start + timedelta(days=1)
    _, t_land = timed(land, with_rows(args.rows), day, settings)
    res, t_ing = timed(ingest_day, spec, day)
    _, t_cat = timed(catalog.sync, spec)
    rows.append(
        (
            f"stages: ingest {args.rows:,} rows (validate, quarantine, Iceberg commit)",
            args.rows,
            t_ing,
            "",
        )
    )
    rows.append(("stages: catalog the new version (schema, stats, lineage)", args.rows, t_cat, ""))
    rows.append(("**stages: ingest + catalog**", args.rows, t_ing + t_cat, "target < 10 s"))

    # The same day again, through the DAGs (replaces the partition: idempotent re-run).
    log = WORK / "airflow.log"
    runner.prepare_airflow(settings, log)
    with runner.quiet(log):
        dags = runner.load_dags()
        runner.run_dag(
            dags, "credit_default__ingest", {"day": start.isoformat()}, log
        )  # warm dag.test
    _, t_dag_i = timed(
        runner.run_dag, dags, "credit_default__ingest", {"day": day.isoformat()}, log
    )
    _, t_dag_c = timed(runner.run_dag, dags, "credit_default__catalog", None, log)
    rows.append(
        (
            "**DAGs: ingest + catalog via dag.test() (re-run of the day)**",
            args.rows,
            t_dag_i + t_dag_c,
            "target < 10 s",
        )
    )

    big_day = start + timedelta(days=2)
    _, t_land_big = timed(land, with_rows(args.big), big_day, settings)
    res_big, t_big = timed(ingest_day, spec, big_day)
    _, t_big_cat = timed(catalog.sync, spec)
    rows.append(
        (f"stages: ingest {args.big:,} rows", args.big, t_big, f"{args.big / t_big:,.0f} rows/s")
    )
    rows.append(
        (
            f"stages: ingest + catalog {args.big:,} rows",
            args.big,
            t_big + t_big_cat,
            f"{args.big / (t_big + t_big_cat):,.0f} rows/s",
        )
    )

    out = ROOT / "bench" / "results" / "ingest.md"
    lines = [
        "# Ingest + catalog benchmark",
        "",
        f"`{' '.join([Path(sys.executable).name, *sys.argv])}` on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {date.today()}. "
        "Embedded backends (SQLite catalog, local lake), warm process. "
        "Landing (simulating upstream) is not counted: "
        f"{t_land:.2f} s for {args.rows:,} rows, {t_land_big:.2f} s for {args.big:,}.",
        "",
        "| what | rows | seconds | note |",
        "|---|---:|---:|---|",
        *[f"| {w} | {n:,} | {s:.2f} | {note} |" for w, n, s, note in rows],
        "",
        f"Rejected rows kept in quarantine: {res.rejected:,} of {res.rows_in:,} (100k day), "
        f"{res_big.rejected:,} of {res_big.rows_in:,} (1M day).",
        "",
    ]
    out.write_text("\n".join(lines))
    print("\n".join(lines))  # noqa: T201 - a benchmark prints its table


if __name__ == "__main__":
    main()
