"""Run the outstanding GPU work within a time budget and pack what it produced.

    python scripts/gpu_jobs.py --dry-run                 # print the plan, validate every job, write nothing
    python scripts/gpu_jobs.py --budget-min 9 --out $OUT  # on the GPU machine

Jobs run one after the other, most valuable first (``JOBS``): the study-A and study-B GPU benchmarks
(short, and the only source of the GPU speed records), then the paper-profile notebooks still missing a
GPU run (a6 protocol seeds, A3, A4, the a7 modern recipe), each through the project's runner (``python -m fashionlib run <stem> --profile paper -p backend
jax -p jobs N -p fast_path True``; ``backend``/``jobs``/``fast_path`` are passed where the notebook
declares them; ``fast_path`` is study A's GPU fast path, the same numbers as the default path). Each job gets the
budget that is left; a job that would outrun it is stopped and reported as cut, and every job that
finished keeps its records, models and executed notebook. At the end everything under the work folder is
packed into ``.tar.gz`` archives of at most ``--archive-mb`` MB each (at most ``--max-archives``), written
to ``--out``, with ``gpu_jobs_summary.json`` (one line per job: status, seconds, return code).

``--dry-run`` resolves every notebook job's parameters with the runner's own validation
(``profiles.resolve`` on the notebook's ``parameters`` cell) and checks every benchmark's command line
(``--help`` parses), then prints the plan; it writes nothing and needs no GPU (CI runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


@dataclass
class Job:
    """One unit of GPU work: a paper-profile notebook run or a benchmark script."""

    name: str
    kind: str  # "notebook" or "bench"
    target: str  # notebook stem, or benchmark script path relative to the repository
    args: list = field(default_factory=list)  # extra command-line arguments (benchmarks)
    overrides: dict = field(default_factory=dict)  # -p name value (notebooks), besides backend/jobs
    why: str = ""


JOBS = [
    Job("bench_gpu_a", "bench", "benchmarks/bench_gpu_a.py", ["--seeds", "10", "--max-seconds", "150"],
        why="study A fast path: seconds per 50-epoch run, seeds per minute (issue goals 30 s, 10 seeds in 2 min)"),
    Job("bench_study_b", "bench", "benchmarks/bench_study_b.py",
        ["--batch-size", "128", "--steps", "20", "--compile", "--predecode", "--channels-last",
         "--backbones", "beit_base_patch16_224", "--trainable-blocks", "-1", "4", "--edgenet", "without"],
        why="study B: BEiT-base images/s and MFU, every block and the last 4 training, with compile, "
            "pre-decoded images and channels-last (goal >= 40% MFU)"),
    Job("bench_study_b_eager", "bench", "benchmarks/bench_study_b.py",
        ["--batch-size", "128", "--steps", "20", "--predecode", "--channels-last",
         "--backbones", "beit_base_patch16_224", "--trainable-blocks", "-1", "4", "--edgenet", "without"],
        why="study B: the same without torch.compile (does compiling help?)"),
    Job("a6_protocol", "notebook", "a6_protocol", why="study A protocol seeds (the verdict needs them)"),
    Job("a3_batch_size", "notebook", "a3_batch_size", why="Table 3 at the paper setting"),
    Job("a4_lr_schedules", "notebook", "a4_lr_schedules", why="the schedule comparison at the paper setting"),
    Job("a7_modern_recipe", "notebook", "a7_modern_recipe",
        why="the modern recipe on Table 1's network, 3 seeds, chosen on validation (issue goal >= 93.5%)"),
]


def notebook_params(job: Job, gpu_jobs: int) -> dict:
    """The job's -p overrides, validated by the runner's own rules; raises on a bad job."""
    from fashionlib import profiles, run

    nb = run.read_source(run.notebook_path(job.target))
    declared = run.declared_parameters(nb)
    overrides = dict(job.overrides)
    if "backend" in declared:
        overrides.setdefault("backend", "jax")
    if "jobs" in declared:
        overrides.setdefault("jobs", gpu_jobs)
    if "fast_path" in declared:  # whole epochs per compiled call, data on the GPU (needs backend jax/torch)
        overrides.setdefault("fast_path", True)
    profiles.resolve(job.target, declared, "paper", overrides)  # ParameterError before any work
    return overrides


def command(job: Job, work: Path, gpu_jobs: int) -> list[str]:
    if job.kind == "bench":
        return [sys.executable, str(REPO / job.target), *job.args, "--results-dir", str(work / "results")]
    cmd = [sys.executable, "-m", "fashionlib", "run", job.target, "--profile", "paper",
           "--out", str(work / "executed"), "--results-dir", str(work / "results")]
    for k, v in notebook_params(job, gpu_jobs).items():
        cmd += ["-p", k, repr(v) if not isinstance(v, str) else v]
    return cmd


def check(job: Job, gpu_jobs: int) -> str | None:
    """None if the job would start, else the reason it would not."""
    try:
        if job.kind == "notebook":
            notebook_params(job, gpu_jobs)
        elif job.kind == "bench":
            script = REPO / job.target
            if not script.is_file():
                return f"benchmark script {job.target} does not exist"
            proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                                  cwd=REPO, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))
            if proc.returncode != 0:
                return f"{job.target} --help failed: {proc.stderr.strip()[-300:]}"
            flags = [a for a in job.args if a.startswith("--")]
            unknown = [f for f in flags if f not in proc.stdout]
            if unknown:
                return f"{job.target} has no option(s) {unknown}"
        else:
            return f"unknown job kind {job.kind!r}"
    except (FileNotFoundError, ValueError) as exc:  # ParameterError is a ValueError
        return f"{exc.__class__.__name__}: {exc}"
    return None


def pack(work: Path, out: Path, max_mb: float, max_files: int) -> list[Path]:
    """Pack every file under ``work`` into .tar.gz archives of at most ``max_mb`` MB (compressed) each."""
    files = sorted(p for p in work.rglob("*") if p.is_file())
    limit = int(max_mb * 1e6)
    archives, current, size, skipped = [], None, 0, []
    for f in files:
        est = f.stat().st_size  # upper bound of its compressed size (plus a header)
        if est + 1024 > limit:
            skipped.append(str(f.relative_to(work)))
            continue
        if current is None or size + est + 1024 > limit:
            if current is not None:
                current.close()
            if len(archives) == max_files:
                skipped.append(str(f.relative_to(work)))
                current = None
                continue
            archives.append(out / f"gpu_jobs_{len(archives):02d}.tar.gz")
            current, size = tarfile.open(archives[-1], "w:gz"), 0
        current.add(f, arcname=str(f.relative_to(work)))
        size += est + 1024
    if current is not None:
        current.close()
    if skipped:
        print(f"[gpu_jobs] NOT packed (over {max_mb} MB or past {max_files} archives): {skipped}", flush=True)
    return archives


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="print and validate the plan; write nothing")
    p.add_argument("--budget-min", type=float, default=9.0, help="wall-clock budget for all jobs (minutes)")
    p.add_argument("--only", nargs="+", help="run only these jobs (names), in plan order")
    p.add_argument("--gpu-jobs", type=int, default=4, help="-p jobs N for notebooks that declare it")
    p.add_argument("--out", default=os.environ.get("OUT"), help="folder for the archives (default $OUT)")
    p.add_argument("--work", default=None, help="folder the jobs write to (default <out>/../gpu_jobs_work)")
    p.add_argument("--archive-mb", type=float, default=15.0)
    p.add_argument("--max-archives", type=int, default=7, help="archives (the summary file is one more)")
    args = p.parse_args(argv)
    names = [j.name for j in JOBS]
    bad = [n for n in args.only or [] if n not in names]
    if bad:
        p.error(f"unknown job(s) {bad}; the jobs are {names}.")
    jobs = [j for j in JOBS if not args.only or j.name in args.only]

    problems = {}
    print(f"[gpu_jobs] plan ({args.budget_min:g} min budget, most valuable first):")
    for i, job in enumerate(jobs, 1):
        problems[job.name] = check(job, args.gpu_jobs)
        status = "ok" if problems[job.name] is None else f"INVALID: {problems[job.name]}"
        target = job.target + (" " + " ".join(job.args) if job.args else "")
        extra = ""
        if job.kind == "notebook" and problems[job.name] is None:
            extra = " " + " ".join(f"-p {k} {v!r}" for k, v in notebook_params(job, args.gpu_jobs).items())
        print(f"  {i}. {job.name} [{job.kind}] {target}{extra} -- {job.why} -- {status}", flush=True)
    if args.dry_run:
        n_bad = sum(v is not None for v in problems.values())
        print(f"[gpu_jobs] dry run: {len(jobs) - n_bad} job(s) valid, {n_bad} invalid; nothing written.")
        return 1 if n_bad else 0

    if not args.out:
        p.error("--out (or $OUT) is required unless --dry-run.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else out.parent / "gpu_jobs_work"
    work.mkdir(parents=True, exist_ok=True)
    from fashionlib import results

    os.environ.setdefault("FASHIONLIB_GIT_COMMIT", results.git_commit())  # the code the jobs start from
    deadline = time.monotonic() + 60 * args.budget_min
    summary = []
    for job in jobs:
        left = deadline - time.monotonic()
        row = {"job": job.name, "why": job.why}
        if problems[job.name] is not None:
            row.update(status="invalid", reason=problems[job.name])
        elif left < 20:
            row.update(status="not started (budget spent)")
        else:
            cmd = command(job, work, args.gpu_jobs)
            print(f"[gpu_jobs] {job.name}: {' '.join(cmd)} ({left:.0f} s left)", flush=True)
            t = time.monotonic()
            log = (work / "logs" / f"{job.name}.log")
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "w") as fh:
                proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO,
                                        env=dict(os.environ, PYTHONPATH=str(REPO)), start_new_session=True)
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
    (out / "gpu_jobs_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    archives = pack(work, out, args.archive_mb, args.max_archives)
    print(f"[gpu_jobs] packed {len(archives)} archive(s) into {out}: {[a.name for a in archives]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
