"""The YAML loader: defaults, overrides, and clear errors that name the offending key."""

from pathlib import Path

import pytest

from gisaxs_live.config import ConfigError, load_config


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_are_the_papers_experiment():
    cfg = load_config()
    assert cfg.experiment.wavelength_nm == 0.15
    assert cfg.experiment.incidence_angle_deg == 0.2
    assert cfg.experiment.volume_fraction == 0.2
    n_si = cfg.experiment.substrate.refractive_index(0.15)
    assert 1 - n_si.real == pytest.approx(7.18e-6, rel=0.01)  # DESIGN.md: Si at 0.15 nm
    n_te = cfg.experiment.particle.refractive_index(0.15)
    assert 1 - n_te.real == pytest.approx(1.546e-5, rel=0.02)


def test_repository_default_yaml_is_the_packaged_one():
    from pathlib import Path

    from gisaxs_live.config import default_config_text

    assert (Path(__file__).parents[1] / "config" / "default.yaml").read_text() == default_config_text()


def test_partial_override_keeps_other_defaults(tmp_path):
    cfg = load_config(write(tmp_path, "experiment:\n  wavelength_nm: 0.1033\n  substrate: {delta: 3.4e-6, beta: 3.5e-8}\n"))
    assert cfg.experiment.wavelength_nm == 0.1033
    assert cfg.experiment.incidence_angle_deg == 0.2
    assert cfg.experiment.substrate.refractive_index(0.1) == complex(1 - 3.4e-6, 3.5e-8)


@pytest.mark.parametrize("text, message", [
    ("experiment:\n  wavelenght_nm: 0.1\n", "experiment.wavelenght_nm: unknown key (did you mean 'wavelength_nm'?)"),
    ("experiment:\n  wavelength_nm: fast\n", "experiment.wavelength_nm: expected a number"),
    ("experiment:\n  wavelength_nm: -1\n", "experiment.wavelength_nm: -1.0 is outside"),
    ("grid:\n  n_qy: 7.5\n", "grid.n_qy: expected an integer"),
    ("bogus: 1\n", "config.bogus: unknown key"),
    ("experiment: [1, 2]\n", "experiment: expected a mapping"),
    ("experiment:\n  substrate: {formula: Si}\n", "substrate.density_g_cm3: must be a positive number"),
    ("experiment:\n  substrate: {formula: Qq, density_g_cm3: 1}\n", "is not a chemical formula"),
    ("experiment: {wavelength_nm: [\n", "not valid YAML: line 2, column 1: expected the node content"),
    ("a: 1\n b: 2\n", "not valid YAML: line 2, column 3: mapping values are not allowed here"),
    ("experiment:\n  substrate: {formula: Si, density_g_cm3: .nan}\n", "density_g_cm3: expected a finite number"),
    ("experiment:\n  substrate: {delta: .inf, beta: 1e-7}\n", "substrate.delta: expected a finite number"),
    ("mask:\n  file: ~nosuchuser_gl/mask.edf\n", "mask.file: '~nosuchuser_gl/mask.edf': no home directory"),
    ("geometry:\n  direct_beam_px: [1.0e300, 5.0]\n", "direct_beam_px: [1e+300, 5.0] lies more than 100000 pixels"),
    ("simulation:\n  size_step: 0.000001\n", "simulation.size_step: 1e-06 is outside"),  # a million nodes
    ("geometry:\n  detector_shape: [100000000, 100000000]\n",  # was an error row for every frame (review)
     "detector_shape: [100000000, 100000000] is not [rows, columns] of pixels (each 1 to 65,536)"),
])
def test_bad_config_is_a_clear_error_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value) and "<unicode string>" not in str(info.value)


def test_a_number_in_exponent_form_without_a_point_is_a_number(tmp_path):
    """YAML 1.1 reads 1e-1 as a string: the config takes it as the number it is (it said "expected a number")."""
    config = load_config(write(tmp_path, "experiment:\n  wavelength_nm: 15e-2\n  volume_fraction: 2E-1\n"))
    assert (config.experiment.wavelength_nm, config.experiment.volume_fraction) == (0.15, 0.2)


