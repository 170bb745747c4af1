"""``mlstack init``: make the configured backends ready (buckets, tables, namespace)."""

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
    """Create the lake (bucket or folder), mlstack's tables and the Iceberg namespace.

    Idempotent: safe to run on every start.
    """
    from mlstack import lake, store
    from mlstack.settings import get_settings

    s = get_settings()
    lake.prepare(s)
    for bucket in extra_buckets:
        created = lake.ensure_bucket(bucket, s)
        click.echo(f"bucket {bucket}: {'created' if created else 'exists'}")
    store.engine(s)
    lake.catalog(s)
    click.echo(f"lake {s.lake_url}: ready")
    click.echo(f"database {store.engine(s).url.render_as_string(hide_password=True)}: tables ready")
    click.echo(f"iceberg namespace {s.iceberg_namespace}: ready")
