"""Results records: one JSON file per executed notebook run, written atomically, with provenance.

Layout: ``<results_dir>/<profile>/<notebook>/<run_id>.json``. ``results_dir`` is the argument, else
``$FASHIONLIB_RESULTS_DIR`` (set by the runner), else ``book/results`` of this repository.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import sys
import time
import uuid
from importlib import metadata
from pathlib import Path

from .files import REPO_ROOT, atomic_write_text, git_commit, results_dir
LIBRARIES = ["numpy", "pandas", "scikit-learn", "imbalanced-learn", "matplotlib", "seaborn",
             "keras", "tensorflow", "tensorflow-cpu", "jax", "torch", "torchvision", "timm",
             "papermill", "jupyter-book"]


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


LOCK_FILE = REPO_ROOT / "requirements-lock.txt"


def locked_versions(lock_file: str | os.PathLike = LOCK_FILE) -> dict[str, str]:
    """Package name -> pinned version of the lock file's pins that apply to this machine ({} without a lock)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    path = Path(lock_file)
    pins = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        line = line.split("#", 1)[0].rstrip(" \\").strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate():
            pins[canonicalize_name(req.name)] = str(req.specifier).removeprefix("==")
    return pins


@functools.lru_cache(maxsize=1)
def environment_locked(lock_file: str | os.PathLike = LOCK_FILE) -> bool:
    """True when every package pinned in the lock file is installed here at exactly its pinned version.

    A missing lock file (fashionlib installed without its repository) means False: the versions
    cannot be vouched for.
    """
    pins = locked_versions(lock_file)
    try:
        return bool(pins) and all(metadata.version(name) == version for name, version in pins.items())
    except metadata.PackageNotFoundError:
        return False


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
        "locked": environment_locked(),  # every package at its requirements-lock.txt version
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


SCHEMA = 2  # the record shape below; records without it are the older per-notebook shapes
RUN_KEYS = ("setting", "seed", "metrics", "model_file", "history")
FRAME_COLUMNS = ["notebook", "profile", "record", "commit", "device", "started", "seed", "model_file", "history"]
_SCALARS = (str, int, float, bool, type(None))


def _scalar(value):
    """A plain Python scalar for a setting or metric value (NumPy scalars are unwrapped)."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    return value


def _check_run(i: int, run: dict) -> dict:
    """One run in the record's shape, or a ValueError naming the run and the fix."""
    if not isinstance(run, dict):
        raise ValueError(f"results record: runs[{i}] is a {type(run).__name__}; each run is a dict with keys "
                         f"{', '.join(RUN_KEYS)} (model_file and history may be left out).")
    unknown = sorted(set(run) - set(RUN_KEYS))
    missing = [k for k in ("setting", "seed", "metrics") if k not in run]
    if unknown or missing:
        raise ValueError(f"results record: runs[{i}] has unknown keys {unknown} / lacks {missing}; a run has "
                         f"exactly {', '.join(RUN_KEYS)} (put anything else in the setting, the metrics or extras).")
    out = {"setting": {}, "seed": None, "metrics": {}, "model_file": None, "history": None}
    for part in ("setting", "metrics"):
        if not isinstance(run[part], dict):
            raise ValueError(f"results record: runs[{i}]['{part}'] must be a dict, not {type(run[part]).__name__}.")
        for k, v in run[part].items():
            v = _scalar(v)
            if not isinstance(v, _SCALARS):
                raise ValueError(f"results record: runs[{i}]['{part}']['{k}'] is a {type(v).__name__}; settings and "
                                 "metrics are single numbers or strings (put tables in extras, curves in history).")
            if k in FRAME_COLUMNS:
                raise ValueError(f"results record: runs[{i}]['{part}'] key '{k}' clashes with the frame column "
                                 f"of that name; rename it.")
            out[part][k] = v
    both = sorted(set(out["setting"]) & set(out["metrics"]))
    if both:
        raise ValueError(f"results record: runs[{i}] uses {both} both as a setting and as a metric; rename one.")
    seed = _scalar(run["seed"])
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"results record: runs[{i}]['seed'] must be an int or None, not {seed!r}.")
    out["seed"] = seed
    if run.get("model_file") is not None:
        out["model_file"] = Path(run["model_file"]).name  # the file lies beside the record
    history = run.get("history")
    if history is not None:
        if hasattr(history, "to_dict"):  # a pandas DataFrame of per-epoch values
            history = history.to_dict(orient="list")
        if not isinstance(history, dict):
            raise ValueError(f"results record: runs[{i}]['history'] must be a dict of per-epoch lists or None.")
        out["history"] = history
    return out


