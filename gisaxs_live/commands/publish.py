"""``gisaxs-live publish``: replay detector files as a detector stream (bind PUSH, like an Eiger's port 9999
for SIMPLON stream v1, or 31001 for Stream V2)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import at_least, rate_or_seconds


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..publisher.replay import ENCODING_CHOICES, PROTOCOLS
    from ..sources.stream2_encode import COMPRESSIONS

    p = subparsers.add_parser("publish", help="replay detector files as a SIMPLON v1, Stream V2 or simple-protocol "
                                              "stream",
                              description=__doc__ + " Every frame of every file (any fabio format, multi-frame "
                              "files frame by frame) is sent as one series; test a stream setup with it.")
    p.add_argument("--endpoint", default=None,
                   help="where to bind (default tcp://127.0.0.1:9999 for simplon, tcp://127.0.0.1:31001 for stream2; "
                        "needed for simple); others than loopback only if listed in the config's "
                        "stream.allowed_endpoints")
    p.add_argument("--protocol", choices=PROTOCOLS, default="simplon",
                   help="simplon: DECTRIS SIMPLON stream v1; stream2: DECTRIS Stream V2 (CBOR); simple: JSON "
                        "header + raw pixels (default simplon)")
    p.add_argument("--encoding", choices=ENCODING_CHOICES, default=None, metavar="ENC",
                   help="SIMPLON data encoding: <, lz4<, bs8-lz4<, bs16-lz4<, bs32-lz4<, or none/lz4/bslz4 "
                        "(bslz4 picks bs16/bs32 from the pixel type); default bslz4, and none (raw pixels) for "
                        "--protocol simple")
    p.add_argument("--compression", choices=COMPRESSIONS, default=None,
                   help="Stream V2 compression of the image arrays (CBOR tag 56500): bslz4, lz4 (HDF5 framing) or "
                        "none (default bslz4)")
    p.add_argument("--rate", type=rate_or_seconds, default=10.0, metavar="HZ",
                   help="frames per second on a detector's clock: frames held back while no client takes them "
                        "follow at once, as from a detector's buffer (0: as fast as the client takes them; default 10)")
    p.add_argument("--series", type=int, default=None,
                   help="series id (SIMPLON series, Stream V2 series_id; default 1; the simple protocol has none)")
    p.add_argument("--header-detail", choices=("all", "basic", "none"), default="basic",
                   help="header_detail; 'all' also sends a flat field, a pixel mask (the first frame's "
                        "negative pixels) and a count-rate table (default basic)")
    p.add_argument("--repeat", type=int, default=1, help="send the files this many times as one series")
    p.add_argument("--config", type=Path, default=None, help="YAML config (stream.allowed_endpoints)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILES", help="detector image files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import zmq

    from ..config import load_config
    from ..frame import FrameError
    from ..publisher.replay import DEFAULT_ENDPOINTS, count_frames, messages, replay_frames, send
    from ..sinks.text import plural
    from ..sources.stream import check_endpoint

    if args.protocol == "simple" and args.series is not None:
        raise ValueError("--series is for SIMPLON v1 and Stream V2: the simple protocol has no series")
    args.series = 1 if args.series is None else args.series
    at_least(("--rate", args.rate, 0), ("--repeat", args.repeat, 1), ("--series", args.series, 0))
    if args.protocol == "stream2" and args.encoding is not None:
        raise ValueError("--encoding is for SIMPLON v1; Stream V2 takes --compression bslz4|lz4|none")
    if args.protocol != "stream2" and args.compression is not None:
        raise ValueError("--compression is for --protocol stream2; SIMPLON v1 takes --encoding")
    endpoint = args.endpoint or DEFAULT_ENDPOINTS.get(args.protocol)
    if endpoint is None:
        raise ValueError("give --endpoint for --protocol simple (e.g. tcp://127.0.0.1:5555)")
    if args.protocol == "stream2":
        encoding = args.compression or "bslz4"
    else:
        encoding = args.encoding or ("bslz4" if args.protocol == "simplon" else "none")
    # Without --config the defaults allow loopback only; loading them would cost a second (material checks).
    check_endpoint(endpoint, load_config(args.config).stream.allowed_endpoints if args.config else ())
    for path in args.files:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: {'a directory, not a frame file' if path.is_dir() else 'no such file'}")
    try:
        # Series starts announce the series length (nimages, number_of_images), as a detector's do: the files
        # are read twice (a SIMPLON header_detail none has no place for it)
        announce = args.protocol == "stream2" or (args.protocol == "simplon" and args.header_detail != "none")
        count = count_frames(args.files) if announce else None
        started = time.monotonic()
        msgs = messages(replay_frames(args.files), args.protocol, encoding, args.series, args.header_detail,
                        1.0 / args.rate if args.rate else 0.0, args.repeat, count)
        sent = send(endpoint, msgs, args.rate,
                    on_bound=lambda: print(f"publish: bound {endpoint}; waiting for a client", file=sys.stderr,
                                           flush=True))
    except (FrameError, zmq.ZMQError) as exc:
        print(f"gisaxs-live publish: error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(f"publish: sent {plural(sent, 'frame')} ({args.protocol}, {encoding}) in {elapsed:.2f} s", file=sys.stderr)
    return 0
