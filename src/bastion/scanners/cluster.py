"""Scanning on a Dask cluster (``bastion scan --scheduler``): one task per file, large datasets over row partitions.

``--scheduler tcp://HOST:PORT`` connects to a running scheduler (``dask scheduler``); its workers need
bastion-mlsecops installed and must see the scanned paths (a shared file system, or URLs of an object store).
``--scheduler local`` starts a ``distributed.LocalCluster`` on this machine, one single-threaded worker process per
core, every server of it (the dashboard too) bound to 127.0.0.1 on a free port, and stops it afterwards.

Each file is one task, which reads the file on its worker; a dataset of more than ``PARTITION_ROWS`` rows is split
further by rows (``scanners.data.partitions``). Findings are the same as those of the scan in one process.

Dask is the optional ``dask`` extra and is imported only here, when ``--scheduler`` is given. How long to wait
for the scheduler is Dask's own setting, ``distributed.comm.timeouts.connect`` (30 s unless configured).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from bastion.core import BastionError

if TYPE_CHECKING:
    from distributed import Client

PARTITION_ROWS = 500_000
"""Rows per partition of a dataset; smaller datasets are scanned whole, each by one worker."""
INSTALL_HINT = "pip install 'bastion-mlsecops[dask]'"

_T = TypeVar("_T")


@contextmanager
def cluster_executor(scheduler: str) -> Iterator[Executor]:
    """An executor whose tasks run on the Dask cluster at ``scheduler`` (an address, or ``local``)."""
    try:
        import distributed
    except ImportError:
        raise BastionError(f"--scheduler needs Dask, which is not installed: {INSTALL_HINT}") from None
    if scheduler == "local":
        with (
            distributed.LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=os.cpu_count() or 1,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                # The cluster is ours and lives only for this command: a worker's heartbeat racing the shutdown
                # logs an ERROR with a traceback, which must not reach the user. Failed tasks still end the
                # command with one line (see _ClusterExecutor).
                silence_logs=logging.CRITICAL,
            ) as local,
            distributed.Client(local) as client,  # type: ignore[no-untyped-call]
        ):
            yield _ClusterExecutor(client)
        return
    try:
        client = distributed.Client(scheduler)  # type: ignore[no-untyped-call]
    except (OSError, ValueError) as exc:
        raise BastionError(
            f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({_first_line(exc)}); "
            "give its address as tcp://HOST:PORT, or use --scheduler local"
        ) from None
    with client:
        yield _ClusterExecutor(client)


class _ClusterExecutor(Executor):
    """The client's executor; a task the cluster itself could not run (a lost worker, a worker without bastion)
    ends the scan with one line. The engine's tasks catch every scanner error themselves."""

    def __init__(self, client: Client) -> None:
        self._executor = client.get_executor(pure=False)  # type: ignore[no-untyped-call]

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        future: Future[_T] = self._executor.submit(fn, *args, **kwargs)
        return future

    def map(
        self, fn: Callable[..., _T], *iterables: Iterable[Any], timeout: float | None = None, chunksize: int = 1
    ) -> Iterator[_T]:
        return _reported(self._executor.map(fn, *iterables, timeout=timeout))


def _reported(results: Iterator[_T]) -> Iterator[_T]:
    try:
        yield from results
    except Exception as exc:
        raise BastionError(
            f"the Dask cluster could not run a scan task ({type(exc).__name__}: {_first_line(exc)}); "
            f"check that its workers run and have bastion-mlsecops installed ({INSTALL_HINT})"
        ) from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
