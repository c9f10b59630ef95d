"""``gisaxs-live check-geometry``: the picture and the verdict, on the real DESY frames and on a demo frame
whose config puts the beam centre 30 px off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from gisaxs_live.cli import main
from gisaxs_live.config import load_config
from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "insitu_desy_2024"
DESY_CONFIG = ROOT / "config" / "real" / "desy_insitu_2024.yaml"
DEMO_CONFIG = """geometry:
  distance_mm: 2000.0
  pixel_size_mm: 0.172
  direct_beam_px: [{column}, {row}]
mask:
  beamstop: {{shape: circle, radius_px: 14}}
"""


@pytest.fixture(scope="module")
def demo_frame(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("geometry") / "demo_00000.cbf"
    path.write_bytes(cbf_bytes(GrowthSeries(demo_config(load_config()), 3).frame(0)))
    return path


def _config(tmp_path: Path, column: float, row: float) -> Path:
    path = tmp_path / f"beam_{column:g}_{row:g}.yaml"
    path.write_text(DEMO_CONFIG.format(column=column, row=row))
    return path


def _check_picture(path: Path) -> None:
    png = imread(path)
    assert png.shape[:2] == (600, 1600)  # frame, model input, simulated pattern
    colours = np.unique((png[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 500 and png[..., :3].std() > 0.1


def _real_frames() -> list[Path]:
    if not REAL.is_dir():
        pytest.skip(f"{REAL} is absent: no real frames to check")
    return sorted(REAL.glob("*.cbf"))


def test_real_frames_agree_with_their_config(tmp_path, capsys):
    frames = _real_frames()
    for frame in (frames[0], frames[-1]):
        out = tmp_path / f"{frame.stem}.png"
        assert main(["check-geometry", "--config", str(DESY_CONFIG), str(frame), "--out", str(out)]) == 0
        text = capsys.readouterr().out
        assert "agrees: the maximum lies" in text and "Yoneda band" in text
        assert "specular beam expected (α_f = α_i): column 792, row 1102" in text  # 2 α_i above the beam
        masked = float(text.split("masked: ")[1].split("%")[0])
        assert 40 < masked < 70  # the aperture, module gaps and beam stops
        _check_picture(out)


def test_real_frame_with_the_beam_30_px_off(tmp_path, capsys):
    frame = _real_frames()[0]
    config = tmp_path / "off.yaml"
    config.write_text(DESY_CONFIG.read_text().replace("direct_beam_px: [792.0, 1305.0]",
                                                      "direct_beam_px: [792.0, 1335.0]"))
    assert main(["check-geometry", "--config", str(config), str(frame), "--out", str(tmp_path / "c.png")]) == 1
    assert "DISAGREES" in capsys.readouterr().out


def test_a_blank_frame_cannot_judge_the_geometry(tmp_path, capsys):
    """A closed shutter (all zeros) has no maximum to compare: status 2 and 'cannot be judged', not DISAGREES
    about a maximum at the corner."""
    blank = tmp_path / "dark.cbf"
    blank.write_bytes(cbf_bytes(np.zeros((1043, 981), np.int32)))
    assert main(["check-geometry", "--config", str(_config(tmp_path, 490, 900)), str(blank),
                 "--out", str(tmp_path / "dark.png")]) == 2
    text = capsys.readouterr().out
    assert "cannot be judged: " in text and "DISAGREES" not in text
    assert "intensity maximum above the horizon: none (no counts there)" in text  # not "column 0, row 0"


def test_demo_frame_agrees_with_its_geometry(demo_frame, tmp_path, capsys):
    out = tmp_path / "check.png"
    assert main(["check-geometry", "--config", str(_config(tmp_path, 490, 900)), str(demo_frame),
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "agrees" in text and "DISAGREES" not in text
    assert "empty bins of the model grid:" in text and "top-1 class: " in text
    assert "halves about q_y = 0: they differ by 0.0" in text and "within the limit 0.15" in text
    _check_picture(out)
    # the third panel: the simulated pattern of the top-1 class, not blank
    png = imread(out)[..., :3]
    third = png[80:520, 1150:1560]
    assert third.std() > 0.1 and len(np.unique((third * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 100


@pytest.mark.parametrize("column,row,offset", [(520, 900, "-30 columns"), (490, 930, "rows")])
def test_demo_frame_with_the_beam_30_px_off(demo_frame, tmp_path, capsys, column, row, offset):
    out = tmp_path / "check.png"
    assert main(["check-geometry", "--config", str(_config(tmp_path, column, row)), str(demo_frame),
                 "--out", str(out)]) == 1
    text = capsys.readouterr().out
    verdict = text.splitlines()[-2]
    assert verdict.startswith("DISAGREES: the maximum lies") and offset in verdict
    # the live mirror check sees a wrong column, not a wrong row
    assert ("above the limit 0.15" in text) == (offset == "-30 columns"), text
    distance = float(verdict.split("lies ")[1].split(" px")[0])
    assert 20 <= distance <= 40
    _check_picture(out)


def test_unreadable_frame_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.cbf"
    bad.write_bytes(b"not a detector file")
    assert main(["check-geometry", "--config", str(_config(tmp_path, 490, 900)), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"gisaxs-live check-geometry: error: {bad}") and "\n" not in err


def _result(top: str, status: str = "ok") -> "Result":
    from gisaxs_live.results import CLASS_NAMES, Result

    probs = np.full(len(CLASS_NAMES), 0.02)
    probs[CLASS_NAMES.index(top)] = 0.86
    return Result("f.cbf", 0, status, tuple(probs) if status in ("ok", "unknown") else ())


def _sized(result, **values):
    """``result`` with a size estimate (the size net's ``SizeEstimate`` where it exists, else a stand-in
    with its fields, read through getattr)."""
    import dataclasses
    import math

    from gisaxs_live.results import Result

    try:
        from gisaxs_live.classify.size import SizeEstimate
    except ImportError:
        @dataclasses.dataclass(frozen=True)
        class SizeEstimate:
            D_y_nm: float = math.nan
            aspect: float = math.nan
            fwhm_nm: float = math.nan

    fields = {f.name: math.nan for f in dataclasses.fields(SizeEstimate)}
    size = SizeEstimate(**dict(fields, **values))
    if "size" in Result.__dataclass_fields__:
        return dataclasses.replace(result, size=size)

    @dataclasses.dataclass(frozen=True)
    class SizedResult(Result):
        size: object = None

    return SizedResult(**{f.name: getattr(result, f.name) for f in dataclasses.fields(Result)}, size=size)


def test_simulated_panel_uses_the_size_estimate_or_the_defaults():
    from gisaxs_live.config import Simulation
    from gisaxs_live.pictures.geometry_check import simulated_input
    from gisaxs_live.preprocess.qgrid import QGrid
    from gisaxs_live.preprocess.scale import to_levels
    from gisaxs_live.simulator.pattern import Optics, simulate_pattern
    from gisaxs_live.simulator.shapes import get_shape

    config = load_config()
    grid, simulation = QGrid.for_experiment(config.experiment, config.grid), Simulation()
    optics = Optics.from_experiment(config.experiment)
    image, title = simulated_input(_result("hemispheroid"), grid, config.experiment, simulation, 5.0)
    shape = get_shape("hemispheroid")
    expected = to_levels(simulate_pattern(shape, shape.check({}), grid, optics, simulation), 5.0)
    np.testing.assert_array_equal(image, expected)
    assert "top-1 hemispheroid (0.86)" in title and "class defaults D_y 20.0 nm, aspect 0.60" in title
    sized = _sized(_result("hemispheroid"), D_y_nm=8.0, aspect=0.45, fwhm_nm=2.5)
    image, title = simulated_input(sized, grid, config.experiment, simulation, 5.0)
    params = {"D_y": 8.0, "aspect": 0.45, "fwhm": 2.5}
    np.testing.assert_array_equal(image, to_levels(simulate_pattern(shape, params, grid, optics, simulation), 5.0))
    assert "size net's D_y 8.0 nm, aspect 0.45, FWHM 2.5 nm" in title
    image, title = simulated_input(_result("spheroid", "no_signal"), grid, config.experiment, simulation, 5.0)
    assert image is None and title == "no simulated pattern: the frame is no signal"


def test_the_axis_of_a_dense_deposit_lies_between_its_interference_maxima_not_on_one():
    """A dense deposit's brightest pixel is an interference maximum beside the axis (57 px at 2 m for a trial's
    ellipsoids of exact geometry, which the check said disagreed by 57 columns: it looked for the axis within 40 px
    of that pixel). The axis is where the band is mirror-symmetric over a window wider than the maxima's spacing."""
    from gisaxs_live.pictures.geometry_check import _peak

    columns = np.arange(600.0)
    axis = 300

    def band(c):
        lobes = np.exp(-0.5 * ((c - axis - 57) / 12) ** 2) + np.exp(-0.5 * ((c - axis + 57) / 12) ** 2)
        return 100 * lobes + 20 * np.exp(-0.5 * ((c - axis) / 90) ** 2) + 1

    smooth = np.ones((200, 600))
    smooth[100] = band(columns)
    smooth[100, axis + 57] += 0.5  # the brightest pixel: on the right-hand maximum
    for offset in (1, 2, 3):  # the band a few rows high, fainter away from its row
        smooth[100 - offset] = smooth[100 + offset] = band(columns) / (1 + offset)
    column, row = _peak(smooth)
    assert column == axis and row == 100