def write_record(notebook: str, params: dict, runs: list[dict], *, extras: dict | None = None,
                 started: float | None = None, results_dir_: str | os.PathLike | None = None) -> Path:
    """Write one results record atomically and return its path; the one writer of records.

    ``runs``: one dict per trained model, ``{"setting": {...}, "seed": 0, "metrics": {...},
    "model_file": name or None, "history": {...} or None}`` (settings and metrics are scalars;
    accuracy-like metrics in percent). ``extras``: notebook-specific tables. The profile is
    ``params['profile']`` (else ``$FASHIONLIB_PROFILE``, else "adhoc"); ``started`` is ``time.time()`` at
    the run's start. Every run is checked before anything is written.
    """
    if isinstance(runs, dict) or not isinstance(runs, (list, tuple)):
        raise ValueError(f"write_record({notebook!r}, ...): runs must be a list of run dicts, not "
                         f"{type(runs).__name__}; put a notebook's tables in extras=... (see results.write_record).")
    checked = [_check_run(i, r) for i, r in enumerate(runs)]
    if extras is not None and not isinstance(extras, dict):
        raise ValueError(f"write_record({notebook!r}, ...): extras must be a dict, not {type(extras).__name__}.")
    profile = params.get("profile") or os.environ.get("FASHIONLIB_PROFILE") or "adhoc"
    record = {
        "schema": SCHEMA,
        "provenance": provenance(params, started=started, notebook=notebook, profile=profile),
        "runs": checked,
        "extras": extras or {},
    }
    text = json.dumps(record, indent=1, default=_jsonable, sort_keys=False) + "\n"
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")  # file names sort in write order
    path = results_dir(results_dir_) / profile / notebook / f"{stamp}-{uuid.uuid4().hex[:6]}.json"
    atomic_write_text(path, text)
    return path


def _sort_key(record: dict) -> tuple:
    """Start time, then the file name (its write-time stamp, to the microsecond): total and stable."""
    return record["provenance"].get("started") or "", Path(record["_path"]).name


