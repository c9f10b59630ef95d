"""The least-squares fit of one frame: model M = s·I(θ) + b (mean counts per bin; s > 0 and b ≥ 0 free)
against the frame's mean counts per bin d, in log space, over the bins that hold data (NaN bins, i.e. masked,
gaps, beam stop or beyond the detector, are left out; the filled bins of the model input are never fitted).

Residual of a bin with n pixels and N = d·n counts in all (n from the regridding lookup):
    r = [ln(M·n + 1) − ln(N + 1)] · √(N + 1),
the log residual over its Poisson σ, σ_ln ≈ 1/√N; the +1 keeps bins with no counts finite (a floor of one
count). χ² = Σ r²; the reduced χ² is χ²/(bins − free parameters), ≈ 1 for a model that describes the data
to within counting noise. Uncertainties (1σ): the square roots of the diagonal of (JᵀJ)⁻¹·χ²_red at the
solution (J = ∂r/∂θ), the convention of ``scipy.optimize.curve_fit`` without absolute σ, so a model that fits
worse than the noise gets proportionally wider errors. The Jacobian is by forward differences of the
simulator for the shape parameters (relative step ``STEP``), analytic for s, b and (without a new simulation)
η's structure factor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .model import ForwardModel, parameter_bounds

STEP = 1e-4
MAX_EVALUATIONS = 40


@dataclass(frozen=True)
class FitData:
    """One frame on the model grid: ``intensity`` (mean counts per bin, NaN = no data) and ``pixels`` (pixels
    per bin, the same shape)."""

    intensity: np.ndarray
    pixels: np.ndarray

    @property
    def used(self) -> np.ndarray:
        """Bins that enter the residuals."""
        return np.isfinite(self.intensity) & (self.pixels > 0)


@dataclass(frozen=True)
class Refinement:
    """A fit's outcome: ``params`` and their 1σ ``errors`` (over ``names``, then ``scale`` s and ``background``
    b, mean counts per bin), the reduced χ², iterations (Jacobian evaluations), simulations, seconds, the
    fitted model M (mean counts per bin, the grid's shape) and whether least_squares converged."""

    names: tuple[str, ...]
    params: dict[str, float]
    errors: dict[str, float]
    chi2_red: float
    iterations: int
    simulations: int
    seconds: float
    model: np.ndarray
    converged: bool
    message: str


def refine(forward: ForwardModel, data: FitData, start: dict[str, float], scale: float,
           background: float = 0.0) -> Refinement:
    """Fit θ, s and b, starting from ``start`` (over ``forward.names``), ``scale`` and ``background``."""
    t0 = time.perf_counter()
    used = data.used
    n = data.pixels[used].astype(float)
    counts = np.maximum(data.intensity[used], 0.0) * n
    weight = np.sqrt(counts + 1.0)
    target = np.log(counts + 1.0)
    k = len(forward.names)
    lo, hi = parameter_bounds(forward.shape)
    lo, hi = np.append(lo, [-np.inf, 0.0]), np.append(hi, [np.inf, np.inf])
    x0 = np.array([start[name] for name in forward.names] + [np.log(scale), background], float)
    x0 = np.clip(x0, lo, hi)

    def expected(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        intensity = forward(x[:k])[used]
        return intensity, np.exp(x[k]) * intensity + x[k + 1]

    def residuals(x: np.ndarray) -> np.ndarray:
        return (np.log(expected(x)[1] * n + 1.0) - target) * weight

    def jacobian(x: np.ndarray) -> np.ndarray:
        intensity, model = expected(x)
        dr_dm = weight * n / (model * n + 1.0)
        s = np.exp(x[k])
        columns = []
        for j in range(k):
            step = STEP * max(abs(x[j]), 1e-3)
            step = -step if x[j] + step > hi[j] else step
            shifted = x[:k].copy()
            shifted[j] += step
            columns.append(dr_dm * s * (forward(shifted)[used] - intensity) / step)
        columns += [dr_dm * s * intensity, dr_dm]
        return np.column_stack(columns)

    scale_x = np.append(np.maximum(np.abs(x0[:k]), 0.05), [1.0, max(background, 1e-3)])
    solution = least_squares(residuals, x0, jac=jacobian, bounds=(lo, hi), x_scale=scale_x, method="trf",
                             max_nfev=MAX_EVALUATIONS)
    dof = max(int(used.sum()) - len(x0), 1)
    chi2_red = float(2.0 * solution.cost / dof)
    errors = _errors(solution.jac, chi2_red)
    x = solution.x
    names = (*forward.names, "scale", "background")
    params = dict(zip(names, [*map(float, x[:k]), float(np.exp(x[k])), float(x[k + 1])]))
    sigmas = dict(zip(names, [*errors[:k], errors[k] * params["scale"], errors[k + 1]]))
    model = np.exp(x[k]) * forward(x[:k]) + x[k + 1]
    return Refinement(names, params, sigmas, chi2_red, int(solution.njev or 0), forward.evaluations,
                      time.perf_counter() - t0, model.astype(np.float32), bool(solution.success),
                      str(solution.message))


def _errors(jac: np.ndarray, chi2_red: float) -> list[float]:
    """1σ from (JᵀJ)⁻¹·χ²_red; NaN for a parameter the data do not determine (singular JᵀJ)."""
    jtj = jac.T @ jac
    try:
        cov = np.linalg.inv(jtj) * chi2_red
    except np.linalg.LinAlgError:
        return [float("nan")] * jac.shape[1]
    diag = np.diag(cov)
    return [float(np.sqrt(v)) if v >= 0 and np.isfinite(v) else float("nan") for v in diag]
