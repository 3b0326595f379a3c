"""The improved CNN of JICT 2023 Table 1 (both readings) and the four baselines of Table 2.

Keras 3 only (``keras.layers``/``keras.ops``): the same code runs on the TensorFlow, PyTorch and JAX
backends. Every model takes ``(28, 28, 1)`` images normalised to zero mean / unit variance and
returns class probabilities (softmax, as in the paper).

Table 1 contradicts itself (see ``fashionlib.paper.JICT_TABLE1``):

* its *output-size* column (26x26x32 -> 13x13x32 -> 11x11x64 -> 5x5x64 -> 3x3x128 -> 1x1x256)
  follows exactly from stride-1 "valid" 3x3 convolutions and 2x2 stride-2 max pooling on a
  28x28 input. That is :func:`improved_cnn`, the default (487,818 parameters);
* its *stride* column (C1 1, M1 1, C2 2, M2 2, C3 2, C4 2) cannot be built with "valid"
  padding at all (C4 would get a 2x2 input); :func:`improved_cnn_strided` takes the strides
  literally with "same" padding for C2-C4 (shapes 26-25-13-6-3-2).
* "Input 26x26x1" contradicts the 28x28 images and the stated "(28, 28, 1)" preprocessed
  size; it equals C1's output, so we read it as a typo: the input is 28x28x1 and C1 ("valid")
  makes 26x26x32, as the output column says.

Dropout positions follow Table 1's dropout column (after M1 0.25, after M2 0.25, after C4 0.5,
after FC2 0.5) and the text ("dropout set to 0.25 ... then two connected convolutional layers,
dropout 0.5 ... fully connected layer, dropout 0.5").

Baselines (the paper gives no architectures; we follow standard, cited designs):

* ``cnn``: the Keras "Simple MNIST convnet" example (F. Chollet, keras.io/examples/vision/mnist_convnet):
  Conv 32 -> pool -> Conv 64 -> pool -> Flatten -> Dropout 0.5 -> Dense 10 (34,826 parameters).
* ``lenet5``: LeNet-5 (LeCun et al., 1998, Proc. IEEE 86(11)): C1 6@5x5 (padding "same" on 28x28 in
  place of the original 32x32 input) -> S2 avg-pool -> C3 16@5x5 -> S4 avg-pool -> C5 120 -> F6 84
  -> 10, tanh activations (61,706 parameters).
* ``lstm``: one LSTM layer of 128 units reading the image row by row (28 time steps of 28 pixels),
  last hidden state -> Dense 10, as in the Keras/TensorFlow RNN guide's MNIST example
  (tensorflow.org/guide/keras/working_with_rnns) with 128 units.
* ``bilstm``: the same with ``Bidirectional(LSTM(128))`` (Schuster & Paliwal, 1997).
"""

from __future__ import annotations

from .backend import torch_before_tensorflow

torch_before_tensorflow()
import keras  # noqa: E402
from keras import layers

from .choices import KERAS_MODELS

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


class ModelError(ValueError):
    """An unknown model name."""


def improved_cnn(input_shape=INPUT_SHAPE, num_classes: int = NUM_CLASSES, name: str = "improved_cnn"):
    """Table 1, the reading that reproduces its output-size column (default)."""
    return keras.Sequential([
        keras.Input(input_shape, name="I"),
        layers.Conv2D(32, 3, strides=1, padding="valid", activation="relu", name="C1"),   # 26x26x32
        layers.MaxPooling2D(2, strides=2, name="M1"),                                      # 13x13x32
        layers.Dropout(0.25, name="M1_dropout"),
        layers.Conv2D(64, 3, strides=1, padding="valid", activation="relu", name="C2"),   # 11x11x64
        layers.MaxPooling2D(2, strides=2, name="M2"),                                      # 5x5x64
        layers.Dropout(0.25, name="M2_dropout"),
        layers.Conv2D(128, 3, strides=1, padding="valid", activation="relu", name="C3"),  # 3x3x128
        layers.Conv2D(256, 3, strides=1, padding="valid", activation="relu", name="C4"),  # 1x1x256
        layers.Dropout(0.5, name="C4_dropout"),
        layers.Flatten(name="flatten"),
        layers.Dense(256, activation="relu", name="FC1"),
        layers.Dense(128, activation="relu", name="FC2"),
        layers.Dropout(0.5, name="FC2_dropout"),
        layers.Dense(num_classes, activation="softmax", name="O"),
    ], name=name)


