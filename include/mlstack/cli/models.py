"""Model commands: train, list and gate models, promote by hand (recorded), roll back."""

from __future__ import annotations

import getpass
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from mlstack.specs import get_spec

console = Console()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _show_decision(d: Any) -> None:
    colour = "red" if d.outcome == "refused" else "green"
    console.print(f"{d.usecase} v{d.version}: [{colour}]{d.outcome}[/] ({d.action})")
    for gate in d.gates:
        mark = "[green]pass[/]" if gate.passed else "[red]FAIL[/]"
        console.print(f"  {mark} {gate.name}: {gate.detail}")
    if not d.gates:
        for reason in d.reasons:
            console.print(f"  {reason}")


@click.command("train")
@click.argument("usecase")
@click.option("--snapshot", type=int, default=None, help="Features snapshot id (default: current).")
@click.option(
    "--labels-snapshot",
    type=int,
    default=None,
    help="Labels snapshot id, for use cases with separate labels (default: current).",
)
@click.option(
    "--from-version",
    type=int,
    default=None,
    help="Reuse the snapshots a registered version was trained on (reproduce it).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def train_cmd(
    usecase: str,
    snapshot: int | None,
    labels_snapshot: int | None,
    from_version: int | None,
    as_json: bool,
) -> None:
    """Train USECASE on exact snapshots; register the model with alias 'candidate'.

    Same snapshots + same spec (seed) = same rows, same split, same metrics.
    """
    from mlstack import registry
    from mlstack.stages import train

    if from_version is not None:
        tags = registry.get_version(usecase, from_version).tags
        snapshot = snapshot or int(tags["mlstack.features_snapshot"])
        if labels_snapshot is None and tags.get("mlstack.labels_snapshot"):
            labels_snapshot = int(tags["mlstack.labels_snapshot"])
    with console.status(f"Training {usecase} ..."):
        result = train.train(
            get_spec(usecase), snapshot_id=snapshot, labels_snapshot_id=labels_snapshot
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), default=str, indent=2))
        return
    m = result.metrics[f"holdout_{result.primary_metric}"]
    console.print(
        f"[green]{usecase} v{result.version}[/] (run {result.run_id}): holdout "
        f"{result.primary_metric}={m:.4f} on {result.rows['holdout']} rows "
        f"{result.days['holdout'][0]}..{result.days['holdout'][1]}; features snapshot "
        f"{result.snapshot.features_snapshot}"
        + (
            f", labels snapshot {result.snapshot.labels_snapshot}"
            if result.snapshot.labels_snapshot
            else ""
        )
    )
    console.print(f"Next: mlstack models evaluate {usecase} --apply")


@click.group("models")
def models_group() -> None:
    """Registered model versions, their gates and decisions."""


@models_group.command("list")
@click.argument("usecase")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def models_list(usecase: str, as_json: bool) -> None:
    """List USECASE's model versions with aliases, metric, snapshot and last decision."""
    from mlstack.stages import promote

    if as_json:
        rows = promote.list_models(get_spec(usecase))
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    table = models_table(usecase)
    console.print(table if table is not None else f"{usecase} has no registered model yet")


@models_group.command("evaluate")
@click.argument("usecase")
@click.argument("version", type=int, required=False)
@click.option("--apply", "do_apply", is_flag=True, help="Move aliases and record the decision.")
def models_evaluate(usecase: str, version: int | None, do_apply: bool) -> None:
    """Run the promotion gates for VERSION (default: the candidate) against the champion."""
    from mlstack.stages import promote

    spec = get_spec(usecase)
    decision = promote.evaluate(spec, version)
    if do_apply:
        decision = promote.apply(
            spec, decision, actor=_actor(), approved=True if decision.needs_approval else None
        )
    _show_decision(decision)
    if not do_apply:
        console.print("(dry run: nothing changed; add --apply to record it)")


@models_group.command("history")
@click.argument("usecase")
def models_history(usecase: str) -> None:
    """Every promotion decision of USECASE, newest first."""
    from mlstack.stages import promote

    table = Table("id", "when", "version", "action", "outcome", "vs", "by", "reasons")
    for r in promote.history(usecase):
        table.add_row(
            str(r["id"]),
            str(r["created_at"])[:19],
            str(r["model_version"]),
            r["action"],
            r["outcome"],
            str(r["compared_with"] or ""),
            r["actor"],
            "; ".join(r["reasons"])[:90],
        )
    console.print(table)


def models_table(usecase: str, title: str | None = None) -> Table | None:
    """Each model version: aliases, holdout metric, data snapshot and promotion decision."""
    from mlstack.stages import promote

    rows = promote.list_models(get_spec(usecase))
    if not rows:
        return None
    table = Table(
        "version",
        "aliases",
        "holdout metric",
        "holdout days",
        "snapshot (features)",
        "decision",
        "reason",
        title=title or f"{usecase} models",
    )
    for r in rows:
        value = f"{r['metric']} {r['value']:.4f}" if r["value"] is not None else ""
        table.add_row(
            f"v{r['version']}",
            ", ".join(r["aliases"]),
            value,
            r["holdout_days"] or "",
            str(r["features_snapshot"] or ""),
            r["promotion"] or "",
            (r["reason"] or "")[:100],
        )
    return table


@models_group.command("verify")
@click.argument("usecase")
@click.argument("version", type=int)
def verify_cmd(usecase: str, version: int) -> None:
    """Check VERSION's artifact files against the digest mlstack recorded (no load)."""
    from mlstack import integrity
    from mlstack.settings import get_settings

    digest = integrity.verified_digest(get_spec(usecase), version, get_settings())
    console.print(f"{usecase} v{version}: files match the recorded digest {digest}")


@models_group.command("trust")
@click.argument("usecase")
@click.argument("version", type=int)
def trust_cmd(usecase: str, version: int) -> None:
    """Record VERSION's current files as trusted (a version registered before mlstack
    recorded digests, or outside it): you vouch for them; the record names you. The
    gateway then serves it like a promoted version."""
    from mlstack import integrity
    from mlstack.settings import get_settings

    get_spec(usecase)
    digest = integrity.record(usecase, version, get_settings(), recorded_by=_actor()[:50])
    console.print(f"{usecase} v{version}: digest {digest} recorded by {_actor()}")


@click.command("promote")
@click.argument("usecase")
@click.argument("version", type=int)
@click.option(
    "--to",
    "to",
    type=click.Choice(["champion", "challenger"]),
    default="champion",
    show_default=True,
)
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
def promote_cmd(usecase: str, version: int, to: str, reason: str) -> None:
    """Human override: put VERSION on --to without gates; recorded with the reason."""
    from mlstack.stages import promote

    _show_decision(
        promote.override(get_spec(usecase), version, to=to, reason=reason, actor=_actor())
    )


@click.command("rollback")
@click.argument("usecase")
@click.option("--reason", default="manual rollback", show_default=True, help="Why.")
def rollback_cmd(usecase: str, reason: str) -> None:
    """Give 'champion' back to the previous champion; recorded."""
    from mlstack.stages import promote

    _show_decision(promote.rollback(get_spec(usecase), reason=reason, actor=_actor()))


COMMANDS = (train_cmd, models_group, promote_cmd, rollback_cmd)
