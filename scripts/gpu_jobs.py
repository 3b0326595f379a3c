"""The GPU work still missing from the committed records, as jobs that each fit one GPU call.

    python scripts/gpu_jobs.py --dry-run                 # the missing records, the GPU call each needs, estimates
    python scripts/gpu_jobs.py --only a2_models --budget-min 8 --out $OUT   # on the GPU machine (../shared/device/go.sh)

**What is missing** is derived from the committed records (``--results-dir``, default ``book/results``):
a paper-profile notebook of :data:`NOTEBOOKS` is a job when its committed ``paper`` records do not cover
its paper profile (:func:`coverage_gap`: no record; or no record of the same experiment, i.e. other
epochs, rates or training-set size; or a list parameter, such as the models or seeds, with values no
record of that experiment ran). A benchmark of :data:`BENCHES` is a job when no committed run on a GPU
has its setting. Jobs are listed most valuable first; nothing that is committed is run again.

**Each job fits one GPU call** (at most ``--job-min`` minutes of work, about 9 minutes with the call's
setup, and at most ``--total-mib`` of archives back): its seconds are estimated from the newest GPU
benchmark record (:func:`seconds_per_epoch`, one value per training path) and the concurrency that the
newest multi-worker GPU paper record reached (:func:`concurrency`); its output from the size of a saved
model of each architecture (:data:`MODEL_MB`). A job too long or too large is split into parts by seeds (each
part's record accumulates with the others in ``results.runs_frame``), except for notebooks that choose
on validation across seeds (:data:`NOT_SPLIT`), which are reported as not fitting instead.
``-p jobs N`` is chosen per job: at most :data:`MAX_WORKERS` workers, balanced over the waves.

**The training path** of a notebook job is the first of :data:`PATH_ORDER` that the notebook declares
(:data:`PATH_PARAMETERS` says how each path is asked for) and the benchmark record has measured; a
new path (e.g. a vectorised-seeds path) is switched on by adding it to both tables.

On the GPU machine, jobs run one after the other within ``--budget-min``; a job that would outrun it is
stopped and reported as cut, and every job that finished keeps its records, models and executed
notebook. Each job sees the packages installed beside the repository (``PYTHONPATH`` is prepended to,
never replaced). Everything is packed into ``gpu_jobs_NN.tar.gz`` archives within the device's limits
on what comes back (:func:`pack`: records and pages first, then models), and ``gpu_jobs_summary.json``
lists each job's status and anything that did not fit.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Paper-profile notebooks that need a GPU, most valuable first, and why each matters.
NOTEBOOKS = {
    "a6_protocol": "study A's verdict: both readings of Table 1 under each protocol",
    "a2_models": "the improved CNN beside the four baselines on one device and backend: Table 2's margins with CIs",
    "a3_batch_size": "Table 4 (batch sizes 32-512) at the paper setting",
    "a4_lr_schedules": "the schedule comparison at the paper setting, including the paper's own start at 0.1",
    "a7_modern_recipe": "the modern recipe on Table 1's network, chosen on validation",
    "a5_closing_the_gap": "A5's whole grid (both final rates, augmentation on and off) at the paper setting",
    "a1_improved_cnn": "A1's three seeds",
}
# Notebooks that choose a setting on validation over all their seeds: a part with fewer seeds would choose
# on its own, so they run whole or not at all.
NOT_SPLIT = ("a5_closing_the_gap", "a7_modern_recipe")
# How a notebook asks for each study-A training path (the bench_gpu_a record's setting "path").
PATH_PARAMETERS = {"fast": {"fast_path": True}, "default": {}}
PATH_ORDER = ("fast", "default")  # preferred first; a path needs its parameter declared and a benchmark row
MAX_WORKERS = 10  # -p jobs: the a6 paper run's 10 workers on one H200 (16 cores)
BACKEND = "jax"
# Per-epoch cost of an architecture relative to the CNNs, on one GPU (the a2 H100 record: the LSTMs
# took 4.5 s per epoch where the CNN took 2.6 s).
MODEL_COST = {"lstm": 1.8, "bilstm": 1.8}
# MB of one saved model of each architecture (the committed paper-profile files; the test checks them), a
# table rather than a measurement so that the plan is the same here and on the device, which gets no models.
MODEL_MB = {"improved_cnn": 2.01, "improved_cnn_strided": 2.79, "cnn": 0.17, "lenet5": 0.28, "lstm": 0.35,
            "bilstm": 0.69}
DEFAULT_MODEL_MB = 3.0  # an architecture not in the table
OVERHEAD_MB = 2.0  # a job's record, executed page and log
MIB = 2**20


@dataclass
class Job:
    """One unit of GPU work: a paper-profile notebook run (or a part of one, by seeds) or a benchmark."""

    name: str
    kind: str  # "notebook" or "bench"
    target: str  # notebook stem, or benchmark script path relative to the repository
    args: list = field(default_factory=list)  # extra command-line arguments (benchmarks)
    overrides: dict = field(default_factory=dict)  # -p name value (notebooks)
    why: str = ""
    missing: str = ""  # what the committed records lack
    runs: int = 0
    est_seconds: float = math.nan
    est_mb: float = math.nan
    fits: bool = True


@dataclass
class Bench:
    """A GPU benchmark: a job while no committed run on a GPU has ``setting`` (a subset of its setting)."""

    name: str
    script: str
    args: list
    notebook: str
    setting: dict
    why: str
    seconds: float


BENCHES = [
    Bench("bench_gpu_a", "benchmarks/bench_gpu_a.py", ["--seeds", "10", "--max-seconds", "150"], "bench_gpu_a",
          {"path": "fast"}, "study A: seconds per 50-epoch run on each training path", 240),
    Bench("bench_study_b", "benchmarks/bench_study_b.py",
          ["--batch-size", "128", "--steps", "20", "--compile", "--predecode", "--channels-last",
           "--backbones", "beit_base_patch16_224", "--trainable-blocks", "-1", "4", "--edgenet", "without"],
          "bench_study_b", {"compile": True}, "study B: BEiT-base images/s and MFU with the speed options", 150),
    Bench("bench_gpu_a_vmap", "benchmarks/bench_gpu_a.py",
          ["--seeds", "10", "--paths", "fast,workers,vmap", "--fast-runs", "1", "--max-seconds", "60"], "bench_gpu_a",
          {"path": "vmap"}, "study A: the vectorised seeds path against one run and 10 workers (sizes the queue)",
          330),
    Bench("bench_study_b_levers", "benchmarks/bench_study_b.py",
          ["--batch-size", "128", "256", "--steps", "20", "--compile", "--predecode", "--channels-last",
           "--fused-adamw", "--sdpa", "auto", "efficient", "--backbones", "beit_base_patch16_224",
           "--trainable-blocks", "-1", "--edgenet", "without"],
          "bench_study_b", {"sdpa": "efficient"}, "study B: BEiT-base MFU levers (batch 256, fused AdamW, "
          "the efficient attention kernel with the position bias; goal >= 40% MFU)", 300),
    Bench("bench_study_b_eager", "benchmarks/bench_study_b.py",
          ["--batch-size", "128", "--steps", "20", "--predecode", "--channels-last",
           "--backbones", "beit_base_patch16_224", "--trainable-blocks", "-1", "4", "--edgenet", "without"],
          "bench_study_b", {"compile": False}, "study B: the same without torch.compile (does compiling help?)", 150),
]


# --------------------------------------------------------------------------- what is missing -----
def paper_params(notebook: str, overrides: dict | None = None) -> dict:
    """The notebook's paper-profile parameters, validated by the runner's own rules (ParameterError)."""
    from fashionlib import book, parameters_cell

    declared = parameters_cell.declared_parameters(book.read_source(book.notebook_path(notebook)))
    return book.resolve(notebook, declared, "paper", dict(overrides or {}))


def declared(notebook: str) -> dict:
    from fashionlib import book, parameters_cell

    return parameters_cell.declared_parameters(book.read_source(book.notebook_path(notebook)))


def coverage_gap(notebook: str, params: dict, results_dir) -> str | None:
    """What the committed paper records of ``notebook`` lack of its paper profile ``params``, or None.

    Covered: records of the same experiment (``results.experiment_key``: equal parameters apart from
    execution and list parameters) that together ran every value of every list parameter (models,
    seeds, grids). The union is taken per parameter, not per combination: records that each ran a
    different model with a different seed count as covering both.
    """
    from fashionlib import results

    recs = [r for r in results.load_records(notebook, "paper", results_dir) if r.get("schema") == results.SCHEMA]
    if not recs:
        return "no committed paper-profile record"
    key = results.experiment_key({"provenance": {"parameters": params}})
    same = [r for r in recs if results.experiment_key(r) == key]
    if not same:
        old = recs[-1]["provenance"]["parameters"]
        differ = sorted(k for k in set(old) | set(params) if k not in results.EXECUTION_PARAMETERS
                        and not isinstance(params.get(k, old.get(k)), (list, tuple, dict))
                        and old.get(k, "<absent>") != params.get(k, "<absent>"))
        said = ", ".join(f"{k} {old.get(k, '<absent>')!r} -> {params.get(k, '<absent>')!r}" for k in differ)
        return f"the newest committed paper record ran another experiment ({said})"
    gaps = []
    for name, want in params.items():
        if name in results.EXECUTION_PARAMETERS or not isinstance(want, (list, tuple)):
            continue
        have = {json.dumps(v) for r in same for v in r["provenance"]["parameters"].get(name) or []}
        lack = [v for v in want if json.dumps(v) not in have]
        if lack:
            gaps.append(f"{name} lacks {lack}")
    return "; ".join(gaps) or None


def _runs(notebook: str, p: dict) -> list[dict]:
    """The runs a notebook trains at parameters ``p``: model, epochs, batch size, images, saved model."""
    one = dict(epochs=p.get("epochs", 50), batch_size=p.get("batch_size", 128), images=48_000)
    seeds = list(p["seeds"])
    if notebook in ("a1_improved_cnn",):
        return [dict(one, model=p["model"], saved=True) for _ in seeds]
    if notebook == "a2_models":
        return [dict(one, model=m, saved=True) for m in p["models"] for _ in seeds]
    if notebook == "a3_batch_size":
        return [dict(one, model=p["model"], batch_size=bs, saved=True) for bs in p["batch_sizes"] for _ in seeds]
    if notebook == "a4_lr_schedules":  # the notebook's keys: the paper schedule at each rate, SGD, each schedule
        keys = dict.fromkeys([("adam", "paper", r) for r in p["lrs"]] + ([("sgd", "paper", 0.1)] if p["include_sgd"]
                             else []) + [("adam", s, p["lr"]) for s in p["schedules_to_compare"]])
        return [dict(one, model=p["model"], saved=True) for _ in keys for _ in seeds]
    if notebook == "a5_closing_the_gap":  # saves the chosen setting's models only
        grid = [(m, e, a) for m in p["models"] for e in p["lr_ends"] for a in p["augment_options"]]
        return [dict(one, model=m, saved=(i == 0)) for i, (m, _, _) in enumerate(grid) for _ in seeds]
    if notebook == "a6_protocol":
        return [dict(one, model=m, images=n, saved=True) for n in (48_000, 60_000) for m in p["models"] for _ in seeds]
    if notebook == "a7_modern_recipe":  # the chosen label smoothing's models and the baseline's are saved
        grid = [dict(one, model=p["model"], saved=(i == 0)) for i in range(len(p["label_smoothings"])) for _ in seeds]
        return grid + ([dict(one, model=p["model"], saved=True) for _ in seeds] if p["baseline"] else [])
    raise KeyError(f"gpu_jobs: no run grid for {notebook}; add it to _runs() in scripts/gpu_jobs.py.")


# --------------------------------------------------------------------------- estimates -----
def _gpu_runs(notebook: str, results_dir):
    from fashionlib import results

    frame = results.runs_frame(notebook, None, results_dir, latest_only=False)
    return frame[frame["device"].astype(str).str.contains("NVIDIA|GPU|H100|H200", regex=True)] if len(frame) else frame


def seconds_per_epoch(results_dir) -> tuple[dict, str]:
    """Seconds per epoch of one process on each study-A training path (48,000 images, batch 128, the
    improved CNN), from the newest bench_gpu_a record made on a GPU: path -> seconds, and the record.

    A row with ``run_seconds`` gives run_seconds / epochs (compilation included), else its
    ``seconds_per_epoch``; the median over the path's rows. A path the record lacks is absent.
    """
    runs = _gpu_runs("bench_gpu_a", results_dir)
    if runs.empty:
        return {}, ""
    newest = runs[runs["record"] == runs.sort_values("started")["record"].iloc[-1]]
    out = {}
    for path, rows in newest.groupby("path"):
        per = [r.run_seconds / r.epochs if "run_seconds" in rows and not math.isnan(r.run_seconds)
               else r.seconds_per_epoch for r in rows.itertuples()]
        out[str(path)] = float(sorted(per)[len(per) // 2])
    return out, str(newest["record"].iloc[0])


def model_megabytes(results_dir) -> dict:
    """MB of the largest committed paper-profile model file of each architecture (what MODEL_MB holds)."""
    from fashionlib import results

    frame = results.runs_frame(None, "paper", results_dir, latest_only=False)
    sizes = {}
    for r in frame[frame["model_file"].notna()].itertuples() if "model" in frame else []:
        path = Path(r.record).parent / r.model_file
        if path.is_file():
            sizes[r.model] = max(sizes.get(r.model, 0.0), path.stat().st_size / 1e6)
    return sizes


def _sequential_seconds(runs: list[dict], spe: float) -> float:
    return sum(r["epochs"] * r["images"] / 48_000 * max(1.0, 128 / r["batch_size"]) * MODEL_COST.get(r["model"], 1.0)
               * spe for r in runs)


def concurrency(results_dir, spe: dict) -> tuple[float, str]:
    """Throughput of several workers on one GPU relative to one process: the newest GPU paper record
    trained with ``jobs > 1`` on a measured path, its runs' one-process seconds over its wall time (its
    start-up included). 1.0 (and "") without such a record."""
    from fashionlib import results

    best = (1.0, "")
    for rec in results.load_records(None, "paper", results_dir):
        p, prov = rec["provenance"].get("parameters") or {}, rec["provenance"]
        path = next((name for name in PATH_ORDER if all(p.get(k) == v for k, v in PATH_PARAMETERS[name].items())
                     and name in spe), None)
        if ("NVIDIA" not in str(prov.get("device", {}).get("accelerator", "")) or (p.get("jobs") or 1) <= 1
                or not prov.get("wall_time_s") or path is None or not rec.get("runs")):
            continue
        runs = [dict(model=r["setting"].get("model", ""), epochs=r["setting"].get("epochs", 50),
                     batch_size=r["setting"].get("batch_size", 128),
                     images=r["setting"].get("train_images", 48_000)) for r in rec["runs"]]
        best = (_sequential_seconds(runs, spe[path]) / prov["wall_time_s"], rec["_path"])
    return best


def workers(n_runs: int) -> int:
    """-p jobs for ``n_runs`` runs: at most MAX_WORKERS, the runs spread evenly over the waves."""
    waves = max(1, math.ceil(n_runs / MAX_WORKERS))
    return max(1, math.ceil(n_runs / waves))


def training_path(notebook: str, spe: dict) -> str:
    names = declared(notebook)
    for path in PATH_ORDER:
        if all(k in names for k in PATH_PARAMETERS[path]) and path in spe:
            return path
    return "default"


def plan(results_dir, job_min: float, total_mib: float) -> tuple[list[Job], dict]:
    """The missing work as jobs, most valuable first, each sized to one GPU call; and the estimate basis."""
    spe, bench = seconds_per_epoch(results_dir)
    factor, factor_rec = concurrency(results_dir, spe)
    basis = {"seconds_per_epoch": spe, "bench_record": bench, "concurrency": factor, "concurrency_record": factor_rec}
    jobs = []
    for nb, why in NOTEBOOKS.items():
        if not (REPO / "notebooks" / f"{nb}.md").is_file():
            jobs.append(Job(nb, "notebook", nb, why=why, missing=f"notebook {nb}.md does not exist", fits=False))
            continue
        params = paper_params(nb)
        gap = coverage_gap(nb, params, results_dir)
        if gap is None:
            continue
        path = training_path(nb, spe)
        seeds = list(params["seeds"])
        est = lambda rs: _sequential_seconds(rs, spe.get(path, math.nan)) / factor  # noqa: E731
        mb = lambda rs: OVERHEAD_MB + sum(MODEL_MB.get(r["model"], DEFAULT_MODEL_MB) for r in rs if r["saved"])  # noqa: E731
        too_big = lambda rs: est(rs) > 60 * job_min or mb(rs) > total_mib * MIB / 1e6  # noqa: E731
        parts = 1
        while (nb not in NOT_SPLIT and parts < len(seeds)
               and any(too_big(_runs(nb, {**params, "seeds": seeds[i::parts]})) for i in range(parts))):
            parts += 1
        chunks = [seeds[i::parts] for i in range(parts)]
        for i, chunk in enumerate(chunks):
            part = _runs(nb, {**params, "seeds": chunk})
            over = dict(PATH_PARAMETERS[path])
            if "backend" in params:
                over["backend"] = BACKEND
            if "jobs" in params:
                over["jobs"] = workers(len(part))
            if parts > 1:
                over["seeds"] = sorted(chunk)
            paper_params(nb, over)  # the runner's validation, before anything runs
            e, m = est(part), mb(part)
            jobs.append(Job(nb if parts == 1 else f"{nb}-part{i + 1}", "notebook", nb, overrides=over, why=why,
                            missing=gap, runs=len(part), est_seconds=e, est_mb=m,
                            fits=not too_big(part)))
    for b in BENCHES:  # after the notebooks: speed records, not results
        if not bench_done(b, results_dir):
            jobs.append(Job(b.name, "bench", b.script, list(b.args), why=b.why, est_seconds=b.seconds, est_mb=1.0,
                            missing=f"no committed {b.notebook} run on a GPU with {b.setting}"))
    return jobs, basis


def bench_done(bench: Bench, results_dir) -> bool:
    """True when a committed run of the benchmark on a GPU has the benchmark's setting."""
    import pandas as pd

    gpu = _gpu_runs(bench.notebook, results_dir)
    if gpu.empty or not set(bench.setting) <= set(gpu.columns):
        return False
    return bool((gpu[list(bench.setting)] == pd.Series(bench.setting)).all(axis=1).any())


