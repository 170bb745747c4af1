"""Who may do what in Airflow when it has real logins (deploy mode's FAB auth manager).

Deploy mode runs Airflow with the FAB auth manager (``apache-airflow-providers-fab``): people
log in with their own account, and roles decide what they see. This module owns the roles
mlstack generates and the accounts ``mlstack users`` manages:

- ``Admin`` (FAB's own): everything. The account ``admin`` is created on the stack's first
  start with ``AIRFLOW_ADMIN_PASSWORD`` and its password is reset to it on every start.
- ``mlstack-member``: every account ``mlstack users add`` creates has it — Airflow's pages,
  task logs of what they may read, their own profile and password — and no DAG: FAB's Viewer
  and User permissions without those on every DAG (resource ``DAGs``) and without creating
  asset events (an event would start other use cases' DAGs).
- ``usecase:<name>``, one per use case: read and edit (trigger, clear, pause) that use case's
  DAGs, nothing else. Given to the users its spec's ``team.users`` names; the sync takes it
  from anyone else, so the spec is where direct membership is decided.
- ``group:<group>``: the same permissions, for every use case whose ``team.groups`` names the
  group. Its members are whoever holds the role (``mlstack users add NAME --group GROUP``, or
  Airflow's Security pages); a group no spec names grants nothing.

mlstack's pages ask the same question as Airflow (:mod:`mlstack.airflow.ui_auth`): a user may
read a use case's monitoring and catalog pages when they may read every one of its DAGs.
:func:`sync` (``mlstack users sync``, run by the stack's airflow-init on every start) makes the
database match the specs; it needs Airflow configured with the FAB auth manager.
"""

from __future__ import annotations

import contextlib
import secrets
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlstack.exceptions import MlstackError
from mlstack.specs import GROUP_RE, USERNAME_RE, UseCaseSpec

ADMIN_ROLE = "Admin"  # FAB's
ADMIN_USER = "admin"  # the account the stack creates (AIRFLOW_ADMIN_PASSWORD)
MEMBER_ROLE = "mlstack-member"
USECASE_PREFIX, GROUP_PREFIX = "usecase:", "group:"
OWNED_PREFIXES = (USECASE_PREFIX, GROUP_PREFIX)  # roles the sync owns, beside MEMBER_ROLE
CAN_READ, CAN_EDIT, CAN_CREATE = "can_read", "can_edit", "can_create"
ALL_DAGS = "DAGs"  # FAB's resource for every DAG; one DAG's is "DAG:<dag_id>"
#: FAB's login of an account mlstack creates without an e-mail (RFC 2606: never delivered)
EMAIL_DOMAIN = "users.mlstack.invalid"

Permission = tuple[str, str]  # (action, resource), as FAB names them


class AccessError(MlstackError):
    """A user or role request that cannot be done; the message says what to do instead."""


def usecase_role(usecase: str) -> str:
    """The role of one use case's direct team members."""
    return f"{USECASE_PREFIX}{usecase}"


def group_role(group: str) -> str:
    """The role whose holders are the members of ``group``."""
    return f"{GROUP_PREFIX}{group}"


#: FAB gives every role it did not define this one (Airflow's home page) on each sync
HOME_PAGE: Permission = (CAN_READ, "Website")


def dag_permissions(dag_ids: Iterable[str]) -> set[Permission]:
    """Read and edit (trigger, clear, pause) on each DAG; deleting a DAG stays with admins."""
    granted = {(action, f"DAG:{d}") for d in dag_ids for action in (CAN_READ, CAN_EDIT)}
    return granted | {HOME_PAGE}


def member_permissions() -> set[Permission]:
    """FAB's Viewer and User permissions but those on every DAG and creating asset events."""
    from airflow.providers.fab.auth_manager.security_manager.override import (
        FabAirflowSecurityManagerOverride as Fab,
    )

    everything = set(Fab.VIEWER_PERMISSIONS) | set(Fab.USER_PERMISSIONS)
    return {
        (action, resource)
        for action, resource in everything
        if not (resource == ALL_DAGS and action != "menu_access")
        and (action, resource) != (CAN_CREATE, "Assets")
    }


def usecase_dag_ids(spec: UseCaseSpec) -> list[str]:
    """The DAG ids of ``spec``: those the factory builds (the authority on them), or the
    hand-written ones its ``dags.own`` declares."""
    if not spec.generated_dags:
        return sorted(spec.own_dag_ids())
    from mlstack.airflow.factory import build_dags

    return sorted(build_dags(spec))


