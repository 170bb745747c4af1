"""mlstack's Kubernetes Secrets, rendered from an env file of secrets that it keeps.

    python3 infra/kubernetes/render_secrets.py k8s.env [--trial] [--celery] \
        | kubectl -n mlstack create -f -

The env file holds the same secrets as the compose stack's .env, generated on the first run
by ``infra/stack.py``'s ``ensure_env`` (there are no default passwords); keep it private, as
the record of what the cluster was given. Besides those, it may say where the external
services are and how to log into them — lines the command never writes:

    POSTGRES_HOST=db.example.org     the Postgres server (default: `postgres`, the trial's)
    POSTGRES_PORT=5432
    POSTGRES_SSLMODE=require         (default: `disable` for the trial's, `require` otherwise)
    POSTGRES_ADMIN_USER=postgres     a role that may create roles and grant on mlstack's tables
                                     (its password: POSTGRES_PASSWORD; only the init job gets it)
    S3_ACCESS_KEY_ID=...             the S3 admin's keys (default: the trial MinIO's root user,
    S3_SECRET_ACCESS_KEY=...         MINIO_ROOT_USER / MINIO_ROOT_PASSWORD): only the init job
                                     gets them, to make the buckets and each service's login
    S3_SERVICE_ACCOUNTS=external     an S3 service without MinIO's admin API: every service uses
                                     the keys above (default `minio`: each its own login,
                                     `mlstack-<account>` with S3_<ACCOUNT>_SECRET, limited to its
                                     buckets, made by the init job's `mlstack s3-accounts`)

With an external Postgres, set AIRFLOW_DB_PASSWORD, MLFLOW_DB_PASSWORD, MLSTACK_DB_PASSWORD and
POSTGRES_PASSWORD to the passwords its users were created with (README, "Kubernetes").

Output: a ``v1 List`` of Secrets (JSON, which kubectl reads as YAML). ``kubectl create`` refuses
a Secret that exists, so running it twice never changes a password under a running
deployment; to rotate, edit the env file, delete the Secret and create it again.

  mlstack-airflow          the chart's: connection, fernet-key, api-secret-key, jwt-secret,
                           passwords.json (the simple auth manager's admin)
  mlstack-backends         MLSTACK_DATABASE_URL (the owner `mlstack`), MLSTACK_S3_ACCESS_KEY_ID,
                           MLSTACK_S3_SECRET_ACCESS_KEY (S3 login `mlstack-mlstack`): Airflow
  mlstack-gateway          the same for the gateway: role `mlstack_gateway`, `mlstack-gateway`
  mlstack-s3-admin         the S3 admin's keys and every service's secret: the init job's
                           `mlstack init` (buckets) and `mlstack s3-accounts`
  mlstack-db-admin         MLSTACK_DB_ADMIN_URL, MLSTACK_GATEWAY_DB_PASSWORD: the init job's
                           `mlstack db-accounts` (the gateway's role and grants)
  mlstack-mlflow           the MLflow server's database, admin, form secret, S3 keys
  mlstack-mlflow-accounts  the passwords of MLflow's admin, `airflow` and `gateway` accounts
  --trial: mlstack-postgres, mlstack-minio   the in-cluster Postgres's and MinIO's
  --celery: mlstack-redis, mlstack-airflow-celery   the broker and the result backend
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import stack  # noqa: E402  (infra/stack.py: the secrets and their generators)

#: the chart's Service names for the Helm release `airflow` (values-celery.yaml)
REDIS_HOST = "airflow-redis"
#: the gateway's own Postgres role (include/mlstack/db_access.py, made by `mlstack db-accounts`)
GATEWAY_DB_ROLE = "mlstack_gateway"
#: the per-service S3 logins (include/mlstack/s3_access.py, made by `mlstack s3-accounts`)
S3_ACCOUNTS = ("mlflow", "mlstack", "gateway")


def secret(name: str, data: dict[str, str]) -> dict:
    """One Opaque Secret, its values as plain strings (``stringData``)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "mlstack"}},
        "type": "Opaque",
        "stringData": data,
    }


def postgres_url(
    env: dict[str, str],
    database: str,
    *,
    login: tuple[str, str] | None = None,
    driver: str = "postgresql+psycopg2",
) -> str:
    """The URL of ``database``, as its owner (the user of the same name, password
    ``<DATABASE>_DB_PASSWORD``) or as ``login`` (user, password)."""
    host = env.get("POSTGRES_HOST", "postgres")
    port = env.get("POSTGRES_PORT", "5432")
    default_ssl = "disable" if host == "postgres" else "require"
    sslmode = env.get("POSTGRES_SSLMODE", default_ssl)
    user, password = login or (database, env[f"{database.upper()}_DB_PASSWORD"])
    secret_part = quote(password, safe="")
    return f"{driver}://{user}:{secret_part}@{host}:{port}/{database}?sslmode={sslmode}"


def s3_admin_keys(env: dict[str, str]) -> tuple[str, str]:
    """The S3 admin's key pair: the external store's, else the trial MinIO's root user."""
    if env.get("S3_ACCESS_KEY_ID"):
        return env["S3_ACCESS_KEY_ID"], env["S3_SECRET_ACCESS_KEY"]
    return env.get("MINIO_ROOT_USER", "mlstack"), env["MINIO_ROOT_PASSWORD"]


def s3_login(env: dict[str, str], account: str) -> tuple[str, str]:
    """The S3 key pair service ``account`` uses: its own login, or the admin's where the S3
    service has no MinIO admin API (``S3_SERVICE_ACCOUNTS=external``)."""
    if env.get("S3_SERVICE_ACCOUNTS", "minio") == "external":
        return s3_admin_keys(env)
    return f"mlstack-{account}", env[f"S3_{account.upper()}_SECRET"]


