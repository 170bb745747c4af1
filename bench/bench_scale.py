"""Benchmark of scale-out: Airflow's executors on 8 use cases, and gateway replicas.

Two parts, each on its own compose stack in the same run (``--parts`` picks):

executors  The lifecycle of 8 use cases (copies of credit_default, ``scale_1`` ..
           ``scale_8``, each with its own landing prefix), on a fresh laptop stack per
           executor: LocalExecutor (``AIRFLOW_PARALLELISM`` task slots in the scheduler), then
           the ``scale`` profile's CeleryExecutor with 2 and 4 ``airflow-worker`` containers
           (``AIRFLOW_WORKER_CONCURRENCY`` slots each). For every use case, at once, through
           Airflow's REST API as a client would: two ingest runs (13 feature days, then the
           13 days their labels land, each a ``day``..``through`` range), the catalog runs the
           scheduler starts on the ingest Asset, then — as soon as that use case's ingests
           succeeded — a training run, and the promotion the scheduler starts on the
           candidate Asset. Timed from the first trigger to the last run finished; the table
           also gives when the ingests were done and which hosts ran the tasks.
replicas   Predictions through Caddy in deploy mode (bench_deploy's stack, key and wrk
           script) with 1 and 2 gateway replicas, alternating (``--scale gateway=N``; Caddy
           re-reads the replicas' addresses every 5 s), ``--rounds`` each. Each replica runs
           ``--gateway-workers`` uvicorn processes (1 by default, so that 2 replicas on this
           2-CPU machine are what uses the second CPU, not a second worker of one replica).

Writes bench/results/scale.md.

    .venv/bin/python bench/bench_scale.py [--parts executors,replicas] [--configs local,2,4]

Needs the project image's wheels (make stack-wheels), Docker with the stand-in or real
images exported, and wrk on the host for the replicas part.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import stack as stackctl  # noqa: E402  (infra/stack.py)
from airflow_api import TERMINAL, AirflowAPI  # noqa: E402  (tests/e2e/airflow_api.py)
from bench_deploy import (  # noqa: E402
    REQUESTS,
    cpu_ns,
    deploy_stack,
    load,
    ready_to_load,
)
from bench_stack import docker_version, git_head, timed_up  # noqa: E402

PROJECT = "mlstack-benchscale"
RESULTS = ROOT / "bench" / "results" / "scale.md"
TEMPLATE = ROOT / "include" / "usecases" / "credit_default" / "usecase.yaml"
#: host ports of the bench's laptop stack: beside the defaults and the e2e stack's
PORTS = {
    "AIRFLOW_PORT": "38080",
    "MLFLOW_PORT": "35000",
    "MINIO_PORT": "39000",
    "MINIO_CONSOLE_PORT": "39001",
    "GATEWAY_PORT": "38000",
    "PROMETHEUS_PORT": "39090",
}
#: the executors compared: name on the command line -> (label, settings of the stack)
CONFIGS = {
    "local": ("LocalExecutor", {"COMPOSE_PROFILES": ""}),
    "2": ("CeleryExecutor, 2 workers", {"COMPOSE_PROFILES": "scale", "WORKERS": "2"}),
    "4": ("CeleryExecutor, 4 workers", {"COMPOSE_PROFILES": "scale", "WORKERS": "4"}),
}
#: the services that read the use cases (the folder is mounted over the image's)
READERS = (
    "mlstack-init",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "gateway",
)
FEATURE_DAYS = ("2026-01-05", "2026-01-17")  # 13 days: holdout, validation and 3 to train on
LABEL_DAYS = ("2026-02-04", "2026-02-16")  # the days their labels land (30 days later)
RUN_TIMEOUT = 3600.0
EXECUTOR_HEADER = (
    "| executor | stack up s | ingests done min | first promoted min | all done min | vs first "
    "| catalog runs | promotion outcomes | hosts: tasks each |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|---|"
)


def usecase_folder(folder: Path, count: int) -> list[str]:
    """``count`` copies of credit_default's spec under ``folder``, each its own name and
    landing prefix; their names. Readable by the containers' airflow user."""
    text = TEMPLATE.read_text()
    names = []
    for i in range(1, count + 1):
        name = f"scale_{i}"
        spec = text.replace("name: credit_default", f"name: {name}")
        spec = spec.replace("landing/credit_default/", f"landing/{name}/")
        (folder / name).mkdir(parents=True)
        (folder / name / "usecase.yaml").write_text(spec)
        names.append(name)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return names


