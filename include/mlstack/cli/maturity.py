"""``mlstack maturity [USECASE]``: each use case's declared maturity level, the checklist
answered from evidence, what the next level would need, and the level-5 retrain costs.

Printing only: the answers come from :mod:`mlstack.maturity` (the maturity page shows the
same). A read command: it imports no MLflow, pandas or Airflow.
"""

from __future__ import annotations

from typing import Any

import click

from mlstack.cli.output import Column, json_option, print_json, table, text, wide_option

MARKS = {"yes": "yes", "no": "no", "n/a": "n/a"}


def report_lines(rep: dict[str, Any], *, wide: bool = False) -> list[str]:
    """One use case's report as terminal text: header, checklist table, next level, costs."""
    on = [k for k, v in rep["switches"].items() if v]
    lines = [
        text(
            f"{rep['usecase']}: maturity {rep['declared_name']} declared; the evidence "
            f"shows level {rep['evidence_level']}",
            wide=wide,
        ),
        text(f"  automation on: {', '.join(on) or 'none (everything by hand)'}", wide=wide),
    ]
    rows = [(i["level"], i["name"], MARKS[i["status"]], i["evidence"]) for i in rep["items"]]
    cols = [Column("level"), Column("item"), Column("answer"), Column("evidence")]
    lines.append(table(cols, rows, wide=wide))
    lines.append("what the declared level still lacks, then what the next level needs:")
    lines += [text(f"  - {step}", wide=wide) for step in rep["next"]]
    lines.append(text(f"level-5 costs: {rep['retrain_costs_text']}", wide=wide))
    return lines


@click.command("maturity")
@click.argument("usecase", required=False)
@json_option
@wide_option
def maturity_cmd(usecase: str | None, as_json: bool, wide: bool) -> None:
    """Each use case's maturity level (or USECASE's): the checklist from evidence and what
    the next level would need."""
    from mlstack.maturity import report
    from mlstack.settings import get_settings
    from mlstack.specs import discover, get_spec

    if usecase:
        specs = [get_spec(usecase)]
    else:
        found, _ = discover(get_settings().usecases_dir)
        specs = list(found.values())
    reports = [report(spec) for spec in specs]
    if as_json:
        print_json(reports if usecase is None else reports[0])
        return
    for n, rep in enumerate(reports):
        if n:
            click.echo("")
        click.echo("\n".join(report_lines(rep, wide=wide)))


COMMANDS = (maturity_cmd,)
