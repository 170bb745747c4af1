"""`mlflow server` as one process: the CLI becomes the uvicorn server instead of waiting on it.

`mlflow server` parses its options, puts the configuration into environment variables and
starts uvicorn as a child process, then stays alive only to forward signals and, when MLflow
jobs are enabled (the stack disables them), to run the job runner. That idle parent holds as
much memory as the server itself (~260 MiB). Here the CLI runs unchanged, with every option
and check of its own, but the final spawn is replaced by an ``exec`` of the same command with
the same environment: one process, PID 1 of the container, which gets SIGTERM directly.

    python infra/mlflow_server.py server --host=0.0.0.0 --port=5000 ...   (as `mlflow ...`)

With ``--app-name=basic-auth`` (deploy mode) it first writes MLflow's auth configuration:
logins stored in the tracking database (``MLFLOW_BACKEND_STORE_URI``; MLflow keeps them in
its own tables), no permission for an account on what it was not granted
(``NO_PERMISSIONS``), and the admin created on first start with ``MLFLOW_AUTH_ADMIN_PASSWORD``
(generated into .env; MLflow has no default to fall back on). A login that was checked is
remembered for ``MLSTACK_MLFLOW_AUTH_CACHE_S`` seconds (default 60; MLflow's
``auth_cache_ttl_seconds``, 0 = check every request): MLflow stores passwords as scrypt hashes,
and a call that checks one took 0.5–0.7 s (median, three runs) on a 2-CPU VM, which every API
call of the gateway's refresher and of every task paid before. A password changed or a user
removed through MLflow takes effect at once on the worker that handled it and within that time
on the others.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import mlflow.server
from mlflow.cli import cli

_spawn = mlflow.server._exec_cmd


def _exec_in_place(cmd: Any, *, extra_env: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """The server's spawn (asynchronous, a command list) becomes an exec; others run as before."""
    if kwargs.get("synchronous", True) or not isinstance(cmd, list):
        return _spawn(cmd, extra_env=extra_env, **kwargs)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(cmd[0], cmd, {**os.environ, **(extra_env or {})})


mlflow.server._exec_cmd = _exec_in_place

AUTH_CONFIG = """[mlflow]
default_permission = NO_PERMISSIONS
database_uri = {database_uri}
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = {auth_cache_ttl_s}
"""


def write_auth_config(argv: list[str], env: dict[str, str] | os._Environ[str]) -> str | None:
    """For the basic-auth app, the path of its configuration (written to a private temp file)."""
    if "--app-name=basic-auth" not in argv and "basic-auth" not in argv:
        return None
    import tempfile

    uri = env.get("MLFLOW_AUTH_DATABASE_URI") or env["MLFLOW_BACKEND_STORE_URI"]
    fd, path = tempfile.mkstemp(prefix="mlflow-auth-", suffix=".ini")  # mode 0600
    with os.fdopen(fd, "w") as handle:
        cache_s = int(env.get("MLSTACK_MLFLOW_AUTH_CACHE_S") or 60)
        handle.write(
            AUTH_CONFIG.format(database_uri=uri.replace("%", "%%"), auth_cache_ttl_s=cache_s)
        )
    return path


if __name__ == "__main__":
    config = write_auth_config(sys.argv[1:], os.environ)
    if config:
        os.environ["MLFLOW_AUTH_CONFIG_PATH"] = config
    sys.exit(cli())