class PatientAPI(AirflowAPI):
    """Airflow's REST API, asked again when an answer times out (a busy 2-CPU machine with
    four workers can keep the api-server waiting longer than a client's timeout)."""

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(5):
            try:
                return super().request(method, path, **kwargs)
            except httpx.TransportError as error:
                stackctl.say(f"bench: {method} {path}: {error!r}; asking again")
                time.sleep(5 * (attempt + 1))
        return super().request(method, path, **kwargs)


@dataclass
class ScaleCompose(stackctl.Compose):
    """The stack with an overlay file: the bench's use cases mounted over the image's."""

    overlay: Path | None = None

    def files(self) -> list[Path]:
        return [*super().files(), *([self.overlay] if self.overlay else [])]


def overlay(folder: Path, usecases: Path) -> Path:
    """A compose overlay that mounts ``usecases`` read-only wherever the use cases are read."""
    mount = f"{usecases}:/opt/airflow/include/usecases:ro"
    services = {name: {"volumes": [mount]} for name in READERS}
    path = folder / "docker-compose.bench-scale.yml"
    path.write_text(yaml.safe_dump({"services": services}))
    return path


@dataclass
class Lifecycle:
    """One use case's runs, as the bench drives them."""

    name: str
    ingests: list[dict[str, Any]] = field(default_factory=list)
    train: dict[str, Any] | None = None
    trained_at: datetime | None = None
    promote: dict[str, Any] | None = None
    ingested_s: float = 0.0
    done_s: float = 0.0
    outcome: str = ""
    refused_by: list[str] = field(default_factory=list)  # the gates a refusal failed

    def dag(self, stage: str) -> str:
        """This use case's DAG of ``stage``."""
        return f"{self.name}__{stage}"


def step(api: AirflowAPI, uc: Lifecycle, elapsed: float) -> bool:
    """Move one use case on: train once its ingests succeeded, then wait for its promotion
    (started by the scheduler on the candidate Asset). True once the promotion finished."""
    if uc.train is None:
        states = [api.run(uc.dag("ingest"), r["dag_run_id"])["state"] for r in uc.ingests]
        if any(s == "failed" for s in states):
            raise SystemExit(f"bench: {uc.dag('ingest')} failed: {states}")
        if all(s == "success" for s in states):
            uc.ingested_s = elapsed
            uc.trained_at = datetime.now(UTC)
            uc.train = api.trigger(uc.dag("train"), {})
        return False
    if uc.promote is None:
        run = api.run(uc.dag("train"), uc.train["dag_run_id"])
        if run["state"] == "failed":
            raise SystemExit(f"bench: {uc.dag('train')} failed")
        if run["state"] != "success":
            return False
        runs = [r for r in api.runs(uc.dag("promote")) if queued_since(r, uc.trained_at)]
        if not runs:
            return False
        uc.promote = runs[-1]
    run = api.run(uc.dag("promote"), uc.promote["dag_run_id"])
    if run["state"] not in TERMINAL:
        return False
    if run["state"] == "failed":
        raise SystemExit(f"bench: {uc.dag('promote')} failed")
    decided = api.xcom(uc.dag("promote"), run["dag_run_id"], "evaluate") or {}
    uc.outcome = decided.get("outcome", "?")
    uc.refused_by = [g["name"] for g in decided.get("gates", []) if not g.get("passed", True)]
    uc.done_s = elapsed
    return True


def queued_since(run: dict[str, Any], since: datetime | None) -> bool:
    """Whether a DAG run was queued at or after ``since``."""
    return since is not None and datetime.fromisoformat(run["queued_at"]) >= since


