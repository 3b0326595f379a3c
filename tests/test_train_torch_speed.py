"""Study B speed options (TrainConfig compile / predecode / channels_last): the same numbers as the default path.

They exist for the GPU (issue 14 item 4); here each is shown on the CPU to compute what the default path
computes: pre-decoded batches identical (in-memory images) or within half a grey level (JPEG files),
channels-last outputs allclose, a compiled run's losses within a stated tolerance of the eager run's.
"""

import copy

import numpy as np
import pytest
import torch

from fashionlib import apparel, fpi_synthetic, rules, torch_models, train_torch
from fashionlib.train_torch import TrainConfig, fit

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# 10 classes x 16 balanced images = 160 = 10 batches of 16; 37 of them augmented copies
TINY = dict(dataset="fmnist_lt", imbalance_factor=10.0, n_max=60, balance="resample", balance_target=16,
            backbone="deit_micro", image_size=16, epochs=1, batch_size=16, lr=2e-3, dropout=0.1,
            progress=False, seed=0)


def _datasets(cfg):
    splits = train_torch.make_splits(cfg)
    model = torch_models.build_model(cfg.backbone, len(splits.class_names), image_size=cfg.image_size)
    return train_torch.make_datasets(cfg, splits, model)


def _loader_batches(ds, batch_size, epoch, sampler=None):
    ds.set_epoch(epoch)
    if sampler is not None:
        sampler.set_epoch(epoch)
    return list(torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=sampler))


def _device_batches(ds, batch_size, epoch, sampler=None):
    ds.set_epoch(epoch)
    if sampler is not None:
        sampler.set_epoch(epoch)
    return list(train_torch.DeviceBatches(ds, batch_size, sampler))


def test_predecoded_batches_are_the_loaders_batches_for_in_memory_images(fmnist_dir):
    cfg = TrainConfig(**TINY)
    train, val, _ = _datasets(cfg)
    assert train.augment.sum() > 0  # the augmented copies are part of what must match
    train.predecode("cpu")
    val.predecode("cpu")
    sampler = torch.utils.data.DistributedSampler(train, num_replicas=1, rank=0, shuffle=True, seed=0)
    for epoch in (0, 1):  # the augmentation draws depend on the epoch
        a, b = _loader_batches(train, 16, epoch, sampler), _device_batches(train, 16, epoch, sampler)
        assert len(a) == len(b) == len(train_torch.DeviceBatches(train, 16, sampler)) == 10
        for (xa, ya), (xb, yb) in zip(a, b):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
            assert xa.stride() == xb.stride()  # the same layout: the model computes the same numbers
    ddp = torch.utils.data.DistributedSampler(train, num_replicas=2, rank=1, shuffle=True, seed=0)  # rank 1 of 2
    a, b = _loader_batches(train, 8, 1, ddp), _device_batches(train, 8, 1, ddp)
    assert len(a) == len(b) == 10 and all(torch.equal(xa, xb) for (xa, _), (xb, _) in zip(a, b))
    va, vb = _loader_batches(val, 64, 0), _device_batches(val, 64, 0)
    assert len(va) == len(vb) and all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(va, vb))


def test_predecoded_run_gives_the_same_numbers(fmnist_dir):
    a = fit(TrainConfig(**TINY), return_model=False)
    b = fit(TrainConfig(**TINY, predecode=True), return_model=False)
    assert a["history"] == b["history"]
    assert a["test"]["y_pred"] == b["test"]["y_pred"] and a["test"]["loss"] == b["test"]["loss"]


@pytest.fixture(scope="module")
def fpi(tmp_path_factory):
    root = tmp_path_factory.mktemp("fpi")
    fpi_synthetic.write_synthetic_fashion_product_images(root, seed=0)
    return root


