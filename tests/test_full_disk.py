"""Files of a model directory are written whole or not at all (a review: a full disk cut model.json mid-write, and
every command then refused the model)."""

import contextlib
import os
import subprocess

import pytest

from gisaxs_live.causes import Unavailable
from gisaxs_live.replacing import replacing, write_text_replacing


@pytest.fixture
def small_disk(tmp_path):
    """A 64-KiB tmpfs (root only), unmounted after the test."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("a small file system needs root and mount (a real full disk cannot be made otherwise)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_leaves_the_old_file_whole_and_no_part_written_one(small_disk):
    meta = small_disk / "model.json"
    meta.write_text('{"classes": ["spheroid"]}')
    with pytest.raises(Unavailable, match=f"^{meta}: cannot be written \\(No space left on device\\)$"):
        write_text_replacing(meta, "x" * 200_000)
    assert meta.read_text() == '{"classes": ["spheroid"]}' and os.listdir(small_disk) == ["model.json"]
    write_text_replacing(meta, '{"classes": ["prism3"]}')  # room enough: replaced
    assert meta.read_text() == '{"classes": ["prism3"]}' and os.listdir(small_disk) == ["model.json"]


def test_a_writer_that_fails_leaves_the_old_file(tmp_path):
    """Whatever stops the writer (here NumPy refusing an object array mid-save) leaves the target as it was."""
    import numpy as np

    target = tmp_path / "ood.npz"
    np.savez(target, threshold=1.0)
    with contextlib.suppress(ValueError), replacing(target) as temporary:
        assert temporary.name.endswith("ood.npz") and temporary.parent == tmp_path
        np.savez(temporary, threshold=2.0)
        raise ValueError("the statistics were not finished")
    assert float(np.load(target)["threshold"]) == 1.0 and os.listdir(tmp_path) == ["ood.npz"]


def test_simulate_refuses_a_set_that_may_not_fit_and_any_output_that_is_no_regular_file(small_disk, tmp_path,
                                                                                          capsys):
    """A review: on a full disk simulate (and train, which simulates its set) ended in a segmentation fault (HDF5
    could not close the set it failed to write), and as root ``--out /dev/full`` replaced the device by a set."""
    from gisaxs_live.cli import main

    small = ["simulate", "--protocol", "random", "--per-class", "2", "--workers", "1"]
    assert main([*small, "--out", str(small_disk / "s.h5")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"gisaxs-live simulate: error: {small_disk / 's.h5'}: 0.1 MB free on its file system, "
                          "and the set of 16 patterns may need up to 1.")
    assert os.listdir(small_disk) == []
    shards = small_disk / "shards"  # the whole set checked before the cluster's tasks start (each shard checks itself)
    assert main([*small, "--shards", str(shards)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        f"gisaxs-live simulate: error: {shards}: 0.1 MB free on its file system, and the set of 16 patterns")
    fifo = tmp_path / "fifo.h5"
    os.mkfifo(fifo)
    assert main([*small, "--out", str(fifo)]) == 2
    assert capsys.readouterr().err == (f"gisaxs-live simulate: error: --out {fifo}: not a regular file (a device, a "
                                       "FIFO or a socket)\n")


def test_an_output_that_does_not_fit_is_one_line_and_status_1(small_disk, tmp_path, capsys):
    """A review: a picture or report on a full disk ended in a traceback."""
    from gisaxs_live.cli import main
    from gisaxs_live.results import Result
    from gisaxs_live.sinks.csvlog import CsvLog

    log_path = tmp_path / "run.csv"
    log = CsvLog(log_path)
    log.write([Result(f"/data/f_{i}.cbf", 0, "error", message=f"/data/f_{i}.cbf: empty file",
                      time_utc=f"2026-12-07T10:00:0{i}.000Z") for i in range(3)])
    log.close()
    (small_disk / "filler").write_bytes(bytes(60_000))  # a few KiB left
    out = small_disk / "report.png"
    assert main(["report", str(log_path), "--out", str(out)]) == 1
    assert capsys.readouterr().err == f"gisaxs-live report: error: {out}: cannot be written (No space left on device)\n"
    assert os.listdir(small_disk) == ["filler"]


def test_a_file_replaced_keeps_its_mode_and_a_link_is_written_through(tmp_path):
    """A review: replaced files took the umask's mode (a picture a web server read became unreadable to it), and a
    link given was replaced by a file, its target left stale."""
    picture = tmp_path / "report.png"
    picture.write_bytes(b"old")
    picture.chmod(0o604)
    write_text_replacing(picture, "new")
    assert picture.read_text() == "new" and picture.stat().st_mode & 0o777 == 0o604
    target, link = tmp_path / "model.json", tmp_path / "link.json"
    target.write_text("{}")
    link.symlink_to(target)
    write_text_replacing(link, '{"a": 1}')
    assert link.is_symlink() and target.read_text() == '{"a": 1}'


def test_a_writable_file_in_a_directory_that_is_not_is_written_in_place(tmp_path):
    """A review: once files were replaced by a rename, ``model-info --write`` could no longer update a model.json
    that may be written in a directory that may not (a shared, read-only model directory): it is written in
    place there, as before. As root the write runs without the capability to override permissions (setpriv)."""
    import shutil
    import sys

    model = tmp_path / "model"
    model.mkdir()
    meta, other = model / "model.json", model / "MODEL.md"
    meta.write_text("old")
    other.write_text("old")
    other.chmod(0o444)
    model.chmod(0o555)
    command = [sys.executable, "-c", "import sys\nfrom gisaxs_live.replacing import write_text_replacing\n"
               "for path in sys.argv[1:]:\n"
               "    try:\n        write_text_replacing(path, 'new')\n"
               "    except Exception as exc:\n        print(exc)\n", str(meta), str(other)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: every file can be written")
        command = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                   "--bounding-set=-dac_override,-dac_read_search", *command]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        model.chmod(0o755)
    assert done.stdout == f"{other}: cannot be written (Permission denied)\n", done.stderr
    assert meta.read_text() == "new" and other.read_text() == "old"
    assert sorted(os.listdir(model)) == ["MODEL.md", "model.json"]