def catalog_runs_done(api: AirflowAPI, names: list[str], since: datetime) -> int:
    """How many catalog runs were queued since ``since``; raises while one is unfinished."""
    count = 0
    for name in names:
        runs = [r for r in api.runs(f"{name}__catalog") if queued_since(r, since)]
        if any(r["state"] not in TERMINAL for r in runs):
            raise TimeoutError(name)
        if any(r["state"] == "failed" for r in runs):
            raise SystemExit(f"bench: {name}__catalog failed")
        count += len(runs)
    return count


def hosts_of(api: AirflowAPI, names: list[str], since: datetime) -> Counter:
    """Task instances that ran since ``since``, counted by the host that ran them."""
    hosts: Counter = Counter()
    for name in names:
        for stage in ("ingest", "catalog", "train", "promote"):
            for run in api.runs(f"{name}__{stage}"):
                if not queued_since(run, since):
                    continue
                for ti in api.task_instances(run["dag_id"], run["dag_run_id"]):
                    if ti["state"] == "success":
                        hosts[ti["hostname"]] += 1
    return hosts


def lifecycle(api: AirflowAPI, names: list[str]) -> dict[str, Any]:
    """Drive every use case's lifecycle at once; the wall times and what each ended with."""
    for name in names:
        api.wait_for_dag(f"{name}__promote", timeout=600)
    since = datetime.now(UTC)
    start = time.monotonic()
    cases = [Lifecycle(name) for name in names]
    for uc in cases:
        for first, last in (FEATURE_DAYS, LABEL_DAYS):
            conf = {"day": first, "through": last}
            uc.ingests.append(api.trigger(uc.dag("ingest"), conf))
    stackctl.say(f"bench: triggered {2 * len(cases)} ingest runs")
    pending = list(cases)
    while pending:
        elapsed = time.monotonic() - start
        if elapsed > RUN_TIMEOUT:
            raise SystemExit(f"bench: not done after {RUN_TIMEOUT:.0f}s: {pending}")
        pending = [uc for uc in pending if not step(api, uc, elapsed)]
        time.sleep(2)
    while True:
        try:
            catalogs = catalog_runs_done(api, names, since)
            break
        except TimeoutError:
            time.sleep(2)
    wall = time.monotonic() - start
    stackctl.say(f"bench: {len(cases)} lifecycles in {wall:.0f}s")
    return {
        "wall_s": wall,
        "ingested_s": max(uc.ingested_s for uc in cases),
        "first_done_s": min(uc.done_s for uc in cases),
        "outcomes": Counter(uc.outcome for uc in cases),
        "refused_by": Counter(gate for uc in cases for gate in uc.refused_by),
        "catalog_runs": catalogs,
        "hosts": hosts_of(api, names, since),
    }


def executors(configs: list[str], count: int) -> dict[str, dict[str, Any]]:
    """The lifecycle of ``count`` use cases on a fresh stack per executor configuration."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = usecase_folder(folder / "usecases", count)
        extra_file = overlay(folder, folder / "usecases")
        for config in configs:
            label, settings = CONFIGS[config]
            env_file = folder / f"{config}.env"
            stackctl.set_env(env_file, {**PORTS, **settings})
            stackctl.ensure_env(env_file, project=PROJECT)
            compose = ScaleCompose(PROJECT, env_file, overlay=extra_file)
            compose.run("down", "--volumes", "--remove-orphans", capture=True, check=False)
            try:
                compose.build()
                up = timed_up(compose)
                stackctl.say(f"bench: {label}: the stack is ready after {up:.0f}s")
                password = stackctl.read_env(env_file)["AIRFLOW_ADMIN_PASSWORD"]
                api = PatientAPI(f"http://127.0.0.1:{PORTS['AIRFLOW_PORT']}", "admin", password)
                results[label] = {**lifecycle(api, names), "up_s": up}
                results[label]["executor"] = compose.executor()
            finally:
                compose.run("down", "--volumes", "--remove-orphans", capture=True, check=False)
    return results


def gateway_ids(compose: stackctl.Compose) -> list[str]:
    """The full ids of the running gateway containers."""
    return compose.run("ps", "-q", "--no-trunc", "gateway", capture=True).split()


def scale_gateway(
    compose: stackctl.Compose, replicas: int, timeout: float = 180, recreate: bool = False
) -> None:
    """``replicas`` gateway containers (new ones with ``recreate``: a changed setting), every
    one healthy; then Caddy's refresh (5 s)."""
    fresh = ["--force-recreate"] if recreate else []
    compose.run("up", "--detach", "--no-deps", *fresh, "--scale", f"gateway={replicas}",
                "gateway", capture=True)  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        ids = gateway_ids(compose)
        health = [
            subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Health.Status}}", c],
                capture_output=True, text=True, check=True,
            ).stdout.strip()
            for c in ids
        ]  # fmt: skip
        if len(ids) == replicas and all(h == "healthy" for h in health):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {replicas} gateway replicas not healthy: {health}")
        time.sleep(2)
    time.sleep(7)


