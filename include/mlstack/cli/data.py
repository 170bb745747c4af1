"""Data commands: use cases, ingestion and the data catalog."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click

from mlstack.cli.output import (
    Column,
    console,
    json_option,
    print_json,
    table,
    text,
    wide_option,
)


@click.group()
def usecases() -> None:
    """List, validate and scaffold use cases."""


@usecases.command("list")
@json_option
@wide_option
def usecases_list(as_json: bool, wide: bool) -> None:
    """List the use cases and whether their specs are valid."""
    from mlstack.settings import get_settings
    from mlstack.specs import discover

    specs, errors = discover(get_settings().usecases_dir)
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "task": spec.task,
            "owner": spec.owner,
            "datasets": spec.datasets(),
            "valid": True,
            "description": spec.description,
        }
        for name, spec in specs.items()
    ] + [
        {
            "name": name,
            "task": None,
            "owner": None,
            "datasets": [],
            "valid": False,
            "description": "",
        }
        for name in errors
    ]
    if as_json:
        print_json(rows)
        return
    columns = [
        Column("use case"),
        Column("task"),
        Column("owner"),
        Column("datasets"),
        Column("status"),
    ]
    cells = [
        (
            r["name"],
            r["task"],
            r["owner"],
            ", ".join(r["datasets"]),
            "valid" if r["valid"] else "invalid (mlstack usecases validate)",
        )
        for r in rows
    ]
    notes = [str(r["description"]) for r in rows]
    click.echo(table(columns, cells, notes=notes, wide=wide))


@usecases.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def usecases_validate(paths: tuple[Path, ...]) -> None:
    """Validate specs (all use cases, or the given usecase.yaml files/folders)."""
    from mlstack.exceptions import MlstackError
    from mlstack.settings import get_settings
    from mlstack.spec_check import spec_problems
    from mlstack.specs import load_spec

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
@click.option(
    "--from",
    "sample",
    type=click.Path(path_type=Path),
    default=None,
    help="A CSV or Parquet file of your data: infer the schema, land it as the first days.",
)
@click.option("--id-column", default=None, help="With --from: the id column (else guessed).")
@click.option("--date-column", default=None, help="With --from: the date column (else guessed).")
@click.option("--target", default=None, help="With --from: the target column (else guessed).")
def usecases_new(
    name: str,
    sample: Path | None,
    id_column: str | None,
    date_column: str | None,
    target: str | None,
) -> None:
    """Scaffold include/usecases/NAME: a commented usecase.yaml, hooks.py, the use case's
    own tests and CI templates (ci/). With --from FILE the schema is inferred from the file
    (the id, date and target columns are asked on a terminal, else guessed and printed) and
    the file's rows are landed by day, so `mlstack ingest NAME --date DAY` works at once."""
    from mlstack.settings import get_settings
    from mlstack.specs import NAME_RE

    if not NAME_RE.match(name):
        raise click.BadParameter("use lower_snake_case, at most 56 characters", param_hint="NAME")
    settings = get_settings()
    folder = settings.usecases_dir / name
    if folder.exists():
        raise click.ClickException(f"{folder} already exists")
    schema = None
    if sample is not None:
        schema = _inferred(sample, id_column, date_column, target)
    elif id_column or date_column or target:
        raise click.UsageError("--id-column, --date-column and --target need --from FILE")
    from mlstack.usecase_scaffold import write_usecase

    written = write_usecase(folder, schema, settings.usecases_dir.name)
    click.echo(f"created {folder}: " + ", ".join(str(p.relative_to(folder)) for p in written))
    if schema is None or sample is None:
        click.echo("edit usecase.yaml, then `mlstack usecases validate`")
        return
    _land_first_days(folder, sample)


def _inferred(
    sample: Path, id_column: str | None, date_column: str | None, target: str | None
) -> Any:
    """The sample's schema with its roles: flags first, then (on a terminal) the user's
    answers to the guesses, else the guesses; prints the schema and the roles chosen."""
    from mlstack.schema_inference import choose_roles, infer

    schema = infer(sample)
    chosen = {"id": id_column, "date": date_column, "target": target}
    asked = _interactive()
    for role, value in chosen.items():
        if value is None and asked:
            fits = schema.candidates(role)
            chosen[role] = click.prompt(
                f"{role} column" + (f" (could be: {', '.join(fits)})" if fits else ""),
                default=getattr(schema, f"{role}_column"),
                type=click.Choice(list(schema.columns)),
                show_choices=False,
            )
    schema = choose_roles(
        schema, id_column=chosen["id"], date_column=chosen["date"], target=chosen["target"]
    )
    click.echo(f"{sample}: {len(schema.frame)} rows, {len(schema.columns)} columns")
    for col in schema.columns.values():
        click.echo(f"  {col.name}: {col.spec.type}{'' if col.spec.nullable else ', not null'}")
    source = "as given" if not asked else "as confirmed"
    guessed = [
        r for r, v in (("id", id_column), ("date", date_column), ("target", target)) if not v
    ]
    how = f"guessed ({', '.join(guessed)}; pass --id-column/--date-column/--target to choose)"
    click.echo(
        f"id column: {schema.id_column}, date column: {schema.date_column}, target: "
        f"{schema.target_column} ({schema.task}) — " + (how if guessed and not asked else source)
    )
    for note in schema.notes:
        click.echo(f"note: {note}")
    return schema