def mlstack_s3(key_pair: tuple[str, str]) -> dict[str, str]:
    """mlstack's S3 settings for a key pair."""
    return {"MLSTACK_S3_ACCESS_KEY_ID": key_pair[0], "MLSTACK_S3_SECRET_ACCESS_KEY": key_pair[1]}


def render(env: dict[str, str], *, trial: bool = False, celery: bool = False) -> dict:
    """Every Secret mlstack's manifests and chart values refer to, from the env file's values."""
    mlflow_key_id, mlflow_key_secret = s3_login(env, "mlflow")
    gateway_login = (GATEWAY_DB_ROLE, env["MLSTACK_GATEWAY_DB_PASSWORD"])
    admin_login = (env.get("POSTGRES_ADMIN_USER", "postgres"), env["POSTGRES_PASSWORD"])
    items = [
        secret(
            "mlstack-airflow",
            {
                "connection": postgres_url(env, "airflow"),
                "fernet-key": env["AIRFLOW_FERNET_KEY"],
                "api-secret-key": env["AIRFLOW_API_SECRET_KEY"],
                "jwt-secret": env["AIRFLOW_JWT_SECRET"],
                "passwords.json": json.dumps({"admin": env["AIRFLOW_ADMIN_PASSWORD"]}) + "\n",
            },
        ),
        secret(
            "mlstack-backends",
            {
                "MLSTACK_DATABASE_URL": postgres_url(env, "mlstack"),
                **mlstack_s3(s3_login(env, "mlstack")),
            },
        ),
        secret(
            "mlstack-gateway",
            {
                "MLSTACK_DATABASE_URL": postgres_url(env, "mlstack", login=gateway_login),
                **mlstack_s3(s3_login(env, "gateway")),
            },
        ),
        secret(
            "mlstack-s3-admin",
            {
                **mlstack_s3(s3_admin_keys(env)),
                "MLSTACK_S3_SERVICE_ACCOUNTS": env.get("S3_SERVICE_ACCOUNTS", "minio"),
                **{f"S3_{a.upper()}_SECRET": env[f"S3_{a.upper()}_SECRET"] for a in S3_ACCOUNTS},
            },
        ),
        secret(
            "mlstack-db-admin",
            {
                "MLSTACK_DB_ADMIN_URL": postgres_url(env, "mlstack", login=admin_login),
                "MLSTACK_GATEWAY_DB_PASSWORD": env["MLSTACK_GATEWAY_DB_PASSWORD"],
            },
        ),
        secret(
            "mlstack-mlflow",
            {
                "MLFLOW_BACKEND_STORE_URI": postgres_url(env, "mlflow"),
                "MLFLOW_AUTH_ADMIN_PASSWORD": env["MLFLOW_ADMIN_PASSWORD"],
                "MLFLOW_FLASK_SERVER_SECRET_KEY": env["MLFLOW_FLASK_SECRET_KEY"],
                "AWS_ACCESS_KEY_ID": mlflow_key_id,
                "AWS_SECRET_ACCESS_KEY": mlflow_key_secret,
            },
        ),
        secret(
            "mlstack-mlflow-accounts",
            {
                name: env[name]
                for name in (
                    "MLFLOW_ADMIN_PASSWORD",
                    "MLFLOW_AIRFLOW_PASSWORD",
                    "MLFLOW_GATEWAY_PASSWORD",
                )  # fmt: skip
            },
        ),
    ]
    if trial:
        databases = ("POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD", "MLFLOW_DB_PASSWORD",
                     "MLSTACK_DB_PASSWORD")  # fmt: skip
        items.append(secret("mlstack-postgres", {name: env[name] for name in databases}))
        items.append(
            secret(
                "mlstack-minio",
                {
                    "MINIO_ROOT_USER": env.get("MINIO_ROOT_USER", "mlstack"),
                    "MINIO_ROOT_PASSWORD": env["MINIO_ROOT_PASSWORD"],
                },
            )
        )
    if celery:
        redis_password = env["REDIS_PASSWORD"]
        items.append(
            secret(
                "mlstack-redis",
                {
                    "password": redis_password,
                    "connection": f"redis://:{quote(redis_password, safe='')}@{REDIS_HOST}:6379/0",
                },
            )
        )
        result_backend = postgres_url(env, "airflow", driver="db+postgresql")
        items.append(secret("mlstack-airflow-celery", {"connection": result_backend}))
    return {"apiVersion": "v1", "kind": "List", "items": items}


#: CeleryExecutor's broker password, beside the stack's secrets (values-celery.yaml)
CELERY_SECRETS = {"REDIS_PASSWORD": (stack._password, "Redis: CeleryExecutor's broker")}


def ensure_secrets(path: Path, *, celery: bool) -> dict[str, str]:
    """The env file's values, after generating the secrets it lacks (never changing one)."""
    stack.ensure_env(
        path, project=None, wanted={**stack.SECRETS, **(CELERY_SECRETS if celery else {})}
    )
    return stack.read_env(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="infra/kubernetes/render_secrets.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("env_file", type=Path, help="the env file of secrets (created if missing)")
    parser.add_argument("--trial", action="store_true", help="also the in-cluster trial's")
    parser.add_argument("--celery", action="store_true", help="also CeleryExecutor's")
    args = parser.parse_args(argv)
    env = ensure_secrets(args.env_file, celery=args.celery)
    json.dump(render(env, trial=args.trial, celery=args.celery), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
