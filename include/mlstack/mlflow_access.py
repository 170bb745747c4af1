"""Who may do what in MLflow when it requires a login (deploy mode's basic-auth app).

Deploy mode runs ``mlflow server --app-name basic-auth`` with ``default_permission =
NO_PERMISSIONS``: an account sees only what it created or what a role grants it. This module
owns the accounts mlstack's services log in with, and their two roles:

- ``airflow``, role ``mlstack-writers`` — the Airflow components' account (tasks train,
  register, promote, monitor): MANAGE on every experiment, registered model, run, logged model
  and model version, whoever created them.
- ``gateway``, role ``mlstack-readers`` — READ on the same: it loads the served versions and
  reads their tags, and can change nothing.

Roles grant by pattern ``*``, so what is created later (a new use case's experiment and model)
is covered without a grant per resource. :func:`ensure_accounts` (run as MLflow's admin by the
stack's ``mlflow-accounts`` job on every start) creates the accounts or resets their
passwords to the configured ones (rotation), creates the roles and assigns them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlstack.settings import scoped_environ

READ, MANAGE = "READ", "MANAGE"


@dataclass(frozen=True)
class Account:
    """An MLflow login of one of mlstack's services."""

    username: str
    password: str
    permission: str  # what its role grants on every experiment and model: READ or MANAGE


@contextlib.contextmanager
def _logged_in(username: str, password: str) -> Iterator[None]:
    """MLflow's REST clients authenticate from these variables; set them for the block."""
    with scoped_environ(MLFLOW_TRACKING_USERNAME=username, MLFLOW_TRACKING_PASSWORD=password):
        yield


#: what a role's permission covers: the resources and their sub-resource tiers
RESOURCE_TYPES = (
    "experiment",
    "run",
    "logged_model",
    "registered_model",
    "registered_model_version",
)
ROLE_OF = {READ: "mlstack-readers", MANAGE: "mlstack-writers"}
WORKSPACE = "default"  # MLflow's workspace when workspaces are not enabled


def _ensure_role(auth: Any, permission: str) -> Any:
    """The role granting ``permission`` on every resource (``*``), created or completed."""
    name = ROLE_OF[permission]
    role = next((r for r in auth.list_roles(WORKSPACE) if r.name == name), None)
    if role is None:
        role = auth.create_role(WORKSPACE, name, f"mlstack services: {permission} on everything")
    held = {(p.resource_type, p.resource_pattern): p for p in auth.list_role_permissions(role.id)}
    for resource_type in RESOURCE_TYPES:
        current = held.get((resource_type, "*"))
        if current is None:
            auth.add_role_permission(role.id, resource_type, "*", permission)
        elif current.permission != permission:
            auth.update_role_permission(current.id, permission)
    return role


def ensure_accounts(
    tracking_uri: str, admin: tuple[str, str], accounts: list[Account]
) -> dict[str, str]:
    """Create each account (or reset its password) and give it its role.

    Runs as MLflow's admin. Returns what it did per account (``created`` / ``password set``).
    """
    from mlflow.server import get_app_client

    done: dict[str, str] = {}
    with _logged_in(*admin):
        auth = get_app_client("basic-auth", tracking_uri=tracking_uri)
        for account in accounts:
            done[account.username] = _create_or_reset(auth, account.username, account.password)
            role = _ensure_role(auth, account.permission)
            if role.name not in {r.name for r in auth.list_user_roles(account.username)}:
                auth.assign_role(account.username, role.id)
    return done


def _create_or_reset(auth: Any, username: str, password: str) -> str:
    """Create the MLflow login, or set its password when it exists: what was done."""
    from mlflow.exceptions import MlflowException

    try:
        auth.get_user(username)
    except MlflowException:
        auth.create_user(username, password)
        return "created"
    auth.update_user_password(username, password)
    return "password set"


