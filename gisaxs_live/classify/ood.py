""""None of these": an out-of-distribution score from the CNN's own features (pure NumPy; no TensorFlow).

Method: the relative Mahalanobis distance (Ren et al. 2021, "A simple fix to Mahalanobis distance for
improving near-OOD detection") in more than one layer of the network (Lee et al., NeurIPS 2018, "A simple
unified framework for detecting out-of-distribution samples and adversarial attacks"). In each layer the
features are modelled per class as Gaussians with their own means μ_k and one covariance Σ shared by all,
and as one background Gaussian (μ_0, Σ_0) over all classes together, all estimated on detector-like training
images. A frame's distance in the layer is

    d(f) = min_k (f − μ_k)ᵀ Σ⁻¹ (f − μ_k) − (f − μ_0)ᵀ Σ_0⁻¹ (f − μ_0),

(subtracting the background term removes what every pattern shares, which helps against foreign shapes close
to the known ones), divided by its own ``quantile`` over held-out detector-like patterns of the known classes
(1 at that quantile in every layer). The frame's distance is the largest of its layers', and ``ood_score`` =
that / its ``quantile`` over the same held-out patterns (``training.flag_defaults.QUANTILE``, 0.985: about
1.5 % of genuine frames are flagged). A score above 1 makes the row ``unknown``.

The layers (``Predictor.feature_layers``: columns of one feature vector): the dense layer's activations (512 in the
paper network, 256 in the deep one) with one mean per class (μ_k = the class means), and the standard deviation
over the image of each channel of a convolution (``predictor.CONV_LAYER``: the paper network's second, 64
channels; the deep network's second stage's first, 32) — how strongly each of its filters responds somewhere: streaks, Bragg
rods, a bare Yoneda band — with ``components`` means per class, the class's patterns split by k-means (as SSD
does, Sehwag et al., ICLR 2021: one Gaussian is too coarse for a class that spans 5-40 nm and every
interference). Measured on ``simulator/foreign.py``'s kinds with the paper network: the dense layer alone flags 56 % of the
foreign frames, both layers 67 % at the same held-out rate (gratings 18 → 88 %, bare Yoneda bands 85 → 98 %). Covariances
are shrunk towards their mean variance (``shrinkage``) so that they invert with few patterns.

A third layer, ``OutlierLayer`` (outlier exposure, Hendrycks et al., ICLR 2019), is three small networks on all
the features (the dense layer's, then the mean, standard deviation and maximum of each channel of every
convolution, ``predictor.STATISTICS_LAYERS``), their logits averaged, trained to tell detector-like patterns of
the known classes from frames of ``simulator.foreign``'s kinds (``training/outlier_exposure.py``). Its distance is
its logit, 0 at the held-out median and 1 at ``OUTLIER_QUANTILE``. Hollow core-shell spheres and off-centre folds
lie as close to training patterns in the input as genuine frames do, and inside the class Gaussians; networks
shown such frames find what sets them apart (bundled model, bench_ood.py: core-shell spheres 10 → 92.5 %, all
kinds 61 → 91 % at 1.2 % false flags). Kinds they were not shown they catch less well
(``bench_ood.py --leave-one-out``).

Stored in the model directory as ``ood.npz``; a file from before the layers (dense only) or before the network
still loads and scores the same.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..replacing import replacing
from .blas import single_threaded_blas
from .modeldir import WEIGHTS

OOD_FILE = "ood.npz"
#: the name of the outlier-exposure layer (``OutlierLayer``) among a predictor's feature layers
OUTLIER_LAYER = "outliers"
#: the held-out quantile at which the outlier-exposure layer's distance is 1 (the Gaussian layers': ``quantile``).
#: Higher than theirs: in its eyes real frames lie further from the simulation than simulated held-out frames do
#: (the DESY series, fine-tuned for, with one network: at 0.77-1.17 of the threshold at its 99th percentile,
#: 0.62-0.95 at its 99.8th), so it speaks only for frames more foreign-like than all but 2 in 1000 simulated
#: known frames (one network, bundled model: 93.9 % of the foreign frames flagged at 0.99, 91.9 % at 0.998,
#: 89.4 % at 0.999; README, "None of these")
OUTLIER_QUANTILE = 0.998


@dataclass(frozen=True)
class LayerSpec:
    """A layer of the feature vector: its ``name``, its columns [start, stop), and the Gaussians per class."""

    name: str
    start: int
    stop: int
    components: int = 1


@dataclass(frozen=True)
class LayerGaussians:
    """One layer's component means (n_components, D) and their shared precision matrix (D, D), the background
    mean (D,) and precision, and ``scale``: the held-out quantile of the layer's distance."""

    name: str
    start: int
    stop: int
    means: np.ndarray
    precision: np.ndarray
    background_mean: np.ndarray
    background_precision: np.ndarray
    scale: float = 1.0

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Relative Mahalanobis distance d(f) (module docstring) / ``scale``, per row of ``features`` (N, ≥ stop):
        the layer's columns."""
        f = np.asarray(features, np.float64)[:, self.start:self.stop]
        nearest = _squared_mahalanobis(f, self.means, self.precision).min(axis=1)
        background = _squared_mahalanobis(f, self.background_mean[None, :], self.background_precision)[:, 0]
        return (nearest - background) / self.scale


