"""The Dask cluster of ``reprocess`` and ``simulate --shards``: a local one started or an existing scheduler
connected to, Dask's own log kept quiet, a lost scheduler told apart from a failed task, and SIGTERM taken as
Ctrl-C so that the cluster is closed and what was written stays whole. A Ctrl-C is this process's alone: the
local workers ignore the terminal's (``dask_setup``), and Dask says nothing of the tasks that the close cuts
short (``stop_on_signals``)."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ..causes import first_line


@contextmanager
def open_cluster(scheduler: str | None, workers: int, command: str, say: Callable[[str], None]) -> Iterator:
    """A Dask ``Client`` for ``command`` (``reprocess``, ``simulate --shards``), closed with its cluster on leaving:
    Dask kept quiet, its extra checked (a ValueError naming the pip install), SIGTERM taken as Ctrl-C, then
    ``connect``; ``say`` gets the dashboard's line, and where the scheduler has no worker yet a line saying so."""
    quiet_dask()
    try:
        import distributed  # noqa: F401  (the extra)
    except ImportError:
        raise ValueError(f"{command} needs Dask: pip install 'gisaxs-live[scale]'") from None
    stop_on_signals()
    client, cluster = connect(scheduler, workers)
    try:
        say(dashboard_line(client, cluster is not None))
        waiting = waiting_line(client, scheduler)
        if waiting:
            say(waiting)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


class ClusterLost(RuntimeError):
    """The Dask scheduler went away (its tasks cancelled): the files or shards not done are no failure of theirs,
    and a rerun goes on from what was written."""


@contextmanager
def cancelled_if_left(client, futures: Sequence) -> Iterator[None]:
    """Cancel those of ``futures`` not done where the block is left by an exception (a shard that failed, a full
    log, Ctrl-C): their tasks then no longer run, nor are tried again, while the cluster is closed. Not where the
    scheduler is gone (``ClusterLost``): nobody is there to cancel them."""
    try:
        yield
    except ClusterLost:
        raise
    except BaseException:
        try:
            client.cancel([f for f in futures if not f.done()])
        except Exception as exc:  # noqa: BLE001 - the cluster closes next anyway; the first failure is the news
            logging.getLogger(__name__).debug("cancelling the tasks left failed: %s", exc)
        raise


def task_result(future):
    """``future.result()``; raises ``ClusterLost`` where the scheduler went away (the task cancelled, the
    connection closed) rather than the task failing."""
    from concurrent.futures import CancelledError

    try:
        return future.result()
    except (CancelledError, OSError) as exc:
        if isinstance(exc, OSError) and future.status == "error":
            raise  # the task's own failure (a full disk on the worker), not the connection's
        reason = first_line(exc, "its task was cancelled")
        raise ClusterLost(f"lost the Dask scheduler ({reason})") from None


def connect(scheduler: str | None, workers: int):
    """(client, local cluster or None): a ``Client`` of ``scheduler``, else of a new ``start_cluster(workers)``;
    a ValueError naming ``--scheduler`` where nobody answers there or the address is not one."""
    from distributed import Client

    if scheduler is not None and not scheduler.strip():
        raise ValueError("--scheduler: an empty address; give HOST:PORT, or leave the option out for a local cluster")
    cluster = None if scheduler else start_cluster(workers)
    try:
        return Client(scheduler or cluster), cluster
    except (OSError, ValueError) as exc:  # no scheduler there (Dask waits for its connect timeout, 30 s by default)
        if cluster is not None:
            cluster.close()
        raise ValueError(f"--scheduler {scheduler}: cannot connect ({str(exc).splitlines()[0]})") from None


def quiet_dask() -> None:
    """Dask's own log (ours and the local workers') at warnings and above, set before it is imported."""
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")


def start_cluster(workers: int):
    """A ``LocalCluster`` of ``workers`` processes with one task thread each, its dashboard on a free port. Each
    worker's own threads (preprocessing, TensorFlow: ``tasks.worker_threads``) are its share of the cores, given as
    ``OMP_NUM_THREADS`` (Dask's default, 1, would leave one worker on a core of two). Its workers keep glibc's
    default memory thresholds: Dask's nannies set ``MALLOC_TRIM_THRESHOLD_``, which also turns off glibc's
    adaptive mmap threshold, so that every frame-sized array (4 MB) is mapped and page-faulted afresh (measured:
    15-25 % more CPU time classifying the same 200 Pilatus 1M frames in one process)."""
    import dask
    from distributed import LocalCluster

    share = max(1, (os.cpu_count() or 1) // max(1, workers))
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                            env={"OMP_NUM_THREADS": str(share)}, preload=[__name__])


def dask_setup(worker: object) -> None:
    """Run by each local worker process as it starts (a Dask preload): it ignores SIGINT, which a terminal's Ctrl-C
    sends to every process of its group (else each worker printed its own KeyboardInterrupt traceback), as the
    client closes it; and its task cut short by that close is no warning ("Async instruction ... ended with
    CancelledError", the only warning of the logger)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("distributed.worker.state_machine").setLevel(logging.ERROR)


def dashboard_line(client, local: bool) -> str:
    """Where the Dask dashboard is; it shows only where the scheduler has bokeh (``pip install bokeh``)."""
    import importlib.util

    link = client.dashboard_link
    if local and importlib.util.find_spec("bokeh") is None:
        return f"Dask dashboard: {link} (empty until bokeh is installed: pip install bokeh)"
    return f"Dask dashboard: {link}"


def waiting_line(client, scheduler: str | None) -> str | None:
    """A line saying that the tasks wait, where the scheduler ``scheduler`` has no worker yet (else None)."""
    if scheduler and not client.scheduler_info(n_workers=-1).get("workers"):
        return f"--scheduler {scheduler}: no worker yet; the tasks wait for the first one to join"
    return None


def stop_on_signals() -> None:
    """SIGTERM (systemd, kill) raises KeyboardInterrupt in the main thread, as Ctrl-C does; both silence Dask's log
    in this process first: closing the cluster then warns of the workers it kills, and a KeyboardInterrupt inside
    Dask's own waiting is logged as an error of its event loop (NameError in ``sync.<locals>.cancel``), noise once
    the run is stopped: what was written is whole."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    for name in list(logging.root.manager.loggerDict):  # their own levels too (tornado.application: error)
        if name.partition(".")[0] in ("distributed", "tornado"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    raise KeyboardInterrupt
