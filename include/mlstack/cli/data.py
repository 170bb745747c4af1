"""Data commands: use cases, ingestion and the data catalog."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from mlstack.cli.output import console as make_console
from mlstack.settings import get_settings
from mlstack.specs import discover, get_spec, load_spec

console = make_console()


@click.group()
def usecases() -> None:
    """List, validate and scaffold use cases."""


@usecases.command("list")
def usecases_list() -> None:
    """List the use cases and whether their specs are valid."""
    specs, errors = discover(get_settings().usecases_dir)
    table = Table("use case", "task", "owner", "datasets", "status")
    for name, spec in specs.items():
        table.add_row(name, spec.task, spec.owner, ", ".join(spec.datasets()), "[green]valid[/]")
    for name in errors:
        table.add_row(name, "", "", "", "[red]invalid[/] (mlstack usecases validate)")
    console.print(table)


@usecases.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def usecases_validate(paths: tuple[Path, ...]) -> None:
    """Validate specs (all use cases, or the given usecase.yaml files/folders)."""
    from mlstack.exceptions import MlstackError
    from mlstack.spec_check import spec_problems

    targets = list(paths) or sorted(
        p.parent for p in get_settings().usecases_dir.glob("*/usecase.yaml")
    )
    failed = 0
    for target in targets:
        try:
            spec = load_spec(target)
            problems = spec_problems(spec)
        except MlstackError as exc:
            failed += 1
            click.secho(str(exc), fg="red", err=True)
            continue
        if problems:
            failed += 1
            lines = [f"{spec.path}: invalid use-case spec ({len(problems)} problem(s)):"]
            click.secho("\n".join(lines + [f"  - {p}" for p in problems]), fg="red", err=True)
            continue
        click.secho(f"{target}: valid", fg="green")
    if failed:
        raise SystemExit(1)


@usecases.command("new")
@click.argument("name")
def usecases_new(name: str) -> None:
    """Scaffold include/usecases/NAME/usecase.yaml (and hooks.py) to edit."""
    from mlstack.specs import NAME_RE

    if not NAME_RE.match(name):
        raise click.BadParameter("use lower_snake_case", param_hint="NAME")
    folder = get_settings().usecases_dir / name
    if folder.exists():
        raise click.ClickException(f"{folder} already exists")
    folder.mkdir(parents=True)
    (folder / "usecase.yaml").write_text(_TEMPLATE.format(name=name), encoding="utf-8")
    (folder / "hooks.py").write_text(_HOOKS.format(name=name), encoding="utf-8")
    click.echo(
        f"created {folder}/usecase.yaml and hooks.py; edit them, then `mlstack usecases validate`"
    )


_TEMPLATE = """\
name: {name}
owner: your-team
description: What this model predicts, for whom, and how it is used.
tags: []
task: classification   # or regression
schedule: "@daily"
hooks: hooks.py
source:
  kind: files            # CSV/Parquet under <prefix>/day=YYYY-MM-DD/ in the lake
  options:
    prefix: landing/{name}
    format: csv
schema:
  id_column: id
  timestamp_column: event_date
  target_column: label
  label_delay_days: 0
  columns:
    id: {{type: string, nullable: false}}
    event_date: {{type: date, nullable: false}}
    amount: {{type: float, min: 0}}
    channel: {{type: category, categories: [web, store]}}
    label: {{type: int, min: 0, max: 1}}
