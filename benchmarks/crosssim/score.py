"""Score a model on the BornAgain cross-simulator set (make_set.py) through ``gisaxs-live classify``.

    python benchmarks/crosssim/score.py --set DIR [--model MODEL_DIR] [--json PATH]

For each geometry config in the set (DIR/<geometry>.yaml) it runs ``gisaxs-live classify --config
<config> --csv DIR/classified.csv`` on that geometry's frames, by their full paths, as a subprocess (the
command a user runs), then joins the rows with DIR/labels.csv. Reports top-1, top-2 and per-class
accuracy, the confusion matrix, and the family top-1 / top-2 (a true class's family: the degenerate group
containing it, ``gisaxs_live.classify.families``) when the CSV has a ``family`` column; per geometry,
interference and counting level too. A frame counts as right only if its row says so: an ``unknown``
row has no family (a family miss, counted as a false flag), ``no_signal`` and ``error`` rows miss
everything. "Family top-1, flag ignored" is the most probable family of the CNN's ranking (``ok`` and
``unknown`` rows), to tell the classifier's transfer from the out-of-distribution flag's false flags. Where the
CSV has an ``answer`` column (the calibrated answer set, ``gisaxs_live/classify/answer.py``): how often the answer
holds the true family (an ``unknown`` row's empty answer does not) and how many families an answer names. Prints
the figures and writes JSON (default benchmarks/results/crosssim.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from gisaxs_live.classify.answer import SEPARATOR
from gisaxs_live.classify.families import partition, family_of, ranked_families
from gisaxs_live.simulator.shapes import CLASS_NAMES

RESULT = Path(__file__).resolve().parents[1] / "results" / "crosssim.json"


def classify(set_dir: Path, model: Path | None) -> tuple[list[dict[str, str]], float]:
    """Rows of ``gisaxs-live classify`` over every frame of the set (one call per geometry), and the seconds."""
    executable = Path(sys.executable).parent / "gisaxs-live"
    out = set_dir / "classified.csv"
    out.unlink(missing_ok=True)
    labels = read_labels(set_dir)
    t0 = time.perf_counter()
    for geometry in sorted({row["geometry"] for row in labels}):
        files = [str((set_dir / row["file"]).resolve()) for row in labels if row["geometry"] == geometry]
        command = [str(executable), "classify", "--config", str(set_dir / f"{geometry}.yaml"), "--csv", str(out)]
        command += ["--model", str(model)] if model else []
        done = subprocess.run(command + files, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"gisaxs-live classify failed on {geometry}: {done.stderr.strip().splitlines()[-1]}")
        print(f"{geometry}: {done.stderr.strip().splitlines()[-1]}", flush=True)
    with open(out, newline="") as f:
        return list(csv.DictReader(f)), time.perf_counter() - t0


def read_labels(set_dir: Path) -> list[dict[str, str]]:
    with open(set_dir / "labels.csv", newline="") as f:
        return list(csv.DictReader(f))


def score(labels: list[dict[str, str]], rows: list[dict[str, str]], set_dir: Path) -> dict:
    """The figures: overall, per class, per geometry / interference / counting decade, confusion matrix."""
    by_source = {row["source"]: row for row in rows}
    groups = partition(CLASS_NAMES)
    has_family = bool(rows) and "family" in rows[0]
    has_answer = bool(rows) and "answer" in rows[0]
    records = []
    for label in labels:
        row = by_source.get(str((set_dir / label["file"]).resolve()))
        if row is None:
            raise SystemExit(f"{label['file']}: no row in the classify CSV")
        true = label["class"]
        ranked = bool(row.get("top1"))
        probabilities = [float(row[f"p_{c}"]) for c in CLASS_NAMES] if ranked else None
        top_families = [f for f, _ in ranked_families(probabilities, CLASS_NAMES, groups)[:2]] if ranked else []
        true_family = family_of(true, groups)
        records.append({
            "file": label["file"], "class": true, "geometry": label["geometry"],
            "interference": label["interference"],
            "counts_decade": f"1e{int(np.floor(np.log10(float(label['peak_counts']))))}",
            "status": row["status"], "top1": row.get("top1", ""),
            "top1_ok": ranked and row["top1"] == true,
            "top2_ok": ranked and true in (row["top1"], row["top2"]),
            "family_ok": has_family and row["status"] == "ok" and row["family"] == true_family,
            "family_top2_ok": has_family and row["status"] == "ok" and true_family in top_families,
            "family_ranked_ok": bool(top_families) and top_families[0] == true_family,
            "answer": row.get("answer", "").split(SEPARATOR) if row.get("answer") else [],
        })
        records[-1]["answer_ok"] = true_family in records[-1]["answer"]
    summary = {"frames": len(records), "statuses": dict(Counter(r["status"] for r in records)),
               **_rates(records, has_family, has_answer)}
    per = {key: {value: _rates([r for r in records if r[key] == value], has_family, has_answer)
                 for value in sorted({r[key] for r in records})}
           for key in ("class", "geometry", "interference", "counts_decade")}
    per["class"] = {c: per["class"][c] for c in CLASS_NAMES if c in per["class"]}
    confusion = {true: {pred: sum(1 for r in records if r["class"] == true and r["top1"] == pred)
                        for pred in CLASS_NAMES}
                 for true in CLASS_NAMES}
    return {"overall": summary, "per": per, "confusion_top1": confusion, "has_family_column": has_family,
            "has_answer_column": has_answer,
            "families": ["|".join(g) for g in groups], "size": size_errors(labels, by_source, set_dir),
            "frames": records}


def size_errors(labels: list[dict[str, str]], by_source: dict[str, dict[str, str]], set_dir: Path) -> dict | None:
    """The size net's errors on the ``ok`` rows that have them, against BornAgain's true parameters in the card's
    conventions (labels.csv): median and 90th percentile of |D_y/D_y,true − 1|, |fwhm/fwhm_true − 1| and
    |aspect − aspect_true|, and the share within ±1σ, overall and per class; the distance for the
    paracrystal frames only (their spacing d is our distance by definition; BornAgain's hard-disk coverage
    is a 2-D packing, not our 3-D one); labels.csv's ``spacing`` is d/D_y, so the true distance is spacing × D_y.
    None when the log has no size values."""
    pairs = []
    for label in labels:
        row = by_source[str((set_dir / label["file"]).resolve())]
        if row["status"] == "ok" and row.get("D_y_nm"):
            pairs.append((label, row))
    if not pairs:
        return None

    def figures(chosen: list[tuple[dict, dict]]) -> dict:
        out = {}
        for name, truth, est, err, relative in (("D_y", _label("D_y"), "D_y_nm", "D_y_err_nm", True),
                                                 ("aspect", _label("aspect"), "aspect", "aspect_err", False),
                                                 ("fwhm", _label("fwhm"), "fwhm_nm", "fwhm_err_nm", True),
                                                 ("distance", _distance, "distance_nm", "distance_err_nm", True)):
            usable = [(truth(lab), float(row[est]), float(row[err])) for lab, row in chosen if row.get(est)]
            usable = [u for u in usable if np.isfinite(u[0])]
            if not usable:
                continue
            true, value, sigma = map(np.array, zip(*usable))
            error = np.abs(value / true - 1.0) if relative else np.abs(value - true)
            out[name] = {"median": float(np.median(error)), "p90": float(np.percentile(error, 90)),
                         "coverage_1sigma": float(np.mean(np.abs(value - true) <= sigma)), "n": len(usable)}
        return out

    return {"all": figures(pairs),
            "per_class": {c: figures([p for p in pairs if p[0]["class"] == c]) for c in CLASS_NAMES
                          if any(p[0]["class"] == c for p in pairs)}}


def _rates(records: list[dict], has_family: bool, has_answer: bool) -> dict:
    n = len(records)
    rates = {"n": n, "top1": _mean(records, "top1_ok"), "top2": _mean(records, "top2_ok"),
             "unknown": sum(r["status"] == "unknown" for r in records) / n if n else None}
    if has_family:
        rates.update(family_top1=_mean(records, "family_ok"), family_top2=_mean(records, "family_top2_ok"))
    rates["family_top1_flag_ignored"] = _mean(records, "family_ranked_ok")
    if has_answer:
        sizes = [len(r["answer"]) for r in records if r["answer"]]
        rates.update(answer=_mean(records, "answer_ok"), answer_size=float(np.mean(sizes)) if sizes else None)
    return rates


def _mean(records: list[dict], key: str) -> float | None:
    return sum(bool(r[key]) for r in records) / len(records) if records else None


def _label(name: str):
    """The true value of ``name`` of a labels.csv row (NaN where empty)."""
    return lambda label: float(label[name] or "nan")


def _distance(label: dict[str, str]) -> float:
    """The true interparticle distance (nm) of a paracrystal frame, NaN for the other interferences."""
    if label["interference"] != "paracrystal":
        return float("nan")
    return float(label["spacing"]) * float(label["D_y"])


def report(result: dict) -> str:
    """The figures as text tables (percentages)."""
    fam, answer = result["has_family_column"], result.get("has_answer_column", False)
    head = ["", "n", "top-1", "top-2"] + (["family top-1", "family top-2"] if fam else [])
    head += ["family top-1, flag ignored", "unknown"] + (["answer holds truth", "families per answer"] if answer else [])

    def line(name: str, r: dict) -> str:
        cells = [name, str(r["n"]), _pct(r["top1"]), _pct(r["top2"])]
        cells += [_pct(r["family_top1"]), _pct(r["family_top2"])] if fam else []
        cells += [_pct(r["family_top1_flag_ignored"]), _pct(r["unknown"])]
        if answer:
            cells += [_pct(r["answer"]), "–" if r["answer_size"] is None else f"{r['answer_size']:.2f}"]
        return " | ".join(cells)

    lines = [f"statuses: {result['overall']['statuses']}", " | ".join(head), line("all", result["overall"])]
    for key, values in result["per"].items():
        lines.append(f"-- per {key}")
        lines += [line(name, r) for name, r in values.items()]
    short = [c[:6] for c in CLASS_NAMES]
    lines.append("-- confusion (rows: true class, columns: top-1)")
    lines.append(f"{'':>20} " + " ".join(f"{s:>6}" for s in short))
    for true, row in result["confusion_top1"].items():
        lines.append(f"{true:>20} " + " ".join(f"{row[p]:>6d}" for p in CLASS_NAMES))
    if result["size"]:
        lines.append("-- size net on the ok rows: median / 90th percentile (share within ±1σ); D_y, fwhm, distance "
                     "relative, aspect absolute")
        for name, figures in [*result["size"]["per_class"].items(), ("all", result["size"]["all"])]:
            lines.append(f"{name:>20} " + "  ".join(f"{k} {_size_figure(k, f)}" for k, f in figures.items()))
    return "\n".join(lines)


def _size_figure(name: str, f: dict) -> str:
    if name == "aspect":
        return f"{f['median']:.3f} / {f['p90']:.3f} ({_pct(f['coverage_1sigma'])})"
    return f"{_pct(f['median'])} / {_pct(f['p90'])} ({_pct(f['coverage_1sigma'])})"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, required=True, dest="set_dir", help="directory made by make_set.py")
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled model)")
    parser.add_argument("--json", type=Path, default=RESULT, help=f"result file (default {RESULT})")
    args = parser.parse_args(argv)
    rows, seconds = classify(args.set_dir, args.model)
    result = score(read_labels(args.set_dir), rows, args.set_dir.resolve())
    manifest = args.set_dir / "manifest.json"
    result = {"set": str(args.set_dir), "set_manifest": json.loads(manifest.read_text()) if manifest.exists() else None,
              "model": str(args.model) if args.model else "bundled (gisaxs_live/models/default)",
              "classify_s": round(seconds, 1), **result}
    print(report(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
