"""Measure how much the notebooks' code cells repeat each other (a developer aid, not a test).

    python scripts/notebook_duplicates.py [--most 60] [--keep DIR]

The code cells of ``notebooks/*.md`` are extracted as Python twice, into a temporary folder outside git:
``pernb/`` holds one file per notebook (all its code cells, in order), ``percell/`` one file per code
cell. The ``duplicates`` command (a developer tool found on some machines, not installed in CI) is then
run over each and its report printed, with the number of shared places of six or more lines first:
cutting the cells both ways shows repetition inside one cell as well as runs that cross a cell border.
Without ``duplicates`` on PATH the files are only extracted (``--keep`` says where).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)


def code_cells(text: str) -> list[str]:
    """The code cells of a jupytext MyST notebook, without their option lines (``:tags: ...`` or a
    ``---``-fenced YAML block at the top of the cell)."""
    cells = []
    for body in CELL.findall(text):
        lines = body.splitlines()
        if lines and lines[0].strip() == "---":
            end = lines.index("---", 1) if "---" in lines[1:] else 0
            lines = lines[end + 1:]
        while lines and re.match(r"^:\w[\w-]*:", lines[0]):
            lines = lines[1:]
        cells.append("\n".join(lines).strip("\n") + "\n")
    return cells


def extract(notebooks: list[Path], out: Path) -> None:
    """Write ``out/pernb/<stem>.py`` and ``out/percell/<stem>_<nn>.py`` for each notebook."""
    for sub in ("pernb", "percell"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        cells = code_cells(nb.read_text())
        if not cells:
            continue
        (out / "pernb" / f"{nb.stem}.py").write_text("".join(f"# %%\n{c}\n" for c in cells))
        for i, c in enumerate(cells):
            (out / "percell" / f"{nb.stem}_{i:02d}.py").write_text(c)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--most", type=int, default=60, help="rows to list (duplicates --most)")
    ap.add_argument("--keep", type=Path, help="extract into this folder (outside git) and keep it")
    args = ap.parse_args(argv)
    out = args.keep or Path(tempfile.mkdtemp(prefix="nbdups-"))
    extract(sorted((REPO / "notebooks").glob("*.md")), out)
    tool = shutil.which("duplicates")
    if tool is None:
        print(f"duplicates is not on PATH; the extracted cells are in {out}")
        return 0
    for sub in ("pernb", "percell"):
        report = subprocess.run([tool, "--repo", str(out / sub), "--most", str(args.most)],
                                capture_output=True, text=True).stdout
        first = report.splitlines()[0] if report else ""
        count = re.match(r"(\d+) pair", first)
        print(f"== {sub}: {count.group(1) if count else 0} shared places ({first})")
        print(report)
    if args.keep is None:
        shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
