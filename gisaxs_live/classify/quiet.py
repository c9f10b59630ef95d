"""TensorFlow without its start-up chatter on the terminal.

TensorFlow 2.21 writes its oneDNN notice and absl's "All log messages before absl::InitializeLog()" line
straight to file descriptor 2 on import, whatever ``TF_CPP_MIN_LOG_LEVEL`` says (and turning oneDNN off to
silence it makes inference 2-3× slower here). So the import runs with descriptor 2 pointed at a temporary
file, and what it wrote goes into the log: TensorFlow's own C++ log lines at debug level, anything else as a
warning. Our own log lines of that moment (other threads: the watcher, a signal's) go to the terminal as they
come, through the descriptor saved. TensorFlow's Python logger loses its own stderr handler (its records go
through ours, errors only), absl's Python logging is set to errors only, and Python warnings raised from
TensorFlow, Keras or absl go into the log at debug level.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("gisaxs_live.tensorflow")

#: C++ log lines (glog/absl format: I, W or E, then MMDD) and absl's pre-initialisation notice
_CHATTER = re.compile(r"^([IWE]\d{4} |WARNING: All log messages before absl::InitializeLog)")
_LIBRARIES = tuple(f"{os.sep}{name}{os.sep}" for name in ("tensorflow", "keras", "absl"))
_imported = False


def import_tensorflow() -> None:
    """Import TensorFlow and Keras (once), routing their start-up output into the log."""
    global _imported
    if _imported:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _descriptor_2_captured() as written:
        import keras  # noqa: F401  (imports TensorFlow, its backend)
        import tensorflow  # noqa: F401
    for line in written:
        if line.strip():
            (log.debug if _CHATTER.match(line) else log.warning)("%s", line)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf_log = logging.getLogger("tensorflow")
    for handler in list(tf_log.handlers):
        tf_log.removeHandler(handler)
    tf_log.propagate = True
    tf_log.setLevel(logging.ERROR)
    warnings.showwarning = _library_warnings_to_debug(warnings.showwarning)
    _imported = True


@contextmanager
def _descriptor_2_captured() -> Iterator[list[str]]:
    """Point file descriptor 2 at a temporary file for the block; the lines written there fill the list."""
    written: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (closed): nothing can reach a terminal anyway
        yield written
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as capture, open(saved, "w", closefd=False, encoding=sys.stderr.encoding,
                                                   errors="backslashreplace") as terminal:
        ours = _our_handlers_on_descriptor_2()
        for handler in ours:  # our own log lines meanwhile (other threads: a signal, the watcher) go out on time
            handler.setStream(terminal)
        os.dup2(capture.fileno(), 2)
        try:
            yield written
        finally:
            os.dup2(saved, 2)
            for handler in ours:
                handler.setStream(sys.stderr)
            os.close(saved)
            capture.seek(0)
            written.extend(capture.read().decode("utf-8", "replace").splitlines())


def _our_handlers_on_descriptor_2() -> list[logging.StreamHandler]:
    """The root logger's stream handlers that write to ``sys.stderr`` (descriptor 2)."""
    return [h for h in logging.getLogger().handlers
            if type(h) is logging.StreamHandler and h.stream is sys.stderr]


def _library_warnings_to_debug(show):
    """A ``warnings.showwarning`` that logs warnings from TensorFlow, Keras and absl at debug level and
    hands the others to ``show``."""

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if any(part in filename for part in _LIBRARIES):
            log.debug("%s:%d: %s: %s", filename, lineno, category.__name__, message)
        else:
            show(message, category, filename, lineno, file, line)

    return showwarning
