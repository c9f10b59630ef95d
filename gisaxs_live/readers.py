"""The daemon's reader threads: a pool whose threads are daemon threads, and whose tasks know when they last made
progress (started, or said so: a file of 5,000 frames reads for minutes, one frame at a time).

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits, so one read that never
returns (a library looping on a damaged file) kept a stopped monitor from exiting. Here such a thread is left
behind: ``replace_one`` starts another in its place, the queued reads go on, and the process can still exit."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class ReaderPool:
    """``n`` daemon threads taking tasks in order from one queue."""

    def __init__(self, n: int, name: str = "reader") -> None:
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._name = name
        self._started: dict[int, float] = {}  # id of a running task's Future → monotonic s of its last progress
        self._lock = threading.Lock()
        self._running = threading.local()  # .task: id of the Future whose task this thread runs
        for _ in range(n):
            self.replace_one()

    def submit(self, call: Callable[..., Any], *args: Any) -> Future:
        """``call(*args)`` on a reader thread; its Future."""
        future: Future = Future()
        self._tasks.put((future, call, args))
        return future

    def started(self, future: Future) -> float | None:
        """When (monotonic s) ``future``'s task started or last made ``progress``; None while queued or once done."""
        with self._lock:
            return self._started.get(id(future))

    def progress(self) -> None:
        """Called by a task, on its reader thread: it is not stuck (``started`` is now)."""
        with self._lock:
            task = getattr(self._running, "task", None)
            if task in self._started:
                self._started[task] = time.monotonic()

    def replace_one(self) -> None:
        """One more thread, in place of one that will not come back."""
        threading.Thread(target=self._work, name=self._name, daemon=True).start()

    def _work(self) -> None:
        while True:
            future, call, args = self._tasks.get()
            if not future.set_running_or_notify_cancel():
                continue
            with self._lock:
                self._started[id(future)] = time.monotonic()
            self._running.task = id(future)
            try:
                result, failure = call(*args), None
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting worker, which decides
                result, failure = None, exc
            with self._lock:
                del self._started[id(future)]
            if failure is None:
                future.set_result(result)
            else:
                future.set_exception(failure)
