"""MLflow access: tracking URI, experiments, model logging, registry versions and aliases.

Every other module talks to MLflow through here, so the choices live in one place:

- **Aliases only** (``candidate``, ``challenger``, ``champion``); registry stages are
  deprecated in MLflow 3 and never used.
- **Explicit pip requirements**: ``log_model`` would otherwise infer them by loading the
  model in a subprocess (tens of seconds per model).
- **cloudpickle serialization**: MLflow 3.17 defaults to skops, which refuses estimators
  whose types are not declared trusted (random forests, hook transforms). Our models come
  from our own registry, and MLflow gates *every* format behind
  ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` anyway, so :func:`load_model` sets it for the load.
- Embedded mode (MLflow on SQLite) keeps artifacts under ``<home>/mlartifacts``, never in
  the working directory.
- **Recorded in mlstack's tables too**: each registration, tag and alias written here is also
  written to :mod:`mlstack.model_records`, which the lists read without loading MLflow;
  :func:`sync_records` copies what MLflow holds that mlstack did not write.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstack import model_records
from mlstack.exceptions import ModelNotFound
from mlstack.settings import Settings, get_settings, scoped_environ

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)

SERIALIZATION = "cloudpickle"
#: Packages a logged model needs at serving time (pinned to the versions that trained it).
MODEL_PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy", "cloudpickle")
PICKLE_ENV = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"


def configure(settings: Settings | None = None) -> str:
    """Point MLflow (tracking and registry) at the configured URI; return it."""
    import mlflow

    uri = (settings or get_settings()).mlflow_tracking_uri
    if mlflow.get_tracking_uri() != uri:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    return uri


def client(settings: Settings | None = None) -> MlflowClient:
    """An MLflow client on the configured tracking and registry URI."""
    from mlflow import MlflowClient

    uri = configure(settings)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def is_local_store(uri: str) -> bool:
    """True when MLflow runs in-process on a database or folder (no server)."""
    return not uri.startswith(("http://", "https://", "databricks"))


def experiment_id(name: str, settings: Settings | None = None) -> str:
    """Id of experiment ``name``, created if missing (artifacts under home when embedded)."""
    s = settings or get_settings()
    c = client(s)
    found = c.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if is_local_store(s.mlflow_tracking_uri):
        location = (Path(s.home) / "mlartifacts" / name).as_uri()
    log.info("Creating MLflow experiment %s", name)
    return str(c.create_experiment(name, artifact_location=location))


def pip_requirements() -> list[str]:
    """Pinned requirements of a logged model, from the installed versions (no inference)."""
    reqs = []
    for package in MODEL_PACKAGES:
        try:
            reqs.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            reqs.append(package)
    return reqs


def git_commit(cwd: Path | None = None) -> str | None:
    """The project's git commit (``MLSTACK_GIT_COMMIT`` wins), or None when unknown."""
    if os.environ.get("MLSTACK_GIT_COMMIT"):
        return os.environ["MLSTACK_GIT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def iceberg_source(table: str, snapshot_id: int, uri: str) -> Any:
    """An MLflow dataset source naming an Iceberg table at one snapshot."""
    from mlflow.data.dataset_source import DatasetSource

    class IcebergSnapshotSource(DatasetSource):
        """Iceberg table + snapshot id: read it back with ``table.scan(snapshot_id=...)``."""

        def __init__(self, table: str, snapshot_id: int, uri: str) -> None:
            self.table, self.snapshot_id, self.uri = table, snapshot_id, uri

        @staticmethod
        def _get_source_type() -> str:
            return "iceberg"

        def load(self, **kwargs: Any) -> Any:
            raise NotImplementedError("read it with mlstack.stages.train.load_frame")

        @staticmethod
        def _can_resolve(raw_source: Any) -> bool:
            return False

        @classmethod
        def _resolve(cls, raw_source: Any) -> IcebergSnapshotSource:
            raise NotImplementedError

        def to_dict(self) -> dict[str, Any]:
            return {"table": self.table, "snapshot_id": self.snapshot_id, "uri": self.uri}

        @classmethod
        def from_dict(cls, source_dict: dict[Any, Any]) -> IcebergSnapshotSource:
            return cls(source_dict["table"], source_dict["snapshot_id"], source_dict["uri"])

    return IcebergSnapshotSource(table, snapshot_id, uri)


def log_sklearn_model(
    model: Any,
    *,
    signature: Any,
    input_example: Any,
    predict_fn: str = "predict",
    infer_requirements: bool = False,
) -> Any:
    """Log ``model`` into the active run (explicit requirements unless asked to infer)."""
    import mlflow.sklearn

    kwargs: dict[str, Any] = {}
    if not infer_requirements:
        kwargs["pip_requirements"] = pip_requirements()
    return mlflow.sklearn.log_model(
        model,
        name="model",
        signature=signature,
        input_example=input_example,
        serialization_format=SERIALIZATION,
        pyfunc_predict_fn=predict_fn,
        **kwargs,
    )


def register(
    name: str, model_uri: str, tags: dict[str, str], settings: Settings | None = None
) -> ModelVersion:
    """Register ``model_uri`` as a new version of ``name`` and tag it."""
    import mlflow

    configure(settings)
    mv = mlflow.register_model(model_uri, name, tags=tags)
    model_records.record_version(name, int(mv.version), mv.run_id, tags, _created_at(mv), settings)
    return mv


def _created_at(mv: ModelVersion) -> datetime:
    return datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC)


