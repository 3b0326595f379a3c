"""Results records: one JSON file per executed notebook run, written atomically, with provenance.

Layout: ``<results_dir>/<profile>/<notebook>/<run_id>.json``. ``results_dir`` is the argument, else
``$FASHIONLIB_RESULTS_DIR`` (set by the runner), else ``book/results`` of this repository.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ["numpy", "pandas", "scikit-learn", "imbalanced-learn", "matplotlib", "seaborn",
             "keras", "tensorflow", "tensorflow-cpu", "jax", "torch", "torchvision", "timm",
             "papermill", "jupyter-book"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it into place.

    A kill at any moment leaves either the old file or the new one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def results_dir(override: str | os.PathLike | None = None) -> Path:
    if override is not None:
        return Path(override)
    return Path(os.environ.get("FASHIONLIB_RESULTS_DIR") or REPO_ROOT / "book" / "results")


def git_commit() -> str:
    """The current commit (with ``-dirty`` when the tree has changes), or 'unknown'.

    ``$FASHIONLIB_GIT_COMMIT`` wins when set: the runner sets it when a notebook *starts* (a long run
    must name the code it started from, not a commit made while it ran), and whoever copies the tree
    to a machine without its ``.git`` folder sets it by hand.
    """
    if os.environ.get("FASHIONLIB_GIT_COMMIT"):
        return os.environ["FASHIONLIB_GIT_COMMIT"]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha + ("-dirty" if dirty else "")) if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    if "keras" in sys.modules:
        versions["keras_backend"] = sys.modules["keras"].backend.backend()
    return versions


def device_info() -> dict[str, object]:
    """Describe the machine; reports a CUDA device when torch (already imported) sees one."""
    info: dict[str, object] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "accelerator": "cpu",
    }
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["accelerator"] = torch.cuda.get_device_name(0)
    jax = sys.modules.get("jax")
    if jax is not None and info["accelerator"] == "cpu":
        try:
            gpus = jax.devices("gpu")
        except RuntimeError:  # no GPU backend in this jax
            gpus = []
        if gpus:
            info["accelerator"] = gpus[0].device_kind
    return info


def provenance(params: dict | None = None, seed: int | None = None,
               started: float | None = None, notebook: str | None = None,
               profile: str | None = None) -> dict:
    now = time.time()
    return {
        "notebook": notebook,
        "profile": profile,
        "parameters": params or {},
        "seed": seed,
        "git_commit": git_commit(),
        "versions": library_versions(),
        "device": device_info(),
        "started": _dt.datetime.fromtimestamp(started or now, _dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(now - started, 3) if started else None,
        "hostname": platform.node(),
    }


def _jsonable(obj):
    """Turn NumPy scalars/arrays and paths into plain JSON values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"results record: cannot store {type(obj).__name__} as JSON")


def write_record(notebook: str, params: dict, metrics: dict, *, profile: str | None = None,
                 seed: int | None = None, started: float | None = None,
                 results_dir_: str | os.PathLike | None = None, extra: dict | None = None) -> Path:
    """Write one results record atomically and return its path.

    ``profile`` defaults to ``params['profile']``; ``started`` is ``time.time()`` at the run's start.
    """
    profile = profile or params.get("profile") or "adhoc"
    record = {
        "provenance": provenance(params, seed=seed, started=started, notebook=notebook, profile=profile),
        "metrics": metrics,
        **(extra or {}),
    }
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    run_id = f"{stamp}-{uuid.uuid4().hex[:6]}"
    path = results_dir(results_dir_) / profile / notebook / f"{run_id}.json"
    atomic_write_text(path, json.dumps(record, indent=1, default=_jsonable, sort_keys=False) + "\n")
    return path


def load_records(notebook: str | None = None, profile: str | None = None,
                 results_dir_: str | os.PathLike | None = None) -> list[dict]:
    """All records for a notebook/profile (either may be None for all), oldest first.

    Each record gains a ``_path`` key. Files that are not valid JSON are reported, not skipped silently.
    """
    root = results_dir(results_dir_)
    pattern = f"{profile or '*'}/{notebook or '*'}/*.json"
    records = []
    for path in sorted(root.glob(pattern)):
        try:
            rec = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"results record {path} is not valid JSON ({exc}); delete it and re-run.") from exc
        rec["_path"] = str(path)
        records.append(rec)
    records.sort(key=lambda r: r["provenance"].get("started") or "")
    return records


def latest_record(notebook: str, profiles=("paper", "cpu", "smoke"),
                  results_dir_: str | os.PathLike | None = None) -> dict | None:
    """The newest record of the first profile (in order) that has one, or None."""
    for profile in profiles:
        recs = load_records(notebook, profile, results_dir_)
        if recs:
            return recs[-1]
    return None


def provenance_line(record: dict) -> str:
    """A one-line provenance summary for captions: profile, device, commit, date, wall time."""
    p = record["provenance"]
    dev = p["device"].get("accelerator", "cpu")
    if dev == "cpu":
        dev = f"CPU x{p['device'].get('cpu_count')}"
    wall = p.get("wall_time_s")
    wall_s = f", {wall / 60:.1f} min" if wall else ""
    return f"profile {p['profile']}, {dev}, commit {str(p['git_commit'])[:10]}, {p['started'][:10]}{wall_s}"
