"""The model card: every class stated with its trained ranges and BornAgain's equivalent, the families with
their proofs, and the bundled MODEL.md and model.json in step with the code that writes them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gisaxs_live.classify.card import card_facts, render_markdown
from gisaxs_live.classify.modeldir import ModelInfo, bundled_model_dir
from gisaxs_live.simulator.shapes import CLASS_NAMES


def test_every_class_states_geometry_ranges_and_bornagain():
    facts = card_facts(ModelInfo.read(None))
    assert [c["class"] for c in facts["classes"]] == list(CLASS_NAMES)
    for c in facts["classes"]:
        assert c["geometry"] and c["bornagain"] and c["parameters"]
        names = [p["name"] for p in c["parameters"]]
        assert names[:3] == ["D_y", "aspect", "fwhm"]
    by = {c["class"]: c for c in facts["classes"]}
    h_ratio = next(p for p in by["truncated_spheroid"]["parameters"] if p["name"] == "h_ratio")
    assert h_ratio["trained_range"] == "0.2–0.8 without (0.4, 0.6)"
    spread = next(p for p in by["ellipsoid"]["parameters"] if p["name"] == "azimuth_spread")
    assert spread["trained_range"] == "180"
    assert "base_edge = D_y·√3/2" in by["prism3"]["bornagain"]
    assert [f["family"] for f in facts["families"]] == ["prism6|cylinder"]
    assert "test_random_prism6_is_a_cylinder_of_equal_area" in facts["families"][0]["proof"]


def test_the_bundled_card_is_in_step_with_the_model():
    info = ModelInfo.read(None)
    facts = card_facts(info)
    written = (bundled_model_dir() / "MODEL.md").read_text()
    assert written == render_markdown(facts), "run `gisaxs-live model-info --write`"
    assert json.loads(json.dumps(facts, default=str)) == info.meta["card"]
    for name in CLASS_NAMES:
        assert (bundled_model_dir() / "pictures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_model_info_prints_the_card():
    run = subprocess.run([sys.executable, "-m", "gisaxs_live.cli", "model-info"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("# Model card") and "## Degenerate families" in run.stdout
    as_json = subprocess.run([sys.executable, "-m", "gisaxs_live.cli", "model-info", "--json"], capture_output=True,
                             text=True, timeout=60)
    assert json.loads(as_json.stdout)["classes"][0]["class"] == "capsule"
    missing = subprocess.run([sys.executable, "-m", "gisaxs_live.cli", "model-info", "--model", "/nonexistent"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "/nonexistent: not a gisaxs-live model directory (no model.json in it)" in missing.stderr


def test_the_cards_figures_on_other_data_are_the_committed_benchmark_results():
    """The card's lines on frames from elsewhere quote benchmarks/results as committed (a refit of the flag or a
    rebuilt cross-simulator set that leaves the card behind fails here)."""
    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    other = ModelInfo.read(None).meta["other_data"]
    foreign = next(v["summary"] for k, v in other.items() if k.startswith("frames unlike every class"))
    now = json.loads((results / "ood.json").read_text())  # the flag that ships, on simulator 1.3's foreign frames
    seed2 = json.loads((results / "ood_seed2.json").read_text())
    fits = [now] + [json.loads((results / "sim13" / f"ood_fit_seed{s}.json").read_text()) for s in (1, 2)]
    before = json.loads((results / "sim13" / "ood_previous_flag.json").read_text())  # the flag fitted on 1.2's
    assert foreign.startswith(f"on simulator 1.3's frames {now['flagged_mean_percent']:.1f} % flagged unknown (")
    for kind, percent in now["flagged_percent"].items():
        assert f"{kind} {percent:g}" in foreign, kind
    assert f"noise {now['false_flags_percent']:.2f} %" in foreign
    assert f"(seed 2, 100 per kind) {seed2['flagged_mean_percent']:.1f} % flagged" in foreign
    assert " / ".join(f"{fit['flagged_mean_percent']:.1f}" for fit in fits) + " %" in foreign
    assert f"fitted on simulator 1.2's foreign frames: {before['flagged_mean_percent']:.1f} %" in foreign
    assert ModelInfo.read(None).meta["ood"]["foreign_simulator_version"] == "1.3"
    bornagain = next(v["summary"] for k, v in other.items() if k.startswith("BornAgain"))
    crosssim = json.loads((results / "crosssim.json").read_text())
    overall = crosssim["overall"]
    assert bornagain.startswith(f"family top-1 {100 * overall['family_top1']:.1f} %, "
                                f"top-2 {100 * overall['family_top2']:.1f} %, top-1 {100 * overall['top1']:.1f} %")
    for name, figures in crosssim["per"]["class"].items():
        assert f"{name} {100 * figures['family_top1']:.0f}" in bornagain, name