@dataclass(frozen=True)
class OutlierLayer:
    """Outlier exposure: small networks that tell detector-like patterns of the known classes from frames of
    ``simulator.foreign``'s kinds, on the columns [start, stop) of the features, standardised by ``centre`` and
    ``spread`` (D,): the mean over an ensemble of K networks of ReLU(x W1 + b1) · w2 + b2, W1 (K, D, H), b1 (K, H),
    w2 (K, H), b2 (K,), is the logit of "foreign". Its distance is (logit − ``offset``) / ``scale``: 0 at the
    held-out known patterns' median logit and 1 at their ``OUTLIER_QUANTILE``."""

    name: str
    start: int
    stop: int
    centre: np.ndarray
    spread: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    offset: float = 0.0
    scale: float = 1.0

    def logits(self, features: np.ndarray) -> np.ndarray:
        """The ensemble's mean logit of "foreign" per row of ``features`` (N, ≥ stop)."""
        x = (np.asarray(features, np.float64)[:, self.start:self.stop] - self.centre) / self.spread
        hidden = np.maximum(x[np.newaxis] @ self.w1 + self.b1[:, np.newaxis, :], 0.0)  # (K, N, H)
        return ((hidden @ self.w2[:, :, np.newaxis])[:, :, 0] + self.b2[:, np.newaxis]).mean(axis=0)

    def distances(self, features: np.ndarray) -> np.ndarray:
        """(logit − offset) / scale per row of ``features``."""
        return (self.logits(features) - self.offset) / self.scale


Layer = LayerGaussians | OutlierLayer
_ARRAYS = {"gaussians": ("means", "precision", "background_mean", "background_precision"),
           "outliers": ("centre", "spread", "w1", "b1", "w2", "b2")}


