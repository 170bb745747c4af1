"""Benchmark: one monitoring run (drift, data quality, estimated performance) at scale.

Compares, on the same synthetic data in one run:

* **mlstack** — :mod:`mlstack.monitoring.drift` (Evidently's methods, computed in numpy),
  :mod:`mlstack.monitoring.quality` and CBPE (:mod:`mlstack.monitoring.performance`) on 1M
  current rows × 20
  features (14 numerical, 6 categorical) plus the score, against a 200k-row reference;
* **Evidently** ``DataDriftPreset`` alone on the same columns, at a bounded size
  (``--evidently-rows``, default 1M: about two minutes here; lower it on slow machines);
* **verdicts** — per-feature drift verdicts of both on a 100k-row check (same rows).

Each measurement runs in a fresh subprocess; time is wall clock of the computation (data
already loaded), peak memory is the child's maximum RSS (``getrusage``), loading included.

    .venv/bin/python bench/bench_monitor.py            # writes bench/results/monitor.md
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

NUMERICAL = [f"num_{i:02d}" for i in range(14)]
CATEGORICAL = [f"cat_{i}" for i in range(6)]
#: Shifts applied to the current window: some strong, some near the thresholds, most none.
NUM_SHIFT = {"num_00": 0.5, "num_01": 0.12, "num_02": 0.08, "num_03": 0.2, "num_07": 0.05}
CAT_SHIFT = {"cat_0": 0.25, "cat_1": 0.06}


def make_frame(rows: int, seed: int, shifted: bool) -> pd.DataFrame:
    """Synthetic monitoring window: 14 numerical + 6 categorical features, score, label."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i, name in enumerate(NUMERICAL):
        shift = NUM_SHIFT.get(name, 0.0) if shifted else 0.0
        if i % 3 == 0:
            col = rng.normal(shift, 1.0, rows)
        elif i % 3 == 1:
            col = rng.lognormal(10 + shift, 0.6, rows)
        else:
            col = rng.poisson(5 * (1 + shift), rows).astype(float)
        if i == 5:
            col[rng.random(rows) < 0.02] = np.nan
        data[name] = col
    for j, name in enumerate(CATEGORICAL):
        k = 3 + j
        p = np.linspace(2, 1, k)
        p /= p.sum()
        if shifted and name in CAT_SHIFT:
            p = (1 - CAT_SHIFT[name]) * p
            p[-1] += CAT_SHIFT[name]
        values = rng.choice(k, rows, p=p)
        data[name] = pd.Categorical.from_codes(values, [f"v{c}" for c in range(k)])
    logit = 0.8 * data["num_00"] - 0.5 * np.log(data["num_01"]) + 4 - 0.1 * data["num_02"]
    score = 1 / (1 + np.exp(-logit))
    data["score"] = score
    data["label"] = (rng.random(rows) < score).astype(int)
    return pd.DataFrame(data)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_mlstack(folder: Path) -> dict[str, Any]:
    """The full monitoring computation mlstack runs each day."""
    from mlstack.monitoring import drift, performance, quality
    from mlstack.specs import ColumnSpec

    ref = pd.read_parquet(folder / "reference.parquet")
    cur = pd.read_parquet(folder / "current.parquet")
    loaded = _peak_mb()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    report = drift.dataset_drift(ref, cur, [*NUMERICAL, "score"], CATEGORICAL)
    timings["drift"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    cols = {n: ColumnSpec(type="float", min=0) for n in NUMERICAL}
    cols |= {n: ColumnSpec(type="category", categories=["v0", "v1"]) for n in CATEGORICAL}
    qual = quality.data_quality(cur, cols, ref)
    timings["quality"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    cal = performance.Calibrator().fit(ref["label"].to_numpy(), ref["score"].to_numpy())
    est = performance.cbpe(cur["score"].to_numpy(), 0.5, calibrator=cal, costs={"tp": 1, "fp": -1})
    timings["cbpe"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    real = performance.realised_classification(cur["label"], cur["score"], 0.5)
    return {
        "timings": timings,
        "peak_mb": _peak_mb(),
        "loaded_mb": loaded,
        "drifted": report.drifted_columns,
        "quality_issues": len(qual.issues()),
        "cbpe_roc_auc": est["roc_auc"],
        "realised_roc_auc": real["roc_auc"],
        "cbpe_accuracy": est["accuracy"],
        "realised_accuracy": real["accuracy"],
    }


def child_evidently(folder: Path, rows: int) -> dict[str, Any]:
    """Evidently's DataDriftPreset alone on ``rows`` current rows (same columns)."""
    from mlstack.monitoring.reports import evidently_drift

    ref = pd.read_parquet(folder / "reference.parquet")
    cur = pd.read_parquet(folder / "current.parquet").iloc[:rows]
    t0 = time.perf_counter()
    verdicts = evidently_drift(ref, cur, [*NUMERICAL, "score"], CATEGORICAL)
    return {
        "rows": rows,
        "seconds": time.perf_counter() - t0,
        "peak_mb": _peak_mb(),
        "drifted": sorted(c for c, v in verdicts.items() if v["drifted"]),
    }


def child_verdicts(folder: Path, rows: int) -> dict[str, Any]:
    """Per-feature verdicts and scores of both on the same ``rows``-row check."""
    from mlstack.monitoring.drift import dataset_drift
    from mlstack.monitoring.reports import evidently_drift

    ref = pd.read_parquet(folder / "reference.parquet").iloc[:rows]
    cur = pd.read_parquet(folder / "current.parquet").iloc[:rows]
    cols = [*NUMERICAL, "score"]
    ours = {c.column: c for c in dataset_drift(ref, cur, cols, CATEGORICAL).columns}
    theirs = evidently_drift(ref, cur, cols, CATEGORICAL)
    table = [
        {
            "column": name,
            "method": ours[name].method,
            "mlstack": round(ours[name].score, 5),
            "evidently": round(theirs[name]["score"], 5),
            "mlstack_drift": ours[name].drifted,
            "evidently_drift": theirs[name]["drifted"],
        }
        for name in [*cols, *CATEGORICAL]
    ]
    return {
        "rows": rows,
        "table": table,
        "agree": all(r["mlstack_drift"] == r["evidently_drift"] for r in table),
    }


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _spawn(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def render(
    cfg: dict[str, Any], ours: dict[str, Any], ev: dict[str, Any], ver: dict[str, Any]
) -> str:
    """The committed Markdown result table."""
    t = ours["timings"]
    met = t["total"] < 15 and ours["peak_mb"] < 1536
    lines = [
        "# Monitoring benchmark",
        "",
        f"One run of `bench/bench_monitor.py` on {cfg['machine']}. Current window "
        f"{cfg['rows']:,} rows × 20 features (14 numerical, 6 categorical) + score; reference "
        f"{cfg['reference_rows']:,} rows. Each measurement in a fresh subprocess; peak = max RSS "
        "of that process, data loading included.",
        "",
        "| what | rows (current) | time | peak memory |",
        "|---|---:|---:|---:|",
        f"| mlstack: drift (21 columns) + quality + CBPE | {cfg['rows']:,} | "
        f"**{t['total']:.1f} s** (drift {t['drift']:.1f}, quality {t['quality']:.1f}, "
        f"CBPE {t['cbpe']:.1f}) | **{ours['peak_mb']:.0f} MB** "
        f"(data loaded: {ours['loaded_mb']:.0f} MB) |",
        f"| Evidently `DataDriftPreset` alone | {ev['rows']:,} | {ev['seconds']:.1f} s | "
        f"{ev['peak_mb']:.0f} MB |",
        "",
        f"Goal: < 15 s and < 1.5 GB for the full run: **{'met' if met else 'NOT met'}**.",
        "",
        f"Evidently ran at {ev['rows']:,} current rows (bounded by `--evidently-rows` so the "
        "baseline finishes in about two minutes). Drifted columns: "
        f"mlstack {ours['drifted'] and sorted(ours['drifted'])} vs Evidently {ev['drifted']}.",
        "",
        f"CBPE on the current window: ROC AUC {ours['cbpe_roc_auc']:.4f} estimated vs "
        f"{ours['realised_roc_auc']:.4f} realised; accuracy {ours['cbpe_accuracy']:.4f} vs "
        f"{ours['realised_accuracy']:.4f}.",
        "",
        f"## Per-feature verdicts, {ver['rows']:,}-row check (same rows for both)",
        "",
        f"All verdicts agree: **{ver['agree']}**.",
        "",
        "| column | method | mlstack score | Evidently score | mlstack drift | Evidently drift |",
        "|---|---|---:|---:|:-:|:-:|",
    ]
    for r in ver["table"]:
        lines.append(
            f"| {r['column']} | {r['method']} | {r['mlstack']} | {r['evidently']} | "
            f"{'yes' if r['mlstack_drift'] else 'no'} | {'yes' if r['evidently_drift'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Generate the data once, run the three children, write the result table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--evidently-rows", type=int, default=1_000_000)
    parser.add_argument("--check-rows", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "monitor.md")
    parser.add_argument("--child", choices=["mlstack", "evidently", "verdicts"])
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.child:
        fn = {
            "mlstack": lambda: child_mlstack(args.data),
            "evidently": lambda: child_evidently(args.data, args.evidently_rows),
            "verdicts": lambda: child_verdicts(args.data, args.check_rows),
        }[args.child]
        sys.stdout.write(json.dumps(fn(), default=float) + "\n")
        return
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        folder = Path(tmp)
        make_frame(args.reference_rows, 1, False).to_parquet(folder / "reference.parquet")
        make_frame(args.rows, 2, True).to_parquet(folder / "current.parquet")
        data = ["--data", str(folder)]
        _say("mlstack run ...")
        ours = _spawn("--child", "mlstack", *data)
        _say(f"  {ours['timings']} peak {ours['peak_mb']:.0f} MB")
        _say(f"Evidently on {args.evidently_rows} rows ...")
        ev = _spawn("--child", "evidently", "--evidently-rows", str(args.evidently_rows), *data)
        _say(f"  {ev['seconds']:.1f} s peak {ev['peak_mb']:.0f} MB")
        _say(f"verdict check on {args.check_rows} rows ...")
        ver = _spawn("--child", "verdicts", "--check-rows", str(args.check_rows), *data)
    cfg = {
        "rows": args.rows,
        "reference_rows": args.reference_rows,
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
    }
    args.out.write_text(render(cfg, ours, ev, ver))
    _say(args.out.read_text())


if __name__ == "__main__":
    main()
