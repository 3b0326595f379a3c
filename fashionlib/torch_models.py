"""Study B models: EdgeNet -> timm backbone -> dropout -> linear head, with freezing and weight loading.

EdgeNet (our reading of Akbari & Baniasadi 2023, "EDGE-Net", as the apparel paper uses it)
------------------------------------------------------------------------------------------
The apparel paper says only: "edge enhancement using the EdgeNet architecture with three
convolutional layers. The output is expanded to match the input requirements of the backbone."
We build (see the book's cell ``(b-edgenet)``):

* ``conv1``: 3x3, ``in_channels -> 8``, replicate padding, ReLU. Its first four filters *start*
  from Sobel filters on the luminance (``+Gx, -Gx, +Gy, -Gy``: both signs, because a ReLU follows
  and would otherwise drop half of every edge); the other four are Kaiming-initialised. Why Sobel:
  EDGE-Net is a learned replacement for classical gradient operators, and a Sobel start makes the
  untrained network already an edge enhancer (a random three-layer CNN in front of a pretrained
  backbone would first scramble the image the backbone was pretrained on).
* ``conv2``: 3x3, ``8 -> 8``, padding 1, ReLU, initialised as the identity (Dirac) so the start is
  exactly the Sobel response; it learns to combine directions (receptive field 5x5).
* ``conv3``: 1x1, ``8 -> 1``, no activation: one signed edge map. It starts as
  ``edge_gain * (|Gx| + |Gy|)`` (the four Sobel channels summed), an L1 gradient magnitude; with the
  default ``edge_gain=0`` it starts at zero (below).
* expansion: the one-channel map is repeated to the backbone's input channels (3) -- "expanded to
  match the input requirements of the backbone" -- and added to the input image (``residual=True``,
  "edge *enhancement*": the backbone sees the image with its edges strengthened, learned during
  fine-tuning). ``residual=False`` feeds the expanded edge map alone. All three layers are trained
  with the head.

**A fair start** (``edge_gain=0``, the default): the last layer is zero-initialised, so at the start the
model with EdgeNet computes exactly the function of the model without it (the backbone was pretrained
without EdgeNet, and an edge map added at the start would hand the EdgeNet model a shifted input it
must first undo). Any difference between EdgeNet on and off is then learned. The gradient reaches
``conv3`` at once and ``conv1``/``conv2`` as soon as ``conv3`` moves (the zero-initialised residual
branch of ControlNet and of "Fixup"-style residual blocks). :func:`build_model` also creates EdgeNet
without drawing from the global random generator, so the head and the data order of an EdgeNet run
are those of the run without it.

Sizes stay equal (padding), so EdgeNet works at any image size.

Backbones
---------
:data:`BACKBONES` (the table of :mod:`fashionlib.choices`) lists the four paper backbones (BEiT-base,
Swin V2 tiny, DeiT-base and, as the unnamed fourth, plain ViT-B/16: the architecture BEiT and DeiT both
modify, so the four compare pretraining recipes and windowed attention on a common base) and four "micro" variants of the same
timm architectures (narrow, shallow, patch 4) for the ``cpu`` and ``smoke`` profiles. Micro variants
have no pretrained weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from torch import nn

from .choices import BACKBONES, MICRO_BACKBONES, PAPER_BACKBONES
from .files import atomic_write_bytes, atomic_write_text, git_commit
from .rules import check_value


class WeightsError(ValueError):
    """A weights file is corrupt or belongs to another model. The message names the file and the fix."""


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights were requested but are not available on this machine."""


class UnknownBackboneError(ValueError):
    """The backbone name is not in :data:`BACKBONES`."""


HOW_TO_GET_WEIGHTS = (
    "Pretrained weights come from the Hugging Face cache that timm uses (~/.cache/huggingface/hub, "
    "or $HF_HUB_CACHE / $HF_HOME). Fix: run once on a machine with network access "
    "(python -c \"import timm; timm.create_model('{timm}', pretrained=True)\") and copy the cache "
    "folder here (set HF_HUB_CACHE to it), or download the weights file yourself and pass "
    "weights_file='path/to/model.safetensors', or use pretrained=False (random initialisation)."
)


def _check_backbone(name: str) -> dict:
    if name not in BACKBONES:
        raise UnknownBackboneError(
            f"unknown backbone {name!r}. Known backbones: {', '.join(BACKBONES)} "
            f"(paper: {', '.join(PAPER_BACKBONES)}; CPU micro variants: {', '.join(MICRO_BACKBONES)})."
        )
    return BACKBONES[name]


# ----------------------------------------------------------------------------------- EdgeNet -----
EDGENET_INIT_SEED = 0  # EdgeNet's Kaiming-initialised filters, drawn from a generator of their own
SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_Y = SOBEL_X.t().contiguous()


