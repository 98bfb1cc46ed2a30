"""The runner package's shape, read from its sources with `ast`: import graph without cycles,
imports at module level only, short functions."""
from __future__ import annotations

import ast
import os
from typing import Dict, List, Set

import pytest

RUNNER_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "runners", "mistral_v2")
PACKAGE = "mistral_v2"
MAX_FUNCTION_LINES = 60


def _modules() -> Dict[str, ast.Module]:
    out = {}
    for name in sorted(os.listdir(RUNNER_DIR)):
        if name.endswith(".py"):
            with open(os.path.join(RUNNER_DIR, name)) as fh:
                out[name[:-3]] = ast.parse(fh.read(), filename=name)
    return out


MODULES = _modules()


def _imported_modules(node: ast.AST) -> List[str]:
    """Modules of this package an import statement names."""
    found: List[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            if parts[0] == PACKAGE and len(parts) > 1:
                found.append(parts[1])
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        parts = node.module.split(".")
        if parts[0] == PACKAGE:
            if len(parts) > 1:
                found.append(parts[1])
            else:
                found.extend(a.name for a in node.names if a.name in MODULES)
    return found


def import_graph() -> Dict[str, Set[str]]:
    """module -> the package modules it imports (anywhere in the file)."""
    return {name: {m for node in ast.walk(tree) for m in _imported_modules(node) if m != name}
            for name, tree in MODULES.items()}


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """A list of modules forming an import cycle, or [] (depth-first search for a back-edge)."""
    state: Dict[str, int] = {}   # 1 = on the current path, 2 = done
    path: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return []


def test_the_cycle_finder_finds_a_back_edge():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_runner_import_graph_has_no_cycle():
    graph = import_graph()
    assert graph["rerun"] and graph["mistral_v2"]          # the graph was really read
    assert find_cycle(graph) == []


def _local_imports(tree: ast.Module) -> List[str]:
    """Imports inside functions, as "function:line"; StackStorm's own modules, which seam.py loads
    only when called inside StackStorm, are the one exception."""
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("st2common"):
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append("%s:%d" % (fn.name, node.lineno))
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_runner_modules_import_at_module_level_only(module):
    assert _local_imports(MODULES[module]) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_runner_functions_are_short(module):
    long_ones = ["%s (%d lines)" % (n.name, n.end_lineno - n.lineno + 1)
                 for n in ast.walk(MODULES[module]) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.end_lineno - n.lineno + 1 >= MAX_FUNCTION_LINES]
    assert long_ones == []
