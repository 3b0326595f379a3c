"""scripts/gpu_jobs.py: the job list is derived from the committed records (a committed record leaves it),
each job is sized to one GPU call, jobs see packages installed beside the repository, the budget cuts a
job but keeps what finished, and the archives stay within the device's limits on what comes back."""

import importlib.util
import json
import re
import os
import shutil
import sys
import tarfile
import textwrap

import pytest

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("gpu_jobs", REPO / "scripts" / "gpu_jobs.py")
gpu_jobs = importlib.util.module_from_spec(spec)
sys.modules["gpu_jobs"] = gpu_jobs  # dataclasses look their module up there
spec.loader.exec_module(gpu_jobs)

COMMITTED = REPO / "book" / "results"
# The paper records still missing at this commit, most valuable first. Committing one of them (or its
# GPU benchmark) makes this list wrong: update it with the commit that brings the record.
MISSING = ["a2_models", "a3_batch_size", "a4_lr_schedules", "a7_modern_recipe", "a5_closing_the_gap",
           "bench_gpu_a_vmap", "bench_study_b_levers", "bench_study_b_eager"]



def _tree(root):
    return sorted(str(p) for p in root.rglob("*")) if root.exists() else []


def _listed(out):
    return [ln.split(". ", 1)[1].split(" [", 1)[0] for ln in out.splitlines() if ln.startswith("  ") and " [" in ln
            and ln.strip().split(".", 1)[0].isdigit()]


def _records_only(tmp_path):
    """A copy of the committed records (JSON only, as the device bundle carries them)."""
    root = tmp_path / "results"
    for f in COMMITTED.rglob("*.json"):
        dst = root / f.relative_to(COMMITTED)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dst)
    return root


def test_dry_run_lists_exactly_the_missing_records_and_their_gpu_calls(capsys, monkeypatch):
    monkeypatch.delenv("OUT", raising=False)
    before = _tree(COMMITTED)
    rc = gpu_jobs.main(["--dry-run"])
    out = capsys.readouterr().out
    assert _tree(COMMITTED) == before, "a dry run writes nothing"
    assert rc == 0, out
    assert _listed(out) == MISSING
    a2 = out[out.index(". a2_models ["):out.index(". a3_batch_size [")]
    assert "improved_cnn" in a2 or "another experiment" in a2  # why it is missing
    assert 'go.sh a2_models", carry=[".device"], timeout_s=590)' in a2
    assert "python -m fashionlib run a2_models --profile paper -p fast_path True -p backend jax -p jobs 9" in a2
    assert "18 runs, est." in a2 and "fits one GPU call" in a2
    a7 = out[out.index(". a7_modern_recipe ["):]
    assert "-p backend jax -p jobs 9" in a7 and "fast_path" not in a7.split("\n")[4]  # a7 declares no fast path
    assert "bench_gpu_a" not in _listed(out) and "a6_protocol" not in _listed(out)  # committed from the H200
    assert "from 20261204T123726705848-ec97b8.json" in out  # the estimate's benchmark record
    assert re.search(r"study A's notebooks together: est\. \d+\.\d min of GPU work \(\d+ call\(s\)", out)


def test_a_committed_record_leaves_the_plan_and_a_partial_one_says_what_it_lacks(tmp_path, capsys):
    from fashionlib import results

    root = _records_only(tmp_path)
    assert gpu_jobs.main(["--dry-run", "--results-dir", str(root)]) == 0
    assert _listed(capsys.readouterr().out) == MISSING
    a3 = gpu_jobs.paper_params("a3_batch_size", {"backend": "jax", "jobs": 8, "fast_path": True})
    results.write_record("a3_batch_size", a3, [], results_dir_=root)  # the paper profile, as the GPU ran it
    a4 = gpu_jobs.paper_params("a4_lr_schedules", {"seeds": [0]})
    results.write_record("a4_lr_schedules", a4, [], results_dir_=root)  # one seed of three
    gpu_jobs.main(["--dry-run", "--results-dir", str(root)])
    out = capsys.readouterr().out
    assert _listed(out) == [n for n in MISSING if n != "a3_batch_size"]
    assert "missing: seeds lacks [1, 2]" in out
    # a record of another experiment (fewer epochs) does not count
    results.write_record("a7_modern_recipe", gpu_jobs.paper_params("a7_modern_recipe", {"epochs": 2}), [],
                         results_dir_=root)
    gpu_jobs.main(["--dry-run", "--results-dir", str(root)])
    out = capsys.readouterr().out
    assert "a7_modern_recipe" in _listed(out) and "epochs 2 -> 40" in out


