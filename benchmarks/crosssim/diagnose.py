"""Why a frame of the BornAgain set gets the class it gets: the frame's pattern without detector, noise or
regrid, next to the same sample in other approximations, each classified by a model.

    python benchmarks/crosssim/diagnose.py [--model DIR] [--json PATH] p2m_3000/cylinder_007 ...

Frames are named as in the set's labels.csv without the extension (``make_set.jobs``, seed 0, 24 per class;
nothing is read from disk). Per frame, on the model's grid (bin centres; log10 of dσ/dΩ, log-linear
interpolation of BornAgain's 0.03° × 0.035° bins as ``make_set.render``), the model's top classes for:

* ``BornAgain set``: the frame's own sample (``make_set.build_sample``: one deposit per size node, local
  monodisperse, spacing or disk size ∝ each node's D);
* ``BornAgain decoupling`` (paracrystal frames): the same particles as one ``Mixture`` in one
  ``RadialParacrystal`` at spacing ratio × the mode of D_y, BornAgain's decoupling approximation;
* ``BornAgain dilute``: the same particles without interference;
* ``ours decoupling`` / ``ours local monodisperse``: this project's simulator at the frame's parameters, with
  its paracrystal (or Percus–Yevick hard spheres at η = the disks' coverage) in either approximation;
* ``ours decoupling + BornAgain q_y < 0.075``: ours with its three lowest-q_y columns (every q_z) taken from
  the BornAgain frame: the feature that decides the vote, where this one flips it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np

from gisaxs_live.classify.modeldir import ModelInfo
from gisaxs_live.config import load_config
from gisaxs_live.preprocess.qgrid import exit_angle
from gisaxs_live.preprocess.scale import to_levels
from gisaxs_live.simulator import conventions
from gisaxs_live.simulator.pattern import Optics, simulate_pattern
from gisaxs_live.simulator.shapes import CLASS_NAMES, get_shape
from gisaxs_live.simulator.structure import Structure

HERE = Path(__file__).resolve().parent
LOW_QY_COLUMNS = 3


def _make_set():
    spec = importlib.util.spec_from_file_location("make_set", HERE / "make_set.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_set"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


ms = _make_set()


def frame_labels(per_class: int = 24, seed: int = 0) -> dict[str, dict]:
    """Labels of every frame of the set, by name (geometry/class_index)."""
    jobs = ms.jobs(per_class, seed, list(ms.SETUPS), Path("."), False)
    return {job[2].removesuffix(".cbf"): job[3] for job in jobs}


def experiment():
    """The set's experiment (make_set's λ, α_i and materials are the default config's)."""
    config = load_config(None).experiment
    assert math.isclose(config.wavelength_nm, ms.WAVELENGTH_NM) and math.isclose(config.incidence_angle_deg,
                                                                                 ms.ALPHA_I_DEG)
    return config


def grid_angles(info: ModelInfo) -> tuple[np.ndarray, np.ndarray]:
    """(2θ_f, α_f) (rad) of the model grid's bin centres, each of the grid's shape."""
    k, alpha_i = experiment().k_nm, experiment().alpha_i_rad
    alpha_f = exit_angle(info.grid.qz, k, alpha_i)[:, np.newaxis]
    two_theta = np.arcsin(np.clip(info.grid.qy[np.newaxis, :] / (k * np.cos(alpha_f)), -1.0, 1.0))
    return np.broadcast_to(two_theta, info.grid.shape), np.broadcast_to(alpha_f, info.grid.shape)


def _bornagain_on_grid(info: ModelInfo, sample_of) -> np.ndarray:
    """dσ/dΩ of ``sample_of(ba)`` (a BornAgain sample, and objects to keep alive) at the grid's bin centres."""
    import bornagain as ba

    two_theta, alpha_f = grid_angles(info)
    step_phi, step_alpha = (math.radians(s) for s in ms.ANGLE_STEP_DEG)
    n_phi = int(math.ceil((two_theta.max() + 0.002) / step_phi)) + 1
    n_alpha = int(math.ceil((np.nanmax(alpha_f) + 0.002) / step_alpha)) + 1
    sample, _keep = sample_of(ba)
    detector = ba.SphericalDetector(n_phi, 0.0, n_phi * step_phi, n_alpha, 0.0, n_alpha * step_alpha)
    beam = ba.Beam(1.0, ms.WAVELENGTH_NM, math.radians(ms.ALPHA_I_DEG))
    simulation = ba.ScatteringSimulation(beam, sample, detector)
    simulation.options().setNumberOfThreads(1)
    result = simulation.simulate()
    counts = np.asarray(result.intensities(), dtype=float)
    solid_angle = step_phi * np.diff(np.sin(np.arange(n_alpha + 1) * step_alpha))[:, np.newaxis]
    return ms.render(np.asarray(result.xCenters()), np.asarray(result.yCenters()), counts / solid_angle,
                     two_theta, alpha_f)


def bornagain_set(info: ModelInfo, labels: dict) -> np.ndarray:
    return _bornagain_on_grid(info, lambda ba: ms.build_sample(ba, labels))


