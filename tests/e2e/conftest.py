"""The e2e fixture: one throwaway compose stack for the session (see e2e_stack.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("e2e")) as started:
        yield started
