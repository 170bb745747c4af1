"""The plugin registry: built-ins, hooks.py, entry points, and clear errors for unknown names."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mlstack import plugins
from mlstack.exceptions import PluginError


def test_builtin_sources_and_simulators_are_registered() -> None:
    assert {"files", "sql", "simulator"} <= set(plugins.names("sources"))
    assert {"credit_default", "diabetes"} <= set(plugins.names("simulators"))


def test_unknown_plugin_fails_listing_known_names() -> None:
    with pytest.raises(
        PluginError, match=r"unknown sources plugin 'kafka'; known sources: files, simulator, sql"
    ):
        plugins.get("sources", "kafka")


def test_unknown_kind_fails_listing_kinds() -> None:
    with pytest.raises(PluginError, match="kinds are: sources, simulators, transforms"):
        plugins.get("widgets", "x")


def test_register_same_name_twice_fails_unless_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(plugins._registry, "notifiers", dict(plugins._registry["notifiers"]))

    @plugins.register("notifiers", "test_twice")
    def first() -> int:
        return 1

    with pytest.raises(PluginError, match="already registered"):
        plugins.register("notifiers", "test_twice")(lambda: 2)
    plugins.register("notifiers", "test_twice", replace=True)(lambda: 3)
    assert plugins.get("notifiers", "test_twice")() == 3


def test_hooks_file_registers_its_plugins(tmp_path: Path) -> None:
    hooks = tmp_path / "uc_hooks" / "hooks.py"
    hooks.parent.mkdir()
    hooks.write_text(
        "from mlstack.plugins import register\n"
        "@register('transforms', 'double_income')\n"
        "def double_income(df):\n    return df.assign(income=df.income * 2)\n"
    )
    plugins.load_hooks(hooks)
    assert "double_income" in plugins.names("transforms")


def test_broken_hooks_file_fails_naming_it(tmp_path: Path) -> None:
    hooks = tmp_path / "bad_hooks" / "hooks.py"
    hooks.parent.mkdir()
    hooks.write_text("import not_a_module_anywhere\n")
    with pytest.raises(PluginError, match=r"bad_hooks/hooks.py failed to import"):
        plugins.load_hooks(hooks)


def test_entry_point_package_adds_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "acme_mlstack.py"
    pkg.write_text(
        "from mlstack.plugins import register\n"
        "@register('notifiers', 'acme_pager')\n"
        "def acme_pager(message):\n    return message\n"
    )
    dist = tmp_path / "acme_mlstack-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-mlstack\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mlstack.plugins]\nacme = acme_mlstack\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(plugins._state, "entry_points", False)
    assert plugins.get("notifiers", "acme_pager")("hi") == "hi"
    sys.modules.pop("acme_mlstack", None)