def _interactive() -> bool:
    """Whether to ask the user (stdin is a terminal)."""
    import sys

    return sys.stdin.isatty()


def _land_first_days(folder: Path, sample: Path) -> None:
    """Validate the new spec and land the whole sample file by day; print how to ingest."""
    from mlstack.specs import load_spec
    from mlstack.usecase_checks import land_sample, spec_problems_of

    problems = spec_problems_of(folder)
    if problems:
        raise click.ClickException(
            "the written spec is invalid (please report this):\n  - " + "\n  - ".join(problems)
        )
    spec = load_spec(folder)
    days = land_sample(spec, sample)
    click.echo(
        f"valid; landed {len(days)} day(s) {days[0]} .. {days[-1]} under landing/{spec.name}/\n"
        f"next: mlstack ingest {spec.name} --date {days[0]}"
    )


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
    from rich.table import Table

    from mlstack.exceptions import MlstackError
    from mlstack.sources import land as land_files
    from mlstack.specs import get_spec
    from mlstack.stages import catalog
    from mlstack.stages.ingest import ingest_day

    out = console()
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
            out.print(table)
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
    out.print(table)
    for warning in warnings:
        out.print(f"[yellow]warning:[/] {warning}")


@click.group("catalog")
def catalog_group() -> None:
    """Read the data catalog: datasets, versions, schema, stats, lineage."""


@catalog_group.command("list")
@json_option
@wide_option
def catalog_list(as_json: bool, wide: bool) -> None:
    """List datasets with their latest version."""
    from mlstack.stages import catalog_records as catalog

    rows = catalog.list_datasets()
    if as_json:
        print_json(rows)
        return
    columns = [
        Column("dataset"),
        Column("use case", wide_only=True),
        Column("kind"),
        Column("owner", wide_only=True),
        Column("latest"),
        Column("snapshot", wide_only=True),
        Column("rows", right=True),
        Column("recorded"),
    ]
    cells = [
        (
            r["name"],
            r["usecase"],
            r["kind"],
            r["owner"],
            f"v{r['version']}" if r["version"] else "-",
            r["snapshot_id"] or "-",
            r["total_rows"] or 0,
            str(r["created_at"] or "-")[: 19 if wide else 16],
        )
        for r in rows
    ]
    click.echo(table(columns, cells, wide=wide))


@catalog_group.command("show")
@click.argument("dataset")
@click.option(
    "--version",
    type=int,
    default=None,
    help="Show this version's schema and stats (default latest).",
)
@json_option
@wide_option
def catalog_show(dataset: str, version: int | None, as_json: bool, wide: bool) -> None:
    """Show DATASET: description, versions, schema changes, column stats, lineage."""
    from mlstack.stages import catalog_records as catalog

    info = catalog.show_dataset(dataset)
    chosen = catalog.get_version(dataset, version) if info["versions"] else None
    if as_json:
        print_json({**info, "selected": chosen})
        return
    d = info["dataset"]
    lines = [
        text(f"{d['name']} ({d['kind']} of {d['usecase']}) - {d['description']}", wide=wide),
        text(
            f"owner {d['owner']} · tags {', '.join(d['tags']) or '-'} · "
            f"table {d['table_identifier']}",
            wide=wide,
        ),
        text(f"location {d['location']}", wide=wide),
        "",
        table(
            [
                Column("version"),
                Column("snapshot", wide_only=True),
                Column("partition"),
                Column("rows (table)", right=True),
                Column("rows (partition)", right=True),
                Column("rejected", right=True),
                Column("schema change"),
                Column("producer", wide_only=True),
            ],
            [
                (
                    f"v{v['version']}",
                    v["snapshot_id"],
                    v["partition"] or "-",
                    v["total_rows"],
                    v["partition_rows"],
                    v["rejected_rows"],
                    catalog.schema_change_text(v["schema_changes"]),
                    v["producer"],
                )
                for v in info["versions"]
            ],
            title="versions (newest first)",
            wide=wide,
        ),
    ]
    if chosen:
        types = {c["name"]: c["type"] for c in chosen["schema"]}
        part = chosen["partition"] or "the table"
        lines += [
            "",
            table(
                [
                    Column("column"),
                    Column("type"),
                    Column("nulls", right=True),
                    Column("min", right=True),
                    Column("max", right=True),
                    Column("mean", right=True),
                    Column("distinct / top"),
                ],
                [
                    (
                        col,
                        types.get(col, "?"),
                        st.get("nulls", ""),
                        _fmt(st.get("min")),
                        _fmt(st.get("max")),
                        _fmt(st.get("mean")),
                        _top(st),
                    )
                    for col, st in chosen["stats"].items()
                ],
                title=f"v{chosen['version']}: columns and statistics of {part}",
                wide=wide,
            ),
        ]
    edges = info["lineage"] if wide else info["lineage"][-30:]
    lines += [
        "",
        table(
            [Column("from"), Column("relation"), Column("to")],
            [(e["source"], e["relation"], e["target"]) for e in edges],
            title="lineage" + ("" if wide or len(edges) == len(info["lineage"]) else " (last 30)"),
            wide=wide,
        ),
    ]
    click.echo("\n".join(lines))


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
