"""Benchmark of deploy mode: what the TLS proxy costs the gateway, and the stack's idle memory.

Brings the stack up in deploy mode (docker-compose.deploy.yml; its own compose project,
Caddy bound to 127.0.0.2 so a `make e2e` can run beside it, no per-key rate limit), then
sends the same request from the host with wrk (one thread, 16 keep-alive connections) over
the two paths, alternating, in the same run:

  direct         http://<gateway's address on the proxy network>:8000
  through Caddy  https://127.0.0.2   (TLS 1.3 with Caddy's own CA, HTTP/1.1 keep-alive)

The request is ``GET /v1/<usecase>`` with an API key (keys are required in deploy mode; the
key check is part of what is measured), the gateway's served-state answer: the cheapest thing
the gateway does, so the proxy's share of the time is as large as it can be — an upper bound
of the overhead on predictions, which cost the gateway more. Then the idle memory of every
container, against the issue's ceiling of 2.5 GB. Writes bench/results/deploy.md.

    .venv/bin/python bench/bench_deploy.py [--duration 20] [--rounds 3] [--settle 120]

Needs wrk on the host (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra"))
sys.path.insert(0, str(ROOT / "bench"))
import stack as stackctl  # noqa: E402  (infra/stack.py)
from bench_gateway import parse_wrk  # noqa: E402
from bench_stack import docker_version, git_head, idle_memory, timed_up  # noqa: E402

PROJECT = "mlstack-benchdeploy"
#: Caddy's address (beside a `make up` or `make e2e` stack on 127.0.0.1)
BIND = "127.0.0.2"
USECASE = "credit_default"
RESULTS = ROOT / "bench" / "results" / "deploy.md"
CEILING_MIB = 2.5 * 1000**3 / 2**20  # the 2.5 GB
#: deploy mode's observability profile, without Grafana unless its image is given (the
#: stand-ins have none)
PROFILES = "observability" if os.environ.get("GRAFANA_IMAGE") else "metrics"


def gateway_address(compose: stackctl.Compose) -> str:
    """The gateway container's address on the proxy network, which the host reaches (a
    bridge network: Linux routes the host to it), so wrk can call it without Caddy."""
    container = compose.run("ps", "-q", "gateway", capture=True).split()[0]
    networks = json.loads(
        subprocess.run(
            ["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", container],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    return networks[f"{PROJECT}_proxy"]["IPAddress"]


def load(url: str, key: str, connections: int, duration: float) -> dict:
    """One wrk run from the host (one thread, keep-alive, the key in every request): req/s,
    latency percentiles, non-200 answers. wrk does not verify Caddy's certificate; TLS is
    still negotiated and every request encrypted, which is the cost measured."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:.0f}s", "--latency",
         "-H", f"Authorization: Bearer {key}", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    figures = parse_wrk(out)
    return {
        "rps": figures["rps"],
        "p50_ms": figures["p50"],
        "p99_ms": figures["p99"],
        "errors": int(figures["non2xx"]),
    }


def mean(runs: list[dict]) -> dict:
    """The rounds of one path as one row: mean req/s and latencies, errors summed."""
    return {
        "rps": sum(r["rps"] for r in runs) / len(runs),
        "p50_ms": sum(r["p50_ms"] for r in runs) / len(runs),
        "p99_ms": sum(r["p99_ms"] for r in runs) / len(runs),
        "errors": sum(r["errors"] for r in runs),
    }


