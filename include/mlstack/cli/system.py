"""System commands: `mlstack init` (buckets, tables, namespace) and the deploy-mode accounts."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--extra-bucket",
    "extra_buckets",
    multiple=True,
    metavar="NAME",
    help="Another S3 bucket to create (e.g. mlflow's artifact bucket). Repeatable.",
)
def init(extra_buckets: tuple[str, ...]) -> None:
    """Create the lake (bucket or folder), mlstack's tables (or migrate them to the newest
    revision) and the Iceberg namespace.

    Idempotent: safe to run on every start.
    """
    from mlstack import lake, migrations, store
    from mlstack.settings import get_settings

    s = get_settings()
    lake.prepare(s)
    for bucket in extra_buckets:
        created = lake.ensure_bucket(bucket, s)
        click.echo(f"bucket {bucket}: {'created' if created else 'exists'}")
    store.engine(s)
    lake.catalog(s)
    click.echo(f"lake {s.lake_url}: ready")
    eng = store.engine(s)
    where = eng.url.render_as_string(hide_password=True)
    click.echo(f"database {where}: tables at revision {migrations.current(eng)}")
    click.echo(f"iceberg namespace {s.iceberg_namespace}: ready")


def _mlflow_admin(admin_user: str) -> tuple[str, str]:
    """MLflow's admin login from the environment (MLFLOW_ADMIN_PASSWORD)."""
    import os

    password = os.environ.get("MLFLOW_ADMIN_PASSWORD", "")
    if not password:
        raise click.UsageError(
            "MLFLOW_ADMIN_PASSWORD is not set: the admin's password is needed (run this in the "
            "stack's mlflow-accounts job: `docker compose run --rm mlflow-accounts mlstack ...`)"
        )
    return admin_user, password


_admin_option = click.option(
    "--admin",
    "admin_user",
    default="admin",
    show_default=True,
    help="MLflow's admin user (its password: MLFLOW_ADMIN_PASSWORD).",
)


@click.command("mlflow-accounts")
@_admin_option
def mlflow_accounts(admin_user: str) -> None:
    """Create mlstack's MLflow logins (deploy mode) or reset their passwords.

    The accounts are those with a password in the environment: MLFLOW_AIRFLOW_PASSWORD
    (role mlstack-writers: MANAGE on every experiment and model) and MLFLOW_GATEWAY_PASSWORD
    (role mlstack-readers: READ). Then each use case's ``team.users`` who have an MLflow
    account get READ on its experiment and registered model. Idempotent: the stack's
    ``mlflow-accounts`` job runs it on every start.
    """
    from mlstack import mlflow_access
    from mlstack.settings import get_settings
    from mlstack.specs import discover

    admin_user, password = _mlflow_admin(admin_user)
    accounts = mlflow_access.accounts_from_env()
    if not accounts:
        raise click.UsageError("no MLFLOW_<ACCOUNT>_PASSWORD set: nothing to create")
    uri = get_settings().mlflow_tracking_uri
    done = mlflow_access.ensure_accounts(uri, (admin_user, password), accounts)
    for account in accounts:
        click.echo(f"mlflow account {account.username}: {done[account.username]}, "
                   f"{account.permission} on every experiment and model")  # fmt: skip
    specs, _ = discover(get_settings().usecases_dir)
    grants = mlflow_access.team_grants(list(specs.values()))
    for line in mlflow_access.grant_teams(uri, (admin_user, password), grants):
        click.echo(f"mlflow team access: {line}")


@click.group("mlflow-users")
def mlflow_users() -> None:
    """People's MLflow logins (deploy mode), with READ on their teams' use cases."""


def _person(username: str, groups: tuple[str, ...], admin_user: str, password: str | None) -> None:
    """Create or update a person's MLflow login and grant what their teams may read."""
    from mlstack import mlflow_access
    from mlstack.settings import get_settings
    from mlstack.specs import discover

    s = get_settings()
    specs, _ = discover(s.usecases_dir)
    grants = mlflow_access.person_grants(list(specs.values()), username, groups)
    admin = _mlflow_admin(admin_user)
    for line in mlflow_access.add_person(s.mlflow_tracking_uri, admin, username, password, grants):
        click.echo(line)
    if not grants:
        click.echo(f"{username}: no use case names them in team.users or --group: reads nothing")


@mlflow_users.command("add")
@click.argument("username")
@click.option("--group", "groups", multiple=True, metavar="GROUP",
              help="A group its use cases name in `team.groups` (repeat).")  # fmt: skip
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@_admin_option
def mlflow_users_add(
    username: str, groups: tuple[str, ...], password_stdin: bool, admin_user: str
) -> None:
    """Create USERNAME in MLflow (or reset its password) with READ on its teams' use cases;
    print its generated password once."""
    from mlstack.cli.users import _password, _show_once

    password, generated = _password(password_stdin)
    _person(username, groups, admin_user, password)
    if generated:
        _show_once(username, password)


