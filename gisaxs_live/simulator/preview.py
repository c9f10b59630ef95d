"""A montage of one model-input image per class (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..preprocess.qgrid import QGrid


def write_montage(path: str | Path, images: Sequence[np.ndarray], titles: Sequence[str], grid: QGrid) -> None:
    """Save ``images`` (uint8, rows = q_z ascending) side by side with q axes (nm⁻¹) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, len(images))
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.6 * rows), squeeze=False)
    extent = (grid.qy_min, grid.qy_max, grid.qz_min, grid.qz_max)
    for ax, image, title in zip(axes.flat, images, titles):
        ax.imshow(image, origin="lower", extent=extent, aspect="auto", cmap="inferno", vmin=0, vmax=255)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("q_y (nm⁻¹)")
        ax.set_ylabel("q_z (nm⁻¹)")
    for ax in list(axes.flat)[len(images):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