def test_predecoded_jpegs_are_within_half_a_grey_level_of_the_per_step_decoding(fpi):
    cfg = TrainConfig(dataset="fashion_product_images", data_root=str(fpi), backbone="deit_micro", image_size=16,
                      batch_size=8, progress=False, seed=0)
    train, _, _ = _datasets(cfg)
    assert train.source.paths is not None and train._cache is None  # image files, decoded per step by default
    assert train.augment.sum() > 0
    train.predecode("cpu", num_workers=0)
    a, b = _loader_batches(train, 8, 0), _device_batches(train, 8, 0)
    xa, xb = torch.cat([x for x, _ in a]), torch.cat([x for x, _ in b])
    assert torch.equal(torch.cat([y for _, y in a]), torch.cat([y for _, y in b]))
    # rounding to uint8 once moves a pixel by at most 0.5/255 before normalisation; the augmentation's
    # interpolation is a convex combination and its brightness/contrast scale by at most 1.2 each
    bound = 1.2 * 1.2 * 0.5 / 255 / float(train.std.min()) + 1e-6
    aug = torch.from_numpy(train.augment)
    assert (xa[~aug] - xb[~aug]).abs().max() <= 0.5 / 255 / float(train.std.min()) + 1e-6
    assert (xa - xb).abs().max() <= bound
    assert (xa != xb).any()  # it is a rounding, not the same path
    # decoding in worker processes gives the same uint8 images
    again = copy.copy(train)
    again._predecoded = None
    again.predecode("cpu", num_workers=1)
    assert torch.equal(again._predecoded[1], train._predecoded[1])


def test_batch_before_predecode_is_a_clear_error(fmnist_dir):
    train, _, _ = _datasets(TrainConfig(**TINY))
    with pytest.raises(RuntimeError, match="predecode"):
        train.batch([0, 1])


def test_channels_last_model_gives_the_same_outputs():
    torch.manual_seed(0)
    model = torch_models.build_model("deit_micro", 10, image_size=16, edgenet=True).eval()
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        ref = model(x)
        cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
        assert cl.edgenet.conv1.weight.is_contiguous(memory_format=torch.channels_last)
        out = cl(x.contiguous(memory_format=torch.channels_last))
        edges = cl.edgenet(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-6)
    assert torch.allclose(edges, model.edgenet(x), rtol=1e-5, atol=1e-6)


def test_channels_last_run_matches_the_default_run(fmnist_dir):
    a = fit(TrainConfig(**TINY), return_model=False)
    b = fit(TrainConfig(**TINY, channels_last=True))
    assert b["model"].edgenet.conv1.weight.is_contiguous(memory_format=torch.channels_last)  # the option applied
    for k in ("train_loss", "val_loss"):  # other convolution kernels: float rounding only
        assert a["history"][0][k] == pytest.approx(b["history"][0][k], rel=1e-5)


def test_compiled_run_matches_the_eager_run(fmnist_dir):
    """torch.compile (inductor, C++ on the CPU) against eager, dropout off (inductor draws its own dropout
    masks). Tolerance 1e-5 relative: fused kernels reorder float sums (layer norm, softmax, matmul
    epilogues), which moves the losses by about 1e-7 after these ten steps."""
    try:  # the compiler inductor itself would use ($CXX, else g++/clang++ on PATH)
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
    except Exception as exc:
        pytest.skip(f"torch.compile on the CPU (inductor) needs a C++ compiler ({exc.__class__.__name__}: "
                    f"{str(exc)[:200]}). Fix: install g++ (.ci/setup.sh does) or set CXX to one")
    cfg = {**TINY, "dropout": 0.0}
    a = fit(TrainConfig(**cfg), return_model=False)
    b = fit(TrainConfig(**cfg, compile=True))
    assert b["model"].backbone._compiled_call_impl is not None  # the backbone did run compiled
    for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert a["history"][0][k] == pytest.approx(b["history"][0][k], rel=1e-5), k
    assert a["test"]["loss"] == pytest.approx(b["test"]["loss"], rel=1e-5)


def test_speed_options_are_checked_and_stay_out_of_the_resume_key():
    for name, bad in (("compile", "yes"), ("predecode", 1), ("channels_last", "on")):
        with pytest.raises(rules.ParameterError, match=repr(name)):
            TrainConfig(**{**TINY, name: bad}).validate()
    TrainConfig(**{**TINY, "channels_last": False, "compile": True, "predecode": True}).validate()
    assert TrainConfig(**TINY, compile=True, predecode=True, channels_last=True).key() == TrainConfig(**TINY).key()
