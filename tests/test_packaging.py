"""environment.yml (conda) and pyproject.toml (pip) list the same dependencies."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip_deps = set(map(_name, project["dependencies"]))
    for extra in project["optional-dependencies"].values():
        pip_deps |= set(map(_name, extra))
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = {CONDA_NAMES.get(_name(d), _name(d)) for d in env["dependencies"] if isinstance(d, str)}
    conda -= {"python", "pip"}
    assert conda == pip_deps, f"only in environment.yml: {conda - pip_deps}; only in pyproject: {pip_deps - conda}"


def test_jupyter_book_pinned_below_2():
    text = (REPO / "pyproject.toml").read_text()
    assert '"jupyter-book>=1,<2"' in text and "jupyter-book>=1,<2" in (REPO / "environment.yml").read_text()