def report(
    figures: dict[str, list[dict]], memory: dict[str, float], args, uptime: str, caddy: str
) -> str:
    """The results table: every round of each path, their means, the overhead of the means."""
    means = {name: mean(runs) for name, runs in figures.items()}
    overhead = 1 - means["through Caddy"]["rps"] / means["direct"]["rps"]
    total = sum(memory.values())
    rows = "\n".join(
        f"| {name} | {label} | {f['rps']:.0f} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} "
        f"| {f['errors']} |"
        for name, runs in figures.items()
        for label, f in [*((str(i + 1), r) for i, r in enumerate(runs)), ("**mean**", means[name])]
    )
    after = " ".join(f"{x:.1f}" for x in os.getloadavg())
    grafana = "" if PROFILES == "observability" else " (no Grafana: no GRAFANA_IMAGE given)"
    command = f"--duration {args.duration:.0f} --rounds {args.rounds} --settle {args.settle:.0f}"
    per_service = "\n".join(f"| {name} | {mib:.0f} |" for name, mib in sorted(memory.items()))
    return f"""# Deploy mode: the TLS proxy's cost and idle memory

`python bench/bench_deploy.py {command}` at
{git_head()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} CPUs,
Docker {docker_version()}, stand-in images where the registry is unreachable
(`CADDY_IMAGE={caddy}`), compose profiles `{PROFILES}`{grafana}. Load average before the
run: {uptime}; after: {after}.

## Gateway, {args.connections} connections, `GET /v1/{USECASE}`, wrk on the host, same run

The two paths alternate, {args.rounds} rounds of {args.duration:.0f} s each, so a change in the
machine's load falls on both.

| path | round | req/s | p50 ms | p99 ms | errors |
|---|---|---:|---:|---:|---:|
{rows}

Throughput lost through the proxy: **{overhead:.1%}** (goal ≤ 15 %). The request is the
gateway's cheapest; on predictions the proxy's share is smaller.

## Idle memory of the deploy stack ({args.settle:.0f} s after healthy)

| service | MiB |
|---|---:|
{per_service}
| **total** | **{total:.0f}** (ceiling 2.5 GB = {CEILING_MIB:.0f} MiB) |
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="seconds of load per path")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per path")
    parser.add_argument("--settle", type=float, default=120, help="idle seconds before memory")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    uptime = " ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "bench.env"
        settings = {**stackctl.deploy_settings(host=BIND), "DEPLOY_BIND": BIND}
        # the bench's one key sends thousands of requests a second: no per-key rate limit
        settings["GATEWAY_KEY_RATE_PER_S"] = "0"
        if os.environ.get("MINIO_IMAGE", "").startswith("standin/"):  # no MinIO admin API
            settings["MLSTACK_S3_SERVICE_ACCOUNTS"] = "external"
        settings["COMPOSE_PROFILES"] = PROFILES
        stackctl.set_env(env_file, settings)
        stackctl.ensure_env(env_file, project=PROJECT)
        compose = stackctl.Compose(PROJECT, env_file)
        compose.run("down", "--volumes", "--remove-orphans", capture=True, check=False)
        try:
            compose.run("build", capture=True)
            started = timed_up(compose)
            stackctl.say(f"bench: deploy stack ready after {started:.0f}s")
            memory = idle_memory(compose, args.settle)
            out = compose.run("exec", "-T", "airflow-scheduler", "mlstack", "gateway", "keys",
                              "create", "--name", "bench", "--usecase", USECASE,
                              capture=True)  # fmt: skip
            key = next(word for word in out.split() if word.startswith("mlsk_"))
            paths = {
                "direct": f"http://{gateway_address(compose)}:8000",
                "through Caddy": f"https://{BIND}",
            }
            figures: dict[str, list[dict]] = {name: [] for name in paths}
            for base in paths.values():  # warm-up: connections, TLS, the key cache
                load(f"{base}/v1/{USECASE}", key, args.connections, 3)
            for _ in range(args.rounds):
                for name, base in paths.items():
                    figures[name].append(
                        load(f"{base}/v1/{USECASE}", key, args.connections, args.duration)
                    )
                    stackctl.say(f"bench: {name}: {figures[name][-1]}")
        finally:
            compose.run("down", "--volumes", "--remove-orphans", capture=True, check=False)
    text = report(figures, memory, args, uptime, os.environ.get("CADDY_IMAGE", "caddy:2"))
    args.output.write_text(text)
    stackctl.say(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
