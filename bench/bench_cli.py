"""Benchmark: how long each read command of ``mlstack`` takes, here against a baseline commit.

Each command runs as a user runs it — a fresh interpreter (``python -m mlstack.cli`` with
``PYTHONPATH`` at the checkout's ``include``), stdout a pipe — on the same store
(``MLSTACK_HOME``, e.g. the one ``mlstack demo`` filled). Warm: one run first (imports
compiled, files in the page cache), then the best of ``--repeat`` runs' wall time. The
baseline is a ``git worktree`` of ``--base`` (made if missing); both run in the same session,
one command after the other, so the machine's load is shared. For the baseline, whose
``models list`` reads MLflow, the store should have its models in MLflow too (the demo's
does); this checkout reads mlstack's record of them (``mlstack models list --registry``
fills it from MLflow once).

    .venv/bin/python bench/bench_cli.py --home data [--base 7835cca] [--repeat 3]

Writes bench/results/cli.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from mlstack.cli import read_commands

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "cli.md"
USECASE = "credit_default"
COMMANDS = read_commands(USECASE)


def base_checkout(commit: str, where: Path) -> Path:
    """A worktree of ``commit`` at ``where`` (made with ``git worktree add`` if missing)."""
    if not where.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit],
            check=True,
            capture_output=True,
        )
    return where


def wall(checkout: Path, args: list[str], home: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and exit code of ``mlstack ARGS`` from
    ``checkout`` in a new interpreter."""
    env = {**os.environ, "PYTHONPATH": str(checkout / "include"), "MLSTACK_HOME": str(home)}
    env["COLUMNS"] = "80"
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(
        # the baseline has no ``mlstack.cli.__main__``: call its entry point the same way
        [sys.executable, "-c", "import sys; from mlstack.cli import main; main(sys.argv[1:])"]
        + args,
        env=env,
        capture_output=True,
        cwd=checkout,
    )
    return time.perf_counter() - start, _children_cpu() - cpu, done.returncode


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best(checkout: Path, args: list[str], home: Path, repeat: int) -> tuple[float, float, int]:
    """Warm best of ``repeat`` runs (after one discarded run): wall, CPU, worst exit code."""
    wall(checkout, args, home)
    runs = [wall(checkout, args, home) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs)


def load() -> str:
    """The load averages (1, 5, 15 min) as the table's note."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True, help="MLSTACK_HOME of the store.")
    parser.add_argument("--base", default="7835cca", help="Baseline commit.")
    parser.add_argument("--base-dir", type=Path, default=Path("/tmp/cli-base"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--note", default="", help="A line for the table (the store used).")
    a = parser.parse_args()
    base = base_checkout(a.base, a.base_dir)
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    load_before = load()
    rows = []
    for args in COMMANDS:
        before = best(base, args, a.home.resolve(), a.repeat)
        after = best(ROOT, args, a.home.resolve(), a.repeat)
        rows.append((" ".join(args), before, after))
        sys.stdout.write(f"{' '.join(args):<36} {before} -> {after}\n")
        sys.stdout.flush()
    lines = [
        "# Read commands: wall time, fresh process, warm (best of "
        f"{a.repeat} after one discarded run)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; baseline `{a.base}` vs HEAD `{head}`; store: the "
        f"embedded demo's (`mlstack demo`), stdout a pipe, COLUMNS=80.",
        f"Machine load (1/5/15 min) before: {load_before}; after: {load()} — "
        "shared with other work: wall times are inflated by waiting for a core; CPU time "
        "(user + system of the process) is what the command costs.",
        "",
        "    .venv/bin/python bench/bench_cli.py --home <MLSTACK_HOME> --base 7835cca",
        "",
        a.note,
        "",
        "| command | wall, baseline (s) | wall, HEAD (s) | CPU, baseline (s) | CPU, HEAD (s) "
        "| CPU saved |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, (wb, cb, xb), (wh, ch, xh) in rows:
        flag = "" if xb == xh == 0 else f" (exit {xb}/{xh})"
        cells = f"{wb:.2f} | {wh:.2f} | {cb:.2f} | {ch:.2f} | {cb / ch:.1f}x{flag}"
        lines.append(f"| `mlstack {name}` | {cells} |")
    OUT.write_text("\n".join(lines) + "\n")
    sys.stdout.write(f"wrote {OUT}\n")


if __name__ == "__main__":
    main()
