"""The first cell of an executed notebook installs fashionlib into an environment that lacks it.

A fresh virtual environment sees this environment's third-party packages (through a folder of links
that leaves fashionlib out, so nothing is downloaded) but not fashionlib; the first code cell of an
executed notebook, run there with ``FASHIONLIB_REPO`` pointing at this checkout instead of the
repository URL, must install the package so that it imports from the new environment.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from fashionlib import run

REPO = Path(__file__).resolve().parent.parent


def _venv_without_fashionlib(root: Path) -> Path:
    """A venv (no pip of its own) whose path holds links to every installed package but fashionlib."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    links = root / "shared-packages"
    links.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "fashionlib" in entry.name.lower() or entry.suffix == ".pth":
            continue
        (links / entry.name).symlink_to(entry)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "shared-packages.pth").write_text(str(links) + "\n")
    return python


@pytest.mark.slow
def test_first_cell_of_an_executed_notebook_installs_fashionlib(tmp_path):
    executed = run.run_notebook("a0_fashion_mnist", "smoke", out_dir=tmp_path / "ex", results_dir=tmp_path / "r",
                                prepare_only=True)
    first = next(c for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code")
    python = _venv_without_fashionlib(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    source = tmp_path / "checkout"  # a copy: building in the repository would leave build/ behind
    shutil.copytree(REPO / "fashionlib", source / "fashionlib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    env.update(FASHIONLIB_REPO=str(source), PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0",
               PIP_FIND_LINKS="", PIP_CONFIG_FILE=os.devnull)
    probe = [str(python), "-c", "import importlib.util; print(importlib.util.find_spec('fashionlib'))"]
    assert subprocess.run(probe, env=env, cwd=tmp_path, capture_output=True, text=True).stdout.strip() == "None"

    (tmp_path / "first_cell.py").write_text(first.source)
    proc = subprocess.run([str(python), "first_cell.py"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Fashion-MNIST:" in proc.stdout
    where = subprocess.run([str(python), "-c", "import fashionlib, sys; print(fashionlib.__file__, sys.prefix)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert Path(where[0]).is_relative_to(Path(where[1])), f"fashionlib imported from {where[0]}, not the new venv"