@dataclass(frozen=True)
class OodModel:
    """Each layer's Gaussians, and the (largest normalised layer) distance at which ``score`` is 1."""

    layers: tuple[Layer, ...]
    threshold: float
    quantile: float

    @property
    def n_features(self) -> int:
        """Columns of the feature vector that the layers read."""
        return max(layer.stop for layer in self.layers)

    def distances(self, features: np.ndarray) -> np.ndarray:
        """The largest of the layers' normalised distances (module docstring), per row of ``features``."""
        f = np.asarray(features, np.float64)
        if f.ndim != 2 or f.shape[1] < self.n_features:
            raise ValueError(f"features of shape {f.shape}: the statistics read {self.n_features} columns")
        return np.max([layer.distances(f) for layer in self.layers], axis=0)

    def score(self, features: np.ndarray) -> np.ndarray:
        """``distances`` / threshold: 1 at the flag threshold, larger = less like any trained class."""
        return self.distances(features) / self.threshold

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / OOD_FILE
        arrays = {}
        for i, layer in enumerate(self.layers):  # float32: 2 MB, distances change < 1e-5
            arrays.update({f"{key}_{i}": np.asarray(getattr(layer, key)).astype(np.float32)
                           for key in _ARRAYS[_kind(layer)]})
        digest = weights_digest(model_dir)
        with replacing(path) as temporary:
            np.savez(temporary, **({} if digest is None else {"weights_sha256": np.array(digest)}),
                     layer_names=np.array([layer.name for layer in self.layers]),
                     layer_kinds=np.array([_kind(layer) for layer in self.layers]),
                     layer_columns=np.array([[layer.start, layer.stop] for layer in self.layers]),
                     layer_scales=np.array([layer.scale for layer in self.layers]),
                     layer_offsets=np.array([getattr(layer, "offset", 0.0) for layer in self.layers]),
                     threshold=self.threshold, quantile=self.quantile, **arrays)
        return path

    @classmethod
    def load(cls, model_dir: str | Path, recorded: bool = False) -> "OodModel | None":
        """The model directory's statistics, or None when it has none (older models: no ``unknown`` rows); a
        ValueError where its ``model.json`` ``recorded`` them and the file is gone (the flag would be off without
        a word) or unreadable. Sets numpy's BLAS to one thread: scoring is this process's BLAS work, and
        OpenBLAS's helper threads would spin for 0.1 s of CPU after each batch (``blas.py``)."""
        path = Path(model_dir) / OOD_FILE
        if not path.exists():
            if recorded:
                raise ValueError(f"{path}: missing, though its model.json records out-of-distribution statistics: "
                                 "without them no frame could be flagged unknown; restore the file or refit it with "
                                 "gisaxs-live calibrate-ood")
            return None
        single_threaded_blas()
        if not zipfile.is_zipfile(path):  # np.load would try it as a pickle and name allow_pickle as the cure
            raise ValueError(f"{path}: unreadable out-of-distribution statistics (not an .npz archive: damaged, or "
                             "another file); refit them with gisaxs-live calibrate-ood")
        try:
            with np.load(path) as z:
                if "layer_names" not in z:  # before the layers: the dense layer's columns only
                    arrays = [z[k].astype(np.float64) for k in _ARRAYS["gaussians"]]
                    layers: tuple[Layer, ...] = (LayerGaussians("dense", 0, arrays[0].shape[1], *arrays),)
                else:
                    n = len(z["layer_names"])
                    kinds = z["layer_kinds"] if "layer_kinds" in z else ["gaussians"] * n
                    offsets = z["layer_offsets"] if "layer_offsets" in z else np.zeros(n)
                    layers = tuple(_layer(str(kind), str(name), int(start), int(stop),
                                          [z[f"{k}_{i}"].astype(np.float64) for k in _ARRAYS[str(kind)]],
                                          float(scale), float(offset))
                                   for i, (kind, name, (start, stop), scale, offset)
                                   in enumerate(zip(kinds, z["layer_names"], z["layer_columns"], z["layer_scales"],
                                                    offsets)))
                fitted_for = str(z["weights_sha256"]) if "weights_sha256" in z else None
                model = cls(layers, float(z["threshold"]), float(z["quantile"]))
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: unreadable out-of-distribution statistics ({exc})") from None
        if fitted_for is not None and fitted_for != weights_digest(model_dir):
            raise ValueError(f"{path}: fitted to other weights than {WEIGHTS} beside it (another model's file, or "
                             "weights trained since): its scores would be meaningless; refit it with gisaxs-live "
                             "calibrate-ood")
        return model


def weights_digest(model_dir: str | Path) -> str | None:
    """The SHA-256 (hex) of the classifier's weights in ``model_dir``, whose features the statistics describe (None
    without the file). ``ood.npz`` records it (since this release) and is refused beside other weights."""
    weights = Path(model_dir) / WEIGHTS
    if not weights.is_file():
        return None
    digest = hashlib.sha256()
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _kind(layer: Layer) -> str:
    return "outliers" if isinstance(layer, OutlierLayer) else "gaussians"


def _layer(kind: str, name: str, start: int, stop: int, arrays: list[np.ndarray], scale: float,
           offset: float) -> Layer:
    if kind == "outliers":
        centre, spread, w1, b1, w2, b2 = arrays
        return OutlierLayer(name, start, stop, centre, spread, w1, b1, w2, b2, offset, scale)
    if kind != "gaussians":
        raise ValueError(f"unknown kind of layer {kind!r}")
    return LayerGaussians(name, start, stop, *arrays, scale)


