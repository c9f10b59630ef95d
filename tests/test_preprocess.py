"""Detector frame → model input: geometry, masks, regridding, fill, no-signal and error handling.

The main check renders a simulated spheroid pattern pixel by pixel onto a synthetic Pilatus 1M
(1043 × 981, 172 µm, 2000 mm, direct beam at column 490, row 900, λ 0.15 nm, α_i 0.2°, module gaps
of −1), with Poisson counts up to 1e5, writes it as CBF, reads it back and regrids it: the image must
match the canonical simulated image. Measured: mean |Δlevel| 1.19 over the bins the detector covers;
with the direct beam misplaced by 5 rows (0.9 mm, 0.6 of a q_z bin) 2.34, by 10 rows 4.02. The
threshold 2.5 sits between a correct geometry and a 10-row error.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import fabio.cbfimage
import numpy as np
import pytest

from gisaxs_live.config import Beamstop, Config, ConfigError, Simulation, load_config
from gisaxs_live.frame import Frame, FrameError
from gisaxs_live.preprocess.geometry import DetectorGeometry
from gisaxs_live.preprocess.prepare import MIN_BIN_PIXEL_FRACTION, FramePreprocessor
from gisaxs_live.preprocess.regrid import bin_sums, fill_empty, table
from gisaxs_live.preprocess.scale import to_levels
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.simulator.pattern import Optics, ensemble_intensity, simulate_pattern
from gisaxs_live.simulator.shapes import get_shape
from gisaxs_live.sources.files import read_frames

PILATUS_1M = (1043, 981)
MAX_MEAN_LEVEL_ERROR = 2.5
DECADES = 5.0


def pilatus_gaps(shape: tuple[int, int] = PILATUS_1M) -> np.ndarray:
    """Pilatus 1M module gaps: 5 × 2 modules of 195 rows × 487 columns, 17-row and 7-column gaps."""
    gap = np.zeros(shape, dtype=bool)
    for i in range(1, 5):
        gap[212 * i - 17:212 * i, :] = True
    gap[:, 487:494] = True
    return gap


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config()  # the defaults are the synthetic Pilatus 1M's geometry


@pytest.fixture(scope="module")
def grid(config: Config) -> QGrid:
    return QGrid.for_experiment(config.experiment, config.grid)


@pytest.fixture(scope="module")
def synthetic(config: Config, grid: QGrid, tmp_path_factory) -> dict:
    """A spheroid pattern rendered at each pixel's exact (q_x, q_y, α_f), Poisson counts, as CBF."""
    simulation = Simulation(size_samples=5, orientation_samples=1, z_nodes=16)
    optics = Optics.from_experiment(config.experiment)
    shape, params = get_shape("spheroid"), {"D_y": 20.0, "aspect": 0.6, "fwhm": 6.0}
    q = DetectorGeometry(config.geometry).pixel_q(PILATUS_1M, optics.k, optics.alpha_i)
    above = q.alpha_f >= 0
    intensity = np.zeros(PILATUS_1M)
    intensity[above] = ensemble_intensity(shape, params, q.qx[above], q.qy[above], q.alpha_f[above],
                                          optics, simulation)
    expected = np.rint(intensity * (1e5 / intensity.max()))
    counts = np.random.default_rng(7).poisson(expected).astype(np.int32)
    counts[pilatus_gaps()] = -1
    path = tmp_path_factory.mktemp("frames") / "synthetic_pilatus1m.cbf"
    fabio.cbfimage.CbfImage(data=counts).write(str(path))
    reference = to_levels(simulate_pattern(shape, params, grid, optics, simulation), DECADES)
    return {"path": path, "counts": counts, "reference": reference}


def frame_of(data: np.ndarray, mask: np.ndarray | None = None) -> Frame:
    return Frame(data=data, source="test", frame_id=0, t=0.0, mask=mask)


def with_mask(config: Config, **changes) -> Config:
    return dataclasses.replace(config, mask=dataclasses.replace(config.mask, **changes))


def with_geometry(config: Config, **changes) -> Config:
    return dataclasses.replace(config, geometry=dataclasses.replace(config.geometry, **changes))


