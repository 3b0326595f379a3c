"""Results records: provenance, atomic writes that survive interruption, loading for the book."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from fashionlib import files, results


def _run(seed=0, acc=91.5, **setting):
    return {"setting": setting or {"model": "m"}, "seed": seed, "metrics": {"accuracy": acc, "loss": 0.25}}


def test_record_carries_provenance_runs_and_extras(tmp_path, monkeypatch):
    monkeypatch.delenv("FASHIONLIB_GIT_COMMIT", raising=False)
    t0 = time.time()
    path = results.write_record("nb", {"profile": "smoke", "epochs": 2}, [_run(3)], extras={"table": [1, 2]},
                                started=t0, results_dir_=tmp_path)
    assert path.parent == tmp_path / "smoke" / "nb"
    rec = json.loads(path.read_text())
    assert sorted(rec) == ["extras", "provenance", "runs", "schema"] and rec["schema"] == results.SCHEMA
    prov = rec["provenance"]
    assert prov["parameters"]["epochs"] == 2 and prov["profile"] == "smoke" and prov["notebook"] == "nb"
    if (files.REPO_ROOT / ".git").exists():  # a clone or worktree: the full sha, "-dirty" if changed
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", prov["git_commit"]), prov["git_commit"]
    else:  # a copied tree without git
        assert prov["git_commit"] == "unknown"
    assert prov["versions"]["python"]
    assert "numpy" in prov["versions"] and prov["device"]["cpu_count"] >= 1
    assert prov["wall_time_s"] >= 0 and prov["started"].startswith(time.strftime("%Y", time.gmtime(t0)))
    assert rec["runs"] == [{"setting": {"model": "m"}, "seed": 3, "metrics": {"accuracy": 91.5, "loss": 0.25},
                            "model_file": None, "history": None}]
    assert rec["extras"] == {"table": [1, 2]}


def test_runs_frame_has_one_row_per_run_with_setting_and_metric_columns(tmp_path):
    import numpy as np
    import pandas as pd

    history = pd.DataFrame({"accuracy": [0.5, 0.6], "val_accuracy": [0.4, 0.55]})
    runs = [{**_run(0, 90.0, model="a", batch_size=64), "model_file": tmp_path / "a_seed0.keras", "history": history},
            {**_run(1, np.float64(92.0), model="a", batch_size=np.int64(64))}]
    path = results.write_record("nb", {"profile": "cpu"}, runs, results_dir_=tmp_path)
    f = results.runs_frame("nb", results_dir_=tmp_path)
    assert list(f.columns) == results.FRAME_COLUMNS + ["model", "batch_size", "accuracy", "loss"]
    assert list(f["seed"]) == [0, 1] and list(f["accuracy"]) == [90.0, 92.0] and list(f["batch_size"]) == [64, 64]
    assert list(f["model_file"]) == ["a_seed0.keras", None], "a model file is a name beside the record"
    assert f["history"][0] == {"accuracy": [0.5, 0.6], "val_accuracy": [0.4, 0.55]} and f["history"][1] is None
    assert set(f["record"]) == {str(path)} and set(f["profile"]) == {"cpu"} and set(f["notebook"]) == {"nb"}
    assert set(f["device"]) == {"cpu"} and f["commit"][0] == files.git_commit()
    empty = results.runs_frame("other", results_dir_=tmp_path)
    assert empty.empty and list(empty.columns) == results.FRAME_COLUMNS


def test_load_and_latest_keep_write_order_within_one_second(tmp_path, monkeypatch):
    import uuid

    hexes = iter(c * 32 for c in "fedcba")  # random parts of the file names in reverse write order
    monkeypatch.setattr(results.uuid, "uuid4", lambda: uuid.UUID(next(hexes)))
    t0 = time.time()
    for acc in (0.1, 0.2, 0.3):  # the same start second: the order must still be the order of writing
        results.write_record("nb", {"profile": "cpu"}, [_run(0, acc)], started=t0, results_dir_=tmp_path)
    results.write_record("nb", {"profile": "paper"}, [_run(0, 0.9)], results_dir_=tmp_path)
    accs = [r["runs"][0]["metrics"]["accuracy"] for r in results.load_records("nb", "cpu", tmp_path)]
    assert accs == [0.1, 0.2, 0.3]
    assert results.latest_record("nb", results_dir_=tmp_path)["runs"][0]["metrics"]["accuracy"] == 0.9
    assert results.latest_record("nb", ("cpu",), tmp_path)["runs"][0]["metrics"]["accuracy"] == 0.3
    assert results.latest_record("other", results_dir_=tmp_path) is None
    latest = results.runs_frame("nb", results_dir_=tmp_path)
    assert sorted(zip(latest["profile"], latest["accuracy"])) == [("cpu", 0.3), ("paper", 0.9)]
    assert list(results.runs_frame("nb", "cpu", tmp_path, latest_only=False)["accuracy"]) == [0.1, 0.2, 0.3]


def test_an_old_shape_record_is_an_error_not_a_silent_empty_frame(tmp_path):
    old = tmp_path / "paper" / "nb" / "20261127T105447-58650d.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"provenance": {"notebook": "nb", "profile": "paper", "started": "2026"},
                               "metrics": {"per_seed": [{"seed": 0, "accuracy": 92.0}]}}))
    with pytest.raises(ValueError, match=r"20261127T105447-58650d.json has an older shape.*convert_records.py"):
        results.runs_frame("nb", results_dir_=tmp_path)
    assert results.load_records("nb", "paper", tmp_path)[0]["metrics"], "the raw view still reads it"


@pytest.mark.parametrize("runs,message", [
    ({"accuracy": 91.0}, "runs must be a list of run dicts"),
    ([{"seed": 0, "metrics": {}}], r"lacks \['setting'\]"),
    ([{**_run(), "per_seed": []}], r"unknown keys \['per_seed'\]"),
    ([{**_run(), "metrics": {"table3": {"Shirt": 0.7}}}], r"\['metrics'\]\['table3'\] is a dict"),
    ([{**_run(), "metrics": {"seed": 1.0}}], "clashes with the frame column"),
    ([{**_run(), "setting": {"accuracy": 1}}], r"\['accuracy'\] both as a setting and as a metric"),
    ([{**_run(), "seed": "0"}], "must be an int or None"),
])
def test_a_malformed_run_is_refused_before_anything_is_written(tmp_path, runs, message):
    with pytest.raises(ValueError, match=message):
        results.write_record("nb", {"profile": "cpu"}, runs, results_dir_=tmp_path)
    assert not tmp_path.exists() or not any(tmp_path.rglob("*")), "nothing half-written"


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "rec.json"
    files.atomic_write_text(target, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        files.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.json"], "no temporary file left behind"


def test_sigkill_during_write_keeps_old_record(tmp_path):
    """Kill -9 a process in the middle of writing a large record: the previous copy stays intact."""
    target = tmp_path / "rec.json"
    files.atomic_write_text(target, json.dumps({"v": "old"}))
    script = textwrap.dedent(f"""
        import os, sys
        from fashionlib import files
        real_fsync = os.fsync
        def slow_fsync(fd):
            print("writing", flush=True)
            import time; time.sleep(60)
        os.fsync = slow_fsync
        files.atomic_write_text({str(target)!r}, "x" * 50_000_000)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert json.loads(target.read_text()) == {"v": "old"}


