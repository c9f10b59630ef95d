"""YAML configuration → frozen, validated dataclasses.

Every section is a frozen dataclass whose field names are the YAML keys. Loading checks each key
against the dataclass (an unknown key is an error naming it, with the closest known key), each value
against the field's type hint, and each section's own ranges (``_check``). Units are in the key names;
angles are degrees only here, at the boundary, and nm / nm⁻¹ everywhere else.
"""

from __future__ import annotations

import contextvars
import dataclasses
import difflib
import fnmatch
import logging
import math
import re
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union

import yaml


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class Material:
    """Refractive index n = 1 − δ + iβ, from a chemical formula and density (xraydb) or given directly."""

    formula: str | None = None
    density_g_cm3: float | None = None
    delta: float | None = None
    beta: float | None = None

    def _check(self, where: str) -> None:
        by_formula = self.formula is not None
        by_index = self.delta is not None
        if by_formula == by_index:
            raise ConfigError(f"{where}: give either formula + density_g_cm3 or delta + beta")
        if by_formula and (self.density_g_cm3 is None or self.density_g_cm3 <= 0):
            raise ConfigError(f"{where}.density_g_cm3: must be a positive number for formula {self.formula!r}")
        if by_index and (self.beta is None or self.delta < 0 or self.beta < 0):
            raise ConfigError(f"{where}: delta and beta must both be given and be >= 0")
        if by_formula:
            import xraydb

            try:
                elements = xraydb.chemparse(self.formula)
            except ValueError:
                elements = {}
            if not elements:
                raise ConfigError(f"{where}.formula: {self.formula!r} is not a chemical formula")

    def refractive_index(self, wavelength_nm: float) -> complex:
        """n = 1 − δ + iβ at ``wavelength_nm`` (nm)."""
        if self.delta is not None:
            return complex(1.0 - self.delta, self.beta)
        import xraydb

        energy_ev = 1239.841984 / wavelength_nm
        delta, beta, _ = xraydb.xray_delta_beta(self.formula, self.density_g_cm3, energy_ev)
        return complex(1.0 - float(delta), float(beta))


@dataclass(frozen=True)
class Experiment:
    """What the X-rays see: beam, sample materials and particle packing."""

    wavelength_nm: float = 0.15
    incidence_angle_deg: float = 0.2
    substrate: Material = field(default_factory=lambda: Material(formula="Si", density_g_cm3=2.329))
    particle: Material = field(default_factory=lambda: Material(formula="Te", density_g_cm3=6.24))
    volume_fraction: float = 0.2

    def _check(self, where: str) -> None:
        _in_range(where, "wavelength_nm", self.wavelength_nm, 0.01, 1.0)
        _in_range(where, "incidence_angle_deg", self.incidence_angle_deg, 0.01, 5.0)
        _in_range(where, "volume_fraction", self.volume_fraction, 0.0, 0.49)

    @property
    def k_nm(self) -> float:
        """Wave number k = 2π/λ (nm⁻¹)."""
        return 2.0 * math.pi / self.wavelength_nm

    @property
    def alpha_i_rad(self) -> float:
        return math.radians(self.incidence_angle_deg)


@dataclass(frozen=True)
class Grid:
    """The model's canonical (q_z, q_y) grid: q_y from 0, q_z from the sample horizon (α_f = 0) upward."""

    n_qy: int = 70
    n_qz: int = 90
    qy_max_inv_nm: float = 1.75
    qz_span_inv_nm: float = 2.7

    def _check(self, where: str) -> None:
        _in_range(where, "n_qy", self.n_qy, 8, 1024)
        _in_range(where, "n_qz", self.n_qz, 8, 1024)
        _in_range(where, "qy_max_inv_nm", self.qy_max_inv_nm, 0.05, 20.0)
        _in_range(where, "qz_span_inv_nm", self.qz_span_inv_nm, 0.05, 20.0)