def mean_level_error(image: np.ndarray, reference: np.ndarray, where: np.ndarray) -> float:
    return float(np.abs(image.astype(int) - reference.astype(int))[where].mean())


# --- the simulated pattern survives detector, file and regridding ---------------------------------

def test_cbf_frame_recovers_the_simulated_image(config, grid, synthetic):
    (frame,) = read_frames(synthetic["path"])
    pre = FramePreprocessor(config, grid, DECADES)
    prepared = pre.prepare(frame)
    assert prepared.status == "ok", prepared.message
    assert prepared.image.dtype == np.uint8 and prepared.image.shape == grid.shape
    covered = pre.lookup(frame.data.shape).covered
    assert covered.mean() > 0.9
    error = mean_level_error(prepared.image, synthetic["reference"], covered)
    assert error < MAX_MEAN_LEVEL_ERROR, f"mean level error {error:.2f}"


def test_misplaced_direct_beam_fails_the_same_threshold(config, grid, synthetic):
    wrong = with_geometry(config, direct_beam_px=(490.0, 910.0))
    pre = FramePreprocessor(wrong, grid, DECADES)
    prepared = pre.prepare(frame_of(synthetic["counts"]))
    covered = FramePreprocessor(config, grid, DECADES).lookup(PILATUS_1M).covered
    error = mean_level_error(prepared.image, synthetic["reference"], covered)
    assert error > MAX_MEAN_LEVEL_ERROR, f"a 10-row beam error went unnoticed ({error:.2f})"


def test_flipped_and_transposed_arrays_give_the_same_image(config, grid, synthetic):
    counts = synthetic["counts"]
    plain = FramePreprocessor(config, grid, DECADES).prepare(frame_of(counts)).image
    flipped = with_geometry(config, flip_rows=True, flip_columns=True, direct_beam_px=(980.0 - 490.0, 1042.0 - 900.0))
    transposed = with_geometry(config, transpose=True, direct_beam_px=(900.0, 490.0))
    assert np.array_equal(FramePreprocessor(flipped, grid, DECADES).prepare(frame_of(counts[::-1, ::-1])).image, plain)
    assert np.array_equal(FramePreprocessor(transposed, grid, DECADES).prepare(frame_of(counts.T.copy())).image, plain)


def test_image_comes_from_to_levels_of_the_filled_intensity(config, grid, synthetic):
    prepared = FramePreprocessor(config, grid, DECADES).prepare(frame_of(synthetic["counts"]))
    assert np.array_equal(prepared.image, to_levels(fill_empty(prepared.intensity), DECADES))
    assert prepared.intensity.dtype == np.float32
    empty = np.isnan(prepared.intensity)
    assert empty.sum() >= 4 * grid.n_qy  # the module gaps leave whole bin rows empty, filled so that
    # they match the simulation (measured 1.7 levels here)
    assert mean_level_error(prepared.image, synthetic["reference"], empty) < 4.0


# --- geometry --------------------------------------------------------------------------------------

def test_pixel_q_follows_the_exact_grazing_incidence_formulas(config):
    k, alpha_i = config.experiment.k_nm, config.experiment.alpha_i_rad
    q = DetectorGeometry(config.geometry).pixel_q(PILATUS_1M, k, alpha_i)
    assert q.qy[900, 490] == 0.0 and q.alpha_f[900, 490] == pytest.approx(-alpha_i)
    # straight above the beam, α_f + α_i is the elevation seen from the sample
    up_mm = (900 - 300) * 0.172
    assert q.alpha_f[300, 490] + alpha_i == pytest.approx(math.atan(up_mm / 2000.0), rel=1e-12)
    # elastic scattering: |k_f| = k everywhere, with k_f = q + k_i and k_i = k (cos α_i, 0, −sin α_i)
    kf2 = (q.qx + k * math.cos(alpha_i)) ** 2 + q.qy**2 + (q.qz - k * math.sin(alpha_i)) ** 2
    assert np.allclose(kf2, k * k, rtol=1e-12)
    # q_z = k (sin α_i + sin α_f), q_y = k cos α_f sin 2θ_f with 2θ_f the in-plane angle of k_f
    assert np.allclose(q.qz, k * (math.sin(alpha_i) + np.sin(q.alpha_f)))
    two_theta = np.arctan2(q.qy, q.qx + k * math.cos(alpha_i))
    assert np.allclose(q.qy, k * np.cos(q.alpha_f) * np.sin(two_theta))
    # row 0 is the top: the exit angle grows toward smaller row numbers
    assert q.alpha_f[100, 600] > q.alpha_f[500, 600] > q.alpha_f[880, 600]