def test_missing_config_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_a_binary_config_file_is_named_with_its_cause(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"geometry:\n  distance_mm: 1000\n\xff\xfe")
    with pytest.raises(ConfigError, match=r"binary.yaml: not a YAML text file \(byte 0xff at offset 30 is not UTF-8"):
        load_config(path)


@pytest.mark.parametrize("text, problem", [
    ("experiment:\n  wavelength_nm: 0.1\n", "no geometry section"),
    ("", "no geometry section"),
    ("geometry: {}\n", "no geometry section"),
    ("geometry:\n  distance_mm: 2500\n", "geometry has no direct_beam_px"),
    ("geometry:\n  flip_rows: true\n", "geometry has no distance_mm and no direct_beam_px"),
])
def test_a_detector_command_needs_the_geometry_in_its_config(tmp_path, text, problem):
    path = write(tmp_path, text)
    load_config(path)  # simulate, train, evaluate: no detector, no geometry needed
    with pytest.raises(ConfigError) as info:
        load_config(path, detector=True)
    message = str(info.value)
    assert message.startswith(f"{path}: {problem}: detector frames need their detector's geometry")
    assert "geometry.poni_file" in message and "\n" not in message


def test_geometry_given_by_distance_and_beam_or_by_a_poni_file(tmp_path):
    config = load_config(write(tmp_path, "geometry: {distance_mm: 2500, direct_beam_px: [792, 1305]}\n"), detector=True)
    assert config.geometry.direct_beam_px == (792.0, 1305.0)
    poni = tmp_path / "detector.poni"
    poni.write_text(PONI_TEXT)
    assert load_config(write(tmp_path, f"geometry: {{poni_file: {poni}}}\n"), detector=True).geometry.poni_file == poni
    assert load_config(detector=True).geometry.distance_mm == 2000.0  # the bundled default places its Pilatus 1M


#: a whole PONI file (pyFAI's version 2) of a Pilatus 1M at 2 m
PONI_TEXT = ("poni_version: 2\nDetector: Pilatus1M\nDetector_config: {}\nDistance: 2.0\nPoni1: 0.155\nPoni2: 0.084\n"
             "Rot1: 0.0\nRot2: 0.0\nRot3: 0.0\nWavelength: 1.5e-10\n")


def test_a_detector_command_reads_the_poni_and_mask_files_when_the_config_loads(tmp_path):
    """A PONI file that is none, or a mask file of another detector, stops a detector command at once with one line
    naming the YAML file (exit 2), instead of an error row for every frame after the model has loaded."""
    import fabio.edfimage
    import numpy as np

    (tmp_path / "bad.poni").write_text("Distance: 2.0\n")
    path = write(tmp_path, "geometry: {poni_file: bad.poni}\n")
    with pytest.raises(ConfigError, match=f"^{path}: geometry.poni_file: {tmp_path / 'bad.poni'}: not a PONI file"):
        load_config(path, detector=True)
    assert load_config(path).geometry.poni_file == tmp_path / "bad.poni"  # other commands read no detector files
    fabio.edfimage.EdfImage(data=np.zeros((100, 100), "uint8")).write(str(tmp_path / "mask.edf"))
    path = write(tmp_path, "geometry: {distance_mm: 2000, direct_beam_px: [490, 900], detector_shape: [1043, 981]}\n"
                           "mask: {file: mask.edf}\n")
    with pytest.raises(ConfigError, match=f"^{path}: mask.file: {tmp_path / 'mask.edf'} is 100×100 pixels, the "
                                          r"detector 1043×981 \(geometry.detector_shape\)$"):
        load_config(path, detector=True)
    (tmp_path / "good.poni").write_text(PONI_TEXT)
    path = write(tmp_path, "geometry: {poni_file: good.poni}\nmask: {file: mask.edf}\n")
    with pytest.raises(ConfigError, match=r"the detector 1043×981 \(its PONI file\)$"):
        load_config(path, detector=True)