@dataclass(frozen=True)
class Simulation:
    """Numerical resolution of the simulator: quadrature and sampling node counts. ``size_samples`` nodes over the
    size distribution at the least, and more where neighbours would lie more than ``size_step`` apart (relative
    to the largest; in ln D for the log-normal; 0: no limit); ``z_nodes`` along z at the least, more for tall
    particles at large q_z (``shapes._amplitude.z_node_count``). On the random protocol's training draws these
    defaults give every image within 5 grey levels of one with size_step 0.012 and 72 orientations
    (240 patterns); the previous defaults (no step, 12 orientations, 24 z nodes) were more than 5 levels off on
    40 % of them, more than 20 on 20 %."""

    size_samples: int = 11
    orientation_samples: int = 24
    z_nodes: int = 24
    size_step: float = 0.04

    def _check(self, where: str) -> None:
        _in_range(where, "size_samples", self.size_samples, 1, 201)
        if self.size_step != 0.0:  # finer would cost memory without a visible change (0.012 is the tests' reference)
            _in_range(where, "size_step", self.size_step, 0.005, 1.0)
        _in_range(where, "orientation_samples", self.orientation_samples, 1, 361)
        _in_range(where, "z_nodes", self.z_nodes, 4, 256)


@dataclass(frozen=True)
class Scale:
    """log10 → 256 grey levels: the top ``decades`` below the brightest bin span the levels 0..255."""

    decades: float = 5.0

    def _check(self, where: str) -> None:
        _in_range(where, "decades", self.decades, 0.5, 12.0)


@dataclass(frozen=True)
class Geometry:
    """Detector geometry. Axis convention: the array as fabio returns it, row 0 = top of the detector, so
    the exit angle α_f grows toward smaller row numbers; ``transpose``, then ``flip_rows`` /
    ``flip_columns``, describe how to turn the array into that orientation. ``direct_beam_px`` is
    [column, row] in the array as fabio returns it (pixel centres at integers). ``pixel_size_mm`` is one
    number or [x (along a row), y (along a column)]. A pyFAI ``poni_file``, when set, replaces
    distance, pixel size and direct beam (its tilts are used; its wavelength is not: that is
    ``experiment.wavelength_nm``). A frame whose two halves (q_y < 0 and > 0) differ by more than
    ``max_asymmetry`` beyond counting noise is ``unknown`` (``preprocess.mirror``; None: no check). A frame
    whose shape is not ``detector_shape`` ([rows, columns] as fabio returns it; None: any) is an error."""

    distance_mm: float = 2000.0
    pixel_size_mm: float | tuple[float, float] = 0.172
    direct_beam_px: tuple[float, float] = (490.0, 900.0)
    poni_file: Path | None = None
    flip_rows: bool = False
    flip_columns: bool = False
    transpose: bool = False
    max_asymmetry: float | None = 0.15
    detector_shape: tuple[int, int] | None = None

    def _check(self, where: str) -> None:
        _in_range(where, "distance_mm", self.distance_mm, *DISTANCE_RANGE_MM)
        if self.detector_shape is not None and not 1 <= min(self.detector_shape) <= max(self.detector_shape) <= 65536:
            raise ConfigError(f"{where}.detector_shape: {list(self.detector_shape)} is not [rows, columns] of pixels "
                              "(each 1 to 65,536)")
        if self.max_asymmetry is not None:
            _in_range(where, "max_asymmetry", self.max_asymmetry, 0.01, 100.0)
        for size in self.pixel_size_xy_mm:
            _in_range(where, "pixel_size_mm", size, 1e-3, 10.0)
        if not all(math.isfinite(v) for v in self.direct_beam_px):
            raise ConfigError(f"{where}.direct_beam_px: {self.direct_beam_px!r} is not finite")
        if not all(abs(v) <= MAX_BEAM_OFFSET_PX for v in self.direct_beam_px):
            raise ConfigError(f"{where}.direct_beam_px: {list(self.direct_beam_px)} lies more than "
                              f"{MAX_BEAM_OFFSET_PX:g} pixels from the detector's corner")
        if self.poni_file is not None and not self.poni_file.is_file():
            raise ConfigError(f"{where}.poni_file: {str(self.poni_file)!r} is not a file")

    @property
    def pixel_size_xy_mm(self) -> tuple[float, float]:
        """(along a row, along a column) pixel pitch (mm)."""
        size = self.pixel_size_mm
        return (size, size) if isinstance(size, float) else size


@dataclass(frozen=True)
class Beamstop:
    """A beam stop's shadow: a circle (``radius_px``) or an axis-aligned rectangle (``size_px`` =
    [width, height]) centred on the direct beam, or on ``centre_px`` = [column, row] when given."""

    shape: Literal["circle", "rectangle"] = "circle"
    radius_px: float = 10.0
    size_px: tuple[float, float] = (20.0, 20.0)
    centre_px: tuple[float, float] | None = None

    def _check(self, where: str) -> None:
        _in_range(where, "radius_px", self.radius_px, 0.0, 1e5)
        for size in self.size_px:
            _in_range(where, "size_px", size, 0.0, 1e5)


