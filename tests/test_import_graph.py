"""The import graph of goalstore: layers that only import downwards, and no import cycle.

Every ``import`` statement counts, also the ones inside functions (they are cycles waiting for the
first caller); imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: lowest first; a module may import modules of its own layer and of the layers below it
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("goalstore._version", "goalstore.errors", "goalstore.checksum", "goalstore.resources",
              "goalstore.intake_reader")),
    ("schema", ("goalstore.schema",)),
    ("records", ("goalstore.versioning", "goalstore.journal", "goalstore.catalog", "goalstore.catalog_state",
                 "goalstore.remote", "goalstore.verification", "goalstore.formats")),
    ("store", ("goalstore.store", "goalstore.catalog_repair")),
    ("domain", ("goalstore.sources", "goalstore.analyses", "goalstore.lr_corpus", "goalstore.figures",
                "goalstore.activations")),
    ("entries", ("goalstore.entries",)),
    ("recipes", ("goalstore.recipes",)),
    ("api", ("goalstore.api",)),
    ("interface", ("goalstore.cli", "goalstore.__main__", "goalstore")),  # the package: ``import goalstore``
]

#: import cycles that exist today, each with the change that removes it
KNOWN_CYCLES = [
]


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The goalstore modules ``name`` imports (a ``from PACKAGE import submodule`` is the submodule)."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_lines(tree)
    is_package = path.name == "__init__.py"
    deps = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            deps.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(parent + ([node.module] if node.module else []))
            submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
            deps.update(submodules)
            if len(submodules) < len(node.names):
                deps.add(base)
    return {d for d in deps if d == "goalstore" or d.startswith("goalstore.")} - {name}


def _layer(module: str) -> int:
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    if best is None:
        pytest.fail(f"module {module} has no layer: add it to LAYERS in {Path(__file__).name}")
    return best[0]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules("goalstore")
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_module_has_a_layer_and_imports_only_downwards(graph):
    upward = []
    for module, deps in graph.items():
        for dep in deps:
            if _layer(dep) > _layer(module):
                upward.append(f"{module} ({LAYERS[_layer(module)][0]}) imports {dep} "
                              f"({LAYERS[_layer(dep)][0]})")
    assert not upward, "\n".join(sorted(upward))


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle(graph):
    cycles = [c for c in _cycles(graph) if c not in KNOWN_CYCLES]
    assert not cycles, f"import cycles: {[sorted(c) for c in cycles]}"


def test_recipes_read_through_entries_not_the_package_or_the_api(graph):
    for module, deps in graph.items():
        if module.startswith("goalstore.recipes"):
            assert not deps & {"goalstore", "goalstore.api", "goalstore.cli"}, module


def test_builders_import_nothing_from_goalstore():
    modules = _modules("builders")
    offending = {name: sorted(deps) for name, path in modules.items()
                 if (deps := _imports(name, path, {**modules, **_modules("goalstore")}))}
    assert not offending, offending


def test_the_graph_sees_function_level_imports(graph):
    # recipes import their analyses inside functions: those edges must be in the graph
    assert "goalstore.analyses.spatial" in graph["goalstore.recipes.spatial"]
    assert "goalstore.entries" in graph["goalstore.recipes.spatial"]
