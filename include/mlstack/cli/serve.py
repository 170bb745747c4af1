"""Serving commands: ``mlstack gateway serve`` and ``mlstack simulate-traffic`` (the rollout
commands are in :mod:`mlstack.cli.rollout`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mlstack.cli.keys import keys
from mlstack.cli.output import console

if TYPE_CHECKING:
    from mlstack.gateway.core.config import GatewaySettings


@click.group()
def gateway() -> None:
    """The model gateway (champion and challenger of every use case over HTTP)."""


gateway.add_command(keys)


@gateway.command("serve")
@click.option("--host", default=None, help="Interface (default MLSTACK_GATEWAY_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the gateway under uvicorn (uvloop + httptools, one socket write per response)."""
    import uvicorn

    from mlstack.gateway.core.config import GatewaySettings

    g = GatewaySettings()
    workers = workers or g.workers
    native_thread_pools(g.native_threads)
    if workers > 1 or g.metrics_dir is not None:  # one /metrics over all workers
        share_metrics(g)
    uvicorn.run(
        "mlstack.gateway.app:create_app",
        factory=True,
        host=host or g.host,
        port=port or g.port,
        workers=workers,
        loop="uvloop",
        http="mlstack.gateway.one_write_http:HttpToolsProtocol",
        access_log=False,
        # a worker busy loading models on a crowded machine can miss uvicorn's 5 s ping;
        # a kill would lose its queued prediction logs
        timeout_worker_healthcheck=30,
        log_level="warning",
    )


#: the environment variables that size the native thread pools a model may use
THREAD_POOL_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def native_thread_pools(threads: int) -> None:
    """Size the native thread pools (OpenMP in gradient boosting, BLAS) of this process and
    its workers through the environment, read when each library loads (before any does)."""
    import os

    for var in THREAD_POOL_VARS:
        os.environ[var] = str(threads)


def share_metrics(g: GatewaySettings) -> None:
    """Give this run's workers an empty folder for prometheus_client's multiprocess mode
    (``PROMETHEUS_MULTIPROC_DIR``, through the environment they inherit; emptied first, as
    the client's docs ask, so no previous run's numbers or pids remain)."""
    import os
    from pathlib import Path

    from mlstack.settings import get_settings

    env = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    folder = Path(env) if env else g.metrics_dir or get_settings().home / "gateway-metrics"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for old in [*folder.glob("*.db"), *folder.glob("*.json")]:  # .json: the hand-written format
            old.unlink()
    except OSError as exc:  # serving matters more than one /metrics over all workers
        console().print(f"[yellow]/metrics stays per worker: cannot use {folder} ({exc})[/]")
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return
    os.environ["MLSTACK_GATEWAY_METRICS_DIR"] = str(folder)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


@click.command("simulate-traffic")
@click.argument("usecase")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="Gateway URL.")
@click.option("--requests", "n", type=int, default=1000, show_default=True)
@click.option("--rate", type=float, default=20.0, show_default=True, help="Requests/s; 0 = max.")
@click.option("--label-share", type=float, default=1.0, show_default=True)
def simulate_traffic(usecase: str, url: str, n: int, rate: float, label_share: float) -> None:
    """Send simulated USECASE records to the gateway, then feed their labels back."""
    import httpx

    from mlstack.demo.traffic import simulate
    from mlstack.specs import get_spec

    with httpx.Client(base_url=url, timeout=30) as client:
        res = simulate(
            get_spec(usecase),
            client,
            requests=n,
            rate=rate,
            label_share=label_share,
            progress=lambda i: console().print(f"{i}/{n} sent"),
        )
    console().print(
        f"sent {res.sent}, answered {res.answered}, failed {res.failed}, "
        f"labels {res.labels_sent}, variants {res.variants} in {res.seconds:.1f}s"
    )


COMMANDS = (gateway, simulate_traffic)
