"""mlstack's words, defined once: registry aliases, gateway variants and JSON-safe values.

A model version moves through three registry **aliases**: ``candidate`` (trained, not yet
judged), ``challenger`` (passed the promotion gates, waiting for or in its rollout) and
``champion`` (serving). The gateway answers each request with a **variant**: the
``champion``, the ``challenger`` (its A/B share) or, scored beside the champion but never
answered, the ``shadow``. Monitoring calls a version that served before the current
champion ``previous_champion``.
"""

from __future__ import annotations

import math
import sys
from datetime import date, datetime
from typing import Any, Final, Literal

Alias = Literal["candidate", "challenger", "champion"]
Variant = Literal["champion", "challenger", "shadow"]

CANDIDATE: Final = "candidate"
CHALLENGER: Final = "challenger"
CHAMPION: Final = "champion"
SHADOW: Final = "shadow"
PREVIOUS_CHAMPION: Final = "previous_champion"

ALIASES: Final[tuple[Alias, ...]] = (CANDIDATE, CHALLENGER, CHAMPION)
#: The metric promotion compares when a spec names none (``training.primary_metric``).
DEFAULT_PRIMARY: Final[dict[str, str]] = {"classification": "roc_auc", "regression": "rmse"}
VARIANTS: Final[tuple[Variant, ...]] = (CHAMPION, CHALLENGER, SHADOW)


def json_safe(value: Any) -> Any:
    """``value`` with only what strict JSON holds: numpy scalars become Python numbers,
    NaN and infinities become ``None`` (JSON has no NaN), dates become ISO strings, tuples
    become lists and dict keys strings. Used for every record mlstack stores or sends as
    JSON (Asset events, audit rows, reports, API answers)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    np = sys.modules.get("numpy")  # no numpy loaded: no numpy scalar to convert
    if np is not None and isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