def load_records(notebook: str | None = None, profile: str | None = None,
                 results_dir_: str | os.PathLike | None = None) -> list[dict]:
    """All records for a notebook/profile (either may be None for all), oldest first, as stored.

    Each record gains a ``_path`` key. Files that are not valid JSON are reported, not skipped silently.
    The book and the tests read runs through :func:`runs_frame`; this is the raw view under it.
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
    records.sort(key=_sort_key)
    return records


def latest_record(notebook: str, profiles=("paper", "cpu", "smoke"),
                  results_dir_: str | os.PathLike | None = None) -> dict | None:
    """The newest record of the first profile (in order) that has one, or None."""
    for profile in profiles:
        recs = load_records(notebook, profile, results_dir_)
        if recs:
            return recs[-1]
    return None


def check_schema(record: dict) -> dict:
    """The record itself, or a ValueError when it has an older shape (not ``SCHEMA``)."""
    if record.get("schema") != SCHEMA or not isinstance(record.get("runs"), list):
        raise ValueError(f"results record {record.get('_path', '?')} has an older shape (schema "
                         f"{record.get('schema', 1)}, not {SCHEMA}); convert it with "
                         "`python scripts/convert_records.py` or delete it and re-run its notebook.")
    return record


# Parameters that say how a run was executed, not what was run: records that differ only in these (and in
# the lists that enumerate their runs: seeds, models, grids) hold runs of one experiment and combine.
EXECUTION_PARAMETERS = ("profile", "jobs", "save_models", "backend", "fast_path", "torch_threads", "device",
                        "data_root", "weights_dir", "compile", "predecode", "channels_last")


def experiment_key(record: dict) -> str:
    """What a record's runs are runs *of*: its scalar parameters, less :data:`EXECUTION_PARAMETERS`.

    List-valued parameters (seeds, models, grids) only enumerate the runs, so two invocations with other
    seeds or a smaller grid share a key; a changed epoch count, learning rate or training-set size does not.
    """
    params = record["provenance"].get("parameters") or {}
    kept = {k: v for k, v in params.items()
            if k not in EXECUTION_PARAMETERS and not isinstance(v, (list, tuple, dict))}
    return json.dumps(kept, sort_keys=True, default=str)


def _run_key(run: dict) -> str:
    return json.dumps([run["setting"], run["seed"]], sort_keys=True, default=str)


def combine_records(records: list[dict]) -> list[dict]:
    """The runs of several invocations of one notebook at one profile, each (setting, seed) counted once.

    ``records``: oldest first, all of one (notebook, profile). The newest record sets the experiment
    (:func:`experiment_key`); older records of the same experiment add the runs it lacks (other seeds,
    other grid points, another day or machine), and a (setting, seed) present in several records is
    taken from the **newest** of them, never counted twice. Older records of another experiment (other
    epochs, rate, training-set size) are left out. Returns the records (oldest first) with only the
    runs they contribute; each keeps its own provenance.
    """
    if not records:
        return []
    key = experiment_key(records[-1])
    seen, kept = set(), []
    for rec in reversed(records):  # newest first: its (setting, seed) pairs win
        if experiment_key(rec) != key:
            continue
        runs = [run for run in rec["runs"] if _run_key(run) not in seen]
        seen.update(_run_key(run) for run in rec["runs"])  # across records only: one record's runs all count
        kept.append({**rec, "runs": runs})
    return kept[::-1]


def runs_frame(notebook: str | None = None, profile: str | None = None,
               results_dir_: str | os.PathLike | None = None, latest_only: bool = True,
               with_provenance: bool = False):
    """One row per run of the matching records: the one reader the book and the tests use.

    Columns: notebook, profile, record (path), commit, device, started, seed, model_file, history, then
    every setting key and every metric key (in order of first appearance); the provenance columns are
    those of each run's own record. ``latest_only`` (the default): per (notebook, profile), the runs of
    the newest record's experiment, accumulated over every invocation of it (:func:`combine_records`:
    other seeds or another machine add runs; a repeated (setting, seed) is counted once, the newest
    run wins). ``latest_only=False``: every run of every record, repeats included. A record of an older
    shape is an error, never skipped. ``with_provenance``: one more column, ``provenance``, each run's
    record's whole provenance dict (parameters, versions, wall time), for pages that report on records.
    """
    records = [check_schema(r) for r in load_records(notebook, profile, results_dir_)]
    if latest_only:
        records = [rec for group in by_notebook_and_profile(records).values() for rec in combine_records(group)]
    return _frame(records, with_provenance)


def by_notebook_and_profile(records: list[dict]) -> dict[tuple, list[dict]]:
    """``records`` (oldest first, as :func:`load_records` returns them) grouped by (notebook, profile),
    each group oldest first: its last record is the newest."""
    groups = {}
    for rec in records:
        groups.setdefault((rec["provenance"].get("notebook"), rec["provenance"].get("profile")), []).append(rec)
    return groups


def frame(notebook: str, params: dict, runs: list[dict]):
    """The runs of the run in progress in :func:`runs_frame`'s columns (record: "", not written yet), so
    that a notebook builds its tables the same way from its own runs as from committed records."""
    profile = params.get("profile") or os.environ.get("FASHIONLIB_PROFILE") or "adhoc"
    prov = {"notebook": notebook, "profile": profile, "git_commit": git_commit(), "device": device_info(),
            "started": None}
    return _frame([{"provenance": prov, "runs": [_check_run(i, r) for i, r in enumerate(runs)], "_path": ""}])


def _frame(records: list[dict], with_provenance: bool = False):
    import pandas as pd

    rows, setting_keys, metric_keys = [], {}, {}
    for rec in records:
        p = rec["provenance"]
        base = {"notebook": p["notebook"], "profile": p["profile"], "record": rec["_path"],
                "commit": str(p.get("git_commit")), "device": p.get("device", {}).get("accelerator", "cpu"),
                "started": p.get("started")}
        for run in rec["runs"]:
            setting_keys.update(dict.fromkeys(run["setting"]))
            metric_keys.update(dict.fromkeys(run["metrics"]))
            rows.append({**base, "seed": run["seed"], "model_file": run["model_file"], "history": run["history"],
                         **run["setting"], **run["metrics"], **({"provenance": p} if with_provenance else {})})
    extra = ["provenance"] if with_provenance else []
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys(FRAME_COLUMNS + list(setting_keys) + list(metric_keys)
                                                          + extra)))
    for col in ("model_file", "history", *extra):  # None (not NaN) where a run has none
        frame[col] = pd.Series([row[col] for row in rows], index=frame.index, dtype=object)
    return frame


def shown_path(path: str | os.PathLike) -> str:
    """A record or model path as a page shows it: ``results/<profile>/<notebook>/<file>``, relative to
    the results folder, so no machine's folders (a build under /tmp, a home directory) leak into a page."""
    path = Path(path)
    try:
        return str(Path(results_dir().name) / path.resolve().relative_to(results_dir().resolve()))
    except ValueError:
        return path.name


def provenance_line(record: dict) -> str:
    """A one-line provenance summary for captions: profile, device, commit, date, wall time."""
    p = record["provenance"]
    dev = p["device"].get("accelerator", "cpu")
    if dev == "cpu":
        dev = f"CPU x{p['device'].get('cpu_count')}"
    wall = p.get("wall_time_s")
    wall_s = f", {wall / 60:.1f} min" if wall else ""
    return f"profile {p['profile']}, {dev}, commit {str(p['git_commit'])[:10]}, {p['started'][:10]}{wall_s}"


def short_provenance(frame):
    """``frame`` (:func:`runs_frame`) with its commit and start shortened for a printed table: the first
    ten characters of the commit, the date of the start."""
    return frame.assign(commit=frame["commit"].str[:10], started=frame["started"].str[:10])


def extras_table(notebook: str, key: str, results_dir_: str | os.PathLike | None = None):
    """The table that ``notebook``'s newest record keeps under ``extras[key]`` (a benchmark record written
    before runs were recorded) and that record's :func:`provenance_line`, so that the page can say where
    the table comes from (:func:`fashionlib.html_tables.table_or_note`'s ``record``); (None, None) when
    there is none."""
    import pandas as pd

    old = latest_record(notebook, results_dir_=results_dir_)
    if old is None or not old.get("extras", {}).get(key):
        return None, None
    return pd.DataFrame(old["extras"][key]), provenance_line(old)
