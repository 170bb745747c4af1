"""Settings: the one object that says where everything lives.

Read from the environment (prefix ``MLSTACK_``) and from a ``.env`` file in the working
directory. Defaults are the embedded mode: everything under a project-local ``data/``
folder (SQLite databases, a local lake folder, MLflow on SQLite). The stack sets URLs that
point at Postgres, S3 and the MLflow server; no code path depends on the mode, only on URLs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
#: include/usecases next to the package (the project layout); overridable by settings.
DEFAULT_USECASES_DIR = PACKAGE_DIR.parent / "usecases"


class Settings(BaseSettings):
    """Where mlstack keeps data, metadata and models.

    Every URL defaults to a place under ``home`` so ``make demo`` needs nothing running.
    """

    model_config = SettingsConfigDict(
        env_prefix="MLSTACK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(default=Path("data"), description="Local folder for embedded mode.")
    database_url: str = Field(
        default="", description="SQLAlchemy URL of the mlstack database (catalog, Iceberg catalog)."
    )
    lake_url: str = Field(
        default="", description="Root of the lake: file:///path or s3://bucket[/prefix]."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 API endpoint (MinIO, moto, ...); None means AWS."
    )
    s3_access_key_id: str | None = Field(default=None, description="S3 access key.")
    s3_secret_access_key: str | None = Field(default=None, description="S3 secret key.")
    s3_region: str = Field(default="us-east-1", description="S3 region.")
    mlflow_tracking_uri: str = Field(default="", description="MLflow tracking URI.")
    mlflow_ui_url: str = Field(
        default="",
        description="MLflow UI as a browser reaches it (links in the monitoring pages); "
        "default: the tracking URI when it is http(s), else no link.",
    )
    usecases_dir: Path = Field(default=DEFAULT_USECASES_DIR, description="Use-case folder.")
    iceberg_namespace: str = Field(default="mlstack", description="Iceberg namespace of tables.")
    strict: bool = Field(
        default=False, description="Fail DAG parsing on any invalid spec (CI) instead of skipping."
    )
    spec_overrides: Annotated[dict[str, dict[str, Any]], NoDecode] = Field(
        default_factory=dict,
        description="Per use case, spec sections merged over its usecase.yaml (YAML or JSON), "
        'e.g. a test-sized rollout: {"credit_default": {"rollout": {"poll_interval": "PT10S"}}}. '
        "Empty = the specs as written.",
    )

    backup_schedule: str = Field(
        default="",
        description="Schedule of the backup DAG ``mlstack__backup`` (cron or preset such as "
        "@daily); empty = no backup DAG (deploy mode sets @daily).",
    )
    backup_target: str = Field(
        default="", description="Where the backup DAG puts backups: a folder or s3://bucket/prefix."
    )
    backup_keep: int = Field(default=7, ge=1, description="Backups the backup DAG keeps.")
    backup_mlflow_database_url: str = Field(
        default="", description="MLflow's database, for the backup DAG's dump of it."
    )
    backup_mlflow_bucket: str = Field(default="mlflow", description="MLflow's artifact bucket.")

    @field_validator("spec_overrides", mode="before")
    @classmethod
    def _parse_overrides(cls, v: object) -> object:
        """Read the overrides from the environment's text (YAML, so JSON too); empty = none."""
        if not isinstance(v, str):
            return v
        if not v.strip():
            return {}
        import yaml

        try:
            parsed = yaml.safe_load(v)
        except yaml.YAMLError as exc:
            raise ValueError(f"MLSTACK_SPEC_OVERRIDES is not valid YAML/JSON: {exc}") from exc
        if not isinstance(parsed, dict) or not all(isinstance(x, dict) for x in parsed.values()):
            raise ValueError(
                "MLSTACK_SPEC_OVERRIDES must map use-case names to spec sections, e.g. "
                '{"credit_default": {"rollout": {"min_samples": 50}}}'
            )
        return parsed

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Settings:
        """Derive every unset URL from ``home`` (the embedded mode)."""
        home = self.home.expanduser().resolve()
        self.home = home
        if not self.database_url:
            self.database_url = f"sqlite:///{home / 'mlstack.db'}"
        if not self.lake_url:
            self.lake_url = (home / "lake").as_uri()
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
        if not self.mlflow_ui_url and self.mlflow_tracking_uri.startswith(("http://", "https://")):
            self.mlflow_ui_url = self.mlflow_tracking_uri
        self.mlflow_ui_url = self.mlflow_ui_url.rstrip("/")
        self.lake_url = self.lake_url.rstrip("/")
        scheme = urlparse(self.lake_url).scheme
        if scheme not in ("file", "s3"):
            from mlstack.exceptions import SettingsError

            raise SettingsError(
                f"MLSTACK_LAKE_URL={self.lake_url!r}: use file:///absolute/path or s3://bucket"
            )
        return self

    @property
    def lake_is_s3(self) -> bool:
        """True when the lake lives in an S3 bucket."""
        return self.lake_url.startswith("s3://")


@contextlib.contextmanager
def scoped_environ(**values: str | None) -> Iterator[None]:
    """Set these environment variables for the block (None: unset), then put back what each
    was before, also when the block changed it. The settings are re-read on both sides."""
    before = {name: os.environ.get(name) for name in values}
    try:
        _set_environ(values)
        yield
    finally:
        _set_environ(before)


def _set_environ(values: dict[str, str | None]) -> None:
    """Set or (None) unset each variable; the cached settings are dropped."""
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` after env changes)."""
    return Settings()
