"""Benchmark: ``mlstack demo`` at its default size, wall and CPU time, before and after.

Runs the demo of each git ref given (default: the baseline ``7835cca`` and ``HEAD``) from a
throwaway worktree of that ref, in a fresh process with a scratch ``MLSTACK_HOME`` and
Airflow home (nothing of the project's ``data/`` is touched), one after the other. Each run
is timed from the command's start to its exit: wall time, and CPU time (user + system of the
demo process and everything it started, from ``os.wait4``) — on a shared machine CPU time
is the robust figure, wall time depends on the load, so the load average (``uptime``) before
and after each run is in the table. Writes ``bench/results/demo.md`` (``--out``); each run's
raw figures also go to ``--json`` so a run measured earlier can join a table (``--merge``),
marked as such.

    .venv/bin/python bench/bench_demo.py                       # 7835cca vs HEAD
    .venv/bin/python bench/bench_demo.py --refs HEAD --args "--full"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "demo.md"
BASELINE = "7835cca"


def load_average() -> str:
    """The 1/5/15-minute load averages, as ``uptime`` prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def commit_of(ref: str) -> str:
    """Short commit id of ``ref``."""
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def run_demo(ref: str, args: list[str], work: Path) -> dict[str, object]:
    """Check ``ref`` out in a worktree under ``work``, run its demo once; return the figures."""
    commit = commit_of(ref)
    tree = work / f"tree-{commit}"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit],
        capture_output=True,
        check=True,
    )
    try:
        home = work / f"home-{commit}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLSTACK"))}
        env |= {"PYTHONPATH": str(tree / "include"), "MLSTACK_HOME": str(home)}
        cmd = [
            sys.executable,
            "-c",
            "import sys; sys.argv[0] = 'mlstack'; from mlstack.cli import main; main()",
            "demo",
            *args,
        ]
        before = load_average()
        started = datetime.now(UTC)
        t0 = time.monotonic()
        with (work / f"demo-{commit}.out").open("w") as out:
            proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        return {
            "ref": ref,
            "commit": commit,
            "args": " ".join(args),
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "exit": os.waitstatus_to_exitcode(status),
            "wall_s": round(wall, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "max_rss_mib": round(usage.ru_maxrss / 1024),
            "load_before": before,
            "load_after": load_average(),
            "output": str(work / f"demo-{commit}.out"),
        }
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
            capture_output=True,
            check=False,
        )


def table(runs: list[dict[str, object]]) -> str:
    """The markdown table of the runs, first run as the reference for the ratios."""
    lines = [
        "| ref | commit | args | started | wall | CPU | CPU vs first | peak RSS "
        "| load before → after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    first_cpu = float(runs[0]["cpu_s"])  # type: ignore[arg-type]
    for r in runs:
        cpu = float(r["cpu_s"])  # type: ignore[arg-type]
        ok = "" if r["exit"] == 0 else f" (exit {r['exit']})"
        lines.append(
            f"| {r['ref']}{ok} | {r['commit']} | {r['args'] or '(default)'} | {r['started']} "
            f"| {float(r['wall_s']) / 60:.1f} min | {cpu / 60:.1f} min "  # type: ignore[arg-type]
            f"| {cpu / first_cpu:.2f}x | {r['max_rss_mib']} MiB "
            f"| {r['load_before']} → {r['load_after']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", nargs="+", default=[BASELINE, "HEAD"], help="git refs to run")
    parser.add_argument("--args", default="", help="arguments of `mlstack demo` (all refs)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown table to write")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures")
    parser.add_argument(
        "--merge", type=Path, default=None, help="raw figures of an earlier run to put first"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlstack-bench-demo-"))
    runs: list[dict[str, object]] = []
    if args.merge:
        earlier = json.loads(args.merge.read_text())
        runs += [r | {"ref": f"{r['ref']} (earlier run)"} for r in earlier]
    for ref in args.refs:
        print(f"bench: demo at {ref} ...", flush=True)  # noqa: T201 - progress
        runs.append(run_demo(ref, shlex.split(args.args), work))
        print(json.dumps(runs[-1]), flush=True)  # noqa: T201 - progress
        if args.json:
            args.json.write_text(json.dumps(runs, indent=1))
    body = (
        "# `mlstack demo`: wall and CPU time at the default size\n\n"
        f"`bench/bench_demo.py` on {platform.node()} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}); CPU = user + system of the demo and its "
        "children. The machine is shared: the load averages are noted, and CPU time is the "
        "figure to compare.\n\n" + table(runs) + "\n"
    )
    args.out.write_text(body)
    print(body)  # noqa: T201 - a benchmark prints its table


if __name__ == "__main__":
    main()