def bornagain_decoupling(info: ModelInfo, labels: dict) -> np.ndarray:
    """The frame's particles, every size and orientation node, as one Mixture in one RadialParacrystal."""
    def sample_of(ba):
        shape = get_shape(labels["class"])
        te = ba.RefractiveMaterial("Te", (0.5, 0.5, 0.5), *ms.TE)
        si = ba.RefractiveMaterial("Si", (0.5, 0.5, 0.5), *ms.SI)
        sizes, fractions = ms.size_nodes(labels["D_y"], labels["fwhm"], labels["n_sizes"])
        period = shape.orientation_period_deg
        angles = ([0.0] if period is None
                  else list(period * (labels["orientation_offset"] + np.arange(ms.ORIENTATIONS)) / ms.ORIENTATIONS))
        mixture, keep = ba.Mixture(), []
        for size, fraction in zip(sizes, fractions):
            for angle in angles:
                params = {k: labels[k] for k in conventions.PARTICLE_PARAMETERS[labels["class"]] if k in labels}
                params["D_y"] = float(size)
                if period is not None:
                    params["azimuth"] = float(angle)
                particle = conventions.build(conventions.to_bornagain(labels["class"], params), te, ba)
                keep.append(particle)
                mixture.addParticle(particle, float(fraction) / len(angles))
        distance = labels["spacing"] * labels["D_y"]
        paracrystal = ba.RadialParacrystal(mixture, distance, 1e3 * distance)
        paracrystal.setProbabilityDistribution(ba.Profile1DGauss(labels["spacing_width"] * distance))
        ambient = ba.Layer(ba.Vacuum())
        ambient.addDeposit2D(1.0, paracrystal)
        sample = ba.Sample()
        sample.addLayer(ambient)
        sample.addLayer(ba.Layer(si))
        return sample, (keep, mixture)

    return _bornagain_on_grid(info, sample_of)


def ours(info: ModelInfo, labels: dict, approximation: str | None) -> np.ndarray:
    """This project's pattern at the frame's parameters, randomly oriented; ``approximation`` None: dilute."""
    config = load_config(None)
    shape = get_shape(labels["class"])
    params = {name: labels[name] for name in shape.names if name in labels}
    if shape.orientation_period_deg is not None:
        params.update(azimuth=0.0, azimuth_spread=shape.orientation_period_deg)
    if approximation is None or labels["interference"] == "dilute":
        structure = Structure("dilute")
    elif labels["interference"] == "paracrystal":
        structure = Structure("paracrystal", spacing_ratio=labels["spacing"], disorder=labels["spacing_width"],
                              approximation=approximation)
    else:
        structure = Structure("hard_sphere", volume_fraction=labels["coverage"], approximation=approximation)
    return simulate_pattern(shape, shape.check(params), info.grid, Optics.from_experiment(experiment()),
                            config.simulation, structure)


def variants(info: ModelInfo, labels: dict) -> dict[str, np.ndarray]:
    """Images (uint8, the model's scaling) of the frame's sample in each approximation (module docstring)."""
    def image(x: np.ndarray) -> np.ndarray:
        return to_levels(np.asarray(x, np.float32), info.decades)

    out = {"BornAgain set": image(bornagain_set(info, labels))}
    if labels["interference"] == "paracrystal":
        try:
            out["BornAgain decoupling"] = image(bornagain_decoupling(info, labels))
        except RuntimeError as exc:  # the mode's spacing can be too small for the largest sizes
            print(f"  (no BornAgain decoupling: {str(exc).splitlines()[-1]})", flush=True)
    out["BornAgain dilute"] = image(bornagain_set(info, dict(labels, interference="dilute",
                                                             coverage=ms.DILUTE_COVERAGE)))
    out["ours decoupling"] = image(ours(info, labels, "decoupling"))
    out["ours local monodisperse"] = image(ours(info, labels, "local_monodisperse"))
    swapped = out["ours decoupling"].copy()
    swapped[:, :LOW_QY_COLUMNS] = out["BornAgain set"][:, :LOW_QY_COLUMNS]
    out[f"ours decoupling + BornAgain q_y < {info.grid.qy_edges[LOW_QY_COLUMNS]:.3f}"] = swapped
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("frames", nargs="+", help="frame names, e.g. p2m_3000/cylinder_007")
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled model)")
    parser.add_argument("--json", type=Path, default=None, help="also write the probabilities here")
    args = parser.parse_args(argv)
    from gisaxs_live.classify.predictor import Predictor

    predictor = Predictor(args.model, with_ood=False)
    info = predictor.info
    labels = frame_labels()
    result = []
    for name in args.frames:
        frame = labels[name]
        images = variants(info, frame)
        probabilities = predictor.predict(np.stack(list(images.values())))
        print(f"{name}: {frame['interference']}, D_y {frame['D_y']:.1f} nm, fwhm {frame['fwhm']:.1f} nm", flush=True)
        for tag, p in zip(images, probabilities):
            top = np.argsort(p)[::-1][:3]
            print(f"  {tag:42s} " + "  ".join(f"{CLASS_NAMES[i]} {p[i]:.2f}" for i in top), flush=True)
        result.append({"frame": name, "class": frame["class"], "interference": frame["interference"],
                       "probabilities": {tag: [round(float(x), 4) for x in p]
                                         for tag, p in zip(images, probabilities)}})
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
