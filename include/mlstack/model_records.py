"""mlstack's own record of the model registry: the lists read it without loading MLflow.

MLflow stays the registry (the gateway, promotion and rollouts read it). Beside every write
:mod:`mlstack.registry` makes there — a version registered, tags set, an alias moved or
removed — it writes the same fact to the ``registry_versions`` and ``registry_aliases``
tables (:mod:`mlstack.store`). ``mlstack models list``, ``mlstack monitor show`` and the pages
read these tables: a database query instead of importing MLflow (seconds) and asking it.

What MLflow holds but mlstack did not write — versions registered before these tables
existed, aliases moved in the MLflow UI — shows after :func:`mlstack.registry.sync_records`
(``mlstack models list USECASE --registry``) copies the registry over.

The promotion decisions (``promotion_decisions``, written by :mod:`mlstack.stages.promote`)
are read here too (:func:`decisions`), for the same reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlstack import store_read
from mlstack.settings import Settings, get_settings

# --- writing (called by mlstack.registry after each MLflow write; SQLAlchemy loaded here) ------


def record_version(
    model: str,
    version: int,
    run_id: str | None,
    tags: dict[str, Any],
    created_at: datetime | None = None,
    settings: Settings | None = None,
) -> None:
    """Record (or replace) one registered version with its tags."""
    from mlstack import store

    t = store.registry_versions
    row = {
        "model": model,
        "version": int(version),
        "run_id": run_id,
        "tags": {k: str(v) for k, v in tags.items()},
        "created_at": created_at or datetime.now(UTC),
    }
    with store.engine(settings or get_settings()).begin() as conn:
        conn.execute(t.delete().where(t.c.model == model, t.c.version == int(version)))
        conn.execute(t.insert().values(**row))


def record_tags(
    model: str, version: int, tags: dict[str, Any], settings: Settings | None = None
) -> None:
    """Merge ``tags`` into a recorded version's (a version not recorded yet is added)."""
    import sqlalchemy as sa

    from mlstack import store

    t = store.registry_versions
    with store.engine(settings or get_settings()).begin() as conn:
        found = conn.execute(
            sa.select(t.c.tags).where(t.c.model == model, t.c.version == int(version))
        ).first()
        merged = {**(found.tags if found else {}), **{k: str(v) for k, v in tags.items()}}
        if found is None:
            conn.execute(
                t.insert().values(
                    model=model,
                    version=int(version),
                    run_id=None,
                    tags=merged,
                    created_at=datetime.now(UTC),
                )
            )
        else:
            conn.execute(
                t.update()
                .where(t.c.model == model, t.c.version == int(version))
                .values(tags=merged)
            )


def record_alias(model: str, alias: str, version: int, settings: Settings | None = None) -> None:
    """Record that ``alias`` now points at ``version``."""
    from mlstack import store

    t = store.registry_aliases
    with store.engine(settings or get_settings()).begin() as conn:
        conn.execute(t.delete().where(t.c.model == model, t.c.alias == alias))
        conn.execute(
            t.insert().values(
                model=model, alias=alias, version=int(version), updated_at=datetime.now(UTC)
            )
        )


def forget_alias(model: str, alias: str, settings: Settings | None = None) -> None:
    """Record that ``alias`` was removed (no error when it was not recorded)."""
    from mlstack import store

    t = store.registry_aliases
    with store.engine(settings or get_settings()).begin() as conn:
        conn.execute(t.delete().where(t.c.model == model, t.c.alias == alias))


def replace(
    model: str,
    versions: list[dict[str, Any]],
    aliases: dict[str, int],
    settings: Settings | None = None,
) -> None:
    """Replace everything recorded of ``model`` (``versions``: dicts of version, run_id,
    tags, created_at) — what :func:`mlstack.registry.sync_records` copies from MLflow."""
    from mlstack import store

    v, a = store.registry_versions, store.registry_aliases
    now = datetime.now(UTC)
    with store.engine(settings or get_settings()).begin() as conn:
        conn.execute(v.delete().where(v.c.model == model))
        conn.execute(a.delete().where(a.c.model == model))
        if versions:
            conn.execute(v.insert(), [{"model": model, **row} for row in versions])
        if aliases:
            conn.execute(
                a.insert(),
                [
                    {"model": model, "alias": k, "version": int(n), "updated_at": now}
                    for k, n in aliases.items()
                ],
            )


# --- reading --------------------------------------------------------------------------------


def aliases(model: str, settings: Settings | None = None) -> dict[str, int]:
    """The recorded aliases of ``model``: alias → version."""
    found = store_read.rows(
        "SELECT alias, version FROM registry_aliases WHERE model = :model",
        {"model": model},
        settings,
    )
    return {r["alias"]: int(r["version"]) for r in found}


def version_row(
    version: int,
    run_id: str | None,
    tags: dict[str, str],
    created_at: datetime,
    aliases: list[str],
) -> dict[str, Any]:
    """One model version as the lists show it: aliases, primary metric and value, data
    snapshots, holdout days, promotion outcome and reason (from mlstack's version tags)."""
    return {
        "version": int(version),
        "aliases": sorted(aliases),
        "run_id": run_id,
        "metric": tags.get("mlstack.primary_metric"),
        "value": float(tags["mlstack.primary_value"]) if "mlstack.primary_value" in tags else None,
        "features_snapshot": tags.get("mlstack.features_snapshot"),
        "labels_snapshot": tags.get("mlstack.labels_snapshot"),
        "holdout_days": tags.get("mlstack.holdout_days"),
        "promotion": tags.get("mlstack.promotion"),
        "reason": tags.get("mlstack.promotion_reason", ""),
        "created_at": created_at,
    }


def list_models(model: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every recorded version of ``model``, oldest first, shaped by :func:`version_row`."""
    s = settings or get_settings()
    by_version: dict[int, list[str]] = {}
    for alias, n in aliases(model, s).items():
        by_version.setdefault(n, []).append(alias)
    found = store_read.rows(
        "SELECT version, run_id, tags, created_at FROM registry_versions WHERE model = :model "
        "ORDER BY version",
        {"model": model},
        s,
    )
    return [
        version_row(
            r["version"], r["run_id"], r["tags"], r["created_at"], by_version.get(r["version"], [])
        )
        for r in found
    ]


def decisions(
    usecase: str, settings: Settings | None = None, *, limit: int = 50
) -> list[dict[str, Any]]:
    """The latest promotion decisions of a use case, newest first."""
    return store_read.rows(
        "SELECT id, usecase, model_version, run_id, action, outcome, compared_with, "
        "previous_champion, reasons, gates, metrics, actor, created_at, digest "
        "FROM promotion_decisions WHERE usecase = :usecase ORDER BY id DESC LIMIT :limit",
        {"usecase": usecase, "limit": limit},
        settings,
    )