@dataclass(frozen=True)
class Mask:
    """Pixels that never enter a bin (all in pixels of the array as fabio returns it): a fabio-readable
    ``file`` (nonzero = masked), a ``beamstop``, ``rectangles`` [column_min, row_min, column_max,
    row_max] (inclusive), ``circles`` [column, row, radius], and everything outside a circular
    ``aperture_px`` [column, row, radius] (e.g. a flight tube's shadow); in every frame also negative
    counts (Pilatus gaps, dead pixels; if ``negative_is_masked``), counts above ``max_count`` (saturated
    or hot pixels; None: the cutoff the file's header gives, e.g. a Pilatus CBF's ``Count_cutoff``, if
    any); isolated hot pixels, well above the rest of their bin and brighter than ``hot_pixel_ratio`` ×
    the dimmer of their two neighbours on every line through them, are replaced by their neighbours'
    median (``preprocess.hotpixels``; None: not looked for)."""

    file: Path | None = None
    negative_is_masked: bool = True
    max_count: float | None = None
    beamstop: Beamstop | None = None
    rectangles: tuple[tuple[int, int, int, int], ...] = ()
    circles: tuple[tuple[float, float, float], ...] = ()
    aperture_px: tuple[float, float, float] | None = None
    hot_pixel_ratio: float | None = 5.0

    def _check(self, where: str) -> None:
        if self.file is not None and not self.file.is_file():
            raise ConfigError(f"{where}.file: {str(self.file)!r} is not a file")
        for i, (c0, r0, c1, r1) in enumerate(self.rectangles):
            if c0 > c1 or r0 > r1:
                raise ConfigError(f"{where}.rectangles[{i}]: minimum above maximum in {[c0, r0, c1, r1]}")
        for i, (_, _, radius) in enumerate(self.circles):
            _in_range(where, f"circles[{i}][2]", radius, 0.0, 1e5)
        if self.aperture_px is not None:
            _in_range(where, "aperture_px[2]", self.aperture_px[2], 1.0, 1e5)
        if self.max_count is not None:
            _in_range(where, "max_count", self.max_count, 0.0, math.inf)
        if self.hot_pixel_ratio is not None:
            _in_range(where, "hot_pixel_ratio", self.hot_pixel_ratio, 2.0, 1e6)


@dataclass(frozen=True)
class Watch:
    """The watched detector directory, and when a file there counts as complete (times in s).

    ``inotify`` acts on close-after-write and rename-into-place; ``polling`` (NFS, GPFS: no close
    events) waits until size and mtime have not changed for ``settle_s``. A file that does not decode
    is tried again after ``retry_interval_s``, up to ``read_retries`` times, then logged as an error.
    At most ``queue_size`` files wait (found, not yet classified); the classifier takes up to
    ``batch_size`` of them at once."""

    directory: Path | None = None
    observer: Literal["inotify", "polling"] = "inotify"
    patterns: tuple[str, ...] = ("*.cbf", "*.tif", "*.tiff", "*.edf", "*.h5", "*.cbf.gz", "*.cbf.bz2", "*.edf.gz",
                                 "*.edf.bz2", "*.tif.gz", "*.tif.bz2", "*.tiff.gz", "*.tiff.bz2")
    ignore_patterns: tuple[str, ...] = (".*", "*.tmp", "*.part", "*~")
    recursive: bool = False
    poll_interval_s: float = 1.0
    settle_s: float = 0.5
    read_retries: int = 3
    retry_interval_s: float = 0.25
    resume_grace_s: float = 60.0
    queue_size: int = 10000
    batch_size: int = 16
    bluesky: str | None = None  # tcp://HOST:PORT of a bluesky 0MQ proxy: results as event-model documents

    def _check(self, where: str) -> None:
        if not self.patterns:
            raise ConfigError(f"{where}.patterns: give at least one file name pattern, e.g. '*.cbf'")
        for kind in ("patterns", "ignore_patterns"):
            for pattern in getattr(self, kind):
                if not pattern or "/" in pattern:
                    raise ConfigError(f"{where}.{kind}: {pattern!r} can match no file: a pattern is matched against a "
                                      f"file's name without its directory, e.g. '*.cbf' (subdirectories: "
                                      f"{where}.recursive)")
        examples = [re.sub(r"\[[^\]]*\]", "x", p).replace("*", "x").replace("?", "x").lower() for p in self.patterns]
        if all(any(fnmatch.fnmatchcase(name, i.lower()) for i in self.ignore_patterns) for name in examples):
            raise ConfigError(f"{where}.ignore_patterns: {' '.join(self.ignore_patterns)} leaves out every file "
                              f"{where}.patterns ({' '.join(self.patterns)}) takes, e.g. {examples[0]!r}")
        _in_range(where, "poll_interval_s", self.poll_interval_s, 0.01, 3600.0)
        _in_range(where, "settle_s", self.settle_s, 0.0, 3600.0)
        _in_range(where, "read_retries", self.read_retries, 0, 100)
        _in_range(where, "retry_interval_s", self.retry_interval_s, 0.0, 3600.0)
        _in_range(where, "resume_grace_s", self.resume_grace_s, 0.0, 86400.0)
        _in_range(where, "queue_size", self.queue_size, 1, 10_000_000)
        _in_range(where, "batch_size", self.batch_size, 1, 4096)


