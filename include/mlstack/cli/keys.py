"""``mlstack gateway keys create|list|revoke``: the gateway's API keys
(:mod:`mlstack.gateway.keys`)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from mlstack.cli.output import console


@click.group("keys")
def keys() -> None:
    """API keys of the gateway (required when MLSTACK_GATEWAY_REQUIRE_KEYS is on)."""


@keys.command("create")
@click.option("--name", required=True, help="Who holds the key (a team, a service).")
@click.option(
    "--usecase", "usecases", multiple=True, required=True, help="Use case (repeat; * = all)."
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["predict", "feedback"]),
    default=("predict",),
    show_default=True,
    help="What the key may do (repeat for both).",
)
@click.option("--expires", default=None, help="30d, 12h, an ISO date or datetime; default never.")
def create(
    name: str, usecases: tuple[str, ...], scopes: tuple[str, ...], expires: str | None
) -> None:
    """Create a key and print it once (only its SHA-256 is kept)."""
    from mlstack.gateway import keys as api_keys
    from mlstack.settings import get_settings

    key, text = api_keys.create(name, list(usecases), list(scopes), get_settings(), expires=expires)
    until = key.expires_at.isoformat(timespec="seconds") if key.expires_at else "never"
    console().print(
        f"key id {key.key_id} for {', '.join(key.usecases)}: {', '.join(key.scopes)}; "
        f"expires {until}"
    )
    click.echo(text)
    console().print(
        "[yellow]Shown once: store it now. Send it as `Authorization: Bearer <key>`.[/]"
    )


@keys.command("list")
def list_() -> None:
    """Every key: id, name, use cases, scopes, state, expiry (never the key)."""
    from rich.table import Table

    from mlstack.gateway import keys as api_keys
    from mlstack.settings import get_settings

    now = datetime.now(UTC)
    table = Table("key id", "name", "use cases", "scopes", "state", "created", "expires")
    for k in api_keys.list_keys(get_settings()):
        table.add_row(
            k.key_id,
            k.name,
            ", ".join(k.usecases),
            ", ".join(k.scopes),
            k.state(now),
            k.created_at.isoformat(timespec="seconds"),
            k.expires_at.isoformat(timespec="seconds") if k.expires_at else "never",
        )
    console().print(table)


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Revoke KEY_ID; gateways refuse it within MLSTACK_GATEWAY_KEY_CACHE_TTL_S seconds."""
    from mlstack.gateway import keys as api_keys
    from mlstack.settings import get_settings

    key = api_keys.revoke(key_id, get_settings())
    console().print(f"revoked {key.key_id} ({key.name})")
