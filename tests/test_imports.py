"""Imports only point down: nothing below flows/ imports rlvr.flows, and no two rlvr modules import each other.

Read from the source with `ast` (no module is executed): every `import` / `from ... import` statement counts,
at module level, inside functions and under `if TYPE_CHECKING`, so a late import cannot hide a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = ("data", "sampling", "verifiers", "trainers", "flows")  # folder = rlvr.<folder> (pyproject package-dir)
BELOW_FLOWS = ("data", "sampling", "verifiers", "trainers")


def _modules() -> dict[str, Path]:
    """rlvr module name -> source file, for every .py under the stage folders."""
    found = {}
    for stage in STAGES:
        for path in sorted((REPO / stage).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(["rlvr", *parts])] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The rlvr modules that `name` imports (a `from pkg import x` counts as pkg.x when x is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from ..pkg import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import rlvr.a.b.c` where c is a name: the module is a.b
                target = target.rpartition(".")[0]
            if target.startswith("rlvr.") and target != name:
                out.add(target)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_the_walk_sees_the_stages():
    assert {"rlvr.trainers.loop", "rlvr.trainers.grpo", "rlvr.flows.train", "rlvr.verifiers.registry"} <= MODULES.keys()
    assert "rlvr.trainers.grpo" in GRAPH["rlvr.trainers.loop"]  # the walk does find edges


@pytest.mark.parametrize("stage", BELOW_FLOWS)
def test_nothing_below_flows_imports_flows(stage):
    upward = {
        name: sorted(t for t in targets if t == "rlvr.flows" or t.startswith("rlvr.flows."))
        for name, targets in GRAPH.items() if name.startswith(f"rlvr.{stage}.") or name == f"rlvr.{stage}"
    }
    assert {name: t for name, t in upward.items() if t} == {}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One closed path per strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def test_no_module_imports_one_that_imports_it_back():
    assert _cycles(GRAPH) == []


def test_the_cycle_check_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
