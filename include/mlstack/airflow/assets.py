"""The Assets that chain a use case's DAGs: what each stage emits and the next one waits on.

``<usecase>.<dataset>``          ingestion → catalog (extra: snapshot id, counts, files)
``retrain-request/<usecase>``    the monitor's retrain policy → train (extra: the evidence)
``model-candidate/<usecase>``    training → promotion (extra: version and metrics)
``model-challenger/<usecase>``   promotion → rollout (extra: version, champion)

Names and URIs are part of the stack's contract (the scheduler stores their events): they
do not change. Each is made once per process and shared by the DAGs that emit and consume it
(a DAG parse makes a few per use case, and making one parses its URI).
"""

from __future__ import annotations

from functools import cache

from airflow.sdk import Asset


@cache
def dataset_asset(usecase: str, dataset: str) -> Asset:
    """The Asset a dataset's ingestion emits (one per Iceberg table)."""
    return Asset(
        name=f"{usecase}.{dataset}", uri=f"mlstack://datasets/{usecase}/{dataset}", group="dataset"
    )


@cache
def retrain_request_asset(usecase: str) -> Asset:
    """The Asset the retraining policy emits to ask for a new model (extra = evidence)."""
    return Asset(name=f"retrain-request/{usecase}")


@cache
def candidate_asset(usecase: str) -> Asset:
    """The Asset training emits for each newly registered candidate version."""
    return Asset(
        name=f"model-candidate/{usecase}",
        uri=f"mlstack://models/{usecase}/candidate",
        group="model",
    )


@cache
def challenger_asset(usecase: str) -> Asset:
    """The Asset promotion emits when a version becomes ``challenger`` (the rollout's input)."""
    return Asset(
        name=f"model-challenger/{usecase}",
        uri=f"mlstack://models/{usecase}/challenger",
        group="model",
    )