def test_a_frame_of_another_detector_is_an_error_where_the_geometry_gives_its_shape(config, grid, tmp_path):
    """The DESY config (a Pilatus 2M) and the GALAXI frame (a Pilatus 1M): without ``detector_shape`` the 1M frame was
    regridded with the 2M's direct beam, below its bottom edge, and came out ``unknown`` with a message about the
    beam's column; with it, an error row says what is wrong. Frames of the right shape are unchanged."""
    pre = FramePreprocessor(with_geometry(config, detector_shape=(64, 48), direct_beam_px=(24.0, 50.0),
                                          distance_mm=200.0), grid, DECADES)
    with pytest.raises(FrameError, match=r"^galaxi\.tif frame 0: shape 1043×981 does not match the geometry's "
                                         r"detector 64×48 \(geometry\.detector_shape\)$"):
        pre.prepare(Frame(np.ones((1043, 981), np.int32), "galaxi.tif", 0, 0.0))
    assert pre.lookup((64, 48)).detector_shape == (64, 48)  # its own detector's frames are regridded
    path = tmp_path / "c.yaml"
    path.write_text("geometry: {detector_shape: [0, 981]}\n")
    with pytest.raises(ConfigError, match=r"geometry\.detector_shape: \[0, 981\] is not \[rows, columns\]"):
        load_config(path)


def test_poni_file_gives_the_same_lookup_as_distance_pixel_and_beam(config, grid, tmp_path):
    pytest.importorskip("pyFAI")
    lines = ["poni_version: 2", "Detector: Pilatus1M", "Detector_config: {}", "Distance: 2.0",
             f"Poni1: {(900 + 0.5) * 172e-6!r}", f"Poni2: {(490 + 0.5) * 172e-6!r}",
             "Rot1: 0.0", "Rot2: 0.0", "Rot3: 0.0", "Wavelength: 1.5e-10"]
    poni = tmp_path / "pilatus.poni"
    poni.write_text("\n".join(lines) + "\n")
    from_poni = with_geometry(config, poni_file=poni, distance_mm=500.0, direct_beam_px=(0.0, 0.0))
    geometry = DetectorGeometry(from_poni.geometry)
    assert geometry.direct_beam_px(PILATUS_1M) == pytest.approx((490.0, 900.0), abs=1e-6)
    a = FramePreprocessor(config, grid, DECADES).lookup(PILATUS_1M)
    b = FramePreprocessor(from_poni, grid, DECADES).lookup(PILATUS_1M)
    assert np.array_equal(a.pixels, b.pixels) and np.array_equal(a.bins, b.bins)
    with pytest.raises(FrameError, match="a frame of 1000×981 pixels, the PONI file's detector 1043×981"):
        FramePreprocessor(from_poni, grid, DECADES).prepare(frame_of(np.ones((1000, 981), np.int32)))


@pytest.mark.parametrize("text, cause", [("", "not a PONI file: it does not give Distance, Poni1, Poni2"),
                                         ("###CBF: VERSION 1.5\n", "not a PONI file: it does not give Distance"),
                                         ("Distance: 2.0\nPoni1: 0.1\nPoni2: 0.1\n", "its detector has no pixel size")])
def test_a_file_that_is_no_poni_is_a_config_error_not_a_crash_later(config, grid, tmp_path, text, cause):
    """pyFAI reads any file, an empty one too, with defaults filled in; the geometry must not take it."""
    pytest.importorskip("pyFAI")
    poni = tmp_path / "beamline.poni"
    poni.write_text(text)
    with pytest.raises(ConfigError, match=f"geometry.poni_file: {poni}: {cause}"):
        FramePreprocessor(with_geometry(config, poni_file=poni), grid, DECADES)


