"""What the size net learns: the physical targets (``classify.size_net.TARGETS``) of each pattern of a simulated
set, from its shape parameters and its structure-factor variation (``simulator.dataset``)."""

from __future__ import annotations

import json
import math

import numpy as np

from ..classify.size import interparticle_distance
from ..simulator.dataset import PARAMETER_NAMES, VARIATION_NAMES
from ..simulator.structure import STRUCTURE_KINDS


def size_targets(parameters: np.ndarray, variation: np.ndarray | None, attrs: dict) -> np.ndarray:
    """(N, 4) float64: ln D_y (nm), D_z/D_y, ln FWHM (nm), ln distance (nm; NaN for dilute patterns) of the
    patterns with ``parameters`` (N, len(PARAMETER_NAMES)) and ``variation`` (N, len(VARIATION_NAMES), NaN rows
    or None for patterns simulated at the configured experiment: Percus–Yevick at the set's
    ``volume_fraction`` attribute)."""
    parameters = np.asarray(parameters, dtype=float)
    column = {name: parameters[:, i] for i, name in enumerate(PARAMETER_NAMES)}
    n = len(parameters)
    if variation is None:
        variation = np.full((n, len(VARIATION_NAMES)), np.nan)
    varied = {name: variation[:, i] for i, name in enumerate(VARIATION_NAMES)}
    default_eta = float(json.loads(str(attrs.get("volume_fraction", "0.2"))))
    distance = np.empty(n)
    for k in range(n):
        kind_index = varied["structure"][k]
        if math.isnan(kind_index):
            kind, eta, ratio = "hard_sphere", default_eta, math.nan
        else:
            kind, eta, ratio = STRUCTURE_KINDS[int(kind_index)], varied["volume_fraction"][k], varied["spacing_ratio"][k]
        distance[k] = interparticle_distance(column["D_y"][k], kind, eta, ratio)
    return np.stack([np.log(column["D_y"]), column["aspect"], np.log(column["fwhm"]), np.log(distance)], axis=1)
