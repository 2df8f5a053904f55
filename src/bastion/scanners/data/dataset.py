"""A dataset file opened through DuckDB: read as a stream, never loaded whole.

DuckDB does the reading (delimiter and type sniffing, quoted newlines, Parquet, JSON Lines),
the vectorised work (regular expressions, aggregates, integrity rules in SQL) and spills to disk
when a file is larger than memory. Rows the reader cannot fit to the table's shape are kept,
with their line numbers, and become findings instead of silently vanishing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.core import Category, Finding, Location, Severity
from bastion.scanners.interface import ScanError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

MEMORY_LIMIT = "1GB"
"""DuckDB's working memory per dataset; larger files spill to a temporary directory."""
SAMPLE_SEED = 20261122
"""Samples are repeatable: the same file gives the same sample, so findings are stable."""

_READERS = {
    "csv": "read_csv({source}, store_rejects = true, sample_size = 20480, header = true)",
    "tsv": "read_csv({source}, store_rejects = true, sample_size = 20480, header = true, delim = '\\t')",
    "parquet": "read_parquet({source})",
    "jsonl": "read_json({source}, format = 'newline_delimited', ignore_errors = true)",
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    """DuckDB's type name: VARCHAR, BIGINT, DOUBLE, DATE, TIMESTAMP, BOOLEAN, ..."""

    @property
    def is_text(self) -> bool:
        return self.type == "VARCHAR"

    @property
    def is_numeric(self) -> bool:
        return self.type in _NUMERIC_TYPES or self.type.startswith("DECIMAL")

    @property
    def quoted(self) -> str:
        """The column name as an SQL identifier."""
        return quote_identifier(self.name)


_NUMERIC_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE"}
)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Dataset:
    """One dataset: its columns, repeatable samples, streamed batches, and SQL over a view named ``data``."""

    def __init__(self, source: str, display_path: str, fmt: str, *, threads: int | None = None) -> None:
        import duckdb

        if fmt not in _READERS:
            raise ScanError(f"no reader for dataset format {fmt!r}")
        self.source = source
        self.display_path = display_path
        self.format = fmt
        self.connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": threads or 1})
        reader = _READERS[fmt].format(source="$source")
        try:
            # The reader is materialised once as a view; every analysis reads through it.
            self.connection.execute(f"CREATE VIEW data AS SELECT * FROM {reader.replace('$source', _literal(source))}")
            described = self.connection.execute("DESCRIBE data").fetchall()
        except duckdb.Error as exc:
            self.close()
            raise ScanError(f"cannot read {fmt} data: {_first_line(exc)}") from None
        self.columns = [Column(str(name), str(kind)) for name, kind, *_ in described]
        self._row_count: int | None = None

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    @property
    def row_count(self) -> int:
        if self._row_count is None:
            self._row_count = int(self.scalar("SELECT count(*) FROM data"))
        return self._row_count

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def scalar(self, query: str, *parameters: Any) -> Any:
        rows = self.query(query, *parameters).fetchall()  # fetchall: a streaming result ends only when drained
        return rows[0][0] if rows else None

    def query(self, query: str, *parameters: Any) -> duckdb.DuckDBPyConnection:
        """Run SQL over the ``data`` view; a read error mid-stream is a ``ScanError`` (the scan is partial)."""
        import duckdb

        try:
            return self.connection.execute(query, list(parameters) if parameters else None)
        except duckdb.Error as exc:
            raise ScanError(f"cannot read {self.format} data: {_first_line(exc)}", partial=True) from None

    def sample(self, columns: Sequence[Column], size: int = 1000) -> dict[str, list[Any]]:
        """Up to ``size`` non-null values of each column, drawn repeatably from the whole file."""
        result: dict[str, list[Any]] = {}
        for column in columns:
            rows = self.query(
                f"SELECT {column.quoted} FROM data WHERE {column.quoted} IS NOT NULL "
                f"USING SAMPLE reservoir({int(size)} ROWS) REPEATABLE ({SAMPLE_SEED})"
            ).fetchall()
            result[column.name] = [row[0] for row in rows]
        return result

    def batches(self, columns: Sequence[Column] | None = None, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The rows in file order as Arrow record batches, for analyses that must see every value."""
        names = ", ".join(c.quoted for c in columns) if columns else "*"
        import duckdb

        try:
            reader = self.connection.sql(f"SELECT {names} FROM data").to_arrow_reader(batch_rows)
            yield from reader
        except duckdb.Error as exc:
            raise ScanError(f"cannot read {self.format} data: {_first_line(exc)}", partial=True) from None

    def read_problems(self) -> list[Finding]:
        """Rows the reader rejected (ragged rows, values that break the column's type, bad encoding), one finding per kind."""
        if self.format not in ("csv", "tsv"):
            return []
        # Every full read of the view appends its rejects under a new scan id: read once, take that scan's.
        self.query("SELECT count(*) FROM data").fetchall()
        rows = self.query(
            "SELECT error_type, count(DISTINCT line), min(line), arg_min(csv_line, line), arg_min(error_message, line) "
            "FROM reject_errors WHERE scan_id = (SELECT max(scan_id) FROM reject_scans) "
            "GROUP BY error_type ORDER BY min(line)"
        ).fetchall()
        findings = []
        for error_type, count, first_line, example, message in rows:
            kind = str(error_type).lower().replace(" ", "-")
            findings.append(
                Finding(
                    rule_id=f"data.integrity.{kind}",
                    category=Category.DATA_INTEGRITY,
                    severity=Severity.MEDIUM,
                    message=f"{count} row(s) rejected by the reader: {str(error_type).lower()} ({_first_line(message)})",
                    location=Location(path=self.display_path, line=int(first_line)),
                    count=int(count),
                    evidence=str(example)[:120] if example is not None else None,
                    remediation="Fix or remove the malformed rows; they are left out of every other check.",
                )
            )
        return findings


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
