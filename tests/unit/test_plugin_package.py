"""The example plugin package (examples/plugins/mlstack-plugin-example) as an installed
package: found through its ``mlstack.plugins`` entry point, listed with its name and version,
and each of its four plugins used by the spec tests/fixtures/usecases/plugin_example —
validated, days of JSON lines ingested through its source (a malformed line quarantined),
its task run on the ingest results, a model trained by its factory, an event written by its
notifier — on the embedded backends (local lake, SQLite, MLflow in a folder).

`make venv` installs the package (editable). Where it is not installed (a venv made before),
the fixture gives Python what an install gives it: the package's folder on ``sys.path`` and a
dist-info written from its own pyproject.toml (name, version, entry points)."""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Iterator
from datetime import date, timedelta
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlstack import lake, modeling, plugins
from mlstack.cli import main
from mlstack.exceptions import StopRun
from mlstack.spec_check import spec_problems
from mlstack.specs import load_spec
from mlstack.usecase_tasks import TaskContext

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "examples" / "plugins" / "mlstack-plugin-example"
FIXTURE = ROOT / "tests" / "fixtures" / "usecases" / "plugin_example"
PYPROJECT = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
ORIGIN = f"package {PYPROJECT['name']} {PYPROJECT['version']}"
PLUGINS = [
    ("sources", "jsonl"),
    ("models", "balanced_linear"),
    ("notifiers", "jsonl_file"),
    ("tasks", "min_rows"),
]
FIRST_DAY = date(2026, 1, 1)
DAYS = 6


def _installed() -> bool:
    try:
        metadata.distribution(PYPROJECT["name"])
    except metadata.PackageNotFoundError:
        return False
    return True


def _dist_info(site: Path) -> None:
    """The dist-info an install writes, from the package's pyproject.toml."""
    info = site / f"{PYPROJECT['name'].replace('-', '_')}-{PYPROJECT['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {PYPROJECT['name']}\nVersion: {PYPROJECT['version']}\n"
    )
    lines = ["[mlstack.plugins]"] + [
        f"{name} = {target}"
        for name, target in PYPROJECT["entry-points"][plugins.ENTRY_POINT_GROUP].items()
    ]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def _forget_modules() -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "mlstack_plugin_example"]:
        del sys.modules[name]


@pytest.fixture
def example_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The package's plugins loaded from its entry point into a registry this test owns."""
    plugins.load_builtins()  # before the copies: built-ins register once per process
    for kind in plugins.KINDS:
        monkeypatch.setitem(plugins._registry, kind, dict(plugins._registry[kind]))
        monkeypatch.setitem(plugins._origins, kind, dict(plugins._origins[kind]))
    monkeypatch.setitem(plugins._state, "entry_points", False)
    _forget_modules()
    if not _installed():
        _dist_info(tmp_path / "site")
        monkeypatch.syspath_prepend(str(tmp_path / "site"))
        monkeypatch.syspath_prepend(str(PACKAGE))
    plugins.load_entry_points()
    yield
    _forget_modules()


def test_the_package_declares_the_entry_point() -> None:
    assert PYPROJECT["entry-points"]["mlstack.plugins"] == {"example": "mlstack_plugin_example"}


def test_plugins_list_shows_each_plugin_of_the_package(
    example_package, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSTACK_USECASES_DIR", str(FIXTURE.parent))
    result = CliRunner().invoke(main, ["plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {(r["kind"], r["name"]): r["origin"] for r in json.loads(result.output)}
    for plugin in PLUGINS:
        assert rows[plugin] == ORIGIN
    assert rows[("sources", "files")] == "built-in"
    table = CliRunner().invoke(main, ["plugins", "list", "--kind", "sources", "--wide"]).output
    assert "jsonl" in table and ORIGIN in table


def test_the_spec_naming_its_plugins_is_valid(example_package) -> None:
    assert spec_problems(load_spec(FIXTURE)) == []


def test_its_source_rejects_unknown_options(example_package, tmp_path: Path) -> None:
    import yaml

    raw = yaml.safe_load((FIXTURE / "usecase.yaml").read_text())
    raw["source"]["options"]["folder"] = "x"
    folder = tmp_path / "plugin_example"
    folder.mkdir()
    (folder / "usecase.yaml").write_text(yaml.safe_dump(raw))
    assert spec_problems(load_spec(folder)) == [
        "source.options.folder: unknown option; allowed: ['prefix'] (got 'x')"
    ]


def _land_days(settings) -> None:
    """Six days of 30 events each as JSON lines; the first day also has a malformed line."""
    for n in range(DAYS):
        day = FIRST_DAY + timedelta(days=n)
        lines = [
            json.dumps(
                {
                    "event_id": f"{day}-{i}",
                    "event_date": day.isoformat(),
                    "sessions": i,
                    "spend": round(i * 1.5, 2),
                    "upgraded": int(i % 3 == 0),
                }
            )
            for i in range(30)
        ]
        if n == 0:
            lines.append("[1, 2, 3]")
        key = f"landing/plugin_example/events/day={day}/events.jsonl"
        lake.write_bytes(key, ("\n".join(lines) + "\n").encode(), settings)


def test_a_use_case_runs_on_the_packages_plugins(
    example_package, embedded_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlstack.notifications.dispatch import notify
    from mlstack.stages import catalog
    from mlstack.stages.ingest import ingest_day
    from mlstack.stages.train import train

    spec = load_spec(FIXTURE)
    _land_days(embedded_settings)
    results = []
    for n in range(DAYS):
        result = ingest_day(spec, FIRST_DAY + timedelta(days=n), settings=embedded_settings)
        catalog.record_snapshot(
            spec, "features", result.snapshot_id or 0, settings=embedded_settings
        )
        results.append(result)
    assert [r.accepted for r in results] == [30] * DAYS
    assert (results[0].malformed, results[0].rejected) == (1, 1)

    placed = spec.tasks[0]
    ctx = TaskContext(
        spec=spec,
        stage="ingest",
        position="after",
        dag_id="plugin_example__ingest",
        run_id="manual",
        day=FIRST_DAY,
        upstream={"ingest_features": results[0].to_dict()},
        options=placed.options,
    )
    assert plugins.get("tasks", placed.task)(ctx) == {"accepted": 30, "min_rows": 10}
    with pytest.raises(StopRun, match="30 rows accepted, fewer than min_rows 40"):
        plugins.get("tasks", placed.task)(
            TaskContext(**{**ctx.__dict__, "options": {"min_rows": 40}})
        )

    estimator = modeling.build_estimator(spec)
    assert (type(estimator).__name__, estimator.class_weight, estimator.C) == (
        "LogisticRegression",
        "balanced",
        0.5,
    )
    trained = train(spec, settings=embedded_settings)
    assert (trained.version, trained.rows["holdout"]) == (1, 30)
    assert 0 <= trained.metrics["holdout_roc_auc"] <= 1

    events = tmp_path / "events.jsonl"
    monkeypatch.setenv("PLUGIN_EXAMPLE_EVENTS", str(events))
    assert notify(spec, "alert", {"messages": ["drift"]}) == {"0:jsonl_file": "sent"}
    assert json.loads(events.read_text())["messages"] == ["drift"]
