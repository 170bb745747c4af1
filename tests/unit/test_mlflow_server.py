"""infra/mlflow_server.py's auth configuration, read back by MLflow's own reader."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mlflow.server
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra"))
_spawn = mlflow.server._exec_cmd
import mlflow_server  # noqa: E402  (infra/mlflow_server.py)

mlflow.server._exec_cmd = _spawn  # importing it replaced MLflow's spawn: not in the tests

ARGV = ["server", "--app-name=basic-auth", "--port=5000"]
DB = "postgresql://mlflow:p%40ss@postgres:5432/mlflow"


def read(env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    from mlflow.server.auth.config import read_auth_config

    path = mlflow_server.write_auth_config(ARGV, {"MLFLOW_BACKEND_STORE_URI": DB, **env})
    assert path is not None
    assert os.stat(path).st_mode & 0o077 == 0  # the database password is in it: private
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", path)
    try:
        return read_auth_config()
    finally:
        os.unlink(path)


def test_logins_are_checked_once_a_minute_not_on_every_call(monkeypatch) -> None:
    """MLflow keeps scrypt hashes (a call that checks one: 0.70 s on a 2-CPU VM); a checked login is
    remembered for 60 s unless MLSTACK_MLFLOW_AUTH_CACHE_S says otherwise (0 = every call)."""
    config = read({}, monkeypatch)
    assert config.auth_cache_ttl_seconds == 60
    assert config.default_permission == "NO_PERMISSIONS"
    assert config.database_uri == DB  # "%" survives configparser's interpolation
    assert read({"MLSTACK_MLFLOW_AUTH_CACHE_S": "0"}, monkeypatch).auth_cache_ttl_seconds == 0


def test_no_configuration_without_the_auth_app() -> None:
    assert mlflow_server.write_auth_config(["server", "--port=5000"], {}) is None