# --------------------------------------------------------------------------- running -----
def _env() -> dict:
    """The jobs' environment: the repository first on PYTHONPATH, what was there (packages installed
    beside the repository) kept after it."""
    kept = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO)] + ([kept] if kept else [])))


def command(job: Job, work: Path) -> list[str]:
    if job.kind == "bench":
        return [sys.executable, str(REPO / job.target), *job.args, "--results-dir", str(work / "results")]
    cmd = [sys.executable, "-m", "fashionlib", "run", job.target, "--profile", "paper",
           "--out", str(work / "executed"), "--results-dir", str(work / "results")]
    for k, v in job.overrides.items():
        cmd += ["-p", k, v if isinstance(v, str) else json.dumps(v) if isinstance(v, list) else repr(v)]
    return cmd


def runner_call(job: Job) -> str:
    """The command line the job runs on the GPU machine (from the repository root)."""
    if job.kind == "bench":
        return " ".join(["python", job.target, *job.args])
    parts = ["python -m fashionlib run", job.target, "--profile paper"]
    for k, v in job.overrides.items():
        parts.append(f"-p {k} " + (f"'{json.dumps(v)}'" if isinstance(v, list) else str(v)))
    return " ".join(parts)


def check_bench(job: Job) -> str | None:
    """None if the benchmark's command line parses, else why not."""
    script = REPO / job.target
    if not script.is_file():
        return f"benchmark script {job.target} does not exist"
    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=REPO,
                          timeout=300, env=_env())
    if proc.returncode != 0:
        return f"{job.target} --help failed: {proc.stderr.strip()[-300:]}"
    unknown = [f for f in job.args if f.startswith("--") and f not in proc.stdout]
    return f"{job.target} has no option(s) {unknown}" if unknown else None



