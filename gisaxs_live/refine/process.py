"""Fits in a child process of their own, for ``watch --refine``: a fit in the monitor's process held Python's GIL
for much of its 0.2-2 s and raised the rows' latency (measured at 5 Hz: p90 35 → 400-490 ms), however nice its
thread. The child (spawned, so without TensorFlow or the parent's threads) builds one ``FrameFitter`` on the
model's grid and takes one frame at a time over a pipe: it reads the frame again from its file, fits the class
and answers with an ``Outcome`` (the CSV row, or why there is none). It runs under SCHED_IDLE (Linux: it gets
the CPU time that the live path and everything else leave over; elsewhere ``nice`` steps below its parent), with
numpy's and scipy's OpenBLAS on one thread (their helper threads would busy-wait on the other core).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config
from ..frame import Frame
from ..sources.files import read_file
from .frame import FrameFitter, NotFitted

#: how long ``close`` waits for the child to exit before killing it (s)
EXIT_TIMEOUT_S = 2.0
#: where SCHED_IDLE is not offered, the child runs this many nice steps below its parent
FIT_NICE = 10


@dataclass(frozen=True)
class Outcome:
    """A frame's fit: its CSV row (``FrameFit.row``; None when not fitted), whether least_squares converged, and
    one line: the fit (``FrameFit.describe``) or why there is none."""

    row: dict[str, str] | None
    converged: bool
    message: str


def read_frame(source: str, frame_id: int) -> Frame:
    """Frame ``frame_id`` of the file ``source``, read again; NotFitted says why not."""
    frames, problem = read_file(source, time.time())
    for frame in frames:
        if frame.frame_id == frame_id:
            return frame
    raise NotFitted(problem or f"{source} no longer holds frame {frame_id}")


class FitProcess:
    """A child process fitting frames one at a time with ``FrameFitter.for_model(config, model_dir)``. ``fit``
    blocks until the answer (call it from one thread); should the child die, it says so and a new one starts."""

    def __init__(self, config: Config, model_dir: str | Path | None, nice: int = FIT_NICE) -> None:
        """A ValueError names a ``model_dir`` that is not a model directory."""
        from ..classify.modeldir import ModelInfo

        ModelInfo.read(model_dir)  # here, so that a wrong --model stops the start with one line
        self._args = (config, model_dir, nice)
        self._killed = False
        self._start()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child, *self._args), name="refine", daemon=True)
        self._process.start()
        child.close()

    def fit(self, source: str, frame_id: int, shape_class: str, size: Any) -> Outcome:
        """Fit ``shape_class`` to frame ``frame_id`` of ``source`` from the size estimate ``size``."""
        try:
            self._conn.send((source, frame_id, shape_class, size))
            return self._conn.recv()
        except (EOFError, OSError):
            if self._killed:
                return Outcome(None, False, "the fit was abandoned")
            self._process.join(EXIT_TIMEOUT_S)
            status = self._process.exitcode
            self._conn.close()
            self._start()
            return Outcome(None, False, f"the fitting process ended (exit status {status}); a new one is started")

    def kill(self) -> None:
        """End the child now (a fit in progress is lost); a ``fit`` waiting for it returns, and none starts a new
        child."""
        self._killed = True
        self._process.kill()

    def close(self) -> None:
        """Ask the child to exit, wait at most ``EXIT_TIMEOUT_S``, then kill it."""
        try:
            self._conn.send(None)
        except OSError:
            pass  # gone already
        self._process.join(EXIT_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()


def serve(conn, config: Config, model_dir: str | Path | None, nice: int) -> None:
    """The child: fit each job received on ``conn`` until None or the pipe closes."""
    from ..classify.blas import single_threaded_blas

    lowest_priority(nice)
    single_threaded_blas()
    fitter = FrameFitter.for_model(config, model_dir)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(fit_one(fitter, *job))


def lowest_priority(nice: int) -> None:
    """This process under SCHED_IDLE where offered (Linux), else ``nice`` steps nicer; as it is where neither can be
    had."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):
        pass
    try:
        os.nice(nice)
    except OSError:
        pass


def fit_one(fitter: FrameFitter, source: str, frame_id: int, shape_class: str, size: Any) -> Outcome:
    """The Outcome of one frame; never raises."""
    try:
        done = fitter.fit(read_frame(source, frame_id), shape_class, size)
    except NotFitted as exc:
        return Outcome(None, False, str(exc))
    except Exception as exc:  # a bug: said, and the next frame is fitted all the same
        return Outcome(None, False, f"the fit failed ({type(exc).__name__}: {exc})".splitlines()[0])
    return Outcome(done.row(source, frame_id), done.fit.converged,
                   done.describe() if done.fit.converged else f"the fit did not converge ({done.fit.message})")
