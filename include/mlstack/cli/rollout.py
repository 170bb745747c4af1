"""Rollout commands: ``mlstack rollout status|start|stop|analyse`` — a challenger's A/B
rollout by hand (the ``<usecase>__rollout`` DAG does the same on the challenger Asset)."""

from __future__ import annotations

import json

import click

from mlstack.cli.output import console


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


COMMANDS = (rollout,)
