"""Benchmark: how long each read command of ``mlstack`` takes, here against a baseline commit.

Each command runs as a user runs it — a fresh interpreter (``python -m mlstack.cli`` with
``PYTHONPATH`` at the checkout's ``include``), stdout a pipe — on the same store
(``MLSTACK_HOME``, e.g. the one ``mlstack demo`` filled). Warm: one run first (files in the
page cache, every module's bytecode written), then the best of ``--repeat`` runs. The
bytecode goes to a cache of the bench's own (``PYTHONPYCACHEPREFIX``), so a venv without
``.pyc`` files, or ``PYTHONDONTWRITEBYTECODE=1`` in the environment, does not make every run
compile SQLAlchemy and pydantic from source (a second table measures exactly that: the
same commands with no bytecode cache at all). The baseline is a ``git worktree`` of ``--base``
(made if missing, in a folder named after the commit); both run in the same session, one
command after the other, so the machine's load is shared. For a baseline whose
``models list`` reads MLflow, the store should have its models in MLflow too (the demo's
does); this checkout reads mlstack's record of them (``mlstack models list --registry``
fills it from MLflow once).

    .venv/bin/python bench/bench_cli.py --home data [--base d90ada5] [--repeat 3]

Writes bench/results/cli.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from mlstack.cli import read_commands

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "cli.md"
USECASE = "credit_default"
COMMANDS = read_commands(USECASE)
Run = tuple[float, float, int]  # wall seconds, CPU seconds, exit code


def base_checkout(commit: str, where: Path) -> Path:
    """A worktree of ``commit`` at ``where`` (made with ``git worktree add`` if missing)."""
    if not where.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit],
            check=True,
            capture_output=True,
        )
    return where


def wall(checkout: Path, args: list[str], home: Path, cache: Path | None) -> Run:
    """Wall seconds, CPU seconds (user + system) and exit code of ``mlstack ARGS`` from
    ``checkout`` in a new interpreter, bytecode cached in ``cache`` (None: every module is
    compiled from source)."""
    env = {**os.environ, "PYTHONPATH": str(checkout / "include"), "MLSTACK_HOME": str(home)}
    env["COLUMNS"] = "80"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "bench-cli-no-pycache")
    else:
        env["PYTHONPYCACHEPREFIX"] = str(cache)
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


def best(checkout: Path, args: list[str], home: Path, repeat: int, cache: Path | None) -> Run:
    """Warm best of ``repeat`` runs (after one discarded run): wall, CPU, worst exit code."""
    wall(checkout, args, home, cache)
    runs = [wall(checkout, args, home, cache) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs)


def load() -> str:
    """The load averages (1, 5, 15 min) as the table's note."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(base: Path, home: Path, repeat: int, cache: Path | None) -> list[tuple[str, Run, Run]]:
    """Each read command from the baseline and from HEAD, one after the other, bytecode
    cached in ``cache`` (None: none)."""
    rows = []
    for args in COMMANDS:
        before = best(base, args, home, repeat, cache)
        after = best(ROOT, args, home, repeat, cache)
        rows.append((" ".join(args), before, after))
        mode = "cached" if cache else "no cache"
        sys.stdout.write(f"{mode:<9}{' '.join(args):<36} {before} -> {after}\n")
        sys.stdout.flush()
    return rows


def table(rows: list[tuple[str, Run, Run]], *, wall_too: bool = True) -> list[str]:
    """Markdown rows: wall (when ``wall_too``) and CPU seconds, baseline vs HEAD."""
    head = "| command |" + (" wall, baseline (s) | wall, HEAD (s) |" if wall_too else "")
    lines = [
        head + " CPU, baseline (s) | CPU, HEAD (s) | CPU saved |",
        "|---|" + ("---:|---:|" if wall_too else "") + "---:|---:|---:|",
    ]
    for name, (wb, cb, xb), (wh, ch, xh) in rows:
        flag = "" if xb == xh == 0 else f" (exit {xb}/{xh})"
        walls = f" {wb:.2f} | {wh:.2f} |" if wall_too else ""
        lines.append(f"| `mlstack {name}` |{walls} {cb:.2f} | {ch:.2f} | {cb / ch:.1f}x{flag} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True, help="MLSTACK_HOME of the store.")
    parser.add_argument("--base", default="d90ada5", help="Baseline commit.")
    parser.add_argument(
        "--base-dir", type=Path, default=None, help="Its worktree (default /tmp/cli-base-BASE)."
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--note", default="", help="A line for the table (the store used).")
    a = parser.parse_args()
    base = base_checkout(a.base, a.base_dir or Path(f"/tmp/cli-base-{a.base}"))
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    home = a.home.resolve()
    load_before = load()
    cached = measure(base, home, a.repeat, Path(tempfile.mkdtemp(prefix="bench-cli-pycache-")))
    load_between = load()
    uncached = measure(base, home, a.repeat, None)
    lines = [
        "# Read commands: wall and CPU time, fresh process, warm (best of "
        f"{a.repeat} after one discarded run)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; baseline `{a.base}` vs HEAD `{head}`; stdout a "
        "pipe, COLUMNS=80.",
        f"Machine load (1/5/15 min) before: {load_before}; between the tables: {load_between}; "
        f"after: {load()} — shared with other work: wall times are inflated by waiting for a "
        "core; CPU time (user + system of the process) is what the command costs.",
        "",
        f"    .venv/bin/python bench/bench_cli.py --home <MLSTACK_HOME> --base {a.base}",
        "",
        a.note,
        "",
        "Warm, bytecode cached (what a user's second run gets: `make venv` compiles the "
        "installed packages, Python writes mlstack's own `.pyc` on the first run):",
        "",
        *table(cached),
        "",
        "No bytecode cache at all (`PYTHONDONTWRITEBYTECODE=1` and a venv installed without "
        "`.pyc`, as uv does unless told: every run compiles SQLAlchemy, pydantic, click... from "
        "source). The earlier tables in this file's history ran with "
        "`PYTHONDONTWRITEBYTECODE=1`, the bench machine's environment, so close to this:",
        "",
        *table(uncached, wall_too=False),
    ]
    OUT.write_text("\n".join(lines) + "\n")
    sys.stdout.write(f"wrote {OUT}\n")


if __name__ == "__main__":
    main()