@dataclass(frozen=True)
class Events:
    """Class-change events (``gisaxs_live.events``): the top-1 family changed for ``hold_frames`` consecutive
    ok frames, each ahead of the previous family by ``margin`` (probability). ``on_event``: a command (argv
    list, no shell) run for each event with GISAXS_EVENT_* environment variables, killed after
    ``on_event_timeout_s`` (s)."""

    hold_frames: int = 3
    margin: float = 0.1
    on_event: tuple[str, ...] | None = None
    on_event_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        """A command given by a relative path (``./hooks/mark.sh``) is relative to the YAML file's directory, as the
        config's other paths are; a bare name (``mark-scan``) is looked up on PATH."""
        command = self.on_event[0] if self.on_event else ""
        if "/" in command and not Path(command).expanduser().is_absolute():
            object.__setattr__(self, "on_event", (str(_in_config_dir(Path(command))), *self.on_event[1:]))

    def _check(self, where: str) -> None:
        _in_range(where, "hold_frames", self.hold_frames, 1, 100_000)
        _in_range(where, "margin", self.margin, 0.0, 1.0)
        _in_range(where, "on_event_timeout_s", self.on_event_timeout_s, 0.1, 3600.0)
        if self.on_event is not None and (not self.on_event or not self.on_event[0].strip()):
            raise ConfigError(f"{where}.on_event: give the command as a list, e.g. [/usr/local/bin/mark-scan, "
                              "--note, class change], or null for none")


@dataclass(frozen=True)
class Output:
    """Where results go: the CSV log (``fsync`` each write for power-loss safety), the dashboard
    (``recent_rows`` table rows; class mix over the last ``mix_frames`` frames), class-change ``events`` and,
    with ``refine``, a live fit of the newest ok frame whenever the last fit has finished (``watch --refine``)."""

    csv: Path | None = None
    fsync: bool = False
    recent_rows: int = 12
    mix_frames: int = 20
    events: Events = field(default_factory=Events)
    refine: bool = False

    def _check(self, where: str) -> None:
        _in_range(where, "recent_rows", self.recent_rows, 1, 1000)
        _in_range(where, "mix_frames", self.mix_frames, 1, 100_000)


