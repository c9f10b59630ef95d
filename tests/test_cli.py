"""The command line as a new user meets it, as real processes: exit statuses, one-line start-up errors,
no TensorFlow chatter on stderr, the default CSV log of ``watch``, and a README command table that
lists what the parsers accept."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gisaxs_live.classify.modeldir import META, bundled_model_dir
from gisaxs_live.cli import build_parser
from gisaxs_live.config import load_config
from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config
from gisaxs_live.usage import markdown_table, readme_block

CLI = [sys.executable, "-m", "gisaxs_live.cli"]
README = Path(__file__).parents[1] / "README.md"
#: what TensorFlow, absl and Keras print at start-up (C++ log lines, absl's notice, Python warnings)
CHATTER = re.compile(r"^[IWE]\d{4} |absl|oneDNN|tensorflow|keras|cuda", re.IGNORECASE | re.MULTILINE)
needs_model = pytest.mark.skipif(not (bundled_model_dir() / META).exists(), reason="no bundled model")


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """One good Pilatus 1M CBF of the demo's growth series (its last frame: the first, 8-nm hemispheroids, sits at
    the bundled model's out-of-distribution threshold), and two files that are no detector image."""
    root = tmp_path_factory.mktemp("cli")
    (root / "good.cbf").write_bytes(cbf_bytes(GrowthSeries(demo_config(load_config()), 2).frame(1)))
    (root / "empty.cbf").write_bytes(b"")
    (root / "notes.cbf").write_text("beam lost at 14:02\n")
    return root


def test_readme_command_table_is_the_parsers():
    table = markdown_table(build_parser())
    assert readme_block(README.read_text()) == table, (
        "README.md's command table differs from the parsers: run `python -m gisaxs_live.usage --write README.md`")
    assert "[--observer {inotify\\|polling}]" in table and "[--backlog]" in table and "PATH …" in table


def test_help_documents_the_exit_statuses():
    top, classify = run("--help"), run("classify", "--help")
    assert top.returncode == 0 and classify.returncode == 0
    assert "exit status:" in top.stdout and "2    usage or configuration error" in top.stdout
    assert "130  stopped by Ctrl-C" in top.stdout and "check-geometry: the frame DISAGREES" in top.stdout
    assert "Exit status: 0 when no row is an error" in classify.stdout and "1 when some or all are errors" in classify.stdout


def test_the_help_gives_the_flag_fits_own_defaults():
    """The commands state the out-of-distribution fit's defaults without importing it (0.4 s); they must be its."""
    import inspect

    from gisaxs_live.commands import calibrate_ood, train
    from gisaxs_live.training import ood_calibration, outlier_exposure

    defaults = inspect.signature(ood_calibration.calibrate).parameters
    assert calibrate_ood.QUANTILE == ood_calibration.QUANTILE == defaults["quantile"].default
    assert train.PER_KIND == outlier_exposure.PER_KIND == defaults["per_kind"].default
    assert ood_calibration.outlier_options(None) == {"per_kind": train.PER_KIND}
    assert 0 < train.PER_KIND_FINE_TUNE < train.PER_KIND


def test_a_usage_error_exits_2():
    done = run("classify", "--no-such-option", "x.cbf")
    assert done.returncode == 2 and "unrecognized arguments: --no-such-option" in done.stderr


@pytest.mark.parametrize("argv, parser, unknown", [(["watch", "--csvv", "x"], "gisaxs-live watch", "--csvv"),
                                                   (["report", "log.csv", "--bogus", "1"], "gisaxs-live report",
                                                    "--bogus 1"),
                                                   (["--bogus", "watch"], "gisaxs-live", "--bogus")])
def test_a_mistyped_option_is_reported_against_its_subcommand(argv, parser, unknown, capsys):
    """A trial: ``watch --csvv x`` showed the top-level usage (``gisaxs-live [-h] [--version] COMMAND ...``), which
    does not list the subcommand's options; an option before the subcommand is still the top level's."""
    from gisaxs_live.cli import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: {parser} [-h]")
    assert err.splitlines()[-1] == f"{parser}: error: unrecognized arguments: {unknown}"


