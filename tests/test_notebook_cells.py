"""Notebooks stay thin: every code cell is a short call into fashionlib, and records are read through
``results.runs_frame`` only (never the raw ``results.load_records``).

The parameters cell is exempt from the length rule: it is one literal assignment per parameter, and
papermill injects a profile's values after that one cell, so it cannot be split.
"""

from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.md"))
MAX_LINES = 15


def code_cells(path: Path):
    for i, cell in enumerate(jupytext.read(path).cells):
        if cell.cell_type == "code":
            yield i, cell


def long_cells(path: Path) -> list[str]:
    """``<notebook> cell <i>: <n> lines`` for each code cell (hidden ones too) over MAX_LINES lines."""
    return [f"{path.stem} cell {i}: {len(cell.source.splitlines())} lines" for i, cell in code_cells(path)
            if len(cell.source.splitlines()) > MAX_LINES and "parameters" not in cell.metadata.get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_notebook_reads_raw_records(path):
    assert not [i for i, cell in code_cells(path) if "load_records" in cell.source], \
        f"{path.stem}: read records with results.runs_frame, not load_records"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_code_cell_is_over_15_lines(path):
    assert not long_cells(path), f"move the logic into fashionlib or split the cell: {long_cells(path)}"


def test_the_check_counts_hidden_cells_and_exempts_only_parameters(tmp_path):
    body = "\n".join(f"x{i} = {i}" for i in range(MAX_LINES + 1))
    nb = tmp_path / "t.md"
    header = NOTEBOOKS[0].read_text().split("---", 2)[1]  # a real notebook's jupytext header
    nb.write_text(f"---{header}---\n\n"
                  f"```{{code-cell}} ipython3\n:tags: [parameters]\n\n{body}\n```\n\n"
                  f"```{{code-cell}} ipython3\n:tags: [remove-cell]\n\n{body}\n```\n")
    assert long_cells(nb) == [f"t cell 1: {MAX_LINES + 1} lines"]