@dataclass(frozen=True)
class Stream:
    """The ZeroMQ stream: ``gisaxs-live stream`` (a PULL client) and ``gisaxs-live publish`` (a PUSH replayer).

    Endpoints must be loopback (tcp://127.0.0.1:PORT, tcp://localhost:PORT, tcp://[::1]:PORT, ipc://PATH)
    unless written in ``allowed_endpoints`` (e.g. ``tcp://eiger-dcu:9999``, or ``tcp://*:9999`` to publish
    on all interfaces). ZeroMQ holds up to ``receive_buffer_frames`` received messages; at most
    ``queue_size`` decoded frames, holding at most ``max_queue_bytes`` of pixels (4 GiB: 59 Eiger2 16M frames of 4-byte
    pixels), wait for the classifier, which takes up to ``batch_size`` at once; a frame arriving at a full queue is
    dropped and gets an error row. A peer that answers none of 3 TCP keepalive probes
    ``heartbeat_s`` apart (whole seconds, at least 1), after as long without traffic, counts as gone (the kernel
    probes, so a stalled monitor is no silent peer); reconnection attempts back off up to ``reconnect_max_s``.
    Without the dashboard, the counts are logged every ``log_interval_s`` (times in s). An image (or pixel mask) whose
    declared shape x pixel size exceeds ``max_image_bytes`` is refused unread with an error row; the
    default, 256 MiB, is 3.7 x the largest DECTRIS frame (Eiger2 16M: 4148 x 4362 pixels x 4 bytes =
    72.4 MB). Of a Stream V2 image (several threshold channels) the ``channel`` named is classified
    (None: the first the detector sends)."""

    allowed_endpoints: tuple[str, ...] = ()
    receive_buffer_frames: int = 16
    queue_size: int = 64
    batch_size: int = 16
    heartbeat_s: float = 1.0
    reconnect_max_s: float = 2.0
    log_interval_s: float = 10.0
    max_image_bytes: int = 256 * 2**20
    max_queue_bytes: int = 4 * 2**30
    channel: str | None = None
    bluesky: str | None = None  # tcp://HOST:PORT of a bluesky 0MQ proxy: results as event-model documents

    def _check(self, where: str) -> None:
        if self.channel is not None and not self.channel.strip():
            raise ConfigError(f"{where}.channel: give a channel name (e.g. threshold_1) or null for the first")
        _in_range(where, "receive_buffer_frames", self.receive_buffer_frames, 1, 100_000)
        _in_range(where, "queue_size", self.queue_size, 1, 100_000)
        _in_range(where, "batch_size", self.batch_size, 1, 4096)
        _in_range(where, "heartbeat_s", self.heartbeat_s, 0.1, 600.0)
        _in_range(where, "reconnect_max_s", self.reconnect_max_s, 0.1, 600.0)
        _in_range(where, "log_interval_s", self.log_interval_s, 0.1, 86400.0)
        _in_range(where, "max_image_bytes", self.max_image_bytes, 1024, 2**31 - 1)  # lz4 stops at 2**31 - 1
        _in_range(where, "max_queue_bytes", self.max_queue_bytes, 2**20, 2**50)


@dataclass(frozen=True)
class Config:
    """The whole configuration file."""

    experiment: Experiment = field(default_factory=Experiment)
    grid: Grid = field(default_factory=Grid)
    simulation: Simulation = field(default_factory=Simulation)
    scale: Scale = field(default_factory=Scale)
    geometry: Geometry = field(default_factory=Geometry)
    mask: Mask = field(default_factory=Mask)
    watch: Watch = field(default_factory=Watch)
    output: Output = field(default_factory=Output)
    stream: Stream = field(default_factory=Stream)


#: sample-to-detector distances taken (mm): a YAML's ``geometry.distance_mm``, a PONI file's Distance
DISTANCE_RANGE_MM = (10.0, 1e5)


def _in_range(where: str, key: str, value: float, lo: float, hi: float) -> None:
    if not (lo <= value <= hi) or (isinstance(value, float) and math.isnan(value)):
        raise ConfigError(f"{where}.{key}: {value!r} is outside [{lo}, {hi}]")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _convert(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against type hint ``hint`` and convert it (lists → tuples, mappings → dataclasses)."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} is not a {_type_name(hint)}")
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected a list of {len(args)} values, got {len(value)}")
        return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if dataclasses.is_dataclass(hint):
        return build_section(hint, value, where)
    if hint is float:
        if isinstance(value, str) and _YAML_EXPONENT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 as a string: it is a number
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        try:
            return _in_config_dir(Path(value))
        except RuntimeError:  # ~user of no such user: expanduser cannot name the home directory
            raise ConfigError(f"{where}: {value!r}: no home directory for its ~ (no such user)") from None
    raise TypeError(f"config field {where} has an unsupported type hint {hint!r}")


#: the directory of the YAML file being read: relative paths in it are relative to it, not to the working directory
#: (a service's is /)
_CONFIG_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("config_dir", default=None)


#: how far (pixels) the direct beam may lie from the detector's first pixel: a beam far off the detector is a
#: typing error (1e300 overflowed the geometry's squares)
MAX_BEAM_OFFSET_PX = 1e5
#: a number in exponent form that YAML 1.1 reads as a string (1e-3, 2E5, 1.0e300: it wants a point and a sign)
_YAML_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _in_config_dir(path: Path) -> Path:
    """``path`` (``~`` expanded) where the YAML file being read means it: relative ones in its directory."""
    path = path.expanduser()
    base = _CONFIG_DIR.get()
    return base / path if base is not None and not path.is_absolute() else path