class EdgeNet(nn.Module):
    """Three-convolution edge enhancement, output expanded to ``out_channels`` (module docstring)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 8,
                 sobel_init: bool = True, residual: bool = True, edge_gain: float = 0.0):
        super().__init__()
        self.in_channels, self.out_channels, self.residual = in_channels, out_channels, residual
        if residual and in_channels != out_channels:
            raise ValueError(f"EdgeNet(residual=True) needs in_channels == out_channels, got "
                             f"{in_channels} and {out_channels}; use residual=False.")
        if width < 4:
            raise ValueError(f"EdgeNet width must be >= 4 (four Sobel channels), got {width}.")
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, padding_mode="replicate")
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate")
        self.conv3 = nn.Conv2d(width, 1, 1)
        self.act = nn.ReLU()
        with torch.no_grad():
            if sobel_init:
                for k, f in enumerate((SOBEL_X, -SOBEL_X, SOBEL_Y, -SOBEL_Y)):
                    self.conv1.weight[k] = f.expand(in_channels, 3, 3) / in_channels  # on the luminance
                    self.conv1.bias[k] = 0.0
                nn.init.dirac_(self.conv2.weight)
                self.conv2.bias.zero_()
                self.conv3.weight.zero_()
                self.conv3.weight[0, :4] = edge_gain
                self.conv3.bias.zero_()

    def edge_map(self, x: torch.Tensor) -> torch.Tensor:
        """The one-channel learned edge map, shape (N, 1, H, W)."""
        return self.conv3(self.act(self.conv2(self.act(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.edge_map(x).expand(-1, self.out_channels, -1, -1)
        return x + e if self.residual else e


# ---------------------------------------------------------------------------- composed model -----
class EdgeNetClassifier(nn.Module):
    """EdgeNet (optional) -> timm backbone (pooled features) -> dropout -> linear head."""

    def __init__(self, backbone: nn.Module, num_classes: int, dropout: float = 0.0,
                 edgenet: EdgeNet | None = None, backbone_name: str = ""):
        super().__init__()
        self.edgenet = edgenet if edgenet is not None else nn.Identity()
        self.backbone = backbone
        self.backbone_name = backbone_name
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(backbone.num_features, num_classes)

    @property
    def uses_edgenet(self) -> bool:
        return isinstance(self.edgenet, EdgeNet)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.backbone(self.edgenet(x))))


def create_backbone(name: str, image_size: int | None = None, pretrained: bool = False,
                    weights_file: str | os.PathLike | None = None, allow_download: bool = True) -> nn.Module:
    """A timm backbone without classifier (``num_classes=0``), random init unless weights are asked for.

    ``pretrained=True`` loads timm's weights from the Hugging Face cache (downloading only if
    ``allow_download`` and the network is there); ``weights_file`` loads a local ``.safetensors``
    (or a ``torch.save`` file through ``torch.load(weights_only=True)``) into the backbone.
    """
    import timm

    spec = _check_backbone(name)
    kwargs = dict(spec["kwargs"])
    if image_size is not None:
        kwargs["img_size"] = image_size
    if pretrained and weights_file is None:
        if not spec["paper"]:
            raise WeightsNotFoundError(
                f"backbone {name!r} is a CPU micro variant with no pretrained weights; use "
                f"pretrained=False, or one of {', '.join(PAPER_BACKBONES)}.")
        _require_cached(name, allow_download)
        try:
            return timm.create_model(spec["timm"], pretrained=True, num_classes=0, cache_dir=hub_cache_dir(),
                                     **kwargs)
        except Exception as exc:  # network errors, hub errors: say how to get the weights
            raise WeightsNotFoundError(
                f"pretrained weights for {name!r} could not be loaded ({exc.__class__.__name__}: {exc}). "
                + HOW_TO_GET_WEIGHTS.format(timm=spec["timm"])) from exc
    model = timm.create_model(spec["timm"], pretrained=False, num_classes=0, **kwargs)
    if weights_file is not None:
        load_backbone_weights(model, weights_file, name=name)
    return model


def _hub_files(timm_name: str) -> tuple[str | None, list[str]]:
    import timm

    cfg = timm.models.get_pretrained_cfg(timm_name)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    return hub_id, ["model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"]


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment *now*: ``$HF_HUB_CACHE``, else
    ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``.

    ``huggingface_hub`` reads these variables once, when it is imported; resolving them at each
    call lets a notebook or test point at a copied cache after the import.
    """
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def pretrained_available(name: str) -> bool:
    """True when timm's pretrained weights for backbone ``name`` are in the local Hugging Face cache."""
    spec = _check_backbone(name)
    if not spec["paper"]:
        return False
    from huggingface_hub import try_to_load_from_cache

    hub_id, files = _hub_files(spec["timm"])
    if not hub_id:
        return False
    hub_id = hub_id.split("@")[0]
    return any(isinstance(try_to_load_from_cache(hub_id, f, cache_dir=hub_cache_dir()), str) for f in files)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def _require_cached(name: str, allow_download: bool) -> None:
    timm_name = BACKBONES[name]["timm"]
    if pretrained_available(name):
        return
    if allow_download and not _offline():
        return  # timm will try the hub; failures become WeightsNotFoundError
    hub_id, _ = _hub_files(timm_name)
    raise WeightsNotFoundError(
        f"pretrained weights for backbone {name!r} ({hub_id}) are not in the local Hugging Face cache "
        f"({hub_cache_dir()})"
        f"{' and downloads are off' if not allow_download or _offline() else ''}. "
        + HOW_TO_GET_WEIGHTS.format(timm=timm_name))