def pack(work: Path, out: Path, max_mib: float = 15.0, max_files: int = 6, total_mib: float = 62.0) -> tuple[list, list]:
    """Pack every file under ``work`` into ``gpu_jobs_NN.tar.gz`` archives in ``out``: each at most
    ``max_mib`` MiB, at most ``max_files`` of them and ``total_mib`` MiB together (the device returns
    8 files of at most 16 MiB, 64 MiB in all; go.sh's pip.log and the summary are the other two).
    Records, pages and logs go first, then models, largest last. Returns (archives, files left out)."""
    files = sorted((p for p in work.rglob("*") if p.is_file()),
                   key=lambda p: (p.suffix in (".keras", ".npz", ".h5"), p.stat().st_size, str(p)))
    limit, budget = int(max_mib * MIB), int(total_mib * MIB)
    archives, current, size, total, left = [], None, 0, 0, []
    for f in files:
        est = f.stat().st_size + f.stat().st_size // 500 + 1024  # gzip's worst case on incompressible data, a header
        if est > limit or total + est > budget:
            left.append(str(f.relative_to(work)))
            continue
        if current is None or size + est > limit:
            if current is not None:
                current.close()
                current = None
            if len(archives) == max_files:
                left.append(str(f.relative_to(work)))
                continue
            archives.append(out / f"gpu_jobs_{len(archives):02d}.tar.gz")
            current, size = tarfile.open(archives[-1], "w:gz"), 0
        current.add(f, arcname=str(f.relative_to(work)))
        size += est
        total += est
    if current is not None:
        current.close()
    if left:
        print(f"[gpu_jobs] NOT packed (over the device's limits on what comes back): {left}", flush=True)
    return archives, left