def test_commit_of_a_copied_tree_without_git_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "REPO_ROOT", tmp_path)  # a copy of the tree with no .git folder
    monkeypatch.setenv("FASHIONLIB_GIT_COMMIT", "a85148cb5d98")
    assert files.git_commit() == "a85148cb5d98"
    monkeypatch.delenv("FASHIONLIB_GIT_COMMIT")
    assert files.git_commit() == "unknown"


def test_device_names_a_jax_gpu(monkeypatch):
    class FakeDevice:
        device_kind = "NVIDIA H200"

    class FakeJax:
        @staticmethod
        def devices(kind=None):
            if kind != "gpu":
                raise AssertionError("asks for GPU devices only")
            return [FakeDevice()]

    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setitem(sys.modules, "jax", FakeJax)
    assert results.device_info()["accelerator"] == "NVIDIA H200"

    class NoGpuJax:
        @staticmethod
        def devices(kind=None):
            raise RuntimeError("Unknown backend: 'gpu' requested")

    monkeypatch.setitem(sys.modules, "jax", NoGpuJax)
    assert results.device_info()["accelerator"] == "cpu"


def test_runner_names_the_commit_a_run_started_from(monkeypatch):
    """A record written after a new commit (a long run) still names the commit the run started from."""
    monkeypatch.setenv("FASHIONLIB_GIT_COMMIT", "0123456789ab")  # what the runner sets at the start
    assert results.provenance()["git_commit"] == "0123456789ab"


