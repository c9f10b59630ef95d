"""The network, built by a pure function (Keras 3 on TensorFlow); each one's layers in words are ``LAYOUTS``.

``paper`` is Ikemoto et al.'s Table 1, about 1.0 M parameters on a 90×70×1 input. ``deep`` is the size net's
layout (``size_net.conv_features``, shared with it) with a softmax head, about 1.8 M parameters.
"""

from __future__ import annotations

ARCHITECTURES = ("paper", "deep")

#: each network's layers in words (the model card's "Classifier" line)
LAYOUTS = {"paper": "Ikemoto et al.'s Table 1: Conv 4×4×32 → MaxPool 4 → Conv 4×4×64 → MaxPool 4 → Dense 512 "
                    "(dropout 0.2) → softmax",
           "deep": "Conv 3×3×16 with a learned bias per grid row and column → MaxPool 2 → 2 × Conv 3×3×32 → "
                   "MaxPool 2 → 2 × Conv 3×3×64 → MaxPool 2 → Dense 256 (dropout 0.2) → softmax"}


def build_model(architecture: str, input_shape: tuple[int, int], n_classes: int):
    """An uncompiled ``keras.Model`` mapping (batch, rows, cols, 1) floats in [0, 1] to class probabilities."""
    import keras
    from keras import layers

    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    inputs = keras.Input(shape=(*input_shape, 1), name="image")
    x = _paper_features(inputs) if architecture == "paper" else _deep_features(inputs)
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"gisaxs_{architecture}")


def _paper_features(x):
    from keras import layers

    for stage, filters in enumerate((32, 64), start=1):
        x = layers.Conv2D(filters, 4, padding="same", activation="relu", name=f"conv{stage}")(x)
        x = layers.MaxPooling2D(4, strides=4, padding="same", name=f"pool{stage}")(x)
    x = layers.Flatten(name="flatten")(x)
    return layers.Dense(512, activation="relu", name="dense")(x)


def _deep_features(x):
    from .size_net import conv_features

    return conv_features(x, (16, 32, 64), depth=2, position=True, prefix="")