REPLICA_HEADER = (
    "| native threads | replicas | run | req/s | p50 ms | p99 ms | errors "
    "| gateway CPU ms/req | Caddy CPU ms/req |\n|---|---|---|---:|---:|---:|---:|---:|---:|"
)
Figures = dict[tuple[int, int], list[dict[str, Any]]]  # (native threads, replicas) -> runs


def replicas(args: argparse.Namespace) -> Figures:
    """Predictions through Caddy with 1 and 2 gateway replicas, alternating; for each of
    ``args.native_threads`` (the gateway's native thread pools per worker) in turn."""
    figures: Figures = {}
    extra = {"GATEWAY_WORKERS": str(args.gateway_workers), "GATEWAY_REPLICAS": "1"}
    with tempfile.TemporaryDirectory() as tmp, deploy_stack(Path(tmp), extra) as (compose, _):
        run = ready_to_load(compose, Path(tmp))
        url = f"{run.paths['through Caddy']}{REQUESTS['predict'][0]}"
        caddy = compose.run("ps", "-q", "--no-trunc", "caddy", capture=True).split()[0]
        for _ in range(args.rounds):
            for threads in args.native_threads:
                stackctl.set_env(compose.env_file, {"GATEWAY_NATIVE_THREADS": str(threads)})
                for i, count in enumerate((1, 2)):
                    scale_gateway(compose, count, recreate=i == 0)
                    load(url, run.key, args.connections, 3, run.hosts, run.script)  # warm-up
                    ids = gateway_ids(compose)
                    before = {c: cpu_ns(c) for c in [*ids, caddy]}
                    got = load(url, run.key, args.connections, args.duration, run.hosts, run.script)
                    answered = max(got["rps"] * args.duration, 1)
                    spent = {c: (cpu_ns(c) - before[c]) / 1e6 for c in before}
                    got["gateway_cpu_ms"] = sum(spent[c] for c in ids) / answered
                    got["caddy_cpu_ms"] = spent[caddy] / answered
                    figures.setdefault((threads, count), []).append(got)
                    stackctl.say(f"bench: {threads} thread(s), {count} replica(s): {got}")
    return figures


def executor_section(results: dict[str, dict[str, Any]], count: int) -> str:
    """The executors' table."""
    if not results:
        return ""
    base = next(iter(results.values()))["wall_s"]
    rows = []
    for label, r in results.items():
        outcomes = ", ".join(f"{n} {o}" for o, n in sorted(r["outcomes"].items()))
        hosts = ", ".join(f"{n}" for _, n in sorted(r["hosts"].items()))
        rows.append(
            f"| {label} | {r['up_s']:.0f} | {r['ingested_s'] / 60:.1f} "
            f"| {r['first_done_s'] / 60:.1f} | **{r['wall_s'] / 60:.1f}** "
            f"| {r['wall_s'] / base:.2f}x | {r['catalog_runs']} | {outcomes} "
            f"| {len(r['hosts'])}: {hosts} |"
        )
    table = "\n".join(rows)
    gates = "; ".join(
        f"{label}: " + (", ".join(f"{g} {n}" for g, n in sorted(r["refused_by"].items())) or "none")
        for label, r in results.items()
        if "refused_by" in r
    )
    return f"""## Lifecycle of {count} use cases: LocalExecutor vs Celery workers

Per use case: 2 ingest runs (features {FEATURE_DAYS[0]}..{FEATURE_DAYS[1]}, then the days
{LABEL_DAYS[0]}..{LABEL_DAYS[1]} when their labels land; 2000 rows a day), the catalog runs
the scheduler starts on them, a training run once that use case's ingests succeeded, and the
promotion the scheduler starts on its candidate. Minutes from the first trigger.

{EXECUTOR_HEADER}
{table}

Gates the refused first models failed (a model may fail several): {gates or "not recorded"}.
"""