"""

_HOOKS = '''\
"""Hooks of the {name} use case: plugins its spec can name."""

from mlstack.plugins import register


@register("transforms", "{name}_features")
def features(frame):
    """Derive model features from the validated rows."""
    return frame
'''


def _parse_day(_: click.Context, __: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from exc


@click.command()
@click.argument("usecase")
@click.option(
    "--date", "day", required=True, callback=_parse_day, help="Day to ingest (YYYY-MM-DD)."
)
@click.option("--dataset", default=None, help="Only this dataset (features, labels). Default: all.")
@click.option("--land", is_flag=True, help="Demo: let the simulator land the day's files first.")
def ingest(usecase: str, day: date, dataset: str | None, land: bool) -> None:
    """Ingest one day of USECASE (validate, quarantine rejects, write Iceberg, catalog)."""
    from mlstack.exceptions import MlstackError
    from mlstack.sources import land as land_files
    from mlstack.stages import catalog
    from mlstack.stages.ingest import ingest_day

    spec = get_spec(usecase)
    if land:
        for path in land_files(spec, day):
            click.echo(f"landed {path}")
    table = Table(
        "dataset", "rows in", "accepted", "rejected", "snapshot", "catalog version", "quarantine"
    )
    datasets = [dataset] if dataset else spec.datasets()
    committed: list[str] = []
    warnings: list[str] = []
    for ds in datasets:
        try:
            result = ingest_day(spec, day, ds, producer="mlstack-cli/ingest")
            rec = catalog.record_snapshot(spec, ds, result.snapshot_id or 0, sources=result.files)
        except MlstackError as exc:
            if not committed:
                raise
            console.print(table)
            rest = datasets[datasets.index(ds) :]
            raise click.ClickException(
                f"{ds} failed: {exc}\n{' and '.join(committed)} of {day} WERE committed "
                f"(shown above) and stay; {', '.join(rest)} were not. Fix the input, then run "
                + " and ".join(
                    f"`mlstack ingest {usecase} --date {day} --dataset {r}`" for r in rest
                )
            ) from exc
        committed.append(ds)
        warnings += result.warnings
        table.add_row(
            ds,
            str(result.rows_in),
            str(result.accepted),
            str(result.rejected),
            str(result.snapshot_id),
            f"v{rec.version}",
            result.quarantine or "-",
        )
    console.print(table)
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {warning}")


@click.group("catalog")
def catalog_group() -> None:
    """Read the data catalog: datasets, versions, schema, stats, lineage."""


@catalog_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def catalog_list(as_json: bool) -> None:
    """List datasets with their latest version."""
    from mlstack.stages import catalog

    rows = catalog.list_datasets()
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    table = Table("dataset", "use case", "kind", "owner", "latest", "snapshot", "rows", "recorded")
    for r in rows:
        table.add_row(
            r["name"],
            r["usecase"],
            r["kind"],
            r["owner"],
            f"v{r['version']}" if r["version"] else "-",
            str(r["snapshot_id"] or "-"),
            str(r["total_rows"] or 0),
            str(r["created_at"] or "-")[:19],
        )
    console.print(table)


@catalog_group.command("show")
@click.argument("dataset")
@click.option(
    "--version",
    type=int,
    default=None,
    help="Show this version's schema and stats (default latest).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def catalog_show(dataset: str, version: int | None, as_json: bool) -> None:
    """Show DATASET: description, versions, schema changes, column stats, lineage."""
    from mlstack.stages import catalog

    info = catalog.show_dataset(dataset)
    chosen = catalog.get_version(dataset, version) if info["versions"] else None
    if as_json:
        click.echo(json.dumps({**info, "selected": chosen}, default=str, indent=2))
        return
    d = info["dataset"]
    console.print(f"[bold]{d['name']}[/] ({d['kind']} of {d['usecase']}) — {d['description']}")
    console.print(
        f"owner {d['owner']} · tags {', '.join(d['tags']) or '-'} · table {d['table_identifier']}"
    )
    console.print(f"location {d['location']}")
    versions = Table(
        "version",
        "snapshot",
        "partition",
        "rows (table)",
        "rows (partition)",
        "rejected",
        "schema change",
        "producer",
        title="versions (newest first)",
    )
    for v in info["versions"]:
        versions.add_row(
            f"v{v['version']}",
            str(v["snapshot_id"]),
            v["partition"] or "-",
            str(v["total_rows"]),
            str(v["partition_rows"]),
            str(v["rejected_rows"]),
            catalog.schema_change_text(v["schema_changes"]),
            v["producer"],
        )
    console.print(versions)
    if chosen:
        stats = Table(
            "column",
            "type",
            "nulls",
            "min",
            "max",
            "mean",
            "distinct / top",
            title=f"v{chosen['version']}: columns and statistics of "
            f"{chosen['partition'] or 'the table'}",
        )
        types = {c["name"]: c["type"] for c in chosen["schema"]}
        for col, st in chosen["stats"].items():
            stats.add_row(
                col,
                types.get(col, "?"),
                str(st.get("nulls", "")),
                _fmt(st.get("min")),
                _fmt(st.get("max")),
                _fmt(st.get("mean")),
                _top(st),
            )
        console.print(stats)
    lineage = Table("from", "relation", "to", title="lineage")
    for e in info["lineage"][-30:]:
        lineage.add_row(e["source"], e["relation"], e["target"])
    console.print(lineage)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _top(st: dict[str, Any]) -> str:
    if "distinct" not in st:
        return ""
    top = st.get("top")
    shown = ", ".join(f"{k}:{n}" for k, n in list(top.items())[:4]) if top else ""
    return f"{st['distinct']}" + (f" ({shown})" if shown else "")


COMMANDS = (usecases, ingest, catalog_group)
