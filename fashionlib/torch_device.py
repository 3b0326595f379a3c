"""Study B's device and process helpers: torchrun's ranks, the device, seeding, and how tensors reach the device.

Shared by the training loop (``train_torch``) and the evaluation (``torch_evaluation``): bf16 autocast on
CUDA (float32 elsewhere) and channels-last memory format where :func:`use_channels_last` says so.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) when alone."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def pick_device(cfg, local_rank: int) -> torch.device:
    """``cfg.device``, or with "auto" this process's GPU (its local rank) where there is one, else the CPU."""
    if cfg.device != "auto":
        return torch.device(cfg.device)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def seed_everything(seed: int, device: torch.device) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)


def use_channels_last(channels_last: bool | None, device: torch.device) -> bool:
    """``TrainConfig.channels_last`` resolved: None means on CUDA only."""
    return device.type == "cuda" if channels_last is None else channels_last


def to_device(x, y, device, channels_last: bool | None = None):
    """A batch ``(x, y)`` on ``device``; ``x`` in channels-last memory format where :func:`use_channels_last` says so."""
    x = x.to(device, non_blocking=True)
    if use_channels_last(channels_last, device):
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=True)


def autocast(device):
    """bf16 autocast on CUDA; on other devices a disabled autocast (float32)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)

