"""Study A's training batches: the order and random draws of every epoch as a function of ``(seed, epoch)``.

:func:`epoch_order` and :func:`dropout_seed` are the one definition of a run's data order and of its
random layers' state at each epoch start (``train_keras.fit`` and ``train_vmap.fit_seeds`` both use
them). The batch classes are Keras ``PyDataset``\\ s over the prepared arrays: in host memory
(:class:`EpochShuffledBatches`), held on the device (:class:`DeviceEpochBatches`, the GPU fast path),
or cropped and flipped (:class:`CropFlipBatches`, the modern recipe's augmentation).
"""

from __future__ import annotations

import math

import keras
import numpy as np


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of the ``n`` training images in epoch ``epoch`` of the run seeded ``seed``: a permutation
    drawn from ``(seed, epoch)`` only (every path of study A, single run or vectorised, uses this one)."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(int(n))


def dropout_seed(seed: int, epoch: int, i: int) -> int:
    """The state ``[s, 0]`` of the ``i``-th random layer (dropout, augmentation) at the start of epoch ``epoch``
    of the run seeded ``seed``: ``s`` drawn from ``(seed, epoch, i)`` only (every path uses this one)."""
    return int(np.random.default_rng([int(seed), int(epoch), int(i)]).integers(1, 2**31 - 1))


class EpochShuffledBatches(keras.utils.PyDataset):
    """Mini-batches whose order in epoch ``e`` is a permutation seeded by ``(seed, e)``.

    (Keras' own ``shuffle=True`` draws from a random stream that restarts with the process, so a
    resumed run would see epoch 0's order again; this keeps the order a function of the epoch.)
    """

    def __init__(self, x, y, batch_size: int, seed: int = 0):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y, self.batch_size, self.seed = x, y, int(batch_size), int(seed)
        self._epoch_x = getattr(self, "_epoch_x", None)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.order = epoch_order(self.seed, self.epoch, len(self.x))

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, i):
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        if self._epoch_x is not None:  # device-resident: a slice of this epoch's gathered copy
            return self._epoch_x[sl], self._epoch_y[sl]
        idx = self.order[sl]
        return self.x[idx], self.y[idx]


class DeviceEpochBatches(EpochShuffledBatches):
    """The same batches as :class:`EpochShuffledBatches`, with the arrays held once on the backend's
    device (JAX/torch): each epoch is one gather on the device (``keras.ops.take``) and every batch a
    slice of it, so no image crosses from the host after the start (the GPU fast path).
    """

    def __init__(self, x, y, batch_size: int, seed: int = 0):
        self._epoch_x = None
        self.x_dev, self.y_dev = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
        super().__init__(x, y, batch_size, seed)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        order = keras.ops.convert_to_tensor(self.order.astype("int32"))
        self._epoch_x = keras.ops.take(self.x_dev, order, axis=0)
        self._epoch_y = keras.ops.take(self.y_dev, order, axis=0)


class CropFlipBatches(EpochShuffledBatches):
    """The batches of :class:`EpochShuffledBatches`, each image randomly cropped and flipped (the modern
    recipe's augmentation): padded by ``pad`` pixels of ``fill`` (the background: a black pixel after
    normalisation), cropped back to its size at a random offset, and mirrored left-right with
    probability 1/2. The draws come from ``(seed, epoch, batch)``, so a resumed run sees the same images.
    """

    def __init__(self, x, y, batch_size: int, seed: int = 0, pad: int = 2, fill: float = 0.0):
        self.pad, self.fill = int(pad), float(fill)
        super().__init__(x, y, batch_size, seed)

    def __getitem__(self, i):
        xb, yb = super().__getitem__(i)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        n, h, w = xb.shape[:3]
        p = self.pad
        padded = np.pad(xb, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=self.fill)
        dy, dx = rng.integers(0, 2 * p + 1, size=(2, n))
        rows = dy[:, None] + np.arange(h)[None, :]  # (n, h)
        cols = dx[:, None] + np.arange(w)[None, :]  # (n, w)
        flip = rng.random(n) < 0.5
        cols = np.where(flip[:, None], cols[:, ::-1], cols)
        out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
        return out.astype(np.float32), yb

