"""``gisaxs-live publish``: the messages it builds, its pacing, and a real publish process as the peer of the
stream receiver (decoded frames equal the files' pixels)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from gisaxs_live.publisher import replay as publisher
from gisaxs_live.config import Stream
from gisaxs_live.sources import simplon
from gisaxs_live.sources.files import read_frames
from gisaxs_live.sources.stream import MessageHandler, StreamSource
from livehelp import free_endpoint

CLI = [sys.executable, "-m", "gisaxs_live.cli"]
RNG = np.random.default_rng(3)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two single-frame Pilatus-like CBFs (int32, gaps -1) and a three-frame uint16 EDF."""
    from fabio.cbfimage import CbfImage
    from fabio.edfimage import EdfImage

    path = tmp_path_factory.mktemp("publish")
    cbfs = []
    for i in range(2):
        data = RNG.poisson(30.0, (195, 487)).astype(np.int32)
        data[:, 100:107] = -1
        cbfs.append(path / f"p_{i:05d}.cbf")
        CbfImage(data=data).write(str(cbfs[-1]))
    edf = EdfImage(data=RNG.poisson(30.0, (64, 80)).astype(np.uint16))
    for _ in range(2):
        edf.append_frame(data=RNG.poisson(30.0, (64, 80)).astype(np.uint16))
    edf.write(str(path / "multi.edf"))
    return {"cbf": cbfs, "edf": [path / "multi.edf"]}


def _pixels(paths) -> list[np.ndarray]:
    return [frame.data for path in paths for frame in read_frames(path)]


def test_simplon_series_header_images_end_with_running_frame_ids(files):
    paths = files["cbf"] + files["edf"]
    msgs = list(publisher.messages(publisher.replay_frames(paths), "simplon", "bslz4", series=12,
                                   header_detail="all", repeat=2))
    kinds = [json.loads(m.parts[0])["htype"] for m in msgs]
    assert kinds == ["dheader-1.0"] + ["dimage-1.0"] * 10 + ["dseries_end-1.0"]
    assert [m.frame for m in msgs] == [False] + [True] * 10 + [False]
    header = simplon.parse(msgs[0].parts)
    assert header.series == 12 and header.pixel_mask.shape == (195, 487) and header.pixel_mask[:, 100:107].all()
    handler = MessageHandler("tcp://127.0.0.1:1")
    frames = [handler.handle(m.parts, 0.0) for m in msgs[1:-1]]
    assert [f.frame_id for f in frames] == list(range(10))
    assert [json.loads(m.parts[1])["encoding"] for m in msgs[1:6]] == ["bs32-lz4<"] * 2 + ["bs16-lz4<"] * 3
    for frame, expected in zip(frames, _pixels(paths) * 2):
        np.testing.assert_array_equal(frame.data, expected)


def test_the_header_announces_the_series_length_as_a_detector_does(files):
    frames = [np.ones((4, 6), np.uint16)] * 3

    def config(msgs) -> dict:
        return simplon.parse(next(iter(msgs)).parts).config

    announced = {"nimages": 6, "ntrigger": 1, "trigger_mode": "ints"}
    assert config(publisher.messages(frames, repeat=2)).items() >= announced.items()  # a list has a length
    assert config(publisher.messages(iter(frames), repeat=2, count=3)).items() >= announced.items()
    assert "nimages" not in config(publisher.messages(iter(frames)))  # unknown: not announced
    assert publisher.count_frames(files["cbf"] + files["edf"]) == 5  # the EDF holds 3 frames


def test_pixel_types_outside_simplon_are_converted_or_refused():
    assert publisher.simplon_pixels(np.ones((2, 2))).dtype == np.float32
    assert publisher.simplon_pixels(np.ones((2, 2), np.int64)).dtype == np.int32
    with pytest.raises(ValueError, match="cannot be sent"):
        publisher.simplon_pixels(np.full((2, 2), 2**40, np.int64))
    with pytest.raises(ValueError, match="simple protocol"):
        list(publisher.messages([np.ones((2, 2))], "simple", "bslz4"))
    with pytest.raises(ValueError, match="does not fit"):
        list(publisher.messages([np.ones((2, 2), np.int32)], "simplon", "bs16-lz4<"))


def test_rate_paces_frames():
    endpoint = free_endpoint()
    source = StreamSource(endpoint, Stream())
    source.start()
    frames = [np.ones((8, 8), np.uint16)] * 5
    thread = threading.Thread(target=publisher.send, args=(endpoint, publisher.messages(frames), 20.0))
    thread.start()
    got, end = [], time.monotonic() + 10
    while len(got) < 5 and time.monotonic() < end:
        got += source.take(10, 0.05)[0]
    thread.join()
    source.stop()
    source.join()
    assert len(got) == 5 and got[-1].t - got[0].t >= 0.18  # 4 intervals of 50 ms


@pytest.mark.parametrize("options,kind", [(["--encoding", "bslz4"], "cbf"), (["--encoding", "lz4<"], "edf"),
                                          (["--protocol", "simple"], "edf"), (["--encoding", "<"], "cbf")])
def test_publish_process_frames_arrive_with_the_files_pixels(files, options, kind):
    endpoint = free_endpoint()
    source = StreamSource(endpoint, Stream())
    source.start()
    try:
        proc = subprocess.run([*CLI, "publish", "--endpoint", endpoint, "--rate", "0", *options,
                               *map(str, files[kind])], capture_output=True, text=True, timeout=60)
        expected = _pixels(files[kind])
        got, end = [], time.monotonic() + 10
        while len(got) < len(expected) and time.monotonic() < end:
            got += source.take(10, 0.05)[0]
    finally:
        source.stop()
        source.join()
    assert proc.returncode == 0, proc.stderr
    assert f"sent {len(expected)} frames" in proc.stderr
    if "simple" not in options:  # the process counted the files' frames for the header
        assert source.handler.start.expected == len(expected)
    assert [f.frame_id for f in got] == list(range(len(expected)))
    for frame, pixels in zip(got, expected):
        np.testing.assert_array_equal(frame.data, pixels)


@pytest.mark.parametrize("args,text", [(["--endpoint", "tcp://*:5555"], "stream.allowed_endpoints"),
                                       (["--endpoint", "tcp://127.0.0.1:5555", "--rate", "-1"], "--rate"),
                                       (["--endpoint", "tcp://127.0.0.1:5555", "--repeat", "0"], "--repeat")])
def test_publish_refuses_bad_arguments(files, args, text):
    proc = subprocess.run([*CLI, "publish", *args, str(files["cbf"][0])], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and text in proc.stderr


def test_publish_missing_file_is_an_error(tmp_path):
    proc = subprocess.run([*CLI, "publish", "--endpoint", free_endpoint(), str(tmp_path / "none.cbf")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no such file" in proc.stderr
