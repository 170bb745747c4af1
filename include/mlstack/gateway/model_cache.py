"""Models the gateway serves: load by alias, check records, score in batches, swap atomically.

:class:`ModelCache` keeps, per use case, one immutable :class:`Serving` snapshot: the
champion, the challenger (while a rollout runs) and the rollout's stage. ``refresh()``
reads the registry aliases and the running rollout; when anything changed it loads the
new models first and then replaces the snapshot in one assignment, so a request in flight
finishes on the models it started with and none is dropped. When MLflow or the database
cannot be reached, or a new version fails :mod:`mlstack.integrity`'s check (no digest
recorded by mlstack, or changed files: alerted through the spec's notifiers), the snapshot
stays as it is: the gateway keeps serving what it has.

:class:`LoadedModel` scores with the logged scikit-learn pipeline on a frame built exactly
like MLflow's pyfunc builds it from the signature (float64 numbers, object strings), so the
answers equal ``mlflow models serve``'s.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from mlstack import integrity, registry, store
from mlstack.exceptions import InvalidInput, MlstackError, ModelNotFound
from mlstack.settings import Settings
from mlstack.specs import UseCaseSpec
from mlstack.vocabulary import CHAMPION

log = logging.getLogger(__name__)

NUMERIC = {"double", "float", "long", "integer", "boolean"}


@dataclass(frozen=True)
class InputField:
    """One signature input: name, MLflow type, and whether it may be missing."""

    name: str
    type: str
    required: bool


class RecordError(InvalidInput):
    """A record does not match the model signature; ``field`` names the culprit."""

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(f"record {index}: field {field!r}: {message}")
        self.index, self.field, self.message = index, field, message


@dataclass
class LoadedModel:
    """A registered version ready to score: pipeline, signature fields, threshold."""

    usecase: str
    version: int
    model: Any
    fields: list[InputField]
    task: str
    threshold: float
    fast: Callable[[list[dict[str, Any]]], np.ndarray] | None = None
    _numeric: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._numeric = frozenset(f.name for f in self.fields if f.type in NUMERIC)

    def check(self, records: list[dict[str, Any]]) -> None:
        """Raise RecordError naming the first field of a record that breaks the signature
        (types, finiteness, sizes; unknown fields are :class:`InputRules`' to refuse)."""
        InputRules(self.fields, id_column=None, categories={}).check(records, extra_ok=True)

    def frame(self, records: list[dict[str, Any]]) -> pd.DataFrame:
        """The model input, typed like MLflow's pyfunc types it from the signature."""
        data: dict[str, Any] = {}
        for f in self.fields:
            values = [r.get(f.name) for r in records]
            if f.type in NUMERIC:
                data[f.name] = np.array(
                    [math.nan if v is None else v for v in values], dtype="float64"
                )
            else:
                data[f.name] = pd.Series(values, dtype=object)
        return pd.DataFrame(data)

    def score(self, records: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        """``(prediction, score)`` per record: decided label and probability, or the value."""
        if self.fast is not None:
            value = self.fast(records)
            if self.task == "classification":
                return (value >= self.threshold).astype(float), value
            return value, None
        x = self.frame(records)
        if self.task == "classification":
            proba = np.asarray(self.model.predict_proba(x))[:, 1]
            return (proba >= self.threshold).astype(float), proba
        return np.asarray(self.model.predict(x), dtype=float), None


ENTITY_ID_CHARS = int(store.predictions.c.entity_id.type.length)  # type: ignore[attr-defined]
MAX_STRING_CHARS = 1000  # per string value; bounds a record's size with its field count
INT_LIMIT = 2**63  # integers must fit in 64 bits (send larger magnitudes as floats)


class InputRules:
    """What a use case accepts in a record: the signature's fields (of champion and
    challenger together), the entity id column, and the spec's declared categories.

    A record is refused (RecordError naming the field) for: a field no served model takes;
    a missing required field; a number that is not finite, or an integer beyond 64 bits;
    a bool where a number is expected; a string longer than ``MAX_STRING_CHARS`` or holding
    a NUL character; a value outside the spec's ``categories`` where the spec lists them;
    an entity id that is not a string or an integer, longer than ``ENTITY_ID_CHARS``, or
    holding a NUL.
    """

    def __init__(
        self,
        fields: list[InputField],
        *,
        id_column: str | None,
        categories: dict[str, frozenset[str]],
    ) -> None:
        self.fields = fields
        self.id_column = id_column
        self.categories = categories
        self.known = frozenset([f.name for f in fields] + ([id_column] if id_column else []))
        self._numeric = frozenset(f.name for f in fields if f.type in NUMERIC)

    @classmethod
    def for_models(cls, spec: UseCaseSpec, *models: LoadedModel | None) -> InputRules:
        """Rules for records scored by any of ``models`` (a field required by one is required)."""
        by_name: dict[str, InputField] = {}
        for m in models:
            for f in m.fields if m is not None else []:
                have = by_name.get(f.name)
                if have is None or (f.required and not have.required):
                    by_name[f.name] = f
        cats = {
            name: frozenset(col.categories)
            for name, col in spec.schema.columns.items()
            if col.categories and name in by_name
        }
        return cls(list(by_name.values()), id_column=spec.schema.id_column, categories=cats)

    def check(self, records: list[dict[str, Any]], *, extra_ok: bool = False) -> None:
        """Raise RecordError for the first record that breaks a rule (see the class)."""
        numeric, known, cats = self._numeric, self.known, self.categories
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise RecordError(i, "(record)", "must be a JSON object")
            if not extra_ok and not rec.keys() <= known:
                unknown = sorted(str(k) for k in rec if k not in known)
                raise RecordError(
                    i, unknown[0][:100], f"unknown field; this use case takes {sorted(known)}"
                )
            if self.id_column is not None:
                _check_entity(i, self.id_column, rec.get(self.id_column))
            for f in self.fields:
                value = rec.get(f.name)
                if value is None:
                    if f.required and f.name not in rec:
                        raise RecordError(i, f.name, f"required ({f.type}) but missing")
                    continue
                kind = type(value)
                if f.name in numeric:
                    if kind is float:
                        if value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
                            continue
                        raise RecordError(i, f.name, f"must be a finite number, got {value!r}")
                    if kind is int:
                        if -INT_LIMIT <= value < INT_LIMIT:
                            continue
                        raise RecordError(i, f.name, "integer out of range (64 bits)")
                    if kind is bool and f.type == "boolean":
                        continue
                    raise RecordError(
                        i, f.name, f"expected a number ({f.type}), got {_show(value)}"
                    )
                if f.type == "string":
                    if kind is not str:
                        raise RecordError(i, f.name, f"expected a string, got {_show(value)}")
                    if len(value) > MAX_STRING_CHARS or "\x00" in value:
                        raise RecordError(
                            i, f.name, f"strings hold at most {MAX_STRING_CHARS} characters, no NUL"
                        )
                    allowed = cats.get(f.name)
                    if allowed is not None and value not in allowed:
                        raise RecordError(
                            i, f.name, f"unknown category {_show(value)}; known: {sorted(allowed)}"
                        )
                elif kind not in (str, int, float, bool) or (
                    kind is int and not -INT_LIMIT <= value < INT_LIMIT
                ):
                    raise RecordError(i, f.name, f"expected a {f.type}, got {_show(value)}")


def _check_entity(i: int, name: str, value: Any) -> None:
    if value is None:
        return
    if type(value) is int:
        if -INT_LIMIT <= value < INT_LIMIT:
            return
        raise RecordError(i, name, "entity id integer out of range (64 bits)")
    if type(value) is not str:
        raise RecordError(i, name, f"entity id must be a string or an integer, got {_show(value)}")
    if len(value) > ENTITY_ID_CHARS or "\x00" in value:
        raise RecordError(i, name, f"entity id holds at most {ENTITY_ID_CHARS} characters, no NUL")


def _show(value: Any) -> str:
    """A value for an error message, cut short (a message never echoes a huge input)."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge integer"
    return text if len(text) <= 60 else text[:57] + "..."


def _fields(signature: Any) -> list[InputField]:
    if signature is None or signature.inputs is None:
        raise MlstackError("model has no signature; the gateway only serves signed models")
    out = []
    for col in signature.inputs.inputs:
        kind = getattr(col.type, "name", str(col.type))
        out.append(InputField(col.name, str(kind), bool(getattr(col, "required", True))))
    return out


def load(
    spec: UseCaseSpec, version: int, settings: Settings, alerted: set[str] | None = None
) -> LoadedModel:
    """Load version ``version`` of the use case's model with its signature and threshold,
    from files that match their recorded digest (ModelIntegrityError otherwise; alerted
    unless already in ``alerted``)."""
    mv = registry.get_version(spec.name, version, settings)
    threshold = float((mv.tags or {}).get("mlstack.threshold", spec.training.threshold))
    checked = integrity.load_verified(spec, int(version), settings, promoted=True, alerted=alerted)
    fields = _fields(checked.signature)
    loaded = LoadedModel(spec.name, int(version), checked.model, fields, spec.task, threshold)
    loaded.fast = _verified_fast_path(loaded)
    log.info(
        "Loaded %s v%d (%d inputs, %s path)",
        spec.name,
        version,
        len(fields),
        "numpy" if loaded.fast else "pandas",
    )
    return loaded


def probe_records(fields: list[InputField], model: Any, rows: int = 64) -> list[dict[str, Any]]:
    """Varied records to compare two scorers: numbers around 0 and the model's categories."""
    rng = np.random.default_rng(0)
    cats: list[Any] = []
    try:
        for _, trans, _ in model.steps[0][1].transformers_:
            enc = getattr(trans, "steps", [[None, None]])[-1][1]
            for c in getattr(enc, "categories_", []):
                cats += c.tolist()
    except (AttributeError, IndexError, TypeError):
        cats = []
    cats = [c for c in cats if isinstance(c, str)] + ["never-seen"]
    out = []
    for i in range(rows):
        rec: dict[str, Any] = {}
        for f in fields:
            if i % 7 == 3:
                rec[f.name] = None
            elif f.type in NUMERIC:
                rec[f.name] = float(rng.normal() * 10 ** rng.integers(0, 5))
            else:
                rec[f.name] = cats[int(rng.integers(0, len(cats)))]
        out.append(rec)
    return out


def _verified_fast_path(m: LoadedModel) -> Callable[[list[dict[str, Any]]], np.ndarray] | None:
    """The numpy scorer if it gives the pipeline's own answers on probe rows, else None."""
    from mlstack.gateway.compiled_pipeline import compile_pipeline

    probe = probe_records(m.fields, m.model)
    try:
        x = m.frame(probe)
        if m.task == "classification":
            ref = np.asarray(m.model.predict_proba(x))[:, 1]
        else:
            ref = np.asarray(m.model.predict(x), dtype=float)
    except (ValueError, TypeError, KeyError) as exc:
        log.info("No fast path for %s v%d: %s", m.usecase, m.version, exc)
        return None
    for direct in (True, False):
        fast = compile_pipeline(m.model, m.task, direct_head=direct)
        if fast is None:
            return None
        try:
            diff = float(np.max(np.abs(ref - fast(probe))))
        except (ValueError, TypeError, KeyError) as exc:
            log.info("No fast path for %s v%d: %s", m.usecase, m.version, exc)
            return None
        if diff <= 1e-9:
            return fast
        log.info(
            "Fast path of %s v%d (direct=%s) differs by %.3g", m.usecase, m.version, direct, diff
        )
    return None


@dataclass(frozen=True)
class RolloutState:
    """The running rollout as the gateway needs it: id, stage, traffic, shadow."""

    rollout_id: str
    challenger_version: int
    stage_index: int
    stage_name: str
    traffic: float
    shadow: bool


@dataclass(frozen=True)
class Serving:
    """What a use case serves right now (replaced whole, never mutated)."""

    champion: LoadedModel | None = None
    challenger: LoadedModel | None = None
    rollout: RolloutState | None = None
    aliases: dict[str, int] = field(default_factory=dict)


def running_rollout(usecase: str, settings: Settings) -> RolloutState | None:
    """The use case's running rollout, read from the mlstack database (None if none)."""
    c = store.rollouts.c
    with store.engine(settings).connect() as conn:
        row = conn.execute(
            sa.select(store.rollouts)
            .where(c.usecase == usecase, c.state == "running")
            .order_by(c.started_at.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    stage = row.stages[row.stage_index]
    return RolloutState(
        row.rollout_id,
        int(row.challenger_version),
        int(row.stage_index),
        str(stage["name"]),
        float(stage["traffic"]),
        bool(stage.get("shadow", False)),
    )


def registry_aliases(name: str, settings: Settings) -> dict[str, int]:
    """Aliases of a registered model; {} only when the model does not exist.

    Unlike :func:`mlstack.registry.aliases_of`, an unreachable registry raises, so the
    cache can tell "no model yet" from "cannot ask" and keep its models in the second case.
    """
    from mlflow.exceptions import MlflowException

    try:
        model = registry.client(settings).get_registered_model(name)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise
    return {alias: int(v) for alias, v in (model.aliases or {}).items()}


class ModelCache:
    """Per use case :class:`Serving` snapshots, refreshed from MLflow and the database."""

    def __init__(self, specs: dict[str, UseCaseSpec], settings: Settings) -> None:
        self.specs = specs
        self.settings = settings
        self.serving: dict[str, Serving] = {name: Serving() for name in specs}
        self.errors: dict[str, str] = {}
        self.integrity_alerted: set[str] = set()  # refusals already alerted (once each)
        self._lock = threading.Lock()

    def get(self, usecase: str) -> Serving:
        """The current snapshot of ``usecase`` (KeyError if not served)."""
        return self.serving[usecase]

    def refresh(self) -> dict[str, bool]:
        """Re-read aliases and rollouts of every use case; True where something changed."""
        with self._lock:
            return {name: self._refresh_one(name) for name in self.specs}

    def _refresh_one(self, name: str) -> bool:
        spec, current = self.specs[name], self.serving[name]
        try:
            aliases = registry_aliases(name, self.settings)
        except Exception as exc:  # MLflow unreachable: keep serving what we have
            self.errors[name] = f"registry unreachable: {exc}"
            log.warning("Keeping %s models: registry unreachable (%s)", name, exc)
            return False
        try:
            rollout = running_rollout(name, self.settings)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("Keeping %s rollout state: database unreachable (%s)", name, exc)
            rollout = current.rollout
        champ_v = aliases.get(CHAMPION)
        chall_v = rollout.challenger_version if rollout else None
        try:
            champion = self._reuse_or_load(spec, champ_v, current)
            challenger = self._reuse_or_load(spec, chall_v, current)
        except (MlstackError, ModelNotFound, OSError) as exc:
            self.errors[name] = f"model load failed: {exc}"
            log.warning("Keeping %s models: load failed (%s)", name, exc)
            return False
        except Exception as exc:  # MLflow raises many types when its server is down
            self.errors[name] = f"model load failed: {exc}"
            log.warning("Keeping %s models: load failed (%s)", name, exc)
            return False
        self.errors.pop(name, None)
        new = Serving(champion, challenger, rollout if challenger else None, aliases)
        changed = (_v(new.champion), _v(new.challenger), new.rollout) != (
            _v(current.champion),
            _v(current.challenger),
            current.rollout,
        )
        if changed:
            log.info(
                "%s now serves champion v%s, challenger v%s, rollout %s",
                name,
                _v(champion),
                _v(challenger),
                rollout,
            )
        self.serving[name] = new  # one assignment: requests see the old or the new, whole
        return changed

    def _reuse_or_load(
        self, spec: UseCaseSpec, version: int | None, current: Serving
    ) -> LoadedModel | None:
        if version is None:
            return None
        for have in (current.champion, current.challenger):
            if have is not None and have.version == version:
                return have
        return load(spec, version, self.settings, self.integrity_alerted)


def _v(model: LoadedModel | None) -> int | None:
    return model.version if model else None