def test_keys_a_poni_file_replaces_are_said_unused(tmp_path, caplog):
    (tmp_path / "good.poni").write_text(PONI_TEXT)
    path = write(tmp_path, "geometry: {poni_file: good.poni, distance_mm: 5000, direct_beam_px: [1, 2]}\n")
    assert load_config(path, detector=True).geometry.poni_file == tmp_path / "good.poni"
    assert (f"{path}: geometry.poni_file places the detector: geometry.distance_mm, geometry.direct_beam_px are not "
            "used") in caplog.text


def test_a_poni_wavelength_other_than_the_experiments_is_said_once_the_experiments_used(tmp_path, caplog):
    """A new user's trial: the PONI file's Wavelength was ignored without a word (only its detector placement is
    read; ``experiment.wavelength_nm`` sets k). Within 0.1 % nothing is said."""
    (tmp_path / "good.poni").write_text(PONI_TEXT)  # 1.5e-10 m
    for wavelength, said in [(0.15, False), (0.15014, False), (0.1033, True)]:
        caplog.clear()
        path = write(tmp_path, f"geometry: {{poni_file: good.poni}}\nexperiment: {{wavelength_nm: {wavelength}}}\n")
        assert load_config(path, detector=True).experiment.wavelength_nm == wavelength
        expected = (f"{path}: geometry.poni_file gives a wavelength of 0.15 nm, experiment.wavelength_nm {wavelength} "
                    "nm: the latter is used (the PONI file places the detector only)")
        assert (expected in caplog.text) is said, caplog.text


def test_relative_paths_are_relative_to_the_config_files_directory(tmp_path, monkeypatch):
    """A service runs in / (systemd): ``mask: {file: mask.edf}`` beside the YAML was looked for there, and the
    service refused to start with a path nobody wrote."""
    import fabio.edfimage
    import numpy as np

    beamline = tmp_path / "beamline"
    beamline.mkdir()
    fabio.edfimage.EdfImage(data=np.zeros((4, 4), "uint8")).write(str(beamline / "mask.edf"))
    (beamline / "detector.poni").write_text("Distance: 2.0\n")
    yaml_path = beamline / "run.yaml"
    yaml_path.write_text("mask: {file: mask.edf}\ngeometry: {poni_file: ./detector.poni}\n"
                         "output: {csv: logs/run.csv, events: {on_event: [./hooks/mark.sh, --note, 'x/y']}}\n"
                         "watch: {directory: ../data}\n")
    monkeypatch.chdir("/")
    config = load_config(yaml_path)
    assert config.mask.file == beamline / "mask.edf" and config.geometry.poni_file == beamline / "detector.poni"
    assert config.output.csv == beamline / "logs" / "run.csv" and config.watch.directory == beamline / ".." / "data"
    assert config.output.events.on_event == (str(beamline / "hooks" / "mark.sh"), "--note", "x/y")  # a bare name stays one
    monkeypatch.chdir(beamline)
    assert load_config(Path("run.yaml")).mask.file == beamline / "mask.edf"  # the YAML named relatively too
    absolute = load_config(write(tmp_path, f"mask: {{file: {beamline / 'mask.edf'}}}\n"))
    assert absolute.mask.file == beamline / "mask.edf"


def test_the_real_data_configs_give_their_geometry():
    from pathlib import Path

    for path in sorted((Path(__file__).parents[1] / "config" / "real").glob("*.yaml")):
        load_config(path, detector=True)


