"""``gisaxs-live publish``: replay detector files as a detector stream (bind PUSH, like an Eiger's port 9999)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..publisher import ENCODING_CHOICES, PROTOCOLS

    p = subparsers.add_parser("publish", help="replay detector files as a SIMPLON or simple-protocol stream",
                              description=__doc__ + " Every frame of every file (any fabio format, multi-frame "
                              "files frame by frame) is sent as one series; test a stream setup with it.")
    p.add_argument("--endpoint", required=True,
                   help="where to bind, e.g. tcp://127.0.0.1:9999 (others only if listed in the config's "
                        "stream.allowed_endpoints)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="simplon",
                   help="simplon: DECTRIS SIMPLON stream v1; simple: JSON header + raw pixels (default simplon)")
    p.add_argument("--encoding", choices=ENCODING_CHOICES, default=None, metavar="ENC",
                   help="SIMPLON data encoding: <, lz4<, bs8-lz4<, bs16-lz4<, bs32-lz4<, or none/lz4/bslz4 "
                        "(bslz4 picks bs16/bs32 from the pixel type); default bslz4, and raw for --protocol simple")
    p.add_argument("--rate", type=float, default=10.0, metavar="HZ",
                   help="frames per second (0: as fast as the client takes them; default 10)")
    p.add_argument("--series", type=int, default=1, help="SIMPLON series id (default 1)")
    p.add_argument("--header-detail", choices=("all", "basic", "none"), default="basic",
                   help="SIMPLON header_detail; 'all' also sends a flat field, a pixel mask (the first frame's "
                        "negative pixels) and a count-rate table (default basic)")
    p.add_argument("--repeat", type=int, default=1, help="send the files this many times as one series")
    p.add_argument("--config", type=Path, default=None, help="YAML config (stream.allowed_endpoints)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILES", help="detector image files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import zmq

    from ..config import load_config
    from ..frame import FrameError
    from ..publisher import count_frames, messages, replay_frames, send
    from ..sources.stream import check_endpoint

    if args.rate < 0 or args.repeat < 1 or args.series < 0:
        raise ValueError("--rate must be >= 0, --repeat >= 1 and --series >= 0")
    encoding = args.encoding or ("bslz4" if args.protocol == "simplon" else "none")
    # Without --config the defaults allow loopback only; loading them would cost a second (material checks).
    check_endpoint(args.endpoint, load_config(args.config).stream.allowed_endpoints if args.config else ())
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"no such file: {', '.join(missing)}")
    try:
        # SIMPLON headers announce the series length (nimages), as a detector's do: the files are read twice
        count = count_frames(args.files) if args.protocol == "simplon" and args.header_detail != "none" else None
        started = time.monotonic()
        msgs = messages(replay_frames(args.files), args.protocol, encoding, args.series, args.header_detail,
                        1.0 / args.rate if args.rate else 0.0, args.repeat, count)
        sent = send(args.endpoint, msgs, args.rate,
                    on_bound=lambda: print(f"publish: bound {args.endpoint}; waiting for a client", file=sys.stderr,
                                           flush=True))
    except (FrameError, zmq.ZMQError) as exc:
        print(f"gisaxs-live publish: error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(f"publish: sent {sent} frames ({args.protocol}, {encoding}) in {elapsed:.2f} s", file=sys.stderr)
    return 0
