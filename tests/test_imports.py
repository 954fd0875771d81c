"""The import structure as checked rules: no module-level import cycles, and the import-linter contracts in
pyproject.toml ([tool.importlinter]: layers flow one way, task folders independent) all kept."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]


def import_cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return sorted(cycles)


def _describe(graph, cycle: list[str]) -> str:
    """The imports inside one cycle, with file lines, so the failure says what to move."""
    members = set(cycle)
    lines = []
    for importer in cycle:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            for detail in graph.get_import_details(importer=importer, imported=imported) or [{}]:
                where = f" (line {detail['line_number']}: {detail['line_contents']})" if detail else ""
                lines.append(f"    {importer} -> {imported}{where}")
    return "\n".join([f"  cycle: {', '.join(cycle)}", *lines])


def test_import_cycles_found_by_the_checker():
    graph = grimp.ImportGraph()
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.z")
    graph.add_import(importer="a.z", imported="a.x")
    graph.add_import(importer="a.z", imported="a.w")
    graph.add_import(importer="a.v", imported="a.v2")
    assert import_cycles(graph) == [["a.x", "a.y", "a.z"]]


def test_no_import_cycles():
    graph = grimp.build_graph("ecomtune", cache_dir=None)
    cycles = import_cycles(graph)
    assert not cycles, "module-level import cycles in ecomtune:\n" + "\n".join(_describe(graph, c) for c in cycles)


def test_import_linter_contracts_are_kept():
    proc = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
         "--no-cache"],
        check=False, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, f"import-linter: contracts broken\n{proc.stdout}\n{proc.stderr}"
    assert "0 broken" in proc.stdout, proc.stdout