def build_section(cls: type, mapping: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a YAML mapping, naming ``where`` (e.g. ``experiment``) in errors."""
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {mapping!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in mapping:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(names)})"
            raise ConfigError(f"{where}.{key}: unknown key{hint}")
    values = {key: _convert(value, hints[key], f"{where}.{key}") for key, value in mapping.items()}
    section = cls(**values)
    check = getattr(section, "_check", None)
    if check is not None:
        check(where)
    return section


def default_config_text() -> str:
    """The bundled default YAML (also shipped as ``config/default.yaml`` in the repository)."""
    return resources.files("gisaxs_live").joinpath("data/default.yaml").read_text()


def load_config(path: str | Path | None = None, *, detector: bool = False) -> Config:
    """Load ``path`` (YAML) over the built-in defaults; ``None`` gives the bundled defaults. Relative paths in
    it (mask file, PONI file, CSV log, watched directory) are relative to its directory. With
    ``detector`` (a command that regrids detector frames) the file must place the detector
    (``missing_geometry``): its default is the demo's synthetic Pilatus 1M, which turns another
    detector's frames into ``no_signal`` rows; without a file (``path`` None) a warning says so. The frame files'
    headers are not read for geometry."""
    if path is None:
        text, name = default_config_text(), "default.yaml"
    else:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not a YAML text file (byte {exc.object[exc.start]:#04x} at offset "
                              f"{exc.start:,} is not UTF-8 text)") from None
        name = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
        if mark is not None and problem:
            raise ConfigError(f"{name}: not valid YAML: line {mark.line + 1}, column {mark.column + 1}: {problem}"
                              + (f" ({exc.context})" if getattr(exc, "context", None) else "")) from None
        raise ConfigError(f"{name}: not valid YAML ({exc})".replace("\n", " ")) from None
    token = _CONFIG_DIR.set(None if path is None else path.absolute().parent)
    try:
        config = build_section(Config, data, "config")
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    finally:
        _CONFIG_DIR.reset(token)
    problem = missing_geometry(data) if detector and path is not None else None
    if problem:
        raise ConfigError(f"{name}: {problem}: detector frames need their detector's geometry: give "
                          "geometry.poni_file, or geometry.distance_mm and geometry.direct_beam_px [column, row] "
                          "(and pixel_size_mm unless 0.172); config/default.yaml lists the keys")
    if detector and path is None:
        g = config.geometry
        logging.getLogger(__name__).warning(
            "no --config: the demo's geometry is used (detector at %g mm, direct beam at column %g, row %g, "
            "%s-mm pixels): another detector's frames come out no_signal or unknown; give --config with theirs",
            g.distance_mm, *g.direct_beam_px, g.pixel_size_mm)
    if detector:
        from .preprocess.mask import check_setup

        unused = unused_by_poni(data)
        if unused:
            logging.getLogger(__name__).warning("%s: geometry.poni_file places the detector: %s %s not used", name,
                                                ", ".join(f"geometry.{key}" for key in unused),
                                                "is" if len(unused) == 1 else "are")
        try:
            notes = check_setup(config)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        for note in notes:
            logging.getLogger(__name__).warning("%s: %s", name, note)
    return config


def unused_by_poni(data: Any) -> list[str]:
    """The keys of a loaded YAML mapping's geometry that a PONI file given beside them replaces."""
    geometry = data.get("geometry") if isinstance(data, dict) else None
    if not isinstance(geometry, dict) or geometry.get("poni_file") is None:
        return []
    return [key for key in ("distance_mm", "direct_beam_px", "pixel_size_mm") if geometry.get(key) is not None]


def missing_geometry(data: Any) -> str | None:
    """What a loaded YAML mapping lacks to place the detector (a PONI file, or distance and direct beam);
    None when it places it."""
    geometry = data.get("geometry") if isinstance(data, dict) else None
    if not geometry:
        return "no geometry section"
    if geometry.get("poni_file") is not None:
        return None
    missing = [key for key in ("distance_mm", "direct_beam_px") if geometry.get(key) is None]
    return f"geometry has no {' and no '.join(missing)}" if missing else None
