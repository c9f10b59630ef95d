"""One frame's refinement as a picture: data, fit and normalised residual on the model grid (matplotlib, Agg)."""

from __future__ import annotations

import io

import numpy as np

from ..preprocess.qgrid import QGrid
from .fit import FitData, Refinement, deviance_residuals


def refinement_png(data: FitData, fit: Refinement, grid: QGrid, title: str) -> bytes:
    """PNG bytes: log10 of the data and of the fit (mean counts per bin, same colour scale; empty bins blank),
    and the signed Poisson deviance residual per bin (``fit.deviance_residuals``, ±3 σ scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    used = data.used
    residual = np.full(used.shape, np.nan)
    residual[used] = deviance_residuals(fit.model[used] * data.pixels[used], data.counts())
    with np.errstate(divide="ignore", invalid="ignore"):
        log_data = np.log10(np.where(used, data.intensity, np.nan))
        log_fit = np.log10(np.where(used, fit.model, np.nan))
    top = np.nanmax(log_fit)
    extent = (grid.qy_min, grid.qy_max, grid.qz_min, grid.qz_max)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
    for ax, image, label in ((axes[0], log_data, "data"), (axes[1], log_fit, "fit")):
        shown = ax.imshow(image, origin="lower", extent=extent, aspect="auto", cmap="viridis", vmin=top - 5, vmax=top)
        ax.set(title=f"{label}: log10 mean counts per bin", xlabel="q_y (nm⁻¹)", ylabel="q_z (nm⁻¹)")
    fig.colorbar(shown, ax=axes[:2], shrink=0.8)
    shown = axes[2].imshow(residual, origin="lower", extent=extent, aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3)
    axes[2].set(title=f"residual / σ (χ²_red {fit.chi2_red:.2f})", xlabel="q_y (nm⁻¹)")
    fig.colorbar(shown, ax=axes[2], shrink=0.8)
    fig.suptitle(title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()
