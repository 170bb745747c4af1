"""Gateway settings, read from the environment (prefix ``MLSTACK_GATEWAY_``).

Where models and the database live comes from the mlstack settings (``MLSTACK_*``); this
class only holds what is the gateway's own: which use cases it serves, how often it looks
for new aliases and rollouts, and how it logs predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mlstack.gateway.journal import ROUND_GAP_S, WRITERS


class GatewaySettings(BaseSettings):
    """The gateway's own knobs; every default suits the laptop stack."""

    model_config = SettingsConfigDict(
        env_prefix="MLSTACK_GATEWAY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    host: str = Field(default="127.0.0.1", description="Interface to bind.")
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes.")
    native_threads: int = Field(
        default=1,
        ge=1,
        description="Threads of the native pools a model's predict may use per worker "
        "(OpenMP in gradient boosting, BLAS). One: a request's few rows score faster on one "
        "thread than a pool takes to wake, and pools of several workers or replicas on the "
        "same CPUs spin against each other.",
    )
    usecases: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Use cases to serve; empty = every valid spec."
    )
    refresh_interval_s: float = Field(
        default=10.0, gt=0, description="How often aliases and the running rollout are re-read."
    )
    log_batch_size: int = Field(default=500, ge=1, description="Rows per database insert.")
    log_flush_interval_s: float = Field(default=0.25, gt=0, description="Max wait before a flush.")
    log_queue_size: int = Field(
        default=50_000, ge=1, description="Rows held in memory; beyond that they spool to disk."
    )
    spool_dir: Path | None = Field(
        default=None, description="Spool for rows the database refused; default <home>/spool."
    )
    metrics_dir: Path | None = Field(
        default=None,
        description="Folder where the worker processes share their /metrics numbers "
        "(prometheus_client's PROMETHEUS_MULTIPROC_DIR, which `mlstack gateway serve` sets "
        "from this and empties on start; put it on tmpfs); empty = <home>/gateway-metrics "
        "with several workers, per process with one.",
    )
    journal_fsync: bool = Field(
        default=True,
        description="Answer only after the prediction's journal line is fsync'd (group "
        "commit): survives a power cut. Off: after the write() only, which survives a "
        "crash or SIGKILL of the gateway but not of the machine.",
    )
    journal_round_gap_ms: float = Field(
        default=1000 * ROUND_GAP_S,
        ge=0,
        description="Least time between the starts of two fsync'd journal rounds: under "
        "load one fdatasync then answers every request of the gap (less CPU per request); a "
        "request that comes after a quiet gap is synced at once. 0 = a round whenever a "
        "writer is free. Without fsync rounds start whenever a writer is free.",
    )
    journal_writers: int = Field(
        default=WRITERS,
        ge=1,
        description="Journal writer threads per worker: rounds (one write + one fdatasync "
        "for every request waiting) that may be on the disk at once.",
    )
    max_body_bytes: int = Field(
        default=16 << 20, ge=1024, description="Largest request body accepted (else 413)."
    )
    require_keys: bool = Field(
        default=False,
        description="Require an API key (`mlstack gateway keys create`) on /v1: on in deploy "
        "mode, off on the laptop.",
    )
    key_cache_ttl_s: float = Field(
        default=5.0,
        gt=0,
        description="How long the gateway trusts its in-memory copy of the keys before "
        "re-reading them in the background: a revoked key stops working within this.",
    )
    key_rate_per_s: float = Field(
        default=200.0,
        ge=0,
        description="Requests per second per API key (per worker); 0 = no limit.",
    )
    key_burst: float = Field(
        default=400.0, ge=1, description="Requests an API key may send at once above its rate."
    )
    access_log_file: Path | None = Field(
        default=None,
        description="Where the access log goes when keys are required (one line per /v1 "
        "request naming the API key's id, never the key); empty = stderr.",
    )
    replay_interval_s: float = Field(default=5.0, gt=0, description="Spool replay period.")
    batch_wait_ms: float = Field(
        default=0.5, ge=0, description="How long a request waits for others to score together."
    )

    switch_interval_ms: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Python's GIL switch interval in the gateway process (default 5 ms): how long "
            "the log writer's batch insert can hold the event loop back."
        ),
    )

    @field_validator("usecases", mode="before")
    @classmethod
    def _split(cls, v: object) -> object:
        """Accept ``a,b`` from the environment as well as a JSON list."""
        if isinstance(v, str) and not v.strip().startswith("["):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v
