"""Accuracy figures laid out like the paper's Table 2 (confusion matrix with columns = actual class)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Ikemoto et al. 2020, Tables 2 and 3 (CNN top-1 per class where quoted, mean, similarity baseline), %.
PAPER = {"top1": 91.7, "similarity_top1": 59.8, "per_class": {"spheroid": 65.5, "ellipsoid": 71.4}}


def confusion_matrix(actual: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Fractions (n_classes, n_classes): [predicted, actual], each column summing to 1 (0 if the class is absent)."""
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (predicted, actual), 1.0)
    totals = counts.sum(axis=0, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def metrics(probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
            similarity_labels: np.ndarray | None = None) -> dict:
    """top1 (mean of the per-class accuracies, as the paper), top2, per_class, confusion, similarity_top1,
    n_test; accuracies in %."""
    n = len(class_names)
    ranked = np.argsort(-probabilities, axis=1)
    confusion = confusion_matrix(labels, ranked[:, 0], n)
    present = np.isin(np.arange(n), labels)
    per_class = {name: 100.0 * confusion[i, i] for i, name in enumerate(class_names) if present[i]}
    top2_hit = (ranked[:, :2] == labels[:, None]).any(axis=1)
    top2 = np.mean([top2_hit[labels == i].mean() for i in range(n) if present[i]])
    result = {
        "top1": float(np.mean(list(per_class.values()))),
        "top2": 100.0 * float(top2),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "similarity_top1": None,
        "n_test": int(len(labels)),
    }
    if similarity_labels is not None:
        sim = confusion_matrix(labels, similarity_labels, n)
        result["similarity_top1"] = float(np.mean([100.0 * sim[i, i] for i in range(n) if present[i]]))
    return result
