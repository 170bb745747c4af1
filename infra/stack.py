"""The compose stack's helpers: wheel cache, .env with generated secrets, health, URLs.

`make up`, `make e2e` and `make bench-stack` call it (``python infra/stack.py COMMAND``);
tests/e2e and bench/ import it. Standard library only, so it runs before anything else.

  wheels   download requirements.lock's wheels into infra/wheels/ for the Docker engine's
           architecture (the image installs from there; skipped when the lock is unchanged),
           and stage the plugin packages infra/plugin-packages.txt lists in
           infra/wheels/plugins/ (the image builds and installs them)
  env      write .env with freshly generated secrets, or add the ones an older .env lacks;
           never changes a value that is already there
  wait     wait until every service is healthy (one-shot jobs: exited 0), with progress;
           on failure print the failing services' logs
  urls     print where the UIs are and how to log in
  deploy-env  write deploy mode's settings (Caddy's site, the public URL) into the env file;
           from then on every command here adds docker-compose.deploy.yml (MLSTACK_DEPLOY=1)
  deploy-ca   copy Caddy's CA certificate out (deploy mode without a domain)
  upgrade  after `make backup`: keep the old image, pull and build, stop the services,
           airflow db migrate, mlflow db upgrade, mlstack db upgrade, start, wait; prints
           the way back
  compose  run `docker compose ARGS` on this project; without .env only commands that
           start nothing (down, ps, logs, ...) run, with placeholder secrets
  backup   back up the three databases (pg_dump inside the Postgres container) and the
           `lake` and `mlflow` buckets into a timestamped folder under --to (`make backup`)
  restore  put a backup back onto an empty stack: the services but Postgres and MinIO stop,
           the backup is verified and restored, the stack starts again and the restore's
           check runs in the scheduler (`make restore FROM=...`)
  clean    name the volumes `make clean` deletes, offer a backup first, then delete them
  profiles set the compose profiles later commands use (COMPOSE_PROFILES in the env file):
           `make up PROFILES=observability`; `none` turns them off
  worker   on a second machine, with the first one's env file: write MLSTACK_PRIMARY_ADDRESS,
           start only its Celery workers (`make worker PRIMARY=10.0.0.5`; README: Scale)
  workers  set how many Celery workers the scale profile runs (WORKERS in the env file):
           `make up PROFILES=scale WORKERS=4`

The Airflow triggerer (compose profile `triggerer`) runs only where a task defers: the
promote DAG's human approval, i.e. a use case with `promotion.require_approval: true` in
its usecase.yaml or in MLSTACK_SPEC_OVERRIDES. AIRFLOW_TRIGGERER=true|false decides instead.
The observability profile (Prometheus, Airflow's metrics, Grafana; `metrics`: without
Grafana) is on in deploy mode; with either, Airflow sends its metrics (MLSTACK_AIRFLOW_METRICS).
The scale profile switches Airflow to its CeleryExecutor (MLSTACK_AIRFLOW_EXECUTOR): Redis and
WORKERS airflow-worker containers, consuming the `default` queue and every queue a spec's
``stages.<stage>.queue`` names (AIRFLOW_WORKER_QUEUES); `flower` brings scale with it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEPLOY_FILE = ROOT / "docker-compose.deploy.yml"  # the overlay of deploy mode (make deploy)
#: deploy mode with WORKER_BIND: the broker, databases, S3 and APIs published for remote workers
REMOTE_WORKERS_FILE = ROOT / "docker-compose.remote-workers.yml"
#: a second machine's Celery workers (`make worker PRIMARY=...`: MLSTACK_PRIMARY_ADDRESS)
WORKER_FILE = ROOT / "docker-compose.worker.yml"
WORKER_SERVICES = ("airflow-worker",)  # what `make worker` runs on a second machine
WHEELS_DIR = ROOT / "infra" / "wheels"
LOCK_FILE = ROOT / "requirements.lock"
#: the operator's plugin packages the image installs, and where `wheels` stages them
PLUGIN_PACKAGES = ROOT / "infra" / "plugin-packages.txt"
PLUGIN_WHEELS = WHEELS_DIR / "plugins"
PLUGIN_SOURCE_JUNK = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".venv", ".git"
)
#: the project image's build needs these beside the lock's wheels (infra/Dockerfile)
BUILD_WHEELS = ("uv==0.13.9", "setuptools==80.9.0", "wheel==0.45.1")
DEFAULT_PROJECT = "mlstack"  # `name:` in docker-compose.yml
USECASES_DIR = ROOT / "include" / "usecases"  # baked into the image: what the stack runs
TRIGGERER_PROFILE = "triggerer"
OBSERVABILITY_PROFILE = "observability"  # Prometheus, metrics-receiver, Grafana (deploy: on)
#: profiles with Prometheus and the receiver of Airflow's metrics (`metrics`: no Grafana)
METRICS_PROFILES = {OBSERVABILITY_PROFILE, "metrics"}
SCALE_PROFILE = "scale"  # Airflow's CeleryExecutor: Redis and the airflow-worker containers
FLOWER_PROFILE = "flower"  # Celery's Flower UI (needs the scale profile's broker)
#: Airflow's queue for tasks that name none ([operators] default_queue)
DEFAULT_QUEUE = "default"
#: compose commands that would start containers, which must never run on placeholders
STARTING_COMMANDS = {"up", "run", "create", "start", "restart", "exec", "build", "watch"}


def say(message: str, *, err: bool = False) -> None:
    """One line for the user (this is a command-line tool: its output is the interface)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(message + "\n")
    stream.flush()


