"""The record of what made a backup: lock file, installed packages, images, PostgreSQL.

A restore onto other versions may still work, but whoever restores should know which image
and lock the data were written by (the manifest's ``versions``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

#: the compose variables naming the stack's images (docker-compose.yml and the deploy overlay)
IMAGE_VARIABLES = (
    "MLSTACK_IMAGE",
    "PYTHON_IMAGE",
    "POSTGRES_IMAGE",
    "MINIO_IMAGE",
    "CADDY_IMAGE",
    "PROMETHEUS_IMAGE",
    "GRAFANA_IMAGE",
    "REDIS_IMAGE",
)
#: the packages whose versions decide the databases' schemas
SCHEMA_PACKAGES = ("mlstack", "apache-airflow", "mlflow", "pyiceberg", "sqlalchemy")
#: requirements.lock of a source checkout (absent from the image, which installs the wheels)
LOCK_FILE = Path(__file__).resolve().parents[3] / "requirements.lock"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def installed_packages() -> dict[str, str]:
    """name -> version of every installed distribution, sorted by name."""
    found = {d.metadata["Name"].lower(): d.version for d in importlib.metadata.distributions()}
    return dict(sorted(found.items()))


def record(server_version: str | None = None, lock_file: Path = LOCK_FILE) -> dict[str, Any]:
    """The versions to keep with a backup: the lock file's SHA-256 (when this runs from a
    checkout), a SHA-256 of the installed packages (equal for installs of the same lock), the
    schema-deciding packages' versions, the image names from the environment (their compose
    defaults when unset are not known here: ``null``), PostgreSQL's server version."""
    packages = installed_packages()
    lines = "".join(f"{name}=={version}\n" for name, version in packages.items())
    return {
        "requirements_lock_sha256": _sha256(lock_file.read_bytes()) if lock_file.exists() else None,
        "installed_packages_sha256": _sha256(lines.encode()),
        "packages": {name: packages.get(name) for name in SCHEMA_PACKAGES},
        "images": {name: os.environ.get(name) for name in IMAGE_VARIABLES},
        "python": platform.python_version(),
        "postgres_server": server_version,
    }
