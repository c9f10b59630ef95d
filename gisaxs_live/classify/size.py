"""Size and shape parameters of one frame: the size net's estimates with 1σ uncertainties beside the
model-free descriptors (``preprocess.descriptors``), as ``Result.size`` and the CSV's size columns.

Definitions (the model card's conventions, ``simulator.shapes``):

* ``D_y_nm``: the in-plane diameter of the islands (nm), the mode of their size distribution;
* ``aspect``: D_z/D_y, the vertical size over the in-plane diameter (for a truncated spheroid the full
  spheroid's D_z, for an ellipsoid D_y its longer in-plane axis);
* ``fwhm_nm``: the full width at half maximum of the D_y distribution (nm);
* ``distance_nm``: the interparticle distance ``interparticle_distance``, empty where the net says nothing
  about it (a model without the size net);
* each ``*_err`` the net's 1σ (same unit), from its predicted variance (``classify.size_net``);
* ``corr_distance_nm`` = 2π/q₀ and ``guinier_radius_nm`` = R_g: model-free, from the regridded frame.

Empty (NaN) where not determined: the net's values on ``unknown`` frames (the net is no better there than
the classifier), the descriptors where ``preprocess.descriptors`` says they break down.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

#: the CSV's size columns, in order: the net's four values each with its 1σ, then the two descriptors
SIZE_COLUMNS: tuple[str, ...] = ("D_y_nm", "D_y_err_nm", "aspect", "aspect_err", "fwhm_nm", "fwhm_err_nm",
                                 "distance_nm", "distance_err_nm", "corr_distance_nm", "guinier_radius_nm")


@dataclass(frozen=True)
class SizeEstimate:
    """One frame's size columns (see module docstring); NaN where not determined."""

    D_y_nm: float = math.nan
    D_y_err_nm: float = math.nan
    aspect: float = math.nan
    aspect_err: float = math.nan
    fwhm_nm: float = math.nan
    fwhm_err_nm: float = math.nan
    distance_nm: float = math.nan
    distance_err_nm: float = math.nan
    corr_distance_nm: float = math.nan
    guinier_radius_nm: float = math.nan

    def fields(self) -> list[str]:
        """The CSV fields in SIZE_COLUMNS order: 3 significant decimals for the aspect, 2 for nm; empty for NaN."""
        return [_format(getattr(self, name), 3 if name.startswith("aspect") else 2) for name in SIZE_COLUMNS]

    @classmethod
    def from_fields(cls, row: Mapping[str, str]) -> "SizeEstimate | None":
        """The estimate of a CSV row (``csv.DictReader``), None when the row has no size columns (a log written
        before they existed) or none of them holds a value."""
        values = {name: row.get(name) or "" for name in SIZE_COLUMNS}
        if not any(values.values()):
            return None
        return cls(**{name: float(v) if v else math.nan for name, v in values.items()})



def interparticle_distance(d_y_nm: float, structure: str, volume_fraction: float, spacing_ratio: float) -> float:
    """The interparticle distance (nm) that a training pattern's structure factor (``simulator.structure``)
    implies, NaN where it has none:

    * radial paracrystal: its mean nearest-neighbour spacing d = ``spacing_ratio`` × D_y;
    * Percus–Yevick hard spheres of diameter D_y at volume fraction η: the mean spacing n^(−1/3) of their
      number density n = 6η/(π D_y³), i.e. D_y (π/6η)^(1/3) (1.38 D_y at η = 0.2);
    * dilute: none (S = 1 says nothing about where the islands are)."""
    if structure == "paracrystal":
        return spacing_ratio * d_y_nm
    if structure == "hard_sphere" and volume_fraction > 0:
        return d_y_nm * (math.pi / (6.0 * volume_fraction)) ** (1.0 / 3.0)
    return math.nan


def _format(value: float, decimals: int) -> str:
    return "" if not math.isfinite(value) else f"{value:.{decimals}f}"
