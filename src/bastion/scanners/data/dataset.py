"""A dataset file opened through DuckDB: read as a stream, never loaded whole.

DuckDB does the reading (delimiter and type sniffing, quoted newlines, Parquet, JSON Lines),
the vectorised work (regular expressions, aggregates, integrity rules in SQL) and spills to its
own work directory when a query needs more than ``memory_limit``. Rows the reader cannot fit to
the table's shape are kept, with their line numbers, and become findings instead of silently
vanishing.

Sources are local paths or fsspec URLs (``memory://``, ``s3://`` with s3fs installed, ...);
``file://`` URLs are read as local paths. Text that is not UTF-8 is rewritten to UTF-8 first (see
``_encoding``). A CSV file is sniffed once and the view pins what the sniffer found, so later
queries neither sniff again nor see a different table.

Once the view exists the connection is locked down: it may read the dataset and its work
directory and nothing else (no other file, no network, no extension loading, no configuration
change), so SQL that carries user input, like integrity rules, cannot reach outside the data.
"""

from __future__ import annotations

import bisect
import os
import re
import shutil
import tempfile
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import Category, Finding, Location, Severity
from bastion.scanners.interface import ScanError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from bastion.scanners.data._encoding import Transcoding

MEMORY_LIMIT = "1GB"
"""DuckDB's working memory per dataset; larger work spills to a temporary directory."""
MEMORY_LIMIT_ENV = "BASTION_DATA_MEMORY_LIMIT"
"""Overrides ``MEMORY_LIMIT`` (DuckDB's syntax: ``256MB``, ``4GB``)."""
SAMPLE_SEED = 20261122
"""Samples are repeatable: the same file gives the same sample, so findings are stable."""
SNIFF_ROWS = 20_480
"""Rows the CSV sniffer reads to decide the dialect and the column types."""
REJECTS_LIMIT = 10_000
"""Rejected rows kept per kind of error; counts above it are reported as 'at least'."""
FORMATS = ("csv", "tsv", "parquet", "jsonl")

