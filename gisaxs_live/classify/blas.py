"""numpy's BLAS on one thread for classifying processes.

The only BLAS work of the live path is the out-of-distribution score (``ood.py``: a batch's features, e.g.
16 × 512, times a 512 × 512 precision matrix, 0.1-0.7 ms), large enough for OpenBLAS to hand it to its
helper threads, which then busy-wait for about 0.1 s after every call: measured 75-108 ms of CPU time
during a 0.3 s sleep after one such call, on the 2-core machine. Once per batch, that took a core from the
file readers and the preprocessing. On one thread the score costs the same, and the numbers are the same
(OpenBLAS splits a product over blocks of the output, not over its sums).
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

#: the thread-count setters of OpenBLAS builds: numpy's and scipy's wheels (symbol prefix ``scipy_``,
#: suffix ``64_`` for 64-bit integers), and a plain OpenBLAS
SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
           "openblas_set_num_threads")


def single_threaded_blas() -> int:
    """Make every OpenBLAS loaded in this process (numpy's, scipy's) use one thread; returns how many were
    set. Finds them in ``/proc/self/maps`` (Linux); elsewhere, or with another BLAS, it sets none."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(maxsplit=5)[-1].strip() for line in maps if "openblas" in line.lower()}
    except OSError:
        return 0
    done = 0
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(library, name) for name in SETTERS if hasattr(library, name)), None)
        if setter is not None:
            setter(1)
            done += 1
    log.debug("OpenBLAS set to one thread in %d of %d libraries", done, len(paths))
    return done
