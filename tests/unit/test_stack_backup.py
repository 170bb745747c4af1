"""`make backup`, `make restore` and `make clean` on the compose stack (infra/stack.py, without
Docker): the tools run inside the Postgres container as its superuser, the host reaches the
laptop stack's MinIO on its published port with the root credentials of .env, and `clean`
names every volume with what it holds, offers a backup, and deletes only on a yes."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from support import ROOT

sys.path.insert(0, str(ROOT / "infra"))
import stack  # noqa: E402  (infra/stack.py)


def _compose(tmp_path: Path) -> stack.Compose:
    env = tmp_path / ".env"
    env.write_text("MINIO_ROOT_USER=root\nMINIO_ROOT_PASSWORD=secret\nMINIO_PORT=9100\n")
    env.write_text(env.read_text() + "POSTGRES_IMAGE=mirror/postgres:16\n")
    return stack.Compose(env_file=env)


def test_backup_runs_pg_dump_in_the_postgres_container(tmp_path: Path) -> None:
    compose = _compose(tmp_path)
    cmd = stack.mlstack_cli(compose, "backup", "--to", "backups")
    assert cmd[1:5] == ["-m", "mlstack.cli", "backup", "--to"]
    pg_exec = shlex.split(cmd[cmd.index("--pg-exec") + 1])
    assert pg_exec[:2] == ["docker", "compose"] and pg_exec[-3:] == ["exec", "-T", "postgres"]
    assert cmd[-2:] == ["--pg-user", "postgres"]


def test_the_host_reaches_minio_on_its_published_port(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLSTACK_DEPLOY", raising=False)
    monkeypatch.delenv("POSTGRES_IMAGE", raising=False)  # the shell's would win over the file's
    env = stack.backup_environment(_compose(tmp_path))
    assert env["MLSTACK_S3_ENDPOINT_URL"] == "http://127.0.0.1:9100"
    assert env["MLSTACK_S3_ACCESS_KEY_ID"] == "root"
    assert env["MLSTACK_S3_SECRET_ACCESS_KEY"] == "secret"
    assert env["POSTGRES_IMAGE"] == "mirror/postgres:16"  # recorded with the backup


def test_clean_names_the_volumes_offers_a_backup_and_deletes_on_yes(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    compose = _compose(tmp_path)
    volumes = ["mlstack_postgres-data", "mlstack_minio-data"]
    monkeypatch.setattr(stack, "project_volumes", lambda c: volumes)
    ran: list[tuple[str, ...]] = []
    backed_up: list[str] = []

    def run(self, *args: str, **kw) -> str:
        ran.append(args)
        return "postgres\nminio\n" if args[0] == "ps" else ""

    monkeypatch.setattr(stack.Compose, "run", run)
    monkeypatch.setattr(stack, "backup_stack", lambda c, dest: backed_up.append(dest))
    answers = iter(["", "n"])
    assert not stack.clean_stack(compose, yes=False, dest="b", ask=lambda q: next(answers))
    out = capsys.readouterr().out
    assert "mlstack_postgres-data" in out and "the airflow, mlflow and mlstack databases" in out
    assert "nothing deleted" in out and backed_up == ["b"]
    assert ("down", "--volumes", "--remove-orphans") not in ran
    answers = iter(["n", "y"])
    assert stack.clean_stack(compose, yes=False, dest="b", ask=lambda q: next(answers))
    assert ran[-1] == ("down", "--volumes", "--remove-orphans") and backed_up == ["b"]
    assert stack.clean_stack(compose, yes=True, dest="b", ask=lambda q: 1 / 0)


def test_the_backup_records_every_image_the_stack_passes_it() -> None:
    """infra/stack.py (which imports no mlstack) hands the image variables to the backup,
    and mlstack.operations.versions records them: the two lists must be the same."""
    from mlstack.operations import versions

    assert versions.IMAGE_VARIABLES == stack.IMAGE_VARIABLES
