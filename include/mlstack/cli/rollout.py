"""Rollout commands: ``mlstack rollout status|start|stop|analyse`` — a challenger's A/B
rollout by hand (the ``<usecase>__rollout`` DAG does the same on the challenger Asset)."""

from __future__ import annotations

import click

from mlstack.cli.output import console, json_option, print_json


@click.group()
def rollout() -> None:
    """A/B rollouts of a challenger: status, start, stop, analyse."""


@rollout.command("status")
@click.argument("usecase")
@click.option("--limit", type=int, default=50, show_default=True, help="Decisions read.")
@json_option
def rollout_status(usecase: str, limit: int, as_json: bool) -> None:
    """The latest rollout of USECASE: state, versions, stage and traffic split, then its
    decisions with their reasons (consecutive waits folded into one line)."""
    from mlstack import lake
    from mlstack.cli.monitor import rollout_lines
    from mlstack.monitoring import views
    from mlstack.stages import rollout_records

    found = rollout_records.status(usecase, limit=limit)
    if as_json:
        print_json(found)
        return
    out = console()
    for line in rollout_lines(views.rollout_summary(found), lake.url):
        out.print(line)


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
        print_json(ro.act(spec, row, ev, d, actor="cli"))
    else:
        print_json({"action": d.action, "reasons": d.reasons, "evidence": ev.to_dict()})


COMMANDS = (rollout,)
