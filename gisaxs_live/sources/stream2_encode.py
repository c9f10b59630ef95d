"""Stream V2 messages built the way a DECTRIS detector sends them (the replay side of ``stream2``), with
``cbor2``'s encoder and the real compressors (``compression``): one CBOR map per message, key ``type`` first,
the fields of ``stream_v2/README.md``, behind the self-describe tag 55799 (bytes d9 d9 f7) as in DECTRIS's own
test data (``stream_v2/test_data/`` of dectris/documentation). Arrays are tag 40 ``[[rows, columns], typed
array]`` with the little-endian RFC 8746 tag of the pixel type; compressed ones hold a tag 56500 in place of the
byte string.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import compression
from .stream2 import COMPRESSED, END, IMAGE, ROW_MAJOR, START

#: Little-endian typed-array tag per pixel type (RFC 8746): what the replay side sends.
TAG_OF = {"uint8": 64, "uint16": 69, "uint32": 70, "uint64": 71, "int8": 72, "int16": 77, "int32": 78,
          "int64": 79, "float16": 84, "float32": 85, "float64": 86}
COMPRESSIONS = ("bslz4", "lz4", "none")
TIME_BASE = 10**9  # denominator of start_time/stop_time/real_time (Hz): nanoseconds
SELF_DESCRIBE = 55799  # RFC 8949 §3.4.6: "this is CBOR"; DECTRIS's messages start with it


def array(data: np.ndarray, compress: str = "none") -> Any:
    """``data`` (2-D) as a tag 40 multi-dimensional typed array, its bytes compressed with ``compress``."""
    import cbor2

    if data.ndim != 2 or data.dtype.name not in TAG_OF:
        raise ValueError(f"a {data.ndim}-D {data.dtype} array cannot be sent (2-D, one of {', '.join(TAG_OF)})")
    data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
    if compress == "none":
        payload: Any = data.tobytes()
    elif compress in compression.ALGORITHMS:
        payload = cbor2.CBORTag(COMPRESSED, list(compression.compress(data, compress)))
    else:
        raise ValueError(f"compression {compress!r} is not one of {', '.join(COMPRESSIONS)}")
    return cbor2.CBORTag(ROW_MAJOR, [list(data.shape), cbor2.CBORTag(TAG_OF[data.dtype.name], payload)])


def start(series: int, shape: tuple[int, int], dtype: np.dtype, count: int | None = None,
          channels: tuple[str, ...] = ("threshold_1",), pixel_mask: np.ndarray | None = None,
          compress: str = "none", frame_time_s: float = 0.1, unique_id: str = "",
          arm_date: dt.datetime | None = None) -> bytes:
    """The ``start`` message of a series of ``count`` images (None: not announced) of ``shape`` (rows,
    columns) and ``dtype``; ``pixel_mask`` (non-zero = bad) is sent for every channel, with the flat field
    and count-rate table of header_detail ``all``; without it the message is header_detail ``basic``."""
    import cbor2

    rows, columns = shape
    arm_date = arm_date or dt.datetime.now(dt.timezone.utc)
    message: dict[str, Any] = {
        "type": START, "arm_date": arm_date, "beam_center_x": columns / 2, "beam_center_y": rows / 2,
        "channels": list(channels), "count_time": frame_time_s, "countrate_correction_enabled": False,
        "detector_description": "gisaxs-live publish (file replay)", "detector_serial_number": "replay",
        "detector_translation": [0.0, 0.0, 0.0], "flatfield_enabled": False, "frame_time": frame_time_s,
        "goniometer": {}, "image_dtype": np.dtype(dtype).name, "image_size_x": columns, "image_size_y": rows,
        "incident_energy": 8265.6, "incident_wavelength": 1.5, "pixel_mask_enabled": pixel_mask is not None,
        "pixel_size_x": 172e-6, "pixel_size_y": 172e-6, "saturation_value": _saturation(np.dtype(dtype)),
        "sensor_material": "Si", "sensor_thickness": 450e-6, "series_id": series, "series_unique_id": unique_id,
        "threshold_energy": {name: 4000.0 for name in channels}, "user_data": None,
        "virtual_pixel_interpolation_enabled": False,
    }
    if count is not None:
        message["number_of_images"] = count
    if pixel_mask is not None:
        mask = array(np.asarray(pixel_mask, "<u4"), compress)
        flat = array(np.ones(shape, "<f4"), compress)
        # A placeholder table: a receiver of this replay has no count-rate correction to apply.
        message["countrate_correction_lookup_table"] = cbor2.CBORTag(TAG_OF["uint32"], bytes(8))
        message["flatfield"] = {name: flat for name in channels}
        message["pixel_mask"] = {name: mask for name in channels}
    return _dumps(message)


def image(series: int, image_id: int, data: Mapping[str, Any], start_ns: int = 0, stop_ns: int = 0,
          unique_id: str = "", series_date: dt.datetime | None = None) -> bytes:
    """The ``image`` message; ``data`` maps each channel to its array (``array``'s result)."""
    return _dumps({
        "type": IMAGE, "data": dict(data), "image_id": image_id, "real_time": [stop_ns - start_ns, TIME_BASE],
        "series_date": series_date or dt.datetime.now(dt.timezone.utc), "series_id": series,
        "series_unique_id": unique_id, "start_time": [start_ns, TIME_BASE], "stop_time": [stop_ns, TIME_BASE],
        "user_data": None,
    })


def end(series: int, unique_id: str = "") -> bytes:
    """The ``end`` message."""
    return _dumps({"type": END, "series_id": series, "series_unique_id": unique_id})


def _dumps(message: Mapping[str, Any]) -> bytes:
    """``message`` as CBOR behind the self-describe tag, as a DECTRIS detector sends it."""
    import cbor2

    return cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBE, message))


def _saturation(dtype: np.dtype) -> int:
    return int(np.iinfo(dtype).max) - 1 if dtype.kind in "iu" else 2**31 - 1
