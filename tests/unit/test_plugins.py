"""The plugin registry: built-ins, hooks.py, entry points, and clear errors for unknown names."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from mlstack import plugins
from mlstack.exceptions import PluginError


def test_builtin_sources_and_simulators_are_registered() -> None:
    assert {"files", "sql", "simulator"} <= set(plugins.names("sources"))
    assert {"credit_default", "diabetes"} <= set(plugins.names("simulators"))


def test_unknown_plugin_fails_listing_known_names() -> None:
    plugins.load_entry_points()  # an installed plugin package adds its sources to the list
    known = ", ".join(plugins.names("sources"))
    assert {"files", "simulator", "sql"} <= set(plugins.names("sources"))
    with pytest.raises(
        PluginError, match=rf"unknown sources plugin 'kafka'; known sources: {re.escape(known)}$"
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


# --- names a spec gives plugins: checked by `mlstack usecases validate` ---------------------

USECASES = Path(__file__).resolve().parents[2] / "include" / "usecases"


def spec_with(tmp_path: Path, change) -> Path:
    """A copy of the demo spec with ``change(raw)`` applied, in its own folder."""
    import yaml

    raw = yaml.safe_load((USECASES / "credit_default" / "usecase.yaml").read_text())
    change(raw)
    folder = tmp_path / "credit_default"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "usecase.yaml").write_text(yaml.safe_dump(raw))
    return folder


def _set(*path: str, value: object):
    def change(raw: dict) -> None:
        node = raw
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    return change


#: Names an installed plugin package (the example one after `make venv`) adds to a sorted list.
ANY_NAMES = r"(\w+, )*"

BAD_REFERENCES = [
    (
        _set("training", "model", "estimator", value="xgboost_magic"),
        r"training.model.estimator: unknown estimator 'xgboost_magic': not a models plugin \("
        + ANY_NAMES
        + r"decision_tree, .*\) nor an import path",
    ),
    (
        _set("training", "model", "estimator", value="sklearn.ensemble.NoSuchForest"),
        r"training.model.estimator: unknown estimator 'sklearn.ensemble.NoSuchForest'",
    ),
    (
        _set("training", "model", "params", value={"max_iterr": 3}),
        r"training.model.params: .*bad params \['max_iterr'\]",
    ),
    (
        _set("training", "transforms", value=["add_ratio"]),
        r"training.transforms\[0\]: unknown transforms plugin 'add_ratio'",
    ),
    (
        _set("rollout", "notifier", value="pager"),
        r"rollout.notifier: unknown notifiers plugin 'pager'; known notifiers: .*email, "
        + ANY_NAMES
        + "log",
    ),
    (
        _set("monitoring", "notifiers", value=[{"kind": "teams"}]),
        r"monitoring.notifiers\[0\].kind: unknown notifiers plugin 'teams'",
    ),
    (
        _set("labels", "source", "kind", value="kafka"),
        r"labels.source.kind: unknown sources plugin 'kafka'; known sources: files, "
        + ANY_NAMES
        + "simulator, sql",
    ),
    (
        _set("source", "options", "format", value="xlsx"),
        r"source.options.format: Input should be 'csv' or 'parquet' \(got 'xlsx'\)",
    ),
    (
        _set("source", "options", "delimitr", value=";"),
        r"source.options.delimitr: unknown option; allowed: \['compression', 'delimiter'",
    ),
    (
        _set("source", "options", "encoding", value="klingon"),
        r"source.options.encoding: unknown text encoding.*\(got 'klingon'\)",
    ),
    (
        _set("source", "options", "delimiter", value=";;"),
        r"source.options.delimiter: must be one character",
    ),
    (
        _set("source", "options", "prefix", value=None),
        r"source.options.prefix: Input should be a valid string",
    ),
    (
        _set("training", "primary_metric", value="rmse"),
        r"training.primary_metric: metric 'rmse' is for regression, not classification; use one "
        r"of \['accuracy'",
    ),
    (
        _set("training", "primary_metric", value="auc"),
        r"training.primary_metric: unknown metrics plugin 'auc'; known metrics: accuracy",
    ),
    (
        _set("training", "metrics", value=["pr_auc", "accuracy_score"]),
        r"training.metrics\[1\]: unknown metrics plugin 'accuracy_score'",
    ),
    (
        _set("retraining", "metric", value="rmse"),
        r"retraining.metric: 'rmse' cannot be watched for classification; allowed: \['roc_auc'",
    ),
    (
        _set("simulator", "plugin", value="nope"),
        r"simulator.plugin: unknown simulators plugin 'nope'",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD_REFERENCES)
def test_usecases_validate_rejects_unknown_plugin_names_naming_file_and_field(
    tmp_path: Path, change, message: str
) -> None:
    from click.testing import CliRunner
    from mlstack.cli import main

    folder = spec_with(tmp_path, change)
    result = CliRunner().invoke(main, ["usecases", "validate", str(folder)])
    assert result.exit_code == 1
    assert f"{folder}/usecase.yaml: invalid use-case spec (1 problem(s))" in result.output
    assert re.search(message, result.output), result.output


def test_usecases_validate_builtin_specs_are_valid() -> None:
    from click.testing import CliRunner
    from mlstack.cli import main

    result = CliRunner().invoke(main, ["usecases", "validate", *map(str, USECASES.iterdir())])
    assert result.exit_code == 0, result.output
    assert result.output.count(": valid") == len(list(USECASES.iterdir()))


def test_spec_problems_import_path_estimator_is_accepted(tmp_path: Path) -> None:
    from mlstack.spec_check import spec_problems
    from mlstack.specs import load_spec

    folder = spec_with(
        tmp_path,
        _set("training", "model", value={"estimator": "sklearn.linear_model.LogisticRegression"}),
    )
    assert spec_problems(load_spec(folder)) == []


def test_get_for_names_the_spec_file_and_field(credit_spec) -> None:
    with pytest.raises(PluginError, match=r"usecase.yaml: labels.source.kind: unknown sources"):
        plugins.get_for(credit_spec, "sources", "kafka", "labels.source.kind")


def test_build_estimator_error_names_the_spec_file_and_field(tmp_path: Path) -> None:
    from mlstack import modeling
    from mlstack.specs import load_spec

    folder = spec_with(tmp_path, _set("training", "model", "estimator", value="nope.Missing"))
    with pytest.raises(
        PluginError, match=r"credit_default/usecase.yaml: training.model: unknown estimator"
    ):
        modeling.build_estimator(load_spec(folder))


def test_listing_names_where_each_plugin_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mlstack plugins list``: built-ins, an installed package (found through its real
    dist-info entry point, with its version) and a use case's hooks file, each named."""
    for kind in ("notifiers", "transforms"):
        monkeypatch.setitem(plugins._registry, kind, dict(plugins._registry[kind]))
        monkeypatch.setitem(plugins._origins, kind, dict(plugins._origins[kind]))
    site = tmp_path / "site"
    (site / "mlstack_listing_pkg").mkdir(parents=True)
    (site / "mlstack_listing_pkg" / "__init__.py").write_text(
        "from mlstack.plugins import register\n"
        "@register('notifiers', 'listing_pager')\n"
        "def pager(alert): return None\n"
    )
    info = site / "mlstack_listing_pkg-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mlstack-listing-pkg\nVersion: 1.2.3\n"
    )
    (info / "entry_points.txt").write_text("[mlstack.plugins]\nlisting = mlstack_listing_pkg\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(plugins._state, "entry_points", False)
    hooks = tmp_path / "uc" / "hooks.py"
    hooks.parent.mkdir()
    hooks.write_text(
        "from mlstack.plugins import register\n"
        "@register('transforms', 'listing_ratio')\n"
        "def ratio(df): return df\n"
    )
    plugins.load_hooks(hooks)
    origins = {(kind, name): origin for kind, name, origin in plugins.listing()}
    assert origins[("sources", "files")] == "built-in"
    assert origins[("notifiers", "listing_pager")] == "package mlstack-listing-pkg 1.2.3"
    assert origins[("transforms", "listing_ratio")] == f"hooks file {hooks.resolve()}"
    sys.modules.pop("mlstack_listing_pkg", None)


def test_the_same_use_cases_hooks_read_again_replace_their_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A use case made anew (same folder name, e.g. ``usecases new`` twice in one process)
    reads its hooks again: the same functions replace themselves; another name still fails."""
    monkeypatch.setitem(plugins._registry, "transforms", dict(plugins._registry["transforms"]))
    monkeypatch.setitem(plugins._origins, "transforms", dict(plugins._origins["transforms"]))
    code = "from mlstack.plugins import register\n@register('transforms', 'again_ratio')\n"
    for run in ("one", "two"):
        hooks = tmp_path / run / "again" / "hooks.py"
        hooks.parent.mkdir(parents=True)
        hooks.write_text(code + f"def ratio(df): return {run!r}\n")
        plugins.load_hooks(hooks)
    assert plugins.get("transforms", "again_ratio")(None) == "two"
    other = tmp_path / "three" / "again" / "hooks.py"
    other.parent.mkdir(parents=True)
    other.write_text(code + "def other(df): return df\n")
    with pytest.raises(PluginError, match="already registered"):
        plugins.load_hooks(other)
    sys.modules.pop("mlstack_hooks_again", None)
