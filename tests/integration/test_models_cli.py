"""The model commands as a user types them: train, evaluate, list, override, rollback, and
the errors they print (exit code 2, no traceback)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from mlstack.cli import main
from train_helpers import build_lake

pytestmark = pytest.mark.integration


def cli(*args: str, code: int = 0) -> str:
    """Run ``mlstack ARGS``; return stdout (stderr too unless asking for --json)."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result.stdout if "--json" in args else result.output


def test_models_cli_train_promote_override_rollback(embedded_settings, diabetes_spec) -> None:
    build_lake(diabetes_spec, 20, embedded_settings)
    assert "diabetes v1" in cli("train", "diabetes")
    assert "champion" in cli("models", "evaluate", "diabetes", "--apply")
    again = cli("train", "diabetes", "--from-version", "1", "--json")
    assert json.loads(again)["version"] == 2
    dry = cli("models", "evaluate", "diabetes")
    assert "refused" in dry and "dry run" in dry
    cli("promote", "diabetes", "2", "--to", "champion", "--reason", "clinic asked")
    listed = json.loads(cli("models", "list", "diabetes", "--json"))
    assert [m["aliases"] for m in listed] == [[], ["champion"]]
    assert "v1: champion (rollback)" in cli("rollback", "diabetes", "--reason", "regression")
    history = cli("models", "history", "diabetes")
    assert "override" in history and "rollback" in history
    out = cli("rollback", "diabetes", code=2)
    assert "no previous champion" in out


def test_models_cli_unknown_usecase_lists_known(embedded_settings) -> None:
    out = cli("train", "nosuch", code=2)
    assert "unknown use case 'nosuch'" in out and "credit_default" in out


def test_models_cli_promote_needs_a_reason(embedded_settings) -> None:
    out = cli("promote", "diabetes", "1", code=2)
    assert "Missing option '--reason'" in out
