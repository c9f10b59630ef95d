"""Loaded model → class probabilities (and the features of the out-of-distribution score: the dense layer's and
a convolution's, ``CONV_LAYER``) for batches of 256-level images. TensorFlow is imported here, on load."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .modeldir import WEIGHTS, ModelInfo
from .quiet import import_tensorflow
from .ood import OUTLIER_LAYER, LayerSpec, OodModel
from .size_net import SIZE_WEIGHTS, TARGETS, SizeNetInfo

#: the layer whose activations are the first columns of ``features`` (``model.build_model``'s Dense 512 or 256)
FEATURE_LAYER = "dense"
#: the convolution whose channels' standard deviations over the image follow them: the paper network's second, the
#: deep network's second stage's first. For the deep network, on a development set of simulator/foreign.py (100 frames per
#: kind, seed 2) conv2 flagged 63.2 %, conv2_2 63.1, conv3 65.6 and conv3_2 59.6 %; but with conv3 the real DESY
#: frames, fine-tuned for, scored 0.88-1.00 (with conv2 0.53-0.59), and their rows turned ``unknown`` under small
#: changes of the mask (README, "Robust to the mask")
CONV_LAYER = "conv2"
#: images per pass of the network at most: its activations take about 1.6 MB an image (a pass over a 1,000-frame
#: file's frames at once took 1.7 GB); passes of 64 are as fast per image as larger ones
FORWARD_BATCH = 64
#: Gaussians per class of the convolution's features in the out-of-distribution score (``ood.py``)
CONV_COMPONENTS = 16
#: per network, the convolutions (after their ReLU) whose channels' mean, standard deviation and maximum over the
#: image follow: with the dense layer, what the outlier-exposure layer of the out-of-distribution score reads
STATISTICS_LAYERS = {"paper": ("conv1", "conv2"), "deep": ("relu1", "conv2", "conv2_2", "conv3", "conv3_2")}


class Predictor:
    """Holds one loaded model; ``predict`` takes uint8 images (N, rows, cols) on the model's grid."""

    def __init__(self, model_dir: str | Path | None = None, with_ood: bool = True):
        """``with_ood``: load the directory's out-of-distribution statistics (False: scores are None)."""
        self.info = ModelInfo.read(model_dir)
        import_tensorflow()
        from .model import build_model

        weights = self.info.path / WEIGHTS
        if weights.exists() and not weights.is_file():
            raise ValueError(f"{weights}: not a file (a directory, a device or a FIFO), where the model's weights "
                             "belong")
        self.model = build_model(self.info.architecture, self.info.grid.shape, len(self.info.class_names))
        try:
            self.model.load_weights(weights)
        except (OSError, ValueError) as exc:
            rows, cols = self.info.grid.shape
            cause = _load_cause(exc, f"they do not fit the {self.info.architecture} network for "
                                     f"{len(self.info.class_names)} classes on a {rows} × {cols} grid that model.json "
                                     "describes")
            raise ValueError(f"{weights}: cannot load model weights ({cause})".splitlines()[0]) from None
        import tensorflow as tf

        self.ood = OodModel.load(self.info.path, recorded="ood" in self.info.meta) if with_ood else None
        import keras

        stats = [self.model.get_layer(name).output for name in STATISTICS_LAYERS[self.info.architecture]]
        outputs = keras.Model(self.model.inputs, [self.model.output, self.model.get_layer(FEATURE_LAYER).output,
                                                  self.model.get_layer(CONV_LAYER).output, *stats])

        def both(x, training):
            probabilities, dense, conv, *maps = outputs(x, training=training)
            columns = [dense, tf.math.reduce_std(conv, axis=[1, 2])]
            for channels in maps:
                columns += [tf.reduce_mean(channels, axis=[1, 2]), tf.math.reduce_std(channels, axis=[1, 2]),
                            tf.reduce_max(channels, axis=[1, 2])]
            return probabilities, tf.concat(columns, axis=1)

        n_dense, n_conv = self.model.get_layer(FEATURE_LAYER).units, self.model.get_layer(CONV_LAYER).filters
        n_all = n_dense + n_conv + 3 * sum(self.model.get_layer(name).output.shape[-1]
                                           for name in STATISTICS_LAYERS[self.info.architecture])
        #: the layers of the out-of-distribution score (``ood.py``): their columns of ``features``
        self.feature_layers = (LayerSpec("dense", 0, n_dense),
                               LayerSpec(f"{CONV_LAYER}_std", n_dense, n_dense + n_conv, CONV_COMPONENTS),
                               LayerSpec(OUTLIER_LAYER, 0, n_all))
        if self.ood is not None and not _same_columns(self.ood.layers, self.feature_layers):
            raise ValueError(f"{self.info.path}: its out-of-distribution statistics are for other layers than its "
                             f"network's ({', '.join(layer.name for layer in self.feature_layers)}): refit them with "
                             "gisaxs-live calibrate-ood")
        self.size_info, size_net = self._load_size_net()
        # one traced graph for every batch size: 3.5× faster than eager calls at batch 1, 1.8× at batch 64
        spec = tf.TensorSpec([None, *self.info.grid.shape, 1], tf.float32)
        if size_net is None:
            self._forward = tf.function(lambda x: (*both(x, training=False), None), input_signature=[spec])
        else:
            self._forward = tf.function(lambda x: (*both(x, training=False), size_net(x, training=False)),
                                        input_signature=[spec])

    def _load_size_net(self):
        """(SizeNetInfo, keras model) of the directory's size net, or (None, None) where it has none."""
        weights = self.info.path / SIZE_WEIGHTS
        if "size" not in self.info.meta:
            return None, None
        if not weights.is_file():
            raise ValueError(f"{weights}: missing, though its model.json records a size net: the size columns would "
                             "stay empty; restore the file or train it again with gisaxs-live train-size")
        try:
            info = SizeNetInfo.from_meta(self.info.meta["size"])
            net = info.build(self.info.grid.shape)
            net.load_weights(weights)
            return info, net
        except (OSError, ValueError, KeyError) as exc:
            cause = _load_cause(exc, "they do not fit the size net on the grid that model.json describes")
            raise ValueError(f"{weights}: cannot load the size net ({cause})".splitlines()[0]) from None

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.info.class_names

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, n_classes) float64 for uint8 images (N, rows, cols)."""
        return self.forward(images)[0]

    def forward(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N, n_classes), features (N, ``feature_layers[-1].stop``): the dense layer's activations,
        the standard deviation over the image of each channel of the ``CONV_LAYER`` convolution, then the mean,
        standard deviation and maximum of each channel of each ``STATISTICS_LAYERS`` convolution), float64, for
        uint8 images."""
        return self.forward_all(images)[:2]

    def forward_all(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``forward`` and the size net's outputs (N, 2 × len(TARGETS): standardised means, log variances; read
        them with ``size_info.physical`` or ``size_net.estimates``; None for a model without a size net), in
        passes of at most ``FORWARD_BATCH`` images through both networks."""
        images = np.asarray(images)
        if images.ndim != 3 or images.shape[1:] != self.info.grid.shape:
            raise ValueError(f"images of shape {images.shape} do not match the model grid {self.info.grid.shape}")
        if len(images) == 0:
            size = None if self.size_info is None else np.zeros((0, 2 * len(TARGETS)))
            return np.zeros((0, len(self.class_names))), np.zeros((0, 0)), size
        parts = [self._forward(images[i:i + FORWARD_BATCH, ..., np.newaxis].astype(np.float32) / 255.0)
                 for i in range(0, len(images), FORWARD_BATCH)]  # each output: one tensor per part
        probabilities, features, size = (None if output[0] is None else np.concatenate(output, dtype=np.float64)
                                         for output in zip(*parts))
        return probabilities, features, size

    def ood_scores(self, features: np.ndarray) -> np.ndarray | None:
        """``OodModel.score`` of ``features``; None when the model directory has no ``ood.npz``."""
        return None if self.ood is None else self.ood.score(features)


def _load_cause(exc: Exception, mismatch: str) -> str:
    """Why Keras could not load weights: ``mismatch`` where they are for another network (Keras: "could not be
    loaded"), else what it said."""
    return mismatch if "could not be loaded" in str(exc) else str(exc)


def _same_columns(fitted, layers) -> bool:
    """Whether fitted layers (``OodModel.layers``; a dense-only fit is the first of ``layers`` alone) read the
    columns ``layers`` give, by name."""
    given = {layer.name: (layer.start, layer.stop) for layer in layers}
    return all(given.get(layer.name) == (layer.start, layer.stop) for layer in fitted)