def accounts_from_env(env: dict[str, str] | None = None) -> list[Account]:
    """The service accounts the stack's env defines (``MLFLOW_<NAME>_PASSWORD``)."""
    env = dict(os.environ if env is None else env)
    wanted = [("airflow", MANAGE), ("gateway", READ)]
    return [
        Account(name, env[f"MLFLOW_{name.upper()}_PASSWORD"], permission)
        for name, permission in wanted
        if env.get(f"MLFLOW_{name.upper()}_PASSWORD")
    ]


@dataclass(frozen=True)
class TeamGrant:
    """What one use case's team may read in MLflow: its experiment and registered model."""

    usecase: str
    experiment: str
    model: str
    users: tuple[str, ...]


def team_grants(specs: list[Any]) -> list[TeamGrant]:
    """One grant per use case whose spec names users (``team.users``)."""
    return [
        TeamGrant(s.name, s.training.experiment or s.name, s.name, tuple(s.team.users))
        for s in specs
        if s.team.users
    ]


def person_grants(specs: list[Any], username: str, groups: tuple[str, ...] = ()) -> list[TeamGrant]:
    """What one person may read: every use case whose ``team.users`` names them or whose
    ``team.groups`` names one of ``groups`` (MLflow has no groups: they are resolved here)."""
    return [
        TeamGrant(s.name, s.training.experiment or s.name, s.name, (username,))
        for s in specs
        if username in s.team.users or set(groups) & set(s.team.groups)
    ]


def add_person(
    tracking_uri: str,
    admin: tuple[str, str],
    username: str,
    password: str | None,
    grants: list[TeamGrant],
) -> list[str]:
    """A person's MLflow login: created (or its password reset) when ``password`` is given,
    then READ on the experiments and models of ``grants``. Runs as MLflow's admin; returns
    one line per step."""
    from mlflow.server import get_app_client

    done: list[str] = []
    if password is not None:
        with _logged_in(*admin):
            auth = get_app_client("basic-auth", tracking_uri=tracking_uri)
            done.append(f"mlflow user {username}: {_create_or_reset(auth, username, password)}")
    return done + grant_teams(tracking_uri, admin, grants)


def grant_teams(tracking_uri: str, admin: tuple[str, str], grants: list[TeamGrant]) -> list[str]:
    """Give each team user READ on their use case's experiment and registered model.

    Runs as MLflow's admin (the ``mlflow-accounts`` job, on every start). People's MLflow
    accounts are made by the admin (MLflow's user API); a user without one, and an experiment
    or model not made yet (no training so far), are reported and granted at a later start.
    MLflow has no groups: only ``team.users`` are granted. Returns one line per grant.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    done: list[str] = []
    with _logged_in(*admin):
        auth = get_app_client("basic-auth", tracking_uri=tracking_uri)
        tracking = _tracking_client(tracking_uri)
        for grant in grants:
            experiment = tracking.get_experiment_by_name(grant.experiment)
            try:
                tracking.get_registered_model(grant.model)
                model: str | None = grant.model
            except MlflowException:
                model = None
            for user in grant.users:
                try:
                    auth.get_user(user)
                except MlflowException:
                    done.append(f"{grant.usecase}: {user} has no MLflow account yet: not granted")
                    continue
                if experiment is not None:
                    _grant(auth, user, "experiment", experiment.experiment_id)
                if model is not None:
                    _grant(auth, user, "registered_model", model)
                what = [f"experiment {grant.experiment}"] * (experiment is not None)
                what += [f"model {grant.model}"] * (model is not None)
                done.append(
                    f"{grant.usecase}: {user} may read {' and '.join(what) or 'nothing yet'}"
                )
    return done


def _grant(auth: Any, user: str, resource_type: str, resource_id: str) -> None:
    """READ for ``user``; a grant the user already holds (this one, or more that an admin
    gave) is kept as it is."""
    from mlflow.exceptions import MlflowException

    try:
        auth.grant_user_permission(user, resource_type, resource_id, READ)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise


def _tracking_client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
