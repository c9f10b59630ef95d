"""In-plane structure factors S(q∥) for the decoupling approximation.

* Percus–Yevick structure factor of hard spheres (Wertheim's closed form; Kinning & Thomas 1984), with the
  hard-sphere diameter equal to the mode of D_y: a 3-D hard-sphere liquid at volume fraction η seen along
  q∥ (as FitGISAXS does). The default, at the experiment's volume fraction.
* Radial (1-D) paracrystal (Hosemann; BornAgain's ``InterferenceRadialParacrystal`` without a domain
  size): nearest-neighbour distances Gaussian with mean ``spacing`` d and width ω,
  S(q) = Re[(1 + φ)/(1 − φ)], φ = exp(−q²ω²/2 + i q d).
* Dilute: S = 1 (PY at η = 0).

``Structure`` names one of them with its parameters, as drawn per pattern by the training set's
randomisation (``simulator.dataset.Randomisation``), and how it meets the size distribution
(``APPROXIMATIONS``, evaluated by ``pattern.ensemble_intensity``):

* ``decoupling``: one S(q∥) at the mode of D_y for the whole ensemble,
  I = ⟨|F|²⟩ − |⟨F⟩|² + |⟨F⟩|² S(q∥) (FitGISAXS's default);
* ``local_monodisperse``: every size D_i in a domain of its own whose S(q∥) scales with D_i (hard-sphere
  diameter D_i, paracrystal spacing ratio·D_i), I = Σ_i n_i [⟨|F_i|²⟩ − |⟨F_i⟩|² + |⟨F_i⟩|² S(q∥; D_i)]
  (the in-plane orientations stay decoupled within a domain): the local monodisperse approximation with
  size–spacing coupling, as BornAgain's one deposit per size node. Unlike the decoupling approximation it
  keeps the interference minimum at q∥ → 0 as deep as S(0) at any polydispersity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STRUCTURE_KINDS = ("hard_sphere", "paracrystal", "dilute")
APPROXIMATIONS = ("decoupling", "local_monodisperse")


@dataclass(frozen=True)
class Structure:
    """An interference function: ``kind`` (one of STRUCTURE_KINDS); ``volume_fraction`` for hard spheres;
    ``spacing_ratio`` d/D_y and ``disorder`` ω/d for the paracrystal; ``approximation`` (one of
    APPROXIMATIONS) for a polydisperse ensemble."""

    kind: str = "hard_sphere"
    volume_fraction: float = 0.2
    spacing_ratio: float = 1.5
    disorder: float = 0.2
    approximation: str = "decoupling"

    def __post_init__(self) -> None:
        if self.approximation not in APPROXIMATIONS:
            raise ValueError(f"structure approximation {self.approximation!r}: must be one of "
                             f"{', '.join(APPROXIMATIONS)}")

    def factor(self, q: np.ndarray, diameter: float) -> np.ndarray:
        """S(q) at in-plane q (nm⁻¹) for particles whose D_y mode is ``diameter`` (nm)."""
        if self.kind == "hard_sphere":
            return percus_yevick(q, diameter, self.volume_fraction)
        if self.kind == "paracrystal":
            spacing = self.spacing_ratio * diameter
            return radial_paracrystal(q, spacing, self.disorder * spacing)
        if self.kind == "dilute":
            return np.ones_like(np.asarray(q, dtype=float))
        raise ValueError(f"structure kind {self.kind!r}: must be one of {', '.join(STRUCTURE_KINDS)}")


def radial_paracrystal(q: np.ndarray, spacing: float, width: float) -> np.ndarray:
    """S(q) of a 1-D paracrystal with Gaussian nearest-neighbour distances (mean ``spacing``, standard
    deviation ``width``, nm); q in nm⁻¹. S → 1 as q → ∞ and S(0) = (width/spacing)²."""
    q = np.abs(np.asarray(q, dtype=float))
    phi = np.exp(-0.5 * (q * width) ** 2 + 1j * q * spacing)
    small = q * spacing < 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        s = ((1.0 + phi) / (1.0 - phi)).real
    return np.where(small, (width / spacing) ** 2, s)

#: below this qD the closed form loses digits to cancellation (10⁻³ at qD = 0.01, 10⁻⁶ at 0.03): S(0) and the
#: q² term through the closed form's value here take over
_SMALL = 0.1


def compressibility_limit(eta: float) -> float:
    """S(0) = (1 − η)⁴ / (1 + 2η)², the PY isothermal compressibility value."""
    return (1.0 - eta) ** 4 / (1.0 + 2.0 * eta) ** 2


def percus_yevick(q: np.ndarray, diameter: float, eta: float) -> np.ndarray:
    """S(q) for hard spheres of ``diameter`` (nm) at volume fraction ``eta``; q in nm⁻¹. S → 1 as q → ∞; for
    qD below ``_SMALL``, S(0) + (S(_SMALL) − S(0)) (qD/_SMALL)², exact to O(q⁴)."""
    q = np.asarray(q, dtype=float)
    if eta == 0.0:
        return np.ones_like(q)
    a = np.abs(q) * diameter
    small = a < _SMALL
    s_0 = compressibility_limit(eta)
    s_small = _closed_form(np.array(_SMALL), eta)
    return np.where(small, s_0 + (s_small - s_0) * (a / _SMALL) ** 2, _closed_form(np.where(small, 1.0, a), eta))


def _closed_form(a: np.ndarray, eta: float) -> np.ndarray:
    """The Percus–Yevick S at qD = ``a`` (> 0)."""
    alpha = (1.0 + 2.0 * eta) ** 2 / (1.0 - eta) ** 4
    beta = -6.0 * eta * (1.0 + 0.5 * eta) ** 2 / (1.0 - eta) ** 4
    gamma = 0.5 * eta * alpha
    s, c = np.sin(a), np.cos(a)
    g = (alpha * (s - a * c) / a**2
         + beta * (2.0 * a * s + (2.0 - a**2) * c - 2.0) / a**3
         + gamma * (-(a**4) * c + 4.0 * ((3.0 * a**2 - 6.0) * c + (a**3 - 6.0 * a) * s + 6.0)) / a**5)
    return 1.0 / (1.0 + 24.0 * eta * g / a)
