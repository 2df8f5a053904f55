"""Sketching a table's parts side by side: worker processes on this machine, or a Dask cluster.

Each task reads its own part where it runs and sends back only its sketch (kilobytes per column,
whatever the rows); the parent merges the sketches in row order. A table of one part is sketched
in this process.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import AbstractContextManager

from bastion.monitor._source import plan_parts, sketch_part
from bastion.monitor.sketch import TableSketch


def sketch_table(data: str, *, workers: int | None = None, scheduler: str | None = None) -> TableSketch:
    """The merged sketch of every part of the table at ``data``.

    ``workers`` caps the local processes (default: one per core); ``scheduler`` (a Dask address, or
    ``local``) runs the parts on a Dask cluster instead.
    """
    parts = plan_parts(data)
    sketch = TableSketch()
    count = min(len(parts), workers or os.cpu_count() or 1)
    if scheduler is None and count <= 1:
        for part in parts:
            sketch.merge(sketch_part(part))
        return sketch
    with _executor(count, scheduler) as executor:
        for partial in executor.map(sketch_part, parts):
            sketch.merge(partial)
    return sketch


def _executor(workers: int, scheduler: str | None) -> AbstractContextManager[Executor]:
    if scheduler is not None:
        from bastion.scanners.cluster import cluster_executor

        return cluster_executor(scheduler)
    return ProcessPoolExecutor(max_workers=workers)