def get_version(name: str, version: int | str, settings: Settings | None = None) -> ModelVersion:
    """One model version, or ModelNotFound listing the versions that exist."""
    from mlflow.exceptions import MlflowException

    c = client(settings)
    try:
        return c.get_model_version(name, str(version))
    except MlflowException as exc:
        known = [v.version for v in list_versions(name, settings)]
        raise ModelNotFound(f"model {name!r} has no version {version}; versions: {known}") from exc


def get_alias(name: str, alias: str, settings: Settings | None = None) -> ModelVersion | None:
    """The version holding ``alias``, or None when the alias (or the model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client(settings).get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def set_alias(name: str, alias: str, version: int | str, settings: Settings | None = None) -> None:
    """Move ``alias`` to ``version``."""
    client(settings).set_registered_model_alias(name, alias, str(version))
    model_records.record_alias(name, alias, int(version), settings)


def delete_alias(name: str, alias: str, settings: Settings | None = None) -> None:
    """Remove ``alias`` from the model (no error when it is not set)."""
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):
        client(settings).delete_registered_model_alias(name, alias)
    model_records.forget_alias(name, alias, settings)


def set_tags(
    name: str, version: int | str, tags: dict[str, Any], settings: Settings | None = None
) -> None:
    """Set tags on a model version (values stringified)."""
    c = client(settings)
    for key, value in tags.items():
        c.set_model_version_tag(name, str(version), key, str(value))
    model_records.record_tags(name, int(version), tags, settings)


def list_versions(name: str, settings: Settings | None = None) -> list[ModelVersion]:
    """Every version of ``name``, oldest first ([] when the model does not exist)."""
    found = client(settings).search_model_versions(f"name = '{name}'")
    return sorted(found, key=lambda v: int(v.version))


def aliases_of(name: str, settings: Settings | None = None) -> dict[str, int]:
    """Current aliases of a registered model: alias → version."""
    from mlflow.exceptions import MlflowException

    try:
        model = client(settings).get_registered_model(name)
    except MlflowException:
        return {}
    return {alias: int(v) for alias, v in (model.aliases or {}).items()}


def sync_records(name: str, settings: Settings | None = None) -> None:
    """Copy ``name``'s versions, tags and aliases from MLflow into mlstack's record (versions
    registered before the record existed, aliases moved in the MLflow UI)."""
    versions = [
        {
            "version": int(mv.version),
            "run_id": mv.run_id,
            "tags": dict(mv.tags),
            "created_at": _created_at(mv),
        }
        for mv in list_versions(name, settings)
    ]
    model_records.replace(name, versions, aliases_of(name, settings), settings)


@contextlib.contextmanager
def pickle_allowed() -> Iterator[None]:
    """MLflow's ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` on for the block."""
    with scoped_environ(**{PICKLE_ENV: "true"}):
        yield


def load_model(name: str, version: int | str, settings: Settings | None = None) -> Any:
    """Load a registered version as its scikit-learn object (our registry is trusted)."""
    import mlflow.sklearn

    configure(settings)
    with pickle_allowed():
        return mlflow.sklearn.load_model(f"models:/{name}/{version}")


def signature_of(name: str, version: int | str, settings: Settings | None = None) -> Any:
    """The model signature of a registered version (None when it has none)."""
    import mlflow.models

    configure(settings)
    return mlflow.models.get_model_info(f"models:/{name}/{version}").signature
