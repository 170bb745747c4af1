"""The files ``mlstack usecases new`` writes besides the spec: hooks, the use case's own
tests, and the CI templates of the team's repository (GitHub Actions and GitLab CI).

Both CI files run the same :data:`CI_STEPS` (named commands) and deploy with the same
:data:`DEPLOY_STEP` on the main branch; this project's tests run the steps of the GitHub
workflow, as written, on a scaffolded use case.
"""

from __future__ import annotations

import json

HOOKS = '''\
"""Hooks of the {name} use case: plugins its spec can name (transforms, tasks, models, ...)."""

from mlstack.plugins import register


@register("transforms", "{name}_features")
def features(frame):
    """Derive model features from the validated rows (list it in training.transforms)."""
    return frame
'''

TESTS = '''\
"""The {name} use case's own tests (written by `mlstack usecases new`): the spec is valid,
the hooks import, a tiny model trains on the sample rows. Run: python -m pytest {tests_dir}"""

from pathlib import Path

import pytest
from mlstack import usecase_checks

FOLDER = Path(__file__).resolve().parent.parent


def test_spec_is_valid():
    assert usecase_checks.spec_problems_of(FOLDER) == []


def test_hooks_import():
    usecase_checks.import_hooks(FOLDER)


def test_tiny_train_on_sample_rows():
    if usecase_checks.sample_file(FOLDER) is None:
        pytest.skip("no sample rows: add tests/sample.csv (a few days of rows as delivered)")
    metrics = usecase_checks.tiny_train(FOLDER)
    assert any(name.startswith("holdout_") for name in metrics), metrics
'''

#: The CI's checks, in order: (step name, shell command). Run from the team repository's
#: root, with ``MLSTACK_USECASES_DIR`` (the folder of its use cases) and ``USECASE`` set.
CI_STEPS: list[tuple[str, str]] = [
    ("Validate specs", "mlstack usecases validate"),
    ("Use-case tests", 'python -m pytest "$MLSTACK_USECASES_DIR/$USECASE/tests" -q'),
    ("Parse the DAGs", "mlstack usecases check-dags"),
    (
        "Train a candidate on the sample",
        'MLSTACK_HOME="$CI_TEMP/mlstack" mlstack usecases trial "$USECASE"',
    ),
]
INSTALL_STEP = ("Install mlstack", 'python -m pip install "$MLSTACK_PIP_SPEC" pytest')
DEPLOY_STEP = (
    "Deploy to the shared VM",
    'mlstack deploy-usecase "$MLSTACK_USECASES_DIR/$USECASE" --target "$MLSTACK_DEPLOY_TARGET" '
    '--ssh "ssh -i $CI_TEMP/deploy_key -o StrictHostKeyChecking=accept-new"',
)
KEY_STEP = (
    'mkdir -p "$CI_TEMP" && install -m 600 /dev/null "$CI_TEMP/deploy_key" && '
    'printf \'%s\\n\' "$SSH_KEY" > "$CI_TEMP/deploy_key"'
)

_HEADER = """\
# CI/CD of the {name} use case, written by `mlstack usecases new` (see mlstack's README,
# "CI/CD for a use case"). In the team's repository this folder is
# {usecases_dir}/{name}/; copy this file to {dest}.
# On every push and merge request: validate the specs, run the use case's tests, parse the
# DAGs (the generated ones, or with `dags: {{own: [...]}}` your own from this folder's
# dags/*.py), train a candidate on tests/sample.* (in a throwaway embedded mlstack). On main,
# deploy the folder, its own DAG files included, to the shared VM (`mlstack deploy-usecase`);
# the promotion gates there still decide what serves.
# Settings ({where}):
#   MLSTACK_PIP_SPEC        how to install mlstack, e.g. mlstack @ git+https://git.example.org/ml/mlstack@main
#   MLSTACK_DEPLOY_TARGET   user@vm:/path/of/the/mlstack/checkout on the shared VM
#   MLSTACK_DEPLOY_SSH_KEY  (secret) a private key that logs in there
"""


def _run(command: str) -> str:
    """A YAML scalar for a shell command (double-quoted JSON is valid YAML)."""
    return json.dumps(command)


def github_workflow(name: str, usecases_dir: str) -> str:
    """The GitHub Actions workflow of one use case."""
    steps = [INSTALL_STEP, *CI_STEPS]
    setup = """\
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
"""
    check = "".join(f"      - name: {n}\n        run: {_run(c)}\n" for n, c in steps)
    deploy = "".join(
        f"      - name: {n}\n        run: {_run(c)}\n"
        for n, c in [INSTALL_STEP, ("Deploy key", KEY_STEP), DEPLOY_STEP]
    )
    return (
        _HEADER.format(
            name=name,
            usecases_dir=usecases_dir,
            dest=f".github/workflows/mlstack-{name}.yml",
            where="repository variables and secrets",
        )
        + f"""\
name: mlstack {name}
on:
  push: {{branches: [main]}}
  pull_request:
env:
  MLSTACK_USECASES_DIR: {usecases_dir}
  USECASE: {name}
  MLSTACK_PIP_SPEC: ${{{{ vars.MLSTACK_PIP_SPEC }}}}
  CI_TEMP: /tmp/mlstack-ci   # scratch: the trial's throwaway mlstack, the deploy key
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
{setup}{check}  deploy:
    needs: check
    if: github.ref == 'refs/heads/main' && github.event_name == 'push'
    runs-on: ubuntu-latest
    env:
      MLSTACK_DEPLOY_TARGET: ${{{{ vars.MLSTACK_DEPLOY_TARGET }}}}
      SSH_KEY: ${{{{ secrets.MLSTACK_DEPLOY_SSH_KEY }}}}
    steps:
{setup}{deploy}"""
    )


def gitlab_ci(name: str, usecases_dir: str) -> str:
    """The GitLab CI file of one use case (the same steps as the GitHub workflow)."""
    check = "".join(f"    - {_run(c)}  # {n}\n" for n, c in [INSTALL_STEP, *CI_STEPS])
    return (
        _HEADER.format(
            name=name,
            usecases_dir=usecases_dir,
            dest=".gitlab-ci.yml (or include it from there)",
            where="CI/CD variables; the key as a masked variable",
        )
        + f"""\
variables:
  MLSTACK_USECASES_DIR: {usecases_dir}
  USECASE: {name}
  CI_TEMP: /tmp/mlstack-ci
stages: [check, deploy]
{name}-check:
  stage: check
  image: python:3.11-slim-bookworm
  before_script:
    - apt-get update -q && apt-get install -yq git   # pip installs from git URLs
  script:
{check}{name}-deploy:
  stage: deploy
  image: python:3.11-slim-bookworm
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
  variables:
    SSH_KEY: $MLSTACK_DEPLOY_SSH_KEY
  before_script:
    - apt-get update -q && apt-get install -yq git openssh-client
  script:
    - {_run(INSTALL_STEP[1])}
    - {_run(KEY_STEP)}
    - {_run(DEPLOY_STEP[1])}
"""
    )
