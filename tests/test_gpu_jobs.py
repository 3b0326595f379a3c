"""scripts/gpu_jobs.py: the dry run validates the real plan on the CPU; the budget cuts a job but keeps
what finished; the archives respect their size limit."""

import importlib.util
import json
import os
import sys
import tarfile
import textwrap

import pytest

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("gpu_jobs", REPO / "scripts" / "gpu_jobs.py")
gpu_jobs = importlib.util.module_from_spec(spec)
sys.modules["gpu_jobs"] = gpu_jobs  # dataclasses look their module up there
spec.loader.exec_module(gpu_jobs)


def _tree(root):
    return sorted(str(p) for p in root.rglob("*")) if root.exists() else []


def test_dry_run_validates_every_job_of_the_real_plan_and_writes_nothing(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("OUT", raising=False)
    before = _tree(REPO / "book" / "results")
    rc = gpu_jobs.main(["--dry-run"])
    out = capsys.readouterr().out
    assert _tree(REPO / "book" / "results") == before
    missing = [j.name for j in gpu_jobs.JOBS
               if j.kind == "notebook" and not (REPO / "notebooks" / f"{j.target}.md").is_file()]
    for job in gpu_jobs.JOBS:
        line = next(ln for ln in out.splitlines() if f". {job.name} [" in ln)
        if job.name in missing:  # a notebook another change adds: reported by name, never run
            assert "INVALID" in line and "does not exist" in line
        else:
            assert line.endswith("-- ok"), line
    assert rc == (1 if missing else 0)
    a3 = next(ln for ln in out.splitlines() if ". a3_batch_size [" in ln)
    assert "-p backend 'jax'" in a3 and "-p jobs 4" in a3 and "-p fast_path True" in a3
    from fashionlib import run
    for job in gpu_jobs.JOBS:  # every notebook job that declares fast_path runs on the fast path
        if job.kind == "notebook" and job.name not in missing and "fast_path" in run.declared_parameters(
                run.read_source(run.notebook_path(job.target))):
            assert "-p fast_path True" in next(ln for ln in out.splitlines() if f". {job.name} [" in ln), job.name


def test_notebook_command_passes_fast_path_with_jax():
    job = next(j for j in gpu_jobs.JOBS if j.name == "a6_protocol")
    cmd = gpu_jobs.command(job, REPO / "never-written", 4)
    pairs = {cmd[i + 1]: cmd[i + 2] for i, a in enumerate(cmd) if a == "-p"}
    assert pairs["fast_path"] == "True" and pairs["backend"] == "jax"


def test_dry_run_rejects_a_bad_parameter_with_the_runners_message(capsys, monkeypatch):
    monkeypatch.setattr(gpu_jobs, "JOBS", [gpu_jobs.Job("a3", "notebook", "a3_batch_size", overrides={"epochs": "many"}),
                                           gpu_jobs.Job("nb", "bench", "benchmarks/bench_gpu_a.py", ["--no-such-flag"])])
    assert gpu_jobs.main(["--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out and "'epochs'" in out
    assert "--no-such-flag" in out


SCRIPT = textwrap.dedent("""
    import argparse, pathlib, time
    ap = argparse.ArgumentParser()
    ap.add_argument("--sleep", type=float, default=0)
    ap.add_argument("--results-dir")
    a = ap.parse_args()
    time.sleep(a.sleep)
    p = pathlib.Path(a.results_dir) / "paper" / "fake" / f"done-{a.sleep}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("{}")
""")


def test_budget_cuts_a_job_and_keeps_the_finished_ones(tmp_path, monkeypatch):
    script = tmp_path / "fake_bench.py"
    script.write_text(SCRIPT)
    monkeypatch.setattr(gpu_jobs, "JOBS", [gpu_jobs.Job("quick", "bench", str(script), ["--sleep", "0"]),
                                           gpu_jobs.Job("slow", "bench", str(script), ["--sleep", "120"]),
                                           gpu_jobs.Job("never", "bench", str(script), ["--sleep", "0"])])
    out = tmp_path / "out"
    assert gpu_jobs.main(["--budget-min", "0.6", "--out", str(out), "--work", str(tmp_path / "work")]) == 0
    summary = {r["job"]: r for r in json.loads((out / "gpu_jobs_summary.json").read_text())}
    assert summary["quick"]["status"] == "done"
    assert summary["slow"]["status"] == "cut by the budget"
    assert summary["never"]["status"] == "not started (budget spent)"
    names = [n for a in out.glob("gpu_jobs_*.tar.gz") for n in tarfile.open(a).getnames()]
    assert "results/paper/fake/done-0.0.json" in names
    assert not any("done-120" in n for n in names)


def test_pack_splits_into_archives_under_the_limit_and_says_what_it_left(tmp_path, capsys):
    work, out = tmp_path / "w", tmp_path / "o"
    work.mkdir()
    out.mkdir()
    for i in range(5):
        (work / f"f{i}.bin").write_bytes(os.urandom(400_000))  # incompressible
    (work / "huge.bin").write_bytes(os.urandom(1_200_000))
    archives = gpu_jobs.pack(work, out, max_mb=1.0, max_files=8)
    assert len(archives) == 3
    assert all(a.stat().st_size <= 1_000_000 for a in archives)
    packed = sorted(n for a in archives for n in tarfile.open(a).getnames())
    assert packed == [f"f{i}.bin" for i in range(5)]
    assert "huge.bin" in capsys.readouterr().out


def test_unknown_job_name_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        gpu_jobs.main(["--dry-run", "--only", "a9_nothing"])
    assert "a9_nothing" in capsys.readouterr().err


def test_study_b_job_measures_both_beit_settings_with_the_speed_options():
    job = next(j for j in gpu_jobs.JOBS if j.name == "bench_study_b")
    args = job.args
    blocks = args[args.index("--trainable-blocks") + 1:]
    assert blocks[:2] == ["-1", "4"]  # every block trains, then the last four
    assert {"--compile", "--predecode", "--channels-last"} <= set(args)
    assert args[args.index("--backbones") + 1] == "beit_base_patch16_224"
    eager = next(j for j in gpu_jobs.JOBS if j.name == "bench_study_b_eager")
    assert "--compile" not in eager.args and [a for a in eager.args if a != "--compile"] == \
        [a for a in args if a != "--compile"]  # the same measurement, compile off
