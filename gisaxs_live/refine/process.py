"""Fits in a child process of their own, for ``watch --refine``: a fit in the monitor's process held Python's GIL
for much of its 0.2-2 s and raised the rows' latency (measured at 5 Hz: p90 35 → 400-490 ms), however nice its
thread. The child (a new Python: no TensorFlow, none of the parent's threads) builds one ``FrameFitter`` on the
model's grid and takes one frame at a time over a pipe: it reads the frame again from its file, fits the class
and answers with an ``Outcome`` (the CSV row, or why there is none). It runs under SCHED_IDLE (Linux: it gets
the CPU time that the live path and everything else leave over; elsewhere ``nice`` steps below its parent), with
numpy's and scipy's OpenBLAS on one thread (their helper threads would busy-wait on the other core).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..causes import in_words
from ..config import Config
from ..frame import Frame
from ..sources.files import FileFrames
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
    reading = FileFrames(source, time.time())
    for frame in reading:  # decoded up to that frame alone
        if frame.frame_id == frame_id:
            return frame
    raise NotFitted(reading.problem or f"{source} no longer holds frame {frame_id}")


class FitProcess:
    """A child process fitting frames one at a time with ``FrameFitter.for_model(config, model_dir)``: a new Python
    (``main``) in a session of its own, so that a Ctrl-C or a terminal's hangup reaches the monitor, which decides
    when the fits end; pickled jobs go to its stdin, Outcomes come from its stdout, its stderr is the monitor's.
    ``fit`` blocks until the answer (call it from one thread); should the child die, it says so and a new one
    starts."""

    def __init__(self, config: Config, model_dir: str | Path | None, nice: int = FIT_NICE) -> None:
        """A ValueError names a ``model_dir`` that is not a model directory."""
        from ..classify.modeldir import ModelInfo

        ModelInfo.read(model_dir)  # here, so that a wrong --model stops the start with one line
        self._args = (config, model_dir, nice)
        self._killed = False
        self._start()

    def _start(self) -> None:
        self._process = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, start_new_session=True)
        self._send(self._args)

    def _send(self, message: Any) -> None:
        pickle.dump(message, self._process.stdin)
        self._process.stdin.flush()

    def fit(self, source: str, frame_id: int, shape_class: str, size: Any) -> Outcome:
        """Fit ``shape_class`` to frame ``frame_id`` of ``source`` from the size estimate ``size``."""
        try:
            self._send((source, frame_id, shape_class, size))
            return pickle.load(self._process.stdout)
        except (EOFError, OSError, ValueError, pickle.UnpicklingError):  # ValueError: its pipes closed, none restarted
            if self._killed:
                return Outcome(None, False, "the fit was abandoned")
            status = self._end()
            try:
                self._start()
                then = "a new one is started"
            except OSError as exc:  # no process to be had now (out of memory, too many processes): the next fit
                then = f"a new one cannot be started now ({exc.strerror or exc}); the next fit tries again"
            return Outcome(None, False, f"the fitting process ended (exit status {status}); {then}")

    def kill(self) -> None:
        """End the child now (a fit in progress is lost); a ``fit`` waiting for it returns, and none starts a new
        child."""
        self._killed = True
        self._process.kill()

    def close(self) -> None:
        """Ask the child to exit, wait at most ``EXIT_TIMEOUT_S``, then kill it."""
        try:
            self._send(None)
        except (OSError, ValueError):
            pass  # ended already (a broken or closed pipe)
        self._end()

    def _end(self) -> int:
        """Wait for the child at most ``EXIT_TIMEOUT_S``, kill it if need be, close the pipes; its exit status."""
        try:
            status = self._process.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            status = self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout):
            try:
                pipe.close()
            except OSError:
                pass  # a broken pipe's buffered bytes
        return status


#: what the child runs (``-c``, so that its Outcomes pickle as ``gisaxs_live.refine.process.Outcome``)
CHILD = "from gisaxs_live.refine.process import main; main()"


def main() -> None:
    """The child: the (config, model directory, nice) message, then jobs until None or the end of stdin."""
    from ..classify.blas import single_threaded_blas

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, not into the answers
    jobs = sys.stdin.buffer
    config, model_dir, nice = pickle.load(jobs)
    lowest_priority(nice)
    single_threaded_blas()
    fitter = FrameFitter.for_model(config, model_dir)
    while True:
        try:
            job = pickle.load(jobs)
        except EOFError:
            return
        if job is None:
            return
        pickle.dump(fit_one(fitter, *job), out)
        out.flush()


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
        return Outcome(None, False, f"the fit failed ({in_words(exc)})")
    return Outcome(done.row(source, frame_id), done.fit.converged,
                   done.describe() if done.fit.converged else f"the fit did not converge ({done.fit.message})")
