"""Ctrl-C held back while a command writes its rows and counts them (``early_stop.ctrl_c_held``)."""

from __future__ import annotations

import os
import signal

import pytest

from gisaxs_live.early_stop import ctrl_c_held


def test_a_ctrl_c_in_the_block_comes_after_it_whole():
    """A review: ``classify --csv`` stopped by Ctrl-C between writing a batch's rows and counting them said
    "stopped after 0 frames" with rows in the log; the write and the count are now one step."""
    done = []
    with pytest.raises(KeyboardInterrupt):
        with ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("rows written")
            done.append("rows counted")
    assert done == ["rows written", "rows counted"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with ctrl_c_held():  # nothing pressed: nothing raised
        done.append("next batch")
    assert done[-1] == "next batch"


def test_an_ignored_ctrl_c_stays_ignored():
    """A background job inherits SIGINT ignored: holding it back must not turn it into a stop."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