@mlflow_users.command("grant")
@click.argument("username")
@click.option("--group", "groups", multiple=True, metavar="GROUP",
              help="A group its use cases name in `team.groups` (repeat).")  # fmt: skip
@_admin_option
def mlflow_users_grant(username: str, groups: tuple[str, ...], admin_user: str) -> None:
    """Grant USERNAME READ on its teams' use cases again (e.g. after a new use case),
    without touching its password."""
    _person(username, groups, admin_user, None)


@click.command("db-accounts")
def db_accounts() -> None:
    """Create the stack's own database roles or reset their passwords.

    Connects as MLSTACK_DB_ADMIN_URL (the Postgres superuser, on mlstack's database). With
    MLSTACK_GATEWAY_DB_PASSWORD (deploy mode): role ``mlstack_gateway``, exactly what the
    gateway needs (write predictions and labels, read its keys, rollouts, promotion decisions
    and model digests). With MLSTACK_GRAFANA_DB_PASSWORD (observability profile): role
    ``mlstack_grafana``, read-only on the monitoring figures Grafana shows. Idempotent: the
    stack's ``db-accounts`` job runs it on every start.
    """
    import os

    from mlstack import db_access

    admin_url = os.environ.get("MLSTACK_DB_ADMIN_URL", "")
    if not admin_url:
        raise click.UsageError("MLSTACK_DB_ADMIN_URL is not set: a superuser's URL is needed")
    roles = {
        db_access.GATEWAY_ROLE: db_access.ensure_gateway_role,
        db_access.GRAFANA_ROLE: db_access.ensure_grafana_role,
    }
    wanted = {
        role: make
        for role, make in roles.items()
        if os.environ.get(db_access.PASSWORD_VARIABLES[role])
    }
    if not wanted:
        variables = " or ".join(db_access.PASSWORD_VARIABLES.values())
        raise click.UsageError(f"no {variables} set: no role to make")
    for role, make in wanted.items():
        try:
            grants = make(admin_url, os.environ[db_access.PASSWORD_VARIABLES[role]])
        except db_access.DatabaseAccessError as exc:
            raise click.ClickException(str(exc)) from exc
        for table, privileges in grants.items():
            click.echo(f"database role {role}: {', '.join(privileges)} on {table}")


@click.command("s3-accounts")
def s3_accounts() -> None:
    """Create mlstack's per-service S3 logins (deploy mode) or reset their secrets.

    Uses MinIO's admin API at MLSTACK_S3_ENDPOINT_URL with the root credentials
    (MLSTACK_S3_ACCESS_KEY_ID / MLSTACK_S3_SECRET_ACCESS_KEY): accounts mlstack-mlflow,
    mlstack-mlstack and mlstack-gateway, secrets S3_<ACCOUNT>_SECRET, each limited to its
    buckets. MLSTACK_S3_SERVICE_ACCOUNTS=external skips it (keys made in the S3 service's own
    IAM). Idempotent: the stack's ``s3-accounts`` job runs it on every start.
    """
    import os

    from mlstack import s3_access

    if os.environ.get("MLSTACK_S3_SERVICE_ACCOUNTS", "minio") == "external":
        click.echo("s3 accounts: external (made in the S3 service's own IAM); nothing to do")
        return
    try:
        accounts = s3_access.accounts_from_env(dict(os.environ))
        admin = s3_access.minio_admin(
            os.environ.get("MLSTACK_S3_ENDPOINT_URL", ""),
            os.environ.get("MLSTACK_S3_ACCESS_KEY_ID", ""),
            os.environ.get("MLSTACK_S3_SECRET_ACCESS_KEY", ""),
        )
        for line in s3_access.ensure_service_accounts(admin, accounts):
            click.echo(line)
    except s3_access.S3AccessError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("airflow-metrics")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=9464, show_default=True, help="Port: OTLP in, /metrics out.")
def airflow_metrics(host: str, port: int) -> None:
    """Receive Airflow's OpenTelemetry metrics (OTLP/HTTP, POST /v1/metrics) and serve them
    to Prometheus (GET /metrics): the stack's ``metrics-receiver`` service (observability
    profile). Airflow's components export deltas; this adds them up."""
    from mlstack.airflow_metrics import make_server

    server = make_server(host, port)
    click.echo(f"airflow-metrics: OTLP on http://{host}:{port}/v1/metrics, Prometheus on /metrics")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