def generated_roles(
    specs: Mapping[str, UseCaseSpec], dag_ids: Mapping[str, Iterable[str]]
) -> dict[str, set[Permission]]:
    """Every role mlstack owns, with exactly the permissions it should hold: the member role,
    one per use case, one per group a spec names (the union of its use cases')."""
    roles: dict[str, set[Permission]] = {MEMBER_ROLE: member_permissions()}
    for name, spec in specs.items():
        granted = dag_permissions(dag_ids[name])
        roles[usecase_role(name)] = granted
        for group in spec.team.groups:
            roles.setdefault(group_role(group), set()).update(granted)
    return roles


def direct_usecases(specs: Mapping[str, UseCaseSpec], username: str) -> list[str]:
    """The use cases whose ``team.users`` names ``username``."""
    return sorted(n for n, s in specs.items() if username in s.team.users)


# --- the FAB database ------------------------------------------------------------------------


@contextlib.contextmanager
def security_manager() -> Iterator[Any]:
    """FAB's security manager on Airflow's database; refuses when Airflow is not configured
    with the FAB auth manager (the laptop stack's simple one has no accounts to manage)."""
    from airflow.configuration import conf

    manager = conf.get("core", "auth_manager")
    if "FabAuthManager" not in manager:
        raise AccessError(
            f"Airflow's auth manager is {manager.rsplit('.', 1)[-1]}, not FAB: user accounts "
            "exist in deploy mode only (`make deploy`; run this in the airflow-apiserver "
            "container). The laptop stack has one login: admin / AIRFLOW_ADMIN_PASSWORD."
        )
    # FAB's app warns about its own dependencies (on stdout, through Airflow's logging):
    # nothing for the user to act on, and it would break `--json`
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from airflow.providers.fab.auth_manager.cli_commands.utils import (
            get_application_builder,
        )

        with get_application_builder() as appbuilder:
            yield appbuilder.sm


def _role(sm: Any, name: str) -> Any:
    return sm.find_role(name) or sm.add_role(name)


def set_role_permissions(sm: Any, name: str, wanted: set[Permission]) -> tuple[int, int]:
    """Make role ``name`` hold exactly ``wanted`` (created if missing); (added, removed)."""
    role = _role(sm, name)
    held = {(p.action.name, p.resource.name): p for p in role.permissions}
    for action, resource in sorted(wanted - set(held)):
        sm.add_permission_to_role(role, sm.create_permission(action, resource))
    for key in sorted(set(held) - wanted):
        sm.remove_permission_from_role(role, held[key])
    return len(wanted - set(held)), len(set(held) - wanted)


@dataclass
class SyncReport:
    """What :func:`sync` did, for the log of the stack's start."""

    roles: dict[str, tuple[int, int]] = field(default_factory=dict)  # role -> (added, removed)
    admin: str = ""  # "created" / "password set" / "" (no password given)
    missing_users: dict[str, list[str]] = field(default_factory=dict)  # use case -> names

    def lines(self) -> list[str]:
        out = [f"airflow account {ADMIN_USER}: {self.admin}"] if self.admin else []
        for role, (added, removed) in sorted(self.roles.items()):
            out.append(f"airflow role {role}: {added} permission(s) added, {removed} removed")
        for usecase, names in sorted(self.missing_users.items()):
            out.append(
                f"use case {usecase}: team.users {names} have no account yet "
                "(`mlstack users add NAME` gives them the use case)"
            )
        return out


def sync(
    sm: Any,
    specs: Mapping[str, UseCaseSpec],
    dag_ids: Mapping[str, Iterable[str]],
    *,
    admin_password: str = "",
) -> SyncReport:
    """Make Airflow's roles and memberships match the specs; create the admin account (or
    reset its password) when ``admin_password`` is given. Idempotent."""
    report = SyncReport()
    sm.sync_roles()  # FAB's own roles (Admin, Viewer, ...) and their permissions
    wanted = generated_roles(specs, dag_ids)
    # a group no spec names any more, or a deleted use case's role, keeps no DAG
    stale = [r.name for r in sm.get_all_roles() if r.name.startswith(OWNED_PREFIXES)]
    wanted |= {name: {HOME_PAGE} for name in stale if name not in wanted}
    for name, permissions in wanted.items():
        report.roles[name] = set_role_permissions(sm, name, permissions)
    for usecase, spec in specs.items():
        role = sm.find_role(usecase_role(usecase))
        for user in sm.get_all_users():
            listed = user.username in spec.team.users
            if listed and role not in user.roles:
                user.roles.append(role)
                sm.update_user(user)
            elif not listed and role in user.roles:
                user.roles.remove(role)
                sm.update_user(user)
        existing = {u.username for u in sm.get_all_users()}
        missing = [u for u in spec.team.users if u not in existing]
        if missing:
            report.missing_users[usecase] = missing
    if admin_password:
        report.admin = _ensure_admin(sm, admin_password)
    return report


