"""Benchmark: parse time of the dags folder in a cold interpreter (issue: under 2 s; with 20
use cases at mixed maturity levels: under 1 s).

Measures, five times each, in fresh interpreters: (a) the whole cold process that loads
the dags folder the way the dag-processor does (interpreter start, Airflow import,
DagBag fill), (b) the same process with an empty dags folder (the baseline: Airflow's own
cost), and the per-file parse duration Airflow itself reports for dags/mlstack_dags.py.
Then the same dags folder over 20 generated use cases (copies of the two demo specs at
maturity 1 to 5 in turn, every third with two extra tasks), against the repository's own use cases
in the same run. Writes bench/results/parse.md.

Bytecode is cached as in the project image (uv ``--compile-bytecode``, pip ``--compile``):
the runs write and read it under the run's own folder (``PYTHONPYCACHEPREFIX``), also where
``PYTHONDONTWRITEBYTECODE`` is set, which would make every cold interpreter compile the ~90
modules a parse imports. The fill's CPU time is reported beside its wall time: on a shared
machine the wall time is mostly waiting for a CPU.

    .venv/bin/python bench/bench_parse.py
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
MIXED = 20
CODE = (
    "import json, sys, time\n"
    "from airflow.dag_processing.dagbag import DagBag\n"
    "t0, c0 = time.perf_counter(), time.process_time()\n"
    "b = DagBag(dag_folder=sys.argv[1])\n"
    "fill, cpu = time.perf_counter() - t0, time.process_time() - c0\n"
    "stats = [s.duration.total_seconds() for s in b.dagbag_stats]\n"
    "print(json.dumps({'dags': len(b.dags), 'errors': len(b.import_errors), 'file_s': sum(stats),\n"
    "                  'fill_s': fill, 'cpu_s': cpu}))\n"
)


def run(folder: Path, home: Path, usecases: Path | None = None) -> tuple[float, dict]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "PYTHONPYCACHEPREFIX": str(home / "pycache"),
        **({"MLSTACK_USECASES_DIR": str(usecases)} if usecases else {}),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CODE, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    wall = time.perf_counter() - t0
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def mixed_usecases(root: Path, count: int = MIXED) -> Path:
    """``count`` use cases under ``root``: the demo specs renamed, at maturity 1..5 in turn,
    every third with an extra task before promote and one after monitor."""
    import yaml

    for i in range(count):
        base = ("credit_default", "diabetes")[i % 2]
        raw = yaml.safe_load((ROOT / "include" / "usecases" / base / "usecase.yaml").read_text())
        level = 1 + i % 5
        raw |= {"name": f"{base}_{i:02d}", "maturity": level}
        raw["training"]["schedule"] = "@weekly" if level >= 3 else None
        if level < 3:
            raw["training"].pop("schedule")
        if i % 3 == 0:
            raw["tasks"] = [
                {"task": "fairness_check", "before": "promote"},
                {"task": "weekly_report", "after": "monitor"},
            ]
        folder = root / raw["name"]
        folder.mkdir(parents=True)
        (folder / "usecase.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return root


def mixed_table(home: Path) -> list[str]:
    """File parse time of dags/ over 20 mixed-level use cases vs the repository's two."""
    before = os.getloadavg()
    mixed = mixed_usecases(home / "usecases-mixed")
    ours = ROOT / "include" / "usecases"
    run(ROOT / "dags", home, mixed)  # warm
    two, twenty = [], []
    for _ in range(RUNS):
        two.append(run(ROOT / "dags", home, ours)[1])
        twenty.append(run(ROOT / "dags", home, mixed)[1])
    med = {
        name: (
            statistics.median(r["file_s"] for r in rs),
            rs[0]["dags"],
            rs[0]["errors"],
            statistics.median(r["cpu_s"] for r in rs),
        )
        for name, rs in (("two", two), ("twenty", twenty))
    }
    load = os.getloadavg()
    return [
        "## 20 use cases at mixed maturity levels",
        "",
        f"Same dags folder, `MLSTACK_USECASES_DIR` pointing at {MIXED} generated use cases (the "
        "two demo specs renamed, maturity 1, 2, 3, 4, 5 in turn; every third with an extra task "
        "before promote and one after monitor) vs the repository's own; median of "
        f"{RUNS} cold interpreters each, interleaved. Load average (1/5/15 min) before: "
        f"{before[0]:.1f} / {before[1]:.1f} / {before[2]:.1f}, after: "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (a shared machine, 2 cores).",
        "",
        "| use cases | DAGs | import errors | dags/ parse, wall (s) | CPU of the fill (s) |",
        "|---|---:|---:|---:|---:|",
        f"| baseline: the repository's 3 (2 at maturity 5, 1 own DAG) | {med['two'][1]} | "
        f"{med['two'][2]} | {med['two'][0]:.3f} | {med['two'][3]:.3f} |",
        f"| **{MIXED} at mixed levels — target < 1 s** | {med['twenty'][1]} | "
        f"{med['twenty'][2]} | **{med['twenty'][0]:.3f}** | {med['twenty'][3]:.3f} |",
        "",
    ]


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="mlstack-parse-"))
    empty = home / "empty-dags"
    empty.mkdir()
    run(ROOT / "dags", home)  # warm the OS file cache; bytecode is compiled once
    ours, base = [], []
    for _ in range(RUNS):  # interleaved, so machine noise hits both alike
        ours.append(run(ROOT / "dags", home))
        base.append(run(empty, home))
    wall = statistics.median(w for w, _ in ours)
    wall_base = statistics.median(w for w, _ in base)
    file_s = statistics.median(r["file_s"] for _, r in ours)
    fill = statistics.median(r["fill_s"] for _, r in ours)
    fill_base = statistics.median(r["fill_s"] for _, r in base)
    cpu = statistics.median(r["cpu_s"] for _, r in ours)
    info = ours[0][1]
    lines = [
        "# DAG parse-time benchmark",
        "",
        f"`{Path(sys.executable).name} bench/bench_parse.py` on {platform.machine()}, "
        f"{os.cpu_count()} cores, {date.today()}; median of {RUNS} cold interpreters each. "
        f"{info['dags']} DAGs, "
        f"{info['errors']} import errors.",
        "",
        "| what | seconds |",
        "|---|---:|",
        f"| dags/ parse, as Airflow reports it (DagBag file stats, every file) | {file_s:.3f} |",
        f"| **fill DagBag from dags/ in a cold interpreter (Airflow imported first, as in the "
        f"dag-processor; includes mlstack's own imports) — target < 2 s** | **{fill:.3f}** |",
        f"| CPU time of that fill | {cpu:.3f} |",
        f"| baseline: fill DagBag from an empty folder, same conditions | {fill_base:.3f} |",
        f"| whole cold process: interpreter + Airflow import + fill (for scale) | {wall:.2f} |",
        f"| baseline whole cold process, empty folder | {wall_base:.2f} |",
        "",
        *mixed_table(home),
    ]
    out = ROOT / "bench" / "results" / "parse.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))  # noqa: T201 - a benchmark prints its table


if __name__ == "__main__":
    main()
