"""`make upgrade`'s steps (infra/stack.py ``upgrade``) in order, and the way back it prints.

Docker cannot run here: compose and docker are recorders that answer what a running stack
would (a stand-in, the only one in these tests); the migrations the steps run are tested for
real elsewhere (mlstack's in tests/integration/test_store_migration.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import ROOT

sys.path.insert(0, str(ROOT / "infra"))
import stack  # noqa: E402  (infra/stack.py)

SERVICES = {
    "postgres": {"image": "postgres:16"},
    "minio": {"image": "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"},
    "mlstack-init": {"image": "mlstack:local"},
    "mlflow": {"image": "mlstack:local", "healthcheck": {"test": ["CMD", "true"]}},
    "airflow-init": {"image": "mlstack:local"},
    "airflow-scheduler": {"image": "mlstack:local", "healthcheck": {"test": ["CMD", "true"]}},
    "gateway": {"image": "mlstack:local", "healthcheck": {"test": ["CMD", "true"]}},
}


class RecordingCompose(stack.Compose):
    """Records every compose command; answers as a healthy stack would."""

    def __init__(self, env_file: Path, fail_on: str | None = None) -> None:
        super().__init__(env_file=env_file)
        self.calls: list[tuple[str, ...]] = []
        self.fail_on = fail_on

    def run(self, *args: str, check: bool = True, capture: bool = False, **kwargs: Any) -> str:
        self.calls.append(args)
        if self.fail_on and self.fail_on in args:
            raise subprocess.CalledProcessError(1, ["docker", "compose", *args])
        if args[-3:] == ("mlstack", "db", "current"):
            return "0004_model_integrity (head is 0005_metrics_variant_not_null)\n"
        return ""

    def build(self, *args: str, tail: int = 40) -> None:
        self.run("build", *args)

    def services(self) -> dict[str, dict]:
        return SERVICES

    def containers(self) -> dict[str, dict]:
        one_shot = {"State": "exited", "ExitCode": 0}
        running = {"State": "running", "Health": "healthy"}
        return {n: running if "healthcheck" in s else one_shot for n, s in SERVICES.items()}


def _docker(calls: list[tuple[str, ...]]):
    def run(*args: str) -> str:
        calls.append(args)
        return "sha256:0ld\n" if args[:2] == ("image", "inspect") else ""

    return run


def test_upgrade_steps_in_order_then_the_way_back(tmp_path: Path, capsys) -> None:
    env = tmp_path / ".env"
    env.write_text("MLSTACK_IMAGE=mlstack:local\n")
    compose, docker_calls = RecordingCompose(env), []
    job = stack.Upgrade(compose, "make backup", stamp="20261201-190000")
    job.run_docker = _docker(docker_calls)

    job.run()

    assert docker_calls[1] == ("tag", "sha256:0ld", "mlstack:pre-upgrade-20261201-190000")
    assert docker_calls[-1] == ("image", "ls", "--format", "{{.Tag}}", "mlstack")  # after healthy
    steps = compose.calls
    assert steps[0] == ("pull", "--quiet", "minio", "postgres")  # not the project's image
    assert steps[1] == ("build",)
    stopped = ("stop", "airflow-init", "airflow-scheduler", "gateway", "mlflow", "mlstack-init")
    assert steps[2] == stopped
    assert steps[3] == ("up", "--detach", "--wait", "postgres", "minio")
    run = ("run", "--rm", "--no-deps")
    assert steps[4] == (*run, "mlstack-init", "mlstack", "db", "current")
    assert steps[5] == (*run, "airflow-init", "airflow", "db", "migrate")
    assert steps[6] == (
        *run,
        "mlflow",
        "sh",
        "-c",
        'exec mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"',
    )
    assert steps[7] == (*run, "mlstack-init", "mlstack", "db", "upgrade")
    assert steps[8] == ("up", "--detach", "--remove-orphans")
    assert job.mlstack_before == "0004_model_integrity"

    back = job.way_back()
    assert "make restore FROM=<the backup `make backup` printed above>" in back
    assert "MLSTACK_IMAGE=mlstack:pre-upgrade-20261201-190000" in back and "--no-build" in back


def test_an_upgrade_leaves_the_newest_previous_images_and_says_which_it_removed(
    tmp_path: Path, capsys
) -> None:
    env = tmp_path / ".env"
    env.write_text("MLSTACK_IMAGE=reg:5000/ml/mlstack:1.2\n")
    tags = [
        "1.2",
        "pre-upgrade-20260101-000000",
        "pre-upgrade-20261201-190000",
        "pre-upgrade-20260601-120000",
        "pre-upgrade-20260301-080000",
        "pre-upgrade-x",
    ]
    calls: list[tuple[str, ...]] = []

    def docker(*args: str) -> str:
        calls.append(args)
        if args[:2] == ("image", "inspect"):
            return "sha256:0ld\n"
        if args[:2] == ("image", "ls"):
            return "\n".join(tags) + "\n"
        if args[-1].endswith("20260301-080000"):  # a container still runs it
            raise subprocess.CalledProcessError(1, ["docker", *args], stderr="image is in use")
        return ""

    stack.upgrade(RecordingCompose(env), "make backup", keep_images=2, run_docker=docker)

    assert ("image", "ls", "--format", "{{.Tag}}", "reg:5000/ml/mlstack") in calls
    removed = [c[2] for c in calls if c[:2] == ("image", "rm")]
    # the two newest stay (the newest is this upgrade's way back); the other tags are not its
    assert removed == [
        "reg:5000/ml/mlstack:pre-upgrade-20260301-080000",
        "reg:5000/ml/mlstack:pre-upgrade-20260101-000000",
    ]
    out = capsys.readouterr().out
    assert "removed reg:5000/ml/mlstack:pre-upgrade-20260101-000000" in out
    assert (
        "kept reg:5000/ml/mlstack:pre-upgrade-20260301-080000: docker image rm refused "
        "(image is in use)" in out
    )


def test_old_images_that_cannot_be_listed_leave_the_upgrade_done(tmp_path: Path, capsys) -> None:
    env = tmp_path / ".env"
    env.write_text("")

    def docker(*args: str) -> str:
        if args[:2] == ("image", "ls"):
            raise subprocess.CalledProcessError(1, ["docker", *args])
        return "sha256:0ld\n"

    stack.upgrade(RecordingCompose(env), "make backup", run_docker=docker)  # no SystemExit
    out = capsys.readouterr().out
    assert "could not list the older kept images of mlstack" in out and "upgrade: done" in out


def test_an_upgrade_that_would_keep_no_image_is_refused_before_any_step(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("")
    compose = RecordingCompose(env)
    with pytest.raises(SystemExit, match="keep at least 1"):
        stack.upgrade(compose, "make backup", keep_images=0, run_docker=_docker([]))
    assert compose.calls == []


def test_a_failed_step_prints_the_way_back_and_fails(tmp_path: Path, capsys) -> None:
    env = tmp_path / ".env"
    env.write_text("")
    compose = RecordingCompose(env, fail_on="airflow")

    asked: list[tuple[str, ...]] = []

    def no_image(*args: str) -> str:
        asked.append(args)
        raise subprocess.CalledProcessError(1, ["docker", *args])  # none built yet

    with pytest.raises(SystemExit) as exit_:
        stack.upgrade(compose, "none: NO_BACKUP=1", run_docker=no_image)
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "upgrade: FAILED" in err and "No backup was taken" in err
    assert "mlstack db downgrade 0004_model_integrity" in err  # mlstack's tables alone
    assert "check out the previous release and `make up`" in err  # no image was kept
    assert [a[:2] for a in asked] == [("image", "inspect")]  # no older image listed or removed
    assert ("run", "--rm", "--no-deps", "mlstack-init", "mlstack", "db", "upgrade") not in (
        compose.calls
    )


def test_the_previous_image_tag_keeps_a_registry_port() -> None:
    assert stack._previous_tag("mlstack:local", "S") == "mlstack:pre-upgrade-S"
    assert stack._previous_tag("reg:5000/ml/mlstack", "S") == "reg:5000/ml/mlstack:pre-upgrade-S"
    assert stack._previous_tag("reg:5000/mlstack:1.2", "S") == "reg:5000/mlstack:pre-upgrade-S"


def test_an_image_that_cannot_be_pulled_is_used_as_this_machine_has_it(
    tmp_path: Path, capsys
) -> None:
    """No registry reachable (an air-gapped VM, or CI's stand-ins): the upgrade goes on with
    the images on this machine and says which; an image missing here too stops it."""
    env = tmp_path / ".env"
    env.write_text("MLSTACK_IMAGE=mlstack:local\n")
    compose = RecordingCompose(env, fail_on="pull")
    job = stack.Upgrade(compose, "make backup", stamp="20261201-190000")
    job.run_docker = _docker([])
    job.run()
    out = capsys.readouterr().out
    assert "could not pull postgres:16 (postgres): the image on this machine is used" in out
    assert ("pull", "--quiet", "minio") in compose.calls  # tried one by one after the failure
    assert ("up", "--detach", "--remove-orphans") in compose.calls

    def docker_without_postgres(*args: str) -> str:
        if args[:2] == ("image", "inspect") and args[-1] == "postgres:16":
            raise subprocess.CalledProcessError(1, ["docker", *args])
        return "sha256:0ld\n"

    compose = RecordingCompose(env, fail_on="pull")
    job = stack.Upgrade(compose, "make backup", stamp="20261201-190000")
    job.run_docker = docker_without_postgres
    with pytest.raises(SystemExit, match=r"cannot pull postgres:16 \(postgres\) and this machine"):
        job.run()
    assert not any(call[:1] == ("stop",) for call in compose.calls)  # nothing stopped


def test_a_failed_build_says_its_last_lines_and_dockers_free_space(tmp_path: Path) -> None:
    """The CI log shows only its end: the build's own error must reach it."""
    fake = tmp_path / "docker"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = info ]; then echo /; exit 0; fi\n'
        "for i in $(seq 1 100); do echo step $i; done\n"
        "echo 'no space left on device' ; exit 3\n"
    )
    fake.chmod(0o755)
    compose = stack.Compose(env_file=tmp_path / ".env")
    compose.extra_env = {"PATH": f"{tmp_path}:{os.environ['PATH']}"}

    with pytest.raises(stack.BuildFailed) as failed:
        compose.build(tail=5)

    message = str(failed.value)
    assert "exit 3" in message and "GB free in /" in message
    assert message.endswith("| no space left on device") and "step 97" in message
    assert "step 95" not in message


def test_the_project_image_defaults_as_the_compose_files_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLSTACK_IMAGE", raising=False)
    env = tmp_path / ".env"
    cases = {
        "": "mlstack:local",
        "MLSTACK_IMAGE=\n": "mlstack:local",
        "MLSTACK_IMAGE=reg:5000/ml/mlstack:1.2\n": "reg:5000/ml/mlstack:1.2",
    }
    for line, image in cases.items():
        env.write_text(line)
        assert stack.Compose(env_file=env).project_image() == image  # ${MLSTACK_IMAGE:-...}
