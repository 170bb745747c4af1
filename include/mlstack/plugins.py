"""The plugin registry: named components that specs refer to by name.

Kinds: ``sources``, ``simulators``, ``transforms``, ``models``, ``metrics``, ``notifiers``,
``tasks`` (a use case's extra DAG tasks, see :mod:`mlstack.usecase_tasks`).
Built-ins register themselves when :func:`load_builtins` imports their modules; a use
case's ``hooks.py`` and installed packages (entry-point group ``mlstack.plugins``, each
entry point a module to import or a callable taking the registry) add more.

    from mlstack.plugins import register

    @register("transforms", "add_ratio")
    def add_ratio(df): ...
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from mlstack.exceptions import PluginError

log = logging.getLogger(__name__)

KINDS = ("sources", "simulators", "transforms", "models", "metrics", "notifiers", "tasks")
ENTRY_POINT_GROUP = "mlstack.plugins"
BUILTIN_MODULES = (
    "mlstack.sources",
    "mlstack.demo.simulator",
    "mlstack.modeling",
    "mlstack.notifications.channels",
)

T = TypeVar("T")

_registry: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
_origins: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}  # where each came from
_loading: list[str] = []  # the origin of what is being imported now (innermost last)
_loaded_hooks: set[Path] = set()
_state = {"builtins": False, "entry_points": False}


def _check_kind(kind: str) -> None:
    if kind not in _registry:
        raise PluginError(f"unknown plugin kind {kind!r}; kinds are: {', '.join(KINDS)}")


def register(kind: str, name: str, *, replace: bool = False) -> Callable[[T], T]:
    """Decorator that registers ``obj`` as plugin ``name`` of ``kind``."""
    _check_kind(kind)

    def deco(obj: T) -> T:
        existing = _registry[kind].get(name)
        if (
            existing is not None
            and existing is not obj
            and not replace
            and not _reloaded(existing, obj)
        ):
            raise PluginError(
                f"{kind} plugin {name!r} is already registered by "
                f"{getattr(existing, '__module__', '?')}; pick another name or pass replace=True"
            )
        _registry[kind][name] = obj
        _origins[kind][name] = _origin_of(obj)
        return obj

    return deco


def _reloaded(existing: Any, obj: Any) -> bool:
    """``obj`` is ``existing`` imported again: the same function of the same module (a use
    case's hooks file read again, e.g. a scaffold made anew in the same process)."""
    return all(
        getattr(existing, attr, None) == getattr(obj, attr, object())
        for attr in ("__module__", "__qualname__")
    )


def _origin_of(obj: Any) -> str:
    """Where a plugin being registered comes from: the loader running now (a package, a
    hooks file), else built-in for mlstack's own modules, else its module."""
    if _loading:
        return _loading[-1]
    module = getattr(obj, "__module__", "") or "?"
    return "built-in" if module.split(".")[0] == "mlstack" else f"module {module}"


@contextlib.contextmanager
def _from(origin: str) -> Iterator[None]:
    """Register what is imported inside the block as coming from ``origin``."""
    _loading.append(origin)
    try:
        yield
    finally:
        _loading.pop()


def load_builtins() -> None:
    """Import the modules whose import registers the built-in plugins (once)."""
    if _state["builtins"]:
        return
    with _from("built-in"):
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
    _state["builtins"] = True


def load_entry_points() -> None:
    """Load plugins installed as packages (entry-point group ``mlstack.plugins``), once."""
    if _state["entry_points"]:
        return
    _state["entry_points"] = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        package = f"package {dist.name} {dist.version}" if dist else f"entry point {ep.value}"
        with _from(package):
            try:
                obj = ep.load()
            except Exception as exc:  # a broken third-party package must say which one
                raise PluginError(
                    f"entry point {ep.name!r} ({ep.value}) failed to load: {exc}"
                ) from exc
            if callable(obj) and not isinstance(obj, type):
                obj(sys.modules[__name__])


def load_hooks(path: str | Path) -> None:
    """Import a use case's hooks.py so its ``@register`` calls run (once per file)."""
    path = Path(path).resolve()
    if path in _loaded_hooks:
        return
    if not path.exists():
        raise PluginError(f"hooks file {path} does not exist; fix 'hooks:' in the spec")
    mod_name = f"mlstack_hooks_{path.parent.name}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import hooks file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        with _from(f"hooks file {path}"):
            spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(mod_name, None)
        raise PluginError(f"hooks file {path} failed to import: {exc}") from exc
    _loaded_hooks.add(path)


def load_for(spec: Any) -> None:
    """Make every plugin a use case may name available: built-ins, entry points, its hooks."""
    load_builtins()
    load_entry_points()
    if getattr(spec, "hooks", None) and spec.folder is not None:
        load_hooks(spec.folder / spec.hooks)


def get(kind: str, name: str) -> Any:
    """The plugin ``name`` of ``kind``, or PluginError listing the known names."""
    _check_kind(kind)
    load_builtins()
    try:
        return _registry[kind][name]
    except KeyError:
        load_entry_points()
        if name in _registry[kind]:
            return _registry[kind][name]
        known = ", ".join(sorted(_registry[kind])) or "(none)"
        raise PluginError(f"unknown {kind} plugin {name!r}; known {kind}: {known}") from None


def get_for(spec: Any, kind: str, name: str, field: str) -> Any:
    """Like :func:`get`, but an unknown name fails naming the spec file and its field."""
    try:
        return get(kind, name)
    except PluginError as exc:
        raise PluginError(f"{getattr(spec, 'path', None) or spec.name}: {field}: {exc}") from exc


def registered(kind: str) -> dict[str, Any]:
    """Every plugin of ``kind`` by name (a copy), built-ins loaded."""
    _check_kind(kind)
    load_builtins()
    return dict(_registry[kind])


def listing(specs: Sequence[Any] = ()) -> list[tuple[str, str, str]]:
    """Every plugin as (kind, name, where it came from): built-ins, installed packages, and
    the hooks files of ``specs``."""
    load_builtins()
    load_entry_points()
    for spec in specs:
        load_for(spec)
    return [(kind, name, _origins[kind].get(name, "?")) for kind in KINDS
            for name in sorted(_registry[kind])]  # fmt: skip


def names(kind: str) -> list[str]:
    """Sorted names registered for ``kind``."""
    _check_kind(kind)
    load_builtins()
    return sorted(_registry[kind])
