"""Benchmark: what API keys cost the gateway — the same gateway without keys (the baseline)
and with ``MLSTACK_GATEWAY_REQUIRE_KEYS`` (key check from the in-memory key ring, token
bucket, one access-log line per request), one after the other in one run.

Same model, bodies and client as ``bench_gateway.py`` (whose helpers it uses): one-row
bodies rotated by a wrk Lua script, 16 connections, champion only (no rollout).

    .venv/bin/python bench/bench_gateway_keys.py [--duration 10] [--workers 1]

Writes bench/results/gateway_keys.md.
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

from bench_gateway import (
    USECASE,
    frame,
    free_port,
    register,
    run_wrk,
    stop,
    wait_http,
    write_usecase,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "gateway_keys.md"
LOAD_AT_START = os.getloadavg()[0]
LUA = """
local bodies = {}
local f = io.open("%s", "r")
for line in f:lines() do bodies[#bodies + 1] = line end
f:close()
local headers = {["Content-Type"] = "application/json"%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", nil, headers, bodies[i])
end
"""


def serve_and_measure(
    env: dict[str, str], script: Path, args: argparse.Namespace, log: Path
) -> dict[str, float]:
    """Start the gateway with ``env``, warm up 3 s, measure 16 connections, stop it."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlstack"), "gateway", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/health", proc)
            url = f"http://127.0.0.1:{port}/v1/{USECASE}/predict"
            run_wrk(url, script, 4, 3, proc.pid, None)
            return run_wrk(url, script, 16, args.duration, proc.pid, None)
        finally:
            stop(proc)


def main() -> None:
    """Run both and write the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    ap.add_argument("--workers", type=int, default=1, help="Gateway worker processes.")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlstack-bench-keys-"))
    env = {
        **os.environ,
        "MLSTACK_HOME": str(work / "home"),
        "MLSTACK_USECASES_DIR": str(work / "usecases"),
        "MLSTACK_GATEWAY_USECASES": USECASE,
        "MLSTACK_GATEWAY_WORKERS": str(args.workers),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    os.environ.update(env)
    write_usecase(work / "usecases")
    from mlstack.gateway import keys
    from mlstack.settings import get_settings
    from mlstack.specs import get_spec

    settings = get_settings()
    champion = register(get_spec(USECASE), settings, 1, "champion")
    _, key = keys.create("bench", [USECASE], ["predict"], settings)
    bodies = work / "bodies.jsonl"
    records = frame(1000, 99).drop(columns=["y"]).to_dict("records")
    bodies.write_text("".join(json.dumps({"dataframe_records": [r]}) + "\n" for r in records))
    plain, keyed = work / "plain.lua", work / "keyed.lua"
    plain.write_text(LUA % (bodies, ""))
    keyed.write_text(LUA % (bodies, f', ["Authorization"] = "Bearer {key}"'))
    log = work / "gateway.log"
    results = {
        "no keys (baseline)": serve_and_measure(env, plain, args, log),
        "keys required": serve_and_measure(
            {**env, "MLSTACK_GATEWAY_REQUIRE_KEYS": "true", "MLSTACK_GATEWAY_KEY_RATE_PER_S": "0"},
            keyed,
            args,
            log,
        ),
    }
    failed = {name: r["non2xx"] for name, r in results.items() if r["non2xx"]}
    if failed:
        sys.exit(f"non-2xx answers {failed}: see {log}")
    access_lines = sum(" key=" in line for line in log.read_text().splitlines())
    report(args, results, champion, access_lines)


def report(
    args: argparse.Namespace, results: dict[str, dict[str, float]], champion: int, lines_: int
) -> None:
    """Write bench/results/gateway_keys.md."""
    base, keyed = results["no keys (baseline)"], results["keys required"]
    lines = [
        "# Gateway with and without API keys",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"`python bench/bench_gateway_keys.py --duration {args.duration} "
        f"--workers {args.workers}`; load average {LOAD_AT_START:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (a busy machine inflates every figure).",
        "",
        f"Champion v{champion} only (logistic regression, 30 features), one-row bodies, wrk -t1 "
        f"-c16, {args.duration} s after a 3 s warm-up, fsync'd journal, {args.workers} "
        "worker(s). With keys: every request carries `Authorization: Bearer <key>`, checked "
        "against the in-memory key ring (re-read every 5 s), the token bucket (rate limit off "
        "so that it never refuses here) and one access-log line per request.",
        "",
        "| gateway | req/s | p50 ms | p90 ms | p99 ms | non-2xx | server CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p90']:.2f} | {r['p99']:.2f} | "
            f"{r['non2xx']:.0f} | {r['server_cpu_ms']:.3f} |"
        )
    cpu = keyed["server_cpu_ms"] / base["server_cpu_ms"] - 1
    lines += [
        "",
        f"- Keys cost {cpu:+.1%} server CPU per request and change throughput by "
        f"{keyed['rps'] / base['rps'] - 1:+.1%} (same run, baseline first).",
        f"- Access log: {lines_} lines written by the keyed run (one per request, key id only).",
        "- With the load average above the CPU count, req/s and latencies move by tens of "
        "percent between runs of the same server; CPU per request is the figure to compare.",
    ]
    OUT.write_text("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
