"""One dataset scanned over row partitions on a Dask cluster, with the findings of the single-process scan.

When ``bastion scan --scheduler`` runs a dataset's file task on a worker (``scanners.cluster``), a dataset of more
than ``ScanOptions.partition_rows`` rows is split into consecutive row ranges. Each task opens the file itself, by
its path or fsspec URL, so the data is read where the work runs and no table crosses the network; a partition's
task narrows its ``Dataset`` to its rows (``Dataset.restrict``, which keeps the whole file's row numbers) and sends
back only counts, row numbers and a few hundred cells. (Opening costs each task the CSV sniff and the reader's
pass for rejected rows, and a partition's queries read the file up to the end of its range: partitions pay off
where the work per row, such as PII's regular expressions, outweighs parsing.) What each analysis supports, and why:

- ``pii`` splits by rows (a ``PartitionedAnalysis``). What a column holds is decided on a repeatable reservoir
  sample of the whole file, so the sample is drawn once, in the file's task (the plan); the counting pass then runs
  on every partition and the counts add up; the cells fetched to confirm rare hits are the first 500 matching ones
  in file order, which are the first 500 of the partitions' first 500s taken in row order.
- ``integrity`` splits by rows. The rules are read, checked and bound to the columns once (the plan); each
  partition counts the rows breaking each rule and its first ten; the counts add up and the first ten rows of the
  whole are the first ten of the partitions' lists.
- ``quality`` runs as one task on the whole file. Its profile holds sketches fed with the rows in order: the KLL
  quantile sketch behind the outlier fences draws random offsets as it compacts, and HyperLogLog distinct counts
  decide which columns get exact value counts and which count as identifiers for near-duplicates. Sketches of
  partitions merge within the same error bounds but not into the same items, so fences and findings would shift;
  and duplicates need every row's hashes grouped together.
- ``poisoning`` runs as one task on the whole file: out-of-fold models, nearest neighbours and trigger patterns
  learn from all labelled rows at once (a stratified sample of 20,000 on larger files).

The whole-file tasks start first and run beside the partitions. The reader's own findings (rejected rows,
encodings) come from the file's task, which opened the file first. Findings are then taken in the analyses'
order, and the first analysis that fails stops the scan there, as in one process. A dataset of at most
``partition_rows`` rows is scanned within its file's task, exactly as in one process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bastion.scanners.data.dataset import Dataset
from bastion.scanners.data.interface import DatasetAnalysis, PartitionedAnalysis
from bastion.scanners.interface import ScanError, ScanOptions

if TYPE_CHECKING:
    from distributed import Client, Future

    from bastion.core import Finding

Run = tuple[str, Callable[[], "list[Finding]"]]
"""An analysis' name, and what gives its findings (or raises its ``ScanError``) once called."""


@contextmanager
def partitioned(dataset: Dataset, source: str, analyses: Sequence[DatasetAnalysis], options: ScanOptions) -> Iterator[list[Run]]:
    """Start ``analyses`` of ``dataset`` (read from ``source``) on the cluster; yields one run per analysis, in order.

    Tasks still running when the block ends are cancelled.
    """
    assert options.partition_rows is not None
    rows = dataset.row_count
    bounds = [(start, min(start + options.partition_rows, rows)) for start in range(0, rows, options.partition_rows)]
    opened = (source, dataset.display_path, dataset.format)
    with _client() as client:
        futures: list[Future[Any]] = []
        try:
            whole = {}
            for analysis in analyses:
                if not isinstance(analysis, PartitionedAnalysis):
                    whole[analysis.name] = client.submit(_analyze, opened, analysis, options, pure=False)
            futures.extend(whole.values())
            plans: list[tuple[PartitionedAnalysis[Any, Any], Any]] = []
            failed: dict[str, ScanError] = {}
            for analysis in analyses:
                if isinstance(analysis, PartitionedAnalysis):
                    try:
                        plans.append((analysis, analysis.plan(dataset, options)))
                    except ScanError as exc:
                        failed[analysis.name] = exc
            parts = [client.submit(_partials, opened, start, stop, plans, pure=False) for start, stop in bounds] if plans else []
            futures.extend(parts)
            gathered = _Gathered(client, parts)
            runs: list[Run] = []
            for analysis in analyses:
                if analysis.name in whole:
                    runs.append((analysis.name, whole[analysis.name].result))
                elif analysis.name in failed:
                    runs.append((analysis.name, functools.partial(_raise, failed[analysis.name])))
                else:
                    index = next(i for i, (planned, _) in enumerate(plans) if planned is analysis)
                    runs.append((analysis.name, functools.partial(_finish, dataset, plans[index], gathered, index)))
            yield runs
        finally:
            client.cancel(futures)  # type: ignore[no-untyped-call]


class _Gathered:
    """The partitions' results, fetched once when the first analysis needs them."""

    def __init__(self, client: Client, parts: list[Future[Any]]) -> None:
        self._client = client
        self._parts = parts
        self._results: list[list[Any]] | None = None

    def results(self) -> list[list[Any]]:
        if self._results is None:
            self._results = self._client.gather(self._parts)  # type: ignore[no-untyped-call]
        return self._results


def _finish(
    dataset: Dataset, planned: tuple[PartitionedAnalysis[Any, Any], Any], gathered: _Gathered, index: int
) -> list[Finding]:
    analysis, plan = planned
    partials = [part[index] for part in gathered.results()]
    for partial in partials:  # the failure of the earliest rows, as one pass in row order meets it
        if isinstance(partial, ScanError):
            raise partial
    return analysis.finish(dataset, plan, analysis.merge(partials))


def _raise(error: ScanError) -> list[Finding]:
    raise error


# -- tasks: each runs on a worker and opens the file there ----------------------------------------


def _analyze(opened: tuple[str, str, str], analysis: DatasetAnalysis, options: ScanOptions) -> list[Finding]:
    with Dataset(*opened) as dataset:
        return analysis.analyze(dataset, options)


def _partials(
    opened: tuple[str, str, str], start: int, stop: int, plans: list[tuple[PartitionedAnalysis[Any, Any], Any]]
) -> list[Any]:
    """Each plan's partial result over rows ``start`` to ``stop``, or the ``ScanError`` it met there."""
    with Dataset(*opened) as dataset:
        dataset.restrict(start, stop)
        results: list[Any] = []
        for analysis, plan in plans:
            try:
                results.append(analysis.partial(dataset, plan))
            except ScanError as exc:
                results.append(exc)
        return results


@contextmanager
def _client() -> Iterator[Client]:
    """The cluster's client: inside a worker's task, one that frees the worker's thread while this task waits."""
    import distributed

    try:
        distributed.get_worker()
    except ValueError:
        try:
            client = distributed.get_client()
        except ValueError:
            raise ScanError("partition_rows is set but no Dask client is running; scan with --scheduler") from None
        yield client
        return
    with distributed.worker_client() as client:
        yield client
