"""Per-service S3 credentials (mlstack.s3_access).

The policy documents are checked by a real policy engine: moto's IAM, enforcing them on its
S3 (the same AWS policy language MinIO evaluates) — each service may do exactly what
:data:`SERVICE_ACCOUNTS` says on each bucket. MinIO's admin API itself cannot run here (no
MinIO server can be installed on this machine, and the S3 stand-in has no admin API), so the
calls made to it are checked against a recording stand-in of ``MinioAdmin``.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.exceptions
import pytest
from mlstack import s3_access
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

BUCKETS = ("lake", "mlflow")


def _allowed(method: Any, **kwargs: Any) -> bool:
    try:
        method(**kwargs)
    except botocore.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied", exc
        return False
    return True


# the setup's calls (2 per bucket, 3 per account) run unchecked; every later one is checked
@set_initial_no_auth_action_count(2 * len(BUCKETS) + 3 * len(s3_access.SERVICE_ACCOUNTS))
@mock_aws
def test_each_service_may_do_exactly_what_its_account_says() -> None:
    admin = {"region_name": "us-east-1", "aws_access_key_id": "a", "aws_secret_access_key": "b"}
    iam, s3 = boto3.client("iam", **admin), boto3.client("s3", **admin)
    for bucket in BUCKETS:
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="kept", Body=b"1")
    keys = {}
    for name, buckets in s3_access.SERVICE_ACCOUNTS.items():
        iam.create_user(UserName=name)
        document = json.dumps(s3_access.policy(buckets))
        iam.put_user_policy(UserName=name, PolicyName="mlstack", PolicyDocument=document)
        keys[name] = iam.create_access_key(UserName=name)["AccessKey"]
    for name, buckets in s3_access.SERVICE_ACCOUNTS.items():
        key = keys[name]
        client = boto3.client("s3", region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                              aws_secret_access_key=key["SecretAccessKey"])  # fmt: skip
        for bucket in BUCKETS:
            access = buckets.get(bucket)
            can = {
                "read": _allowed(client.get_object, Bucket=bucket, Key="kept"),
                "list": _allowed(client.list_objects_v2, Bucket=bucket),
                "write": _allowed(client.put_object, Bucket=bucket, Key=name, Body=b"2"),
                "delete": _allowed(client.delete_object, Bucket=bucket, Key="kept"),
            }
            expected = access is not None
            assert can["read"] == can["list"] == expected, (name, bucket, can)
            assert can["write"] == can["delete"] == (access == "readwrite"), (name, bucket, can)
            if can["delete"]:  # put back what the next account reads
                client.put_object(Bucket=bucket, Key="kept", Body=b"1")


class RecordingAdmin:
    """Records the MinioAdmin calls; ``attach_error`` is raised by attach_policy."""

    def __init__(self, attach_error: Exception | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.attach_error = attach_error

    def policy_add(self, policy_name: str, policy_file: Any = None, policy: Any = None) -> str:
        self.calls.append(("policy_add", policy_name, policy))
        return ""

    def user_add(self, access_key: str, secret_key: str) -> str:
        self.calls.append(("user_add", access_key, secret_key))
        return ""

    def attach_policy(self, policies: list[str], user: str | None = None) -> str:
        self.calls.append(("attach_policy", tuple(policies), user))
        if self.attach_error:
            raise self.attach_error
        return ""


ENV = {f"S3_{name.upper()}_SECRET": f"secret-{name}" for name in s3_access.SERVICE_ACCOUNTS}


def test_accounts_are_written_with_their_policy_and_secret() -> None:
    admin = RecordingAdmin()
    done = s3_access.ensure_service_accounts(admin, s3_access.accounts_from_env(ENV))
    assert done[0] == "s3 account mlstack-mlflow: readwrite mlflow"
    assert admin.calls[:3] == [
        ("policy_add", "mlstack-mlflow", s3_access.policy({"mlflow": "readwrite"})),
        ("user_add", "mlstack-mlflow", "secret-mlflow"),
        ("attach_policy", ("mlstack-mlflow",), "mlstack-mlflow"),
    ]
    assert len(admin.calls) == 3 * len(s3_access.SERVICE_ACCOUNTS)


def test_a_policy_already_attached_is_done_and_other_failures_say_what_to_do() -> None:
    already = RecordingAdmin(RuntimeError("XMinioAdminPolicyChangeAlreadyApplied: already"))
    assert len(s3_access.ensure_service_accounts(already, s3_access.accounts_from_env(ENV))) == 3
    broken = RecordingAdmin(RuntimeError("connection refused"))
    with pytest.raises(s3_access.S3AccessError, match="MLSTACK_S3_SERVICE_ACCOUNTS=external"):
        s3_access.ensure_service_accounts(broken, s3_access.accounts_from_env(ENV))


def test_every_account_needs_its_secret() -> None:
    with pytest.raises(s3_access.S3AccessError, match="S3_GATEWAY_SECRET"):
        s3_access.accounts_from_env({k: v for k, v in ENV.items() if "GATEWAY" not in k})