def _fernet_key() -> str:
    """A Fernet key (32 random bytes, url-safe base64), as cryptography's generate_key()."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _password() -> str:
    """A URL-safe random password: safe inside SQLAlchemy URLs and JSON without escaping."""
    return secrets.token_urlsafe(24)


#: every secret the stack needs: name -> (generator, what it is)
SECRETS = {
    "POSTGRES_PASSWORD": (_password, "Postgres superuser (only the init script uses it)"),
    "AIRFLOW_DB_PASSWORD": (_password, "Postgres user `airflow`"),
    "MLFLOW_DB_PASSWORD": (_password, "Postgres user `mlflow`"),
    "MLSTACK_DB_PASSWORD": (_password, "Postgres user `mlstack`"),
    "MINIO_ROOT_PASSWORD": (_password, "MinIO root password (S3 secret key)"),
    "AIRFLOW_FERNET_KEY": (_fernet_key, "encrypts Airflow connections and variables"),
    "AIRFLOW_JWT_SECRET": (_password, "signs tokens between Airflow components"),
    "AIRFLOW_API_SECRET_KEY": (_password, "signs the Airflow UI's session cookies"),
    "AIRFLOW_ADMIN_PASSWORD": (_password, "Airflow UI/API user `admin`"),
    # deploy mode: MLflow requires a login (its basic-auth app)
    "MLFLOW_ADMIN_PASSWORD": (_password, "MLflow user `admin` (deploy mode)"),
    "MLFLOW_FLASK_SECRET_KEY": (_password, "signs MLflow's login forms (deploy mode)"),
    "MLFLOW_AIRFLOW_PASSWORD": (_password, "MLflow account `airflow`: the tasks (deploy mode)"),
    "MLFLOW_GATEWAY_PASSWORD": (_password, "MLflow account `gateway`: read-only (deploy mode)"),
    "MLSTACK_GATEWAY_DB_PASSWORD": (_password, "Postgres role `mlstack_gateway` (deploy mode)"),
    "S3_MLFLOW_SECRET": (_password, "S3 account `mlstack-mlflow`: the mlflow bucket (deploy mode)"),
    "S3_MLSTACK_SECRET": (_password, "S3 account `mlstack-mlstack`: the lake (deploy mode)"),
    "S3_GATEWAY_SECRET": (_password, "S3 account `mlstack-gateway`: reads mlflow (deploy mode)"),
    "GRAFANA_ADMIN_PASSWORD": (_password, "Grafana user `admin` (observability profile)"),
    "MLSTACK_GRAFANA_DB_PASSWORD": (_password, "Postgres role `mlstack_grafana`: read-only"),
    "MLSTACK_ADMIN_PASSWORD": (_password, "the proxy's admin login `admin` (deploy mode)"),
    "REDIS_PASSWORD": (_password, "the Celery broker (Redis) of the scale profile"),
}


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


def ensure_env(
    path: Path,
    *,
    project: str | None = DEFAULT_PROJECT,
    wanted: dict[str, tuple[Callable[[], str], str]] = SECRETS,
) -> list[str]:
    """Create ``path`` with generated secrets (``wanted``: every secret of the stack), or
    append the ones it lacks.

    Returns the names written. Refuses to create a fresh file while the compose ``project``'s
    Postgres volume exists: its users were created with the passwords of the lost .env
    (``project=None``: no compose project, e.g. a Kubernetes deployment's secrets).
    """
    existing = read_env(path)
    missing = [name for name in wanted if not existing.get(name)]
    if not missing:
        return []
    if not path.exists() and project and _volume_exists(f"{project}_postgres-data"):
        raise SystemExit(
            f"{path} is missing but the volume {project}_postgres-data exists: its database "
            "users have the passwords of the old .env. Restore that file, or remove the "
            "stack's data with `make clean` and run `make up` again."
        )
    lines = []
    if not path.exists():
        lines += [
            "# mlstack stack secrets, generated by `make up`. Keep this file private; it is",
            "# gitignored. Every other setting is documented in .env.example.",
        ]
    lines.append(f"# generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    for name in missing:
        generate, what = wanted[name]
        lines += [f"# {what}", f"{name}={generate()}"]
    prefix = "" if not path.exists() or path.read_text().endswith("\n") else "\n"
    with _private(path) as handle:
        handle.write(prefix + "\n".join(lines) + "\n")
    return missing


def _private(path: Path):
    """``path`` opened for appending, readable by its owner only *before* a byte is written:
    a new file is created with mode 0600, an existing one is fixed to it first."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "a")


def set_env(path: Path, values: dict[str, str]) -> None:
    """Set KEY=VALUE settings in the env file: replace a key's line, or append it."""
    lines = path.read_text().splitlines() if path.exists() else []
    pending = dict(values)
    for i, line in enumerate(lines):
        key = line.partition("=")[0].strip()
        if not line.lstrip().startswith("#") and key in pending:
            lines[i] = f"{key}={pending.pop(key)}"
    lines += [f"{key}={value}" for key, value in pending.items()]
    with _private(path) as handle:
        handle.truncate(0)
        handle.write("\n".join(lines) + "\n")


def _volume_exists(name: str) -> bool:
    result = subprocess.run(
        ["docker", "volume", "inspect", name], capture_output=True, text=True, check=False
    )
    return result.returncode == 0


# --- the wheel cache --------------------------------------------------------------------


def _docker_arch() -> str:
    """The Docker engine's CPU as a wheel platform suffix (x86_64, aarch64)."""
    arch = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Arch}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)


def _pip_download(arch: str) -> list[str]:
    """``pip download`` of wheels (no dependencies) for the image's Python on Linux ``arch``."""
    # pip does not widen a manylinux platform to the older ones it includes: list them.
    # Debian bookworm (the image's base) has glibc 2.36.
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(36, 16, -1)]
    platforms += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    return [
        *(sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps"),
        "--quiet",  # one line per wheel otherwise; the callers say what they did
        "--only-binary=:all:",
        "--python-version=3.11",
        "--implementation=cp",
        *(f"--abi={abi}" for abi in ("cp311", "abi3", "none")),
        *(f"--platform={platform}" for platform in platforms),
    ]


def fetch_wheels(*, arch: str | None = None) -> bool:
    """Fill infra/wheels/ with the lock's wheels for Linux on ``arch``; False if up to date."""
    arch = arch or _docker_arch()
    stamp = WHEELS_DIR / ".stamp"
    key = f"{arch} {hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()} {' '.join(BUILD_WHEELS)}"
    if stamp.exists() and stamp.read_text() == key:
        return False
    pip = _pip_download(arch)
    say(f"stack: downloading wheels for linux/{arch} into {WHEELS_DIR.relative_to(ROOT)}/ ...")
    subprocess.run([*pip, "-r", str(LOCK_FILE), "-d", str(WHEELS_DIR)], check=True)
    subprocess.run([*pip, *BUILD_WHEELS, "-d", str(WHEELS_DIR / "build")], check=True)
    wheels = list(WHEELS_DIR.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels) / 2**20
    say(f"stack: {len(wheels)} wheels ({size:.0f} MiB) in {WHEELS_DIR.relative_to(ROOT)}/")
    stamp.write_text(key)
    return True


def plugin_packages(listing: Path = PLUGIN_PACKAGES) -> list[str]:
    """The entries of the operator's plugin list: one a line, ``#`` starts a comment."""
    if not listing.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in listing.read_text().splitlines())
    return [line for line in lines if line]


def stage_plugins(
    *, arch: str | None = None, listing: Path = PLUGIN_PACKAGES, dest: Path = PLUGIN_WHEELS
) -> list[str]:
    """Put the plugin packages ``listing`` names where the image build takes them from,
    replacing what an earlier run put there; what was staged, one line each.

    An entry is a folder with a ``pyproject.toml`` (relative to the repository; copied to
    ``dest/src/``, the image builds its wheel with setuptools, offline), a ``.whl`` file
    (copied) or a requirement such as ``acme-mlstack==1.2`` (its wheel downloaded for the
    image's platform, without dependencies: those must be in requirements.lock or listed
    too)."""
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "src").mkdir(parents=True)
    staged, requirements = [], []
    for entry in plugin_packages(listing):
        path = Path(entry) if Path(entry).is_absolute() else ROOT / entry
        if path.is_dir():
            if not (path / "pyproject.toml").exists():
                raise SystemExit(
                    f"stack: {listing.name}: {entry} has no pyproject.toml; list a plugin "
                    "package's folder, a .whl file or a requirement (name==version)"
                )
            if (dest / "src" / path.name).exists():
                raise SystemExit(f"stack: {listing.name}: two plugin folders named {path.name}")
            shutil.copytree(path, dest / "src" / path.name, ignore=PLUGIN_SOURCE_JUNK)
            staged.append(f"{entry} (source, built in the image)")
        elif entry.endswith(".whl"):
            if not path.is_file():
                raise SystemExit(f"stack: {listing.name}: wheel {entry} does not exist")
            shutil.copy2(path, dest / path.name)
            staged.append(f"{entry} (wheel)")
        else:
            requirements.append(entry)
    if requirements:
        pip = _pip_download(arch or _docker_arch())
        subprocess.run([*pip, *requirements, "-d", str(dest)], check=True)
        staged += [f"{r} (downloaded)" for r in requirements]
    return staged


# --- which optional services run ------------------------------------------------------


