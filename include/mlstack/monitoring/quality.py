"""Data quality of served inputs, and training–serving skew.

* **Quality** per column of a window, against the spec's contract and the reference: share
  of missing values (and its change from the reference), values outside the spec's
  ``min``/``max``, categories the reference never saw, and schema changes (columns missing
  or unexpected, types that no longer parse).
* **Skew**: the inputs the gateway logged against the lake's rows for the same ids; any
  value that differs is a training–serving skew (a feature computed differently online).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlstack.specs import ColumnSpec


@dataclass(frozen=True)
class ColumnQuality:
    """Quality figures of one column in the current window."""

    column: str
    missing_share: float
    reference_missing_share: float
    out_of_range_share: float = 0.0
    unseen_category_share: float = 0.0
    unseen_categories: list[str] = field(default_factory=list)
    unparsable_share: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


@dataclass(frozen=True)
class QualityReport:
    """Quality of a window: per column, plus schema changes."""

    columns: list[ColumnQuality]
    missing_columns: list[str]
    unexpected_columns: list[str]
    rows: int

    def issues(
        self, *, missing_increase: float = 0.05, out_of_range: float = 0.01, unseen: float = 0.01
    ) -> list[str]:
        """Human-readable findings above the given shares (the root-cause lines)."""
        found = [f"column {c!r} missing from served inputs" for c in self.missing_columns]
        found += [f"unexpected column {c!r} in served inputs" for c in self.unexpected_columns]
        for c in self.columns:
            if c.missing_share - c.reference_missing_share > missing_increase:
                found.append(
                    f"{c.column}: {c.missing_share:.1%} missing "
                    f"(reference {c.reference_missing_share:.1%})"
                )
            if c.out_of_range_share > out_of_range:
                found.append(f"{c.column}: {c.out_of_range_share:.1%} outside the spec's range")
            if c.unseen_category_share > unseen:
                found.append(
                    f"{c.column}: {c.unseen_category_share:.1%} unseen categories "
                    f"{c.unseen_categories[:5]}"
                )
            if c.unparsable_share > 0:
                found.append(f"{c.column}: {c.unparsable_share:.1%} values of the wrong type")
        return found


def _numeric(series: pd.Series) -> tuple[np.ndarray, float]:
    """Values as floats and the share of non-missing values that did not parse."""
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan), 0.0
    parsed = pd.to_numeric(series, errors="coerce")
    bad = parsed.isna() & series.notna()
    return parsed.to_numpy(dtype=float, na_value=np.nan), float(bad.mean()) if len(series) else 0.0


def column_quality(
    name: str,
    current: pd.Series,
    spec: ColumnSpec | None,
    reference: pd.Series | None = None,
    reference_categories: set[str] | None = None,
) -> ColumnQuality:
    """Quality figures of one column (range from the spec, categories from the reference)."""
    n = len(current)
    missing = float(current.isna().mean()) if n else 0.0
    ref_missing = (
        float(reference.isna().mean()) if reference is not None and len(reference) else 0.0
    )
    out_of_range = unparsable = unseen_share = 0.0
    unseen: list[str] = []
    kind = spec.type if spec else ("float" if pd.api.types.is_numeric_dtype(current) else "string")
    if kind in ("int", "float"):
        values, unparsable = _numeric(current)
        lo = spec.min if spec and spec.min is not None else -np.inf
        hi = spec.max if spec and spec.max is not None else np.inf
        finite = ~np.isnan(values)
        out_of_range = float(np.mean(finite & ((values < lo) | (values > hi)))) if n else 0.0
    elif kind in ("category", "string"):
        allowed = reference_categories
        if allowed is None and spec is not None and spec.categories:
            allowed = set(spec.categories)
        if allowed is not None and n:
            counts = current.value_counts(dropna=True, sort=False)
            counts = counts[counts > 0]
            counts.index = counts.index.astype(str)
            new = counts[~counts.index.isin(list(allowed))]
            unseen = [str(v) for v in new.index]
            unseen_share = float(new.sum() / n)
    return ColumnQuality(
        column=name,
        missing_share=missing,
        reference_missing_share=ref_missing,
        out_of_range_share=out_of_range,
        unseen_category_share=unseen_share,
        unseen_categories=unseen,
        unparsable_share=unparsable,
    )


def data_quality(
    current: pd.DataFrame,
    columns: dict[str, ColumnSpec],
    reference: pd.DataFrame | None = None,
) -> QualityReport:
    """Quality of a window's served inputs for the expected ``columns``."""
    present = [c for c in columns if c in current.columns]
    results = []
    for name in present:
        ref = reference[name] if reference is not None and name in reference.columns else None
        ref_cats = (
            {str(v) for v in ref.dropna().unique()}
            if ref is not None and columns[name].type in ("category", "string")
            else None
        )
        results.append(column_quality(name, current[name], columns[name], ref, ref_cats))
    return QualityReport(
        columns=results,
        missing_columns=[c for c in columns if c not in current.columns],
        unexpected_columns=[c for c in current.columns if c not in columns],
        rows=len(current),
    )


def skew(
    served: pd.DataFrame, lake: pd.DataFrame, id_column: str, features: list[str]
) -> dict[str, Any]:
    """Share of ids whose served value differs from the lake's, per feature.

    Numbers compare with a relative tolerance of 1e-6; missing equals missing.
    """
    joined = served.merge(lake, on=id_column, how="inner", suffixes=("_served", "_lake"))
    out: dict[str, Any] = {"matched_ids": int(len(joined)), "served_ids": int(len(served))}
    shares: dict[str, float] = {}
    for f in features:
        a, b = f"{f}_served", f"{f}_lake"
        if a not in joined.columns or b not in joined.columns or joined.empty:
            continue
        left, right = joined[a], joined[b]
        both_missing = left.isna() & right.isna()
        if pd.api.types.is_numeric_dtype(left) and pd.api.types.is_numeric_dtype(right):
            same = np.isclose(left.to_numpy(float), right.to_numpy(float), rtol=1e-6, atol=1e-9)
        else:
            same = (left.astype(str) == right.astype(str)).to_numpy()
        shares[f] = float(np.mean(~(same | both_missing.to_numpy())))
    out["mismatch_share"] = shares
    return out
