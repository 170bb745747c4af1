"""Every mlstack use case's DAGs, built from include/usecases/*/usecase.yaml.

Add a use case with `make new-usecase name=...`; its DAGs appear here by themselves.
"""

from mlstack.airflow.factory import build_all

globals().update(build_all())