def test_the_run_in_progress_has_the_columns_its_record_will_have(tmp_path):
    runs = [_run(0, 90.0, model="a"), {**_run(1, 91.0, model="a"), "model_file": "a_seed1.keras"}]
    now = results.frame("nb", {"profile": "cpu"}, runs)
    results.write_record("nb", {"profile": "cpu"}, runs, results_dir_=tmp_path)
    stored = results.runs_frame("nb", results_dir_=tmp_path)
    assert list(now.columns) == list(stored.columns)
    same = ["notebook", "profile", "commit", "device", "seed", "model_file", "model", "accuracy", "loss"]
    assert now[same].equals(stored[same]) and list(now["record"]) == ["", ""]
    with pytest.raises(ValueError, match="unknown keys"):
        results.frame("nb", {"profile": "cpu"}, [{**_run(), "proba": None}])


def test_every_committed_record_reads_through_the_one_reader():
    """The committed records (converted by scripts/convert_records.py) all have the current shape."""
    from pathlib import Path

    root = Path(files.REPO_ROOT) / "book" / "results"
    records = results.load_records(results_dir_=root)
    assert records and all(r.get("schema") == results.SCHEMA for r in records), \
        [r["_path"] for r in records if r.get("schema") != results.SCHEMA]
    frame = results.runs_frame(results_dir_=root, latest_only=False)
    assert frame.groupby("notebook").size().to_dict() == {"a1_improved_cnn": 3, "a2_models": 12,
                                                          "a5_closing_the_gap": 6, "a6_protocol": 20,
                                                          "bench_study_a_peer": 18, "bench_gpu_a": 3,
                                                          "bench_study_b": 2, "b0_pretraining": 6,
                                                          "b2_backbones": 110, "bench_bf16_a": 6}
    a6 = results.runs_frame("a6_protocol", "paper", root)  # the H200 run: 2 readings x 2 protocols x 5 seeds
    assert len(a6) == 20 and a6.groupby(["model", "protocol"]).size().tolist() == [5] * 4
    # A5's two paper records are two experiments (the first fixed one model, the second a list): the newest
    # one's 4 runs, not the 6 runs of both
    assert len(results.runs_frame("a5_closing_the_gap", "paper", root)) == 4


# ------------------------------------------------------------------ records that accumulate -----
def _acc_run(seed, acc, model="m"):
    return {"setting": {"model": model, "epochs": 2}, "seed": seed, "metrics": {"accuracy": acc}}