def test_without_records_every_paper_notebook_is_a_job_and_nothing_is_estimated(tmp_path, capsys):
    assert gpu_jobs.main(["--dry-run", "--results-dir", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    assert _listed(out)[:3] == ["a6_protocol", "a2_models", "a3_batch_size"]
    assert {"a1_improved_cnn", "bench_gpu_a", "bench_study_b"} <= set(_listed(out))
    assert "no GPU benchmark record" in out


def test_a_job_too_long_is_split_by_seeds_except_where_seeds_are_chosen_over(tmp_path, capsys):
    root = _records_only(tmp_path)
    jobs, basis = gpu_jobs.plan(root, job_min=3.0, total_mib=62)
    names = [j.name for j in jobs]
    assert "a4_lr_schedules-part1" in names and "a4_lr_schedules" not in names
    parts = [j for j in jobs if j.target == "a4_lr_schedules"]
    assert sorted(s for j in parts for s in j.overrides["seeds"]) == [0, 1, 2]
    assert all(j.fits and j.est_seconds <= 180 for j in parts)
    a7 = next(j for j in jobs if j.target == "a7_modern_recipe")
    assert (a7.name, a7.fits) == ("a7_modern_recipe", False)  # chooses on validation over its seeds
    assert gpu_jobs.main(["--dry-run", "--results-dir", str(root), "--job-min", "3"]) == 1
    assert "DOES NOT FIT" in capsys.readouterr().out
    a4 = next(j for j in jobs if j.name == "a4_lr_schedules-part1")
    assert f"-p seeds '{json.dumps(a4.overrides['seeds'])}'" in gpu_jobs.runner_call(a4)


def test_estimates_read_each_path_from_the_benchmark_record_and_concurrency_from_a_gpu_run(tmp_path):
    from fashionlib import results

    spe, rec = gpu_jobs.seconds_per_epoch(COMMITTED)
    assert set(spe) == {"fast", "default"} and rec.endswith("20261204T123726705848-ec97b8.json")
    # fast: run_seconds / epochs of the two 50-epoch runs (41.9 s, 35.9 s): the upper median 0.838
    assert spe["fast"] == pytest.approx(41.9149 / 50, abs=1e-3) and spe["default"] == pytest.approx(2.852, abs=1e-3)
    factor, where = gpu_jobs.concurrency(COMMITTED, spe)
    # a6: 10 runs x 50 epochs on 48,000 images + 10 on 60,000 (x1.25) at 0.838 s, over its 315.1 s wall time
    assert where.endswith("20261204T123551024706-9f7ec9.json")
    assert factor == pytest.approx((500 + 625) * 41.9149 / 50 / 315.118, rel=1e-3)
    # a path measured by a newer benchmark (say a vectorised-seeds one) appears in the table by its name
    root = tmp_path / "r"
    runs = [{"setting": {"path": "vmap", "epochs": 50, "train_images": 48000}, "seed": 0,
             "metrics": {"run_seconds": 5.0, "seconds_per_epoch": 0.1}}]
    path = results.write_record("bench_gpu_a", {"profile": "paper"}, runs, results_dir_=root)
    rec = json.loads(path.read_text())
    rec["provenance"]["device"]["accelerator"] = "NVIDIA H200"
    path.write_text(json.dumps(rec))
    assert gpu_jobs.seconds_per_epoch(root)[0] == {"vmap": 0.1}
    assert gpu_jobs.training_path("a3_batch_size", {"vmap": 0.1}) == "default"  # not in PATH_ORDER yet


def test_the_model_size_table_holds_every_committed_model():
    measured = gpu_jobs.model_megabytes(COMMITTED)
    assert set(measured) == set(gpu_jobs.MODEL_MB)
    for model, mb in measured.items():
        assert mb <= gpu_jobs.MODEL_MB[model] <= mb * 1.05, model


def test_workers_spread_the_runs_evenly_over_waves():
    assert [gpu_jobs.workers(n) for n in (1, 9, 10, 15, 18, 20, 24)] == [1, 9, 10, 8, 9, 10, 8]


def test_jobs_see_packages_installed_beside_the_repository(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/tmp/site")
    assert gpu_jobs._env()["PYTHONPATH"] == f"{REPO}{os.pathsep}/tmp/site"
    monkeypatch.delenv("PYTHONPATH")
    assert gpu_jobs._env()["PYTHONPATH"] == str(REPO)


SCRIPT = textwrap.dedent("""
    import argparse, os, pathlib, time
    ap = argparse.ArgumentParser()
    ap.add_argument("--sleep", type=float, default=0)
    ap.add_argument("--results-dir")
    a = ap.parse_args()
    time.sleep(a.sleep)
    p = pathlib.Path(a.results_dir) / "paper" / "fake" / f"done-{a.sleep}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(os.environ["PYTHONPATH"])
""")


def test_budget_cuts_a_job_and_keeps_the_finished_ones(tmp_path, monkeypatch):
    script = tmp_path / "fake_bench.py"
    script.write_text(SCRIPT)
    fake = [gpu_jobs.Job(n, "bench", str(script), ["--sleep", s]) for n, s in (("quick", "0"), ("slow", "120"),
                                                                              ("never", "0"))]
    monkeypatch.setattr(gpu_jobs, "plan", lambda *a: (fake, {"seconds_per_epoch": {}, "bench_record": "",
                                                             "concurrency": 1.0, "concurrency_record": ""}))
    monkeypatch.setattr(gpu_jobs, "check_bench", lambda job: None)
    monkeypatch.setenv("PYTHONPATH", "/somewhere/site")
    out = tmp_path / "out"
    assert gpu_jobs.main(["--budget-min", "0.6", "--out", str(out), "--work", str(tmp_path / "work")]) == 0
    summary = json.loads((out / "gpu_jobs_summary.json").read_text())
    status = {r["job"]: r["status"] for r in summary["jobs"]}
    assert status == {"quick": "done", "slow": "cut by the budget", "never": "not started (budget spent)"}
    assert summary["not_packed"] == []
    archive = tarfile.open(next(out.glob("gpu_jobs_*.tar.gz")))
    assert "results/paper/fake/done-0.0.json" in archive.getnames()
    assert not any("done-120" in n for n in archive.getnames())
    seen = archive.extractfile("results/paper/fake/done-0.0.json").read().decode()
    assert seen == f"{REPO}{os.pathsep}/somewhere/site", "the job saw the packages beside the repository"


def test_pack_respects_every_limit_and_puts_records_first(tmp_path, capsys):
    work, out = tmp_path / "w", tmp_path / "o"
    (work / "results").mkdir(parents=True)
    out.mkdir()
    for i in range(6):
        (work / "results" / f"m{i}.keras").write_bytes(os.urandom(400_000))  # incompressible
    (work / "results" / "rec.json").write_text("{}")
    (work / "huge.keras").write_bytes(os.urandom(1_200_000))
    mib = 2**20
    archives, left = gpu_jobs.pack(work, out, max_mib=1.0, max_files=8, total_mib=2.0)
    assert all(a.stat().st_size <= mib for a in archives)
    assert sum(a.stat().st_size for a in archives) <= 2 * mib
    packed = sorted(n for a in archives for n in tarfile.open(a).getnames())
    assert "results/rec.json" in packed and len(packed) == 1 + 5  # 5 models of 0.4 MB within 2 MiB
    assert sorted(left) == ["huge.keras", "results/m5.keras"]
    archives2, left2 = gpu_jobs.pack(work, tmp_path, max_mib=1.0, max_files=2, total_mib=10.0)
    assert len(archives2) == 2 and len(left2) == 3  # two archives of two models each; the rest is listed
    assert "NOT packed" in capsys.readouterr().out


def test_the_a6_run_would_come_back_whole_within_the_device_limits(tmp_path):
    """The 20 models of an a6 paper run (13 committed, sizes of the two readings) fit the default limits."""
    work = tmp_path / "w"
    sizes = {p.name: p.stat().st_size for p in (COMMITTED / "paper" / "a6_protocol").glob("*.keras")}
    strided, plain = max(sizes.values()), min(sizes.values())
    for i in range(20):
        f = work / "results" / "paper" / "a6_protocol" / f"m{i}.keras"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(os.urandom(strided if i % 2 else plain))
    (tmp_path / "o").mkdir()
    archives, left = gpu_jobs.pack(work, tmp_path / "o")
    assert left == [] and len(archives) <= 6
    assert sum(a.stat().st_size for a in archives) + 2 * 2**20 <= 64 * 2**20  # plus the summary and pip.log


def test_unknown_job_name_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        gpu_jobs.main(["--dry-run", "--only", "a9_nothing"])
    assert "a9_nothing" in capsys.readouterr().err


def test_study_b_job_measures_both_beit_settings_with_the_speed_options():
    bench = {b.name: b for b in gpu_jobs.BENCHES}
    args = bench["bench_study_b"].args
    blocks = args[args.index("--trainable-blocks") + 1:]
    assert blocks[:2] == ["-1", "4"]  # every block trains, then the last four
    assert {"--compile", "--predecode", "--channels-last"} <= set(args)
    assert args[args.index("--backbones") + 1] == "beit_base_patch16_224"
    eager = bench["bench_study_b_eager"].args
    assert "--compile" not in eager and eager == [a for a in args if a != "--compile"]  # compile off
    assert (bench["bench_study_b"].setting, bench["bench_study_b_eager"].setting) == ({"compile": True},
                                                                                      {"compile": False})


def test_every_benchmark_command_line_parses():
    for b in gpu_jobs.BENCHES:
        job = gpu_jobs.Job(b.name, "bench", b.script, list(b.args))
        assert gpu_jobs.check_bench(job) is None, b.name
    bad = gpu_jobs.Job("x", "bench", "benchmarks/bench_gpu_a.py", ["--no-such-flag"])
    assert "--no-such-flag" in gpu_jobs.check_bench(bad)
