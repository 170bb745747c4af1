"""``mlstack users add|list|remove|set-password|sync``: Airflow's logins in deploy mode
(:mod:`mlstack.airflow.access`). Run them where Airflow runs with the FAB auth manager:
``docker compose exec airflow-apiserver mlstack users ...``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from mlstack.cli.output import console


def _specs() -> dict[str, Any]:
    """The valid use-case specs (their ``team`` sections decide the use-case roles)."""
    from mlstack.settings import get_settings
    from mlstack.specs import discover

    specs, _errors = discover(get_settings().usecases_dir)
    return specs


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated): one line from stdin, or a new random one."""
    from mlstack.airflow.access import new_password

    if not from_stdin:
        return new_password(), True
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.UsageError("--password-stdin: stdin gave an empty line; send the password")
    return line, False


def _show_once(username: str, password: str) -> None:
    console().print(f"password of {username}:")
    click.echo(password)
    console().print("[yellow]Shown once: give it to them now; it is stored hashed only.[/]")


@click.group("users")
def users() -> None:
    """Airflow's logins and their use cases (deploy mode: the FAB auth manager)."""


_stdin_option = click.option(
    "--password-stdin", is_flag=True, help="Read the password from stdin instead of generating it."
)


@users.command("add")
@click.argument("username")
@click.option("--group", "groups", multiple=True, metavar="GROUP",
              help="A group its use cases name in `team.groups` (repeat).")  # fmt: skip
@click.option("--admin", is_flag=True, help="Airflow's Admin role: every use case, every page.")
@click.option("--email", default="", help="Its e-mail (default: none, a placeholder).")
@_stdin_option
def add(
    username: str, groups: tuple[str, ...], admin: bool, email: str, password_stdin: bool
) -> None:
    """Create USERNAME; print its generated password once."""
    from mlstack.airflow import access as airflow_access

    specs = _specs()
    password, generated = _password(password_stdin)
    with airflow_access.security_manager() as sm:
        roles = airflow_access.add_user(
            sm, specs, username, password, groups=groups, admin=admin, email=email
        )
    console().print(f"airflow user {username}: created with roles {', '.join(roles)}")
    if generated:
        _show_once(username, password)


@users.command("set-password")
@click.argument("username")
@_stdin_option
def set_password(username: str, password_stdin: bool) -> None:
    """Give USERNAME a new password (generated and printed once, or from stdin)."""
    from mlstack.airflow import access as airflow_access

    password, generated = _password(password_stdin)
    with airflow_access.security_manager() as sm:
        airflow_access.set_password(sm, username, password)
    console().print(f"airflow user {username}: password set")
    if generated:
        _show_once(username, password)


@users.command("remove")
@click.argument("username")
def remove(username: str) -> None:
    """Delete USERNAME's account."""
    from mlstack.airflow import access as airflow_access

    with airflow_access.security_manager() as sm:
        airflow_access.remove_user(sm, username)
    console().print(f"airflow user {username}: removed")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(as_json: bool) -> None:
    """Every account: its groups and the use cases it may see and run."""
    from dataclasses import asdict

    from rich.table import Table

    from mlstack.airflow import access as airflow_access

    specs = _specs()  # before Airflow is loaded: its logging would print on stdout
    with airflow_access.security_manager() as sm:
        accounts = airflow_access.list_users(sm, specs)
    if as_json:
        click.echo(json.dumps([asdict(a) for a in accounts], indent=2))
        return
    table = Table("user", "active", "admin", "groups", "use cases")
    for a in accounts:
        table.add_row(
            a.username,
            "yes" if a.active else "no",
            "yes" if a.admin else "",
            ", ".join(a.groups),
            "all" if a.admin else ", ".join(a.usecases),
        )
    console().print(table)


@users.command("sync")
def sync() -> None:
    """Make Airflow's roles match the use-case specs; create the admin account (or reset its
    password) from AIRFLOW_ADMIN_PASSWORD when set. The stack runs it on every start."""
    import os

    from mlstack.airflow import access as airflow_access

    specs = _specs()
    dag_ids = {name: airflow_access.usecase_dag_ids(spec) for name, spec in specs.items()}
    password = os.environ.get("AIRFLOW_ADMIN_PASSWORD", "")
    with airflow_access.security_manager() as sm:
        report = airflow_access.sync(sm, specs, dag_ids, admin_password=password)
    for line in report.lines():
        click.echo(line)


COMMANDS = (users,)