def test_runs_of_several_invocations_combine_and_keep_their_provenance(tmp_path, monkeypatch):
    params = {"profile": "paper", "epochs": 2, "lr": 0.1, "backend": "jax", "jobs": 10, "seeds": [0, 1]}
    monkeypatch.setenv("FASHIONLIB_GIT_COMMIT", "aaaa")
    first = results.write_record("nb", params, [_acc_run(0, 90.0), _acc_run(1, 91.0)], results_dir_=tmp_path)
    monkeypatch.setenv("FASHIONLIB_GIT_COMMIT", "bbbb")  # another day, another backend and seeds: one experiment
    second = results.write_record("nb", {**params, "backend": "tensorflow", "jobs": 1, "seeds": [2, 3]},
                                  [_acc_run(2, 92.0), _acc_run(3, 93.0)], results_dir_=tmp_path)
    f = results.runs_frame("nb", "paper", tmp_path)
    assert list(f["seed"]) == [0, 1, 2, 3] and list(f["accuracy"]) == [90.0, 91.0, 92.0, 93.0]
    assert list(f["record"]) == [str(first)] * 2 + [str(second)] * 2
    assert list(f["commit"]) == ["aaaa", "aaaa", "bbbb", "bbbb"], "each run keeps its own record's provenance"


def test_a_repeated_setting_and_seed_is_counted_once_the_newest_wins(tmp_path):
    params = {"profile": "paper", "epochs": 2, "seeds": [0, 1]}
    results.write_record("nb", params, [_acc_run(0, 90.0), _acc_run(1, 91.0), _acc_run(0, 80.0, "other")],
                         results_dir_=tmp_path)
    newest = results.write_record("nb", params, [_acc_run(1, 95.0), _acc_run(2, 96.0)], results_dir_=tmp_path)
    f = results.runs_frame("nb", "paper", tmp_path)
    assert len(f) == 4, "seed 1 of model m ran twice: one run, not two"
    assert sorted(zip(f["model"], f["seed"], f["accuracy"])) == [("m", 0, 90.0), ("m", 1, 95.0), ("m", 2, 96.0),
                                                                  ("other", 0, 80.0)]
    assert f.loc[(f["model"] == "m") & (f["seed"] == 1), "record"].tolist() == [str(newest)]
    assert f[f["model"] == "m"]["accuracy"].mean() == pytest.approx((90 + 95 + 96) / 3)
    assert len(results.runs_frame("nb", "paper", tmp_path, latest_only=False)) == 5  # the raw view: every run


def test_an_older_record_of_another_experiment_is_left_out(tmp_path):
    results.write_record("nb", {"profile": "paper", "epochs": 5, "seeds": [7]}, [_acc_run(7, 50.0)],
                         results_dir_=tmp_path)
    results.write_record("nb", {"profile": "paper", "epochs": 2, "seeds": [0]}, [_acc_run(0, 90.0)],
                         results_dir_=tmp_path)
    results.write_record("nb", {"profile": "cpu", "epochs": 2, "seeds": [1]}, [_acc_run(1, 70.0)],
                         results_dir_=tmp_path)  # another profile never mixes in
    f = results.runs_frame("nb", "paper", tmp_path)
    assert list(f["seed"]) == [0] and list(f["accuracy"]) == [90.0]
    assert sorted(results.runs_frame("nb", None, tmp_path)["accuracy"]) == [70.0, 90.0]