def read_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict safely: safetensors, or ``torch.load(weights_only=True)``. Clear errors."""
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {path} does not exist. Fix: pass the path of a "
                                   ".safetensors (or torch.save) file, or use pretrained=False.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"weights file {path} is corrupt or not a weights file ({exc.__class__.__name__}: "
            f"{str(exc)[:200]}). Fix: download it again, or check that it is a .safetensors / "
            "torch.save state dict.") from exc
    for key in ("state_dict", "model", "module"):  # common wrappers
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"weights file {path} does not hold a state dict of tensors. Fix: save "
                           "model.state_dict() (safetensors.torch.save_file or torch.save).")
    return state


def _load_checked(module: nn.Module, state: dict, path, what: str) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (e.g. {'; '.join(shapes[:3])})")
        raise WeightsError(
            f"weights file {path} does not fit {what}: {'; '.join(parts)}. It was probably saved from "
            "another model or image size. Fix: pass the weights of this backbone (and the same "
            "image_size), or use pretrained=False.")
    module.load_state_dict(state, strict=True)


def load_backbone_weights(backbone: nn.Module, path, name: str = "the backbone") -> None:
    """Load a local weights file into a timm backbone (classifier keys of timm checkpoints dropped)."""
    state = read_weights_file(path)
    classifier = (getattr(backbone, "pretrained_cfg", None) or {}).get("classifier") or "head"
    state = {k: v for k, v in state.items() if not (k == classifier or k.startswith(classifier + "."))}
    _load_checked(backbone, state, path, f"backbone {name!r}")


def load_model_weights(model: EdgeNetClassifier, path) -> None:
    """Load a whole composed model's state dict (as saved by ``model.state_dict()``)."""
    _load_checked(model, read_weights_file(path), path, f"the composed model ({model.backbone_name})")


MANIFEST_SUFFIX = ".manifest"  # JSON, but not *.json: records are the only *.json beside it


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_name(backbone: str, seed: int) -> str:
    """The file name of B0's pretrained weights of ``backbone`` with pretraining seed ``seed``."""
    return f"{backbone}-seed{seed}.safetensors"


def save_backbone_weights(backbone: nn.Module, path, *, name: str, recipe: dict, record: str | None = None) -> Path:
    """Save a backbone as safetensors plus a manifest (``<stem>.manifest``, JSON); return the weights path.

    The manifest holds the file's SHA-256, the backbone name, the recipe (how the weights were made),
    the git commit and the results record that describes the run, so that :func:`verify_weights`
    can check a file before it is loaded through ``weights_file``.
    """
    from safetensors.torch import save

    path = atomic_write_bytes(path, save({k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}))
    manifest = {"file": path.name, "sha256": file_sha256(path), "backbone": name, "recipe": recipe,
                "commit": git_commit(), "record": record}
    atomic_write_text(path.with_name(path.stem + MANIFEST_SUFFIX), json.dumps(manifest, indent=1) + "\n")
    return path


def verify_weights(path) -> dict:
    """The manifest of a weights file after checking its SHA-256; :class:`WeightsError` if it does not match."""
    path = Path(path)
    mpath = path.with_name(path.stem + MANIFEST_SUFFIX)
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {path} does not exist. Fix: run the notebook that makes it "
                                   "(B0 for the stand-in's pretrained weights) or pass another weights_file.")
    if not mpath.is_file():
        raise WeightsError(f"weights file {path} has no manifest {mpath.name}. Fix: keep the manifest beside the "
                           "weights (it records their SHA-256, recipe and commit).")
    manifest = json.loads(mpath.read_text())
    digest = file_sha256(path)
    if digest != manifest.get("sha256"):
        raise WeightsError(f"weights file {path} does not match its manifest (SHA-256 {digest[:12]}... vs "
                           f"{str(manifest.get('sha256'))[:12]}...). Fix: restore the file or re-run the notebook "
                           "that made it.")
    return manifest


