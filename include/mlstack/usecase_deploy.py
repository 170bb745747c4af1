"""``mlstack deploy-usecase``: a use case's folder onto the shared VM, then its DAGs re-parsed.

The target is ``[user@]host:/path/of/the/mlstack/checkout`` on the VM. The folder goes over
ssh as a tar stream (nothing but ssh and tar needed on either side) into a temporary folder
beside the checkout, which then takes the place of ``include/usecases/<name>/`` (the old
folder removed, the new one renamed in: a file deleted in the team's repository goes too).
Everything in the folder goes, so the use case's own DAG files (``<name>/dags/*.py``,
:mod:`mlstack.airflow.own_dags`) travel with its spec and hooks.
Then, in the checkout, :data:`REMOTE_COMMAND`: the use cases are baked into the project
image, so ``make up`` rebuilds it and recreates the services whose image changed (in deploy
mode it keeps the deploy overlay), and ``airflow dags reserialize`` in the dag-processor
writes the new DAGs at once — the own DAGs too: ``dags/mlstack_dags.py`` loads them from the
use-case folders. The spec is validated before anything is sent; the promotion
gates on the VM still decide what serves.
"""

from __future__ import annotations

import io
import shlex
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

from mlstack.exceptions import InvalidInput

REMOTE_COMMAND = (
    "make up && python3 infra/stack.py compose -- exec -T airflow-dag-processor "
    "airflow dags reserialize"
)
SKIPPED = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")

Runner = Callable[..., subprocess.CompletedProcess]


def parse_target(target: str) -> tuple[str, str]:
    """``host`` and ``path`` of ``[user@]host:/path``; InvalidInput saying the form."""
    host, sep, path = target.partition(":")
    if not sep or not host or not path.startswith("/"):
        raise InvalidInput(
            f"--target {target!r}: use [user@]host:/absolute/path/of/the/mlstack/checkout"
        )
    return host, path.rstrip("/") or "/"


def pack(folder: Path) -> bytes:
    """The folder as a gzipped tar of its files (caches left out), paths relative to it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if any(part in SKIPPED for part in rel.parts) or path.suffix == ".pyc":
                continue
            tar.add(path, arcname=str(rel), recursive=False)
    return buf.getvalue()


def replace_script(checkout: str, name: str) -> str:
    """The remote shell that unpacks stdin beside the checkout, then puts it in place of
    ``include/usecases/<name>``."""
    q = shlex.quote
    usecases = f"{checkout}/include/usecases"
    return (
        f"set -e; test -d {q(usecases)} || {{ echo 'no mlstack checkout at {checkout} "
        f"(no include/usecases)' >&2; exit 3; }}; "
        f'tmp=$(mktemp -d {q(checkout)}/.deploy-{name}.XXXXXX); tar -xzf - -C "$tmp"; '
        f'chmod -R a+rX "$tmp"; rm -rf {q(usecases + "/" + name)}; '
        f'mv "$tmp" {q(usecases + "/" + name)}'
    )


def deploy(
    folder: str | Path,
    target: str,
    *,
    ssh: str = "ssh",
    remote_command: str = REMOTE_COMMAND,
    run: Runner = subprocess.run,
    say: Callable[[str], None] = print,
) -> None:
    """Validate the use case in ``folder``, copy it to ``target`` and run ``remote_command``
    in the checkout there; InvalidInput with the remote's output when a step fails."""
    from mlstack.specs import load_spec
    from mlstack.usecase_checks import spec_problems_of

    folder = Path(folder).resolve()
    problems = spec_problems_of(folder)
    if problems:
        raise InvalidInput(
            f"{folder}: not deployed, the spec is invalid:\n  - " + "\n  - ".join(problems)
        )
    host, checkout = parse_target(target)
    name = folder.name
    own = [str(p.relative_to(folder)) for p in load_spec(folder).own_dag_files()]
    steps = [
        (
            f"copy {folder} to {host}:{checkout}/include/usecases/{name}"
            + (f" (its own DAG files: {', '.join(own)})" if own else ""),
            replace_script(checkout, name),
            pack(folder),
        ),
        (
            f"in {checkout}: {remote_command}",
            f"cd {shlex.quote(checkout)} && {remote_command}",
            None,
        ),
    ]
    for what, script, data in steps:
        say(what)
        done = run([*shlex.split(ssh), host, script], input=data, capture_output=True)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode("utf-8", "replace")[-3000:]
            raise InvalidInput(f"{what}: failed (exit {done.returncode}):\n{output}")
    say(f"deployed {name} to {target}")
