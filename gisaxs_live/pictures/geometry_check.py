"""The geometry check: does the config put the beam, the horizon and the mask where the frame has them?

``check_geometry`` measures (no matplotlib): the masked fraction of the detector (the configured mask plus
the frame's invalid pixels), the empty bins of the model grid, and where the intensity maximum above the
configured sample horizon lies. On a GISAXS frame that maximum is the specular beam (α_f = α_i) or, with
the specular beam stopped or not simulated, the Yoneda band (α_f = α_c of the substrate), both in the
specular plane (q_y = 0); it is compared with the nearer of the two expected positions, in pixels.
``geometry_figure`` draws the frame in log scale with the mask, these positions, the horizon, the Yoneda
line and q_y / q_z contours, beside the 90 × 70 model input and, as a third panel, the bundled simulator's
pattern of the frame's top-1 class on the model grid, scaled like the model input (``simulated_input``):
at the size net's D_y, aspect and FWHM where the classification has them (``Result.size``), else at the
class's default parameters; the title says which. Side by side, a model input unlike its own class's
pattern points at the geometry (or at a sample outside the classes).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..config import Config, Experiment, Simulation
from ..frame import Frame
from ..preprocess.geometry import DetectorGeometry, PixelQ
from ..preprocess.mask import invalid_counts, static_mask
from ..preprocess.mirror import lopsided
from ..preprocess.prepare import FramePreprocessor, Prepared
from ..preprocess.qgrid import QGrid
from ..preprocess.scale import to_levels
from ..results import Result
from ..simulator.optics import critical_angle

#: the maximum may lie this far (px) from its expected position before the check calls it a disagreement
TOLERANCE_PX = 6.0
#: half-width (px) of the windows around the brightest pixel in which the maximum is placed (``_peak``)
PEAK_WINDOW_PX = 40
#: px on each side of a candidate mirror axis compared, and the least share of the brightest window's intensity
#: a candidate's window holds (``_mirror_axis``)
MIRROR_WINDOW_PX, MIRROR_LEAST_SHARE = 150, 0.1


@dataclass(frozen=True)
class GeometryCheck:
    """The numbers of one check; positions are (column, row) in array pixels, angles in rad."""

    shape: tuple[int, int]
    q: PixelQ
    static: np.ndarray            # the configured mask (True = masked)
    invalid: np.ndarray           # the frame's own invalid pixels (negative, above the cutoff, NaN)
    direct_beam: tuple[float, float]
    specular: tuple[float, float] | None  # α_f = α_i at q_y = 0; None when off the detector
    yoneda: tuple[float, float] | None    # α_f = α_c at q_y = 0
    alpha_c: float
    maximum: tuple[float, float] | None   # brightest spot above the horizon (``_peak``), None without counts
    prepared: Prepared
    max_asymmetry: float | None = None    # ``geometry.max_asymmetry``: the live mirror check's limit
    grid: QGrid | None = None             # the model's grid (the model-input panels' q axes)

    @property
    def masked_fraction(self) -> float:
        return float((self.static | self.invalid).mean())

    @property
    def empty_bins(self) -> int:
        return int(np.isnan(self.prepared.intensity).sum()) if self.prepared.intensity is not None else 0

    def offset_px(self) -> tuple[str, float] | None:
        """(which expected position, distance in px) of the nearer of specular and Yoneda to the maximum."""
        candidates = [(name, p) for name, p in (("specular beam", self.specular), ("Yoneda band", self.yoneda))
                      if p is not None]
        if self.maximum is None or not candidates:
            return None
        name, p = min(candidates, key=lambda c: math.dist(c[1], self.maximum))
        return name, math.dist(p, self.maximum)

    def agrees(self) -> bool:
        offset = self.offset_px()
        return offset is not None and offset[1] <= TOLERANCE_PX


def _in_plane_position(q: PixelQ, alpha_f: float) -> tuple[float, float] | None:
    """(column, row) where q_y = 0 and the exit angle is ``alpha_f`` (rad), to a pixel; None if off the
    detector (more than a pixel beyond its edge)."""
    score = np.abs(q.alpha_f - alpha_f) / _step(q.alpha_f) + np.abs(q.qy) / _step(q.qy)
    row, col = np.unravel_index(np.argmin(score), score.shape)
    return (float(col), float(row)) if score[row, col] < 2.0 else None


def _step(values: np.ndarray) -> float:
    """The typical change of ``values`` from one pixel to the next (either direction)."""
    return float(max(np.abs(np.diff(values, axis=0)).mean(), np.abs(np.diff(values, axis=1)).mean(), 1e-12))


def _peak(smooth: np.ndarray, half: int = PEAK_WINDOW_PX) -> tuple[float, float]:
    """(column, row) of the brightest spot of ``smooth`` (−inf = not looked at). Column: the mirror axis of the rows
    around the brightest pixel (a GISAXS pattern is symmetric in q_y; a flat ridge such as the Yoneda band of small
    islands has no brightest column, and the brightest pixel of a dense deposit is an interference maximum beside
    the axis), ``_mirror_axis``. Row: the brightest row of the columns within ``half`` / 4 of that axis (mean of
    their valid pixels)."""
    row, col = np.unravel_index(np.argmax(smooth), smooth.shape)
    band = smooth[max(row - 2, 0):row + 3]
    profile = np.where(np.isfinite(band) & (band > 0), band, np.nan)
    if not np.isfinite(profile).any():
        return float(col), float(row)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns with no valid pixel: NaN
        profile = np.nanmean(profile, axis=0)
    x = _mirror_axis(profile, half // 2)
    x = float(col) if x is None else float(x)
    r0, c0 = max(row - half, 0), max(round(x) - half // 4, 0)
    near = smooth[r0:row + half + 1, c0:round(x) + half // 4 + 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no valid pixel: NaN
        rows = np.nanmean(np.where(np.isfinite(near) & (near > 0), near, np.nan), axis=1)
    return x, float(r0 + np.argmax(np.where(np.isfinite(rows), rows, -np.inf)))


def _mirror_axis(profile: np.ndarray, least: int, half: int = MIRROR_WINDOW_PX) -> int | None:
    """The column about which ``profile`` (NaN = no valid pixel) is most nearly mirror-symmetric: the least
    Σ|left − right| / Σ(left + right) over up to ``half`` px on each side (at least ``least`` valid pairs), among
    the centres whose window holds at least ``MIRROR_LEAST_SHARE`` of the brightest window's intensity (a dark
    stretch is symmetric too). A window wider than the interference maxima of a dense deposit (27–67 px from the
    axis at 2 m on a Pilatus: a trial's frames of exact geometry were said to disagree by that) keeps a single
    maximum, itself symmetric, from passing for the axis. None without such a centre."""
    candidates = []
    for centre in range(least, profile.size - least):
        h = min(half, centre, profile.size - 1 - centre)
        left, right = profile[centre - h:centre][::-1], profile[centre + 1:centre + h + 1]
        both = np.isfinite(left) & np.isfinite(right)
        if both.sum() >= least:
            total = float((left[both] + right[both]).sum())
            candidates.append((centre, float(np.abs(left[both] - right[both]).sum()) / total if total else np.inf,
                               total))
    if not candidates:
        return None
    enough = MIRROR_LEAST_SHARE * max(total for _, _, total in candidates)  # the brightest window always passes
    return min((misfit, centre) for centre, misfit, total in candidates if total >= enough)[1]


def check_geometry(config: Config, frame: Frame, preprocessor: FramePreprocessor) -> GeometryCheck:
    """Measure ``frame`` against ``config``'s geometry; raises ``FrameError`` for an unusable frame."""
    from scipy.ndimage import median_filter

    prepared = preprocessor.prepare(frame)
    data = np.asarray(frame.data, dtype=np.float64)
    geometry = DetectorGeometry(config.geometry)
    experiment = config.experiment
    q = geometry.pixel_q(data.shape, experiment.k_nm, experiment.alpha_i_rad)
    beam = geometry.direct_beam_px(data.shape)
    static = static_mask(config.mask, data.shape, beam)
    max_count = config.mask.max_count if config.mask.max_count is not None else frame.count_cutoff
    invalid = invalid_counts(data, config.mask.negative_is_masked, max_count)
    invalid = ~np.isfinite(data) if invalid is None else invalid | ~np.isfinite(data)
    if frame.mask is not None:
        invalid |= np.asarray(frame.mask, dtype=bool)
    # the beam stops are part of the configured mask, so the maximum is looked for without it
    smooth = median_filter(np.where(invalid, 0.0, data), size=3)
    smooth[~(q.alpha_f > 0)] = -np.inf
    maximum = _peak(smooth) if (smooth > 0).any() else None  # a blank frame has none (not its first pixel)
    alpha_c = critical_angle(experiment.substrate.refractive_index(experiment.wavelength_nm))
    return GeometryCheck(shape=data.shape, q=q, static=static, invalid=invalid, direct_beam=beam,
                         specular=_in_plane_position(q, experiment.alpha_i_rad),
                         yoneda=_in_plane_position(q, alpha_c), alpha_c=alpha_c, maximum=maximum,
                         prepared=prepared, max_asymmetry=config.geometry.max_asymmetry, grid=preprocessor.grid)


def summary(check: GeometryCheck, where: str) -> list[str]:
    """The check in lines of text for people; the last says whether the geometry agrees with the frame, or that a
    frame without usable signal cannot tell."""
    def at(p):
        return "off the detector" if p is None else f"column {p[0]:.0f}, row {p[1]:.0f}"

    lines = [f"{where}: {check.shape[0]} rows × {check.shape[1]} columns",
             f"masked: {check.masked_fraction:.1%} of the pixels (configured mask "
             f"{check.static.mean():.1%}, invalid in the frame {check.invalid.mean():.1%})",
             f"empty bins of the model grid: {check.empty_bins} of {check.prepared.intensity.size} "
             f"({check.empty_bins / check.prepared.intensity.size:.0%}, filled before classifying)"
             if check.prepared.intensity is not None else "model grid: no intensity",
             f"direct beam (config): {at(check.direct_beam)}",
             f"specular beam expected (α_f = α_i): {at(check.specular)}",
             f"Yoneda band expected (α_f = α_c = {math.degrees(check.alpha_c):.3f}°): {at(check.yoneda)}",
             "intensity maximum above the horizon: "
             + (at(check.maximum) if check.maximum is not None else "none (no counts there)"),
             _halves(check)]
    offset = check.offset_px()
    if check.prepared.status != "ok":
        lines.append(f"cannot be judged: {check.prepared.message.split(': ', 1)[-1]} (a blank or dark frame says "
                     "nothing about the geometry)")
    elif offset is None:
        lines.append("DISAGREES: no intensity maximum above the configured horizon, or the expected positions "
                     "lie off the detector: check direct_beam_px, distance_mm, the incidence angle and the "
                     "axis flips")
    elif check.agrees():
        lines.append(f"agrees: the maximum lies {offset[1]:.1f} px from the expected {offset[0]} "
                     f"(within {TOLERANCE_PX:g} px)")
    else:
        col, row = check.maximum
        ref = check.specular if offset[0] == "specular beam" else check.yoneda
        lines.append(f"DISAGREES: the maximum lies {offset[1]:.0f} px from the expected {offset[0]} "
                     f"({col - ref[0]:+.0f} columns, {row - ref[1]:+.0f} rows; more than {TOLERANCE_PX:g} px): "
                     "check direct_beam_px, distance_mm, the incidence angle and the axis flips")
    return lines


def _halves(check: GeometryCheck) -> str:
    """What the live mirror check (``preprocess.mirror``) says of the frame's two halves about q_y = 0."""
    value, limit = check.prepared.asymmetry, check.max_asymmetry
    if value is None:
        return "halves about q_y = 0: too few counts to compare"
    verdict = ("no limit set (geometry.max_asymmetry)" if limit is None else
               f"above the limit {limit:g}: live rows are `unknown`, the direct beam's column is probably off"
               if lopsided(value, limit) else f"within the limit {limit:g}")
    return f"halves about q_y = 0: they differ by {value:.2f} beyond counting noise (median relative), {verdict}"


#: the size net's fields (``Result.size``) → the simulator's parameters
SIZE_PARAMETERS = (("D_y_nm", "D_y"), ("aspect", "aspect"), ("fwhm_nm", "fwhm"))


def simulated_input(result: Result, grid: QGrid, experiment: Experiment, simulation: Simulation,
                    decades: float) -> tuple[np.ndarray | None, str]:
    """(uint8 levels on ``grid``, title) of the simulated pattern of ``result``'s top-1 class: at the size
    estimate's D_y, aspect and FWHM (nm) where ``result.size`` has them within the class's limits, the
    class's defaults for the rest; (None, why) when the result has no ranking."""
    from ..simulator.pattern import Optics, simulate_pattern
    from ..simulator.shapes import get_shape

    ranked = result.ranked()
    if not ranked:
        return None, f"no simulated pattern: the frame is {result.status.replace('_', ' ')}"
    name, p = ranked[0]
    shape = get_shape(name)
    limits = {q.name: q.limits for q in shape.parameters}
    size = result.size
    fitted = {}
    for field_name, parameter in SIZE_PARAMETERS:
        value = getattr(size, field_name, None)
        if value is not None and math.isfinite(value) and limits[parameter][0] <= value <= limits[parameter][1]:
            fitted[parameter] = float(value)
    params = shape.check(fitted)
    pattern = simulate_pattern(shape, params, grid, Optics.from_experiment(experiment), simulation)
    values = f"D_y {params['D_y']:.1f} nm, aspect {params['aspect']:.2f}, FWHM {params['fwhm']:.1f} nm"
    source = ("the size net's" if len(fitted) == len(SIZE_PARAMETERS)
              else "the class defaults" if not fitted else "the size net's where given, else default")
    label = f"top-1 {name} ({p:.2f}{', unknown' if result.status == 'unknown' else ''})"
    return to_levels(pattern, decades), f"simulated {label}\nat {source} {values}"


def geometry_figure(check: GeometryCheck, data: np.ndarray, title: str = "",
                    simulated: tuple[np.ndarray | None, str] | None = None):
    """A matplotlib Figure: ``data`` (the frame) in log scale with the mask, beams, horizon, Yoneda line
    and q contours (nm⁻¹), beside the model input and, given ``simulated`` (``simulated_input``), the
    simulated pattern of its top-1 class."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12 if simulated is None else 16, 6), dpi=100)
    if simulated is None:
        frame_ax, model_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    else:
        frame_ax, model_ax, sim_ax = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.6, 1, 1]})
    shown = np.where(check.invalid, np.nan, np.asarray(data, dtype=float))
    positive = shown[shown > 0]
    top = float(positive.max()) if positive.size else 1.0
    frame_ax.imshow(np.clip(shown, 0.5, None), cmap="viridis", norm=LogNorm(0.5, max(top, 1.0)),
                    interpolation="nearest")
    overlay = np.zeros((*check.shape, 4))
    overlay[check.static] = (1.0, 0.0, 0.0, 0.35)
    overlay[check.invalid & ~check.static] = (0.5, 0.5, 0.5, 0.8)
    frame_ax.imshow(overlay, interpolation="nearest")
    step = max(1, max(check.shape) // 400)  # contours on a coarser pixel grid: the same lines, faster
    rows, cols = np.mgrid[0:check.shape[0]:step, 0:check.shape[1]:step]
    q = check.q
    af = q.alpha_f[::step, ::step]
    frame_ax.contour(cols, rows, af, levels=[0.0], colors="w", linewidths=1.2)
    frame_ax.contour(cols, rows, af, levels=[check.alpha_c], colors="orange", linewidths=1.0, linestyles="--")
    qy = q.qy[::step, ::step]
    levels = np.arange(-3.0, 3.01, 0.5)
    cs = frame_ax.contour(cols, rows, qy, levels=levels[levels != 0], colors="0.85", linewidths=0.5)
    frame_ax.clabel(cs, fontsize=6, fmt="%g")
    qz = np.where(af > 0, q.qz[::step, ::step], np.nan)
    cs = frame_ax.contour(cols, rows, qz, levels=np.arange(0.5, 6.01, 0.5), colors="0.85", linewidths=0.5,
                          linestyles=":")
    frame_ax.clabel(cs, fontsize=6, fmt="%g")
    marks = [(check.direct_beam, "x", "red", "direct beam"), (check.specular, "+", "cyan", "specular (expected)"),
             (check.yoneda, "1", "orange", "Yoneda at q_y = 0 (expected)"),
             (check.maximum, "o", "magenta", "intensity maximum")]
    for p, marker, colour, label in marks:
        if p is not None:
            frame_ax.plot(*p, marker=marker, color=colour, ms=12, mew=2, mfc="none", ls="none", label=label)
    frame_ax.plot([], [], color="w", label="horizon (α_f = 0)")
    frame_ax.plot([], [], color="orange", ls="--", label="Yoneda (α_f = α_c)")
    frame_ax.plot([], [], color="0.85", lw=0.5, label="q_y (solid), q_z (dotted), nm⁻¹")
    frame_ax.plot([], [], color="red", lw=6, alpha=0.35, label="configured mask")
    frame_ax.set(xlim=(-0.5, check.shape[1] - 0.5), ylim=(check.shape[0] - 0.5, -0.5), xlabel="column",
                 ylabel="row", title="frame (log counts)")
    frame_ax.legend(fontsize=6, loc="upper right", framealpha=0.7)
    prepared = check.prepared
    grid = prepared.image if prepared.image is not None else prepared.intensity
    q_axes = _q_axes(check.grid)
    model_ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto", interpolation="nearest", **q_axes[0])
    model_ax.set(**q_axes[1],
                 title=f"model input {grid.shape[0]} × {grid.shape[1]} (q_z × q_y)"
                 + ("" if prepared.image is not None else f" ({prepared.status})"))
    if simulated is not None:
        image, caption = simulated
        if image is None:
            sim_ax.text(0.5, 0.5, caption, transform=sim_ax.transAxes, ha="center", va="center", wrap=True)
            sim_ax.set_axis_off()
        else:
            sim_ax.imshow(image, origin="lower", cmap="viridis", aspect="auto", interpolation="nearest",
                          vmin=0, vmax=255, **q_axes[0])
            sim_ax.set(**q_axes[1])
            sim_ax.set_title(caption, fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _q_axes(grid: QGrid | None) -> tuple[dict, dict]:
    """(``imshow`` keywords, axis labels) of a model-grid panel: q in nm⁻¹ where the grid is known, else bins."""
    if grid is None:
        return {}, {"xlabel": "q_y bin", "ylabel": "q_z bin"}
    return ({"extent": (grid.qy_min, grid.qy_max, grid.qz_min, grid.qz_max)},
            {"xlabel": "q_y (nm⁻¹)", "ylabel": "q_z (nm⁻¹)"})
