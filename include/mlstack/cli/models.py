"""Model commands: train, list and gate models, promote by hand (recorded), roll back."""

from __future__ import annotations

import getpass
from typing import Any

import click

from mlstack.cli.output import Column, console, json_option, print_json, table, wide_option


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _show_decision(d: Any) -> None:
    out = console()
    colour = "red" if d.outcome == "refused" else "green"
    out.print(f"{d.usecase} v{d.version}: [{colour}]{d.outcome}[/] ({d.action})")
    for gate in d.gates:
        mark = "[green]pass[/]" if gate.passed else "[red]FAIL[/]"
        out.print(f"  {mark} {gate.name}: {gate.detail}")
    if not d.gates:
        for reason in d.reasons:
            out.print(f"  {reason}")


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
    from mlstack.specs import get_spec
    from mlstack.stages import train

    out = console()
    if from_version is not None:
        tags = registry.get_version(usecase, from_version).tags
        snapshot = snapshot or int(tags["mlstack.features_snapshot"])
        if labels_snapshot is None and tags.get("mlstack.labels_snapshot"):
            labels_snapshot = int(tags["mlstack.labels_snapshot"])
    with out.status(f"Training {usecase} ..."):
        result = train.train(
            get_spec(usecase), snapshot_id=snapshot, labels_snapshot_id=labels_snapshot
        )
    if as_json:
        print_json(result.to_dict())
        return
    m = result.metrics[f"holdout_{result.primary_metric}"]
    out.print(
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
    out.print(f"Next: mlstack models evaluate {usecase} --apply")


@click.group("models")
def models_group() -> None:
    """Registered model versions, their gates and decisions."""


@models_group.command("list")
@click.argument("usecase")
@json_option
@wide_option
@click.option(
    "--registry",
    "from_registry",
    is_flag=True,
    help="Read MLflow's registry first and record it in mlstack's tables (models registered "
    "before mlstack recorded them, aliases moved in the MLflow UI). Slower: loads MLflow.",
)
def models_list(usecase: str, as_json: bool, wide: bool, from_registry: bool) -> None:
    """List USECASE's model versions: aliases, metric, holdout days, snapshot, decision and
    its reason (read from mlstack's record of the registry; MLflow is not loaded)."""
    from mlstack import model_records
    from mlstack.specs import get_spec

    name = get_spec(usecase).name
    if from_registry:
        from mlstack import registry

        registry.sync_records(name)
    rows = model_records.list_models(name)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(
            f"{usecase} has no registered model in mlstack's record; models registered "
            f"before it was kept: `mlstack models list {usecase} --registry`"
        )
        return
    click.echo(models_table(rows, wide=wide))


@models_group.command("evaluate")
@click.argument("usecase")
@click.argument("version", type=int, required=False)
@click.option("--apply", "do_apply", is_flag=True, help="Move aliases and record the decision.")
def models_evaluate(usecase: str, version: int | None, do_apply: bool) -> None:
    """Run the promotion gates for VERSION (default: the candidate) against the champion."""
    from mlstack.specs import get_spec
    from mlstack.stages import promote

    spec = get_spec(usecase)
    decision = promote.evaluate(spec, version)
    if do_apply:
        decision = promote.apply(
            spec, decision, actor=_actor(), approved=True if decision.needs_approval else None
        )
    _show_decision(decision)
    if not do_apply:
        console().print("(dry run: nothing changed; add --apply to record it)")


@models_group.command("history")
@click.argument("usecase")
@click.option("--limit", type=int, default=50, show_default=True, help="Decisions shown.")
@json_option
@wide_option
def models_history(usecase: str, limit: int, as_json: bool, wide: bool) -> None:
    """Every promotion decision of USECASE, newest first, its reasons under it."""
    from mlstack import model_records

    rows = model_records.decisions(usecase, limit=limit)
    if as_json:
        print_json(rows)
        return
    columns = [
        Column("id", right=True),
        Column("when"),
        Column("version"),
        Column("action"),
        Column("outcome"),
        Column("vs"),
        Column("by", wide_only=True),
    ]
    cells = [
        (
            r["id"],
            str(r["created_at"])[:16],
            f"v{r['model_version']}",
            r["action"],
            r["outcome"],
            f"v{r['compared_with']}" if r["compared_with"] else "",
            r["actor"],
        )
        for r in rows
    ]
    notes = ["; ".join(r["reasons"]) for r in rows]
    click.echo(table(columns, cells, notes=notes, wide=wide, title=f"{usecase} decisions"))


def models_table(rows: list[dict[str, Any]], *, wide: bool = False, title: str = "") -> str:
    """Model versions (:func:`mlstack.model_records.list_models` rows) as a table: aliases,
    holdout metric and days, features snapshot, decision; each reason on a line under its
    row (with ``wide``: the run id and labels snapshot too, the reason as a last column)."""
    columns = [
        Column("version"),
        Column("aliases"),
        Column("holdout metric"),
        Column("holdout days"),
        Column("features snapshot", wide_only=True),
        Column("labels snapshot", wide_only=True),
        Column("run", wide_only=True),
        Column("decision"),
    ]
    cells = [
        (
            f"v{r['version']}",
            ", ".join(r["aliases"]),
            f"{r['metric']} {r['value']:.4f}" if r["value"] is not None else "",
            r["holdout_days"] or "",
            r["features_snapshot"] or "",
            r["labels_snapshot"] or "",
            r["run_id"] or "",
            r["promotion"] or "",
        )
        for r in rows
    ]
    notes = [r["reason"] or "" for r in rows]
    return table(columns, cells, notes=notes, wide=wide, title=title or None)


@models_group.command("verify")
@click.argument("usecase")
@click.argument("version", type=int)
def verify_cmd(usecase: str, version: int) -> None:
    """Check VERSION's artifact files against the digest mlstack recorded (no load)."""
    from mlstack import integrity
    from mlstack.settings import get_settings
    from mlstack.specs import get_spec

    digest = integrity.verified_digest(get_spec(usecase), version, get_settings())
    console().print(f"{usecase} v{version}: files match the recorded digest {digest}")


@models_group.command("trust")
@click.argument("usecase")
@click.argument("version", type=int)
def trust_cmd(usecase: str, version: int) -> None:
    """Record VERSION's current files as trusted (a version registered before mlstack
    recorded digests, or outside it): you vouch for them; the record names you. The
    gateway then serves it like a promoted version."""
    from mlstack import integrity
    from mlstack.settings import get_settings
    from mlstack.specs import get_spec

    get_spec(usecase)
    digest = integrity.record(usecase, version, get_settings(), recorded_by=_actor()[:50])
    console().print(f"{usecase} v{version}: digest {digest} recorded by {_actor()}")


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
    from mlstack.specs import get_spec
    from mlstack.stages import promote

    _show_decision(
        promote.override(get_spec(usecase), version, to=to, reason=reason, actor=_actor())
    )


@click.command("rollback")
@click.argument("usecase")
@click.option("--reason", default="manual rollback", show_default=True, help="Why.")
def rollback_cmd(usecase: str, reason: str) -> None:
    """Give 'champion' back to the previous champion; recorded."""
    from mlstack.specs import get_spec
    from mlstack.stages import promote

    _show_decision(promote.rollback(get_spec(usecase), reason=reason, actor=_actor()))


COMMANDS = (train_cmd, models_group, promote_cmd, rollback_cmd)