def test_a_monitor_that_ends_before_it_runs_leaves_the_signals_as_they_were(tmp_path, capsys):
    """A review: ``watch`` ending at once (a usage error, a log it could not open) left SIGTERM and Ctrl-C only
    remembered for a monitor that never came: the process could no longer be stopped by them."""
    import signal

    from gisaxs_live.cli import main

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(SystemExit):
        main(["watch", "--csvv", "x"])
    assert main(["watch", str(tmp_path), "--config", str(tmp_path / "missing.yaml")]) == 2
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


@pytest.mark.parametrize("command, then", [
    (["check-geometry", "--out", "{tmp}/picture.txt"],
     "--out {tmp}/picture.txt: give a .png file (the picture is a PNG)"),
    (["refine", "--csv", "{tmp}/no/fits.csv"], "--csv {tmp}/no/fits.csv: its directory {tmp}/no does not exist")])
def test_a_warning_has_its_level_in_front_in_every_command(tmp_path, command, then):
    """A trial: a warning came as ``WARNING: …`` from classify and reprocess, which set up logging themselves, but
    bare from the other commands (Python's last resort): the entry point now sets it up for all of them."""
    from test_config import PONI_TEXT

    (tmp_path / "good.poni").write_text(PONI_TEXT)
    config = tmp_path / "c.yaml"
    config.write_text("geometry: {poni_file: good.poni, distance_mm: 5000}\n")
    done = run(command[0], "--config", str(config), *(a.format(tmp=tmp_path) for a in command[1:]), "frame.cbf")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"WARNING: {config}: geometry.poni_file places the detector: geometry.distance_mm is not used",
        f"gisaxs-live {command[0]}: error: {then.format(tmp=tmp_path)}"]


@pytest.mark.parametrize("command", [["classify", "{good}"], ["watch", "--csv", "{log}", "{dir}"],
                                     ["stream", "--csv", "{log}", "tcp://127.0.0.1:9"]])
def test_a_config_without_geometry_stops_with_one_line(frames, tmp_path, command):
    config = tmp_path / "beamline.yaml"
    config.write_text("experiment:\n  wavelength_nm: 0.1033\n  incidence_angle_deg: 0.4\n")
    args = [a.format(good=frames / "good.cbf", log=tmp_path / "log.csv", dir=frames) for a in command]
    done = run(command[0], "--config", str(config), *args[1:], timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"gisaxs-live {command[0]}: error: {config}: no geometry section: detector frames need")
    assert not (tmp_path / "log.csv").exists()


@pytest.mark.parametrize("argv, said", [
    (["train", "--epochs", "0"], "--epochs 0: must be at least 1"),  # 0 trained the default 18 epochs
    (["train", "--epochs", "-1"], "--epochs -1: must be at least 1"),  # a traceback after the simulation
    (["train", "--per-class", "0"], "--per-class 0: must be at least 1"),  # 0 simulated the default 20,000
    (["train", "--per-class", "-3"], "--per-class -3: must be at least 1"),  # "negative dimensions are not allowed"
    (["train-size", "--model", "gisaxs_live/models/default", "--dataset", "x.h5", "--epochs", "0"],
     "--epochs 0: must be at least 1"),
    (["simulate", "--shards", "README.md"],  # a traceback (FileExistsError) after the Dask cluster had started
     "--shards README.md: a file, not a directory for the shards and their manifest")])
def test_training_options_that_cannot_work_are_refused_before_any_work(argv, said, tmp_path, capsys):
    from gisaxs_live.cli import main

    out = ["--out", str(tmp_path / "m")] if argv[0] == "train" else []
    assert main([*argv, *out]) == 2
    assert capsys.readouterr().err == f"gisaxs-live {argv[0]}: error: {said}\n"
    assert not (tmp_path / "m").exists()


