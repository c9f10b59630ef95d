"""The model card's class pictures: each class at its table's default parameters, side view (the y–z plane
through the particle's axis, substrate grey below z = 0) and top view, lengths in units of D_y."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..simulator.shapes import get_shape


def _side_profile(name: str, p: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """(y, z) outline of the side view, D_y = 1."""
    a = p["aspect"]
    z = np.linspace(0.0, 1.0, 200)
    if name == "capsule":
        zs = z * a
        r = np.sqrt(np.clip(0.25 - np.clip(np.abs(zs - a / 2) - (a / 2 - 0.5), 0.0, None) ** 2, 0.0, None))
        return np.concatenate([r, -r[::-1]]), np.concatenate([zs, zs[::-1]])
    if name in ("spheroid", "ellipsoid", "truncated_spheroid", "hemispheroid"):
        rz = {"hemispheroid": a}.get(name, a / 2)
        height = {"spheroid": a, "ellipsoid": a, "hemispheroid": a}.get(name, p.get("h_ratio", 1.0) * a)
        centre = {"hemispheroid": 0.0}.get(name, height - rz)
        zs = z * height
        r = 0.5 * np.sqrt(np.clip(1.0 - ((zs - centre) / rz) ** 2, 0.0, None))
    else:  # prisms and the cylinder: straight walls
        # a prism with a vertex on +x spans ±D_y·√3/4 along y
        zs, r = z * a, np.full_like(z, 0.5 if name == "cylinder" else math.sqrt(3.0) / 4.0)
    return np.concatenate([r, -r[::-1]]), np.concatenate([zs, zs[::-1]])


def _top_outline(name: str, p: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) outline of the top view, D_y = 1 along y."""
    if name in ("prism3", "prism6"):
        n = 3 if name == "prism3" else 6
        t = np.linspace(0.0, 2 * math.pi, n + 1)
        return 0.5 * np.cos(t), 0.5 * np.sin(t)
    t = np.linspace(0.0, 2 * math.pi, 200)
    dx = 1.0 / p["xy_ratio"] if name == "ellipsoid" else 1.0
    return 0.5 * dx * np.cos(t), 0.5 * np.sin(t)


def shape_figure(name: str):
    """A matplotlib Figure of class ``name`` (side and top views) at its parameter table's defaults."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    shape = get_shape(name)
    p = {q.name: q.default for q in shape.parameters}
    fig = Figure(figsize=(3.2, 1.6), dpi=100)
    side, top = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    y, z = _side_profile(name, p)
    side.fill(y, z, color="#c9a227", ec="k", lw=0.8)
    side.axhspan(-0.15, 0.0, color="0.75")
    side.set(xlim=(-0.75, 0.75), ylim=(-0.15, max(1.0, z.max() + 0.1)), aspect="equal", title="side (y–z)")
    x, yy = _top_outline(name, p)
    top.fill(x, yy, color="#c9a227", ec="k", lw=0.8)
    top.set(xlim=(-0.6, 0.6), ylim=(-0.6, 0.6), aspect="equal", title="top (x–y)")
    for ax in (side, top):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.title.set_fontsize(7)
    fig.suptitle(f"{name}  " + ", ".join(f"{q.name} {q.default:g}" for q in shape.parameters
                                           if q.role == "shape"), fontsize=7)
    fig.tight_layout()
    return fig


def write_shape_pictures(class_names: list[str], directory: str | Path) -> list[Path]:
    """One PNG per class, ``directory/<class>.png``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in class_names:
        path = out / f"{name}.png"
        shape_figure(name).savefig(path)
        paths.append(path)
    return paths