def fit(features: np.ndarray, labels: np.ndarray, n_classes: int, held_out: np.ndarray,
        quantile: float = 0.99, shrinkage: float = 0.05, layers: Sequence[LayerSpec] | None = None,
        seed: int = 0, outliers: OutlierLayer | None = None,
        outlier_quantile: float = OUTLIER_QUANTILE, outlier_held_out: np.ndarray | None = None) -> OodModel:
    """Each layer's Gaussians from training ``features`` (N, D) with ``labels`` (default: one layer, all columns,
    the class means); each layer's scale and the threshold are the ``quantile`` of the distances of the
    ``held_out`` features (M, D) of known classes. ``seed``: the k-means starts. ``outliers``: a trained
    outlier-exposure layer (``training/outlier_exposure.py``) to add, given its offset and scale here: 1 at its
    ``outlier_quantile`` over ``held_out`` and ``outlier_held_out`` (more held-out features (K, D), for a steadier
    high quantile)."""
    f = np.asarray(features, np.float64)
    held = np.asarray(held_out, np.float64)
    labels = np.asarray(labels)
    missing = [c for c in range(n_classes) if not np.any(labels == c)]
    if missing:
        raise ValueError(f"no training features for class index(es) {missing}")
    specs = list(layers) if layers is not None else [LayerSpec("features", 0, f.shape[1])]
    rng = np.random.default_rng(seed)
    fitted = []
    for spec in specs:
        x = f[:, spec.start:spec.stop]
        component = np.zeros(len(x), int)
        means = []
        for c in range(n_classes):
            rows = np.nonzero(labels == c)[0]
            split = _kmeans(x[rows], spec.components, rng)
            for k in np.unique(split):
                component[rows[split == k]] = len(means)
                means.append(x[rows[split == k]].mean(axis=0))
        means = np.stack(means)
        background = x.mean(axis=0)
        layer = LayerGaussians(spec.name, spec.start, spec.stop, means,
                               _shrunk_precision(x - means[component], shrinkage), background,
                               _shrunk_precision(x - background, shrinkage))
        scale = float(np.quantile(layer.distances(held), quantile))
        if scale <= 0.0:
            raise ValueError(f"held-out features of layer {spec.name} lie closer to the background than to their "
                             "classes: cannot calibrate")
        fitted.append(dataclasses.replace(layer, scale=scale))
    if outliers is not None:
        both = held if outlier_held_out is None else np.concatenate([held, np.asarray(outlier_held_out, np.float64)])
        median, top = np.quantile(outliers.logits(both), [0.5, outlier_quantile])
        if top <= median:
            raise ValueError(f"the {outliers.name} layer gives the held-out features one logit: cannot calibrate")
        fitted.append(dataclasses.replace(outliers, offset=float(median), scale=float(top - median)))
    model = OodModel(tuple(fitted), 1.0, quantile)
    return dataclasses.replace(model, threshold=float(np.quantile(model.distances(held), quantile)))


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 25) -> np.ndarray:
    """Component index (N,) of each row of ``x``: Lloyd's k-means from ``k`` distinct rows drawn by ``rng``."""
    if k <= 1 or len(x) <= k:
        return np.zeros(len(x), int)
    centres = x[rng.choice(len(x), k, replace=False)]
    for _ in range(iterations):
        assigned = ((x**2).sum(axis=1)[:, None] - 2.0 * x @ centres.T + (centres**2).sum(axis=1)[None, :]).argmin(1)
        centres = np.stack([x[assigned == j].mean(axis=0) if np.any(assigned == j) else centres[j]
                            for j in range(k)])
    return assigned


def _shrunk_precision(centred: np.ndarray, shrinkage: float) -> np.ndarray:
    covariance = centred.T @ centred / len(centred)
    scale = np.trace(covariance) / len(covariance)
    return np.linalg.inv((1.0 - shrinkage) * covariance + shrinkage * scale * np.eye(len(covariance)))


def _squared_mahalanobis(f: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """(N, n_means) squared distances: (f − μ)ᵀP(f − μ) = fᵀPf − 2 fᵀPμ + μᵀPμ for all means at once."""
    fp = f @ precision
    mp = means @ precision
    return (np.einsum("nd,nd->n", fp, f)[:, None] - 2.0 * fp @ means.T
            + np.einsum("cd,cd->c", mp, means)[None, :])
