"""The maximum-likelihood fit of one frame under Poisson counting noise: model M = s·I(θ) + b (mean counts per
bin; s > 0 and b ≥ 0 free) against the frame's counts, over the bins that hold data (NaN bins, i.e. masked,
gaps, beam stop or beyond the detector, are left out; the filled bins of the model input are never fitted).

A bin with n pixels holds N = d·n counts in all (d its mean counts per pixel, n from the regridding lookup) and
expects μ = M·n. Its residual is the signed Poisson deviance residual
    r = sign(μ − N) · √(2 [μ − N + N ln(N/μ)])        (r = √(2μ) for N = 0),
so Σr² is the Poisson deviance and least squares on r is the maximum-likelihood fit at any count level (no
floor, no bias from the many bins with a few counts). The reduced χ² is Pearson's, Σ(N − μ)²/μ over
(bins − free parameters): its expectation is 1 per bin for a model that describes the data to within counting
noise, however few the counts. Uncertainties (1σ): the square roots of the diagonal of F⁻¹·χ²_red at
the solution, F = Σ (∂μ/∂θ)(∂μ/∂θ)ᵀ/μ the Fisher information (``fisher_information``): the Cramér–Rao bound when
the model fits (χ²_red ≈ 1), proportionally wider when it fits worse (``scipy.optimize.curve_fit``'s
convention without absolute σ). ∂μ/∂θ is by forward differences of the simulator for the shape parameters
(relative step ``STEP``), analytic for s and b, and without a new simulation for η's structure factor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .model import ForwardModel, parameter_bounds

STEP = 1e-4
MAX_EVALUATIONS = 40
#: expected counts of a bin are at least this (keeps the deviance finite where the model is exactly 0)
MIN_EXPECTED = 1e-9


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

    def counts(self) -> np.ndarray:
        """Counts N of each used bin (mean counts × pixels, negative clipped to 0), 1-D over ``used``."""
        used = self.used
        return np.maximum(self.intensity[used], 0.0) * self.pixels[used]


@dataclass(frozen=True)
class Refinement:
    """A fit's outcome: ``params`` and their 1σ ``errors`` (over ``names``, then ``scale`` s and ``background``
    b, mean counts per bin), the reduced χ², iterations (Jacobian evaluations), simulations, seconds, the
    fitted model M (mean counts per bin, the grid's shape), whether least_squares converged, and ``at_limits``:
    the fitted parameters that ended on a bound of the fit ("lower" or "upper"), whose value is that bound and
    whose 1σ says nothing."""

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
    at_limits: dict[str, str]


def deviance_residuals(expected: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Signed Poisson deviance residuals of ``counts`` N against ``expected`` counts μ (both per bin):
    sign(μ − N)·√(2[μ − N + N ln(N/μ)]); Σr² is the deviance, 0 where μ = N."""
    mu = np.maximum(expected, MIN_EXPECTED)
    safe = np.where(counts > 0, counts, 1.0)
    x = (mu - counts) / safe
    # N·(x − ln(1 + x)) = μ − N − N ln(μ/N), free of cancellation near μ = N
    half = np.where(counts > 0, counts * (x - np.log1p(x)), mu)
    return np.sign(mu - counts) * np.sqrt(2.0 * np.maximum(half, 0.0))


def deviance_slope(expected: np.ndarray, counts: np.ndarray, residuals: np.ndarray) -> np.ndarray:
    """∂r/∂μ of ``deviance_residuals`` (per count): (μ − N)/(μ·r), and its limit 1/√μ where r = 0."""
    mu = np.maximum(expected, MIN_EXPECTED)
    zero = residuals == 0
    return np.where(zero, 1.0 / np.sqrt(mu), (mu - counts) / (mu * np.where(zero, 1.0, residuals)))


def fisher_information(derivatives: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """F = Σ_bins (∂μ/∂θ)(∂μ/∂θ)ᵀ / μ of independent Poisson bins; ``derivatives`` (bins, parameters) are
    ∂μ/∂θ at ``expected`` μ (counts). Its inverse is the Cramér–Rao bound on the covariance of θ."""
    mu = np.maximum(expected, MIN_EXPECTED)
    return (derivatives / mu[:, None]).T @ derivatives


def standard_errors(information: np.ndarray) -> np.ndarray:
    """√diag(F⁻¹); NaN for every parameter when F is singular (a parameter the data do not determine)."""
    try:
        diag = np.diag(np.linalg.inv(information))
    except np.linalg.LinAlgError:
        return np.full(len(information), np.nan)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(diag) & (diag >= 0), np.sqrt(np.abs(diag)), np.nan)


def pearson_chi2(expected: np.ndarray, counts: np.ndarray) -> float:
    """Σ(N − μ)²/μ over the bins (expectation: the number of bins for Poisson counts of mean μ)."""
    mu = np.maximum(expected, MIN_EXPECTED)
    return float(np.sum((counts - mu) ** 2 / mu))


def expected_counts(forward: ForwardModel,
                    data: FitData) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """x = (θ, ln s, b) ↦ (I(θ), μ) over the used bins: the simulator's intensity (nm²) and the expected counts
    μ = (s·I + b)·n."""
    used = data.used
    n = data.pixels[used].astype(float)
    k = len(forward.names)

    def expected(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        intensity = forward(x[:k])[used]
        return intensity, (np.exp(x[k]) * intensity + x[k + 1]) * n

    return expected


def count_derivatives(forward: ForwardModel, data: FitData, x: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """∂μ/∂x (bins, parameters) at x = (θ, ln s, b): forward differences of the simulator (relative step
    ``STEP``, backwards at an ``upper`` bound) for θ, analytic for ln s and b."""
    used = data.used
    n = data.pixels[used].astype(float)
    k = len(forward.names)
    intensity = forward(x[:k])[used]
    s = np.exp(x[k])
    columns = []
    for j in range(k):
        step = STEP * max(abs(x[j]), 1e-3)
        step = -step if x[j] + step > upper[j] else step
        shifted = x[:k].copy()
        shifted[j] += step
        columns.append(s * n * (forward(shifted)[used] - intensity) / step)
    columns += [s * n * intensity, n]
    return np.column_stack(columns)


def refine(forward: ForwardModel, data: FitData, start: dict[str, float], scale: float,
           background: float = 0.0) -> Refinement:
    """Fit θ, s and b by Poisson maximum likelihood, starting from ``start`` (over ``forward.names``),
    ``scale`` and ``background`` (mean counts per bin)."""
    t0 = time.perf_counter()
    counts = data.counts()
    k = len(forward.names)
    lo, hi = parameter_bounds(forward.shape)
    lo, hi = np.append(lo, [-np.inf, 0.0]), np.append(hi, [np.inf, np.inf])
    x0 = np.array([start[name] for name in forward.names] + [np.log(scale), background], float)
    x0 = np.clip(x0, lo, hi)
    expected = expected_counts(forward, data)

    def residuals(x: np.ndarray) -> np.ndarray:
        return deviance_residuals(expected(x)[1], counts)

    def jacobian(x: np.ndarray) -> np.ndarray:
        mu = expected(x)[1]
        slope = deviance_slope(mu, counts, deviance_residuals(mu, counts))
        return slope[:, None] * count_derivatives(forward, data, x, hi)

    scale_x = np.append(np.maximum(np.abs(x0[:k]), 0.05), [1.0, max(background, 1e-3)])
    solution = least_squares(residuals, x0, jac=jacobian, bounds=(lo, hi), x_scale=scale_x, method="trf",
                             max_nfev=MAX_EVALUATIONS)
    x = solution.x
    mu = expected(x)[1]
    chi2_red = pearson_chi2(mu, counts) / max(int(counts.size) - len(x0), 1)
    information = fisher_information(count_derivatives(forward, data, x, hi), mu)
    errors = standard_errors(information) * np.sqrt(chi2_red)
    names = (*forward.names, "scale", "background")
    params = dict(zip(names, [*map(float, x[:k]), float(np.exp(x[k])), float(x[k + 1])]))
    sigmas = dict(zip(names, [*map(float, errors[:k]), float(errors[k]) * params["scale"], float(errors[k + 1])]))
    model = np.exp(x[k]) * forward(x[:k]) + x[k + 1]
    return Refinement(names, params, sigmas, chi2_red, int(solution.njev or 0), forward.evaluations,
                      time.perf_counter() - t0, model.astype(np.float32), bool(solution.success),
                      str(solution.message), at_limits(forward.names, x[:k], lo[:k], hi[:k]))


def at_limits(names: tuple[str, ...], x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> dict[str, str]:
    """The parameters of ``x`` within 0.1 % (of the bound, or 10⁻⁹ absolute) of their ``lo`` or ``hi`` bound."""
    ends = {}
    for name, value, low, high in zip(names, x, lo, hi):
        if np.isclose(value, low, rtol=1e-3, atol=1e-9):
            ends[name] = "lower"
        elif np.isclose(value, high, rtol=1e-3, atol=1e-9):
            ends[name] = "upper"
    return ends