def _ensure_admin(sm: Any, password: str) -> str:
    user = sm.find_user(username=ADMIN_USER)
    if user is None:
        sm.add_user(
            ADMIN_USER, "mlstack", "admin", f"{ADMIN_USER}@{EMAIL_DOMAIN}",
            [sm.find_role(ADMIN_ROLE)], password,
        )  # fmt: skip
        return "created"
    sm.reset_password(user.id, password)
    return "password set"


def new_password() -> str:
    """A random password for a new account (printed once; never a default)."""
    return secrets.token_urlsafe(18)


def _check_name(username: str) -> None:
    if not USERNAME_RE.match(username):
        raise AccessError(
            f"{username!r} is not a valid user name: letters, digits and '._@+-', starting "
            "with a letter or digit, at most 64 characters"
        )


def _existing(sm: Any, username: str) -> Any:
    user = sm.find_user(username=username)
    if user is None:
        known = sorted(u.username for u in sm.get_all_users())
        raise AccessError(f"no Airflow user {username!r}; users: {known}")
    return user


def add_user(
    sm: Any,
    specs: Mapping[str, UseCaseSpec],
    username: str,
    password: str,
    *,
    groups: Iterable[str] = (),
    admin: bool = False,
    email: str = "",
) -> list[str]:
    """Create an account with the member role, its groups' roles, the roles of the use cases
    whose team names it, and ``Admin`` when ``admin``. Returns its role names."""
    _check_name(username)
    bad = [g for g in groups if not GROUP_RE.match(g)]
    if bad:
        raise AccessError(
            f"group names {bad} are not allowed: lower case, a letter first, then letters, "
            "digits, '_' or '-', at most 58 characters"
        )
    if sm.find_user(username=username) is not None:
        raise AccessError(
            f"Airflow user {username!r} exists; `mlstack users set-password {username}` "
            "gives it a new password"
        )
    if not password:
        raise AccessError("an empty password is not allowed")
    names = [MEMBER_ROLE, *(group_role(g) for g in groups)]
    names += [usecase_role(u) for u in direct_usecases(specs, username)]
    names += [ADMIN_ROLE] if admin else []
    roles = [_role(sm, name) for name in dict.fromkeys(names)]
    sm.add_user(username, username, "-", email or f"{username}@{EMAIL_DOMAIN}", roles, password)
    return [r.name for r in roles]


def set_password(sm: Any, username: str, password: str) -> None:
    """Give an account a new password (its open sessions end)."""
    if not password:
        raise AccessError("an empty password is not allowed")
    if not sm.reset_password(_existing(sm, username).id, password):
        raise AccessError(f"Airflow did not store the new password of {username!r}")


def remove_user(sm: Any, username: str) -> None:
    """Delete an account. The stack's ``admin`` is refused: it is re-created on every start."""
    if username == ADMIN_USER:
        raise AccessError(
            f"{ADMIN_USER!r} is the stack's own account, re-created on every start; change "
            "AIRFLOW_ADMIN_PASSWORD in .env to lock someone out of it"
        )
    user = _existing(sm, username)
    user.roles.clear()
    if not sm.del_register_user(user):
        raise AccessError(f"Airflow did not delete {username!r}")


@dataclass(frozen=True)
class Account:
    """One Airflow login as ``mlstack users list`` shows it."""

    username: str
    active: bool
    admin: bool
    groups: list[str]
    usecases: list[str]  # what it may read: directly or through its groups (all, for admins)
    roles: list[str]


def list_users(sm: Any, specs: Mapping[str, UseCaseSpec]) -> list[Account]:
    """Every account, with its groups and the use cases its roles open."""
    out = []
    for user in sorted(sm.get_all_users(), key=lambda u: u.username):
        roles = sorted(r.name for r in user.roles)
        groups = [r.removeprefix(GROUP_PREFIX) for r in roles if r.startswith(GROUP_PREFIX)]
        admin = ADMIN_ROLE in roles
        usecases = sorted(
            name
            for name, spec in specs.items()
            if admin or usecase_role(name) in roles or set(spec.team.groups) & set(groups)
        )
        out.append(Account(user.username, bool(user.active), admin, groups, usecases, roles))
    return out
