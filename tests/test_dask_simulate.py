"""Sharded simulation on Dask (issue 13 §2): shards bit-identical to the serial file, and a sharded set read
back by index."""

import json
import time

import h5py
import numpy as np
import pytest

from gisaxs_live.cli import main
from gisaxs_live.commands.train import PER_KIND_FINE_TUNE
from gisaxs_live.config import load_config
from gisaxs_live.simulator.dataset import Randomisation, random_specs, read_dataset, write_dataset
from gisaxs_live.simulator.shards import MANIFEST, PatternSet, read_manifest, shard_name
from gisaxs_live.training.provenance import dataset_hash

pytest.importorskip("distributed")

ARRAYS = ("images", "intensity", "labels", "split", "parameters", "variation")


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """The same randomised specs (3 per class, 24 patterns) written serially and as shards of 5 by
    `simulate --shards` on a LocalCluster of 2 processes."""
    root = tmp_path_factory.mktemp("sets")
    serial = root / "serial.h5"
    specs = random_specs(3, 7, 0.34, Randomisation())
    write_dataset(serial, specs, load_config(), seed=7, protocol="random", workers=1, randomisation=Randomisation())
    status = main(["simulate", "--protocol", "random", "--per-class", "3", "--seed", "7", "--test-fraction", "0.34",
                   "--randomise", "--workers", "2", "--chunk", "5", "--shards", str(root / "shards")])
    assert status == 0
    return serial, root / "shards"


def test_shards_concatenated_are_bit_identical_to_the_serial_file(sets):
    serial, shards = sets
    record, parts = read_manifest(shards)
    assert [p.count for p in parts] == [5, 5, 5, 5, 4] and record["count"] == 24 and record["seed"] == 7
    assert not list(shards.glob("*.tmp"))
    with h5py.File(serial) as f:
        expected = {name: f[name][()] for name in ARRAYS}
        attrs = dict(f.attrs)
    for name in ARRAYS:
        got = []
        for part in parts:
            with h5py.File(part.path) as f:
                got.append(f[name][()])
                assert dict(f.attrs).keys() == attrs.keys()
        np.testing.assert_array_equal(np.concatenate(got), expected[name], strict=True)
    assert record["sha256"] == dataset_hash(read_dataset(serial, with_intensity=False))


def test_a_sharded_set_reads_like_the_file_by_index_and_whole(sets):
    serial, shards = sets
    whole, patterns = read_dataset(serial), PatternSet(shards / MANIFEST)
    assert len(patterns) == 24 and patterns.class_names == whole.class_names and patterns.grid == whole.grid
    picked = np.array([23, 0, 9, 4, 5, 10])  # across shard boundaries, out of order
    np.testing.assert_array_equal(patterns.intensity(picked), whole.intensity[picked])
    np.testing.assert_array_equal(patterns.images(picked), whole.images[picked])
    np.testing.assert_array_equal(read_dataset(shards).intensity, whole.intensity)
    assert patterns.peak_bytes <= 5 * whole.intensity[0].nbytes  # one shard's slab at a time