def _merged(raw: dict, overrides: dict) -> dict:
    """``raw`` with ``overrides`` merged in, as mlstack.specs.merge_overrides does (mappings
    key by key, anything else replaced); stack.py cannot import mlstack before the venv."""
    out = dict(raw)
    for key, value in overrides.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both else value
    return out


def usecase_specs(overrides: str = "", usecases_dir: Path = USECASES_DIR) -> dict[str, dict]:
    """The use cases' usecase.yaml files as raw mappings, by name, with MLSTACK_SPEC_OVERRIDES
    (JSON or YAML) merged over them. An unreadable spec is left out: it gets no DAGs."""
    import yaml  # the venv's (stack.py runs on it); only the questions on specs need it

    specs: dict[str, dict] = {}
    for path in sorted(usecases_dir.glob("*/usecase.yaml")):
        try:
            spec = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            continue
        if isinstance(spec, dict):
            specs[str(spec.get("name") or path.parent.name)] = spec
    extra = yaml.safe_load(overrides) if overrides.strip() else None
    for name, sections in (extra or {}).items() if isinstance(extra, dict) else []:
        if isinstance(sections, dict):
            specs[str(name)] = _merged(specs.get(str(name), {}), sections)
    return specs


def _section(spec: dict, *keys: str) -> dict:
    """``spec[keys[0]][keys[1]]...``, or {} where a level is missing or not a mapping."""
    for key in keys:
        spec = spec.get(key) if isinstance(spec, dict) else None  # type: ignore[assignment]
    return spec if isinstance(spec, dict) else {}


def approval_usecases(overrides: str = "", usecases_dir: Path = USECASES_DIR) -> list[str]:
    """Use cases whose promotion waits for a human (``promotion.require_approval``), with
    MLSTACK_SPEC_OVERRIDES (JSON or YAML) applied over their usecase.yaml files."""
    specs = usecase_specs(overrides, usecases_dir)
    return sorted(n for n, s in specs.items() if _section(s, "promotion").get("require_approval"))


def worker_queues(overrides: str = "", usecases_dir: Path = USECASES_DIR) -> list[str]:
    """The Celery queues the workers consume: ``default`` and every queue a spec routes a
    stage to (``stages.<stage>.queue``), MLSTACK_SPEC_OVERRIDES applied."""
    named = {
        str(run["queue"])
        for spec in usecase_specs(overrides, usecases_dir).values()
        for run in _section(spec, "stages").values()
        if isinstance(run, dict) and run.get("queue")
    }
    return [DEFAULT_QUEUE, *sorted(named - {DEFAULT_QUEUE})]


def triggerer_reason(env: dict[str, str]) -> str | None:
    """Why the stack runs Airflow's triggerer, or None when nothing would defer.

    Deferred tasks wait in the triggerer; without one they wait forever. Today only the
    HITL approval step of the promote DAG defers (the rollout's sensor reschedules)."""
    setting = env.get("AIRFLOW_TRIGGERER", "auto").strip().lower()
    if setting in ("true", "1", "yes", "on"):
        return "AIRFLOW_TRIGGERER=true"
    if setting in ("false", "0", "no", "off"):
        return None
    needing = approval_usecases(env.get("MLSTACK_SPEC_OVERRIDES", ""))
    if needing:
        return f"promotion.require_approval in {', '.join(needing)} (a deferred approval task)"
    return None


# --- deploy mode --------------------------------------------------------------------
CA_IN_CADDY = "/data/caddy/pki/authorities/local/root.crt"  # Caddy's own CA (no domain)