def test_convert_records_turns_an_old_shape_into_runs_and_is_idempotent(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("convert_records", files.REPO_ROOT / "scripts" / "convert_records.py")
    convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert)
    hist = {"epoch": [0, 1], "accuracy": [0.5, 0.9], "loss": [1.0, 0.3], "val_accuracy": [0.6, 0.925],
            "val_loss": [0.9, 0.3], "seconds": [1.0, 1.0]}
    per_run = [{"lr_end": 1e-4, "augment": a, "seed": s, "accuracy": acc, "loss": 0.25, "auc_micro": 0.99,
                "auc_macro": 0.98, "seconds_per_epoch": 1.0} for a, s, acc in ((False, 0, 92.0), (False, 1, 92.5),
                                                                                  (True, 0, 91.0))]
    params = {"profile": "paper", "model": "improved_cnn", "epochs": 2, "batch_size": 128, "lr0": 1e-3,
              "schedule": "paper", "optimizer": "adam", "lr_ends": [1e-4]}
    old = {"provenance": {"notebook": "a5_closing_the_gap", "profile": "paper", "parameters": params,
                          "started": "2026-11-27T12:40:58+00:00", "git_commit": "abc", "device": {}},
           "metrics": {"per_run": per_run, "selection": {"lr_end": [1e-4]}, "normalisation": {"mean": 0.3, "std": 0.4},
                       "n_train": 48000, "chosen": {"lr_end": 1e-4, "augment": False, "model_paths": [
                           "/x/m_seed0.keras", "/x/m_seed1.keras"]}},
           "history": {"0.0001_0": {"0": hist, "1": hist}, "0.0001_1": {"0": hist}}}
    path = tmp_path / "paper" / "a5_closing_the_gap" / "20261127T130400-5c67af.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old))
    assert convert.convert(path) is True and convert.convert(path) is False
    f = results.runs_frame(results_dir_=tmp_path)
    assert list(f["accuracy"]) == [92.0, 92.5, 91.0] and list(f["seed"]) == [0, 1, 0]
    assert list(f["model_file"]) == ["m_seed0.keras", "m_seed1.keras", None]
    assert list(f["augment"]) == [False, False, True] and set(f["model"]) == {"improved_cnn"}
    assert list(f["val_accuracy"]) == [92.5] * 3 and f["epochs"].tolist() == [2] * 3
    new = json.loads(path.read_text())
    assert new["extras"]["chosen"] == {"model": "improved_cnn", "lr_end": 1e-4, "augment": False}
    # renamed parameters under their new names (lr0 -> lr), nothing else in the provenance changes
    assert new["provenance"] == {**old["provenance"], "parameters": {**{k: v for k, v in params.items() if k != "lr0"},
                                                                     "lr": 1e-3}}
    assert list(f["lr"]) == [1e-3] * 3 and list(f["momentum"]) == [0.0] * 3 and "lr0" not in f.columns


def test_runs_frame_can_carry_each_runs_record_provenance(tmp_path, monkeypatch):
    params = {"profile": "paper", "epochs": 2, "backend": "jax", "seeds": [0]}
    monkeypatch.setenv("FASHIONLIB_GIT_COMMIT", "aaaa")
    results.write_record("nb", params, [_acc_run(0, 90.0)], results_dir_=tmp_path)
    monkeypatch.setenv("FASHIONLIB_GIT_COMMIT", "bbbb")
    results.write_record("nb", {**params, "backend": "torch", "seeds": [1]}, [_acc_run(1, 91.0)],
                         results_dir_=tmp_path)
    f = results.runs_frame("nb", "paper", tmp_path, with_provenance=True)
    assert list(f.columns)[-1] == "provenance"
    assert [p["parameters"]["backend"] for p in f["provenance"]] == ["jax", "torch"]
    assert [p["git_commit"] for p in f["provenance"]] == ["aaaa", "bbbb"]
    assert "provenance" not in results.runs_frame("nb", "paper", tmp_path).columns


def test_short_provenance_keeps_ten_characters_of_the_commit_and_the_date():
    import pandas as pd

    f = pd.DataFrame({"commit": ["0123456789abcdef"], "started": ["2026-12-04T18:00:00"], "seed": [1]})
    short = results.short_provenance(f)
    assert short.to_dict("records") == [{"commit": "0123456789", "started": "2026-12-04", "seed": 1}]
    assert f["commit"][0] == "0123456789abcdef", "the frame it was given is left as it was"


def test_extras_table_reads_the_newest_records_extras_and_names_the_record(tmp_path):
    results.write_record("bench", {"profile": "cpu"}, [], extras={"rows": [{"a": 1}, {"a": 2}]},
                         results_dir_=tmp_path)
    table, record = results.extras_table("bench", "rows", results_dir_=tmp_path)
    assert list(table["a"]) == [1, 2]
    assert record == results.provenance_line(results.latest_record("bench", results_dir_=tmp_path))
    assert results.extras_table("bench", "other", results_dir_=tmp_path) == (None, None)
    assert results.extras_table("nothing", "rows", results_dir_=tmp_path) == (None, None)
