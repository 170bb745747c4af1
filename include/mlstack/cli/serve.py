"""Serving commands: ``mlstack gateway serve``, ``mlstack rollout status|start|stop|analyse``
and ``mlstack simulate-traffic``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from mlstack.cli import console

if TYPE_CHECKING:
    from mlstack.gateway.core.config import GatewaySettings


@click.group()
def gateway() -> None:
    """The model gateway (champion and challenger of every use case over HTTP)."""


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
    if workers > 1:  # one /metrics over all workers: they share their numbers in a folder
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


def share_metrics(g: GatewaySettings) -> None:
    """Give this run's workers an empty metrics folder (through the environment they inherit)."""
    import os

    from mlstack.settings import get_settings

    folder = g.metrics_dir or get_settings().home / "gateway-metrics"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.json"):  # a previous run's workers
            old.unlink()
    except OSError as exc:  # serving matters more than one /metrics over all workers
        console().print(f"[yellow]/metrics stays per worker: cannot use {folder} ({exc})[/]")
        return
    os.environ["MLSTACK_GATEWAY_METRICS_DIR"] = str(folder)


@click.group()
def rollout() -> None:
    """A/B rollouts of a challenger: status, start, stop, analyse."""


@rollout.command("status")
@click.argument("usecase")
def rollout_status(usecase: str) -> None:
    """The latest rollout of USECASE and its decisions."""
    from mlstack.stages import rollout as ro

    click.echo(json.dumps(ro.status(usecase), indent=2, default=str))


@rollout.command("start")
@click.argument("usecase")
@click.option("--version", type=int, default=None, help="Challenger version (default: alias).")
def rollout_start(usecase: str, version: int | None) -> None:
    """Start rolling out USECASE's challenger (the gateway picks it up within seconds)."""
    from mlstack.specs import get_spec
    from mlstack.stages import rollout as ro

    row = ro.start(get_spec(usecase), challenger_version=version, actor="cli")
    console().print(
        f"rollout {row['rollout_id']}: v{row['challenger_version']} vs champion "
        f"v{row['champion_version']}, stages {[s['name'] for s in row['stages']]}"
    )


@rollout.command("stop")
@click.argument("usecase")
@click.option("--reason", default="stopped by hand", help="Kept with the decision.")
def rollout_stop(usecase: str, reason: str) -> None:
    """Stop USECASE's running rollout: all traffic back to the champion."""
    from mlstack.specs import get_spec
    from mlstack.stages import rollout as ro

    row = ro.stop(get_spec(usecase), reason=reason)
    console().print(f"rollout {row['rollout_id']} stopped")


@rollout.command("analyse")
@click.argument("usecase")
@click.option("--apply", "apply_", is_flag=True, help="Act on the decision (default: show).")
def rollout_analyse(usecase: str, apply_: bool) -> None:
    """Look at the running rollout's evidence and show (or apply) the decision."""
    from mlstack.specs import get_spec
    from mlstack.stages import rollout as ro

    spec = get_spec(usecase)
    current = ro.running(usecase)
    if current is None:
        raise click.ClickException(f"{usecase} has no running rollout")
    row, ev, d = ro.analyse(spec, current["rollout_id"])
    if apply_:
        click.echo(json.dumps(ro.act(spec, row, ev, d, actor="cli"), indent=2, default=str))
    else:
        out = {"action": d.action, "reasons": d.reasons, "evidence": ev.to_dict()}
        click.echo(json.dumps(out, indent=2, default=str))


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


COMMANDS = (gateway, rollout, simulate_traffic)
