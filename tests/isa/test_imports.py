"""The isa package's import graph: acyclic, with `isa.types` a leaf.

The graph is read from the source with `ast`, counting every import, including the lazy ones
inside functions, so a cycle cannot hide behind a deferred import. `from isa import x` is an
edge to the submodule `isa.x` when there is one, else to the package (`isa/__init__.py`); the
implicit import of the package that Python does before any submodule is not an edge.
"""
import ast
import importlib
import sys
from pathlib import Path

import pytest

import isa

PACKAGE = Path(isa.__file__).parent


def _name(path: Path) -> str:
    return "isa" if path.stem == "__init__" else f"isa.{path.stem}"


def _imports(path: Path) -> set[str]:
    """Every module that `path` imports, absolute (isa.* resolved to modules of this package)."""
    modules = {_name(p) for p in PACKAGE.glob("*.py")}
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "isa" if node.level else node.module
            if node.level and node.module:
                base = f"isa.{node.module}"
            for a in node.names:
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
    return out


def import_graph() -> dict[str, set[str]]:
    """{module: the isa modules it imports} over isa/*.py."""
    files = {_name(p): p for p in PACKAGE.glob("*.py")}
    return {m: {i for i in _imports(p) if i in files and i != m} for m, p in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle [a, b, ..., a] in `graph`, or None if it is acyclic."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        state[m] = "done"
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_find_cycle_detects_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_graph_sees_the_package():
    graph = import_graph()
    assert {"isa", "isa.machine", "isa.types", "isa.jax_machine", "isa.native"} <= set(graph)
    assert "isa.native" in graph["isa.machine"]  # the lazy import inside `execute` counts


def test_isa_imports_are_acyclic():
    assert find_cycle(import_graph()) is None


def test_types_is_a_leaf():
    imports = _imports(PACKAGE / "types.py")
    third_party = {i.split(".")[0] for i in imports} - set(sys.stdlib_module_names) - {"isa"}
    assert {i for i in imports if i.split(".")[0] == "isa"} == {"isa.model"}
    assert third_party == {"numpy"}


def test_backends_do_not_import_the_dispatcher():
    graph = import_graph()
    for backend in ("isa.jax_machine", "isa.unicorn_backend", "isa.native"):
        assert "isa.machine" not in graph[backend], backend


def test_the_dispatcher_is_the_public_execute():
    from isa import machine
    assert machine.__all__ == ["execute"] and isa.execute is machine.execute


@pytest.mark.parametrize("name", ["isa", "isa.types", "isa.machine", "isa.model", "isa.syntax",
                                  "isa.encoding", "isa.latency", "isa.flags", "isa.jax_machine",
                                  "isa.u64", "isa.testing"])
def test_public_modules_declare_all(name):
    module = importlib.import_module(name)
    assert len(set(module.__all__)) == len(module.__all__), "duplicate names in __all__"
    assert [n for n in module.__all__ if not hasattr(module, n)] == []
