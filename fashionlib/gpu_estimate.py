"""Expected GPU seconds of a study-A notebook's runs, from the last ``bench_gpu_a`` record.

``scripts/gpu_jobs.py`` sizes its GPU queue with :func:`estimate_gpu_seconds`: given how many runs a
notebook trains, for how many epochs on how many images and on which path, it scales what
``benchmarks/bench_gpu_a.py`` measured on the GPU (the paper profile's newest ``bench_gpu_a`` record).

The model is deliberately simple: a run's time grows with epochs x training images (a fixed number of
steps per image; compilation is counted in the measured runs and scaled with them, which overstates it
for short runs), and

* ``fast`` (one run at a time): runs x the measured seconds per run;
* ``workers`` (runs side by side in worker processes): runs / 10 x the measured seconds per 10 seeds;
* ``vmap`` (the runs of a setting trained together): one group per ``group_size`` runs (the seeds of a
  setting), each costing the measured group of N seeds' time x max(1, members / N): a smaller group is
  charged as a full one (its cost is launches, not arithmetic), a larger one in proportion.

A path the record has not measured (records before the vectorised bench measured only ``fast``) falls
back to ``fast``, an upper bound for the others, and says so in :attr:`GpuEstimate.basis`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .files import REPO_ROOT
from .results import latest_record

BENCH = "bench_gpu_a"
PATHS = ("fast", "workers", "vmap")
FULL_TRAIN_IMAGES = 48_000  # study A's training part (60,000 minus the 12,000-image validation split)
COMMITTED_RESULTS = REPO_ROOT / "book" / "results"


@dataclass(frozen=True)
class GpuEstimate:
    """Expected GPU seconds of some runs, and what they are scaled from."""

    seconds: float
    path: str    # the path asked for
    basis: str   # the measurement used: path, its numbers, and a note when it is a fallback
    record: str  # the bench_gpu_a record file


def _measured(summary: dict) -> dict:
    """Per path measured in the record: (seconds, runs it covers); older records named the fast path's median
    ``run_seconds_median``."""
    out = {}
    if "fast_seconds_per_run" in summary:
        out["fast"] = (summary["fast_seconds_per_run"], 1)
    elif "run_seconds_median" in summary:
        out["fast"] = (summary["run_seconds_median"], 1)
    for path in ("workers", "vmap"):
        if f"{path}_block_seconds" in summary:
            out[path] = (summary[f"{path}_block_seconds"], summary[f"{path}_runs"])
    return out


def _bench_size(record: dict) -> tuple[int, int]:
    """Epochs and training images of the record's fast-path runs (or of its summary)."""
    s = record["extras"]["summary"]
    if "epochs" in s and "train_images" in s:
        return int(s["epochs"]), int(s["train_images"])
    run = next(r for r in record["runs"] if r["setting"]["path"] == "fast")
    return int(run["setting"]["epochs"]), int(run["setting"]["train_images"])


def estimate_gpu_seconds(runs: int, epochs: int, train_size: int | None, path: str, *,
                         group_size: int | None = None, results_dir=None) -> GpuEstimate:
    """Expected GPU seconds of ``runs`` study-A runs of ``epochs`` epochs on ``train_size`` training images
    (None: all 48,000) on ``path`` (``"fast"``, ``"workers"`` or ``"vmap"``; a notebook's ``fast_path``
    True is ``"fast"`` with ``jobs=1`` and ``"workers"`` with ``jobs > 1``, and ``"vmap"`` is ``"vmap"``).

    ``group_size``: for ``vmap``, the runs trained together (a notebook's seeds per setting; default: all
    ``runs`` in one group). ``results_dir``: where the records are (default: the committed
    ``book/results``). Raises ValueError for a bad argument or when there is no paper-profile record.
    """
    for name, value in (("runs", runs), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"estimate_gpu_seconds: {name} must be an integer >= 1, got {value!r}.")
    if train_size is not None and (isinstance(train_size, bool) or not isinstance(train_size, int) or train_size < 1):
        raise ValueError(f"estimate_gpu_seconds: train_size must be None (all 48,000) or an integer >= 1, "
                         f"got {train_size!r}.")
    if path not in PATHS:
        raise ValueError(f"estimate_gpu_seconds: unknown path {path!r}; choose one of {', '.join(map(repr, PATHS))}.")
    if group_size is not None and (path != "vmap" or isinstance(group_size, bool) or not isinstance(group_size, int)
                                   or group_size < 1):
        raise ValueError(f"estimate_gpu_seconds: group_size={group_size!r} applies to path 'vmap' only, as an "
                         "integer >= 1. Fix: drop it, or path='vmap'.")
    record = latest_record(BENCH, profiles=("paper",), results_dir_=results_dir or COMMITTED_RESULTS)
    if record is None:
        raise ValueError(f"estimate_gpu_seconds: no paper-profile {BENCH} record under "
                         f"{results_dir or COMMITTED_RESULTS}. Fix: run benchmarks/bench_gpu_a.py on a GPU "
                         "(scripts/gpu_jobs.py does) and commit its record.")
    measured = _measured(record["extras"]["summary"])
    if "fast" not in measured:
        raise ValueError(f"estimate_gpu_seconds: {record['_path']} measured no fast-path run; re-run the benchmark.")
    bench_epochs, bench_images = _bench_size(record)
    scale = (epochs / bench_epochs) * ((train_size or FULL_TRAIN_IMAGES) / bench_images)
    used, note = path, ""
    if path not in measured:
        used, note = "fast", f" (no {path} measurement in this record: the fast path's time, an upper bound)"
    seconds, covers = measured[used]
    if used == "fast":
        total = runs * seconds * scale
    elif used == "workers":
        total = runs / covers * seconds * scale
    else:
        group = group_size or runs
        n_full, rest = divmod(runs, group)
        per_group = [group] * n_full + ([rest] if rest else [])
        total = sum(seconds * max(1.0, members / covers) for members in per_group) * scale
    basis = (f"{used}: {seconds:.1f} s per {'run' if used == 'fast' else f'{covers} runs'} of {bench_epochs} epochs "
             f"x {bench_images} images on {record['extras']['summary'].get('device', '?')}{note}")
    return GpuEstimate(float(total), path, basis, record["_path"])
