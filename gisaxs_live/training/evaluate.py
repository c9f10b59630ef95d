"""Accuracy figures laid out like the paper's Table 2 (confusion matrix with columns = actual class)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..classify.families import DEFAULT_FAMILIES, Families, family_matrix, family_name, partition

#: Ikemoto et al. 2020, Tables 2 and 3 (CNN top-1 per class where quoted, mean, similarity baseline), %.
PAPER = {"top1": 91.7, "similarity_top1": 59.8, "per_class": {"spheroid": 65.5, "ellipsoid": 71.4}}


def confusion_matrix(actual: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Fractions (n_classes, n_classes): [predicted, actual], each column summing to 1 (0 if the class is absent)."""
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (predicted, actual), 1.0)
    totals = counts.sum(axis=0, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def metrics(probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
            similarity_labels: np.ndarray | None = None, families: Families = DEFAULT_FAMILIES) -> dict:
    """top1 (mean of the per-class accuracies, as the paper), top2, per_class, confusion, similarity_top1,
    n_test; and the same for the degenerate families (``family_metrics``); accuracies in %."""
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
    result.update(family_metrics(probabilities, labels, class_names, families))
    return result


def family_metrics(probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                   families: Families = DEFAULT_FAMILIES) -> dict:
    """Scores of the most probable family (summed probabilities) against the true class's family:
    family_top1 (mean over the true classes of their family accuracy), family_top2 (the true family among the
    two most probable), family_per_class (by true class), family_names and family_confusion
    ([predicted family, actual family] fractions); in %."""
    groups = partition(class_names, families)
    to_family = family_matrix(list(class_names), groups)
    family_probabilities = np.asarray(probabilities) @ to_family
    true_family = to_family.argmax(axis=1)[labels]
    ranked = np.argsort(-family_probabilities, axis=1, kind="stable")
    hit1 = ranked[:, 0] == true_family
    hit2 = (ranked[:, :2] == true_family[:, None]).any(axis=1)
    present = [i for i in range(len(class_names)) if np.any(labels == i)]
    per_class = {class_names[i]: 100.0 * float(hit1[labels == i].mean()) for i in present}
    return {
        "family_top1": float(np.mean(list(per_class.values()))),
        "family_top2": 100.0 * float(np.mean([hit2[labels == i].mean() for i in present])),
        "family_per_class": per_class,
        "family_names": [family_name(g) for g in groups],
        "family_confusion": confusion_matrix(true_family, ranked[:, 0], len(groups)).tolist(),
    }


#: the size figures: (name, TARGETS column, relative error (ln targets) or absolute (the aspect))
SIZE_FIGURES: tuple[tuple[str, int, bool], ...] = (("D_y", 0, True), ("aspect", 1, False), ("fwhm", 2, True),
                                                   ("distance", 3, True))


def size_metrics(estimated: np.ndarray, sigma: np.ndarray, true: np.ndarray, labels: np.ndarray,
                 class_names: Sequence[str]) -> dict:
    """Errors of the size net (``classify.size_net``) against the truth, all in the net's TARGETS units
    ((N, 4) each: ln D_y, D_z/D_y, ln FWHM, ln distance; NaN where a truth is undefined): per figure of
    SIZE_FIGURES, overall and per true class, ``median`` and ``p90`` of the relative error |est/true − 1|
    (D_y, FWHM, distance) or the absolute error (aspect), ``coverage_1sigma`` (% of patterns whose truth lies
    within the estimate ± its σ; 68 % for honest σ) and ``n``."""

    def figures(rows: np.ndarray) -> dict:
        out = {}
        for name, k, relative in SIZE_FIGURES:
            defined = rows & np.isfinite(true[:, k])
            diff = estimated[defined, k] - true[defined, k]
            error = np.abs(np.expm1(diff)) if relative else np.abs(diff)
            if not error.size:
                continue
            out[name] = {"median": float(np.median(error)), "p90": float(np.percentile(error, 90)),
                         "coverage_1sigma": 100.0 * float(np.mean(np.abs(diff) <= sigma[defined, k])),
                         "n": int(error.size)}
        return out

    everything = np.ones(len(labels), bool)
    return {"all": figures(everything),
            "per_class": {name: figures(labels == i) for i, name in enumerate(class_names) if np.any(labels == i)}}
