"""The house rules of ``include/mlstack``'s imports, read from the source with ``ast``:

- no import cycle between mlstack's modules;
- Airflow is imported only by the Airflow layer (``mlstack.airflow``; ``plugins/`` is outside
  the library and free to), and the lifecycle stages never reach that layer;
- the UI (``mlstack.ui``) and the CLI (``mlstack.cli``) never import each other: both read
  what they show from the library.

What counts as an import: every ``import`` / ``from ... import`` statement anywhere in a file
— at the top, inside functions (a lazy import does not make a loop go away, it hides it) and
inside ``if TYPE_CHECKING:`` blocks. Type-only imports count because a cycle through them is
still two modules that know each other: the layering is what these rules keep, not only
whether Python manages to import the modules. ``from package import name`` is an edge to the
submodule ``package.name`` when there is one, else to ``package`` itself. Importing
``a.b.c`` is an edge to ``a.b.c`` only, not to the packages above it (Python runs their
``__init__`` first, but a package's ``__init__`` importing its own submodules is a normal
edge, not a cycle).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "include" / "mlstack"
AIRFLOW_LAYER = "mlstack.airflow"


def module_name(path: Path) -> str:
    """``include/mlstack/a/b.py`` → ``mlstack.a.b``; a package's ``__init__`` → the package."""
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the library, by dotted name."""
    return {module_name(p): p for p in sorted(LIBRARY.rglob("*.py"))}


def imported_names(path: Path) -> Iterator[tuple[str, int]]:
    """``(dotted name, line)`` of everything ``path`` imports, anywhere in the file.

    ``from x import y`` yields ``x.y`` (:func:`resolve` decides whether that is a module);
    relative imports are resolved against the file's package.
    """
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                yield (target if alias.name == "*" else f"{target}.{alias.name}"), node.lineno


def resolve(name: str) -> str | None:
    """The library module an imported name lands in (longest known prefix), else None."""
    known = modules()
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


@cache
def graph() -> dict[str, dict[str, int]]:
    """``module → {imported library module: first line}``, self-imports left out."""
    edges: dict[str, dict[str, int]] = {}
    for name, path in modules().items():
        out = edges.setdefault(name, {})
        for imported, line in imported_names(path):
            target = resolve(imported)
            if target is not None and target != name:
                out.setdefault(target, line)
    return edges


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (``a → b → … → a``) for each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [_one_cycle(sorted(g)[0], g, edges) for g in groups]


def _one_cycle(start: str, group: set[str], edges: dict[str, dict[str, int]]) -> list[str]:
    """A shortest path from ``start`` back to itself inside ``group`` (breadth first)."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges[v]):
            if w == start:
                return [*paths[v], start]
            if w in group and w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - Tarjan found one


def describe(cycle: list[str]) -> str:
    """``a (line 3) → b (line 9) → a``, plus the other modules caught in the same loop."""
    edges = graph()
    steps = [f"{a} (line {edges[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)]
    group = _group_of(cycle[0], edges)
    others = sorted(group - set(cycle))
    return " → ".join([*steps, cycle[-1]]) + (
        f"  [same loop: {', '.join(others)}]" if others else ""
    )


def _group_of(start: str, edges: dict[str, dict[str, int]]) -> set[str]:
    """The modules that both reach ``start`` and are reached from it."""
    return {m for m in reachable(start) if start in reachable(m)} | {start}


def reachable(start: str) -> set[str]:
    """Every library module ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for w in graph()[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


# --- the checker checks what it claims --------------------------------------------------------


def test_import_graph_counts_imports_inside_functions_and_type_checking_blocks() -> None:
    edges = graph()
    # mlstack.cli.serve imports the gateway's settings in a TYPE_CHECKING block only
    assert "mlstack.gateway.core.config" in edges["mlstack.cli.serve"]
    # the DAG builders import the stages inside their task bodies only
    assert "mlstack.stages.ingest" in edges["mlstack.airflow.ingest"]
    # a package __init__ importing its submodules is an ordinary edge
    assert "mlstack.cli.rollout" in edges["mlstack.cli"]


def test_import_graph_finds_one_cycle_per_loop() -> None:
    edges = {"a": {"b": 1}, "b": {"c": 3}, "c": {"a": 9}, "d": {"a": 2}}
    assert cycles(edges) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b": 1}, "b": {}}) == []


# --- the rules ----------------------------------------------------------------------------------


def test_library_has_no_import_cycle() -> None:
    found = cycles(graph())
    assert not found, "import cycles in include/mlstack (break each one):\n" + "\n".join(
        describe(c) for c in found
    )


def test_only_the_airflow_layer_imports_airflow() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for module, path in modules().items()
        if not in_package(module, AIRFLOW_LAYER)
        for name, line in imported_names(path)
        if name == "airflow" or name.startswith("airflow.")
    ]
    assert not offenders, "Airflow imported outside mlstack.airflow:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "start",
    sorted(m for m in modules() if in_package(m, "mlstack.stages"))
    + ["mlstack.sources", "mlstack.demo.simulator", "mlstack.demo.traffic"],
)
def test_stage_modules_never_reach_the_airflow_layer(start: str) -> None:
    reached = sorted(m for m in reachable(start) if in_package(m, AIRFLOW_LAYER))
    assert not reached, f"{start} imports the Airflow layer through {reached}"


def test_ui_and_cli_never_import_each_other() -> None:
    edges = graph()
    crossing = [
        f"{a} imports {b} (line {line})"
        for a, out in edges.items()
        for b, line in out.items()
        if (in_package(a, "mlstack.ui") and in_package(b, "mlstack.cli"))
        or (in_package(a, "mlstack.cli") and in_package(b, "mlstack.ui"))
    ]
    assert not crossing, "the UI and the CLI import each other:\n" + "\n".join(crossing)


def test_stage_modules_do_not_import_airflow_at_run_time() -> None:
    """What the ast rules cannot see: a third-party import that pulls Airflow in."""
    stages = sorted(m for m in modules() if in_package(m, "mlstack.stages"))
    code = (
        "import sys, importlib\n"
        f"for m in {[*stages, 'mlstack.sources', 'mlstack.demo.simulator']!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print(bad[:5]); sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, f"a stage imports airflow: {done.stdout} {done.stderr[-2000:]}"
