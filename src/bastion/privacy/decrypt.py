"""Reversing the ``encrypt`` transform: an anonymized dataset in, the same dataset out with its encrypted columns
decrypted by the data key written beside it (``OUT.datakey.json``), unwrapped by the key provider.

Like the anonymizer, one DuckDB ``COPY`` streams the input into a temporary file beside the output, renamed over it
only when every value decrypted; a value altered, or sealed under another key, stops the run with nothing written.
Decrypted values are the text the encryptor sealed (``CAST(value AS VARCHAR)``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import atomic_path
from bastion.privacy._functions import DUCKDB_INTERRUPTED, PythonFunctions
from bastion.privacy._tables import check_output, describe_error, table_format
from bastion.privacy.anonymize import MEMORY_LIMIT
from bastion.privacy.datakey import data_key_path, read_data_key, read_encrypted_columns
from bastion.privacy.errors import AnonymizeError
from bastion.privacy.transforms import Decryptor
from bastion.scanners.data.dataset import quote_identifier
from bastion.store.keys import KeyProvider, open_key_provider

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class DecryptReport:
    """The outcome of one decryption."""

    input: str
    """The input path as given."""
    output: str
    """The output path as given."""
    format: str
    """The format of both: csv, tsv, parquet or jsonl."""
    rows: int
    """Rows read and written."""
    columns: tuple[str, ...]
    """The columns decrypted, as the data key file lists them."""
    data_key_file: str
    """The data key file the key came from."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def decrypt(
    source: str | Path, output: str | Path, *, data_key_file: str | Path | None = None, keys: KeyProvider | None = None
) -> DecryptReport:
    """Write ``source`` with the columns it encrypted decrypted to ``output``, atomically, in ``source``'s format.

    The data key comes from ``data_key_file`` (by default ``source``'s ``.datakey.json`` beside it), unwrapped by
    ``keys`` (by default the configured provider).
    """
    import duckdb

    source, output = Path(source), Path(output)
    sidecar = Path(data_key_file) if data_key_file is not None else data_key_path(source)
    fmt = table_format(source)
    check_output(source, output, fmt)
    encrypted = read_encrypted_columns(sidecar)
    data_key = read_data_key(sidecar, keys if keys is not None else open_key_provider())
    connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
    connection.execute("SET enable_progress_bar = false")  # DuckDB draws one on stdout for long queries
    functions = PythonFunctions(connection)
    try:
        try:
            connection.execute(f"CREATE TEMP VIEW data AS SELECT * FROM {fmt.reader(source)}")
            columns = [str(row[0]) for row in connection.execute("DESCRIBE data").fetchall()]
        except duckdb.Error as exc:
            raise AnonymizeError(f"{source}: cannot read {fmt.name} data: {describe_error(exc)}") from None
        missing = [column for column in encrypted if column not in columns]
        if missing:
            raise AnonymizeError(
                f"{source}: has no column {missing[0]!r}, which {sidecar} says was encrypted; "
                "give the data key file written with this output (--data-key)"
            )
        select = ", ".join(
            f"{functions.add(_ColumnDecryptor(column, data_key))}(CAST({quote_identifier(column)} AS VARCHAR))"
            f" AS {quote_identifier(column)}"
            if column in encrypted
            else quote_identifier(column)
            for column in columns
        )
        try:
            with atomic_path(output) as temporary:
                row = connection.execute(
                    f"COPY (SELECT {select} FROM data) TO $output ({fmt.copy_options()})", {"output": str(temporary)}
                ).fetchone()
        except duckdb.Error as exc:
            try:
                functions.reraise(exc)
            except _Undecryptable as failed:
                raise AnonymizeError(
                    f"{source}: column {failed.column!r} does not decrypt with the data key in {sidecar}: "
                    "the value was altered, or the file was encrypted under another key; nothing was written"
                ) from None
            raise AnonymizeError(f"{source}: {describe_error(exc)}") from None
        except RuntimeError as exc:
            if str(exc) == DUCKDB_INTERRUPTED:  # how DuckDB reports Ctrl-C that arrives while its own code runs
                raise KeyboardInterrupt from None
            raise
    finally:
        connection.close()
    return DecryptReport(
        input=str(source),
        output=str(output),
        format=fmt.name,
        rows=int(row[0]) if row else 0,
        columns=tuple(encrypted),
        data_key_file=str(sidecar),
    )


class _Undecryptable(Exception):
    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


class _ColumnDecryptor:
    """A ``Decryptor`` that names its column when a value will not decrypt."""

    def __init__(self, column: str, data_key: bytes) -> None:
        self.column = column
        self._decryptor = Decryptor(data_key)

    def __call__(self, values: pa.ChunkedArray | pa.Array) -> pa.Array:
        from cryptography.exceptions import InvalidTag

        try:
            return self._decryptor(values)
        except (InvalidTag, ValueError):  # ValueError: not base64, or not UTF-8 once opened
            raise _Undecryptable(self.column) from None
