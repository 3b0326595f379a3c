"""Study B's images as tensors: timm's data config for a backbone, and :class:`TorchImageDataset`, a split
of an ``apparel.ImageSource`` resized and normalised for it (augmented copies seeded per entry and
epoch; optionally decoded once onto the device).
"""

from __future__ import annotations

import numpy as np

from .apparel import ImageSource


def data_config(model, image_size: int | None = None) -> dict:
    """timm's data config for a backbone (mean, std, interpolation), at ``image_size`` if given."""
    from timm.data import resolve_data_config

    backbone = getattr(model, "backbone", model)
    cfg = resolve_data_config({}, model=backbone)
    if image_size is not None:
        cfg["input_size"] = (3, image_size, image_size)
    return cfg


def eval_transform(model, image_size: int | None = None):
    """timm's evaluation transform (resize, centre crop, to tensor, normalise) for PIL images."""
    from timm.data import create_transform

    cfg = data_config(model, image_size)
    return create_transform(**cfg, is_training=False)


class TorchImageDataset:
    """A split as a torch dataset: ``(image tensor (3, S, S) normalised, label)``.

    ``augment`` flags the entries that get a random augmentation (the oversampled copies). The
    augmentation of entry ``k`` in epoch ``e`` is seeded by ``(seed, e, k)``, so results do not depend
    on worker count, process count (DDP) or interruptions.
    """

    def __init__(self, source: ImageSource, indices, image_size: int, mean, std,
                 augment=None, augmentation=None, seed: int = 0, interpolation: str = "bilinear"):
        import torch

        self.source, self.indices = source, np.asarray(indices, dtype=np.int64)
        self.image_size, self.seed, self.epoch = image_size, seed, 0
        self.augment = np.zeros(len(self.indices), bool) if augment is None else np.asarray(augment, bool)
        self.augmentation = augmentation
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        self.interpolation = "bicubic" if interpolation == "bicubic" else "bilinear"
        self.labels = source.labels[self.indices]
        self._cache = None  # in-memory array sources resized once, kept as uint8 (up to ~1 GB)
        self._predecoded = None  # (entry -> row, uint8 images, mean, std), on the device, after predecode()
        if source.arrays is not None:
            uniq = np.unique(self.indices)
            if len(uniq) * 3 * image_size * image_size <= 2**30:
                chunks = [self._resize(torch.from_numpy(np.stack([source.image(int(i)) for i in part])))
                          .mul_(255).round_().to(torch.uint8) for part in np.array_split(uniq, max(1, len(uniq) // 512))]
                self._cache = (uniq, torch.cat(chunks))

    def _resize(self, batch):
        """uint8 (N, H, W, 3) -> float (N, 3, S, S) in [0, 1]."""
        import torch.nn.functional as F

        x = batch.permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode=self.interpolation,
                              align_corners=False, antialias=True).clamp_(0, 1)
        return x

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def raw(self, k: int):
        """Entry ``k`` as a float tensor in [0, 1] at the target size, before normalisation."""
        import torch

        i = int(self.indices[k])
        if self._cache is not None:
            uniq, images = self._cache
            x = images[int(np.searchsorted(uniq, i))].float().div_(255.0)
        else:
            x = self._resize(torch.from_numpy(np.require(self.source.image(i), requirements=["C", "W"]))[None])[0]
        return self._augmented(x, k)

    def _augmented(self, x, k: int):
        """``x`` augmented when entry ``k`` is flagged; the draw is seeded by (seed, epoch, k) on the CPU RNG."""
        import torch

        if self.augment[k] and self.augmentation is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(hash((self.seed, self.epoch, int(k))) & 0x7FFFFFFF)
                x = self.augmentation(x.clone())
        return x

    def __getitem__(self, k: int):
        return (self.raw(k) - self.mean) / self.std, int(self.labels[k])

    # ---- pre-decoded path: every image decoded once to uint8, batches built from tensors ----
    def predecode(self, device="cpu", num_workers: int = 0) -> None:
        """Decode and resize every image of the split once into a uint8 tensor (N, 3, S, S) on ``device``.

        Afterwards :meth:`batch` builds normalised (and augmented) batches from that tensor: no JPEG
        decoding, PIL or per-image resizing per step, and on a GPU no host-to-device copy of images.
        In-memory sources are already cached this way (the same uint8 values, so the same batches as
        ``__getitem__``); image files are resized in float and rounded to uint8 once, which differs from
        the default path (float, unrounded) by at most half a grey level. ``num_workers`` processes decode.
        """
        import torch

        device = torch.device(device)
        if self._predecoded is not None and self._predecoded[1].device == device:
            return
        if self._cache is not None:
            uniq, images = self._cache
        else:
            uniq = np.unique(self.indices)
            loader = torch.utils.data.DataLoader(_DecodeOnce(self, uniq), batch_size=64, num_workers=num_workers,
                                                 generator=torch.Generator())  # the global RNG untouched
            images = torch.cat([b for b in loader]) if len(uniq) else torch.zeros(0, 3, self.image_size,
                                                                                   self.image_size, dtype=torch.uint8)
        # (N, 3, S, S) contiguous, as a DataLoader stacks the entries: the same memory layout, the same numbers
        self._predecoded = (np.searchsorted(uniq, self.indices), images.to(device).contiguous(),
                            self.mean.to(device), self.std.to(device))

    def batch(self, ks):
        """Entries ``ks`` as (normalised float images (B, 3, S, S), labels (B,)) on the device of :meth:`predecode`."""
        import torch

        if self._predecoded is None:
            raise RuntimeError("TorchImageDataset.batch needs the images decoded once first. Fix: call "
                               "predecode(device) (TrainConfig(predecode=True) does).")
        pos, images, mean, std = self._predecoded
        ks = np.asarray(ks, dtype=np.int64)
        # non_blocking: the small index and label copies do not wait for the GPU's queued work
        x = images[torch.from_numpy(pos[ks]).to(images.device, non_blocking=True)].float().div_(255.0)
        for j in np.flatnonzero(self.augment[ks]):
            x[j] = self._augmented(x[j], int(ks[j]))
        return (x - mean) / std, torch.from_numpy(self.labels[ks]).to(images.device, non_blocking=True)


class _DecodeOnce:
    """Images ``uniq`` of a :class:`TorchImageDataset`'s source as uint8 (3, S, S): the one decoding pass."""

    def __init__(self, ds: TorchImageDataset, uniq):
        self.ds, self.uniq = ds, uniq

    def __len__(self) -> int:
        return len(self.uniq)

    def __getitem__(self, j: int):
        import torch

        image = torch.from_numpy(np.require(self.ds.source.image(int(self.uniq[j])), requirements=["C", "W"]))
        return self.ds._resize(image[None])[0].mul_(255).round_().to(torch.uint8)