def annotate_manifest(path, **fields) -> dict:
    """Add fields (e.g. the record that describes the run) to the manifest of a weights file."""
    path = Path(path)
    mpath = path.with_name(path.stem + MANIFEST_SUFFIX)
    manifest = {**json.loads(mpath.read_text()), **fields}
    atomic_write_text(mpath, json.dumps(manifest, indent=1) + "\n")
    return manifest


def build_model(backbone: str, num_classes: int, image_size: int | None = None, edgenet: bool = True,
                dropout: float = 0.0, pretrained: bool = False, weights_file=None,
                trainable_blocks: int = -1, allow_download: bool = True,
                edgenet_residual: bool = True, edge_gain: float = 0.0) -> EdgeNetClassifier:
    """The paper's composed model. ``trainable_blocks=-1`` trains everything (see :func:`set_trainable`).

    With ``edgenet=True`` and the default ``edge_gain=0`` the model starts as exactly the function of
    ``edgenet=False`` under the same seed (EdgeNet's output layer is zero and its creation leaves the
    global random generator alone): see the module docstring, "A fair start".
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}.")
    bb = create_backbone(backbone, image_size=image_size, pretrained=pretrained,
                         weights_file=weights_file, allow_download=allow_download)
    in_ch = getattr(bb, "pretrained_cfg", {}).get("input_size", (3,))[0]
    en = None
    if edgenet:  # seeded on its own: the global generator (head init, dropout, data order) is untouched
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(EDGENET_INIT_SEED)
            en = EdgeNet(in_ch, in_ch, residual=edgenet_residual, edge_gain=edge_gain)
    model = EdgeNetClassifier(bb, num_classes, dropout=dropout, edgenet=en, backbone_name=backbone)
    set_trainable(model, trainable_blocks)
    return model


def compile_backbone(model: EdgeNetClassifier, mode: str | None = None) -> EdgeNetClassifier:
    """``torch.compile`` the backbone in place (training and evaluation); EdgeNet and the head stay eager.

    ``mode``: torch.compile's mode (None: the default; ``"max-autotune"`` searches kernels and uses CUDA
    graphs, ``"reduce-overhead"`` CUDA graphs only, ``"max-autotune-no-cudagraphs"`` the search only).

    The backbone holds nearly all the work. EdgeNet stays out because inductor's layout choice for its
    convolutions breaks the backward of its replicate padding (a stride assertion in
    ``replication_pad2d_backward``), and its three small convolutions gain little from compiling.
    """
    model.backbone.compile(**({"mode": mode} if mode else {}))
    return model


# ------------------------------------------------------------------------------------ freezing -----
def backbone_blocks(backbone: nn.Module) -> list[tuple[str, nn.Module]]:
    """The backbone's transformer blocks in forward order, with their parameter-name prefixes."""
    if hasattr(backbone, "blocks"):  # ViT, DeiT, BEiT
        return [(f"blocks.{i}", b) for i, b in enumerate(backbone.blocks)]
    if hasattr(backbone, "stages"):  # Swin V2 (cr)
        return [(f"stages.{s}.blocks.{i}", b) for s, st in enumerate(backbone.stages)
                for i, b in enumerate(st.blocks)]
    raise TypeError(f"do not know the blocks of {type(backbone).__name__}")


FINAL_PREFIXES = ("norm.", "fc_norm.", "head.")  # backbone layers after the last block


def set_trainable(model: EdgeNetClassifier, trainable_blocks: int) -> list[str]:
    """Freeze the backbone except its last ``trainable_blocks`` blocks and its final norm.

    EdgeNet and the linear head always stay trainable. ``trainable_blocks=-1`` (or >= the number of
    blocks plus one) makes every parameter trainable, patch embedding included. Returns the
    trainable parameter names.
    """
    check_value("trainable_blocks", trainable_blocks)
    blocks = backbone_blocks(model.backbone)
    if trainable_blocks == -1 or trainable_blocks > len(blocks):
        for p in model.parameters():
            p.requires_grad_(True)
    else:
        keep = tuple(prefix + "." for prefix, _ in blocks[len(blocks) - trainable_blocks:]) if trainable_blocks else ()
        for n, p in model.backbone.named_parameters():
            p.requires_grad_(n.startswith(keep) or n.startswith(FINAL_PREFIXES))
        for p in list(model.edgenet.parameters()) + list(model.head.parameters()):
            p.requires_grad_(True)
    return [n for n, p in model.named_parameters() if p.requires_grad]


def count_parameters(model: nn.Module) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}