@needs_model
def test_classify_all_ok_exits_0_and_stderr_holds_only_the_summary(frames):
    """Without ``--config`` a line first says the demo's geometry is used (a new user's trial: a Pilatus 2M frame
    came out ``unknown`` without a word on why)."""
    done = run("classify", str(frames / "good.cbf"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [
        "WARNING: no --config: the demo's geometry is used (detector at 2000 mm, direct beam at column 490, row 900, "
        "0.172-mm pixels): another detector's frames come out no_signal or unknown; give --config with theirs",
        "classified 1 frame: 1 ok, 0 unknown, 0 no signal, 0 errors"]
    assert not CHATTER.search(done.stderr)
    assert [row["status"] for row in csv.DictReader(done.stdout.splitlines())] == ["ok"]


@needs_model
def test_classify_exits_1_when_every_file_failed(frames):
    done = run("classify", str(frames / "empty.cbf"), str(frames / "notes.cbf"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-3:] == [  # each cause on the terminal too, then the summary
        f"ERROR: {frames / 'empty.cbf'}: empty file",
        f"ERROR: {frames / 'notes.cbf'}: not a detector image: no CBF/EDF/TIFF/HDF5 header",
        "classified 2 frames: 0 ok, 0 unknown, 0 no signal, 2 errors"]
    assert [row["status"] for row in csv.DictReader(done.stdout.splitlines())] == ["error", "error"]


@needs_model
def test_classify_writes_awkward_file_names_as_the_log_does(frames, tmp_path):
    """A name with a byte that is not UTF-8 (what a detector PC may write) and one with a line break: one line per
    row on standard output and in the CSV log, both UTF-8, the names escaped alike; the frames classified."""
    names = [tmp_path / "not_utf8_\udcff.cbf", tmp_path / "line\nbreak.cbf"]
    for path in names:
        path.write_bytes((frames / "good.cbf").read_bytes())
    log = tmp_path / "log.csv"
    to_stdout = subprocess.run([*CLI, "classify", *map(str, names)], capture_output=True, timeout=120)
    to_log = run("classify", *map(str, names), "--csv", str(log))
    assert to_stdout.returncode == 0 and to_log.returncode == 0, to_stdout.stderr + to_log.stderr.encode()
    printed = to_stdout.stdout.decode("utf-8").splitlines()
    logged = log.read_text(encoding="utf-8").splitlines()
    assert len(printed) == len(logged) == 3
    expected = [f"{tmp_path}/not_utf8_\\xff.cbf", f"{tmp_path}/line\\nbreak.cbf"]
    for lines in (printed, logged):
        rows = list(csv.DictReader(lines))
        assert [row["source"] for row in rows] == expected and {row["status"] for row in rows} == {"ok"}


@needs_model
@pytest.mark.parametrize("where", ["directory", "missing_parent", "full_disk"])
def test_classify_that_cannot_write_its_rows_says_so_in_one_line(frames, tmp_path, where):
    """A --csv that cannot be a log is a usage error (2, before anything is classified); standard output on a
    full disk stops the run (1). One line, no traceback, either way (beside the line saying no --config was given)."""
    if where == "full_disk" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    good = str(frames / "good.cbf")
    if where == "full_disk":
        with open("/dev/full", "w") as full:
            done = subprocess.run([*CLI, "classify", good], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
        status, said = 1, "standard output: cannot write the rows (No space left on device)"
    else:
        target = tmp_path if where == "directory" else tmp_path / "no" / "log.csv"
        done = run("classify", good, "--csv", str(target))
        status, said = 2, f"{target}: cannot write the CSV log"
    assert done.returncode == status
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("WARNING: no --config:")]
    assert len(lines) == 1 and said in lines[0] and "Traceback" not in done.stderr, done.stderr


def _ignores_sighup(pid: int) -> bool:
    """Whether process ``pid`` ignores SIGHUP (Linux: bit 0 of SigIgn in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return bool(int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16) & 1)


@pytest.mark.parametrize("command, ignored", [("watch", True), ("stream", True), ("classify", False)])
def test_a_service_ignores_sighup_before_its_command_modules_are_imported(command, ignored):
    """A trial's SIGHUP 0.1-0.7 s after the start ended watch with status 129 (systemd does not restart that): the
    command modules were imported before SIGHUP was ignored. The entry point now ignores it at once, for the
    services only (a terminal's hangup still ends classify)."""
    code = ("import signal, sys; signal.signal(signal.SIGHUP, signal.SIG_DFL); "  # as a shell starts it
            "sys.argv = ['gisaxs-live', sys.argv[1]]; import gisaxs_live.cli; "
            "print(signal.getsignal(signal.SIGHUP) == signal.SIG_IGN, 'gisaxs_live.commands' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, command], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == [str(ignored), "False"], done.stderr


@needs_model
def test_watch_logs_into_the_watched_directory_by_default(frames, tmp_path):
    """... and a SIGHUP while it starts (logrotate's postrotate, say) does not end it: it used to, with status 129,
    which systemd takes for a clean stop and does not restart."""
    watched = tmp_path / "detector"
    watched.mkdir()
    proc = subprocess.Popen([*CLI, "watch", "--no-dashboard", str(watched)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    log = watched / "gisaxs-live.csv"
    try:
        deadline = time.monotonic() + 90
        starting = time.monotonic() + 10
        while not _ignores_sighup(proc.pid) and proc.poll() is None and time.monotonic() < starting:
            time.sleep(0.005)
        assert _ignores_sighup(proc.pid), "SIGHUP not ignored while watch starts"
        proc.send_signal(signal.SIGHUP)  # before the log exists and its handler is installed
        while not log.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        (watched / ".s_00001.cbf.part").write_bytes((frames / "good.cbf").read_bytes())
        os.replace(watched / ".s_00001.cbf.part", watched / "s_00001.cbf")
        while proc.poll() is None and time.monotonic() < deadline and len(log.read_text().splitlines()) < 2:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    rows = list(csv.DictReader(log.read_text().splitlines()))
    assert [(Path(r["source"]).name, r["status"]) for r in rows] == [("s_00001.cbf", "ok")]  # the log is no frame
    assert not CHATTER.search(err), err


def test_our_log_lines_during_tensorflow_s_import_come_out_as_they_were_said():
    """While TensorFlow imports, descriptor 2 is captured to keep its chatter off the terminal; a line logged then
    by another thread (SIGTERM, the watcher) came out seconds late, re-levelled and with two timestamps (a trial:
    "WARNING 23:29:18,791 INFO SIGTERM: ..."). It now goes out on time, once, as it was logged."""
    code = ("import logging, sys, threading\n"
            "logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s', stream=sys.stderr)\n"
            "from gisaxs_live.classify.quiet import import_tensorflow\n"
            "said = threading.Timer(0.2, lambda: logging.getLogger('x').info('said during the import'))\n"
            "said.start(); import_tensorflow(); said.join()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "said during" in line] == ["INFO said during the import"]
    assert not CHATTER.search(done.stderr), done.stderr


def test_watch_of_a_directory_not_there_yet_needs_a_log_elsewhere(tmp_path, capsys):
    from gisaxs_live.cli import main

    missing = tmp_path / "det"
    assert main(["watch", "--no-dashboard", str(missing)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"gisaxs-live watch: error: {missing}: no such directory (yet), so the CSV log cannot go into it: give --csv "
        "PATH (or output.csv in the config) to start and wait for it"]


def test_watch_without_a_writable_directory_for_its_log_names_the_fix(tmp_path, capsys):
    from gisaxs_live.cli import main

    watched = tmp_path / "readonly"
    watched.mkdir()
    watched.chmod(0o555)
    try:
        if os.access(watched, os.W_OK):
            pytest.skip("running as root: every directory is writable")
        assert main(["watch", "--no-dashboard", str(watched)]) == 2
    finally:
        watched.chmod(0o755)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"gisaxs-live watch: error: {watched}: not writable, so the CSV log cannot go to "
                   f"{watched / 'gisaxs-live.csv'}: give --csv PATH (or output.csv in the config)"]


def test_a_csv_log_the_watcher_would_take_for_a_frame_is_refused(tmp_path, capsys):
    from gisaxs_live.cli import main

    config = tmp_path / "all.yaml"
    config.write_text("geometry: {distance_mm: 2000, direct_beam_px: [490, 900]}\nwatch:\n  patterns: ['*']\n")
    assert main(["watch", "--config", str(config), "--no-dashboard", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "the CSV log would be watched as a frame" in err and err.count("\n") == 1


@needs_model
def test_train_keeps_the_libraries_start_up_chatter_off_the_terminal(tmp_path):
    """A tiny fine-tune as a process: training imports TensorFlow before any model is loaded, and its start-up
    lines must still go into the log, not onto stderr beside the progress."""
    done = run("train", "--from", str(bundled_model_dir()), "--per-class", "5", "--epochs", "1", "--workers", "1",
               "--no-size", "--out", str(tmp_path / "tuned"), timeout=300)
    assert done.returncode == 0, done.stderr
    assert not CHATTER.search(done.stderr), done.stderr


def test_a_mistyped_train_leaves_an_existing_model_directory_as_it_was(tmp_path, capsys):
    """A new user's trial: ``train --dataset typo.h5 --out MODEL`` said "no such file" (exit 2, nothing done) but had
    already marked MODEL as in training, so that every command refused it for good; ``train --out MODEL`` on a
    trained model overwrote it."""
    import shutil

    from gisaxs_live.classify.modeldir import ModelInfo
    from gisaxs_live.cli import main

    model = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), model)
    before = sorted(p.name for p in model.iterdir())
    assert main(["train", "--dataset", str(tmp_path / "typo.h5"), "--out", str(model)]) == 2
    assert "typo.h5" in capsys.readouterr().err
    assert main(["train", "--per-class", "1", "--out", str(model)]) == 2
    assert capsys.readouterr().err == (f"gisaxs-live train: error: --out {model}: holds a trained model already; give "
                                       "another directory, or remove it first (a training writes its model there as "
                                       "it goes)\n")
    assert sorted(p.name for p in model.iterdir()) == before
    assert ModelInfo.read(model).class_names  # still loads
    assert not (tmp_path / "new").exists() and main(["train", "--dataset", "typo.h5", "--out",
                                                     str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()


def test_train_refuses_a_set_simulated_for_another_experiment_than_its_config(tmp_path, capsys):
    """``train --config DESY --dataset SET`` with a set simulated for the default experiment trained a 0.15-nm model
    without a word, which only showed later as "trained for another experiment" on every frame."""
    from gisaxs_live.cli import main

    dataset = tmp_path / "default.h5"
    assert main(["simulate", "--protocol", "random", "--per-class", "2", "--seed", "1", "--out", str(dataset)]) == 0
    capsys.readouterr()
    config = Path(__file__).resolve().parents[1] / "config" / "real" / "desy_insitu_2024.yaml"
    assert main(["train", "--config", str(config), "--dataset", str(dataset), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gisaxs-live train: error: {dataset}: simulated for wavelength 0.15 nm, incidence 0.2° and "
                          f"another q-grid; {config} gives 0.1033 nm, 0.4°") and err.count("\n") == 1
    assert not (tmp_path / "m").exists()


@needs_model
def test_a_model_whose_training_did_not_finish_is_refused(tmp_path, capsys):
    """A ``train`` interrupted after model.json was written (before its flag and answer calibration) loaded as a
    whole model: ``classify`` said ``ok`` without an ood_score. Until its last calibration a model directory holds
    ``.training`` (the training's PID), and every other process refuses it."""
    import shutil

    from gisaxs_live.classify.modeldir import TRAINING, bundled_model_dir
    from gisaxs_live.cli import main

    model = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), model)
    (model / TRAINING).write_text("4194304\n")  # no such process: interrupted
    assert main(["model-info", "--model", str(model)]) == 2
    assert capsys.readouterr().err == (f"gisaxs-live model-info: error: {model}: its training has not finished "
                                       "(process 4194304 is training it, or was interrupted); train it again\n")
    (model / TRAINING).unlink()
    assert main(["model-info", "--model", str(model)]) == 0


@pytest.mark.parametrize("command", ["watch", "stream"])
def test_a_full_disk_at_start_exits_1_so_that_the_service_is_restarted(tmp_path, capsys, command):
    """A trial: a log that could not be written at start for a full disk exited 2, the status the systemd unit never
    restarts (a configuration error): the service stayed down after the space was freed. /dev/full is a full disk."""
    from gisaxs_live.cli import main

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    config = tmp_path / "c.yaml"
    config.write_text("geometry: {distance_mm: 2000, direct_beam_px: [490, 900]}\n")
    source = [str(tmp_path)] if command == "watch" else ["tcp://127.0.0.1:5599"]
    assert main([command, "--config", str(config), "--no-dashboard", "--csv", "/dev/full", *source]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"gisaxs-live {command}: error: /dev/full: cannot write the CSV log (No space left on device)"]


@needs_model
def test_classify_stopped_by_ctrl_c_says_how_far_it_got(frames, tmp_path):
    """A review: ``classify --csv`` stopped by Ctrl-C said nothing (reprocess says where the rows are)."""
    import signal
    import time

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for i in range(3000):  # about 10 s of work: the stop comes well before the end, however fast the machine
        os.link(frames / "good.cbf", run_dir / f"f_{i:04d}.cbf")
    log = tmp_path / "log.csv"
    proc = subprocess.Popen([*CLI, "classify", "--csv", str(log), str(run_dir)], stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a background job's
    # tests (a shell without job control) inherit SIGINT ignored, and so would the command: 3,000 frames classified
    deadline = time.monotonic() + 120
    while (not log.exists() or log.read_text().count("\n") < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # Python swallows a Ctrl-C that lands in a __del__ (fabio's): press it again
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    said = re.fullmatch(rf"gisaxs-live classify: stopped after (\d+) frames? of 3000 files; their rows are in "
                        rf"{re.escape(str(log))}: reprocess into it classifies the rest", err.strip().splitlines()[-1])
    assert said and "Traceback" not in err, err
    assert 0 < int(said[1]) <= log.read_text().count("\n") - 1 < 3000  # counted once written


@pytest.mark.parametrize("command", ["classify", "reprocess"])
def test_a_full_disk_for_the_csv_log_at_start_is_a_runtime_failure_not_a_usage_error(frames, capsys, command):
    """A trial: classify --csv and reprocess --csv on a full disk exited 2, the usage error, where their help
    promises 1 for rows that cannot be written (as watch and stream, at start too). /dev/full is a full disk."""
    from gisaxs_live.cli import main

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    assert main([command, "--csv", "/dev/full", str(frames / "good.cbf")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"gisaxs-live {command}: error: /dev/full: cannot write the CSV log (No space left on device)"]


def test_a_process_spawned_by_a_command_leaves_ctrl_c_to_it(tmp_path):
    """A review: Ctrl-C while ``reprocess`` started its Dask workers printed a KeyboardInterrupt traceback from each
    worker still importing (a terminal's Ctrl-C reaches every process of the group; the workers' own handler came
    only once they had started). A process that ``multiprocessing`` spawns from a command ignores SIGINT from the
    moment it runs the command's script again, which imports the entry point as ``gisaxs-live`` does; the
    command's own process keeps Python's handler."""
    script = tmp_path / "command.py"
    script.write_text("import multiprocessing, signal\n"
                      "from gisaxs_live.cli import main  # as the gisaxs-live script does\n"
                      "def action(answer):\n"
                      "    answer.put(repr(signal.getsignal(signal.SIGINT)))\n"
                      "if __name__ == '__main__':\n"
                      "    print(repr(signal.getsignal(signal.SIGINT)))\n"
                      "    context = multiprocessing.get_context('spawn')\n"
                      "    answer = context.Queue()\n"
                      "    child = context.Process(target=action, args=(answer,))\n"
                      "    child.start()\n"
                      "    print(answer.get(timeout=60))\n"
                      "    child.join(30)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert done.stdout.splitlines() == [repr(signal.default_int_handler), repr(signal.SIG_IGN)], done.stderr
