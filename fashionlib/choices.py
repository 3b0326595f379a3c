"""The choices a parameter can take, as plain data: the single list of each (no torch, no Keras here).

The parameter rules (:mod:`fashionlib.rules`) check against these lists, and the library code that acts
on a choice reads the same list (``backend.use_backend``, ``schedules.make_schedule``,
``keras_models.BUILDERS``, ``torch_models.build_model``), so the two cannot drift apart.
"""

from __future__ import annotations

PROFILE_NAMES = ("smoke", "cpu", "standin", "paper")

# ------------------------------------------------------------------------------ study A (Keras) -----
KERAS_BACKENDS = ("tensorflow", "torch", "jax")
# Keras backends that can hold the training arrays on the device (study A's ``device_data`` / ``fast_path``).
DEVICE_DATA_BACKENDS = ("torch", "jax")
VMAP_BACKENDS = ("jax",)  # study A's vectorised path (fast_path='vmap', fashionlib.train_vmap)
SCHEDULES = ("paper", "constant", "exponential", "inverse_time", "cosine")
# The order of fashionlib.keras_models.BUILDERS, which is built from this list.
KERAS_MODELS = ("improved_cnn", "improved_cnn_strided", "cnn", "lenet5", "lstm", "bilstm")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
RECIPES = ("paper", "modern")  # study A training recipes (train_keras.FitConfig.recipe)
# Study A: what Keras validates on after each epoch ("test": the Keras-tutorial protocol, a diagnostic).
VALIDATION_MODES = ("split", "test")

# ----------------------------------------------------------------------- study B (PyTorch + timm) -----
DATASETS_B = ("fmnist_lt", "folder", "csv", "fashion_product_images")
BALANCE_METHODS = ("none", "resample", "oversample", "class_weights", "logit_adjust")

# Study B's backbones: name -> timm architecture, keyword overrides, family, whether it is one of the paper's
# four (with pretrained weights on the hub), and the smallest image it accepts (its patch size; a smaller
# image fails inside timm). fashionlib.torch_models builds them; the parameter rules check names and sizes.
BACKBONES: dict[str, dict] = {
    # the paper's four (224 px)
    "beit_base_patch16_224": {"timm": "beit_base_patch16_224", "kwargs": {}, "family": "BEiT", "paper": True,
                              "min_image": 16},
    "swinv2_cr_tiny_ns_224": {"timm": "swinv2_cr_tiny_ns_224", "kwargs": {}, "family": "Swin V2", "paper": True,
                              "min_image": 4},
    "deit_base_patch16_224": {"timm": "deit_base_patch16_224", "kwargs": {}, "family": "DeiT", "paper": True,
                              "min_image": 16},
    "vit_base_patch16_224": {"timm": "vit_base_patch16_224", "kwargs": {}, "family": "ViT", "paper": True,
                             "min_image": 16},
    # micro variants: same timm classes, narrow and shallow, patch 4, for CPUs (random init only). The micro
    # DeiT is the micro ViT (timm's DeiT class without a distillation token is ViT; same initial weights), so
    # B2's stand-in leaves it out; it stays for the other notebooks and exercises.
    "beit_micro": {"timm": "beit_base_patch16_224", "family": "BEiT", "paper": False, "min_image": 4,
                   "kwargs": {"patch_size": 4, "embed_dim": 64, "depth": 4, "num_heads": 2}},
    "swinv2_micro": {"timm": "swinv2_cr_tiny_ns_224", "family": "Swin V2", "paper": False, "min_image": 4,
                     "kwargs": {"embed_dim": 32, "depths": (1, 1, 1, 1), "num_heads": (1, 2, 4, 8)}},
    "deit_micro": {"timm": "deit_base_patch16_224", "family": "DeiT", "paper": False, "min_image": 4,
                   "kwargs": {"patch_size": 4, "embed_dim": 64, "depth": 4, "num_heads": 2}},
    "vit_micro": {"timm": "vit_base_patch16_224", "family": "ViT", "paper": False, "min_image": 4,
                  "kwargs": {"patch_size": 4, "embed_dim": 64, "depth": 4, "num_heads": 2}},
}
BACKBONES_B = tuple(BACKBONES)  # the names, in the table's order
PAPER_BACKBONES = tuple(k for k, v in BACKBONES.items() if v["paper"])
MICRO_BACKBONES = tuple(k for k, v in BACKBONES.items() if not v["paper"])
