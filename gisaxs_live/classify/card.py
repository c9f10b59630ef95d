"""The model card: what each class means (geometry, parameters and the ranges trained on, orientation),
the degenerate families and the tests that prove them, how other codes' shapes map onto ours, the
experiment and q-grid the model is for, its training and its measured accuracy. Pure (no TensorFlow).

``card_facts`` gathers the facts as a dict (stored in ``model.json`` under ``card``); ``render_markdown``
writes them as MODEL.md; ``gisaxs-live model-info`` prints them.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..simulator import SIMULATOR_VERSION, conventions
from ..training.report import size_cell
from ..simulator.shapes import get_shape
from ..simulator.versions import EARLIER
from .families import family_name
from .model import LAYOUTS
from .modeldir import ModelInfo

#: per class: the geometry in words (how BornAgain's form factors express it: ``simulator/conventions.py``)
GEOMETRY: dict[str, str] = {
    "capsule": "vertical cylinder of diameter D_y with hemispherical caps, total height D_z = aspect·D_y ≥ D_y",
    "spheroid": "spheroid of revolution, in-plane diameter D_y, height D_z = aspect·D_y, resting on its pole",
    "ellipsoid": "triaxial ellipsoid, in-plane axes D_y (long) and D_x = D_y/xy_ratio, height D_z = aspect·D_y, "
                 "randomly oriented in-plane",
    "truncated_spheroid": "spheroid of diameter D_y and height D_z = aspect·D_y cut by the substrate: the kept top "
                          "part has height H = h_ratio·D_z",
    "hemispheroid": "upper half of a spheroid: flat base of diameter D_y on the substrate, height D_z = aspect·D_y",
    "prism3": "triangular prism, base circumscribed by a circle of diameter D_y, height D_z = aspect·D_y",
    "prism6": "hexagonal prism, base circumscribed by a circle of diameter D_y, height D_z = aspect·D_y",
    "cylinder": "vertical cylinder of diameter D_y and height D_z = aspect·D_y",
}

ORIENTATION = ("Particles stand on the substrate (z = 0 at their base). Axially symmetric shapes have no in-plane "
               "orientation. Ellipsoids are averaged over a uniform in-plane orientation (an aligned ellipsoid "
               "scatters as a spheroid on the model's grid and is one by definition). Prisms: azimuth φ is the "
               "rotation of a base vertex from +x (the beam direction) and the deposit's orientations are uniform "
               "over [φ − s/2, φ + s/2]; s = azimuth_spread spans aligned (0) to random (the symmetry period). "
               "A triangle turned by 60° is its own image through the centre, whose in-plane amplitude is the complex "
               "conjugate; at q_x = 0 so is a particle's turned by 180° (q_y → −q_y). Its vertical DWBA factor is not "
               "conjugated, but |F|² is unchanged: each particle's intensity is the same at φ and φ + 60° (prism3) and "
               "mirror-symmetric about q_y = 0 in the plane q_x = 0 at any azimuth, for every class "
               "(centrosymmetric horizontal sections, or a vertical extrusion: "
               "tests/test_shapes.py::test_every_class_scatters_mirror_symmetrically_about_q_y_0_at_any_azimuth), "
               "and so is a monodisperse deposit's and one in the local monodisperse approximation. In the "
               "decoupling approximation the coherent term |⟨F⟩|² sums amplitudes over sizes first, so for a "
               "polydisperse, partly aligned prism3 deposit both hold only approximately: at D_y 20 nm, FWHM 9 nm, "
               "aligned at 20°, up to 4 % (Percus–Yevick, η 0.2) or 22–25 % (a paracrystal) at single q "
               "(tests/test_physics.py::test_an_aligned_polydisperse_prism3_deposit_is_mirror_symmetric_and_60_"
               "degree_periodic_only_size_by_size). Spreads of 60° and more are therefore random in what a prism3 "
               "pattern shows to within that, and the live mirror check of the geometry (geometry.max_asymmetry, "
               "0.15 on the median relative asymmetry, which stays below 0.001 there) can rely on the symmetry.")

FAMILY_PROOFS: dict[str, str] = {
    "prism6|cylinder": "tests/test_physics.py::test_random_prism6_is_a_cylinder_of_equal_area: randomly oriented, "
                       "a hexagonal prism scatters as the cylinder of equal base area (0.909 D_y) and the same height "
                       "(so aspect 1.10× and FWHM 0.909× the prism's) within 0.2–1.5 grey levels of 255 on average "
                       "over the image (six points over the trained ranges), closer than the same prism 3 % larger; "
                       "single bins of the narrowest, largest ones (D_y 30–40 nm, FWHM 3 nm) differ by up to 20–26 "
                       "levels, at large q where detector noise and the size distribution blur such detail. The "
                       "proof is for orientation spreads near the 60° period (at 20°: 0.6–2.3 levels on average). "
                       "Aligned prisms (spread 0) differ from that cylinder by 2.7–8.0 levels on average and up to "
                       "141 in single bins: a classifier could tell those apart, but the class trains spreads 0–60° "
                       "and a frame does not say its spread, so every prism6 answer is reported with the family",
}


NON_OVERLAP: dict[str, str] = {
    "truncated_spheroid": "h_ratio = 0.5 is exactly a hemispheroid (of aspect/2): the class excludes 0.4 < h_ratio "
                          "< 0.6 (tests/test_shapes.py::test_truncated_spheroids_are_never_sampled_where_they_are_"
                          "hemispheroids)",
    "ellipsoid": "an aligned ellipsoid is a spheroid on the model's grid (tests/test_physics.py::test_aligned_"
                 "ellipsoid_on_the_canonical_grid_is_the_spheroid_of_its_d_y): the class is randomly oriented only",
    "capsule": "aspect 1.1–1.7 and spheroid's 0.3–0.9 leave the sphere (aspect 1) to neither",
}


def _range(p) -> str:
    lo, hi = p.sample_range
    if lo == hi:
        return f"{lo:g}"
    text = f"{lo:g}–{hi:g}"
    if p.excluded is not None:
        text += f" without ({p.excluded[0]:g}, {p.excluded[1]:g})"
    return text


def class_facts(name: str) -> dict[str, Any]:
    shape = get_shape(name)
    return {
        "class": name,
        "geometry": GEOMETRY[name],
        "parameters": [{"name": p.name, "unit": p.unit, "trained_range": _range(p), "description": p.description}
                       for p in shape.parameters],
        "orientation_period_deg": shape.orientation_period_deg,
        "bornagain": " ".join(inspect.getdoc(conventions.TO_BORNAGAIN[name]).split()).replace("``", "`"),
        "non_overlap": NON_OVERLAP.get(name, ""),
    }


def card_facts(info: ModelInfo) -> dict[str, Any]:
    """Everything the card states, as JSON-ready data."""
    meta, grid = info.meta, info.grid
    experiment = meta["experiment"]
    return {
        "model": info.path.name,
        "classes": [class_facts(c) for c in info.class_names],
        "families": [{"family": family_name(g), "members": list(g), "proof": FAMILY_PROOFS.get(family_name(g), "")}
                     for g in info.families if len(g) > 1],
        "orientation": ORIENTATION,
        "bornagain_common": "BornAgain's particle origin is its bottom centre and deposit2D puts it on the substrate, as ours; "
        "BornAgain's beam runs along +x, as our q_x, so our azimuth φ is RotationZ(φ). Size distribution: "
        + " ".join(inspect.getdoc(conventions.lognormal_to_bornagain).split()),
        "experiment": experiment,
        "qgrid": {"q_z_nm-1": [grid.qz_min, grid.qz_max, grid.n_qz], "q_y_nm-1": [grid.qy_min, grid.qy_max, grid.n_qy],
                  "rows": "q_z ascending from the sample horizon k·sin α_i (row 0 = horizon)",
                  "columns": "|q_y| ascending from 0 (both detector halves folded)"},
        "scale": f"log10 of the bin mean, the top {info.decades:g} decades on 256 grey levels",
        "network": {"architecture": info.architecture, "layout": LAYOUTS.get(info.architecture, "")},
        "training": {k: meta[k] for k in ("training_set", "augmentation", "randomisation") if meta.get(k)}
                    | {"epochs": meta.get("training", {}).get("epochs"),
                       "simulator_version": meta.get("simulator_version"),
                       "simulator_note": EARLIER.get(meta.get("simulator_version"))},
        "metrics": meta.get("metrics", {}),
        "metrics_note": meta.get("metrics_note", ""),
        "other_data": meta.get("other_data", {}),
        "ood": meta.get("ood"),
        "answer": meta.get("answer"),
        "size": _size_facts(meta.get("size")),
    }


#: what each size column means (``classify/size.py``), for the card
SIZE_DEFINITIONS = {
    "D_y_nm": "in-plane diameter D_y (nm), the mode of the islands' size distribution, as the classes' D_y: for a "
              "truncated spheroid the full spheroid's (below h_ratio 0.5 the cap's widest is its footprint on the "
              "substrate, D_y·√(1 − (1 − 2 h_ratio)²): 0.8 D_y at 0.2, 0.98 D_y at 0.4); for a prism the "
              "circumscribed circle's, so that within the prism6|cylinder family the same pattern reads 0.909 D_y "
              "as a cylinder",
    "aspect": "D_z/D_y as the classes' aspect (a truncated spheroid: the full spheroid's D_z; a prism6 pattern read "
              "as a cylinder of the same height gives 1.10× the prism's)",
    "fwhm_nm": "full width at half maximum of the D_y distribution (nm)",
    "distance_nm": "interparticle distance (nm): a paracrystal's mean spacing d; for Percus–Yevick hard spheres of "
                   "diameter D_y at volume fraction η the mean spacing of their number density, D_y (π/6η)^(1/3); "
                   "not defined for a dilute deposit (those patterns are left out of its training)",
    "*_err": "the net's 1σ of each, from its predicted variance (Gaussian negative log-likelihood training)",
    "corr_distance_nm, guinier_radius_nm": "model-free: 2π/q₀ of the interference maximum and the in-plane "
                                            "Guinier radius, from the Yoneda-band cut (preprocess/descriptors.py); "
                                            "2π/q₀ is about 1.05–1.1 D_y for hard spheres, not distance_nm",
}


def _size_facts(record: dict | None) -> dict[str, Any]:
    """The size columns' definitions and, where the model has a size net, its recipe and held-out errors."""
    facts: dict[str, Any] = {"definitions": SIZE_DEFINITIONS, "net": None}
    if record:
        layout = (f"Conv 3×3 + MaxPool stages of {'/'.join(map(str, record.get('filters', [16, 32, 64])))} filters, "
                  f"{record.get('depth', 1)} convolution(s) in every stage after the first"
                  + (", a learned row and column bias after the first" if record.get("position") else "")
                  + ", Dense 256")
        facts["net"] = {"layout": layout, "targets": record["targets"], "epochs": record["training"]["epochs"],
                        "n_train": record["training"]["n_train"], "metrics": record["metrics"],
                        "training_set_sha256": record["training"].get("training_set_sha256", "")}
    return facts


