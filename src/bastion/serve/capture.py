"""Data capture for monitoring: sampled predictions and feedback, anonymized, in hourly Parquet partitions.

``record`` and ``feedback`` only append to an in-memory buffer (the response never waits for a disk); a background
thread flushes it every ``flush_seconds``, or sooner once ``flush_rows`` rows wait, as one new Parquet file per model
and hour (``capture/<model>/<YYYY>/<MM>/<DD>/<HH>/<uuid>.parquet``, ``feedback/…`` likewise; see capture.md). The
model inputs pass through the anonymization policy (``bastion.privacy``: drop, mask, keyed pseudonyms, generalize,
redact) in memory before anything is written, so raw identifiers never reach a file. A policy cannot ``encrypt``
here: the data key would have to be written beside every file.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError
from bastion.serve.interface import CaptureSink

if TYPE_CHECKING:
    import pyarrow as pa

    from bastion.ml.schema import ModelSchema
    from bastion.privacy import AnonPolicy
    from bastion.store.keys import KeyProvider

FLUSH_SECONDS = 60.0
FLUSH_ROWS = 10_000
REMEMBERED_REQUESTS = 100_000
"""Captured request ids remembered to file their feedback under the right model; older feedback is dropped."""
_ARROW_TYPES = {"number": "float64", "integer": "int64", "string": "string", "boolean": "bool"}
_log = logging.getLogger(__name__)


def open_capture(
    sample: float, policy: str | Path | None, *, root: str | None = None, schemas: Mapping[str, ModelSchema] | None = None
) -> ParquetCapture | None:
    """The sink for ``bastion serve --capture-sample F --capture-policy FILE [--capture-dir DIR|URL]``: None when
    ``sample`` is 0. A policy is required, so that what reaches the files is always a decision (``version: 1`` alone
    keeps the inputs as they are)."""
    if sample == 0:
        return None
    if policy is None:
        raise BastionError(
            "--capture-sample needs --capture-policy FILE (an anon.yaml: drop, mask, pseudonymize or generalize the "
            "inputs that identify people; 'version: 1' alone keeps every input as it is)"
        )
    from bastion.privacy import load_anon_policy

    return ParquetCapture(root or default_root(), sample=sample, policy=load_anon_policy(policy), schemas=schemas)


def default_root() -> str:
    """The artifact store's location (``BASTION_STORE_URL``, else ``BASTION_HOME/store``): capture files go below it,
    in ``capture/`` and ``feedback/``, where monitoring reads them."""
    import os

    from bastion.core import bastion_home
    from bastion.store._fs import STORE_URL_VARIABLE

    return os.environ.get(STORE_URL_VARIABLE) or str(bastion_home() / "store")


class ParquetCapture(CaptureSink):
    """Writes a ``sample`` of predictions and their feedback below ``root`` (a directory or an fsspec URL)."""

    def __init__(
        self,
        root: str | Path,
        *,
        sample: float = 1.0,
        policy: AnonPolicy | None = None,
        schemas: Mapping[str, ModelSchema] | None = None,
        keys: KeyProvider | None = None,
        flush_seconds: float = FLUSH_SECONDS,
        flush_rows: int = FLUSH_ROWS,
        seed: int | None = None,
    ) -> None:
        """``schemas`` give the input columns their training types (by model name); ``keys`` back keyed pseudonyms
        (default: the configured key provider, opened when the policy pseudonymizes)."""
        if not 0.0 <= sample <= 1.0:
            raise BastionError(f"--capture-sample {sample}: give a fraction in [0, 1]")
        if policy is not None and policy.uses("encrypt"):
            raise BastionError(
                "the capture policy encrypts a column; capture files take drop, mask, pseudonymize, generalize or redact"
            )
        self._root = str(root).rstrip("/")
        self._sample, self._policy, self._schemas = sample, policy, dict(schemas or {})
        self._keys = keys
        self._hmac: dict[str, bytes] | None = None
        self._flush_seconds, self._flush_rows = flush_seconds, flush_rows
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._captured: list[dict[str, Any]] = []
        self._feedback: list[dict[str, Any]] = []
        self._models: OrderedDict[str, str] = OrderedDict()
        self._wake = threading.Event()
        self._stopped = False
        self._writer = threading.Thread(target=self._run, name="bastion-capture", daemon=True)
        self._writer.start()

    def record(
        self,
        *,
        request_id: str,
        model: str,
        version: int,
        variant: str,
        rows: Sequence[Mapping[str, Any]],
        predictions: Sequence[str],
        scores: Sequence[float | None],
    ) -> None:
        now = _now()
        with self._lock:
            if self._stopped or self._random.random() >= self._sample:
                return
            for row, prediction, score in zip(rows, predictions, scores, strict=True):
                meta = {"request_id": request_id, "time": now, "model": model, "version": version, "variant": variant}
                self._captured.append({**meta, "inputs": dict(row), "prediction": prediction, "score": score})
            self._models[request_id] = model
            while len(self._models) > REMEMBERED_REQUESTS:
                self._models.popitem(last=False)
            full = len(self._captured) >= self._flush_rows
        if full:
            self._wake.set()

    def feedback(self, *, request_id: str, label: str | None, reward: float | None) -> None:
        with self._lock:
            model = self._models.get(request_id)
            if model is None or self._stopped:  # not captured: nothing to join the feedback with
                return
            self._feedback.append({"request_id": request_id, "time": _now(), "model": model, "label": label, "reward": reward})

    def flush(self) -> list[str]:
        """Write what is buffered now; returns the files written."""
        with self._lock:
            captured, self._captured = self._captured, []
            feedback, self._feedback = self._feedback, []
        written = []
        for (model, hour), rows in _by_model_and_hour(captured).items():
            written.append(self._write("capture", model, hour, self._capture_table(model, rows)))
        for (model, hour), rows in _by_model_and_hour(feedback).items():
            written.append(self._write("feedback", model, hour, _feedback_table(rows)))
        return written

    def close(self) -> None:
        with self._lock:
            self._stopped = True
        self._wake.set()
        self._writer.join()
        self.flush()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            with self._lock:
                if self._stopped:
                    return
            try:
                self.flush()
            except Exception:  # a failed flush must not stop the server; what it held is lost, and said so
                _log.exception("capture: a flush failed; its records were dropped")

    def _capture_table(self, model: str, rows: list[dict[str, Any]]) -> pa.Table:
        import pyarrow as pa

        schema = self._schemas.get(model)
        names = [field.name for field in schema.inputs] if schema else list(dict.fromkeys(k for r in rows for k in r["inputs"]))
        types = {field.name: _ARROW_TYPES[field.type] for field in schema.inputs} if schema else {}
        inputs = pa.table({name: pa.array([row["inputs"].get(name) for row in rows], types.get(name)) for name in names})
        if self._policy is not None:
            inputs = self._anonymized(inputs, self._policy)
        columns: dict[str, pa.Array] = {
            "request_id": pa.array([row["request_id"] for row in rows], pa.string()),
            "time": pa.array([row["time"] for row in rows], pa.timestamp("us", tz="UTC")),
            "model": pa.array([row["model"] for row in rows], pa.string()),
            "version": pa.array([row["version"] for row in rows], pa.int64()),
            "variant": pa.array([row["variant"] for row in rows], pa.string()),
        }
        for name in inputs.column_names:
            if name not in columns:
                columns[name] = inputs.column(name)
        columns["prediction"] = pa.array([str(row["prediction"]) for row in rows], pa.string())
        columns["score"] = pa.array([row["score"] for row in rows], pa.float64())
        return pa.table(columns)

    def _anonymized(self, inputs: pa.Table, policy: AnonPolicy) -> pa.Table:
        """``inputs`` with each column transformed by the policy, by the same transforms as ``bastion anonymize``:
        the SQL ones run by DuckDB over the table in memory, entity redaction on the Arrow columns after."""
        import duckdb

        from bastion.privacy.policy import Drop, Redact
        from bastion.privacy.transforms import Redactor, sql_expression
        from bastion.scanners.data.dataset import quote_identifier

        plan = [(name, policy.action_for(name)) for name in inputs.column_names]
        kept = [(name, action) for name, action in plan if not isinstance(action, Drop)]
        if not kept:
            return inputs.select([])
        # Encryption is refused up front; a redacted column is selected as text and redacted in Arrow below.
        expressions = {name: sql_expression(quote_identifier(name), action) for name, action in kept}
        select = ", ".join(
            f"{expression or f'CAST({quote_identifier(name)} AS VARCHAR)'} AS {quote_identifier(name)}"
            for name, expression in expressions.items()
        )
        parameters = self._hmac_parameters(policy) if policy.uses("pseudonymize") else {}
        with duckdb.connect() as connection:
            connection.register("data", inputs)
            table = connection.sql(f"SELECT {select} FROM data", params=parameters).to_arrow_table()
        for name, action in kept:
            if isinstance(action, Redact):
                index = table.schema.get_field_index(name)
                table = table.set_column(index, name, Redactor(action)(table.column(name)))
        return table

    def _hmac_parameters(self, policy: AnonPolicy) -> dict[str, bytes]:
        from bastion.privacy import PSEUDONYM_PURPOSE
        from bastion.privacy.transforms import hmac_parameters

        if self._hmac is None:
            from bastion.store.keys import open_key_provider

            keys = self._keys if self._keys is not None else open_key_provider()
            self._hmac = hmac_parameters(keys.derive(policy.key, PSEUDONYM_PURPOSE))
        return self._hmac

    def _write(self, kind: str, model: str, hour: dt.datetime, table: pa.Table) -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = pa.BufferOutputStream()
        pq.write_table(table, buffer)
        data = buffer.getvalue().to_pybytes()
        relative = f"{kind}/{model}/{hour:%Y/%m/%d/%H}/{uuid.uuid4().hex}.parquet"
        if "://" not in self._root or self._root.startswith("file://"):
            from bastion.core import atomic_write

            path = Path(self._root.removeprefix("file://")) / relative
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(path, data, mode=0o600)
            return str(path)
        import fsspec

        url = f"{self._root}/{relative}"
        filesystem, path = fsspec.core.url_to_fs(url)
        filesystem.pipe_file(path, data)  # one object per flush: a put is atomic on object stores
        return url


def _feedback_table(rows: list[dict[str, Any]]) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            "request_id": pa.array([row["request_id"] for row in rows], pa.string()),
            "time": pa.array([row["time"] for row in rows], pa.timestamp("us", tz="UTC")),
            "label": pa.array([row["label"] for row in rows], pa.string()),
            "reward": pa.array([row["reward"] for row in rows], pa.float64()),
        }
    )


def _by_model_and_hour(rows: list[dict[str, Any]]) -> dict[tuple[str, dt.datetime], list[dict[str, Any]]]:
    groups: dict[tuple[str, dt.datetime], list[dict[str, Any]]] = {}
    for row in rows:
        hour = row["time"].replace(minute=0, second=0, microsecond=0)
        groups.setdefault((row["model"], hour), []).append(row)
    return groups


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
