"""The e2e fixtures: one throwaway compose stack for the session (see e2e_stack.py), and the
same stack switched to deploy mode with the scale profile (see deploy_mode.py), once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from deploy_mode import switch_to_deploy_mode
from e2e_stack import Stack, running_stack, stackctl


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("e2e")) as started:
        yield started


@pytest.fixture(scope="session")
def deployed(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The stack in deploy mode (Caddy's CA exported), with Celery workers."""
    compose = switch_to_deploy_mode(stack, tmp_path_factory.mktemp("s3-saved"))
    ca = stackctl.export_ca(compose, tmp_path_factory.mktemp("deploy") / "ca.crt")
    assert ca is not None and ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    password = stackctl.read_env(compose.env_file)["AIRFLOW_ADMIN_PASSWORD"]
    return {"compose": compose, "ca": ca, "password": password}
