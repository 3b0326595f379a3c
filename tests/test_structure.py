"""The shape of ``fashionlib`` drawn from its own imports: no import cycle (lazy imports inside functions
count too: a cycle hidden in a function is still a cycle), no upward import (every module sits on a layer
of :data:`LAYERS`, and imports only modules of its own layer or below; the modules at the bottom import
nothing of the package, and only the entry point imports the command line), and no module over 450 lines.
CONTRIBUTING.md walks the same map."""

import ast
import re
from pathlib import Path

import fashionlib

PACKAGE = Path(fashionlib.__file__).resolve().parent
MAX_LINES = 450
# The layers of the house, from what each module holds. A module imports only its own layer or lower ones:
# the trainers never import what writes records or pages, and the rules never import a model.
LAYERS = {
    # 0 the bottom: plain data, file helpers and output streams that any module may import
    **dict.fromkeys(["__init__", "files", "choices", "progress", "paper", "sample_files"], 0),
    # 1 parameter rules, data sets and measures: no model, no training
    **dict.fromkeys(["rules", "combinations", "parameters_cell", "data", "apparel", "fmnist_standin",
                     "fpi_synthetic", "balance", "metrics"], 1),
    # 2 what a trainer is built from: backends, models, schedules, batches, configurations, datasets
    **dict.fromkeys(["backend", "keras_models", "schedules", "keras_batches", "torch_models", "torch_config",
                     "torch_device", "torch_images", "torch_data"], 2),
    # 3 training and evaluating runs
    **dict.fromkeys(["train_keras", "keras_callbacks", "train_vmap", "keras_runs", "saved_models",
                     "train_torch", "torch_evaluation", "pretraining", "standin_grid"], 3),
    # 4 records and comparisons: results records, the tables, claims and figures built from them
    **dict.fromkeys(["results", "report", "claims", "standin_claims", "paper_tables", "protocol_runs",
                     "plots", "html_tables", "gpu_estimate", "peer_ratios",
                     "hyperparameter_rows"], 4),
    # 5 the book's pages and the command line
    **dict.fromkeys(["book", "verdict_words", "study_a_verdict", "provenance_table", "course_plan", "catalogue", "run",
                     "__main__"], 5),
}
BOTTOM = {m for m, layer in LAYERS.items() if layer == 0}


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


def upward_imports(graph: dict[str, set[str]], layers: dict[str, int]) -> dict[str, set[str]]:
    """Each module's imports of a module on a higher layer than its own."""
    return {m: up for m, deps in graph.items() if (up := {d for d in deps if layers[d] > layers[m]})}


def test_the_layer_check_finds_an_upward_import():
    graph = {"low": set(), "mid": {"low"}, "top": {"mid", "low"}}
    assert upward_imports(graph, {"low": 0, "mid": 1, "top": 2}) == {}
    assert upward_imports({**graph, "low": {"top"}}, {"low": 0, "mid": 1, "top": 2}) == {"low": {"top"}}


def test_every_module_has_a_layer():
    assert set(modules()) - set(LAYERS) == set(), "add each new module to LAYERS (and to CONTRIBUTING.md)"
    assert set(LAYERS) - set(modules()) == set(), "a module in LAYERS no longer exists"


def documented_layers(text: str) -> dict[str, int]:
    """The layer of each module in CONTRIBUTING.md's map: the numbered item (``0.`` .. ``5.``) of the
    section "The house" in which its backquoted name first appears."""
    section = text.split("## The house", 1)[1].split("\n## ", 1)[0]
    found = {}
    for number, body in re.findall(r"^(\d)\. (.*?)(?=^\d\. |\Z)", section, flags=re.S | re.M):
        for name in re.findall(r"`([a-z_]+)`", body):
            found.setdefault(name, int(number))
    return found


def test_contributing_walks_the_same_layers():
    """CONTRIBUTING.md's module map lists every module on the layer LAYERS gives it."""
    documented = documented_layers((PACKAGE.parent / "CONTRIBUTING.md").read_text())
    assert {m: documented.get(m) for m in LAYERS if m != "__init__" and documented.get(m) != LAYERS[m]} == {}


def test_no_upward_import():
    """Lazy imports count: an import kept inside a function to load a heavy library late must still point
    down (or across)."""
    assert upward_imports(import_graph(), LAYERS) == {}


def test_no_import_cycle():
    assert cycles(import_graph()) == set()


def test_the_bottom_imports_nothing_and_only_the_entry_point_imports_the_command_line():
    graph = import_graph()
    assert {m: graph[m] for m in BOTTOM if graph[m]} == {}
    assert {m for m, deps in graph.items() if "run" in deps} == {"__main__"}


def test_no_module_over_450_lines():
    lines = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {n: k for n, k in lines.items() if k > MAX_LINES} == {}
