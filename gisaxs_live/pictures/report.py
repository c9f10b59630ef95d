"""The trend report of a CSV log: stacked panels on one shared time (or frame) axis.

Panels: the probability of each family (the sum of ``p_<class>`` over its members, ``classify/families.py``),
the ood_score with its threshold line at 1, and the frames that were not ``ok`` (error, no_signal, unknown)
as marks; class-change events (``<log stem>.events.csv`` beside the log, when it exists) as vertical lines
through every panel. Where the log has the size columns (``Result.size``, issue 11) and a value in them, three
more panels: D_y with its ±1σ band (and the FWHM of its distribution), the aspect D_z/D_y with its band, and
the distances: the size net's interparticle distance with its band beside the model-free correlation
distance 2π/q₀ and in-plane Guinier radius R_g (``preprocess/descriptors.py``). Each panel is a function of
``Trend`` listed in ``PANELS`` with the test that it has something to show. On the time axis the lines break at a
pause between rows (``pauses``: a stopped run, another session appended to the log) rather than join across it.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..classify.families import family_matrix, family_name, partition
from ..classify.size import SIZE_COLUMNS
from ..results import Result, parse_time
from ..sinks.csvlog import unescape_source

#: statuses marked in the status panel, with their colours
MARKED = {"unknown": "#ff7f0e", "no_signal": "#7f7f7f", "error": "#d62728"}
#: event lines (in no default colour cycle)
EVENT_COLOUR = "#00008b"
#: a pause between two rows longer than PAUSE_FACTOR × the median interval and PAUSE_MIN_S (s) breaks the lines
PAUSE_FACTOR = 10.0
PAUSE_MIN_S = 30.0


@dataclass(frozen=True)
class Event:
    """A class change: Unix ``t`` (s), the families ``before`` and ``after``, and the row's ``source`` and ``frame``
    (−1 where the events file does not say)."""

    t: float
    before: str
    after: str
    source: str = ""
    frame: int = -1


@dataclass(frozen=True)
class Trend:
    """What the report plots, one entry per log row in log order: ``x`` (s since the first row, or the row
    number), ``status``, ``families`` (name → probability per row, NaN where the row has none), ``ood``
    (NaN where absent), ``sizes`` (``SIZE_COLUMNS`` name → value per row, NaN where absent) and ``events``
    at their ``x``."""

    x: np.ndarray
    x_label: str
    status: tuple[str, ...]
    families: dict[str, np.ndarray]
    ood: np.ndarray
    events: tuple[tuple[float, Event], ...]
    sizes: dict[str, np.ndarray] = field(default_factory=dict)
    gaps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # rows followed by a pause (``pauses``)

    def line(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x`` and ``y`` with a NaN after each row followed by a pause, so that a plotted line breaks there
        rather than joining two sessions with a straight line."""
        if not self.gaps.size:
            return self.x, np.asarray(y, dtype=float)
        return (np.insert(self.x, self.gaps + 1, np.nan),
                np.insert(np.asarray(y, dtype=float), self.gaps + 1, np.nan))

    def has(self, *names: str) -> bool:
        """Whether any row has a value in one of the size columns ``names``."""
        return any(name in self.sizes and bool(np.isfinite(self.sizes[name]).any()) for name in names)


def row_times(results: Sequence[Result]) -> np.ndarray:
    """Unix s of each result's ``time_utc``; NaN where it does not parse."""
    out = np.full(len(results), np.nan)
    for i, r in enumerate(results):
        try:
            out[i] = parse_time(r.time_utc)
        except ValueError:
            pass
    return out


def family_groups(results: Sequence[Result]) -> tuple[tuple[str, ...], ...]:
    """One partition of the log's classes into families: every multi-class family any row names."""
    names = results[0].class_names
    groups: list[tuple[str, ...]] = []
    for r in results:
        for g in partition(names, r.families):
            if len(g) > 1 and g not in groups and not any(set(g) & set(h) for h in groups):
                groups.append(g)
    return partition(names, tuple(groups))


def row_sizes(results: Sequence[Result]) -> dict[str, np.ndarray]:
    """``SIZE_COLUMNS`` name → the value of each result (``Result.size``; NaN where a row has none)."""
    out = {name: np.full(len(results), np.nan) for name in SIZE_COLUMNS}
    for i, r in enumerate(results):
        if r.size is not None:
            for name in SIZE_COLUMNS:
                out[name][i] = getattr(r.size, name)
    return out


def read_events(path: str | Path) -> list[Event]:
    """The events of ``path`` (columns time_utc, frame, source, from, to); [] when the file is absent.
    Rows that do not parse are skipped."""
    try:
        fh = open(path, newline="", errors="replace")
    except FileNotFoundError:
        return []
    events = []
    with fh:
        for row in csv.DictReader(fh):
            try:
                events.append(Event(parse_time(row["time_utc"]), row.get("from") or "", row.get("to") or "",
                                    unescape_source(row.get("source") or ""), int(row.get("frame") or -1)))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
    return events