# --- masks -----------------------------------------------------------------------------------------

def test_masked_pixels_never_change_a_bin(config, grid, synthetic):
    masked_config = with_mask(config, beamstop=Beamstop(shape="circle", radius_px=40.0, centre_px=(490.0, 830.0)),
                              rectangles=((300, 100, 420, 180),), circles=((700.0, 500.0, 25.0),),
                              aperture_px=(490.0, 900.0, 880.0))
    pre = FramePreprocessor(masked_config, grid, DECADES)
    counts = synthetic["counts"]
    reference = pre.prepare(frame_of(counts))
    used = np.zeros(counts.size, dtype=bool)
    used[pre.lookup(counts.shape).pixels] = True
    used = used.reshape(counts.shape)
    changed = counts.copy()
    changed[~used & (counts >= 0)] = 10**8  # statically masked or below the horizon: huge
    changed[counts < 0] = -2                # gaps: another negative value
    frame_mask = np.zeros(counts.shape, dtype=bool)
    frame_mask[600:640, 100:900] = True     # masked by the frame itself: huge too
    changed[frame_mask] = 10**8
    reference_with_mask = pre.prepare(frame_of(counts, frame_mask))
    result = pre.prepare(frame_of(changed, frame_mask))
    assert np.array_equal(result.intensity, reference_with_mask.intensity, equal_nan=True)
    assert np.array_equal(result.image, reference_with_mask.image)
    # and the masks did remove pixels: beam stop, rectangle, circle and aperture are not in the table
    assert not used[830, 490] and not used[140, 350] and not used[500, 700] and not used[5, 5]
    assert reference.status == "ok"


