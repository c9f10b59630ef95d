"""numpy's BLAS on one thread for classifying processes.

The only BLAS work of the live path is the out-of-distribution score (``ood.py``: a batch's features, e.g.
16 × 512, times a 512 × 512 precision matrix, 0.1-0.7 ms), large enough for OpenBLAS to hand it to its
helper threads, which then busy-wait for about 0.1 s after every call: measured 75-108 ms of CPU time
during a 0.3 s sleep after one such call, on the 2-core machine. Once per batch, that took a core from the
file readers and the preprocessing. On one thread the score costs the same, and the numbers are the same
(OpenBLAS splits a product over blocks of the output, not over its sums).
"""

from __future__ import annotations


def single_threaded_blas() -> None:
    """Make every BLAS loaded in this process so far (numpy's and scipy's OpenBLAS) use one thread, through
    threadpoolctl (the scikit-learn/joblib project's library for exactly this); a no-op for a BLAS it does not
    know."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
