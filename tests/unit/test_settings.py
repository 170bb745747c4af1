"""mlstack.settings: the environment scoped to a block."""

from __future__ import annotations

import os

import pytest
from mlstack.settings import get_settings, scoped_environ


def test_scoped_environ_sets_unsets_and_puts_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSTACK_USECASES_DIR", "/before")
    monkeypatch.delenv("MLSTACK_STRICT", raising=False)

    with scoped_environ(MLSTACK_USECASES_DIR="/during", MLSTACK_STRICT="1"):
        assert get_settings().usecases_dir.as_posix() == "/during"
        assert os.environ["MLSTACK_STRICT"] == "1"
        os.environ["MLSTACK_USECASES_DIR"] = "/changed-inside"

    assert os.environ["MLSTACK_USECASES_DIR"] == "/before"
    assert "MLSTACK_STRICT" not in os.environ
    assert get_settings().usecases_dir.as_posix() == "/before"


def test_scoped_environ_puts_back_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLSTACK_USECASES_DIR", raising=False)

    with pytest.raises(RuntimeError), scoped_environ(MLSTACK_USECASES_DIR="/during"):
        raise RuntimeError("boom")

    assert "MLSTACK_USECASES_DIR" not in os.environ
