"""The terminal dashboard: a state object folded from ``Update``s, and a pure ``render(state, now)``.

Shown: the current frame's family (``prism6|cylinder``: classes no classifier can tell apart) and top-2
classes with probability bars and its size columns (``size_lines``), and its model input (90×70 log-intensity levels, ``Result.image``) as
half-block characters, q_z upward; a table of recent frames (a long message is cut to the width left; the
CSV log keeps it whole); the family mix of the last ``mix_frames`` frames with the dominant family and
when it last changed (growth monitoring); a one-line trend of the last ``trend_frames`` frames: D_y of the
size net (``Result.size.D_y_nm``, where the result has one) and the top-1 family (one block per frame,
its height the family's probability, its colour the family); the last class-change event (``gisaxs_live.events``) as a
highlighted line; frames/s, latency, queue depth, counts by status and source
status. ``Dashboard`` wraps it in ``rich.Live`` as a non-critical sink and prints log records above it;
``gisaxs-live tail`` renders the same state from a CSV log.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import textwrap
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
from rich import box
from rich.color import Color
from rich.columns import Columns
from rich.cells import cell_len, set_cell_size
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.logging import RichHandler
from rich.measure import Measurement
from rich.panel import Panel
from rich.style import Style
from rich.table import Table
from rich.text import Text

from ..classify.answer import SEPARATOR
from ..events import Event
from ..classify.size import SizeEstimate
from ..results import Result, parse_time
from . import Update
from .csvlog import escape_source, logged_message
from .text import plural, probability

log = logging.getLogger(__name__)

_RATE_WINDOW_S = 10.0
_STATUS_STYLE = {"ok": "green", "unknown": "bold magenta", "no_signal": "yellow", "error": "bold red"}
_SPARKS = "▁▂▃▄▅▆▇█"
_FAMILY_COLOURS = ("green", "magenta", "yellow", "blue", "red", "cyan", "bright_white", "bright_black")
_MESSAGE_WIDTH, _MESSAGE_LINES = 48, 3  # the current-frame panel wraps a message to at most 3 lines of 48 cells
# viridis at 9 stops (level 0 → 255)
_PALETTE = np.array([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                     [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]], dtype=float)


@dataclass
class DashboardState:
    """Everything the dashboard shows; ``add`` folds in one ``Update``. Not thread-safe by itself."""

    recent_rows: int = 12
    mix_frames: int = 20
    recent: deque = field(default_factory=deque)       # Results, newest last
    times: deque = field(default_factory=lambda: deque(maxlen=4096))  # row times (Unix s)
    current: Result | None = None
    image: np.ndarray | None = None                    # model input of the latest frame that has one
    image_source: str = ""
    frames: int = 0
    errors: int = 0
    no_signal: int = 0
    unknown: int = 0
    dominant: str | None = None
    dominant_since: str = ""                           # time_utc of the frame that made it dominant
    dominant_frame: str = ""
    previous: str | None = None
    queue_depth: int = 0
    queue_limit: int = 0
    source: str = ""
    model: str = ""
    last_event: Event | None = None                    # set by the events sink (``Dashboard.show_event``)
    trend_frames: int = 40
    trend: deque = field(default_factory=deque)        # (family or None, its probability, D_y nm or NaN)
    family_colours: dict = field(default_factory=dict)  # family → colour, in order of appearance

    def add(self, update: Update) -> None:
        self.queue_depth, self.queue_limit = update.queue_depth, update.queue_limit
        self.source, self.model = update.source or self.source, update.model or self.model
        keep = max(self.recent_rows, self.mix_frames)
        for r in update.results:
            self.recent.append(r)
            while len(self.recent) > keep:
                self.recent.popleft()
            self.current = r
            self.frames += 1
            self.errors += r.status == "error"
            self.no_signal += r.status == "no_signal"
            self.unknown += r.status == "unknown"
            if r.time_utc:
                self.times.append(parse_time(r.time_utc))
            if r.image is not None:
                self.image, self.image_source = r.image, _name(r)
            self._track_dominant(r)
            self._track_trend(r)

    def mix(self) -> Counter:
        """Families (``prism6|cylinder``, or the class itself) of the ``ok`` frames among the last ``mix_frames``."""
        latest = list(self.recent)[-self.mix_frames:]
        return Counter(family[0] for family in map(Result.family, latest) if family is not None)

    def _track_trend(self, r: Result) -> None:
        family = r.family()
        self.trend.append((family[0] if family else None, family[1] if family else 0.0,
                           math.nan if r.size is None else r.size.D_y_nm))
        while len(self.trend) > self.trend_frames:
            self.trend.popleft()
        if family and family[0] not in self.family_colours:
            self.family_colours[family[0]] = _FAMILY_COLOURS[len(self.family_colours) % len(_FAMILY_COLOURS)]

    def _track_dominant(self, r: Result) -> None:
        counts = self.mix()
        if not counts:
            return
        best = max(counts.values())
        if self.dominant is not None and counts.get(self.dominant, 0) == best:
            return  # ties keep the current one
        leader = next(name for name, n in counts.most_common() if n == best)
        self.previous, self.dominant = self.dominant, leader
        self.dominant_since, self.dominant_frame = r.time_utc, _name(r)


def render(state: DashboardState, now: float, preview_width: int = 24) -> RenderableType:
    """The whole dashboard for ``state`` at time ``now`` (Unix s); pure. The panels flow onto more
    lines in a narrow terminal."""
    cells: list[RenderableType] = [Panel(_current(state), title="current frame", border_style="cyan", expand=False)]
    if state.image is not None:
        cells.append(Panel(preview_text(state.image, preview_width), title="model input, log I",
                           subtitle=Text(state.image_source), border_style="cyan", expand=False))
    cells.append(Panel(_mix(state), title=f"family mix, last {plural(state.mix_frames, 'frame')}", border_style="cyan",
                       expand=False))
    parts: list[RenderableType] = [_header(state, now)]
    if state.last_event is not None:
        parts.append(Text(f"⚑ {state.last_event.describe()}", style="bold black on yellow"))
    if state.trend:
        parts.append(trend_line(state))
    return Group(*parts, Columns(cells), recent_table(list(state.recent)[-state.recent_rows:]))


def _header(state: DashboardState, now: float) -> Panel:
    items = []
    if state.model:
        items.append(f"model {state.model}")
    items.append(f"{frame_rate(state.times, now):.1f} frames/s")
    latencies = [r.latency_ms for r in state.recent]
    if latencies:
        p50, p99 = np.percentile(latencies, [50, 99])
        items.append(f"latency p50 {p50:.0f} ms, p99 {p99:.0f} ms of the last {plural(len(latencies), 'frame')}")
    if state.queue_limit:
        items.append(f"queue {state.queue_depth}/{state.queue_limit}")
    errors = plural(state.errors, "error")
    items.append(f"{plural(state.frames, 'frame')}, {errors}, {state.no_signal} no signal, {state.unknown} unknown")
    text = Text(" · ".join(items))
    if state.errors:
        text.highlight_words([errors], "bold red")
    return Panel(text, title=Text(f"gisaxs-live · {state.source}" if state.source else "gisaxs-live"),
                 title_align="left", border_style="blue")


def frame_rate(times: deque, now: float) -> float:
    """Rows per second over the last 10 s before ``now``."""
    recent = sum(1 for t in times if now - _RATE_WINDOW_S < t <= now)
    return recent / _RATE_WINDOW_S


def _current(state: DashboardState) -> RenderableType:
    r = state.current
    if r is None:
        return Text("waiting for the first frame", style="dim")
    grid = Table.grid(padding=(0, 1))
    grid.add_row(Text(_name(r), style="bold"), Text(r.status, style=_STATUS_STYLE[r.status]))
    family = r.family()
    if family is not None:
        grid.add_row(Text(family[0], style="bold"), Text.assemble((bar(family[1], 20), "cyan"),
                                                                   f" {probability(family[1])}"))
    if len(r.answer) > 1:
        grid.add_row(Text("ambiguous", style="bold yellow"), Text(SEPARATOR.join(r.answer), style="yellow"))
    colour = "green" if r.status == "ok" else "dim"
    for name, p in r.ranked()[:2]:
        grid.add_row(Text(name, style="" if r.status == "ok" else "dim"),
                     Text.assemble((bar(p, 20), colour), f" {probability(p)}"))
    latency = Text(f"latency {r.latency_ms:.0f} ms", style="dim")
    parts: list[RenderableType] = [grid, *size_lines(r.size)]
    if r.message:
        lines = textwrap.wrap(_message(r), _MESSAGE_WIDTH, max_lines=_MESSAGE_LINES, placeholder=" …")
        parts.append(Text("\n".join(lines), style=_STATUS_STYLE[r.status]))
    return Group(*parts, latency)


def size_lines(size: SizeEstimate | None) -> list[Text]:
    """The current frame's size columns, at most two lines: the size net's D_y, aspect and distance d with their
    1σ, and the model-free 2π/q₀ and R_g (dim); nothing for what the frame does not have."""
    if size is None:
        return []
    net = [f"{label} {v:.3g}±{e:.2g}{unit}" for label, v, e, unit in (
        ("D_y", size.D_y_nm, size.D_y_err_nm, " nm"), ("aspect", size.aspect, size.aspect_err, ""),
        ("d", size.distance_nm, size.distance_err_nm, " nm")) if math.isfinite(v)]
    free = [f"{label} {v:.3g} nm" for label, v in (("2π/q₀", size.corr_distance_nm), ("R_g", size.guinier_radius_nm))
            if math.isfinite(v)]
    return [Text(line, style=style) for line, style in ((" · ".join(net), ""), (" · ".join(free), "dim")) if line]


def _mix(state: DashboardState) -> RenderableType:
    counts = state.mix()
    if not counts:
        return Text("no classified frames yet", style="dim")
    total = sum(counts.values())
    grid = Table.grid(padding=(0, 1))
    for name, n in counts.most_common():
        grid.add_row(name, Text(bar(n / total, 14), style="magenta"), f"{n:3d}")
    since = state.dominant_since[11:19] if state.dominant_since else "?"
    change = Text.assemble("dominant ", (state.dominant or "", "bold"), f" since {since}\n({state.dominant_frame})")
    if state.previous:
        change.append(f", before: {state.previous}")
    return Group(grid, change)


def recent_table(results: list[Result]) -> Table:
    """The recent-frames table, newest at the bottom (also ``gisaxs-live tail``'s view). The answer column
    shows the answer set where it has more than one family, else the family where it is more than the top class
    (blank where the family is the top class itself); the source column cuts a long name from its start (``TailCut``),
    the message column (less the file's name, which the source column shows) takes the width the others leave and
    cuts a longer message with an ellipsis."""
    table = Table(title="recent frames", expand=True, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    for name, min_width in (("time UTC", 8), ("source", None), ("status", 9), ("answer", None), ("top 1", None),
                            ("top 2", None), ("ms", 3)):
        table.add_column(name, justify="right" if name == "ms" else "left", no_wrap=True, overflow="ellipsis",
                         min_width=min_width)
    table.add_column("message", no_wrap=True, overflow="ellipsis", ratio=1)
    for r in results:
        family, ranked = r.family(), r.ranked()[:2]
        shown = family is not None and family[0] != ranked[0][0]
        style = "" if r.status == "ok" else "dim"
        tops = [Text(f"{name} {probability(p)}", style=style) for name, p in ranked] or ["", ""]
        answer = (Text(SEPARATOR.join(r.answer), style="yellow") if len(r.answer) > 1
                  else f"{family[0]} {probability(family[1])}" if shown else "")
        table.add_row(r.time_utc[11:19], TailCut(_name(r)), Text(r.status, style=_STATUS_STYLE[r.status]), answer,
                      *tops, f"{r.latency_ms:.0f}", Text(_message(r, without_source=True)))
    return table


def _message(r: Result, without_source: bool = False) -> str:
    """``r.message`` on one line as the CSV log writes it (a live result's and a ``tail`` row's alike);
    ``without_source``: less the leading name of its file, which the table shows beside it."""
    text, name = logged_message(r.message), logged_message(r.source)
    if without_source and text.startswith(name):
        rest = text[len(name):]
        if rest.startswith(": "):
            return rest[2:]
        if rest.startswith(" frame "):
            return rest[1:]
    return text


def sparkline(values) -> str:
    """One block per value (▁ at the smallest finite value to █ at the largest; a blank for NaN)."""
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    if not finite.any():
        return " " * v.size
    low, high = float(v[finite].min()), float(v[finite].max())
    v = np.where(finite, v, low)
    levels = np.full(v.size, 3) if high == low else np.rint((v - low) / (high - low) * 7).astype(int)
    return "".join(_SPARKS[k] if ok else " " for k, ok in zip(levels, finite))


def trend_line(state: DashboardState) -> Text:
    """The trend of the last frames in one line: D_y (where the results have it) and the top-1 family."""
    families, probabilities, d_y = zip(*state.trend)
    text = Text(f"trend, last {plural(len(state.trend), 'frame')}: ", no_wrap=True, overflow="crop")
    d = np.array(d_y)
    if np.isfinite(d).any():
        now = d[np.isfinite(d)][-1]
        text.append("D_y ")
        text.append(sparkline(d), style="cyan")
        text.append(f" {np.nanmin(d):.1f}–{np.nanmax(d):.1f} nm, now {now:.1f} · ")
    text.append("top-1 ")
    for family, p in zip(families, probabilities):
        if family is None:
            text.append("·", style="dim")
        else:
            text.append(_SPARKS[int(round(min(max(p, 0.0), 1.0) * 7))], style=state.family_colours[family])
    for family, colour in state.family_colours.items():
        if family in families:
            text.append(f" ■ {family}", style=colour)
    return text


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` cells filled to ``fraction`` (eighth-cell resolution)."""
    eighths = int(round(min(max(fraction, 0.0), 1.0) * width * 8))
    full, part = divmod(eighths, 8)
    return ("█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")).ljust(width)


def preview_text(image: np.ndarray, width: int) -> Text:
    """A uint8 level image (rows q_z ascending) as half blocks, about ``width`` cells wide, q_z upward."""
    img = np.asarray(image, dtype=float)[::-1]
    f = max(1, -(-img.shape[1] // width))
    rows, cols = img.shape[0] // f * f, img.shape[1] // f * f
    small = img[:rows, :cols].reshape(rows // f, f, cols // f, f).mean(axis=(1, 3))
    if len(small) % 2:
        small = np.vstack([small, np.zeros((1, small.shape[1]))])
    colours = _colours(small)
    text = Text(no_wrap=True, overflow="crop")
    for top, bottom in zip(colours[0::2], colours[1::2]):
        for upper, lower in zip(top, bottom):
            text.append("▀", Style(color=upper, bgcolor=lower))
        text.append("\n")
    text.rstrip()
    return text


def _colours(levels: np.ndarray) -> list[list[Color]]:
    x = np.clip(levels / 255.0, 0.0, 1.0) * (len(_PALETTE) - 1)
    stops = np.arange(len(_PALETTE))
    rgb = np.stack([np.interp(x, stops, _PALETTE[:, c]) for c in range(3)], axis=-1).round().astype(int)
    return [[Color.from_rgb(*px) for px in line] for line in rgb]


class TailCut:
    """One line of text that, where too long for its cell, loses its beginning (behind "…") rather than its end: a
    frame's name ends in what tells it from its neighbours (``…_00035.cbf``, ``#12``)."""

    def __init__(self, text: str, style: str = "") -> None:
        self.text, self.style = text, style

    def __rich_measure__(self, console: Console, options) -> Measurement:
        width = cell_len(self.text)
        return Measurement(min(width, TAIL_CUT_MIN), width)

    def __rich_console__(self, console: Console, options):
        text, width = self.text, options.max_width
        if cell_len(text) > width:
            kept = text[::-1]
            kept = set_cell_size(kept, max(width - 1, 0))[::-1]
            text = "…" + kept if width > 0 else ""
        yield Text(text, style=self.style, no_wrap=True, overflow="crop")


#: the narrowest a name is cut to in the recent-frames table (cells)
TAIL_CUT_MIN = 12


def _name(r: Result) -> str:
    name = escape_source(os.path.basename(r.source) or r.source)
    return f"{name} #{r.frame}" if r.frame > 0 else name  # -1: a message that named no frame


class Dashboard:
    """``rich.Live`` around a ``DashboardState``; a non-critical sink, safe to update from another thread.

    While it is live, log records are printed through its console, above the display (a handler writing
    to the terminal directly would leave stale fragments of both): the root logger's handlers that write
    to the terminal are set aside for a ``RichHandler`` on the Live's console, and put back on ``close``."""

    critical = False

    def __init__(self, state: DashboardState, console: Console | None = None, refresh_per_second: float = 4) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._failed = False
        self.live = Live(console=console, get_renderable=self._renderable, refresh_per_second=refresh_per_second)
        root = logging.getLogger()
        self._set_aside = [h for h in root.handlers if _writes_to_terminal(h)]
        for handler in self._set_aside:
            root.removeHandler(handler)
        self.log_handler = RichHandler(console=self.live.console, show_path=False)
        root.addHandler(self.log_handler)
        self.live.start()

    def update(self, update: Update) -> None:
        with self._lock:
            self.state.add(update)

    def show_event(self, event: Event) -> None:
        """Highlight ``event`` (a class change) until the next one."""
        with self._lock:
            self.state.last_event = event

    def close(self) -> None:
        self.live.stop()
        root = logging.getLogger()
        root.removeHandler(self.log_handler)
        for handler in self._set_aside:
            root.addHandler(handler)

    def _renderable(self) -> RenderableType:
        with self._lock:
            try:
                return render(self.state, time.time())
            except Exception as exc:  # non-critical: keep the daemon and the terminal alive
                if not self._failed:
                    log.exception("dashboard rendering failed")
                    self._failed = True
                return Text(f"dashboard rendering failed: {exc}", style="red")


def _writes_to_terminal(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    if stream is None:
        return False
    if stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