def test_bad_shard_input_stops_with_one_line(tmp_path, capsys):
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a gisaxs-live shard manifest"):
        PatternSet(tmp_path)
    assert main(["simulate", "--chunk", "5", "--out", str(tmp_path / "x.h5")]) == 2
    assert "--chunk and --scheduler go with --shards" in capsys.readouterr().err
    # options the paper grid would ignore, and outputs that cannot be written: refused before any simulation
    assert main(["simulate", "--per-class", "5", "--out", str(tmp_path / "x.h5")]) == 2
    assert "--per-class and --test-fraction go with --protocol random" in capsys.readouterr().err
    assert main(["simulate", "--protocol", "random", "--per-class", "2", "--out", str(tmp_path)]) == 2
    assert f"{tmp_path}: a directory" in capsys.readouterr().err
    assert main(["simulate", "--protocol", "random", "--per-class", "2", "--out", str(tmp_path / "no" / "x.h5")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "x.h5").exists()


def test_train_reads_a_shard_directory(sets, tmp_path):
    from gisaxs_live.classify.modeldir import bundled_model_dir

    serial, shards = sets
    out = tmp_path / "tuned"
    status = main(["train", "--from", str(bundled_model_dir()), "--dataset", str(shards), "--epochs", "1",
                   "--seed", "7", "--out", str(out)])
    assert status == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["training_set"]["sha256"] == read_manifest(shards)[0]["sha256"]
    assert (meta["training_set"]["n_train"], meta["training_set"]["n_held_out"]) == (16, 8)
    assert meta["ood"]["foreign_per_kind"] == PER_KIND_FINE_TUNE  # a fine-tune's own count, for its time budget


def test_the_hash_tells_sets_apart_by_their_variation():
    """Two randomised sets of the same shapes but other instrument and structure draws are different sets."""
    from dataclasses import replace

    from gisaxs_live.scale.simulate import specs_hash

    specs = random_specs(per_class=2, seed=3, test_fraction=0.5, randomisation=Randomisation())
    other = [replace(s, variation=dict(s.variation, volume_fraction=s.variation["volume_fraction"] + 0.01))
             for s in specs]
    plain = [replace(s, variation=None) for s in specs]
    assert len({specs_hash(specs), specs_hash(other), specs_hash(plain)}) == 3


def test_a_rerun_into_a_set_removes_its_manifest_before_any_shard(sets, tmp_path, monkeypatch):
    """A rerun cut short (here: its first shard fails) leaves no manifest over old and new shards, so that train and
    evaluate refuse the directory instead of reading a mix of two sets."""
    import shutil

    from distributed import Client

    import gisaxs_live.scale.simulate as simulate

    _, shards = sets
    target = tmp_path / "set"
    shutil.copytree(shards, target)

    def fails(path, *_args):  # the first shard at once, the others after a second's work
        if not path.endswith(shard_name(0)):
            time.sleep(1)
        raise RuntimeError("the worker's disk went away")

    def tasks(dask_scheduler):  # those still to run, or running
        return sum(t.state not in ("memory", "erred", "released", "forgotten") for t in dask_scheduler.tasks.values())

    monkeypatch.setattr(simulate, "write_shard", fails)
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        with pytest.raises(RuntimeError, match="disk went away") as raised:
            simulate.write_shards(client, target, random_specs(1, 4, 0.5, None), load_config(), seed=4,
                                  protocol="random", chunk=1)
        # the other shards' tasks are cancelled, not left to run and be tried again while the cluster closes (their
        # futures are still held, by the traceback)
        deadline = time.monotonic() + 5
        while client.run_on_scheduler(tasks) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.run_on_scheduler(tasks) == 0 and raised.traceback
    assert not (target / MANIFEST).exists()
    assert main(["evaluate", str(target)]) == 2


def test_a_cancelled_task_is_a_lost_cluster_not_a_failed_file():
    """A task cancelled (what a scheduler that went away leaves) stops the run: its files are not given error rows,
    which would make a plain rerun skip them."""
    import time

    from distributed import Client

    from gisaxs_live.scale.cluster import ClusterLost, task_result

    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        future = client.submit(time.sleep, 5, pure=False)
        future.cancel()
        with pytest.raises(ClusterLost, match="lost the Dask scheduler"):
            task_result(future)


def test_sigterm_stops_a_sharded_simulation_with_one_line_and_its_shards_kept(tmp_path):
    """``simulate --shards`` stopped by SIGTERM (systemd, kill) closes its cluster, says what it kept and exits 130;
    the shards written are whole and no manifest claims a set."""
    import os
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "set"
    process = subprocess.Popen([sys.executable, "-m", "gisaxs_live.cli", "simulate", "--protocol", "random",
                                "--per-class", "40", "--seed", "3", "--workers", "1", "--chunk", "4", "--shards",
                                str(target)], stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 120
    while not list(target.glob("*.h5")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.poll() is None, "the simulation ended before its first shard was seen"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert f"gisaxs-live simulate: stopped; the shards written so far are kept in {target}" in err
    assert "Traceback" not in err
    assert not (target / MANIFEST).exists()
    for shard in target.glob("*.h5"):
        with h5py.File(shard) as f:
            assert f["images"].shape[0] == 4


def test_a_scheduler_without_workers_is_said_to_wait_until_one_joins():
    from distributed import Client, LocalCluster

    from gisaxs_live.scale.cluster import waiting_line

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster, Client(cluster) as client:
        address = cluster.scheduler_address
        assert waiting_line(client, address) == (f"--scheduler {address}: no worker yet; the tasks wait for the "
                                                 "first one to join")
        assert waiting_line(client, None) is None  # a local cluster of our own has its workers
        cluster.scale(1)
        client.wait_for_workers(1, timeout=30)
        assert waiting_line(client, address) is None