def route_address() -> str | None:
    """This host's address on its default route (a UDP socket's; no packet is sent)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routed like the internet, never used
            return str(probe.getsockname()[0])
        except OSError:
            return None


def deploy_settings(domain: str = "", host: str = "") -> dict[str, str]:
    """The .env settings of deploy mode (docker-compose.deploy.yml reads them).

    With ``domain`` Caddy gets certificates for it from Let's Encrypt. Without one it serves
    ``host`` (default: this VM's address on its default route, else 127.0.0.1) and localhost
    with certificates of its own CA, whose certificate clients then need (:func:`export_ca`).
    A client that connects by an address sends no server name (RFC 6066), so Caddy answers
    every address with ``host``'s certificate: on the VM itself, use localhost.
    """
    if domain:
        return {
            "MLSTACK_DEPLOY": "1",
            "MLSTACK_SITE": domain,
            "MLSTACK_PUBLIC_URL": f"https://{domain}",
            "MLSTACK_DEFAULT_SNI": domain,
            "MLSTACK_CADDY_GLOBAL": "",
        }
    names = list(dict.fromkeys((host or route_address() or "127.0.0.1", "localhost")))
    return {
        "MLSTACK_DEPLOY": "1",
        "MLSTACK_SITE": ", ".join(names),
        "MLSTACK_PUBLIC_URL": f"https://{names[0]}",
        "MLSTACK_DEFAULT_SNI": names[0],
        "MLSTACK_CADDY_GLOBAL": "local_certs",
    }


def export_ca(compose: Compose, dest: Path, *, timeout: float = 60) -> Path | None:
    """Copy Caddy's CA certificate to ``dest`` (None with a domain: public CAs need none)."""
    if compose.settings().get("MLSTACK_CADDY_GLOBAL", "").strip() != "local_certs":
        return None
    deadline = time.monotonic() + timeout
    while True:
        copied = subprocess.run(
            compose.command("cp", f"caddy:{CA_IN_CADDY}", str(dest)),
            env=compose.environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        if copied.returncode == 0:
            return dest
        if time.monotonic() > deadline:
            raise SystemExit(f"stack: Caddy wrote no CA certificate: {copied.stderr.strip()}")
        time.sleep(2)


# --- compose and health -----------------------------------------------------------------


class BuildFailed(RuntimeError):
    """`compose build` failed; the message holds its last lines and Docker's free space."""

    def __init__(self, code: int, tail: str, free: str) -> None:
        super().__init__(
            f"docker compose build failed (exit {code}); {free}; its last lines:{tail}"
        )


def docker_free(env: dict[str, str] | None = None) -> str:
    """Free space on the filesystem of Docker's root dir (``docker info``), said in GB."""
    try:
        root = subprocess.run(
            ["docker", "info", "--format", "{{.DockerRootDir}}"],
            capture_output=True, text=True, check=True, timeout=30, env=env,
        ).stdout.strip()  # fmt: skip
        return f"{shutil.disk_usage(root).free / 1e9:.1f} GB free in {root}"
    except (OSError, subprocess.SubprocessError) as error:
        return f"Docker's free space unknown ({error})"


@dataclass
class Compose:
    """`docker compose` for one project of this repository's compose file."""

    project: str = DEFAULT_PROJECT
    env_file: Path = ROOT / ".env"
    extra_env: dict[str, str] = field(default_factory=dict)
    #: another compose file (e.g. an older version, for a benchmark); paths stay the repo's
    file: Path = COMPOSE_FILE

    def deployed(self) -> bool:
        """Deploy mode: MLSTACK_DEPLOY=1 (written by `make deploy`) adds the deploy overlay."""
        return self.settings().get("MLSTACK_DEPLOY", "").strip() in ("1", "true")

    def remote_worker(self) -> bool:
        """A second machine's workers: MLSTACK_PRIMARY_ADDRESS (written by `make worker`)."""
        return bool(self.settings().get("MLSTACK_PRIMARY_ADDRESS", "").strip())

    def files(self) -> list[Path]:
        """The compose files: the stack's; the deploy overlay in deploy mode; then either the
        worker overlay (a second machine) or, with WORKER_BIND, the primary's ports for it."""
        files = [self.file, *([DEPLOY_FILE] if self.deployed() else [])]
        if self.remote_worker():
            files.append(WORKER_FILE)
        elif self.deployed() and self.settings().get("WORKER_BIND", "").strip():
            files.append(REMOTE_WORKERS_FILE)
        return files

    def remember_files(self) -> None:
        """Write :meth:`files` into the env file as COMPOSE_FILE (when it changed), so that a
        plain `docker compose ...` in this folder sees the same files as `make`: in deploy
        mode the overlay's services too (`docker compose run --rm mlflow-accounts ...`)."""
        files = os.pathsep.join(
            str(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f) for f in self.files()
        )
        if self.env_file.exists() and read_env(self.env_file).get("COMPOSE_FILE") != files:
            set_env(self.env_file, {"COMPOSE_FILE": files})

    def command(self, *args: str) -> list[str]:
        env_file = ["--env-file", str(self.env_file)] if self.env_file.exists() else []
        files = self.files()
        where = [*(arg for f in files for arg in ("-f", str(f))), "--project-directory", str(ROOT)]
        return ["docker", "compose", *where, "-p", self.project, *env_file, *args]

    def settings(self) -> dict[str, str]:
        """The variables compose sees: the env file, overridden by the process environment."""
        return {**read_env(self.env_file), **os.environ, **self.extra_env}

    def project_image(self) -> str:
        """The image the stack's own services run: MLSTACK_IMAGE, empty or unset
        ``mlstack:local`` (as the compose files' ``${MLSTACK_IMAGE:-mlstack:local}``)."""
        return self.settings().get("MLSTACK_IMAGE") or "mlstack:local"

    def triggerer(self) -> str | None:
        """Why this stack runs Airflow's triggerer (profile ``triggerer``), or None."""
        return triggerer_reason(self.settings())

    def profiles(self) -> list[str]:
        """The compose profiles this stack runs: COMPOSE_PROFILES (env file, environment),
        ``triggerer`` when a use case defers (:func:`triggerer_reason`), ``scale`` with
        ``flower``, ``observability`` in deploy mode unless a metrics profile is named."""
        profiles = [p for p in self.settings().get("COMPOSE_PROFILES", "").split(",") if p]
        if self.triggerer() and TRIGGERER_PROFILE not in profiles:
            profiles.append(TRIGGERER_PROFILE)
        if FLOWER_PROFILE in profiles and SCALE_PROFILE not in profiles:
            profiles.append(SCALE_PROFILE)  # Flower shows the scale profile's workers
        if self.deployed() and deploy_adds_observability(profiles):
            profiles.append(OBSERVABILITY_PROFILE)
        return profiles

    def environment(self) -> dict[str, str]:
        """The process environment for compose. Without the env file the secrets are
        placeholders, so that commands that start nothing (down, ps, logs) still work.
        COMPOSE_PROFILES is :meth:`profiles`; MLSTACK_AIRFLOW_METRICS turns Airflow's metrics
        on when Prometheus runs; MLSTACK_AIRFLOW_EXECUTOR and AIRFLOW_WORKER_QUEUES are
        :meth:`executor` and :func:`worker_queues`."""
        env = {**os.environ, **self.extra_env}
        if not self.env_file.exists():
            env.update({name: "placeholder-no-env-file" for name in SECRETS if name not in env})
        profiles = self.profiles()
        env["COMPOSE_PROFILES"] = ",".join(profiles)
        env["MLSTACK_AIRFLOW_METRICS"] = str(bool(METRICS_PROFILES & set(profiles))).lower()
        env["MLSTACK_AIRFLOW_EXECUTOR"] = self.executor(profiles)
        if SCALE_PROFILE in profiles:
            overrides = self.settings().get("MLSTACK_SPEC_OVERRIDES", "")
            env["AIRFLOW_WORKER_QUEUES"] = ",".join(worker_queues(overrides))
        return env

    def executor(self, profiles: list[str] | None = None) -> str:
        """Airflow's executor: CeleryExecutor with the scale profile, else LocalExecutor."""
        scaled = SCALE_PROFILE in (self.profiles() if profiles is None else profiles)
        return "CeleryExecutor" if scaled else "LocalExecutor"

    def run(self, *args: str, check: bool = True, capture: bool = False, **kwargs) -> str:
        result = subprocess.run(
            self.command(*args),
            check=check,
            text=True,
            capture_output=capture,
            env=self.environment(),
            **kwargs,
        )
        return result.stdout if capture else ""

    def build(self, *args: str, tail: int = 40) -> None:
        """`compose build`, its output shown as it comes. On failure the error carries the
        output's last ``tail`` lines and the free space where Docker keeps its images (a log
        cut to its end still says why a build failed; a full disk, say)."""
        last: deque[str] = deque(maxlen=tail)
        with subprocess.Popen(
            self.command("build", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.environment(),
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                sys.stdout.write(line)
                last.append(line.rstrip("\n"))
        if process.returncode:
            raise BuildFailed(
                process.returncode,
                "".join(f"\n  | {x}" for x in last),
                docker_free(self.environment()),
            )

    def services(self) -> dict[str, dict]:
        """The services that `up` starts (active profiles only), as compose resolves them;
        on a second machine (:meth:`remote_worker`) only its workers."""
        found = json.loads(self.run("config", "--format", "json", capture=True))["services"]
        if self.remote_worker():
            return {name: spec for name, spec in found.items() if name in WORKER_SERVICES}
        return found

    def containers(self) -> dict[str, dict]:
        """Service name -> its container's state (State, Health, ExitCode), stopped included."""
        out = self.run("ps", "--all", "--format", "json", capture=True).strip()
        rows = json.loads(out) if out.startswith("[") else [json.loads(x) for x in out.splitlines()]
        return {row["Service"]: row for row in rows}

    def logs(self, service: str, tail: int = 60) -> str:
        return self.run(
            "logs", "--no-color", "--tail", str(tail), service, capture=True, check=False
        )


def _is_one_shot(spec: dict) -> bool:
    """An init job: not restarted, no healthcheck; done when it exited 0."""
    return spec.get("restart", "no") == "no" and not spec.get("healthcheck")


def _service_state(spec: dict, container: dict | None) -> tuple[str, bool, bool]:
    """(label, ready, failed) of one service."""
    if container is None:
        return "not created", False, False
    state, health = container.get("State", ""), container.get("Health", "")
    if _is_one_shot(spec):
        if state == "exited":
            code = container.get("ExitCode", 0)
            return f"exited {code}", code == 0, code != 0
        return state, False, False
    if state != "running":
        return state, False, state in ("exited", "dead")
    if spec.get("healthcheck") and not spec["healthcheck"].get("disable"):
        return health or "starting", health == "healthy", health == "unhealthy"
    return "running", True, False


#: deploy mode's entry point: its container runs a moment before it answers (about 1 s
#: after a re-create here), and neither image has a tool for a health check of its own
PROXY = "caddy"


def proxy_answers(settings: dict[str, str], port: int = 80) -> bool:
    """True when Caddy answers HTTP on its published port 80 (its redirect to HTTPS) at the
    address it is bound to (DEPLOY_BIND; 127.0.0.1 when bound to every address)."""
    bind = settings.get("DEPLOY_BIND") or "0.0.0.0"
    host = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind.strip("[]")
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.sendall(b"HEAD / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            return conn.recv(5) == b"HTTP/"
    except OSError:
        return False


#: how long a service may stay `unhealthy` before the wait gives up on it: on a crowded
#: machine a healthcheck times out a few times in a row and then passes again
UNHEALTHY_GRACE = 120.0


def wait_healthy(
    compose: Compose, *, timeout: float = 600, quiet: bool = False, grace: float = UNHEALTHY_GRACE
) -> float:
    """Block until every service is ready (deploy mode's Caddy: answering, not only
    running); returns seconds waited.

    Raises SystemExit (after printing the failing services' logs) when one exits with an
    error, stays unhealthy for ``grace`` seconds, or the time runs out.
    """
    specs = compose.services()
    start = time.monotonic()
    last = ""
    unhealthy_since: dict[str, float] = {}
    while True:
        containers = compose.containers()
        states = {name: _service_state(spec, containers.get(name)) for name, spec in specs.items()}
        if states.get(PROXY, ("", False, False))[1] and not proxy_answers(compose.settings()):
            states[PROXY] = ("not answering yet", False, False)
        elapsed = time.monotonic() - start
        line = "  ".join(f"{name}={label}" for name, (label, _, _) in sorted(states.items()))
        if line != last and not quiet:
            say(f"[{elapsed:5.0f}s] {line}")
            last = line
        for name, (label, _, _) in states.items():
            if label == "unhealthy":
                unhealthy_since.setdefault(name, elapsed)
            else:
                unhealthy_since.pop(name, None)
        failed = [
            name
            for name, (label, _, bad) in states.items()
            if bad and (label != "unhealthy" or elapsed - unhealthy_since[name] >= grace)
        ]
        if all(ready for _, ready, _ in states.values()):
            return elapsed
        if failed or elapsed > timeout:
            waiting = failed or [name for name, (_, ok, _) in states.items() if not ok]
            reason = "failed" if failed else f"not ready after {timeout:.0f}s"
            print_logs(compose, waiting)
            raise SystemExit(f"stack: {', '.join(sorted(waiting))} {reason} (logs above)")
        time.sleep(2)


def print_logs(compose: Compose, services: list[str], tail: int = 60) -> None:
    for name in sorted(services):
        say(f"\n----- logs of {name} (last {tail} lines) -----", err=True)
        say(compose.logs(name, tail), err=True)


def unready_services(compose: Compose) -> list[str]:
    """Services that are not ready right now (for printing logs after a failure)."""
    specs = compose.services()
    containers = compose.containers()
    return [
        name for name, spec in specs.items() if not _service_state(spec, containers.get(name))[1]
    ]


def urls(env_file: Path) -> str:
    """Where everything is, and how to log in."""
    env = read_env(env_file)
    if env.get("MLSTACK_DEPLOY") in ("1", "true"):
        return deployed_urls(env)

    def port(name: str, default: str) -> str:
        return os.environ.get(name) or env.get(name) or default

    user = env.get("MINIO_ROOT_USER", "mlstack")
    return "\n".join(
        [
            "mlstack is up:",
            f"  Airflow   http://127.0.0.1:{port('AIRFLOW_PORT', '8080')}"
            "   user admin, password AIRFLOW_ADMIN_PASSWORD in .env",
            f"  MLflow    http://127.0.0.1:{port('MLFLOW_PORT', '5000')}",
            f"  Gateway   http://127.0.0.1:{port('GATEWAY_PORT', '8000')}   (model serving)",
            f"  MinIO     http://127.0.0.1:{port('MINIO_CONSOLE_PORT', '9001')} (console),"
            f" S3 API http://127.0.0.1:{port('MINIO_PORT', '9000')}"
            f"   user {user}, password MINIO_ROOT_PASSWORD in .env",
            *observability_urls(env, port),
            "  `make status` shows health, `make logs s=SERVICE` the logs, `make down` stops it.",
        ]
    )


def deploy_adds_observability(profiles: Iterable[str]) -> bool:
    """Deploy mode runs the observability profile unless a metrics profile is named."""
    return not METRICS_PROFILES & set(profiles)


def chosen_profiles(env: dict[str, str]) -> set[str]:
    """The profiles COMPOSE_PROFILES names (the environment's, else the env file's)."""
    return set((os.environ.get("COMPOSE_PROFILES") or env.get("COMPOSE_PROFILES", "")).split(","))


def observability_urls(env: dict[str, str], port: Callable[[str, str], str]) -> list[str]:
    """Prometheus' and Grafana's lines of :func:`urls`, when their profile is on."""
    profiles = chosen_profiles(env)
    lines = []
    if METRICS_PROFILES & profiles:
        lines.append(f"  Prometheus http://127.0.0.1:{port('PROMETHEUS_PORT', '9090')}")
    if OBSERVABILITY_PROFILE in profiles:
        lines.append(
            f"  Grafana   http://127.0.0.1:{port('GRAFANA_PORT', '3000')}"
            "   user admin, password GRAFANA_ADMIN_PASSWORD in .env"
        )
    if FLOWER_PROFILE in profiles:
        lines.append(f"  Flower    http://127.0.0.1:{port('FLOWER_PORT', '5555')}   (Celery)")
    return lines


def deployed_urls(env: dict[str, str]) -> str:
    """Where everything is in deploy mode: one host, by path, through Caddy."""
    url = env.get("MLSTACK_PUBLIC_URL", "https://<host>")
    admin = "the proxy's login: user admin, password MLSTACK_ADMIN_PASSWORD in .env"
    lines = [
        f"mlstack is deployed at {url} (only Caddy is published: 443, and 80 redirecting):",
        f"  Airflow   {url}/          user admin, password AIRFLOW_ADMIN_PASSWORD in .env",
        "            people: docker compose exec airflow-apiserver mlstack users add NAME"
        " --group GROUP",
        f"  MLflow    {url}/mlflow/   user admin, password MLFLOW_ADMIN_PASSWORD in .env",
        f"  Gateway   {url}/v1/       API keys: docker compose exec airflow-scheduler"
        " mlstack gateway keys create --name WHO --usecase NAME",
        f"  MinIO     {url}/minio/    {admin}, then MinIO's root user",
    ]
    profiles = chosen_profiles(env)
    if OBSERVABILITY_PROFILE in profiles or deploy_adds_observability(profiles):
        lines.append(f"  Grafana   {url}/grafana/  {admin}, then Grafana's: GRAFANA_ADMIN_PASSWORD")
    if FLOWER_PROFILE in profiles:
        lines.append(f"  Flower    {url}/flower/   {admin}")
    if env.get("MLSTACK_CADDY_GLOBAL", "").strip() == "local_certs":
        lines.append(
            f"  TLS: Caddy's own CA; give clients {CA_FILE.name} (curl --cacert {CA_FILE.name})"
        )
    return "\n".join(lines)


CA_FILE = ROOT / "mlstack-ca.crt"  # where `make deploy` puts Caddy's CA certificate


# --- upgrade ----------------------------------------------------------------------------
#: services that keep running while the others are stopped and their databases migrated
DATA_SERVICES = ("postgres", "minio")


def docker(*args: str) -> str:
    """``docker ARGS`` (not compose), its output; raises CalledProcessError on failure."""
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


#: pre-upgrade images an upgrade leaves (the newest; `make upgrade KEEP_IMAGES=n`): each is a
#: whole image (~2 GB when the dependencies changed), so a VM upgraded every month would fill up
KEEP_IMAGES = 3
PREVIOUS_TAG = re.compile(r"pre-upgrade-\d{8}-\d{6}")


def _repository(image: str) -> str:
    """``mlstack:local`` -> ``mlstack``; ``reg:5000/ml/mlstack`` keeps its registry's port."""
    name, _, tag = image.rpartition(":")
    return name if name and "/" not in tag else image


def _previous_tag(image: str, stamp: str) -> str:
    """``mlstack:local`` -> ``mlstack:pre-upgrade-STAMP`` (a registry's port is kept)."""
    return f"{_repository(image)}:pre-upgrade-{stamp}"


@dataclass
class Upgrade:
    """`make upgrade` after its backup: keep the old image, build the new one, migrate the
    three databases with the services that write them stopped, start, wait until healthy.

    Every step says what it does; :meth:`way_back` is printed at the end and on failure."""

    compose: Compose
    backup: str  # how the backup was taken ("make backup" or "none: NO_BACKUP=1")
    keep_images: int = KEEP_IMAGES  # pre-upgrade images left after a successful upgrade
    stamp: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%d-%H%M%S"))
    run_docker: Callable[..., str] = docker
    previous_image: str | None = None
    mlstack_before: str | None = None

    def step(self, what: str) -> None:
        say(f"upgrade: {what}")

    def keep_previous_image(self) -> None:
        """Tag the image the stack runs now, so the way back can start it again."""
        image = self.compose.project_image()
        try:
            image_id = self.run_docker("image", "inspect", "--format", "{{.Id}}", image).strip()
        except subprocess.CalledProcessError:
            self.step(f"no image {image} yet: nothing to keep")
            return
        self.previous_image = _previous_tag(image, self.stamp)
        self.run_docker("tag", image_id, self.previous_image)
        self.step(f"the image that ran until now is kept as {self.previous_image}")

    def forget_old_images(self) -> None:
        """Untag all but the newest ``keep_images`` pre-upgrade images of the stack's image
        (Docker then deletes what no other tag holds); this upgrade's own is the newest. One
        a container still uses stays, and the upgrade says so."""
        repository = _repository(self.compose.project_image())
        try:
            listed = self.run_docker("image", "ls", "--format", "{{.Tag}}", repository).split()
        except subprocess.CalledProcessError as exc:  # the upgrade itself has succeeded
            self.step(f"could not list the older kept images of {repository}: {exc}")
            return
        stamps = sorted((t for t in listed if PREVIOUS_TAG.fullmatch(t)), reverse=True)
        for tag in stamps[self.keep_images :]:
            try:
                self.run_docker("image", "rm", f"{repository}:{tag}")
                self.step(f"removed {repository}:{tag} (older than the newest {self.keep_images})")
            except subprocess.CalledProcessError as exc:
                why = (exc.stderr or "").strip() or f"exit {exc.returncode}"
                self.step(f"kept {repository}:{tag}: docker image rm refused ({why})")

    def pulled_services(self) -> list[str]:
        """Services on a public image (by variable), not on the project image built here."""
        services = self.compose.services()
        project = self.compose.project_image()
        return sorted(name for name, spec in services.items() if spec.get("image") != project)

    def app_services(self) -> list[str]:
        """Every service but the data services (they stay up for the migrations)."""
        return sorted(set(self.compose.services()) - set(DATA_SERVICES))

    def oneshot(self, service: str, *command: str, capture: bool = False) -> str:
        """Run ``command`` in a throwaway container of ``service`` (its image and settings);
        its output shows as it comes unless ``capture``."""
        return self.compose.run("run", "--rm", "--no-deps", service, *command, capture=capture)

    def pull(self, services: list[str]) -> None:
        """Pull the public images of ``services``. One that cannot be pulled (no registry
        reachable: an air-gapped VM, images loaded by hand) is used as this machine has it,
        and the upgrade says so; one this machine does not have either stops the upgrade."""
        try:
            self.compose.run("pull", "--quiet", *services)
            return
        except subprocess.CalledProcessError:
            pass
        images = {name: self.compose.services()[name]["image"] for name in services}
        for name, image in images.items():
            try:
                self.compose.run("pull", "--quiet", name)
                continue
            except subprocess.CalledProcessError:
                pass
            try:
                self.run_docker("image", "inspect", "--format", "{{.Id}}", image)
            except subprocess.CalledProcessError:
                raise SystemExit(
                    f"cannot pull {image} ({name}) and this machine does not have it: "
                    "check the registry is reachable, or load the image (docker load)"
                ) from None
            self.step(f"could not pull {image} ({name}): the image on this machine is used")

    def run(self) -> float:
        """All the steps; returns the seconds the stack took to be healthy."""
        self.keep_previous_image()
        pulled = self.pulled_services()
        self.step(f"pulling {', '.join(pulled) or 'no image'}; building the project image")
        if pulled:
            self.pull(pulled)
        self.compose.build()
        self.step(f"stopping {', '.join(self.app_services())}; {', '.join(DATA_SERVICES)} stay up")
        self.compose.run("stop", *self.app_services())
        self.compose.run("up", "--detach", "--wait", *DATA_SERVICES)
        found = self.oneshot("mlstack-init", "mlstack", "db", "current", capture=True).strip()
        self.mlstack_before = (
            found.split(" ")[0] if found and not found.startswith("none") else None
        )
        self.step("airflow db migrate")
        self.oneshot("airflow-init", "airflow", "db", "migrate")
        self.step("mlflow db upgrade (MLflow's tracking database)")
        upgrade_mlflow = 'exec mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"'
        self.oneshot("mlflow", "sh", "-c", upgrade_mlflow)
        self.step("mlstack db upgrade (mlstack's tables)")
        self.oneshot("mlstack-init", "mlstack", "db", "upgrade")
        self.step("starting every service")
        self.compose.run("up", "--detach", "--remove-orphans")
        elapsed = wait_healthy(self.compose)
        self.forget_old_images()
        return elapsed

    def way_back(self) -> str:
        """How to return to the release that ran before, with the data of before."""
        if self.previous_image:
            start = (
                f"MLSTACK_IMAGE={self.previous_image} {COMPOSE_HINT} up --detach --no-build "
                "(the image that ran before; if this upgrade changed docker-compose.yml, "
                "check out the previous release and `make up` instead)"
            )
        else:
            start = "check out the previous release and `make up`"
        lines = ["The way back to the release that ran before this upgrade:"]
        if self.backup.startswith("none"):
            lines.append("  No backup was taken (NO_BACKUP=1): the databases stay migrated.")
            if self.mlstack_before:
                lines.append(
                    "  mlstack's tables alone go back with this release's image: "
                    f"{COMPOSE_HINT} run --rm mlstack-init mlstack db downgrade "
                    f"{self.mlstack_before}"
                )
            lines.append(f"  Start the previous release: {start}")
        else:
            lines += [
                "  1. make down",
                "  2. make restore FROM=<the backup `make backup` printed above>: the three "
                "databases and the buckets as they were before the migrations",
                f"  3. {start}",
            ]
        lines.append(
            "  The previous release on the migrated databases, without a restore, is not "
            "supported: their schemas are newer than its code."
        )
        return "\n".join(lines)


COMPOSE_HINT = "python infra/stack.py compose --"  # `docker compose` on this project, for users


def upgrade(
    compose: Compose,
    backup: str,
    *,
    keep_images: int = KEEP_IMAGES,
    run_docker: Callable[..., str] = docker,
) -> None:
    """`make upgrade`'s steps after the backup; the way back printed at the end or on failure."""
    if not compose.env_file.exists():
        raise SystemExit(f"upgrade: {compose.env_file} is missing: nothing to upgrade (`make up`)")
    if keep_images < 1:
        raise SystemExit(f"upgrade: KEEP_IMAGES={keep_images}: keep at least 1 (the way back)")
    job = Upgrade(compose, backup, keep_images=keep_images, run_docker=run_docker)
    try:
        elapsed = job.run()
    except (subprocess.CalledProcessError, SystemExit) as exc:
        say(f"upgrade: FAILED ({exc})", err=True)
        say(job.way_back(), err=True)
        raise SystemExit(1) from None
    say(f"upgrade: done; every service healthy after {elapsed:.0f}s (backup: {backup})")
    say(urls(compose.env_file))
    say(job.way_back())


# --- backup and restore -----------------------------------------------------------------
# (DATA_SERVICES, above: the services that hold the data, also kept running while a restore runs)
#: the images the stack runs, recorded with a backup (mlstack.operations.versions)
IMAGE_VARIABLES = (
    "MLSTACK_IMAGE",
    "PYTHON_IMAGE",
    "POSTGRES_IMAGE",
    "MINIO_IMAGE",
    "CADDY_IMAGE",
    "PROMETHEUS_IMAGE",
    "GRAFANA_IMAGE",
    "REDIS_IMAGE",
)
#: what each named volume holds, for `make clean`
VOLUME_CONTENTS = {
    "postgres-data": "the airflow, mlflow and mlstack databases",
    "minio-data": "the lake (Iceberg tables, landing, quarantine, reports) and MLflow's models",
    "gateway-spool": "the gateway's prediction journal and spooled rows",
    "airflow-logs": "Airflow's task logs",
    "airflow-auth": "the Airflow admin's password file",
    "caddy-data": "Caddy's certificates and CA (deploy mode)",
    "caddy-config": "Caddy's configuration state (deploy mode)",
    "prometheus-data": "Prometheus' samples (observability profile)",
    "grafana-data": "Grafana's own database: users, edits made in its UI (observability profile)",
    "redis-data": "the Celery broker's queued tasks (scale profile)",
}


def s3_endpoint(compose: Compose) -> str:
    """Where this host reaches MinIO's S3 API: the published port on the laptop stack; in
    deploy mode (nothing published) the MinIO container's address on its network."""
    settings = compose.settings()
    if not compose.deployed():
        return f"http://127.0.0.1:{settings.get('MINIO_PORT') or '9000'}"
    container = compose.run("ps", "-q", "minio", capture=True).strip()
    if not container:
        raise SystemExit("stack: MinIO is not running; `make up` first")
    inspect = [
        "docker",
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
    ]
    addresses = subprocess.run(
        [*inspect, container], capture_output=True, text=True, check=True
    ).stdout.split()
    return f"http://{addresses[0]}:9000"


def mlstack_cli(compose: Compose, *args: str) -> list[str]:
    """`mlstack ARGS` on this host's venv, PostgreSQL's tools run inside the Postgres
    container (`docker compose exec -T postgres`, as its superuser)."""
    pg_exec = " ".join(shlex.quote(a) for a in compose.command("exec", "-T", "postgres"))
    return [
        sys.executable,
        "-m",
        "mlstack.cli",
        *args,
        "--pg-exec",
        pg_exec,
        "--pg-user",
        "postgres",
    ]


def backup_environment(compose: Compose) -> dict[str, str]:
    """The environment of `mlstack backup|restore` on this host: compose's, the S3 API of
    the stack's MinIO with its root credentials, the image names for the record."""
    settings = compose.settings()
    env = compose.environment()
    env.update(
        {
            "MLSTACK_S3_ENDPOINT_URL": s3_endpoint(compose),
            "MLSTACK_S3_ACCESS_KEY_ID": settings.get("MINIO_ROOT_USER") or "mlstack",
            "MLSTACK_S3_SECRET_ACCESS_KEY": settings.get("MINIO_ROOT_PASSWORD", ""),
            "MLSTACK_S3_REGION": "us-east-1",
        }
    )
    env.update({name: settings[name] for name in IMAGE_VARIABLES if settings.get(name)})
    return env


def backup_stack(compose: Compose, dest: str, keep: int = 0) -> None:
    """`make backup`: the stack's databases and buckets into a new folder under ``dest``."""
    extra = ["--keep", str(keep)] if keep else []
    cmd = mlstack_cli(compose, "backup", "--to", dest, *extra)
    if subprocess.run(cmd, env=backup_environment(compose), cwd=ROOT).returncode != 0:
        raise SystemExit("stack: backup failed (above)")


def restore_stack(compose: Compose, source: str, *, force: bool = False) -> None:
    """`make restore FROM=...`: stop every service but Postgres and MinIO, restore, start the
    stack again, then check in the scheduler that everything the records name exists."""
    compose.run("up", "--detach", "--wait", *DATA_SERVICES)
    others = [name for name in compose.services() if name not in DATA_SERVICES]
    compose.run("stop", *others)
    cmd = mlstack_cli(compose, "restore", "--from", source, "--no-check")
    if subprocess.run(
        [*cmd, *(["--force"] if force else [])], env=backup_environment(compose), cwd=ROOT
    ).returncode:
        raise SystemExit(
            "stack: restore failed (above); the services stay stopped: `make up` restarts them"
        )
    compose.run("up", "--detach", "--remove-orphans")
    wait_healthy(compose)
    checked = subprocess.run(
        compose.command("exec", "-T", "airflow-scheduler", "mlstack", "check-restore"),
        env=compose.environment(),
    )
    if checked.returncode != 0:
        raise SystemExit("stack: the restored stack misses files its records name (above)")


def project_volumes(compose: Compose) -> list[str]:
    """The named volumes of this compose project."""
    out = subprocess.run(
        [
            "docker",
            "volume",
            "ls",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={compose.project}",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return sorted(out.split())


def describe_volumes(volumes: list[str], project: str) -> str:
    """One line per volume: its name and what it holds."""
    lines = []
    for volume in volumes:
        short = volume.removeprefix(f"{project}_")
        lines.append(f"  {volume:32} {VOLUME_CONTENTS.get(short, '')}".rstrip())
    return "\n".join(lines)


def clean_stack(compose: Compose, *, yes: bool, dest: str, ask=input) -> bool:
    """`make clean`: name the volumes, offer a backup first (when the stack runs), delete
    them; returns False when the user said no. ``yes`` asks nothing and backs up nothing."""
    volumes = project_volumes(compose)
    if not volumes:
        say("clean: the stack has no volumes; stopping its containers")
    else:
        say(f"clean deletes these volumes of project {compose.project}:")
        say(describe_volumes(volumes, compose.project))
    if volumes and not yes:
        running = (
            "minio" in compose.run("ps", "--services", "--status", "running", capture=True).split()
        )
        if running and ask(f"Back up first into {dest}/? [Y/n] ").strip().lower() in (
            "",
            "y",
            "yes",
        ):
            backup_stack(compose, dest)
        if ask("Delete them? [y/N] ").strip().lower() not in ("y", "yes"):
            say("clean: nothing deleted")
            return False
    compose.run("down", "--volumes", "--remove-orphans")
    return True


def join_as_worker(compose: Compose, primary: str) -> None:
    """`make worker`: this machine runs Celery workers of the deployment at ``primary``.

    The env file must be the first machine's (its secrets; deploy mode with WORKER_BIND, so
    it publishes Postgres, Redis, S3, MLflow and the execution API there). Writes
    MLSTACK_PRIMARY_ADDRESS, then starts only the workers (docker-compose.worker.yml maps the
    services' names to ``primary``) and waits until they answer."""
    settings = read_env(compose.env_file)
    if not compose.env_file.exists() or not settings.get("AIRFLOW_JWT_SECRET"):
        raise SystemExit(
            f"worker: {compose.env_file} must be the first machine's .env (copy it here: "
            "its secrets sign the tasks' tokens and open the databases)"
        )
    if settings.get("MLSTACK_DEPLOY") not in ("1", "true") or not settings.get("WORKER_BIND"):
        raise SystemExit(
            "worker: the first machine must run deploy mode with WORKER_BIND set (its address "
            "the workers reach): `make deploy PROFILES=scale WORKER_BIND=<its address>` there"
        )
    set_env(compose.env_file, {"MLSTACK_PRIMARY_ADDRESS": primary})
    compose.remember_files()
    compose.run("up", "--detach", "--no-deps", *WORKER_SERVICES)
    elapsed = wait_healthy(compose)
    say(f"worker: {', '.join(WORKER_SERVICES)} of {primary} ready after {elapsed:.0f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra/stack.py", description=__doc__.split("\n")[0])
    parser.add_argument("--env-file", type=Path, default=ROOT / ".env")
    parser.add_argument("--project", default=DEFAULT_PROJECT, help="compose project name")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("wheels", help="fill the wheel cache infra/wheels/")
    sub.add_parser("env", help="write or complete the env file with generated secrets")
    wait = sub.add_parser("wait", help="wait until every service is healthy")
    wait.add_argument("--timeout", type=float, default=600)
    sub.add_parser("urls", help="print the URLs and logins")
    deploy = sub.add_parser("deploy-env", help="write deploy mode's settings into the env file")
    deploy.add_argument("--domain", default="", help="a DNS name of this VM (Let's Encrypt)")
    deploy.add_argument(
        "--worker-bind",
        default="",
        help="scale profile: this VM's private address where workers on other machines reach "
        "Postgres, Redis, S3, MLflow and the execution API (docker-compose.remote-workers.yml)",
    )
    deploy.add_argument(
        "--host",
        default="",
        help="without a domain: the name or address "
        "clients use (default: this VM's address on its default route)",
    )
    sub.add_parser("deploy-ca", help=f"copy Caddy's CA certificate to {CA_FILE.name}")
    up = sub.add_parser("upgrade", help="after `make backup`: new image, migrations, start")
    up.add_argument("--backup", default="make backup", help="how the backup was taken")
    up.add_argument(
        "--keep-images",
        type=int,
        default=KEEP_IMAGES,
        help=f"pre-upgrade images left, the newest (default {KEEP_IMAGES})",
    )
    backup = sub.add_parser("backup", help="back up the databases and buckets (make backup)")
    backup.add_argument("--to", default=str(ROOT / "backups"), help="folder or s3://bucket/prefix")
    backup.add_argument("--keep", type=int, default=0, help="then keep only the newest KEEP")
    restore = sub.add_parser("restore", help="restore a backup onto an empty stack")
    restore.add_argument("--from", dest="source", required=True, help="the backup's folder")
    restore.add_argument("--force", action="store_true", help="over a stack holding data")
    clean = sub.add_parser("clean", help="delete the stack's volumes, offering a backup first")
    clean.add_argument("--yes", action="store_true", help="ask nothing, back up nothing")
    clean.add_argument("--to", default=str(ROOT / "backups"), help="where the backup goes")
    profiles = sub.add_parser("profiles", help="set COMPOSE_PROFILES in the env file")
    profiles.add_argument("names", help="comma-separated profiles, or `none`")
    worker = sub.add_parser("worker", help="a second machine: start Celery workers only")
    worker.add_argument("--primary", required=True, help="the first machine's WORKER_BIND address")
    workers = sub.add_parser("workers", help="set WORKERS (Celery workers) in the env file")
    workers.add_argument("count", type=int, help="airflow-worker containers of the scale profile")
    passthrough = sub.add_parser("compose", help="docker compose ARGS on this project")
    passthrough.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "wheels":
        if not fetch_wheels():
            say("stack: wheel cache is up to date")
        staged = stage_plugins()
        say(f"stack: {len(staged)} plugin package(s) for the image: {', '.join(staged) or '-'}")
    elif args.command == "env":
        written = ensure_env(args.env_file, project=args.project)
        if written:
            say(f"stack: wrote {len(written)} generated secrets to {args.env_file}")
    elif args.command == "wait":
        compose = Compose(args.project, args.env_file)
        elapsed = wait_healthy(compose, timeout=args.timeout)
        say(f"stack: all services ready after {elapsed:.0f}s")
    elif args.command == "urls":
        say(urls(args.env_file))
    elif args.command == "deploy-env":
        ensure_env(args.env_file, project=args.project)
        settings = deploy_settings(args.domain, args.host)
        set_env(
            args.env_file,
            {**settings, **({"WORKER_BIND": args.worker_bind} if args.worker_bind else {})},
        )
        say(f"stack: deploy mode for {settings['MLSTACK_PUBLIC_URL']} written to {args.env_file}")
    elif args.command == "deploy-ca":
        exported = export_ca(Compose(args.project, args.env_file), CA_FILE)
        if exported:
            say(f"stack: Caddy's CA certificate is in {exported}; clients trust it to verify TLS")
    elif args.command == "upgrade":
        upgrade(Compose(args.project, args.env_file), args.backup, keep_images=args.keep_images)
    elif args.command == "backup":
        backup_stack(Compose(args.project, args.env_file), args.to, args.keep)
    elif args.command == "restore":
        restore_stack(Compose(args.project, args.env_file), args.source, force=args.force)
    elif args.command == "clean":
        done = clean_stack(Compose(args.project, args.env_file), yes=args.yes, dest=args.to)
        return 0 if done else 1
    elif args.command == "profiles":
        chosen = "" if args.names.strip() == "none" else args.names.replace(" ", "")
        set_env(args.env_file, {"COMPOSE_PROFILES": chosen})
        say(f"stack: compose profiles: {chosen or 'none'} (COMPOSE_PROFILES in {args.env_file})")
    elif args.command == "worker":
        join_as_worker(Compose(args.project, args.env_file), args.primary)
    elif args.command == "workers":
        if args.count < 1:
            raise SystemExit(f"stack: WORKERS={args.count}: the scale profile needs at least 1")
        set_env(args.env_file, {"WORKERS": str(args.count)})
        say(f"stack: {args.count} Celery workers (profile scale; WORKERS in {args.env_file})")
    elif args.command == "compose":
        compose_args = args.args[1:] if args.args[:1] == ["--"] else args.args
        compose = Compose(args.project, args.env_file)
        if not args.env_file.exists() and set(compose_args) & STARTING_COMMANDS:
            raise SystemExit(f"stack: {args.env_file} is missing; `make up` writes it")
        if compose_args[:1] == ["up"]:
            compose.remember_files()
            say(f"stack: Airflow's {compose.executor()}")
            reason = compose.triggerer()
            if reason:
                say(f"stack: with Airflow's triggerer: {reason}")
            else:
                say("stack: no Airflow triggerer (no task defers; AIRFLOW_TRIGGERER=true adds one)")
        return subprocess.run(compose.command(*compose_args), env=compose.environment()).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
