"""Evaluation figures for people: a rich table beside the paper's, and a confusion-matrix heat map."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.table import Table

from .evaluate import PAPER, SIZE_FIGURES


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def confusion_table(result: dict, class_names: Sequence[str], title: str) -> Table:
    """Rows = predicted class, columns = actual class (paper's Table 2), then per-class, mean and top-2."""
    table = Table(title=f"Confusion matrix, % of each actual class — {title}", title_justify="left")
    table.add_column("predicted \\ actual")
    for name in class_names:
        table.add_column(name.replace("_", " "), justify="right")
    confusion = np.asarray(result["confusion"]) * 100.0
    for i, name in enumerate(class_names):
        table.add_row(name, *[f"[bold]{v:.1f}[/bold]" if i == j else f"{v:.1f}" for j, v in enumerate(confusion[i])])
    table.add_section()
    table.add_row("accuracy (this model)", *[_pct(result["per_class"].get(n)) for n in class_names])
    table.add_row("accuracy (paper)", *[_pct(PAPER["per_class"].get(n)) for n in class_names])
    if "family_per_class" in result:
        table.add_row("family accuracy", *[_pct(result["family_per_class"].get(n)) for n in class_names])
    table.caption = (f"mean top-1 {result['top1']:.1f} % (paper {PAPER['top1']} %), top-2 {result['top2']:.1f} %, "
                     f"similarity baseline {_pct(result['similarity_top1'])} % (paper {PAPER['similarity_top1']} %), "
                     f"n = {result['n_test']}")
    if "family_top1" in result:
        table.caption += (f"; families ({', '.join(f for f in result['family_names'] if '|' in f)}): "
                          f"top-1 {result['family_top1']:.1f} %, top-2 {result['family_top2']:.1f} %")
    if result.get("flagged_unknown") is not None:
        table.caption += f"; flagged unknown {result['flagged_unknown']:.1f} %"
    return table


def size_table(figures: dict, title: str) -> Table:
    """The size net's errors (``evaluate.size_metrics``): a row per true class and one for all, for each
    figure its median / 90th percentile (relative in %, the aspect absolute) and the ±1σ coverage."""
    table = Table(title=f"Size errors, median / 90th percentile (±1σ coverage) — {title}", title_justify="left")
    table.add_column("class")
    names = [name for name, _, _ in SIZE_FIGURES]
    for name in names:
        table.add_column(name if name == "aspect" else f"{name} (%)", justify="right")
    for label, row in [*figures["per_class"].items(), ("all", figures["all"])]:
        if label == "all":
            table.add_section()
        table.add_row(label, *[size_cell(row.get(name), name == "aspect") for name in names])
    table.caption = "relative errors |estimate/true − 1| (aspect: absolute); coverage: % within ±1σ (68 % if honest)"
    return table


def size_cell(figure: dict | None, absolute: bool) -> str:
    """A ``size_metrics`` figure as "median / p90 (coverage %)": relative errors in %, absolute ones as they are."""
    if figure is None:
        return "–"
    if absolute:
        return f"{figure['median']:.3f} / {figure['p90']:.3f} ({figure['coverage_1sigma']:.0f} %)"
    return f"{100 * figure['median']:.1f} / {100 * figure['p90']:.1f} ({figure['coverage_1sigma']:.0f} %)"


def write_heatmap(path: str | Path, result: dict, class_names: Sequence[str]) -> None:
    """The confusion matrix as a PNG heat map with the percentages written in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = np.asarray(result["confusion"]) * 100.0
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    im = ax.imshow(confusion, cmap="Blues", vmin=0, vmax=100)
    labels = [n.replace("_", "\n") for n in class_names]
    ax.set_xticks(range(len(class_names)), labels, fontsize=8)
    ax.set_yticks(range(len(class_names)), labels, fontsize=8)
    ax.set_xlabel("actual class")
    ax.set_ylabel("predicted class")
    for (i, j), v in np.ndenumerate(confusion):
        if v >= 0.05:
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7, color="white" if v > 50 else "black")
    ax.set_title(f"top-1 {result['top1']:.1f} %, top-2 {result['top2']:.1f} %")
    fig.colorbar(im, ax=ax, label="% of actual class")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
