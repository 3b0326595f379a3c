"""Study B's training configuration, :class:`TrainConfig`: every field of a run, checked when built.

The ranges and choices are ``rules.RULES`` (the same names as the notebooks' parameters) and the
dataset combinations ``combinations.COMBINATIONS``; :meth:`TrainConfig.key` says what a checkpoint must
match to be resumed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from .combinations import check_combinations
from .rules import check_params, config_values


@dataclass
class TrainConfig:
    """One study-B training run: data, balancing, model, optimisation, machinery and speed options.

    Built from a notebook's validated parameters with :meth:`from_params`; a grid is a list of
    ``dataclasses.replace(config, ...)``. Checked when built (:meth:`validate`), as ``train_keras.FitConfig`` is.
    """

    # data
    dataset: str = "fmnist_lt"           # one of choices.DATASETS_B
    data_root: str | None = None         # folder tree / Fashion Product Images root
    csv_path: str | None = None
    path_column: str = "path"
    label_column: str = "label"
    imbalance_factor: float = 100.0      # fmnist_lt only
    n_max: int = 600                     # fmnist_lt: images of the largest class
    min_images_per_class: int = 1       # keep every class (a class of one image included) ...
    small_classes: str = "train"         # ... and train classes under 3 images on the training split only
    val_size: float = 0.15
    test_per_class: int | None = None   # fmnist_lt: the first N per class of the official test set (None: all 1,000)
    lt_test_max: int | None = None      # fmnist_lt: a long-tailed held-out set from the official test set, N in its largest class
    test_size: float = 0.15
    image_size: int = 32
    # balancing (training split only)
    balance: str = "resample"            # one of balance.BALANCE_METHODS
    balance_target: int | str = "median"
    logit_tau: float = 1.0
    # model
    backbone: str = "deit_micro"
    edgenet: bool = True
    pretrained: bool = False
    weights_file: str | None = None
    trainable_blocks: int = -1
    dropout: float = 0.05
    # optimisation (the paper's table)
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9                # SGD only (the paper does not say; 0.9 is our choice)
    epochs: int = 3
    batch_size: int = 64
    seed: int = 0
    # machinery
    num_workers: int = 0
    ckpt_dir: str | None = None
    device: str = "auto"
    progress: bool = True
    # speed options (GPU efficiency; off by default)
    compile: bool = False                # torch.compile the backbone (inductor; EdgeNet and head stay eager)
    predecode: bool = False              # decode every image once to uint8 on the device; batches from tensors
    channels_last: bool | None = None    # convolutions (EdgeNet, patch embedding) in NHWC; None: on CUDA only

    def __post_init__(self):
        self.validate()

    def validate(self) -> "TrainConfig":
        """Check every field with a rule in ``rules.RULES`` and the combinations of ``combinations.COMBINATIONS``
        (run when the configuration is built, ``dataclasses.replace`` included)."""
        fields = dataclasses.fields(self)
        values = {f.name: getattr(self, f.name) for f in fields}
        check_params(values, "TrainConfig: ")
        check_combinations(values, {f.name for f in fields if values[f.name] != f.default}, "TrainConfig: ")
        return self

    @classmethod
    def from_params(cls, params: dict, **changes) -> "TrainConfig":
        """The configuration named by ``params`` (a notebook's parameters; other names are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**config_values(params, names, "TrainConfig: "), **changes})

    def key(self) -> str:
        """What must match for a checkpoint to be resumed (everything except machinery and epochs)."""
        d = dataclasses.asdict(self)
        for k in ("epochs", "num_workers", "ckpt_dir", "device", "progress", "compile", "predecode", "channels_last"):
            d.pop(k)
        return json.dumps(d, sort_keys=True)

