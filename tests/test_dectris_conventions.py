"""DECTRIS marks defective and gap pixels with the pixel type's maximum: masked on every DECTRIS path
(SIMPLON v1, Stream V2, Eiger HDF5 files read by fabio), whether or not a pixel mask was sent."""

from __future__ import annotations

import fabio.eigerimage
import numpy as np
import pytest

from gisaxs_live.sources import simplon, stream2_encode
from gisaxs_live.sources.files import read_frames
from gisaxs_live.sources.stream import MessageHandler

ENDPOINT = "tcp://127.0.0.1:9999"


def _stack(dtype: str) -> np.ndarray:
    stack = np.random.default_rng(5).integers(0, 1000, (2, 37, 53)).astype(dtype)
    stack[0, 4, 6] = np.iinfo(dtype).max  # a defective pixel
    stack[1, :, 20] = np.iinfo(dtype).max  # a module gap
    return stack


@pytest.mark.parametrize("dtype", ["uint16", "uint32"])
def test_eiger_hdf5_frames_mask_the_pixel_type_maximum(tmp_path, dtype):
    stack = _stack(dtype)
    path = tmp_path / "series_master.h5"
    fabio.eigerimage.EigerImage(data=stack).write(str(path))
    frames = list(read_frames(path))
    assert len(frames) == 2
    for frame, expected in zip(frames, stack):
        np.testing.assert_array_equal(frame.data, expected)
        np.testing.assert_array_equal(frame.mask, expected == np.iinfo(dtype).max)


def test_eiger_hdf5_without_flagged_pixels_and_other_formats_have_no_mask(tmp_path):
    clean = tmp_path / "clean_master.h5"
    fabio.eigerimage.EigerImage(data=np.ones((1, 8, 8), "uint16")).write(str(clean))
    assert next(read_frames(clean)).mask is None
    edf = tmp_path / "frame.edf"  # not DECTRIS: 65535 is a count there
    fabio.edfimage.EdfImage(data=np.full((8, 8), 65535, "uint16")).write(str(edf))
    assert next(read_frames(edf)).mask is None


@pytest.mark.parametrize("dtype, encoding", [("uint16", "bs16-lz4<"), ("uint32", "lz4<"), ("uint32", "<")])
def test_simplon_v1_masks_the_maximum_without_a_pixel_mask(dtype, encoding):
    handler = MessageHandler(ENDPOINT)
    handler.handle(simplon.encode_header(3, "basic", {}), 0.0)  # basic: no pixel mask sent
    image = _stack(dtype)[1]
    frame = handler.handle(simplon.encode_image(3, 0, image, encoding), 1.0)
    np.testing.assert_array_equal(frame.mask, image == np.iinfo(dtype).max)


@pytest.mark.parametrize("dtype", ["uint16", "uint32"])
def test_stream_v2_masks_the_maximum_without_a_pixel_mask(dtype):
    handler = MessageHandler(ENDPOINT)
    image = _stack(dtype)[0]
    message = stream2_encode.image(4, 0, {"threshold_1": stream2_encode.array(image, "bslz4")})
    frame = handler.handle([message], 1.0)
    np.testing.assert_array_equal(frame.data, image)
    np.testing.assert_array_equal(frame.mask, image == np.iinfo(dtype).max)
