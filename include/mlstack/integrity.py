"""Model integrity: the digest of a version's artifact files, recorded by mlstack and
checked before mlstack loads the version (gateway, monitor, promotion).

The digest is the SHA-256 of a manifest: one line ``<sha256 of the file> <relative path>``
per artifact file, sorted by path. mlstack records it in its own database (table
``model_digests``) when training registers a version (``recorded_by="train"``) and again,
with the decision, when promotion moves an alias (``"promote"``: also in
``promotion_decisions.digest`` and the version tag ``mlstack.digest``). The database is the
authority: people who can write to MLflow cannot write there; the tag is for people.

:func:`load_verified` downloads the version's files to a temporary folder, checks them
against the recorded digest, and only then loads the model from that same folder, so what
was checked is what gets unpickled. A version with no recorded digest (registered outside
mlstack) or whose files changed raises :class:`~mlstack.exceptions.ModelIntegrityError`
and is reported through the spec's notifiers (event ``alert``). What the gateway serves
must moreover have been promoted (or trusted) by mlstack, not only trained: a version
mlstack trained but whose alias someone set by hand is not served.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mlstack import registry, store
from mlstack.exceptions import ModelIntegrityError
from mlstack.settings import Settings
from mlstack.specs import UseCaseSpec

log = logging.getLogger(__name__)

TAG = "mlstack.digest"
_CHUNK = 1 << 20


def manifest(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder``, sorted by path."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        out[path.relative_to(folder).as_posix()] = h.hexdigest()
    return dict(sorted(out.items()))


def digest_of(files: dict[str, str]) -> str:
    """The digest of a manifest: SHA-256 of its ``<sha256> <path>`` lines, sorted by path."""
    text = "".join(f"{sha} {path}\n" for path, sha in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def download(name: str, version: int | str, settings: Settings, into: Path) -> Path:
    """The version's artifact files, copied into ``into`` (returns the model folder)."""
    import mlflow.artifacts

    registry.configure(settings)
    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=str(into)
        )
    )


def recorded(
    usecase: str, version: int, settings: Settings, *, promoted: bool = False
) -> str | None:
    """The digest mlstack recorded for the version (``promoted``: by a promotion or a
    ``trust``, not only by training), or None when it never did."""
    c = store.model_digests.c
    query = sa.select(c.digest).where(c.usecase == usecase, c.model_version == int(version))
    if promoted:
        query = query.where(c.recorded_by != "train")
    with store.engine(settings).connect() as conn:
        row = conn.execute(query.order_by(c.id).limit(1)).first()
    return str(row.digest) if row else None


def check(
    usecase: str, version: int, folder: Path, settings: Settings, *, promoted: bool = False
) -> str:
    """The digest of the files in ``folder`` if it is the one recorded; else
    ModelIntegrityError saying which (no record, no promotion when ``promoted``, or which
    files differ)."""
    files = manifest(folder)
    actual = digest_of(files)
    expected = recorded(usecase, version, settings)
    if expected is None:
        raise ModelIntegrityError(
            f"{usecase} v{version} has no digest recorded by mlstack: it was registered or "
            "aliased outside mlstack, so it is not loaded. Train and promote it with mlstack, "
            f"or vouch for its files with `mlstack models trust {usecase} {version}`"
        )
    if actual != expected:
        c = store.model_digests.c
        with store.engine(settings).connect() as conn:
            was = conn.execute(
                sa.select(c.manifest)
                .where(c.usecase == usecase, c.model_version == int(version))
                .order_by(c.id)
                .limit(1)
            ).scalar_one()
        changed = sorted(p for p in {*files, *was} if files.get(p) != was.get(p))
        raise ModelIntegrityError(
            f"{usecase} v{version}: its artifact files changed since mlstack recorded them "
            f"(digest {actual[:12]}, recorded {expected[:12]}; changed: {changed[:10]}). "
            "It is not loaded; find out who changed the files, then register a new version"
        )
    if promoted and recorded(usecase, version, settings, promoted=True) is None:
        raise ModelIntegrityError(
            f"{usecase} v{version} was trained by mlstack but never promoted: its alias was "
            "set outside mlstack, so it is not served. Promote it with mlstack "
            f"(`mlstack promote {usecase} {version} --reason ..`)"
        )
    return actual


