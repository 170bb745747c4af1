"""Use-case specs: valid specs load; wrong ones fail naming file, field and what is allowed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from mlstack.exceptions import SpecError
from mlstack.specs import discover, get_spec, load_spec

ROOT = Path(__file__).resolve().parents[2]
USECASES = ROOT / "include" / "usecases"


def write_spec(tmp_path: Path, name: str, **changes: object) -> Path:
    """A copy of the demo spec with top-level changes, in a folder named ``name``."""
    raw = yaml.safe_load((USECASES / "credit_default" / "usecase.yaml").read_text())
    raw.update(changes)
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "usecase.yaml").write_text(yaml.safe_dump(raw))
    return folder / "usecase.yaml"


def test_builtin_specs_are_valid() -> None:
    specs, errors = discover(USECASES)
    assert not errors
    assert {"credit_default", "diabetes"} <= set(specs)
    assert specs["credit_default"].task == "classification"
    assert specs["diabetes"].task == "regression"


def test_spec_with_separate_labels_has_features_without_target(credit_spec) -> None:
    assert credit_spec.datasets() == ["features", "labels"]
    assert "defaulted" not in credit_spec.dataset_schema("features").columns
    labels = credit_spec.dataset_schema("labels")
    assert set(labels.columns) == {"application_id", "defaulted", "label_date"}


def test_spec_unknown_key_fails_naming_field(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "credit_default", ownr="typo")
    with pytest.raises(
        SpecError, match=r"(?s)usecase.yaml.*ownr: unknown key; allowed keys here: \[.*'owner'"
    ):
        load_spec(path)


def test_spec_wrong_task_lists_allowed_values(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "credit_default", task="clustering")
    with pytest.raises(SpecError, match=r"task: Input should be 'classification' or 'regression'"):
        load_spec(path)


def test_spec_column_type_unknown_fails_with_allowed_types(tmp_path: Path) -> None:
    raw = yaml.safe_load((USECASES / "credit_default" / "usecase.yaml").read_text())
    raw["schema"]["columns"]["age"] = {"type": "integer"}
    path = write_spec(tmp_path, "credit_default", schema=raw["schema"])
    with pytest.raises(
        SpecError, match=r"schema\.columns\.age\.type: Input should be 'string', 'int'"
    ):
        load_spec(path)


def test_spec_role_naming_missing_column_fails(tmp_path: Path) -> None:
    raw = yaml.safe_load((USECASES / "credit_default" / "usecase.yaml").read_text())
    raw["schema"]["id_column"] = "loan_id"
    path = write_spec(tmp_path, "credit_default", schema=raw["schema"])
    with pytest.raises(SpecError, match=r"id_column 'loan_id' is not a column; columns are"):
        load_spec(path)


def test_spec_category_without_categories_fails(tmp_path: Path) -> None:
    raw = yaml.safe_load((USECASES / "credit_default" / "usecase.yaml").read_text())
    raw["schema"]["columns"]["region"] = {"type": "category"}
    path = write_spec(tmp_path, "credit_default", schema=raw["schema"])
    with pytest.raises(SpecError, match="needs a non-empty 'categories' list"):
        load_spec(path)


def test_spec_name_must_match_folder(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "other_name")
    with pytest.raises(SpecError, match="must match its folder name 'other_name'"):
        load_spec(path)


def test_spec_invalid_yaml_fails_with_file(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "usecase.yaml").write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken/usecase.yaml: not valid YAML"):
        load_spec(folder)


def test_discover_skips_broken_spec_and_keeps_others(tmp_path: Path) -> None:
    write_spec(tmp_path, "credit_default")
    write_spec(tmp_path, "broken_one", task="nope").rename(tmp_path / "broken_one" / "usecase.yaml")
    specs, errors = discover(tmp_path)
    assert list(specs) == ["credit_default"]
    assert list(errors) == ["broken_one"]


def test_get_spec_unknown_lists_known() -> None:
    with pytest.raises(SpecError, match=r"unknown use case 'nope'.*credit_default"):
        get_spec("nope", USECASES)


def test_spec_nested_unknown_key_lists_allowed_keys(tmp_path: Path) -> None:
    raw = yaml.safe_load((USECASES / "credit_default" / "usecase.yaml").read_text())
    raw["schema"]["columns"]["age"]["nullabel"] = False
    path = write_spec(tmp_path, "credit_default", schema=raw["schema"])
    with pytest.raises(
        SpecError,
        match=r"schema\.columns\.age\.nullabel: unknown key; allowed keys here: .*'nullable'",
    ):
        load_spec(path)


def test_spec_overrides_merge_over_the_file_for_that_use_case_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import timedelta

    from mlstack.settings import get_settings

    overrides = '{"credit_default": {"rollout": {"poll_interval": "PT10S", "stages": [0.5]}}}'
    monkeypatch.setenv("MLSTACK_SPEC_OVERRIDES", overrides)
    get_settings.cache_clear()
    specs, errors = discover(USECASES)
    assert not errors
    rollout = specs["credit_default"].rollout
    assert rollout.poll_interval == timedelta(seconds=10)
    assert rollout.stages == [0.5]
    assert rollout.min_samples == 500  # the file's value, not replaced by the override
    assert specs["diabetes"].rollout == get_spec("diabetes", USECASES).rollout


def test_spec_overrides_empty_means_the_specs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlstack.settings import get_settings

    monkeypatch.setenv("MLSTACK_SPEC_OVERRIDES", "")
    get_settings.cache_clear()
    assert get_settings().spec_overrides == {}
    assert get_spec("credit_default", USECASES).rollout.min_samples == 500


def test_spec_override_invalid_value_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlstack.settings import get_settings

    monkeypatch.setenv("MLSTACK_SPEC_OVERRIDES", "{credit_default: {rollout: {min_samples: 0}}}")
    get_settings.cache_clear()
    with pytest.raises(
        SpecError,
        match=r"(?s)rollout\.min_samples: .*with MLSTACK_SPEC_OVERRIDES for credit_default",
    ):
        get_spec("credit_default", USECASES)


def test_spec_overrides_not_a_mapping_of_sections_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlstack.settings import Settings

    monkeypatch.setenv("MLSTACK_SPEC_OVERRIDES", '{"credit_default": 3}')
    with pytest.raises(ValueError, match="must map use-case names to spec sections"):
        Settings()


# --- values the DAGs and stages cannot use fail at load time, naming file, field and value --


def write_nested(tmp_path: Path, section: str, key: str, value: object) -> Path:
    raw = yaml.safe_load((USECASES / "credit_default" / "usecase.yaml").read_text())
    raw.setdefault(section, {})[key] = value
    return write_spec(tmp_path, "credit_default", **{section: raw[section]})


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("schedule",), "every day please", r"schedule: not a schedule Airflow understands"),
        (("schedule",), "61 * * * *", r"schedule: not a schedule"),
        (("schedule",), "@fortnightly", r"or one of \['@hourly', .*'@once', '@continuous'\]"),
        (("training", "schedule"), "weekly", r"training\.schedule: not a schedule"),
        (("training", "schedule"), "@once", r"training\.schedule: not a schedule"),
        (("monitoring", "schedule"), "daily", r"monitoring\.schedule: not a schedule"),
        (("rollout", "max_duration"), "-P45D", r"rollout\.max_duration: must be a positive"),
        (("rollout", "poll_interval"), "PT0S", r"rollout\.poll_interval: must be a positive"),
    ],
)
def test_spec_unusable_schedule_or_duration_fails_naming_field_and_value(
    tmp_path: Path, where: tuple[str, ...], value: str, message: str
) -> None:
    if len(where) == 1:
        path = write_spec(tmp_path, "credit_default", **{where[0]: value})
    else:
        path = write_nested(tmp_path, where[0], where[1], value)
    with pytest.raises(
        SpecError, match=rf"(?s)usecase.yaml.*{message}.*\(got {re.escape(repr(value))}\)"
    ):
        load_spec(path)


@pytest.mark.parametrize("value", ["0 3 * * *", "*/15 * * * *", "@weekly", None])
def test_spec_cron_and_preset_schedules_load(tmp_path: Path, value: str | None) -> None:
    path = write_nested(tmp_path, "training", "schedule", value)
    assert load_spec(path).training.schedule == value


@pytest.mark.parametrize("name", ["_line", "_comment", "_ingested_at"])
def test_spec_reserved_column_name_fails(tmp_path: Path, name: str) -> None:
    raw = yaml.safe_load((USECASES / "credit_default" / "usecase.yaml").read_text())
    raw["schema"]["columns"][name] = {"type": "string"}
    path = write_spec(tmp_path, "credit_default", schema=raw["schema"])
    with pytest.raises(
        SpecError, match=rf"schema: column name\(s\) \['{name}'\]: names starting with '_' are"
    ):
        load_spec(path)


def test_spec_reserved_label_column_name_fails(tmp_path: Path) -> None:
    raw = yaml.safe_load((USECASES / "credit_default" / "usecase.yaml").read_text())
    raw["labels"]["timestamp_column"] = "_when"
    path = write_spec(tmp_path, "credit_default", labels=raw["labels"])
    with pytest.raises(SpecError, match=r"labels: column name\(s\) \['_when'\]: names starting"):
        load_spec(path)


def test_spec_empty_day_must_be_fail_or_record(tmp_path: Path) -> None:
    raw = yaml.safe_load((USECASES / "credit_default" / "usecase.yaml").read_text())
    raw["source"]["empty_day"] = "skip"
    path = write_spec(tmp_path, "credit_default", source=raw["source"])
    with pytest.raises(SpecError, match=r"source.empty_day: Input should be 'fail' or 'record'"):
        load_spec(path)


# --- team: who sees and runs a use case in deploy mode ---------------------------------------


def test_spec_team_names_users_and_groups(tmp_path: Path) -> None:
    team = {"users": ["alice", "bob.smith@example.org"], "groups": ["risk-data-science"]}
    spec = load_spec(write_spec(tmp_path, "credit_default", team=team))
    assert spec.team.users == ["alice", "bob.smith@example.org"]
    assert spec.team.groups == ["risk-data-science"]
    assert get_spec("credit_default", USECASES).team.groups == ["risk-data-science"]


def test_spec_without_team_has_nobody_but_admins(tmp_path: Path) -> None:
    raw = yaml.safe_load((USECASES / "credit_default" / "usecase.yaml").read_text())
    raw.pop("team")
    folder = tmp_path / "credit_default"
    folder.mkdir()
    (folder / "usecase.yaml").write_text(yaml.safe_dump(raw))
    team = load_spec(folder / "usecase.yaml").team
    assert (team.users, team.groups) == ([], [])


@pytest.mark.parametrize(
    ("team", "message"),
    [
        ({"users": ["al ice"]}, r"team.users: user names \['al ice'\] are not Airflow logins"),
        ({"users": ["-x"]}, r"team.users: user names \['-x'\] are not Airflow logins"),
        ({"users": ["a" * 65]}, r"team.users: .*at most 64 characters"),
        ({"users": ["alice", "alice"]}, r"team.users: users \['alice'\] listed twice"),
        ({"groups": ["Risk"]}, r"team.groups: group names \['Risk'\] are not allowed: lower"),
        ({"groups": ["g" * 59]}, r"team.groups: .*at most 58 characters"),
        ({"groups": ["risk", "risk"]}, r"team.groups: groups \['risk'\] listed twice"),
        ({"members": ["alice"]}, r"team.members: unknown key; allowed keys here: \['groups', "),
        (["alice"], r"team: Input should be a valid dictionary"),
    ],
)
def test_spec_team_wrong_names_fail_saying_what_is_allowed(
    tmp_path: Path, team: object, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(write_spec(tmp_path, "credit_default", team=team))


def test_spec_name_fits_its_airflow_role(tmp_path: Path) -> None:
    def named(name: str) -> Path:
        path = write_spec(tmp_path, name)
        path.write_text(path.read_text().replace("name: credit_default", f"name: {name}"))
        return path

    # usecase:<name> would pass Airflow's 64-character role names
    with pytest.raises(SpecError, match=r"name: .*max 56: its Airflow role usecase:<name>"):
        load_spec(named("u" * 57))
    assert load_spec(named("u" * 56)).name == "u" * 56
