"""A model directory: ``model.weights.h5`` (the weights) and ``model.json`` (what they mean: architecture,
class order, q-grid, preprocessing, the experiment trained for, provenance and metrics)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..config import Experiment
from ..preprocess.qgrid import QGrid
from .families import DEFAULT_FAMILIES, Families, partition

WEIGHTS = "model.weights.h5"
META = "model.json"
#: a model directory being trained holds this file (the training's PID) until its last calibration is written
TRAINING = ".training"


def bundled_model_dir() -> Path:
    """The pretrained model shipped inside the package."""
    return Path(str(resources.files("gisaxs_live").joinpath("models/default")))


@dataclass(frozen=True)
class ModelInfo:
    """``model.json`` of a model directory."""

    path: Path
    meta: dict

    @classmethod
    def read(cls, model_dir: str | Path | None) -> "ModelInfo":
        path = Path(model_dir) if model_dir is not None else bundled_model_dir()
        _check_finished(path)
        try:
            meta = json.loads((path / META).read_text(encoding="utf-8"))
        except OSError as exc:
            cause = f"no {META} in it" if isinstance(exc, FileNotFoundError) else f"{META}: {exc.strerror}"
            raise ValueError(f"{path}: not a gisaxs-live model directory ({cause})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not a gisaxs-live model directory ({META} is not JSON: {exc})") from None
        _check_meta(path / META, meta)
        return cls(path, meta)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.meta["class_names"])

    @property
    def grid(self) -> QGrid:
        return QGrid.from_dict(self.meta["qgrid"])

    @property
    def families(self) -> Families:
        """The degenerate families of ``model.json`` (``families``: lists of class names), else the default."""
        groups = self.meta.get("families")
        return partition(self.class_names, tuple(map(tuple, groups)) if groups is not None else DEFAULT_FAMILIES)

    @property
    def answer_cut(self) -> float | None:
        """The answer-set threshold of ``model.json`` (key ``answer``, ``classify.answer``); None where the model
        has none (its answer is the top family alone)."""
        record = self.meta.get("answer")
        if record is None:
            return None
        try:
            cut = float(record["threshold"])
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"{self.path / META}: its answer calibration has no threshold number; run "
                             f"`gisaxs-live calibrate-answer` again") from None
        if not 0.0 < cut <= 2.0:
            raise ValueError(f"{self.path / META}: answer threshold {cut:g} is outside (0, 2]; run "
                             f"`gisaxs-live calibrate-answer` again")
        return cut

    @property
    def architecture(self) -> str:
        return str(self.meta.get("architecture", "paper"))

    @property
    def decades(self) -> float:
        return float(self.meta["scale_decades"])

    def mismatch(self, experiment: Experiment) -> str | None:
        """A warning when ``experiment`` is far from the one the model was trained for, else None.

        Far: wavelength off by more than 2 %, or the horizon q_z = k sin α_i off by more than one row of
        the grid (the q-grid, hence the image, would start elsewhere)."""
        trained = self.meta["experiment"]
        lam, ai = trained["wavelength_nm"], trained["incidence_angle_deg"]
        problems = []
        if abs(experiment.wavelength_nm - lam) > 0.02 * lam:
            problems.append(f"wavelength {experiment.wavelength_nm} nm vs {lam} nm")
        grid = self.grid
        row = (grid.qz_max - grid.qz_min) / grid.n_qz
        horizon = experiment.k_nm * math.sin(experiment.alpha_i_rad)
        if abs(horizon - grid.qz_min) > row:
            problems.append(f"incidence angle {experiment.incidence_angle_deg}° vs {ai}°")
        if not problems:
            return None
        return (f"model {self.path} was trained for another experiment ({'; '.join(problems)}); "
                f"train one for this setup with `gisaxs-live train --config ...`")


#: the entries of model.json that gisaxs-live writes as JSON objects (each is read by key)
OBJECT_KEYS = ("experiment", "training", "metrics", "ood", "answer", "size", "qgrid")


def _check_meta(where: Path, meta) -> None:
    """A one-line ValueError naming ``where`` (a model.json) and the entry for what a model cannot be used with: a
    missing key, a class list that is not distinct names, a q-grid, scale or experiment that is not finite
    numbers in range, families that are not lists of class names."""
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: not a JSON object of the model's facts")
    for key in ("class_names", "qgrid", "scale_decades", "experiment"):
        if key not in meta:
            raise ValueError(f"{where}: missing key {key!r}")
    names = meta["class_names"]
    if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) and n for n in names)
            and len(set(names)) == len(names)):
        raise ValueError(f"{where}: class_names must be a list of at least two distinct class names")
    try:
        grid = QGrid.from_dict(meta["qgrid"])
        decades = float(meta["scale_decades"])
        lam = float(meta["experiment"]["wavelength_nm"])
        alpha = float(meta["experiment"]["incidence_angle_deg"])
    except (TypeError, KeyError, ValueError) as exc:
        what = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) else "a value that is not a number"
        raise ValueError(f"{where}: its q-grid, scale or experiment has {what}") from None
    if not (grid.n_qy >= 2 and grid.n_qz >= 2 and math.isfinite(grid.qy_max) and math.isfinite(grid.qz_max)
            and grid.qy_max > grid.qy_min >= 0 and grid.qz_max > grid.qz_min):
        raise ValueError(f"{where}: qgrid must have at least 2 × 2 bins over finite, increasing q ranges")
    if not (0.0 < decades <= 20.0):
        raise ValueError(f"{where}: scale_decades {decades:g} is outside (0, 20]")
    if not (lam > 0.0 and math.isfinite(lam) and math.isfinite(alpha)):
        raise ValueError(f"{where}: the experiment's wavelength and incidence angle must be finite numbers")
    wrong = [key for key in OBJECT_KEYS if key in meta and not isinstance(meta[key], dict)]
    if wrong:
        kind = "a JSON object" if len(wrong) == 1 else "JSON objects"
        raise ValueError(f"{where}: its {', '.join(wrong)} must be {kind} ({{...}}) as gisaxs-live writes them; train "
                         "or calibrate the model again")
    families = meta.get("families")
    if families is not None:
        if not (isinstance(families, list) and all(isinstance(g, list) and all(isinstance(c, str) for c in g)
                                                    for g in families)):
            raise ValueError(f"{where}: families must be a list of lists of class names")
        try:
            partition(tuple(names), tuple(map(tuple, families)))
        except ValueError as exc:
            raise ValueError(f"{where}: families: {exc}") from None


def _check_finished(path: Path) -> None:
    """A ValueError for a model directory whose ``train`` has not finished (another process trains it, or it was
    interrupted: its flag or answer calibration would be missing, and it would load as a whole model)."""
    try:
        pid = (path / TRAINING).read_text().strip()
    except OSError:
        return
    if pid != str(os.getpid()):
        raise ValueError(f"{path}: its training has not finished (process {pid} is training it, or was interrupted); "
                         "train it again")