def record(
    usecase: str,
    version: int,
    settings: Settings,
    *,
    recorded_by: str,
    decision_id: int | None = None,
) -> str:
    """Record the digest of the version's files now (refused when an earlier record
    differs: the files changed); also set the version tag ``mlstack.digest``."""
    with tempfile.TemporaryDirectory(prefix="mlstack-digest-") as tmp:
        files = manifest(download(usecase, version, settings, Path(tmp)))
    digest = digest_of(files)
    before = recorded(usecase, version, settings)
    if before is not None and before != digest:
        raise ModelIntegrityError(
            f"{usecase} v{version}: its artifact files changed since mlstack recorded them "
            f"(digest {digest[:12]}, recorded {before[:12]}); not recording it as {recorded_by}"
        )
    _insert(usecase, version, settings, files, recorded_by, decision_id)
    return digest


def note_promotion(usecase: str, version: int, digest: str, decision_id: int, s: Settings) -> None:
    """Record ``digest`` (already checked by :func:`verified_digest`) with a promotion."""
    c = store.model_digests.c
    with store.engine(s).connect() as conn:
        files = conn.execute(
            sa.select(c.manifest)
            .where(c.usecase == usecase, c.model_version == int(version), c.digest == digest)
            .limit(1)
        ).scalar_one()
    _insert(usecase, version, s, files, "promote", decision_id)


def _insert(
    usecase: str,
    version: int,
    settings: Settings,
    files: dict[str, str],
    recorded_by: str,
    decision_id: int | None,
) -> None:
    """A ``model_digests`` row and the version tag."""
    digest = digest_of(files)
    with store.engine(settings).begin() as conn:
        conn.execute(
            sa.insert(store.model_digests).values(
                usecase=usecase,
                model_version=int(version),
                digest=digest,
                manifest=files,
                recorded_by=recorded_by,
                decision_id=decision_id,
                created_at=datetime.now(UTC),
            )
        )
    registry.set_tags(usecase, version, {TAG: digest}, settings)


def verified_digest(spec: UseCaseSpec, version: int, settings: Settings) -> str:
    """Check the version's files against its recorded digest (download, no load); return
    the digest. Refusals are alerted like :func:`load_verified`'s."""
    with tempfile.TemporaryDirectory(prefix="mlstack-verify-") as tmp:
        folder = download(spec.name, version, settings, Path(tmp))
        return _checked(spec, version, folder, settings, False, None)


@dataclass(frozen=True)
class VerifiedModel:
    """A version loaded from files that matched its recorded digest."""

    model: Any
    signature: Any
    digest: str


def load_verified(
    spec: UseCaseSpec,
    version: int,
    settings: Settings,
    *,
    promoted: bool = False,
    alerted: set[str] | None = None,
) -> VerifiedModel:
    """Download, check, then load the version from the checked files (see the module).

    ``promoted``: the version must also have been promoted (or trusted) by mlstack, not
    only trained (what the gateway serves).

    A refusal is alerted unless its message is in ``alerted`` (which it is then added to:
    the gateway passes one set, so its check every refresh alerts once)."""
    import mlflow.models
    import mlflow.sklearn

    with tempfile.TemporaryDirectory(prefix="mlstack-load-") as tmp:
        folder = download(spec.name, version, settings, Path(tmp))
        digest = _checked(spec, version, folder, settings, promoted, alerted)
        with registry.pickle_allowed():
            model = mlflow.sklearn.load_model(str(folder))
        signature = mlflow.models.Model.load(str(folder)).signature
    return VerifiedModel(model, signature, digest)


def _checked(
    spec: UseCaseSpec,
    version: int,
    folder: Path,
    settings: Settings,
    promoted: bool,
    alerted: set[str] | None,
) -> str:
    try:
        return check(spec.name, version, folder, settings, promoted=promoted)
    except ModelIntegrityError as exc:
        log.error("Refusing to load %s", exc)
        if alerted is None or str(exc) not in alerted:
            alert(spec, version, exc)
        if alerted is not None:
            alerted.add(str(exc))
        raise


def alert(spec: UseCaseSpec, version: int, exc: ModelIntegrityError) -> None:
    """Send the refusal through the spec's notifiers (event ``alert``)."""
    from mlstack.notifications.dispatch import notify

    notify(
        spec,
        "alert",
        {
            "title": f"{spec.name} v{version}: model integrity check failed",
            "kind": "integrity",
            "model_version": int(version),
            "messages": [str(exc)],
        },
    )
