"""Per-service S3 credentials (deploy mode), made through MinIO's admin API.

In deploy mode no service but the two setup jobs holds MinIO's root credentials. Each of the
others gets its own access key, limited to its buckets (:data:`SERVICE_ACCOUNTS`):

- ``mlflow`` (the MLflow server, which stores every artifact): read and write ``mlflow``;
- ``mlstack`` (Airflow's tasks: ingest, catalog, train, monitor): read and write ``lake``,
  read ``mlflow`` (backups copy it);
- ``gateway``: read ``mlflow`` (model artifacts; it normally gets them through MLflow).

:func:`ensure_service_accounts` runs in the one-shot ``s3-accounts`` service (``mlstack
s3-accounts``) on every start, with the root credentials: it writes one policy per account
(``mlstack-<account>``), creates the user or resets its secret to the one in ``.env``, and
attaches the policy. It needs MinIO's admin API (the ``minio`` SDK's ``MinioAdmin``); an S3
service without it (AWS S3, or the test stand-in, which checks no credentials at all) gets
its keys from its own IAM, and ``MLSTACK_S3_SERVICE_ACCOUNTS=external`` skips this step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

Access = Literal["read", "readwrite"]

#: account -> {bucket: access}; the access key is ``mlstack-<account>``.
SERVICE_ACCOUNTS: dict[str, dict[str, Access]] = {
    "mlflow": {"mlflow": "readwrite"},
    "mlstack": {"lake": "readwrite", "mlflow": "read"},
    "gateway": {"mlflow": "read"},
}

_ACTIONS: dict[Access, tuple[list[str], list[str]]] = {  # (bucket actions, object actions)
    "read": (["s3:GetBucketLocation", "s3:ListBucket"], ["s3:GetObject"]),
    "readwrite": (
        ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
        ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
         "s3:ListMultipartUploadParts"],
    ),
}  # fmt: skip


class S3AccessError(RuntimeError):
    """The service accounts cannot be set up as asked (and why)."""


class Admin(Protocol):
    """What is used of ``minio.MinioAdmin``."""

    def policy_add(self, policy_name: str, policy_file: Any = None, policy: Any = None) -> str: ...
    def user_add(self, access_key: str, secret_key: str) -> str: ...
    def attach_policy(self, policies: list[str], user: str | None = None) -> str: ...


@dataclass(frozen=True)
class ServiceAccount:
    """One service's S3 login and the buckets it may use."""

    name: str
    secret: str
    buckets: dict[str, Access]

    @property
    def access_key(self) -> str:
        return f"mlstack-{self.name}"

    @property
    def policy_name(self) -> str:
        return f"mlstack-{self.name}"


def policy(buckets: dict[str, Access]) -> dict[str, Any]:
    """The IAM policy document that allows exactly ``buckets`` at their access."""
    statements = []
    for bucket, access in sorted(buckets.items()):
        bucket_actions, object_actions = _ACTIONS[access]
        statements += [
            {"Effect": "Allow", "Action": bucket_actions, "Resource": [f"arn:aws:s3:::{bucket}"]},
            {"Effect": "Allow", "Action": object_actions, "Resource": [f"arn:aws:s3:::{bucket}/*"]},
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def accounts_from_env(env: dict[str, str]) -> list[ServiceAccount]:
    """The accounts of :data:`SERVICE_ACCOUNTS` with their secrets (``S3_<ACCOUNT>_SECRET``);
    every one must have a secret."""
    missing = [
        f"S3_{n.upper()}_SECRET" for n in SERVICE_ACCOUNTS if not env.get(f"S3_{n.upper()}_SECRET")
    ]
    if missing:
        raise S3AccessError(f"{', '.join(missing)} not set (make deploy writes them into .env)")
    return [
        ServiceAccount(name, env[f"S3_{name.upper()}_SECRET"], buckets)
        for name, buckets in SERVICE_ACCOUNTS.items()
    ]


def minio_admin(endpoint_url: str, access_key: str, secret_key: str) -> Admin:
    """A ``MinioAdmin`` client for the S3 endpoint ``endpoint_url`` (http or https)."""
    from minio import MinioAdmin
    from minio.credentials import StaticProvider

    url = urlsplit(endpoint_url)
    return MinioAdmin(
        endpoint=url.netloc,
        credentials=StaticProvider(access_key, secret_key),
        secure=url.scheme == "https",
    )


def ensure_service_accounts(admin: Admin, accounts: list[ServiceAccount]) -> list[str]:
    """Write each account's policy, create the user or reset its secret, attach the policy.
    Idempotent; returns what was done, one line per account."""
    done = []
    for account in accounts:
        try:
            admin.policy_add(account.policy_name, policy=policy(account.buckets))
            admin.user_add(account.access_key, account.secret)
            _attach(admin, account)
        except Exception as exc:  # the SDK's errors carry MinIO's message: pass it on
            raise S3AccessError(
                f"cannot set up S3 account {account.access_key} ({exc}); this needs MinIO's "
                "admin API and its root credentials — for another S3 service, make the keys "
                "in its IAM and set MLSTACK_S3_SERVICE_ACCOUNTS=external"
            ) from exc
        grants = ", ".join(
            f"{access} {bucket}" for bucket, access in sorted(account.buckets.items())
        )
        done.append(f"s3 account {account.access_key}: {grants}")
    return done


def _attach(admin: Admin, account: ServiceAccount) -> None:
    """Attach the account's policy; already attached counts as done."""
    try:
        admin.attach_policy([account.policy_name], user=account.access_key)
    except Exception as exc:
        if "already" not in str(exc).lower():  # XMinioAdminPolicyChangeAlreadyApplied
            raise