def test_bin_value_is_the_mean_of_its_valid_pixels(config, grid, synthetic):
    pre = FramePreprocessor(config, grid, DECADES)
    counts = synthetic["counts"].copy()
    lookup = pre.lookup(counts.shape)
    row, col = 40, 20
    pixels = lookup.pixels[lookup.bins == row * grid.n_qy + col]
    columns = pixels % PILATUS_1M[1]
    assert (columns < 490).any() and (columns > 490).any()  # both halves of the detector, |q_y|
    dead = pixels[: len(pixels) // 3]
    counts.ravel()[dead] = -2                  # dead pixels appear in this frame only
    counts.ravel()[pixels[-1]] = 5 * 10**6     # a hot pixel, above max_count
    capped = with_mask(config, max_count=1e6)
    intensity = FramePreprocessor(capped, grid, DECADES).prepare(frame_of(counts)).intensity
    good = counts.ravel()[pixels[len(pixels) // 3:-1]]
    assert intensity[row, col] == pytest.approx(good.mean(), rel=1e-6)


# counts up to 10⁶: bins summed in int32; up to 2³¹ − 1: a bin's sum would overflow int32, summed in int64
@pytest.mark.parametrize("high", [10**6, 2**31 - 1])
def test_the_regrid_equals_a_direct_per_bin_mean_on_a_random_frame_and_mask(config, grid, high):
    rng = np.random.default_rng(11)
    data = rng.integers(-2, high, PILATUS_1M).astype(np.int32)  # negative: gaps and dead pixels
    frame_mask = rng.random(PILATUS_1M) < 0.2
    plain = with_mask(config, hot_pixel_ratio=None)
    pre = FramePreprocessor(plain, grid, DECADES)
    intensity = pre.prepare(frame_of(data, frame_mask)).intensity
    # the direct way: each pixel's bin from its q, one weighted bincount over the valid pixels
    q = DetectorGeometry(config.geometry).pixel_q(PILATUS_1M, config.experiment.k_nm, config.experiment.alpha_i_rad)
    col = np.floor((np.abs(q.qy) - grid.qy_min) / (grid.qy_max - grid.qy_min) * grid.n_qy)
    row = np.floor((q.qz - grid.qz_min) / (grid.qz_max - grid.qz_min) * grid.n_qz)
    use = ((col >= 0) & (col < grid.n_qy) & (row >= 0) & (row < grid.n_qz) & (q.alpha_f >= 0)
           & (data >= 0) & ~frame_mask)
    bins = (row[use] * grid.n_qy + col[use]).astype(int)
    n = np.bincount(bins, minlength=grid.n_qz * grid.n_qy)
    total = np.bincount(bins, weights=data[use].astype(np.float64), minlength=n.size)
    direct = np.full(n.size, np.nan)
    enough = (n > 0) & (n >= MIN_BIN_PIXEL_FRACTION * np.median(n[n > 0]))
    direct[enough] = total[enough] / n[enough]
    assert np.array_equal(intensity, direct.reshape(grid.shape).astype(np.float32), equal_nan=True)
    # uniform noise has no isolated hot pixel: the hot-pixel test changes nothing
    with_test = FramePreprocessor(config, grid, DECADES).prepare(frame_of(data, frame_mask)).intensity
    assert np.array_equal(with_test, intensity, equal_nan=True)


@pytest.mark.parametrize("per_bin", [3, 255, 256, 1000])
def test_bin_sums_leave_out_the_excluded_pixels_whatever_the_bin_size(per_bin):
    # three bins of per_bin pixels each, on both sides of q_y = 0; the excluded counts come out as uint8 sums up
    # to 255 pixels a bin, by positions beyond; each half of a bin adds up on its own too
    rng = np.random.default_rng(5)
    n = 3 * per_bin
    sides = rng.random(n) < 0.5  # q_y >= 0: the table puts each bin's q_y < 0 pixels first
    lookup = table((1, n), (1, 3), np.arange(n), np.repeat(np.arange(3), per_bin), sides)
    values = rng.integers(0, 10**6, n).astype(np.int32)
    excluded = rng.random(n) < 0.3
    totals = bin_sums(values[lookup.pixels], lookup, excluded[lookup.pixels])
    for b in range(3):
        run = slice(b * per_bin, (b + 1) * per_bin)
        assert totals.counts[b] == np.count_nonzero(~excluded[run])
        assert totals.sums[b] == values[run][~excluded[run]].astype(np.int64).sum()
        for side in (0, 1):
            kept = ~excluded[run] & (sides[run] == side)
            half = np.flatnonzero(lookup.half_keys == 2 * b + side)  # none where the bin has no pixel on that side
            assert totals.half_counts[half].sum() == np.count_nonzero(kept)
            assert totals.half_sums[half].sum() == values[run][kept].astype(np.int64).sum()


def test_negative_values_count_when_not_masked(config, grid):
    data = np.full(PILATUS_1M, 100, dtype=np.int32)
    data[:, :490] = 10_000
    data[500:520, 600:610] = -50
    keep = with_mask(config, negative_is_masked=False)
    pre = FramePreprocessor(keep, grid, DECADES)
    lookup = pre.lookup(PILATUS_1M)
    bin_index = lookup.bins[lookup.pixels == np.ravel_multi_index((510, 605), PILATUS_1M)][0]
    intensity = pre.prepare(frame_of(data)).intensity
    pixels = lookup.pixels[lookup.bins == bin_index]
    assert intensity.ravel()[bin_index] == pytest.approx(data.ravel()[pixels].mean(), rel=1e-6)
    assert data.ravel()[pixels].min() < 0


def test_mask_file_masks_its_nonzero_pixels(config, grid, synthetic, tmp_path):
    mask = np.zeros(PILATUS_1M, dtype=np.int8)
    mask[200:260, 100:880] = 1
    path = tmp_path / "mask.edf"
    fabio.edfimage.EdfImage(data=mask).write(str(path))
    pre = FramePreprocessor(with_mask(config, file=path), grid, DECADES)
    pixels = pre.lookup(PILATUS_1M).pixels
    rows = pixels // PILATUS_1M[1]
    assert not np.any((rows >= 200) & (rows < 260) & (pixels % PILATUS_1M[1] >= 100) & (pixels % PILATUS_1M[1] < 880))
    with pytest.raises(FrameError, match="mask file"):
        pre.prepare(frame_of(np.ones((1000, 981), np.int32)))


def test_rectangular_beamstop_is_centred_on_the_direct_beam(config, grid):
    stop = Beamstop(shape="rectangle", size_px=(100.0, 400.0))
    pre = FramePreprocessor(with_mask(config, beamstop=stop), grid, DECADES)
    used = np.zeros(np.prod(PILATUS_1M), dtype=bool)
    used[pre.lookup(PILATUS_1M).pixels] = True
    used = used.reshape(PILATUS_1M)
    assert not used[701:1043, 441:540].any()  # the stop covers rows 700..1100, columns 440..540
    assert used[690, 445] and used[750, 545]


# --- empty bins ------------------------------------------------------------------------------------

def test_fill_interpolates_along_qz_and_extends_at_the_edges():
    ramp = np.add.outer(np.arange(8.0) * 10.0, np.arange(5.0)).astype(np.float32)
    holes = ramp.copy()
    holes[2:4, :] = np.nan    # a module gap: whole rows
    holes[6:, 3] = np.nan     # beyond the detector's edge, top of one column
    holes[:, 0] = np.nan      # a masked specular rod at q_y = 0
    filled = fill_empty(holes)
    assert not np.isnan(filled).any() and filled.dtype == np.float32
    assert np.array_equal(filled[2:4, 1:], ramp[2:4, 1:])  # linear between the bins below and above
    assert np.array_equal(filled[6:, 3], [ramp[5, 3]] * 2)  # nearest bin of the column
    assert np.array_equal(filled[:, 0], filled[:, 1])       # empty column: nearest along q_y
    assert np.isnan(fill_empty(np.full((3, 3), np.nan))).all()


# --- no signal and unusable frames ----------------------------------------------------------------

@pytest.mark.parametrize("case", ["zeros", "closed shutter", "all masked", "flat"])
def test_frames_without_signal_are_reported_not_classified(config, grid, case):
    data = np.zeros(PILATUS_1M, dtype=np.int32)
    if case == "closed shutter":
        data[[300, 420, 610], [100, 700, 333]] = 10**6  # a few hot pixels, nothing else
    elif case == "all masked":
        data[:] = -1
    elif case == "flat":
        data[:] = np.random.default_rng(1).poisson(50.0, PILATUS_1M)
    prepared = FramePreprocessor(config, grid, DECADES).prepare(frame_of(data))
    assert prepared.status == "no_signal" and prepared.image is None
    assert prepared.message.startswith("test frame 0: no usable signal")


def test_wrong_dimensions_and_shapes_raise_frame_error(config, grid):
    pre = FramePreprocessor(config, grid, DECADES)
    with pytest.raises(FrameError, match=r"test frame 0: expected a 2-D detector image, got 3-D"):
        pre.prepare(frame_of(np.ones((2, *PILATUS_1M))))
    with pytest.raises(FrameError, match="covers no bin of the model grid"):
        pre.prepare(frame_of(np.ones((10, 10), np.int32)))
    with pytest.raises(FrameError, match="its mask has shape"):
        pre.prepare(frame_of(np.ones(PILATUS_1M), np.zeros((10, 10), bool)))
    with pytest.raises(FrameError, match="not numeric"):
        pre.prepare(frame_of(np.full(PILATUS_1M, "x")))
    # a trial: a damaged header's 15,000 × 15,000 frame took 18.6 GB to build its pixel → bin table
    with pytest.raises(FrameError, match=r"test frame 0: 8,193 × 8,193 pixels, more than any detector has \(at most "
                                         r"67,108,864 are classified\)"):
        pre.prepare(frame_of(np.zeros((8193, 8193), np.uint8)))  # calloc'ed: its pages are never touched


def test_a_geometry_that_leaves_every_frame_an_error_is_said_before_the_first_frame(config, grid, caplog):
    """A direct beam far outside the detector made every frame an error row, said only as the frames came. The
    classifier's warm-up now builds the detector's table where the geometry gives its shape, and logs the cause."""
    from gisaxs_live.classify.pipeline import Classifier

    def placed(beam, shape=PILATUS_1M):
        return dataclasses.replace(config, geometry=dataclasses.replace(config.geometry, direct_beam_px=beam,
                                                                        detector_shape=shape))

    assert FramePreprocessor(config, grid, DECADES).check_detector() is None  # no shape given: nothing known
    assert FramePreprocessor(placed(config.geometry.direct_beam_px), grid, DECADES).check_detector() == ""
    far = FramePreprocessor(placed((30000.0, -40000.0)), grid, DECADES)
    assert far.check_detector() == "a 1043×981 frame covers no bin of the model grid with this geometry and mask"
    with pytest.raises(FrameError, match="covers no bin"):  # as the frames say it
        far.prepare(frame_of(np.ones(PILATUS_1M, np.int32)))
    with caplog.at_level(logging.ERROR):
        Classifier(placed((30000.0, -40000.0))).warm_up()
    assert caplog.messages == ["geometry: a 1043×981 frame covers no bin of the model grid with this geometry and "
                               "mask: every frame of this detector will be an error row; check "
                               "geometry.direct_beam_px or the PONI file (gisaxs-live check-geometry shows a frame "
                               "against it)"]


def test_nan_pixels_are_masked_when_few_and_an_error_when_all(config, grid, synthetic):
    pre = FramePreprocessor(config, grid, DECADES)
    counts = synthetic["counts"].astype(np.float32)
    holes = np.zeros(PILATUS_1M, dtype=bool)
    holes[::7, ::5] = True
    with_nan, with_negative = counts.copy(), counts.copy()
    with_nan[holes], with_negative[holes] = np.nan, -1.0
    with_nan[0, 0] = np.inf
    with_negative[0, 0] = -1.0
    a, b = pre.prepare(frame_of(with_nan)), pre.prepare(frame_of(with_negative))
    assert a.status == "ok" and np.array_equal(a.intensity, b.intensity, equal_nan=True)
    with pytest.raises(FrameError, match="100% of the pixels are NaN or infinite"):
        pre.prepare(frame_of(np.full(PILATUS_1M, np.nan)))


def test_a_new_detector_shape_rebuilds_the_lookup(config, grid, synthetic):
    pre = FramePreprocessor(config, grid, DECADES)
    first = pre.lookup(PILATUS_1M)
    assert pre.lookup(PILATUS_1M) is first
    cropped = pre.prepare(frame_of(np.ascontiguousarray(synthetic["counts"][:, :700])))
    assert cropped.status == "ok" and pre.lookup((1043, 700)).detector_shape == (1043, 700)


# --- configuration ---------------------------------------------------------------------------------

def test_geometry_and_mask_sections_are_validated(tmp_path):
    def load(text: str) -> Config:
        path = tmp_path / "c.yaml"
        path.write_text(text)
        return load_config(path)

    config = load("geometry: {pixel_size_mm: [0.1, 0.2], direct_beam_px: [1, 2]}\n"
                  "mask: {beamstop: {shape: rectangle, size_px: [4, 6]}, rectangles: [[0, 0, 9, 9]]}\n")
    assert config.geometry.pixel_size_xy_mm == (0.1, 0.2) and config.geometry.direct_beam_px == (1.0, 2.0)
    assert config.mask.beamstop.size_px == (4.0, 6.0)
    with pytest.raises(ConfigError, match=r"mask\.beamstop\.radius: unknown key \(did you mean 'radius_px'\?\)"):
        load("mask: {beamstop: {radius: 3}}\n")
    with pytest.raises(ConfigError, match=r"geometry\.poni_file: .*is not a file"):
        load("geometry: {poni_file: /nonexistent/x.poni}\n")
    with pytest.raises(ConfigError, match=r"mask\.rectangles\[0\]: minimum above maximum"):
        load("mask: {rectangles: [[10, 0, 5, 9]]}\n")
    with pytest.raises(ConfigError, match=r"geometry\.distance_mm"):
        load("geometry: {distance_mm: -1}\n")
