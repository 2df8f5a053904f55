"""Reading captured traffic and feedback for a time window (the format serving writes, issue 9).

Serving writes Parquet files, one per flush, under hourly partitions:
``<root>/<model>/<YYYY>/<MM>/<DD>/<HH>/<uuid>.parquet`` where ``root`` is the store's ``capture`` (or
``feedback``) space: a local directory or an fsspec URL. Only the hours that overlap the window are
listed, and rows are kept when ``start <= time < end``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from bastion.monitor.errors import MonitorError

if TYPE_CHECKING:
    import pyarrow as pa

KINDS = ("capture", "feedback")
RECORD_COLUMNS = ("request_id", "time", "model", "version", "variant", "prediction", "score")
"""The columns serving adds to a captured row; the others are the model's inputs."""
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def read_window(root: str, model: str, start: dt.datetime, end: dt.datetime, kind: str = "capture") -> pa.Table:
    """The ``kind`` records of ``model`` under ``root`` with ``start <= time < end`` (aware datetimes, any zone).

    ``root`` is the directory (or URL) that holds one directory per model: the store's ``capture`` or
    ``feedback`` space, matching ``kind``. An empty window is an empty table.
    """
    import fsspec
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if kind not in KINDS:
        raise MonitorError(f"unknown record kind {kind!r}; choose capture or feedback")
    if start.tzinfo is None or end.tzinfo is None:
        raise MonitorError("the window's start and end need a time zone (UTC, for example)")
    if "/" in model or model in ("", ".", ".."):
        raise MonitorError(f"{model!r} is not a model name")
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    filesystem, base = fsspec.core.url_to_fs(root)
    tables: list[pa.Table] = []
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        directory = f"{base.rstrip('/')}/{model}/{hour:%Y/%m/%d/%H}"
        if filesystem.isdir(directory):
            for path in sorted(p for p in filesystem.ls(directory, detail=False) if str(p).endswith(".parquet")):
                try:
                    with filesystem.open(path, "rb") as handle:
                        tables.append(pq.read_table(handle))
                except (pa.ArrowException, OSError) as exc:
                    raise MonitorError(f"{path}: cannot read the {kind} file ({exc}); move it aside") from None
        hour += dt.timedelta(hours=1)
    if not tables:
        return pa.table({"request_id": pa.array([], pa.string()), "time": pa.array([], pa.timestamp("us", tz="UTC"))})
    table = pa.concat_tables(tables, promote_options="permissive")
    moment = table.column("time")
    keep = pc.and_(pc.greater_equal(moment, pa.scalar(start, moment.type)), pc.less(moment, pa.scalar(end, moment.type)))
    return table.filter(keep)


def model_inputs(captured: pa.Table) -> pa.Table:
    """The captured rows' model inputs: every column but ``RECORD_COLUMNS``."""
    return captured.drop_columns([name for name in RECORD_COLUMNS if name in captured.column_names])


def parse_duration(text: str, *, what: str = "duration") -> dt.timedelta:
    """``90s``, ``15m``, ``1h``, ``7d``: a window's length, a cooldown."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise MonitorError(f"{what} {text!r}: give a positive whole number with s, m, h or d (e.g. 1h)")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
