"""`mlflow server` as one process: the CLI becomes the uvicorn server instead of waiting on it.

`mlflow server` parses its options, puts the configuration into environment variables and
starts uvicorn as a child process, then stays alive only to forward signals and, when MLflow
jobs are enabled (the stack disables them), to run the job runner. That idle parent holds as
much memory as the server itself (~260 MiB). Here the CLI runs unchanged, with every option
and check of its own, but the final spawn is replaced by an ``exec`` of the same command with
the same environment: one process, PID 1 of the container, which gets SIGTERM directly.

    python infra/mlflow_server.py server --host=0.0.0.0 --port=5000 ...   (as `mlflow ...`)
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

if __name__ == "__main__":
    sys.exit(cli())
