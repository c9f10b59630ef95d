"""One detector frame fitted end to end, as ``gisaxs-live refine`` and ``watch --refine`` do it: the frame masked
and regridded as for classification (``FramePreprocessor``; empty bins are left out of the fit, never filled),
the class's forward model (one per class, built once), the start from the size net's estimate
(``start.size_start``) or else the best point of the coarse grid (``start.grid_start``), then ``fit.refine``.
``FrameFit.row`` is the fit as a CSV row (the columns of ``refine --csv``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config
from ..frame import Frame, FrameError
from ..preprocess.prepare import FramePreprocessor
from ..preprocess.qgrid import QGrid
from ..simulator.pattern import Optics
from ..simulator.shapes import CLASS_NAMES, SHAPES, Parameter, get_shape
from .fit import FitData, Refinement, refine
from .model import VOLUME_FRACTION, ForwardModel, free_parameters
from .start import best_scale, grid_start, size_start

#: every class's free parameters, shape parameters first, η last (the columns of a log of fits of any class)
ALL_PARAMETERS: tuple[str, ...] = (*dict.fromkeys(n for s in SHAPES for n in free_parameters(s)
                                                  if n != VOLUME_FRACTION), VOLUME_FRACTION)


def _untrained(p: Parameter | None, value: float) -> str:
    """'' where the shape parameter ``p`` was trained on ``value`` (or is not one); else which range it was not."""
    if p is None or p.admits(value):
        return ""
    unit = f" {p.unit}" if p.unit else ""
    lo, hi = p.sample_range
    if lo <= value <= hi and p.excluded is not None:
        return f" (in the {p.excluded[0]:g}–{p.excluded[1]:g}{unit} band left out of training: another class's)"
    return f" (outside the {lo:g}–{hi:g}{unit} trained on)"


class NotFitted(Exception):
    """A frame that cannot be fitted; the message says why on one line."""


@dataclass(frozen=True)
class FrameFit:
    """One frame's fit: the class fitted, the data on the model grid, the refinement, and whether it started
    from the size net's estimate (else from the grid)."""

    shape_class: str
    data: FitData
    fit: Refinement
    names: tuple[str, ...]
    from_size_net: bool

    def describe(self) -> str:
        """One line: the class, each parameter ± 1σ (a parameter on a bound of the fit: that bound, said so; a shape
        parameter outside the range the model was trained on: that range), χ²_red, seconds, where the fit
        started; a fit that did not converge says so first, with least_squares' reason."""
        fit = self.fit
        trained = {p.name: p for p in get_shape(self.shape_class).parameters}

        def value(k: str) -> str:
            parameter = trained.get(k)
            unit = f" {parameter.unit}" if parameter is not None and parameter.unit else ""
            end = fit.at_limits.get(k)
            if end:
                return f"{k} {fit.params[k]:.4g}{unit} (at its {end} limit)"
            return f"{k} {fit.params[k]:.4g} ± {fit.errors[k]:.2g}{unit}{_untrained(parameter, fit.params[k])}"

        start = "size net" if self.from_size_net else "grid"
        return (("" if fit.converged else f"NOT CONVERGED ({fit.message}): ") + f"{self.shape_class}  "
                + "  ".join(value(k) for k in self.names)
                + f"  χ²_red {fit.chi2_red:.2f}  {fit.seconds:.2f} s  start: {start}")

    def row(self, source: str, frame: int) -> dict[str, str]:
        """source, frame, class, the parameters, their 1σ (``_err``), chi2_red, converged (0/1), seconds,
        ``at_limits``: the parameters on a bound of the fit (space-separated names; their 1σ means nothing), and
        ``message``: why a fit did not converge ('' for one that did)."""
        fit = self.fit
        return {"source": source, "frame": str(frame), "class": self.shape_class,
                **{k: f"{fit.params[k]:.6g}" for k in self.names},
                **{f"{k}_err": f"{fit.errors[k]:.3g}" for k in self.names},
                "chi2_red": f"{fit.chi2_red:.4g}", "converged": str(int(fit.converged)),
                "seconds": f"{fit.seconds:.3f}", "at_limits": " ".join(fit.at_limits),
                "message": "" if fit.converged else f"not converged: {fit.message}"}


class FrameFitter:
    """Fits frames of one experiment on one model grid; ``preprocessor`` masks and regrids them."""

    def __init__(self, config: Config, preprocessor: FramePreprocessor) -> None:
        self.config = config
        self.preprocessor = preprocessor
        self.optics = Optics.from_experiment(config.experiment)
        self._forwards: dict[str, ForwardModel] = {}

    @classmethod
    def for_model(cls, config: Config, model_dir: str | Path | None) -> "FrameFitter":
        """A fitter on the grid of the model in ``model_dir`` (None: the bundled one); reads its metadata only
        (no TensorFlow). A ValueError names a directory that is not a model."""
        from ..classify.modeldir import ModelInfo

        info = ModelInfo.read(model_dir)
        return cls(config, FramePreprocessor(config, info.grid, info.decades))

    @property
    def grid(self) -> QGrid:
        return self.preprocessor.grid

    def fit(self, frame: Frame, shape_class: str, size: Any = None) -> FrameFit:
        """Fit ``shape_class`` to ``frame``, starting from ``size`` (a ``classify.size.SizeEstimate``; None or
        no D_y: the grid start). Raises NotFitted for a frame without usable signal."""
        if shape_class not in CLASS_NAMES:
            raise NotFitted(f"class {shape_class}: the simulator has no such shape")
        try:
            prepared = self.preprocessor.prepare(frame)
        except FrameError as exc:
            raise NotFitted(str(exc)) from None
        if prepared.status != "ok":
            raise NotFitted(prepared.message)
        forward = self._forwards.get(shape_class)
        if forward is None:
            forward = self._forwards[shape_class] = ForwardModel(get_shape(shape_class), self.grid, self.optics,
                                                                 self.config.simulation)
        pixels = self.preprocessor.lookup(np.shape(frame.data)).counts.reshape(self.grid.shape)
        data = FitData(prepared.intensity.astype(float), pixels)
        volume_fraction = self.config.experiment.volume_fraction
        start = size_start(forward, size, volume_fraction)
        from_size_net = start is not None
        if start is None:
            start, scale = grid_start(forward, data, volume_fraction)
        else:
            scale = best_scale(forward(np.array([start[name] for name in forward.names], float)), data)
        return FrameFit(shape_class, data, refine(forward, data, start, scale), forward.names, from_size_net)
