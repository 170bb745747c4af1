"""Benchmark of deploy mode: what the TLS proxy costs the gateway, and the stack's idle memory.

Brings the stack up in deploy mode (docker-compose.deploy.yml; its own compose project,
Caddy bound to 127.0.0.2 so a `make e2e` can run beside it, no per-key rate limit), then
sends the same request from the host with wrk (one thread, 16 keep-alive connections) over
the two paths, alternating, in the same run:

  direct         http://<the gateway's address on the proxy network>:8000
  through Caddy  https://mlstack-bench.test   (Caddy's address on the proxy network; TLS 1.3
                 with Caddy's own CA, HTTP/1.1 keep-alive)

Both are the containers' own addresses: Docker's userland proxy, which carries the published
port's traffic from this host (not a remote client's), stays out of the comparison.

Two requests, each with an API key (keys are required in deploy mode; the key check is part
of what is measured):

  predict        ``POST /v1/<usecase>/predict``, one demo record per request (1000 distinct
                 ones in turn), answered by a champion the bench registers inside the stack
                 (bench_gateway.register, on the simulator's rows) and logged as every
                 prediction is: what the gateway is for, and the figure the goal is about;
                 once as fast as wrk goes (each connection sends its next request when
                 answered) and once with independent arrivals (each connection waits an
                 exponentially distributed time first, THINK_MS on average: the same load
                 both ways, so it compares latency and CPU per prediction);
  served state   ``GET /v1/<usecase>``: the cheapest thing the gateway does, so the proxy's
                 share is as large as it can be (an upper bound).

Then the idle memory and CPU of every container (measured before any load), against the
issue's ceiling of 2.5 GB; and MLflow behind its login, as the gateway's refresher and every
task call it: an API call's latency and MLflow's idle CPU with a checked login remembered for
60 s (the default) against the baseline, the login checked on every call (MLflow's default,
and mlstack's before 2026-12-04), MLflow restarted in between. Writes
bench/results/deploy.md.

    make bench-deploy ARGS="[--duration 20] [--rounds 3] [--settle 120] [--guest-halt-poll-ns N]"

The header says how long the VM's idle CPUs poll before halting and what waking a process on
the other CPU costs; ``--guest-halt-poll-ns`` sets that polling for the run (root) and puts it
back after (deploy-halt-poll.md was run with the kernel's default, 200000).

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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra"))
sys.path.insert(0, str(ROOT / "bench"))
import stack as stackctl  # noqa: E402  (infra/stack.py)
from bench_gateway import parse_wrk  # noqa: E402
from bench_stack import docker_version, git_head, idle_memory, timed_up  # noqa: E402

PROJECT = "mlstack-benchdeploy"
#: Caddy's published address (beside a `make up` or `make e2e` stack on 127.0.0.1)
BIND = "127.0.0.2"
#: the site name Caddy serves here; wrk resolves it to Caddy's container address through a
#: hosts file of its own (a private mount namespace: the machine's /etc/hosts is untouched)
SITE = "mlstack-bench.test"
USECASE = "credit_default"
RESULTS = ROOT / "bench" / "results" / "deploy.md"
CEILING_MIB = 2.5 * 1000**3 / 2**20  # the 2.5 GB
IDLE_CPU_S = 60.0  # how long the idle stack's CPU is measured
#: deploy mode's observability profile, without Grafana unless its image is given (the
#: stand-ins have none)
PROFILES = "observability" if os.environ.get("GRAFANA_IMAGE") else "metrics"
#: how long an idle vCPU polls before it halts (cpuidle-haltpoll; the kernel's default 200000):
#: at 0 (some VMs boot so, the bench's did) every wake-up of an idle CPU is a halted vCPU's
HALT_POLL = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")


@contextmanager
def halt_polling(ns: int | None) -> Iterator[int | None]:
    """The guest's halt polling for the run: set to ``ns`` (root) and put back afterwards, or
    left as it is when ``ns`` is None; yields the value in force (None: no cpuidle-haltpoll)."""
    if not HALT_POLL.exists():
        if ns is not None:
            raise SystemExit(f"--guest-halt-poll-ns: no {HALT_POLL} (not a cpuidle-haltpoll guest)")
        yield None
        return
    before = int(HALT_POLL.read_text())
    if ns is None:
        yield before
        return
    HALT_POLL.write_text(str(ns))
    try:
        yield ns
    finally:
        HALT_POLL.write_text(str(before))


def wake_round_trip_us(trips: int = 20000) -> float:
    """µs per round trip of one byte between two processes pinned to different CPUs (a
    pipe each way): what waking a process on another CPU costs here, Python's reads and
    writes included."""
    cpus = sorted(os.sched_getaffinity(0))
    there, back = os.pipe(), os.pipe()
    child = os.fork()
    if child == 0:  # the echo, on the last CPU; it never returns into the bench
        try:
            os.sched_setaffinity(0, {cpus[-1]})
            for _ in range(trips):
                os.write(back[1], os.read(there[0], 1))
        finally:
            os._exit(0)
    os.sched_setaffinity(0, {cpus[0]})
    try:
        start = time.perf_counter()
        for _ in range(trips):
            os.write(there[1], b"x")
            os.read(back[0], 1)
        return (time.perf_counter() - start) / trips * 1e6
    finally:
        os.waitpid(child, 0)
        os.sched_setaffinity(0, cpus)
        for fd in (*there, *back):
            os.close(fd)


def address(compose: stackctl.Compose, service: str) -> str:
    """A container's address on the proxy network, which the host reaches (a bridge
    network: Linux routes the host to it), so wrk calls both paths the same way, without
    Docker's userland proxy of the published port in the way."""
    container = compose.run("ps", "-q", service, capture=True).split()[0]
    networks = json.loads(
        subprocess.run(
            ["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", container],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    return networks[f"{PROJECT}_proxy"]["IPAddress"]


def cpu_ns(container: str) -> int:
    """CPU time a container has used so far, in ns (its cgroup, v1 or v2)."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text())
    for stat in (
        Path(f"/sys/fs/cgroup/system.slice/docker-{container}.scope/cpu.stat"),
        Path(f"/sys/fs/cgroup/docker/{container}/cpu.stat"),
    ):
        if stat.exists():
            usage = dict(line.split() for line in stat.read_text().splitlines())
            return int(usage["usage_usec"]) * 1000
    raise SystemExit(f"bench: no cgroup CPU accounting found for container {container}")


def idle_cpu(compose: stackctl.Compose, seconds: float, *services: str) -> dict[str, float]:
    """The CPU of ``services`` (default: every running one) over ``seconds`` of an idle stack,
    in % of one CPU."""
    ids = containers(compose, *(services or compose.run("ps", "--services", capture=True).split()))
    before = {name: cpu_ns(c) for name, c in ids.items()}
    time.sleep(seconds)
    return {name: (cpu_ns(c) - before[name]) / (seconds * 1e9) * 100 for name, c in ids.items()}


#: what the gateway's refresher asks MLflow, timed call by call inside the gateway's container
#: with its own login (read-only)
LOGIN_PROBE = """
import json, os, time, httpx
url = os.environ["MLSTACK_MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/registered-models/get"
auth = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"])
took = []
with httpx.Client(auth=auth, timeout=60) as client:
    for _ in range(%d):
        start = time.perf_counter()
        client.get(url, params={"name": %r}).raise_for_status()
        took.append((time.perf_counter() - start) * 1000)
print(json.dumps(took))
"""


def mlflow_logins(compose: stackctl.Compose, env_file: Path, cache_s: int, calls: int = 20) -> dict:
    """MLflow restarted with a checked login remembered ``cache_s`` seconds (0: checked on
    every call): its CPU over 30 s idle (the gateway's refresher polling), then ``calls``
    API calls one after the other with the gateway's login: median, slowest, and MLflow's CPU
    over them per call (the gateway's polling meanwhile included)."""
    stackctl.set_env(env_file, {"MLFLOW_AUTH_CACHE_S": str(cache_s)})
    compose.run("up", "-d", "--no-deps", "--wait", "mlflow", capture=True)
    time.sleep(15)
    idle = idle_cpu(compose, 30, "mlflow")["mlflow"]
    (mlflow,) = containers(compose, "mlflow").values()
    before = cpu_ns(mlflow)
    code = LOGIN_PROBE % (calls, USECASE)
    took = json.loads(compose.run("exec", "-T", "gateway", "python", "-c", code, capture=True))
    spent_ms = (cpu_ns(mlflow) - before) / 1e6
    took.sort()
    stackctl.say(f"bench: MLflow logins remembered {cache_s}s: {took}")
    return {
        "median_ms": took[len(took) // 2],
        "max_ms": took[-1],
        "cpu_ms": spent_ms / calls,
        "idle_pct": idle,
    }


def containers(compose: stackctl.Compose, *services: str) -> dict[str, str]:
    """The full container ids of ``services`` (one container each)."""
    return {
        name: compose.run("ps", "-q", "--no-trunc", name, capture=True).split()[0]
        for name in services
    }


#: wrk's requests for the predict path: the records in turn, each with the key (a header
#: table given to wrk.format replaces wrk's own -H headers)
PREDICT_LUA = """
local bodies = {}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %s"}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", nil, headers, bodies[i])
end
"""
#: appended to the predict script for independent arrivals (``% (seed, mean wait in ms)``):
#: each connection waits an exponentially distributed time before each request (wrk's
#: ``delay``, in ms); the seed is fixed so that runs draw the same waits
ARRIVALS_LUA = """
math.randomseed(%d)
delay = function() return -%g * math.log(1 - math.random()) end
"""
#: the mean wait of a connection between requests for independent arrivals: 16 connections
#: then offer ~550 predictions a second, a load both paths carry on this 2-CPU machine
THINK_MS = 25.0
ARRIVALS_SEED = 20261204
#: the head of a request's table: a row per round and path, then their means
TABLE_HEAD = (
    "| path | round | req/s | p50 ms | p99 ms | errors | CPU ms/req: gateway | Caddy | Postgres |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
)
#: the requests compared: name -> (path under the base URL, needs the predict script, mean ms a
#: connection waits between requests: 0 = none, wrk's closed loop)
REQUESTS = {
    "predict": (f"/v1/{USECASE}/predict", True, 0.0),
    "predict, independent arrivals": (f"/v1/{USECASE}/predict", True, THINK_MS),
    "served state": (f"/v1/{USECASE}", False, 0.0),
}


def seed_champion(compose: stackctl.Compose) -> str:
    """Register a champion of USECASE inside the stack (the scheduler's MLflow login), fitted
    on one simulated day by bench_gateway.register, as promotion records it; its version."""
    compose.run("cp", str(ROOT / "bench" / "bench_gateway.py"),
                "airflow-scheduler:/tmp/bench_gateway.py", capture=True)  # fmt: skip
    code = (
        "import sys; sys.path.insert(0, '/tmp'); import bench_gateway as b\n"
        "from mlstack.demo.traffic import simulated_rows\n"
        "from mlstack.settings import get_settings\n"
        "from mlstack.specs import get_spec\n"
        f"spec = get_spec({USECASE!r})\n"
        "rows = simulated_rows(spec, spec.simulator.start, 3000)\n"
        "print(b.register(spec, get_settings(), 1, 'champion', rows))\n"
    )
    out = compose.run("exec", "-T", "airflow-scheduler", "python", "-c", code, capture=True)
    return out.split()[-1]


def arrivals_script(script: Path, think_ms: float) -> Path:
    """``script`` with each connection waiting an exponentially distributed time (mean
    ``think_ms``) before each request: arrivals that are not in step, as independent
    clients send them (wrk's closed loop answers a burst and gets the next burst back)."""
    out = script.with_name(f"{script.stem}-arrivals.lua")
    out.write_text(script.read_text() + ARRIVALS_LUA % (ARRIVALS_SEED, think_ms))
    return out


def predict_script(folder: Path, key: str) -> Path:
    """The wrk script of the predict path: 1000 demo records (not the ones trained on)."""
    from mlstack.demo.traffic import simulated_rows, to_records
    from mlstack.specs import get_spec

    spec = get_spec(USECASE)
    frame = simulated_rows(spec, spec.simulator.start, 1000, seed=99)
    bodies = folder / "bodies.jsonl"
    bodies.write_text("".join(json.dumps({"record": r}) + "\n" for r in to_records(spec, frame)))
    script = folder / "predict.lua"
    script.write_text(PREDICT_LUA % (bodies, key))
    return script


def wait_served(url: str, key: str, script: Path, hosts: Path, timeout: float = 120) -> None:
    """Until the gateway answers predictions (it loads a new champion within ~10 s)."""
    deadline = time.monotonic() + timeout
    while True:
        run = load(url, key, 1, 1, hosts, script)
        if run["rps"] > 0 and run["errors"] == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {url} answers no predictions after {timeout:.0f}s")
        time.sleep(3)


def load(
    url: str, key: str, connections: int, duration: float, hosts: Path, script: Path | None
) -> dict:
    """One wrk run from the host (one thread, keep-alive, the key in every request; with
    ``script``, wrk's Lua requests): req/s, latency percentiles, non-200 answers. wrk does
    not verify Caddy's certificate; TLS is still negotiated and every request encrypted,
    which is the cost measured. ``hosts`` replaces /etc/hosts for wrk alone
    (``unshare --mount``, root)."""
    wrk = ["wrk", "-t1", f"-c{connections}", f"-d{duration:.0f}s", "--latency",
           "-H", f"Authorization: Bearer {key}", url]  # fmt: skip
    if script is not None:
        wrk[-1:-1] = ["-s", str(script)]
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    out = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, str(hosts), *wrk],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    figures = parse_wrk(out)
    return {
        "rps": figures["rps"],
        "p50_ms": figures["p50"],
        "p99_ms": figures["p99"],
        "errors": int(figures["non2xx"]),
    }


def measure(
    paths: dict[str, str],
    path: str,
    key: str,
    script: Path | None,
    hosts: Path,
    ids: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, list[dict]]:
    """One request over both paths: a warm-up each (connections, TLS, the key cache), then
    ``args.rounds`` alternating runs, each with the CPU per request of every container."""
    for base in paths.values():
        load(f"{base}{path}", key, args.connections, 3, hosts, script)
    figures: dict[str, list[dict]] = {name: [] for name in paths}
    for _ in range(args.rounds):
        for name, base in paths.items():
            before = {n: cpu_ns(c) for n, c in ids.items()}
            run = load(f"{base}{path}", key, args.connections, args.duration, hosts, script)
            for n, c in ids.items():  # CPU ms per request answered
                spent = (cpu_ns(c) - before[n]) / 1e6
                run[f"{n}_cpu_ms"] = spent / max(run["rps"] * args.duration, 1)
            figures[name].append(run)
            stackctl.say(f"bench: {path} {name}: {run}")
    return figures


def mean(runs: list[dict]) -> dict:
    """The rounds of one path as one row: mean req/s and latencies, errors summed."""
    return {
        "rps": sum(r["rps"] for r in runs) / len(runs),
        "p50_ms": sum(r["p50_ms"] for r in runs) / len(runs),
        "p99_ms": sum(r["p99_ms"] for r in runs) / len(runs),
        "errors": sum(r["errors"] for r in runs),
        "gateway_cpu_ms": sum(r["gateway_cpu_ms"] for r in runs) / len(runs),
        "caddy_cpu_ms": sum(r["caddy_cpu_ms"] for r in runs) / len(runs),
        "postgres_cpu_ms": sum(r["postgres_cpu_ms"] for r in runs) / len(runs),
    }


def section(request: str, figures: dict[str, list[dict]], args: argparse.Namespace) -> str:
    """One request's table: every round of each path, their means, the overhead of the means."""
    means = {name: mean(runs) for name, runs in figures.items()}
    direct, proxied = means["direct"], means["through Caddy"]
    overhead = 1 - proxied["rps"] / direct["rps"]
    # where clients are elsewhere and the gateway's CPUs are the limit: the share of a
    # request's server CPU that Caddy adds
    cpu_share = proxied["caddy_cpu_ms"] / (proxied["caddy_cpu_ms"] + proxied["gateway_cpu_ms"])
    table = TABLE_HEAD + "\n".join(
        f"| {name} | {label} | {f['rps']:.0f} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} "
        f"| {f['errors']} | {f['gateway_cpu_ms']:.3f} | {f['caddy_cpu_ms']:.3f} "
        f"| {f['postgres_cpu_ms']:.3f} |"
        for name, runs in figures.items()
        for label, f in [*((str(i + 1), r) for i, r in enumerate(runs)), ("**mean**", means[name])]
    )
    path, _, think_ms = REQUESTS[request]
    verb = "POST" if request.startswith("predict") else "GET"
    if think_ms:
        return arrivals_section(request, path, means, table, think_ms, args)
    goal = " (goal ≤ 15 %)" if request == "predict" else " (upper bound: the cheapest request)"
    return f"""## {request}: `{verb} {path}`, {args.connections} connections, wrk on the host

{table}

Throughput lost through the proxy: **{overhead:.1%}**{goal}. CPU per request answered, from
the containers' cgroups: the gateway {direct["gateway_cpu_ms"]:.3f} ms direct,
{proxied["gateway_cpu_ms"]:.3f} ms behind Caddy; Caddy {proxied["caddy_cpu_ms"]:.3f} ms, i.e.
**{cpu_share:.0%} of the server CPU** of a proxied request.
"""


def arrivals_section(
    request: str,
    path: str,
    means: dict[str, dict],
    table: str,
    think_ms: float,
    args: argparse.Namespace,
) -> str:
    """The table of a load with waits between requests: both paths carry the same load, so
    what differs is the latency and the server CPU each prediction costs."""
    direct, proxied = means["direct"], means["through Caddy"]
    server = {n: m["gateway_cpu_ms"] + m["caddy_cpu_ms"] for n, m in means.items()}
    added = server["through Caddy"] / server["direct"] - 1
    title = f"`POST {path}`, {args.connections} connections waiting {think_ms:g} ms on average"
    return f"""## {request}: {title}

Each connection waits an exponentially distributed time (mean {think_ms:g} ms) before each
request, so requests reach the server one by one, as independent clients send them; wrk's
closed loop above sends in step (16 answers go out together and 16 requests come back
together, which the gateway answers in one batch when it is reached directly).

{table}

Nearly the same load both ways ({direct["rps"]:.0f} vs {proxied["rps"]:.0f} req/s), latency
{direct["p50_ms"]:.2f} vs {proxied["p50_ms"]:.2f} ms p50 and {direct["p99_ms"]:.1f} vs
{proxied["p99_ms"]:.1f} ms p99. CPU per prediction: the gateway
{direct["gateway_cpu_ms"]:.3f} ms direct, {proxied["gateway_cpu_ms"]:.3f} ms behind Caddy;
with Caddy's {proxied["caddy_cpu_ms"]:.3f} ms, **{added:+.0%} server CPU per prediction**
through the proxy.
"""


def report(
    figures: dict[str, dict[str, list[dict]]],
    memory: dict[str, float],
    cpu: dict[str, float],
    logins: dict[int, dict],
    args: argparse.Namespace,
    uptime: str,
    caddy: str,
    machine: tuple[int | None, float],
) -> str:
    """The results: a section per request, the idle memory and CPU, MLflow's logins;
    ``machine`` is the guest's halt polling during the run (ns) and the wake-up round trip."""
    total = sum(memory.values())
    after = " ".join(f"{x:.1f}" for x in os.getloadavg())
    grafana = "" if PROFILES == "observability" else " (no Grafana: no GRAFANA_IMAGE given)"
    command = f"--duration {args.duration:.0f} --rounds {args.rounds} --settle {args.settle:.0f}"
    if args.guest_halt_poll_ns is not None:
        command += f" --guest-halt-poll-ns {args.guest_halt_poll_ns}"
    halt_ns, wake_us = machine
    polling = (
        "no cpuidle-haltpoll"
        if halt_ns is None
        else f"guest halt polling {halt_ns} ns"
        + (" (set for this run, put back after)" if args.guest_halt_poll_ns is not None else "")
    )
    per_service = "\n".join(
        f"| {name} | {mib:.0f} | {cpu.get(name, 0):.1f} |" for name, mib in sorted(memory.items())
    )
    sections = "\n".join(section(request, runs, args) for request, runs in figures.items())
    return f"""# Deploy mode: the TLS proxy's cost and idle memory

`python bench/bench_deploy.py {command}` at
{git_head()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} CPUs,
Docker {docker_version()}, stand-in images where the registry is unreachable
(`CADDY_IMAGE={caddy}`), compose profiles `{PROFILES}`{grafana}. Load average before the
run: {uptime}; after: {after}. {polling.capitalize()}; waking a process on the
other CPU: {wake_us:.0f} µs per round trip (two processes, a pipe each way, before the load).

The gateway and Caddy are reached at their containers' addresses from wrk on the
host (one thread, keep-alive, the API key in every request). For each request the two paths
alternate, {args.rounds} rounds of {args.duration:.0f} s each, so a change in the machine's
load falls on both. wrk runs on the same 2 CPUs as both servers (its own TLS work included),
so the throughput lost here is larger than on a VM whose clients are elsewhere; there, when
the CPUs are the limit, Caddy's share of the server CPU is the better estimate.

{sections}
## Idle memory and CPU of the deploy stack ({args.settle:.0f} s after healthy)

CPU: the next {IDLE_CPU_S:.0f} s, in % of one CPU.

| service | MiB | CPU % |
|---|---:|---:|
{per_service}
| **total** | **{total:.0f}** (ceiling 2.5 GB = {CEILING_MIB:.0f} MiB) | {sum(cpu.values()):.1f} |

{logins_section(logins)}"""


def logins_section(logins: dict[int, dict]) -> str:
    """MLflow's API behind its login, the login remembered vs checked on every call."""
    label = {0: "checked on every call (MLflow's default; mlstack before 2026-12-04)"}
    rows = "\n".join(
        f"| {label.get(s, f'remembered {s} s (the default)')} | {f['median_ms']:.0f} "
        f"| {f['max_ms']:.0f} | {f['cpu_ms']:.0f} | {f['idle_pct']:.1f} |"
        for s, f in logins.items()
    )
    on, off = logins[max(logins)], logins[0]
    return f"""## MLflow behind its login: a checked login remembered vs checked on every call

What the gateway's refresher asks MLflow (`registered-models/get`, its read-only login), 20
calls one after the other from inside the gateway's container, after MLflow was restarted with
the setting (`MLFLOW_AUTH_CACHE_S`); idle CPU: MLflow's over 30 s before the calls, while the
gateway polls it. MLflow stores passwords as scrypt hashes.

| login | median ms | slowest ms | MLflow CPU ms per call (polling included) | MLflow idle CPU % |
|---|---:|---:|---:|---:|
{rows}

An API call: **{on["median_ms"]:.0f} ms vs {off["median_ms"]:.0f} ms** (median); MLflow idle:
**{on["idle_pct"]:.1f} % vs {off["idle_pct"]:.1f} %** of a CPU.
"""


@contextmanager
def deploy_stack(folder: Path, extra: dict[str, str] | None = None) -> Iterator[tuple]:
    """The deploy stack of PROJECT, built and started with fresh secrets in ``folder``
    (``extra``: more settings for its env file); yields it and the seconds `up` took; always
    removed afterwards, volumes included."""
    env_file = folder / "bench.env"
    settings = {**stackctl.deploy_settings(host=SITE), "DEPLOY_BIND": BIND}
    # the bench's one key sends thousands of requests a second: no per-key rate limit
    settings["GATEWAY_KEY_RATE_PER_S"] = "0"
    if os.environ.get("MINIO_IMAGE", "").startswith("standin/"):  # no MinIO admin API
        settings["MLSTACK_S3_SERVICE_ACCOUNTS"] = "external"
    settings["COMPOSE_PROFILES"] = PROFILES
    stackctl.set_env(env_file, {**settings, **(extra or {})})
    stackctl.ensure_env(env_file, project=PROJECT)
    compose = stackctl.Compose(PROJECT, env_file)
    compose.run("down", "--volumes", "--remove-orphans", capture=True, check=False)
    try:
        compose.build()
        started = timed_up(compose)
        stackctl.say(f"bench: deploy stack ready after {started:.0f}s")
        yield compose, started
    finally:
        compose.run("down", "--volumes", "--remove-orphans", capture=True, check=False)


@dataclass
class Load:
    """What wrk needs to load the deployed gateway: the key, its Lua script of predict
    requests, a hosts file naming Caddy, and the two base URLs (``direct``, ``through Caddy``)."""

    key: str
    script: Path
    hosts: Path
    paths: dict[str, str]


def ready_to_load(compose: stackctl.Compose, folder: Path) -> Load:
    """An API key and a champion in the deployed stack, and the gateway answering with it."""
    out = compose.run("exec", "-T", "airflow-scheduler", "mlstack", "gateway", "keys",
                      "create", "--name", "bench", "--usecase", USECASE,
                      capture=True)  # fmt: skip
    key = next(word for word in out.split() if word.startswith("mlsk_"))
    version = seed_champion(compose)
    stackctl.say(f"bench: {USECASE} v{version} is the champion")
    paths = {
        "direct": f"http://{address(compose, 'gateway')}:8000",
        "through Caddy": f"https://{SITE}",
    }
    hosts = folder / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{address(compose, 'caddy')} {SITE}\n")
    script = predict_script(folder, key)
    wait_served(f"{paths['direct']}{REQUESTS['predict'][0]}", key, script, hosts)
    return Load(key, script, hosts, paths)


def script_of(run: Load, scripted: bool, think_ms: float) -> Path | None:
    """wrk's Lua script of one request: none, the predict script, or it with waits."""
    if not scripted:
        return None
    return arrivals_script(run.script, think_ms) if think_ms else run.script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="seconds of load per path")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per path")
    parser.add_argument("--settle", type=float, default=120, help="idle seconds before memory")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--guest-halt-poll-ns",
        type=int,
        help="the guest's halt polling for the run (root; put back after): 200000 is the "
        "kernel's default, which this VM's command line turns off",
    )
    args = parser.parse_args(argv)
    uptime = " ".join(f"{x:.1f}" for x in os.getloadavg())
    with (
        halt_polling(args.guest_halt_poll_ns) as halt_ns,
        tempfile.TemporaryDirectory() as tmp,
        deploy_stack(Path(tmp)) as (compose, _),
    ):
        memory = idle_memory(compose, args.settle)
        cpu = idle_cpu(compose, IDLE_CPU_S)
        wake_us = wake_round_trip_us()  # on the idle stack
        run = ready_to_load(compose, Path(tmp))
        # the default last: the loads below run as deployed
        logins = {s: mlflow_logins(compose, Path(tmp) / "bench.env", s) for s in (0, 60)}
        ids = containers(compose, "gateway", "caddy", "postgres")
        figures = {
            request: measure(
                run.paths, path, run.key, script_of(run, scripted, think_ms), run.hosts, ids, args
            )
            for request, (path, scripted, think_ms) in REQUESTS.items()
        }
    caddy = os.environ.get("CADDY_IMAGE", "caddy:2")
    text = report(figures, memory, cpu, logins, args, uptime, caddy, (halt_ns, wake_us))
    args.output.write_text(text)
    stackctl.say(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