def build_trend(results: Sequence[Result], events: Sequence[Event] = (), axis: str = "time") -> Trend:
    """The report's data from a log's results (``LogFollower.poll``); ``axis`` "time" or "frame" (the row
    number). Without parseable times, or with rows written in batches of one time, the axis is the row number."""
    if not results:
        raise ValueError("the log has no frame rows yet")
    times = row_times(results)
    # a batch (``classify``) shares one time: then the row number is the useful axis
    by_time = (axis == "time" and bool(np.isfinite(times).all())
               and len(np.unique(times)) > len(times) // 2)
    x = times - times[0] if by_time else np.arange(len(results), dtype=float)
    groups = family_groups(results)
    matrix = family_matrix(list(results[0].class_names), groups)
    probs = np.full((len(results), len(groups)), np.nan)
    for i, r in enumerate(results):  # an ``unknown`` row's probabilities are no answer: the status panel shows it
        if r.status == "ok" and r.probabilities and r.class_names == results[0].class_names:
            probs[i] = np.asarray(r.probabilities) @ matrix
    ood = np.array([np.nan if r.ood_score is None else r.ood_score for r in results])
    frames = {(r.source, r.frame): i for i, r in enumerate(results)}  # a stream's series: one source, many frames
    rows = {r.source: i for i, r in enumerate(results)}  # the last row of each source
    placed = []
    for e in events:
        if by_time:
            placed.append((e.t - times[0], e))
        elif (e.source, e.frame) in frames:
            placed.append((float(frames[e.source, e.frame]), e))
        elif e.source in rows:
            placed.append((float(rows[e.source]), e))
        elif np.isfinite(times).all():  # row number of the first row at or after the event
            placed.append((float(np.searchsorted(times, e.t)), e))
    return Trend(x=x, x_label="time since the first row was logged (s)" if by_time else "frame (row of the log)",
                 status=tuple(r.status for r in results),
                 families={family_name(g): probs[:, j] for j, g in enumerate(groups)}, ood=ood,
                 events=tuple(placed), sizes=row_sizes(results), gaps=pauses(x) if by_time else np.zeros(0, dtype=int))


def pauses(x: np.ndarray) -> np.ndarray:
    """Rows (indices into ``x``, s) followed by a pause: more than PAUSE_FACTOR times the median interval between
    rows and more than PAUSE_MIN_S (the run stopped, the beam went, another session was appended)."""
    steps = np.diff(x)
    moving = steps[steps > 0]
    if not moving.size:
        return np.zeros(0, dtype=int)
    return np.flatnonzero(steps > max(PAUSE_FACTOR * float(np.median(moving)), PAUSE_MIN_S))


def _families_panel(ax, trend: Trend) -> None:
    ax.set(ylim=(-0.02, 1.02), yticks=(0.0, 0.25, 0.5, 0.75, 1.0), ylabel="family probability")
    if not any(np.isfinite(p).any() for p in trend.families.values()):
        ax.text(0.5, 0.5, "no family probability: no row is ok (error, no_signal and unknown rows give none)",
                transform=ax.transAxes, ha="center", va="center")
        return
    for name, p in trend.families.items():
        ax.plot(*trend.line(p), marker=".", ms=3, lw=1, label=name)
    _legend_above(ax, 4)


def _ood_panel(ax, trend: Trend) -> None:
    ax.axhline(1.0, color="#d62728", ls="--", lw=1, label="threshold (unknown above)")
    if np.isfinite(trend.ood).any():
        ax.plot(*trend.line(trend.ood), marker=".", ms=3, lw=1, color="k", label="ood_score")
    else:
        ax.text(0.5, 0.5, "no ood_score in this log", transform=ax.transAxes, ha="center", va="center")
    ax.set(ylabel="ood_score")
    _legend_above(ax, 2)


def _status_panel(ax, trend: Trend) -> None:
    status = np.array(trend.status)
    ok = status == "ok"
    ax.plot(trend.x[ok], np.zeros(ok.sum()), "|", color="#2ca02c", ms=6, label=f"ok ({ok.sum()})")
    for level, (name, colour) in enumerate(MARKED.items(), start=1):
        hit = status == name
        ax.plot(trend.x[hit], np.full(hit.sum(), level), "o", color=colour, ms=4, label=f"{name} ({hit.sum()})")
    ax.set(yticks=range(len(MARKED) + 1), yticklabels=["ok", *MARKED], ylim=(-0.5, len(MARKED) + 0.5),
           ylabel="status")


def _band(ax, trend: Trend, value: str, error: str | None, colour: str, label: str) -> None:
    """``value`` against x, with its ±1σ ``error`` band where the row has one."""
    y = trend.sizes[value]
    ax.plot(*trend.line(y), marker=".", ms=3, lw=1, color=colour, label=label)
    if error is not None and trend.has(error):
        e = trend.sizes[error]
        (x, low), (_, high) = trend.line(y - e), trend.line(y + e)
        ax.fill_between(x, low, high, color=colour, alpha=0.25, lw=0, label=f"{label} ± 1σ")


def _diameter_panel(ax, trend: Trend) -> None:
    _band(ax, trend, "D_y_nm", "D_y_err_nm", "#1f77b4", "D_y (net)")
    if trend.has("fwhm_nm"):
        ax.plot(*trend.line(trend.sizes["fwhm_nm"]), ls=":", lw=1, color="#1f77b4", label="FWHM of D_y")
    ax.set(ylabel="D_y (nm)")
    _legend_above(ax, 3)


def _aspect_panel(ax, trend: Trend) -> None:
    _band(ax, trend, "aspect", "aspect_err", "#9467bd", "aspect D_z/D_y (net)")
    ax.set(ylabel="aspect D_z/D_y")
    _legend_above(ax, 2)


def _distance_panel(ax, trend: Trend) -> None:
    if trend.has("distance_nm"):
        _band(ax, trend, "distance_nm", "distance_err_nm", "#2ca02c", "distance (net)")
    if trend.has("corr_distance_nm"):
        ax.plot(*trend.line(trend.sizes["corr_distance_nm"]), marker="s", ms=3, lw=1, ls="--", color="#ff7f0e",
                label="2π/q₀ (model-free)")
    if trend.has("guinier_radius_nm"):
        ax.plot(*trend.line(trend.sizes["guinier_radius_nm"]), marker="^", ms=3, lw=1, ls="--", color="#8c564b",
                label="R_g (model-free)")
    ax.set(ylabel="distance, R_g (nm)")
    _legend_above(ax, 3)


def _legend_above(ax, ncol: int) -> None:
    """The panel's legend in a band added above its data (30 % of the axis' span), where it hides no curve."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.3 * (high - low))
    ax.legend(fontsize=6, ncol=ncol, loc="upper left", framealpha=0.7)


#: (panel, height ratio, whether the trend has something for it), top to bottom
PANELS: tuple[tuple[Callable, float, Callable[[Trend], bool]], ...] = (
    (_families_panel, 3.0, lambda t: True),
    (_diameter_panel, 1.6, lambda t: t.has("D_y_nm")),
    (_aspect_panel, 1.4, lambda t: t.has("aspect")),
    (_distance_panel, 1.6, lambda t: t.has("distance_nm", "corr_distance_nm", "guinier_radius_nm")),
    (_ood_panel, 1.6, lambda t: True),
    (_status_panel, 1.2, lambda t: True),
)


def report_figure(trend: Trend, title: str = ""):
    """A matplotlib Figure of ``trend``: the ``PANELS`` stacked on one shared x axis, events across all."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    panels = [(panel, height) for panel, height, wanted in PANELS if wanted(trend)]
    fig = Figure(figsize=(9, 7 + 1.2 * (len(panels) - 3)), dpi=100)
    axes = fig.subplots(len(panels), 1, sharex=True, gridspec_kw={"height_ratios": [h for _, h in panels]})
    for ax, (panel, _) in zip(axes, panels):
        panel(ax, trend)
        for x, _event in trend.events:
            ax.axvline(x, color=EVENT_COLOUR, lw=1.5)
        ax.grid(alpha=0.3)
    for x, event in trend.events:
        axes[0].annotate(f"{event.before} → {event.after}", (x, 0.03), xycoords=("data", "axes fraction"),
                         xytext=(2, 0), textcoords="offset points", fontsize=6, rotation=90, va="bottom",
                         ha="left", color=EVENT_COLOUR)
    axes[-1].set_xlabel(trend.x_label)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def figure_png(fig) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def html_page(png: bytes, title: str, refresh_s: float | None = None) -> str:
    """A small page embedding ``png`` (base64); it reloads itself every ``refresh_s`` seconds if given."""
    refresh = f'<meta http-equiv="refresh" content="{max(1, round(refresh_s))}">' if refresh_s else ""
    from html import escape

    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">{refresh}<title>{escape(title)}</title></head>\n"
            f"<body><h1 style=\"font: 14px sans-serif\">{escape(title)}</h1>\n"
            f"<img alt=\"report\" src=\"data:image/png;base64,{base64.b64encode(png).decode()}\"></body></html>\n")
