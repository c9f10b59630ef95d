"""The answer set: the smallest set of families, most probable first, that holds the true family of a frame with
a calibrated probability (split conformal prediction, adaptive prediction sets: Romano, Sesia & Candès,
NeurIPS 2020). Pure; no TensorFlow.

A frame whose top two families are nearly tied gets both ("ellipsoid or spheroid"), so that an ambiguous
frame says so instead of flipping between the two under a small change of the mask. Calibration: on held-out
detector-like patterns of the known classes, the score of a pattern is the summed probability of the families
ranked above its true one; the threshold is the ⌈(n+1)·level⌉-th smallest score, nudged up. Families are then
taken in order of probability while the probability already taken is below the threshold, so on patterns like
the calibration set the true family is in the set at least ``level`` of the time (exchangeability; frames from
elsewhere can fall short, which ``evaluate`` and the cross-simulator benchmark measure).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: how often the answer holds the true family on the calibration patterns
LEVEL = 0.95
#: between the families of an answer, in the CSV and on screen
SEPARATOR = " or "
#: the threshold of too small a calibration set: above any summed probability, so every family is taken
EVERY_FAMILY = 2.0


def mass_above_truth(family_probabilities: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) summed probability of the families ranked above each pattern's true family (0 when it is on top).

    ``family_probabilities``: (N, n_families); ``truth``: (N,) true family indices."""
    p = np.asarray(family_probabilities, float)
    p_true = p[np.arange(len(p)), np.asarray(truth)]
    return np.where(p > p_true[:, None], p, 0.0).sum(axis=1)


def threshold(scores: np.ndarray, level: float = LEVEL) -> float:
    """The conformal threshold of calibration ``scores`` (``mass_above_truth``) for coverage ``level``;
    EVERY_FAMILY when there are too few scores for that level (fewer than level/(1 − level))."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"answer level {level:g}: must lie in (0, 1)")
    s = np.sort(np.asarray(scores, float))
    k = math.ceil((len(s) + 1) * level)
    if k > len(s):
        return EVERY_FAMILY
    return float(np.nextafter(s[k - 1], math.inf))


def answer_set(ranked: Sequence[tuple[str, float]], cut: float | None) -> tuple[str, ...]:
    """The families of ``ranked`` ((family, probability), most probable first) taken while the probability
    already taken is below ``cut``; only the top family where the model has no calibrated ``cut``."""
    if not ranked:
        return ()
    if cut is None:
        return (ranked[0][0],)
    taken: list[str] = []
    mass = 0.0
    for family, p in ranked:
        if mass >= cut:
            break
        taken.append(family)
        mass += p
    return tuple(taken)


def coverage(family_probabilities: np.ndarray, truth: np.ndarray, cut: float) -> tuple[float, float, float]:
    """(fraction of patterns whose answer holds the true family, mean number of families in an answer, fraction of
    answers with one family) of ``cut`` on labelled patterns."""
    p = np.asarray(family_probabilities, float)
    order = np.argsort(-p, axis=1, kind="stable")
    ranked_p = np.take_along_axis(p, order, axis=1)
    before = np.cumsum(ranked_p, axis=1) - ranked_p  # probability taken before each rank
    taken = before < cut
    sizes = taken.sum(axis=1)
    held = taken[np.arange(len(p)), np.argmax(order == np.asarray(truth)[:, None], axis=1)]
    return float(held.mean()), float(sizes.mean()), float(np.mean(sizes == 1))