def render_markdown(facts: dict[str, Any]) -> str:
    """MODEL.md from ``card_facts``."""
    e, g = facts["experiment"], facts["qgrid"]
    lines = ["# Model card", "",
             f"Model `{facts['model']}`. Every fact here is also in its `model.json` (key `card`); "
             "`gisaxs-live model-info [--model DIR]` prints it.", "",
             "## What it is for", "",
             f"* Experiment: λ = {e['wavelength_nm']:g} nm, α_i = {e['incidence_angle_deg']:g}°, particles "
             f"{_material(e['particle'])} on {_material(e['substrate'])}, volume fraction {e['volume_fraction']:g}. "
             "Classifying frames of another λ or α_i prints a warning: train or fine-tune for them.",
             f"* Input: the frame regridded onto q_z {g['q_z_nm-1'][0]:.4f}–{g['q_z_nm-1'][1]:.4f} nm⁻¹ "
             f"({g['q_z_nm-1'][2]} rows; {g['rows']}) × q_y {g['q_y_nm-1'][0]:g}–{g['q_y_nm-1'][1]:g} nm⁻¹ "
             f"({g['q_y_nm-1'][2]} columns; {g['columns']}); {facts['scale']}.",
             f"* Classifier: the `{facts['network']['architecture']}` network, {facts['network']['layout']}.",
             "* Units: lengths in nm, q in nm⁻¹, angles in degrees. D_y is the in-plane diameter (the mode of its "
             "size distribution, whose full width at half maximum is `fwhm`: log-normal, or in training also Gaussian "
             "or Schulz; the Gaussian is cut at 0.05 D_y, so that below D_y = fwhm/2 its width at half maximum is "
             "narrower), D_z the vertical size, aspect = D_z/D_y.",
             "", "## Classes", "",
             "The label index is the position in this list. Ranges are those trained on (uniform).", ""]
    for i, c in enumerate(facts["classes"]):
        lines += [f"### {i}. {c['class']}", "", f"![{c['class']}](pictures/{c['class']}.png)", "",
                  f"{c['geometry']}.", ""]
        lines += ["| parameter | unit | trained range | meaning |", "|---|---|---|---|"]
        lines += [f"| {p['name']} | {p['unit'] or '–'} | {p['trained_range']} | {p['description']} |"
                  for p in c["parameters"]]
        lines += ["", f"BornAgain 25: {c['bornagain']}"]
        if c["non_overlap"]:
            lines += ["", f"Kept apart from its neighbours: {c['non_overlap']}."]
        lines += [""]
    lines += ["## Orientation", "", facts["orientation"], "", "## Other codes", "",
              "Each class above gives BornAgain 25's particle for it (`gisaxs_live/simulator/conventions.py`, checked "
              "against BornAgain by `tests/test_bornagain.py`: median differences 0.05–0.44 %). "
              + facts["bornagain_common"], "", "## Degenerate families", "",
              "Every row reports the most probable family and its summed probability (`family`, `p_family`) "
              "beside the top two classes. A class in no family is a family of its own.", ""]
    lines += [f"* `{f['family']}`: {f['proof']}." for f in facts["families"]] or ["* none"]
    lines += ["", "## Answer sets", ""]
    answer = facts["answer"]
    if answer:
        held = answer["held_out"]
        lines += [f"`answer` is the smallest set of families, most probable first and joined by \"or\", that holds "
                  f"the true family of {100 * answer['level']:g} % of detector-like held-out patterns ({answer['method']}): "
                  f"{_taken(answer['threshold'])}. On "
                  f"the {answer['n_held_out']} calibration patterns it held the true family {100 * held['coverage']:.1f} % "
                  f"of the time with {held['mean_size']:.2f} families on average, one family in "
                  f"{100 * held['single']:.1f} %. A frame from elsewhere can fall short of the level (measured in the "
                  "README). The `family` column stays the most probable family alone."]
    else:
        lines += ["Not calibrated: `answer` is the most probable family alone "
                  "(`gisaxs-live calibrate-answer --model DIR SET.h5`)."]
    lines += ["", "## Out-of-distribution flag", ""]
    ood = facts["ood"]
    if ood:
        lines += [f"{ood['method']}; `ood_score` = distance / {ood['threshold']:.2f}, the "
                  f"{100 * ood['quantile']:g}th percentile over {ood['n_held_out']} detector-like held-out patterns "
                  f"of the known classes{_draws(ood)}. A row with `ood_score` > 1 has status `unknown`."]
    else:
        lines += ["Not calibrated: rows have no `ood_score` and never status `unknown` "
                  "(`gisaxs-live calibrate-ood --model DIR SET.h5`)."]
    lines += ["", "## Size estimates", "",
              "Columns of every `ok` row (the descriptors also on `unknown` rows); empty where not determined.", ""]
    lines += [f"* `{name}`: {text}." for name, text in facts["size"]["definitions"].items()]
    net = facts["size"]["net"]
    if net:
        lines += ["", f"Size net ({net['layout']}): {net['epochs']} epochs on {net['n_train']} training patterns (set SHA-256 "
                  f"`{net['training_set_sha256'][:16]}…`, detector-like augmentation as the classifier's). "
                  "Held-out errors (detector-like noise), median / 90th percentile, and how often the truth lies "
                  "within ±1σ:", "", "| class | D_y (%) | aspect | FWHM (%) | distance (%) |", "|---|---|---|---|---|"]
        figures = net["metrics"]["held_out_noisy"]
        for label, row in [*figures["per_class"].items(), ("all", figures["all"])]:
            lines += [f"| {label} | " + " | ".join(size_cell(row.get(k), k == "aspect")
                                                 for k in ("D_y", "aspect", "fwhm", "distance")) + " |"]
    else:
        lines += ["", "This model has no size net: the net's columns stay empty (`gisaxs-live train-size`)."]
    lines += ["", "## Training", ""]
    t = facts["training"]
    if "training_set" in t:
        s = t["training_set"]
        lines += [f"* Set: {s['protocol']} protocol, seed {s['seed']}, {s['n_train']} train / {s['n_held_out']} "
                  f"held out, SHA-256 `{s['sha256'][:16]}…`; {t.get('epochs')} epochs."]
        resolution = (", ".join(f"{k} {v}" for k, v in s["simulation"].items()) + " (`config.Simulation`)"
                      if "simulation" in s else "not recorded with this model")
        lines += [f"* Simulator {t.get('simulator_version') or '(version not recorded)'}, resolution: {resolution}."]
        if t.get("simulator_note"):
            lines += [f"* Simulator {t['simulator_version']} against this release's ({SIMULATOR_VERSION}): "
                      f"{t['simulator_note']}."]
    if "randomisation" in t:
        lines += ["* Simulation randomised per pattern: " + ", ".join(f"{k} {v}" for k, v in t["randomisation"].items())
                  + " (`gisaxs_live/simulator/dataset.py`, `Randomisation`)."]
    if "augmentation" in t:
        lines += ["* Augmentation: " + ", ".join(f"{k} {v}" for k, v in t["augmentation"].items()) + "."]
    note = f"; {facts['metrics_note']}" if facts.get("metrics_note") else ""
    lines += ["", "## Measured", "",
              f"On the project's own simulator (top-1 is the mean of the per-class accuracies{note}):", ""]
    for name, m in facts["metrics"].items():
        if isinstance(m, dict) and "top1" in m:
            extra = "".join(f", {k.replace('_', ' ')} {m[k]:.1f} %" for k in ("family_top1", "family_top2") if k in m)
            flagged = f", {m['flagged_unknown']:.1f} % flagged unknown" if m.get("flagged_unknown") is not None else ""
            answer = (f", the answer set holds the true family {100 * m['answer']['coverage']:.1f} % "
                      f"({m['answer']['mean_size']:.2f} families)" if m.get("answer") else "")
            lines += [f"* {name}: top-1 {m['top1']:.1f} %, top-2 {m['top2']:.1f} %{extra}{flagged}{answer}."]
    other = facts.get("other_data") or {}
    if other:
        lines += ["", "On frames this project's simulator did not make:", ""]
        lines += [f"* {name}: {m['summary']} (`{m['command']}`)." for name, m in other.items()]
    else:
        lines += ["", "Not yet measured on frames this project's simulator did not make."]
    return "\n".join(lines) + "\n"


def _material(m: dict) -> str:
    if m.get("formula"):
        return f"{m['formula']} ({m['density_g_cm3']:g} g/cm³)"
    return f"δ = {m['delta']:g}, β = {m['beta']:g}"


def _draws(ood: dict) -> str:
    """", each made detector-like N times" where the calibration drew the held-out patterns more than once."""
    draws = ood.get("held_out_draws", 1)
    return f", each made detector-like {draws} times" if draws > 1 else ""


def _taken(threshold: float) -> str:
    """How the answer set is taken, in words, for its calibrated ``threshold``."""
    if threshold < 1e-3:  # below the top family's probability on any frame: 1 / the number of families at least
        shown = "0" if threshold < 1e-12 else f"{threshold:.3g}"  # 0, or the smallest float above it
        return (f"the threshold came out at {shown}, below the most probable family's probability on any "
                "frame, so the answer is always that family alone (it held the truth often enough by itself)")
    return f"families are taken while the probability already taken is below {threshold:.3f}"
