"""The layering of the installed packages: no import cycle, and arrows only point down.

Layers, bottom up: the core (``docstage``), the built-in plugins (``docstage_plugins``),
the evaluation commands (``docstage_eval``). The core never imports the plugins or the
evaluation, and the plugins never import the evaluation. Every import counts — at
module level, inside a function, or under ``if TYPE_CHECKING:`` — because each is an
arrow a reader must follow, and a cycle hidden in a function is a cycle all the same.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

#: The installed packages, lowest layer first.
LAYERS = ("docstage", "docstage_plugins", "docstage_eval")

#: A core module longer than this says why in its docstring (with the word "long").
LONG_MODULE = 450


def package_files(package: str) -> Iterator[tuple[str, Path]]:
    """``(module name, file)`` of every module of an installed ``package``."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return
    for location in spec.submodule_search_locations:
        root = Path(location)
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join((package, *parts)), path


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in LAYERS:
        found.update(package_files(package))
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project's modules that ``name`` imports, wherever in the file the import is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from docstage import hookspecs` imports a module; `from docstage import
            # Document` imports from the package.
            candidates = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_the_packages_are_installed_under_their_own_names() -> None:
    graph = import_graph()
    assert any(name.startswith("docstage.") for name in graph)
    assert any(name.startswith("docstage_plugins.") for name in graph)


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_imports_only_point_down() -> None:
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in import_graph().items()
        for target in targets
        if layer(target) > layer(source)
    )
    assert not upward, "imports into a higher layer:\n" + "\n".join(upward)


def test_long_core_modules_say_why() -> None:
    unexplained = []
    for name, path in package_files("docstage"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines <= LONG_MODULE:
            continue
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if "long" not in docstring.lower():
            unexplained.append(f"{name}: {lines} lines")
    assert not unexplained, (
        f"core modules over {LONG_MODULE} lines without a reason in their docstring: "
        + ", ".join(unexplained)
    )


# --- the checker itself ------------------------------------------------------------------


def test_cycles_finds_a_cycle_through_three_modules_and_ignores_a_chain() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import docstage.errors\n", {"docstage.errors"}),
        ("from docstage import hookspecs\n", {"docstage.hookspecs"}),
        ("from docstage import Document\n", {"docstage"}),
        ("def f():\n    from docstage.plan import Plan\n", {"docstage.plan"}),
        ("if TYPE_CHECKING:\n    from docstage.run import Run\n", {"docstage.run"}),
        ("from .errors import DocstageError\n", {"docstage.errors"}),
    ],
)
def test_every_kind_of_import_counts(tmp_path: Path, source: str, expected: set[str]) -> None:
    path = tmp_path / "module.py"
    path.write_text(source, encoding="utf-8")
    known = dict.fromkeys(
        ("docstage", "docstage.errors", "docstage.hookspecs", "docstage.plan"), tmp_path
    )
    known["docstage.run"] = tmp_path
    assert imported("docstage.module", path, known) == expected