_TEXT_FORMATS = frozenset({"csv", "tsv", "jsonl"})
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_LATE_REJECTS = frozenset({"CAST", "INVALID ENCODING", "INVALID UNICODE"})
"""Reader errors met only when a query reads the column (see ``Dataset._rows``)."""
# DuckDB's reader errors, by the rule each becomes; CAST is a value that breaks its column's type.
_READER_RULES = {
    "CAST": ("data.quality.type-violation", Category.DATA_QUALITY),
    "MISSING COLUMNS": ("data.integrity.missing-columns", Category.DATA_INTEGRITY),
    "TOO MANY COLUMNS": ("data.integrity.too-many-columns", Category.DATA_INTEGRITY),
    "UNQUOTED VALUE": ("data.integrity.unquoted-value", Category.DATA_INTEGRITY),
    "LINE SIZE OVER MAXIMUM": ("data.integrity.line-too-long", Category.DATA_INTEGRITY),
    "INVALID ENCODING": ("data.integrity.mixed-encodings", Category.DATA_INTEGRITY),
    "INVALID UNICODE": ("data.integrity.mixed-encodings", Category.DATA_INTEGRITY),
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
    def is_integral(self) -> bool:
        return self.type in _INTEGRAL_TYPES

    @property
    def quoted(self) -> str:
        """The column name as an SQL identifier."""
        return quote_identifier(self.name)


_INTEGRAL_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)
_NUMERIC_TYPES = _INTEGRAL_TYPES | {"FLOAT", "DOUBLE"}


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Dataset:
    """One dataset: its columns, repeatable samples, streamed batches, and SQL over a view named ``data``.

    A second view, ``numbered``, adds the 0-based row index (in file order, rejected rows not
    counted) as its first column, named ``row_column``.
    """

    def __init__(
        self, source: str, display_path: str, fmt: str, *, threads: int | None = None, memory_limit: str | None = None
    ) -> None:
        import duckdb

        if fmt not in FORMATS:
            raise ScanError(f"no reader for dataset format {fmt!r}")
        self.source = source
        self.display_path = display_path
        self.format = fmt
        self.encoding = "utf-8" if fmt in _TEXT_FORMATS else "binary"
        """The text encoding the file was read in: utf-8, utf-8-sig, utf-16, utf-32, cp1252 or mixed."""
        self._transcoding: Transcoding | None = None
        self._rejects: list[tuple[Any, ...]] = []
        """The reader's rejected rows of a CSV file, by kind (and column): the scan of them is the first read."""
        self._rejected_rows: list[int] = []
        """The 0-based data rows of the file the reader rejected, in order."""
        self._row_count: int | None = None
        self._filesystem: Any = None
        """The fsspec filesystem DuckDB reads a URL through, if any."""
        self._workdir = tempfile.mkdtemp(prefix="bastion-data-")
        self._closed = False
        try:
            self.connection = duckdb.connect(
                config={
                    "memory_limit": memory_limit or os.environ.get(MEMORY_LIMIT_ENV) or MEMORY_LIMIT,
                    "threads": threads or 1,
                    "temp_directory": os.path.join(self._workdir, "spill"),
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                }
            )
        except duckdb.Error as exc:
            shutil.rmtree(self._workdir, ignore_errors=True)
            raise ScanError(f"cannot open a {fmt} reader: {_first_line(exc)}") from None
        try:
            self.connection.execute("SET enable_progress_bar = false")  # DuckDB draws one on stdout for long queries
            location, allowed = self._locate(source)
            self._read_options = self._sniff(location)
            self._location = location
            self.connection.execute(f"CREATE VIEW data AS {self._rows(self._reader(), guarded=self._scan_rejects())}")
            self._lock_down(allowed)
            described = self.connection.execute("DESCRIBE data").fetchall()
        except duckdb.Error as exc:
            self.close()
            raise ScanError(f"cannot read {fmt} data: {_first_line(exc)}") from None
        except FileNotFoundError:
            self.close()
            raise ScanError(f"cannot read {fmt} data: no such file {source}") from None
        except (OSError, ValueError, ImportError) as exc:  # fsspec: unknown protocol, missing driver, unreachable store
            self.close()
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ScanError(f"cannot read {fmt} data: {_first_line(message)}") from None
        except BaseException:
            self.close()
            raise
        self.columns = [Column(str(name), str(kind)) for name, kind, *_ in described]
        self._by_name = {column.name: column for column in self.columns}  # wide tables look columns up thousands of times
        names = {column.name for column in self.columns}
        self.row_column = next(f"__row{'_' * i}" for i in range(len(names) + 1) if f"__row{'_' * i}" not in names)
        """The name of the row index column in the ``numbered`` view."""
        self.connection.execute(
            f"CREATE VIEW numbered AS SELECT row_number() OVER () - 1 AS {quote_identifier(self.row_column)}, * FROM data"
        )

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if hasattr(self, "connection"):
            self.connection.close()
        shutil.rmtree(self._workdir, ignore_errors=True)

    @property
    def row_count(self) -> int:
        if self._row_count is None:
            self._row_count = int(self.scalar("SELECT count(*) FROM data"))
        return self._row_count

    def restrict(self, start: int, stop: int) -> None:
        """Narrow ``data`` to its rows ``start`` to ``stop`` (0-based, ``stop`` excluded), for work split by rows;
        ``numbered`` keeps the whole file's row numbers, so ``source_rows`` still applies."""
        row = quote_identifier(self.row_column)
        self.fetch("ALTER VIEW data RENAME TO all_rows")
        self.fetch(f"CREATE VIEW data AS SELECT * FROM all_rows LIMIT {int(stop) - int(start)} OFFSET {int(start)}")
        self.fetch(f"CREATE OR REPLACE VIEW numbered AS SELECT row_number() OVER () + {int(start) - 1} AS {row}, * FROM data")
        self._row_count = None

    def column(self, name: str) -> Column:
        return self._by_name[name]

    def scalar(self, query: str, *parameters: Any) -> Any:
        rows = self.fetch(query, *parameters)  # drained: a streaming result ends only then
        return rows[0][0] if rows else None

    def query(self, query: str, *parameters: Any) -> duckdb.DuckDBPyConnection:
        """Run SQL over the ``data`` view; a read error mid-stream is a ``ScanError`` (the scan is partial)."""
        import duckdb

        try:
            return self.connection.execute(query, list(parameters) if parameters else None)
        except duckdb.Error as exc:
            raise ScanError(f"cannot read {self.format} data: {_first_line(exc)}", partial=True) from None

    def fetch(self, query: str, *parameters: Any) -> list[tuple[Any, ...]]:
        """Every row of a query, as ``query`` but with errors met while fetching (a value that will not convert,
        a read error mid-stream) a ``ScanError`` too."""
        import duckdb

        try:
            return self.query(query, *parameters).fetchall()
        except duckdb.Error as exc:
            raise ScanError(f"cannot read {self.format} data: {_first_line(exc)}", partial=True) from None

    def source_rows(self, rows: Sequence[int]) -> list[int]:
        """Rows of the ``data`` view as 0-based data rows of the file, where the rows the reader rejected count too."""
        if not self._rejected_rows:
            return [int(row) for row in rows]
        # The r-th accepted row is r plus the rejected rows before it: those j with rejected[j] - j <= r.
        shifted = [rejected - index for index, rejected in enumerate(self._rejected_rows)]
        return [int(row) + bisect.bisect_right(shifted, int(row)) for row in rows]

    def sample(self, columns: Sequence[Column], size: int = 1000) -> dict[str, list[Any]]:
        """Up to ``size`` non-null values of each column, drawn repeatably from the whole file."""
        result: dict[str, list[Any]] = {}
        for column in columns:
            rows = self.fetch(
                f"SELECT {column.quoted} FROM data WHERE {column.quoted} IS NOT NULL "
                f"USING SAMPLE reservoir({int(size)} ROWS) REPEATABLE ({SAMPLE_SEED})"
            )
            result[column.name] = [row[0] for row in rows]
        return result

    def batches(
        self, columns: Sequence[Column] | None = None, batch_rows: int = 65_536, *, as_text: Collection[str] = ()
    ) -> Iterator[pa.RecordBatch]:
        """The rows in file order as Arrow record batches, for analyses that must see every value.

        Columns named in ``as_text`` come as DuckDB's text of their values (dates, times with a zone, ...).
        """
        if columns:
            names = ", ".join(f"CAST({c.quoted} AS VARCHAR) AS {c.quoted}" if c.name in as_text else c.quoted for c in columns)
        else:
            names = "*"
        import duckdb

        try:
            reader = self.connection.sql(f"SELECT {names} FROM data").to_arrow_reader(batch_rows)
            yield from reader
        except duckdb.Error as exc:
            raise ScanError(f"cannot read {self.format} data: {_first_line(exc)}", partial=True) from None

    def read_problems(self) -> list[Finding]:
        """What the reader met: rejected rows (ragged, a value breaking its column's type, bad encoding),
        malformed JSON lines, and lines in another encoding than the rest; one finding per kind (and column)."""
        findings = self._encoding_findings()
        if self.format in ("csv", "tsv"):
            findings.extend(self._csv_rejects())
        elif self.format == "jsonl":
            findings.extend(self._malformed_json())
        return findings

    # -- opening -----------------------------------------------------------------------------

    def _locate(self, source: str) -> tuple[str, list[str]]:
        """Where DuckDB reads the data (the source, or its UTF-8 copy), and the paths it may open."""
        from urllib.parse import unquote, urlparse

        if source.startswith("file://"):
            source = unquote(urlparse(source).path)
        if not _URL.match(source):
            path = str(Path(source).absolute())
            if self.format in _TEXT_FORMATS:
                with open(path, "rb") as handle:
                    copy = self._to_utf8(handle)
                if copy is not None:
                    return copy, [copy]
            return path, [path]

        import fsspec

        filesystem, path = fsspec.core.url_to_fs(source)
        if self.format in _TEXT_FORMATS:
            with filesystem.open(path, "rb") as handle:
                copy = self._to_utf8(handle)
            if copy is not None:
                return copy, [copy]
        self.connection.register_filesystem(filesystem)
        self._filesystem = filesystem
        # DuckDB checks the path as it normalises it (memory://x becomes memory:///x).
        protocol = source.split("://", 1)[0]
        return source, [source, f"{protocol}://{path}", f"{protocol}:///{path.lstrip('/')}"]

    def _to_utf8(self, handle: Any) -> str | None:
        """A UTF-8 copy of a text file that is not UTF-8, in the work directory; None when the file is UTF-8."""
        from bastion.scanners.data._encoding import HEAD_BYTES, sniff_encoding, transcode

        encoding = sniff_encoding(handle.read(HEAD_BYTES))
        # DuckDB's CSV reader skips a UTF-8 byte-order mark; its JSON reader does not.
        if encoding == "utf-8" or (encoding == "utf-8-sig" and self.format != "jsonl"):
            self.encoding = encoding
            return None
        handle.seek(0)
        copy = os.path.join(self._workdir, f"utf8.{self.format}")
        with open(copy, "wb") as target:
            self._transcoding = transcode(handle, target, encoding)
        self.encoding = self._transcoding.encoding
        return copy

    def _sniff(self, location: str) -> dict[str, str]:
        """The CSV dialect and column types, sniffed once (tolerating bad rows, as the reader does)."""
        if self.format not in ("csv", "tsv"):
            return {}
        tab = ", delim = '\\t'" if self.format == "tsv" else ""
        row = self.connection.execute(
            "SELECT Delimiter, Quote, Escape, NewLineDelimiter, Comment, SkipRows, HasHeader, Columns, DateFormat, "
            f"TimestampFormat FROM sniff_csv({_literal(location)}, sample_size = {SNIFF_ROWS}, ignore_errors = true{tab})"
        ).fetchall()[0]
        delimiter, quote, escape, newline, comment, skip, header, columns, date_format, timestamp_format = row
        options = {
            "auto_detect": "false",
            "delim": _literal(_sniffed(delimiter)),
            "quote": _literal(_sniffed(quote)),
            "escape": _literal(_sniffed(escape)),
            "new_line": _literal(_sniffed(newline)),
            "comment": _literal(_sniffed(comment)),
            "skip": str(int(skip)),
            "header": "true" if header else "false",
            "columns": "{" + ", ".join(f"{_literal(c['name'])}: {_literal(c['type'])}" for c in columns) + "}",
        }
        if date_format:
            options["dateformat"] = _literal(date_format)
        if timestamp_format:
            options["timestampformat"] = _literal(timestamp_format)
        return options

    def _scan_rejects(self) -> bool:
        """Read a CSV file once, keeping its rejected rows and its row count; whether the view needs ``_rows``' filter."""
        if self.format not in ("csv", "tsv"):
            return False
        # Every read with store_rejects appends under a new scan id: read once, take that scan's rows.
        count = self.connection.execute(f"SELECT count(*) FROM ({self._rows(self._reader(rejects=True))})").fetchall()
        self._row_count = int(count[0][0])
        this_scan = "FROM reject_errors WHERE scan_id = (SELECT max(scan_id) FROM reject_scans)"
        self._rejects = self.connection.execute(
            "SELECT error_type, CASE WHEN error_type = 'CAST' THEN column_name END AS field, count(DISTINCT line), "
            f"min(line), arg_min(csv_line, line), arg_min(error_message, line), arg_min(line_byte_position, line) {this_scan} "
            "GROUP BY ALL ORDER BY min(line)"
        ).fetchall()
        # DuckDB's "line" counts records (a quoted newline does not start one); the header and skipped lines come first.
        before = 1 + int(self._read_options["skip"]) + (self._read_options["header"] == "true")
        lines = self.connection.execute(f"SELECT DISTINCT line {this_scan} ORDER BY line").fetchall()
        self._rejected_rows = [int(line) - before for (line,) in lines]
        return any(str(kind) in _LATE_REJECTS for kind, *_ in self._rejects)

    @staticmethod
    def _rows(reader: str, *, guarded: bool = True) -> str:
        """Every row of ``reader`` whatever a query projects.

        The CSV reader converts a value only when a query needs its column, and drops the row if
        that fails (a cast, an invalid byte): then a query on one column would count other rows
        than a query on another, and row numbers would not agree. Hashing the whole row needs every
        column, so every query drops the same rows. Files where no such row was met skip it.
        """
        if not guarded:
            return f"SELECT * FROM {reader}"
        return f"SELECT * FROM {reader} AS row_values WHERE hash(row_values) IS NOT NULL"

    def _reader(self, *, rejects: bool = False) -> str:
        source = _literal(self._location)
        if self.format == "parquet":
            return f"read_parquet({source})"
        if self.format == "jsonl":
            return f"read_json({source}, format = 'newline_delimited', ignore_errors = true)"
        errors = {"store_rejects": "true", "rejects_limit": str(REJECTS_LIMIT)} if rejects else {"ignore_errors": "true"}
        options = ", ".join(f"{key} = {value}" for key, value in {**self._read_options, **errors}.items())
        return f"read_csv({source}, {options})"

    def _lock_down(self, allowed: list[str]) -> None:
        paths = "[" + ", ".join(_literal(path) for path in allowed) + "]"
        self.connection.execute(f"SET allowed_paths = {paths}")
        self.connection.execute(f"SET allowed_directories = [{_literal(self._workdir)}]")
        self.connection.execute("SET enable_external_access = false")
        self.connection.execute("SET lock_configuration = true")

    # -- reader problems ---------------------------------------------------------------------

    def _encoding_findings(self) -> list[Finding]:
        coding = self._transcoding
        if coding is None or coding.encoding != "mixed":
            return []
        return [
            Finding(
                rule_id="data.integrity.mixed-encodings",
                category=Category.DATA_INTEGRITY,
                severity=Severity.LOW,
                message=(
                    f"the file mixes encodings: {coding.legacy_lines} line(s) are not UTF-8 (read as cp1252/latin-1) "
                    f"while {coding.utf8_lines} line(s) are UTF-8"
                ),
                location=Location(path=self.display_path, line=coding.first_legacy_line),
                count=coding.legacy_lines,
                remediation="Re-export the file in one encoding (UTF-8); check the text of those lines.",
            )
        ]

    def _csv_rejects(self) -> list[Finding]:
        findings = []
        capped = sum(int(count) for _, _, count, *_ in self._rejects) >= REJECTS_LIMIT  # the limit is per file
        lines = self._lines_at([int(offset) for *_, offset in self._rejects])
        before = 1 + int(self._read_options["skip"]) + (self._read_options["header"] == "true")
        for error_type, field, count, record, example, message, offset in self._rejects:
            kind = str(error_type)
            other = (f"data.integrity.{kind.lower().replace(' ', '-')}", Category.DATA_INTEGRITY)
            rule_id, category = _READER_RULES.get(kind, other)
            at_least = "at least " if capped else ""
            what = f"values of column {field!r} that break its type" if field else kind.lower()
            text = f"{at_least}{count} row(s) rejected by the reader: {what} ({_first_line(message)})"
            if kind in ("UNQUOTED VALUE", "LINE SIZE OVER MAXIMUM"):
                # A quote that never closes swallows the lines after it, which no reject counts.
                text += f"; the file has {self._physical_lines()} lines, of which {self.row_count} were read as rows"
            location = Location(
                path=self.display_path,
                line=lines[int(offset)],
                offset=int(offset) if self._transcoding is None else None,  # a UTF-8 copy's offsets are not the file's
                field=field,
                row=int(record) - before,
            )
            findings.append(
                Finding(
                    rule_id=rule_id,
                    category=category,
                    severity=Severity.MEDIUM,
                    message=text,
                    location=location,
                    count=int(count),
                    evidence=_shape(_first_line(example)) if example is not None else None,
                    remediation="Fix or remove the malformed rows; they are left out of every other check.",
                )
            )
        return findings

    def _lines_at(self, offsets: list[int]) -> dict[int, int]:
        """The 1-based line of each byte offset, reading the file only as far as the last one."""
        result: dict[int, int] = {}
        pending = sorted(set(offsets))
        position, lines = 0, 1
        with self._open_location() as handle:
            while pending:
                chunk = handle.read(4 * 1024 * 1024)
                while pending and (not chunk or pending[0] <= position + len(chunk)):
                    result[pending[0]] = lines + chunk.count(b"\n", 0, pending[0] - position)
                    pending.pop(0)
                if not chunk:
                    break
                position, lines = position + len(chunk), lines + chunk.count(b"\n")
        return result

    def _physical_lines(self) -> int:
        """Line ends in the file DuckDB reads, counted a chunk at a time."""
        lines = 0
        with self._open_location() as handle:
            while chunk := handle.read(4 * 1024 * 1024):
                lines += chunk.count(b"\n")
        return lines

    def _open_location(self) -> Any:
        return self._filesystem.open(self._location, "rb") if self._filesystem else open(self._location, "rb")

    def _malformed_json(self) -> list[Finding]:
        # read_json keeps a malformed line as an all-null row; read_ndjson_objects says which lines they are.
        count, first = self.fetch(
            "SELECT count(*), min(n) FROM (SELECT row_number() OVER () - 1 AS n, json "
            f"FROM read_ndjson_objects({_literal(self._location)}, ignore_errors = true)) WHERE json IS NULL"
        )[0]
        if not count:
            return []
        return [
            Finding(
                rule_id="data.integrity.malformed-json",
                category=Category.DATA_INTEGRITY,
                severity=Severity.MEDIUM,
                message=f"{count} line(s) are not JSON objects; they read as rows of missing values (the first is row {first})",
                location=Location(path=self.display_path, row=int(first)),
                count=int(count),
                remediation="Fix or remove the malformed lines.",
            )
        ]


def _sniffed(value: object) -> str:
    """sniff_csv writes an empty option as '(empty)'."""
    text = "" if value is None else str(value)
    return "" if text == "(empty)" else text


def _shape(line: str, limit: int = 120) -> str:
    """A rejected line with letters as x and digits as 9: its delimiters and quotes show, its content never does."""
    text = re.sub(r"\d", "9", re.sub(r"[^\W\d_]", "x", line))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
