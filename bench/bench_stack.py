"""Benchmark of the compose stack: how long until it is usable, and what it costs idle.

Compares three starts of the same stack (image already built, as after a first `make up`):

  cold start     empty volumes: Postgres initdb, migrations, buckets, first DAG parse
  warm restart   `down` then `up` with the volumes kept (a laptop's next morning)
  idle memory    sum over containers from `docker stats` once the stack has been idle a while,
                 against the official Airflow compose's ask of 4 GB for Airflow alone

Each start is timed from `docker compose up` to every service healthy (init jobs exited 0).
Runs under its own compose project (mlstack-bench) with ports beside the defaults and fresh
secrets, and removes it afterwards. `--cold-build` also times an image build without cache.
`--baseline REF` also starts the same image under the compose file of git REF (cold start,
idle memory) in the same run, for a before/after table. Writes bench/results/stack.md.

    make bench-stack                 # or: .venv/bin/python bench/bench_stack.py --repeat 3
    make bench-stack ARGS="--baseline b6d34de"
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra"))
import stack as stackctl  # noqa: E402  (infra/stack.py)

PROJECT = "mlstack-bench"
PORTS = {
    "AIRFLOW_PORT": "28080",
    "MLFLOW_PORT": "25000",
    "MINIO_PORT": "29000",
    "MINIO_CONSOLE_PORT": "29001",
    "GATEWAY_PORT": "28000",
}
RESULTS = ROOT / "bench" / "results" / "stack.md"
UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def timed_up(compose: stackctl.Compose, timeout: float = 900) -> float:
    """Seconds from `up` to every service ready.

    On a crowded machine a service can use up its healthcheck's retries before it answers;
    compose then refuses to start what depends on it although the service turns healthy
    moments later. `up` is then repeated (the clock keeps running) until the time is up."""
    start = time.monotonic()
    while True:
        try:
            compose.run("up", "--detach", "--remove-orphans", capture=True)
            break
        except subprocess.CalledProcessError:
            if time.monotonic() - start > timeout:
                raise
            stackctl.say("bench: `up` stopped at a slow dependency; waiting, then `up` again")
            time.sleep(10)
    stackctl.wait_healthy(compose, timeout=timeout, quiet=True)
    return time.monotonic() - start


def memory_by_service(compose: stackctl.Compose) -> dict[str, float]:
    """Resident memory (MiB) of each running container of the project."""
    ids = compose.run("ps", "--quiet", capture=True).split()
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", *ids],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    usage = {}
    for line in out.strip().splitlines():
        name, mem = line.split("\t")
        value, unit = re.match(r"([\d.]+)\s*([A-Za-z]+)", mem.split("/")[0].strip()).groups()
        service = re.sub(rf"^{compose.project}-(.*)-\d+$", r"\1", name)
        usage[service] = float(value) * UNITS[unit] / 2**20
    return usage


def idle_memory(compose: stackctl.Compose, settle: float, samples: int = 3) -> dict[str, float]:
    """Per-service memory after ``settle`` seconds idle; the sample with the median total."""
    stackctl.say(f"bench: letting the stack settle for {settle:.0f}s before measuring memory")
    time.sleep(settle)
    taken = []
    for _ in range(samples):
        taken.append(memory_by_service(compose))
        time.sleep(5)
    taken.sort(key=lambda m: sum(m.values()))
    return taken[len(taken) // 2]


def cold_build(compose: stackctl.Compose) -> float:
    """Seconds to build the project image with no layer cache."""
    start = time.monotonic()
    compose.run("build", "--no-cache", capture=True)
    return time.monotonic() - start


def docker_version() -> str:
    return subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True
    ).stdout.strip()


@dataclass
class Baseline:
    """The same image under an older compose file: its cold start and idle memory."""

    ref: str
    cold: float
    memory: dict[str, float]


def measure_baseline(
    ref: str, env_file: Path, tmp: Path, settle: float, memory_now: dict[str, float]
) -> Baseline:
    """Cold start and idle memory of the stack as the compose file of git ``ref`` defines it."""
    old = tmp / "docker-compose.baseline.yml"
    old.write_text(
        subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{ref}:docker-compose.yml"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    compose = stackctl.Compose(PROJECT, env_file, extra_env=PORTS, file=old)
    stackctl.say(f"bench: baseline — the compose file of {ref}, same image")
    compose.run("down", "--volumes", "--remove-orphans", capture=True, check=False)
    try:
        cold = timed_up(compose)
        stackctl.say(f"bench: baseline cold start: {cold:.0f}s")
        memory = idle_memory(compose, settle)
        before, after = sum(memory.values()), sum(memory_now.values())
        stackctl.say(f"bench: baseline idle memory {before:.0f} MiB (now {after:.0f} MiB)")
    finally:
        compose.run("down", "--volumes", "--remove-orphans", capture=True, check=False)
    return Baseline(ref, cold, memory)


def git_head() -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()


def report(
    load: tuple[float, float],
    cold: list[float],
    warm: list[float],
    memory: dict[str, float],
    build: float | None,
    cached_build: float,
    baseline: Baseline | None = None,
) -> str:
    total = sum(memory.values())
    images = {
        name: os.environ.get(name) or default
        for name, default in (
            ("PYTHON_IMAGE", "python:3.11-slim-bookworm"),
            ("POSTGRES_IMAGE", "postgres:16"),
            ("MINIO_IMAGE", "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"),
        )
    }

    def fmt(xs: list[float]) -> str:
        runs = ", ".join(f"{x:.0f}" for x in xs)
        return f"{statistics.median(xs):.0f} s (runs: {runs})"

    lines = [
        "# Compose stack: start-up time and idle memory",
        "",
        "What it compares: the time from `docker compose up` until every service is healthy",
        "(init jobs exited 0), on empty volumes (cold) and on kept volumes after `down`",
        "(warm); and the stack's idle memory, summed over containers from `docker stats`,",
        "against the 4 GB the official Airflow compose asks for Airflow alone.",
        "The project image is built beforehand (a warm `make up` reuses it).",
        "",
        f"Command: `make bench-stack` (bench/bench_stack.py), {datetime.now(UTC):%Y-%m-%d}.",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Docker {docker_version()}; "
        f"load average {load[0]:.1f} before the runs, {load[1]:.1f} after.",
        *(
            [
                "The load was above the core count: other work shared the CPU, and as starting",
                "the stack is CPU-bound, the start times are upper bounds.",
            ]
            if max(load) > (os.cpu_count() or 1)
            else []
        ),
        "Images: " + ", ".join(f"{k}={v}" for k, v in images.items()) + ".",
        "",
        "| measure | result |",
        "|---|---|",
        f"| cold start to all healthy (empty volumes) | {fmt(cold)} |",
        f"| warm restart to all healthy (`down`, `up`) | {fmt(warm)} |",
    ]
    lines.append(
        f"| project image build, layers cached (every `make up` does it) | {cached_build:.0f} s |"
    )
    if build is not None:
        lines.append(f"| project image build without cache | {build:.0f} s |")
    lines += [
        f"| idle memory, sum over {len(memory)} containers | **{total / 1024:.2f} GiB** "
        f"({total:.0f} MiB; aim ≤ 1.5 GB, a laptop's share) |",
        "",
    ]
    if baseline is None:
        lines += [
            "Idle memory by service:",
            "",
            "| service | MiB |",
            "|---|---|",
            *(
                f"| {name} | {mib:.0f} |"
                for name, mib in sorted(memory.items(), key=lambda x: -x[1])
            ),
            "",
        ]
    else:
        old_total = sum(baseline.memory.values())
        services = sorted({*memory, *baseline.memory}, key=lambda n: -baseline.memory.get(n, 0))

        def cell(values: dict[str, float], name: str) -> str:
            return f"{values[name]:.0f}" if name in values else "not running"

        lines += [
            f"Before and after, same run and image: the compose file of `{baseline.ref}` "
            f"(before) and of this tree (`{git_head()}`, after), each idle for the same time "
            "after a cold start.",
            "",
            f"| service | before ({baseline.ref}), MiB | after, MiB |",
            "|---|---|---|",
            *(f"| {n} | {cell(baseline.memory, n)} | {cell(memory, n)} |" for n in services),
            f"| **total** | **{old_total:.0f}** ({old_total / 1024:.2f} GiB) "
            f"| **{total:.0f}** ({total / 1024:.2f} GiB) |",
            f"| cold start to all healthy | {baseline.cold:.0f} s | "
            f"{statistics.median(cold):.0f} s |",
            "",
        ]
    if "standin" in " ".join(images.values()):
        lines += [
            "Measured on the CI stand-in images (DESIGN.md): Debian's PostgreSQL 15 and a moto",
            "S3 server in place of MinIO. The figures for Airflow and MLflow, most of the total,",
            "come from the project image either way.",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="cold and warm starts each")
    parser.add_argument("--settle", type=float, default=120, help="idle seconds before memory")
    parser.add_argument("--cold-build", action="store_true", help="also time a no-cache build")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--baseline", metavar="REF", help="also measure the compose file of git REF (before)"
    )
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mlstack-bench-") as tmp:
        env_file = Path(tmp) / "stack.env"
        compose = stackctl.Compose(PROJECT, env_file, extra_env=PORTS)
        compose.run("down", "--volumes", "--remove-orphans", capture=True, check=False)
        stackctl.ensure_env(env_file, project=PROJECT)
        build = cold_build(compose) if args.cold_build else None
        stackctl.say("bench: building the project image (cached layers)")
        start = time.monotonic()
        compose.run("build", capture=True)
        cached_build = time.monotonic() - start
        cold, warm, memory = [], [], {}
        try:
            for i in range(args.repeat):
                compose.run("down", "--volumes", capture=True)
                cold.append(timed_up(compose))
                stackctl.say(f"bench: cold start {i + 1}: {cold[-1]:.0f}s")
            memory = idle_memory(compose, args.settle)
            stackctl.say(f"bench: idle memory {sum(memory.values()):.0f} MiB")
            for i in range(args.repeat):
                compose.run("down", capture=True)
                warm.append(timed_up(compose))
                stackctl.say(f"bench: warm restart {i + 1}: {warm[-1]:.0f}s")
        finally:
            compose.run("down", "--volumes", "--remove-orphans", capture=True, check=False)
        baseline = (
            measure_baseline(args.baseline, env_file, Path(tmp), args.settle, memory)
            if args.baseline
            else None
        )
    load = (load_before, os.getloadavg()[0])
    text = report(load, cold, warm, memory, build, cached_build, baseline)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    stackctl.say(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