def replica_section(figures: Figures, args: argparse.Namespace) -> str:
    """The replicas' table."""
    if not any(figures.values()):
        return ""
    rows, means = [], {}
    for (threads, count), runs in sorted(figures.items()):
        for i, r in enumerate(runs, 1):
            rows.append(
                f"| {threads} | {count} | {i} | {r['rps']:.0f} | {r['p50_ms']:.1f} "
                f"| {r['p99_ms']:.1f} | {r['errors']} | {r['gateway_cpu_ms']:.3f} "
                f"| {r['caddy_cpu_ms']:.3f} |"
            )
        means[threads, count] = sum(r["rps"] for r in runs) / len(runs)
        rows.append(
            f"| {threads} | {count} | **mean** | **{means[threads, count]:.0f}** | | | | | |"
        )
    table = "\n".join(rows)
    gains = "; ".join(
        f"{threads} native thread(s): **{means[threads, 2] / means[threads, 1] - 1:+.0%}**"
        for threads in args.native_threads
    )
    return f"""## Gateway: 1 vs 2 replicas behind Caddy (deploy mode)

`POST /v1/credit_default/predict` through Caddy (TLS), wrk on the host: one thread,
{args.connections} connections, {args.duration:.0f} s per run after a 3 s warm-up,
{args.gateway_workers} uvicorn worker(s) per replica, the replica count alternating
{args.rounds} times for each setting of the gateway's native thread pools per worker
(`GATEWAY_NATIVE_THREADS`: {", ".join(map(str, args.native_threads))}; 1 is the default, 2
is one per CPU here, what the pools took before it existed). CPU per request answered from
the containers' cgroups (the gateway's summed over its replicas).

{REPLICA_HEADER}
{table}

Throughput with 2 replicas vs 1: {gains}.
"""


def report(executor_results: dict, replica_figures: dict, args: argparse.Namespace) -> str:
    """The results file."""
    after = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"""# Scale-out: executors and gateway replicas

`python bench/bench_scale.py {" ".join(args.argv)}` at {git_head()},
{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} CPUs, Docker
{docker_version()}, stand-in images where the registry is unreachable. Load average before:
{args.uptime}; after: {after}. Every container of a stack shares this machine's CPUs, so more
workers add task slots and processes, not CPUs: the figures show what the executor's own
overhead costs here, and what another machine's workers would add is their CPUs.

{executor_section(executor_results, args.usecases)}
{replica_section(replica_figures, args)}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="executors,replicas")
    parser.add_argument("--configs", default="local,2,4", help=f"of {sorted(CONFIGS)}")
    parser.add_argument("--usecases", type=int, default=8)
    parser.add_argument("--duration", type=float, default=15, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gateway-workers", type=int, default=1)
    parser.add_argument(
        "--native-threads",
        type=lambda text: [int(t) for t in text.split(",")],
        default=[1, 2],
        help="settings of the gateway's native thread pools per worker to compare",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    args.uptime = " ".join(f"{x:.1f}" for x in os.getloadavg())
    parts = args.parts.split(",")
    executor_results = (
        executors(args.configs.split(","), args.usecases) if "executors" in parts else {}
    )
    replica_figures = replicas(args) if "replicas" in parts else {}
    text = report(executor_results, replica_figures, args)
    args.output.write_text(text)
    stackctl.say(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
