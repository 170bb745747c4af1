"""Benchmark: the gateway's scoring of credit_default's gradient-boosting model per batch size.

One process, one thread (as a gateway worker scores: ``OMP_NUM_THREADS=1``), the demo
model as training builds it (mlstack's pipeline with credit_default's spec: 200 trees of
up to 31 leaves), fitted on one simulated day, scoring request records of another. Three
ways, on the same batches, one after the other for each batch size:

  pipeline        the records as a DataFrame through the fitted Pipeline (the gateway's
                  path when no numpy scorer is verified)
  tree by tree    the numpy scorer with the estimator's own predict_proba (the gateway's
                  fast path before the trees were walked at once)
  trees at once   the numpy scorer with the trees walked together (compiled_pipeline's
                  _tree_head; above TREE_HEAD_MAX_ROWS rows it is the estimator's predict)

Batch sizes are the gateway's micro-batches: 1 row at low load, up to a few hundred under
heavy load. The median of many calls per size. Writes bench/results/tree_head.md.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_tree_head.py [--calls 300]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "tree_head.md"
USECASE = "credit_default"
SIZES = (1, 8, 32, 128, 512)


def say(message: str) -> None:
    """Progress on stderr."""
    sys.stderr.write(message + "\n")


def median_ms(fn: Callable[[], Any], calls: int) -> float:
    """Median wall time of ``fn()`` over ``calls`` calls, in ms (after two warm-up calls)."""
    fn()
    fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=300, help="Timed calls per batch size and way.")
    args = ap.parse_args()

    from mlstack import modeling
    from mlstack.demo.traffic import simulated_rows, to_records
    from mlstack.gateway.compiled_pipeline import TREE_HEAD_MAX_ROWS, _tree_head, compile_pipeline
    from mlstack.specs import get_spec

    spec = get_spec(USECASE)
    train = simulated_rows(spec, spec.simulator.start, 3000)
    x = modeling.model_input(spec, train)
    pipe = modeling.build_pipeline(spec, x).fit(x, train[spec.schema.target_column].to_numpy())
    model = pipe.named_steps["model"]
    records = to_records(spec, simulated_rows(spec, spec.simulator.start, 1000, seed=99))
    trees_at_once = compile_pipeline(pipe, spec.task)
    tree_by_tree = compile_pipeline(pipe, spec.task, direct_head=False)
    assert trees_at_once is not None and tree_by_tree is not None
    cols = list(x.columns)

    def pipeline(batch: list[dict[str, Any]]) -> np.ndarray:
        import pandas as pd

        frame = pd.DataFrame(batch, columns=cols)
        return np.asarray(pipe.predict_proba(frame))[:, 1]

    ways = {"pipeline": pipeline, "tree by tree": tree_by_tree, "trees at once": trees_at_once}
    rows = []
    for n in SIZES:
        batch = records[:n]
        same = np.array_equal(trees_at_once(batch), tree_by_tree(batch))
        gap = float(np.max(np.abs(trees_at_once(batch) - pipeline(batch))))
        got = {name: median_ms(lambda f=fn, b=batch: f(b), args.calls) for name, fn in ways.items()}
        rows.append((n, got, same, gap))
        say(f"{n} rows: " + ", ".join(f"{k} {v:.3f} ms" for k, v in got.items()))

    # a lone row, the trees only (its array prepared): level by level as for more rows, or
    # every node's way for the row at once (what a micro-batch of one row takes)
    lone = {
        way: _tree_head(model, spec.task, lone_row=flag)
        for way, flag in (("level by level", False), ("every node at once", True))
    }
    assert all(fn is not None for fn in lone.values())
    import pandas as pd

    one = np.asarray(pipe.named_steps["prepare"].transform(pd.DataFrame(records[:1], columns=cols)))
    lone_ms = {way: median_ms(lambda f=fn: f(one), args.calls) for way, fn in lone.items()}
    lone_same = np.array_equal(*(fn(one) for fn in lone.values()))  # type: ignore[misc]
    say(f"lone row: {lone_ms}")

    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# Gateway scoring: credit_default's gradient boosting per micro-batch size",
        "",
        f"`OMP_NUM_THREADS=1 .venv/bin/python bench/bench_tree_head.py --calls {args.calls}` at "
        f"{head}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        f"The demo model ({model.n_iter_} trees, up to {model.max_leaf_nodes} leaves each), "
        "fitted on 3000 simulated rows; median wall time of one call on one thread, "
        f"{args.calls} calls per cell. Above {TREE_HEAD_MAX_ROWS} rows the trees-at-once "
        "scorer hands the batch to the estimator's predict.",
        "",
        "| rows per batch | pipeline (pandas) ms | tree by tree ms | trees at once ms "
        "| vs tree by tree | same floats | max gap to pipeline |",
        "|---:|---:|---:|---:|---:|:---:|---:|",
    ]
    for n, got, same, gap in rows:
        lines.append(
            f"| {n} | {got['pipeline']:.3f} | {got['tree by tree']:.3f} "
            f"| {got['trees at once']:.3f} "
            f"| {got['tree by tree'] / got['trees at once']:.1f}x | {'yes' if same else 'NO'} "
            f"| {gap:.1e} |"
        )
    before, now = lone_ms["level by level"], lone_ms["every node at once"]
    lines += [
        "",
        "A lone row (a micro-batch at low load), the trees only (the row's array prepared): "
        "walked level by level as a batch is, or with every node's way for the row decided "
        "in one numpy operation and each tree's path then followed (the scorer's way for one "
        "row).",
        "",
        "| one row | ms | same floats |",
        "|---|---:|:---:|",
        f"| level by level | {before:.3f} | |",
        f"| every node at once | {now:.3f} | {'yes' if lone_same else 'NO'} |",
        "",
        f"**{before / now:.1f}x** for a lone row's trees.",
    ]
    OUT.write_text("\n".join(lines) + "\n")
    say(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
