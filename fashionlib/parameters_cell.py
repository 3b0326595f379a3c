"""A notebook's ``parameters`` cell: read it, and check it inside the notebook.

The cell tagged ``parameters`` holds only ``name = <literal>`` lines: its names and defaults are what the
notebook accepts. The runner reads it from the notebook file (:func:`declared_parameters`); the
in-notebook check (:func:`validate`, for runs that bypass the runner) reads it back from the kernel's
input history. Both read it with :func:`literal_assignments` and apply the same checks
(:mod:`fashionlib.rules`, :mod:`fashionlib.combinations`), so they agree on the names and the errors.
"""

from __future__ import annotations

import ast

from .combinations import check_combinations
from .rules import ParameterError, RULES, check_params, check_value, unknown_parameter


def literal_assignments(source: str) -> dict | None:
    """``{name: value}`` when ``source`` holds only assignments of literals (a parameters cell, or
    papermill's injected one); None for any other cell."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    values = {}
    for node in body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)):
            return None
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        if not isinstance(target, ast.Name) or node.value is None:
            return None
        try:
            values[target.id] = ast.literal_eval(node.value)
        except ValueError:
            return None
    return values or None


def declared_parameters(nb, where: str = "") -> dict:
    """Names and literal defaults of the assignments in the cell tagged ``parameters``.

    The cell is read as the in-notebook check reads it (:func:`literal_assignments`), so the runner
    and the notebook agree on the names. ``where`` prefixes the errors (the notebook's name).
    """
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            declared = literal_assignments(cell.source)
            if declared is None:
                raise ParameterError(
                    f"{where}the cell tagged 'parameters' holds more than assignments of literals:\n"
                    f"{cell.source}\nFix: keep only 'name = <literal>' lines there (one name a line) "
                    "and compute derived values in a later cell.")
            return declared
    raise ParameterError(f"{where}notebook has no cell tagged 'parameters'; add one as its first code cell.")


def parameter_cells(history: list[str]) -> tuple[dict, dict]:
    """(declared defaults, later assignments) from a kernel's input history, the current cell last.

    The parameters cell is the first of the last run of literal-only cells before the current one;
    the cells after it in that run (papermill's injected parameters) are overrides.
    """
    current = history[-1] if history else ""
    cells = [c for c in history[:-1] if c.strip() and c != current]
    while cells and literal_assignments(cells[-1]) is None:
        cells.pop()
    block = []
    while cells and literal_assignments(cells[-1]) is not None:
        block.insert(0, literal_assignments(cells.pop()))
    if not block:
        return {}, {}
    overrides = {}
    for later in block[1:]:
        overrides.update(later)
    return block[0], overrides


def validate(notebook: str, namespace: dict) -> dict:
    """In-notebook check, for runs that bypass the runner (papermill, Jupyter, Colab): the same checks.

    The parameter names and defaults come from the notebook's own ``parameters`` cell, read back from
    the kernel's input history (``In``): that works wherever the cells are run in order, from the
    MyST source or an executed ``.ipynb``, with no file to find (a Colab kernel does not know its
    notebook's path). Names injected by papermill that the cell does not declare are refused, as
    the runner refuses them. Without a history (code run outside IPython) every global with a rule
    in :data:`RULES` is checked. Returns ``{name: value}`` of the declared parameters.
    """
    where = f"{notebook}: "
    declared, injected = parameter_cells(list(namespace.get("In") or []))
    if not declared:
        return check_params({n: v for n, v in namespace.items() if n in RULES}, where)
    for name in injected:
        if name not in declared:
            raise unknown_parameter(name, "the injected parameters", declared, where)
    params = {name: namespace[name] for name in declared}
    for name, value in params.items():
        check_value(name, value, declared[name], where)
    check_combinations(params, {k for k, v in params.items() if v != declared[k]}, where)
    return params
