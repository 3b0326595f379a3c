"""The locked environment: requirements-lock.txt, pyproject.toml and environment.yml agree."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from fashionlib import results

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements-lock.txt"


def _lock_requirements(text: str) -> dict[str, Requirement]:
    reqs = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].rstrip(" \\").strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            reqs[canonicalize_name(req.name)] = req
    return reqs


@pytest.fixture(scope="module")
def lock():
    return _lock_requirements(LOCK.read_text())


def _pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    return [Requirement(s) for s in specs]


def test_lock_pins_every_package_exactly_with_hashes(lock):
    text = LOCK.read_text()
    assert len(lock) > 50
    for name, req in lock.items():
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", f"{name} is not pinned exactly"
    if "without hashes" not in text:  # .ci/lock.py says so in the header when pip-compile was not available
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text[text.index("\n", text.index("\n") + 1):])
        for block in blocks:
            if block.strip() and not block.lstrip().startswith("#"):
                assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]}"
    assert str(lock["torch"].specifier) == "==2.14.1" and str(lock["torchvision"].specifier) == "==0.29.1"
    assert "fashionlib" not in lock


def test_pyproject_ranges_admit_the_locked_versions(lock):
    for req in _pyproject_requirements():
        name = canonicalize_name(req.name)
        assert name in lock, f"pyproject.toml needs {req.name}, which requirements-lock.txt does not pin"
        locked = str(lock[name].specifier).removeprefix("==")
        assert req.specifier.contains(locked, prereleases=True), f"{req.name}: locked {locked} outside {req.specifier}"


def test_environment_yml_pins_the_same_versions(lock):
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    pinned = _lock_requirements("\n".join(p for p in pip if p != "-e ."))
    assert {n: str(r) for n, r in pinned.items()} == {n: str(r) for n, r in lock.items()}
    python = next(d for d in conda if d.startswith("python"))
    assert f"Python {python.split('=')[1]}." in LOCK.read_text().splitlines()[0]


def test_jupyter_book_below_2(lock):
    assert any(str(r) == "jupyter-book<2,>=1" or str(r) == "jupyter-book>=1,<2" for r in _pyproject_requirements())
    assert lock["jupyter-book"].specifier.contains("1.0.4.post1") or str(lock["jupyter-book"].specifier).startswith("==1.")


def test_setup_installs_from_the_lock_and_make_lock_regenerates_it():
    setup = (REPO / ".ci" / "setup.sh").read_text()
    assert 'pip install -q $HASHES -r "$LOCK"' in setup and 'LOCK="${LOCK:-requirements-lock.txt}"' in setup
    assert 'HASHES="--require-hashes"' in setup
    assert "--no-deps -e ." in setup
    make = (REPO / "Makefile").read_text()
    assert re.search(r"^lock:", make, re.M) and ".ci/lock.py" in make
    assert "requirements-lock.txt" in make.split("$(STAMP):")[1].splitlines()[0]


def test_setup_stops_before_any_work_when_the_disk_cannot_hold_the_venv(tmp_path):
    """A full disk used to end CI in pip's "No space left on device" half-way through the install."""
    import subprocess

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "apt-get").write_text("#!/bin/sh\necho apt-get ran; exit 1\n")
    (fake_bin / "apt-get").chmod(0o755)
    venv = tmp_path / "clone" / ".venv"
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", "VENV": str(venv), "PYTHON": "false",
           "FASHIONLIB_SETUP_MIN_FREE_GIB": "100000000"}
    done = subprocess.run(["bash", str(REPO / ".ci" / "setup.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert "GiB free on the disk of" in done.stderr and "set VENV" in done.stderr
    assert "apt-get ran" not in done.stdout + done.stderr and not venv.exists()


def test_environment_locked_compares_installed_versions(tmp_path):
    from importlib import metadata

    same = tmp_path / "same.txt"
    same.write_text(f"numpy=={metadata.version('numpy')} \\\n    --hash=sha256:00\n"
                    'nvidia-nothing==1.0 ; platform_system == "Nowhere"\n')
    other = tmp_path / "other.txt"
    other.write_text(f"numpy=={metadata.version('numpy')}.post99\n")
    missing = tmp_path / "missing.txt"
    missing.write_text("no-such-package-here==1.0\n")
    assert results.environment_locked(same) is True
    assert results.environment_locked(other) is False
    assert results.environment_locked(missing) is False
    assert results.environment_locked(tmp_path / "absent.txt") is False


def test_provenance_says_whether_the_environment_is_locked():
    prov = results.provenance({}, notebook="x", profile="smoke")
    assert prov["locked"] == results.environment_locked()