def improved_cnn_strided(input_shape=INPUT_SHAPE, num_classes: int = NUM_CLASSES,
                         name: str = "improved_cnn_strided"):
    """Table 1, the reading that takes its stride column literally ("same" padding from C2 on)."""
    return keras.Sequential([
        keras.Input(input_shape, name="I"),
        layers.Conv2D(32, 3, strides=1, padding="valid", activation="relu", name="C1"),   # 26x26x32
        layers.MaxPooling2D(2, strides=1, name="M1"),                                      # 25x25x32
        layers.Dropout(0.25, name="M1_dropout"),
        layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="C2"),    # 13x13x64
        layers.MaxPooling2D(2, strides=2, name="M2"),                                      # 6x6x64
        layers.Dropout(0.25, name="M2_dropout"),
        layers.Conv2D(128, 3, strides=2, padding="same", activation="relu", name="C3"),   # 3x3x128
        layers.Conv2D(256, 3, strides=2, padding="same", activation="relu", name="C4"),   # 2x2x256
        layers.Dropout(0.5, name="C4_dropout"),
        layers.Flatten(name="flatten"),
        layers.Dense(256, activation="relu", name="FC1"),
        layers.Dense(128, activation="relu", name="FC2"),
        layers.Dropout(0.5, name="FC2_dropout"),
        layers.Dense(num_classes, activation="softmax", name="O"),
    ], name=name)


def cnn(input_shape=INPUT_SHAPE, num_classes: int = NUM_CLASSES, name: str = "cnn"):
    """Basic CNN baseline: the Keras "Simple MNIST convnet" example."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ], name=name)


def lenet5(input_shape=INPUT_SHAPE, num_classes: int = NUM_CLASSES, name: str = "lenet5"):
    """LeNet-5 (LeCun et al., 1998) on 28x28 inputs ("same" padding in C1 replaces 32x32 inputs)."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(6, 5, padding="same", activation="tanh", name="C1"),     # 28x28x6
        layers.AveragePooling2D(2, name="S2"),                                 # 14x14x6
        layers.Conv2D(16, 5, padding="valid", activation="tanh", name="C3"),   # 10x10x16
        layers.AveragePooling2D(2, name="S4"),                                 # 5x5x16
        layers.Flatten(),
        layers.Dense(120, activation="tanh", name="C5"),
        layers.Dense(84, activation="tanh", name="F6"),
        layers.Dense(num_classes, activation="softmax", name="output"),
    ], name=name)


def lstm(input_shape=INPUT_SHAPE, num_classes: int = NUM_CLASSES, units: int = 128, name: str = "lstm"):
    """LSTM over image rows: 28 time steps of 28 pixels, last hidden state -> softmax."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Reshape((input_shape[0], input_shape[1] * input_shape[2]), name="rows"),
        layers.LSTM(units, name="lstm"),
        layers.Dense(num_classes, activation="softmax", name="output"),
    ], name=name)


def bilstm(input_shape=INPUT_SHAPE, num_classes: int = NUM_CLASSES, units: int = 128, name: str = "bilstm"):
    """Bidirectional LSTM over image rows."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Reshape((input_shape[0], input_shape[1] * input_shape[2]), name="rows"),
        layers.Bidirectional(layers.LSTM(units), name="bilstm"),
        layers.Dense(num_classes, activation="softmax", name="output"),
    ], name=name)


# name -> builder, one per choice of ``choices.KERAS_MODELS`` (each builder is the function of that name)
BUILDERS = {name: globals()[name] for name in KERAS_MODELS}


def augmentation(input_shape=INPUT_SHAPE, shift: float = 2 / 28, name: str = "augment"):
    """Training-time augmentation: random horizontal flip and a random shift of up to ``shift``.

    Not in the paper's Implementation Detail; its introduction lists "data augmentation" among the
    strategies used against overfitting without saying which. Inactive at inference.
    """
    return keras.Sequential([
        keras.Input(input_shape),
        layers.RandomFlip("horizontal", name="flip"),
        layers.RandomTranslation(shift, shift, fill_mode="nearest", name="shift"),
    ], name=name)


def build_model(name: str, input_shape=INPUT_SHAPE, num_classes: int = NUM_CLASSES, augment: bool = False,
                **kwargs):
    """Build the Keras model ``name`` (one of ``choices.KERAS_MODELS``), optionally behind augmentation."""
    if name not in BUILDERS:
        raise ModelError(f"unknown model {name!r} (parameter 'model'/'models'); choose one of "
                         f"{', '.join(map(repr, KERAS_MODELS))}.")
    net = BUILDERS[name](input_shape=input_shape, num_classes=num_classes, **kwargs)
    if not augment:
        return net
    return keras.Sequential([keras.Input(input_shape), augmentation(input_shape), net], name=f"{name}_augmented")


def layer_table(model) -> "pandas.DataFrame":  # noqa: F821
    """One row per layer: name, type, kernel, strides, output shape, parameters (for Table 1)."""
    import pandas as pd

    rows = []
    for layer in model.layers:
        cfg = layer.get_config()
        out = layer.output.shape if hasattr(layer, "output") else None
        rows.append({
            "layer": layer.name,
            "type": type(layer).__name__,
            "kernel": cfg.get("kernel_size") or cfg.get("pool_size"),
            "strides": cfg.get("strides"),
            "padding": cfg.get("padding"),
            "output": tuple(out[1:]) if out is not None else None,
            "dropout": cfg.get("rate"),
            "params": layer.count_params(),
        })
    return pd.DataFrame(rows)
