"""The shape of ``fashionlib`` drawn from its own imports: no import cycle (lazy imports inside functions
count too: a cycle hidden in a function is still a cycle), no upward import (the modules at the bottom
import nothing of the package, and nothing imports the command line), and no module over 450 lines."""

import ast
from pathlib import Path

import fashionlib

PACKAGE = Path(fashionlib.__file__).resolve().parent
MAX_LINES = 450
# The bottom of the house: plain data and file helpers that any module may import.
BOTTOM = {"files", "choices", "progress"}


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name below it (``run``, ``sub.mod``), sub-folders included."""
    return {".".join(p.relative_to(package).with_suffix("").parts): p for p in sorted(package.rglob("*.py"))}


def imports_of(name: str, path: Path, known) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its file (top level or inside a function)."""
    here = name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1] + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "fashionlib":
                base = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                target = ".".join(base + [alias.name])
                found.add(target if target in known else ".".join(base))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "fashionlib" and len(parts) > 1:
                    found.add(".".join(parts[1:]))
    return {m for m in found if m in known and m != name}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    mods = modules(package)
    return {name: imports_of(name, path, mods) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan), each as sorted names."""
    index, low, stack, on_stack, found = {}, {}, [], set(), set()

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                found.add(tuple(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_lazy_and_absolute_imports(tmp_path):
    """The checker itself: an import inside a function, ``from . import x`` and ``import fashionlib.x`` all
    count, and a cycle through them is found."""
    (tmp_path / "a.py").write_text("def f():\n    from .b import g\n")
    (tmp_path / "b.py").write_text("from . import c\n")
    (tmp_path / "c.py").write_text("import fashionlib.a\nimport os\n")
    (tmp_path / "d.py").write_text("from .a import f\n")
    graph = import_graph(tmp_path)
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == {("a", "b", "c")}
    assert cycles({"a": {"b"}, "b": set()}) == set()


def test_no_import_cycle():
    assert cycles(import_graph()) == set()


def test_the_bottom_imports_nothing_and_only_the_entry_point_imports_the_command_line():
    graph = import_graph()
    assert {m: graph[m] for m in BOTTOM if graph[m]} == {}
    assert {m for m, deps in graph.items() if "run" in deps} == {"__main__"}


def test_no_module_over_450_lines():
    lines = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {n: k for n, k in lines.items() if k > MAX_LINES} == {}