def _fmt_job(i: int, job: Job, basis: dict) -> list[str]:
    est = "" if math.isnan(job.est_seconds) else f"est. {job.est_seconds / 60:.1f} min, "
    out = "" if math.isnan(job.est_mb) else f"{job.est_mb:.0f} MB back"
    status = "fits one GPU call" if job.fits else "DOES NOT FIT one GPU call"
    lines = [f"  {i}. {job.name} [{job.kind}] -- {job.why}",
             f"     missing: {job.missing}",
             f"     {job.runs or ''}{' runs, ' if job.runs else ''}{est}{out} -- {status}"]
    if job.fits:
        lines += [f"     GPU call: bash ../shared/device/bundle.sh; then run(command=\"BUDGET_MIN=8 bash .device/go.sh "
                  f"{job.name}\", carry=[\".device\"], timeout_s=590)",
                  f"     which runs: {runner_call(job)}"]
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="print the missing records and their GPU calls; write nothing")
    p.add_argument("--results-dir", default=str(REPO / "book" / "results"), help="the committed records")
    p.add_argument("--budget-min", type=float, default=8.0, help="wall-clock budget for all jobs of this call (minutes)")
    p.add_argument("--job-min", type=float, default=7.0, help="the most minutes one job may be estimated at")
    p.add_argument("--only", nargs="+", help="run only these jobs (names), in plan order")
    p.add_argument("--out", default=os.environ.get("OUT"), help="folder for the archives (default $OUT)")
    p.add_argument("--work", default=None, help="folder the jobs write to (default <out>/../gpu_jobs_work)")
    p.add_argument("--archive-mib", type=float, default=15.0)
    p.add_argument("--max-archives", type=int, default=6, help="archives (go.sh's pip.log and the summary: 2 more)")
    p.add_argument("--total-mib", type=float, default=62.0, help="all archives together")
    args = p.parse_args(argv)

    jobs, basis = plan(args.results_dir, args.job_min, args.total_mib)
    if args.only:
        names = [j.name for j in jobs]
        bad = [n for n in args.only if n not in names]
        if bad:
            p.error(f"job(s) {bad} are not missing; the missing jobs are {names or 'none'}.")
        jobs = [j for j in jobs if j.name in args.only]
    problems = {j.name: (check_bench(j) if j.kind == "bench" else None) for j in jobs}
    spe = ", ".join(f"{k} {v:.2f} s" for k, v in basis["seconds_per_epoch"].items()) or "none"
    print(f"[gpu_jobs] {len(jobs)} job(s) missing from {args.results_dir}, most valuable first "
          f"(each at most {args.job_min:g} min of work and {args.total_mib:g} MiB back).")
    print(f"[gpu_jobs] estimates: one process's seconds per epoch by path ({spe}) from "
          f"{Path(basis['bench_record']).name or 'no GPU benchmark record'}; "
          f"{basis['concurrency']:.2f}x for several workers, from {Path(basis['concurrency_record']).name or 'nothing'}.")
    for i, job in enumerate(jobs, 1):
        for line in _fmt_job(i, job, basis):
            print(line, flush=True)
        if problems[job.name]:
            print(f"     INVALID: {problems[job.name]}")
    n_bad = sum(v is not None for v in problems.values()) + sum(not j.fits for j in jobs)
    if args.dry_run:
        study_a = sum(j.est_seconds for j in jobs if j.kind == "notebook") / 60
        if not math.isnan(study_a):  # NaN: no GPU benchmark record to estimate from
            print(f"[gpu_jobs] study A's notebooks together: est. {study_a:.1f} min of GPU work "
                  f"({math.ceil(study_a / args.job_min)} call(s) of at most {args.job_min:g} min).")
        print(f"[gpu_jobs] dry run: {len(jobs) - n_bad} job(s) ready, {n_bad} not; nothing written.")
        return 1 if n_bad else 0

    if not args.out:
        p.error("--out (or $OUT) is required unless --dry-run.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else out.parent / "gpu_jobs_work"
    work.mkdir(parents=True, exist_ok=True)
    from fashionlib import files

    os.environ.setdefault("FASHIONLIB_GIT_COMMIT", files.git_commit())  # the code the jobs start from
    deadline = time.monotonic() + 60 * args.budget_min
    summary = []
    for job in jobs:
        left = deadline - time.monotonic()
        row = {"job": job.name, "why": job.why, "missing": job.missing, "estimated_s": job.est_seconds}
        if problems[job.name] is not None or not job.fits:
            row.update(status="invalid", reason=problems[job.name] or "does not fit one GPU call")
        elif left < 20:
            row.update(status="not started (budget spent)")
        else:
            cmd = command(job, work)
            print(f"[gpu_jobs] {job.name}: {' '.join(cmd)} ({left:.0f} s left)", flush=True)
            t = time.monotonic()
            log = work / "logs" / f"{job.name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "w") as fh:
                proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO, env=_env(),
                                        start_new_session=True)
                try:
                    rc = proc.wait(timeout=left)
                    row.update(status="done" if rc == 0 else "failed", returncode=rc)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)  # its own session: the job and its workers
                    proc.wait()
                    row.update(status="cut by the budget")
            row["seconds"] = round(time.monotonic() - t, 1)
        summary.append(row)
        print(f"[gpu_jobs] {job.name}: {row['status']} {row.get('seconds', '')}", flush=True)
    archives, left_out = pack(work, out, args.archive_mib, args.max_archives, args.total_mib)
    (out / "gpu_jobs_summary.json").write_text(json.dumps({"jobs": summary, "not_packed": left_out}, indent=1) + "\n")
    print(f"[gpu_jobs] packed {len(archives)} archive(s) into {out}: {[a.name for a in archives]}")
    return 0 if not left_out else 2


if __name__ == "__main__":
    sys.exit(main())
