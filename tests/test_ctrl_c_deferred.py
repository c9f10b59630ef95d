"""A first Ctrl-C taken as a request to stop where a command can stop whole (``early_stop.ctrl_c_deferred``)."""

from __future__ import annotations

import os
import signal

import pytest

from gisaxs_live.early_stop import ctrl_c_deferred


@pytest.fixture
def python_s_ctrl_c():
    """SIGINT with Python's own handler, as a command started from a terminal has it (a test before may not)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_first_ctrl_c_is_a_request_and_a_second_stops_at_once(python_s_ctrl_c, capsys):
    """A review: ``classify --csv`` stopped by Ctrl-C between writing a batch's rows and counting them said
    "stopped after 0 frames" with rows in the log, and a Ctrl-C landing in a finalizer printed a traceback."""
    with ctrl_c_deferred("stopping after this file") as stop_asked:
        assert not stop_asked()
        os.kill(os.getpid(), signal.SIGINT)  # handled here, between two bytecodes: no KeyboardInterrupt
        assert stop_asked()
        assert capsys.readouterr().err == "stopping after this file\n"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            signal.pause()  # not reached: the second Ctrl-C interrupts at once
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_ctrl_c_stays_ignored():
    """A background job inherits SIGINT ignored: it must not become a stop."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with ctrl_c_deferred("stopping") as stop_asked:
            os.kill(os.getpid(), signal.SIGINT)
            assert not stop_asked()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