@pytest.mark.parametrize("watch, cause", [
    ('{patterns: ["det/*.edf"]}', "'det/*.edf' can match no file"),
    ('{patterns: ["*.cbf", ""]}', "'' can match no file"),
    ('{ignore_patterns: ["*"]}', "leaves out every file"),
    ('{patterns: ["*.cbf"], ignore_patterns: ["*.CBF"]}', "leaves out every file"),
])
def test_watch_patterns_that_can_take_no_file_are_refused(tmp_path, watch, cause):
    """A trial: these started a monitor that never wrote a row (patterns match a file's name, in any letter case)."""
    with pytest.raises(ConfigError, match="watch") as raised:
        load_config(write(tmp_path, f"watch: {watch}\n"))
    assert cause in str(raised.value)
    load_config(write(tmp_path, 'watch: {patterns: ["*.cbf", "*.edf"], ignore_patterns: ["*.cbf"]}\n'))


@pytest.mark.parametrize("line, said", [("Distance: -2.5", r"its Distance -2.5 m is outside 0.01-100 m"),
                                        ("Distance: 0", r"its Distance 0 m is outside 0.01-100 m"),
                                        ("Distance: nan", r"its Distance nan is not a finite number"),
                                        ("Rot1: 1e308", r"its Rot1 1e\+308 rad is more than a whole turn")])
def test_a_poni_file_placing_the_detector_nowhere_stops_a_detector_command(tmp_path, line, said):
    """A trial: a PONI Distance of -2.5 m classified frames from a meaningless geometry (status 0, an ``unknown``
    row); 0, nan and a rotation of 1e308 gave an error row per frame."""
    key = line.split(":")[0]
    text = "".join(f"{line}\n" if row.startswith(f"{key}:") else f"{row}\n" for row in PONI_TEXT.splitlines())
    (tmp_path / "odd.poni").write_text(text)
    path = write(tmp_path, "geometry: {poni_file: odd.poni}\n")
    with pytest.raises(ConfigError, match=f"^{path}: geometry.poni_file: {tmp_path / 'odd.poni'}: {said}"):
        load_config(path, detector=True)


@pytest.mark.parametrize("content, said", [(b"", "empty file"), (b"###CBF: VERSION 1.5\n", "truncated CBF")])
def test_a_mask_file_that_cannot_be_read_is_said_in_words(tmp_path, content, said):
    """A trial: an empty mask file gave "('NoneType' object has no attribute 'find')", a truncated one
    "(AssertionError)" and fabio's own line on stderr."""
    (tmp_path / "mask.cbf").write_bytes(content)
    path = write(tmp_path, "geometry: {distance_mm: 2000, direct_beam_px: [490, 900], detector_shape: [1043, 981]}\n"
                           "mask: {file: mask.cbf}\n")
    with pytest.raises(ConfigError, match=f"^{path}: mask file {tmp_path / 'mask.cbf'}: {said}"):
        load_config(path, detector=True)


@pytest.mark.parametrize("text, said", [
    ("poni_version: 2\nDetector: Pilatus1M\nDistance: \nPoni1: 0.1\nPoni2: 0.1\n", "a value that is not a number: ''"),
    ('poni_version: 2\nDetector: Pilatus1M\nDetector_config: {"x": }\nDistance: 2\nPoni1: 0.1\nPoni2: 0.1\n',
     r"its Detector_config is not JSON \(Expecting value at character 6\)"),
    (b"###CBF: VERSION 1.5\n\x0c\x1a\x04\xd5\x89\xff", "is not UTF-8 text: a binary file, not a PONI file"),
])
def test_a_poni_file_pyfai_cannot_read_is_said_in_words(tmp_path, text, said):
    """A trial: PONI files pyFAI could not parse were said in Python's words ("could not convert string to float",
    "'utf-8' codec can't decode byte 0x89", "Expecting value: line 1 column 11 (char 10)")."""
    poni = tmp_path / "odd.poni"
    poni.write_bytes(text if isinstance(text, bytes) else text.encode())
    path = write(tmp_path, "geometry: {poni_file: odd.poni}\n")
    with pytest.raises(ConfigError, match=f"^{path}: geometry.poni_file: {poni}: not a readable PONI file \\(.*{said}"):
        load_config(path, detector=True)
