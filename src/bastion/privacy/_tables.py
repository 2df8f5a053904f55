"""Reading a dataset file with DuckDB, and writing a result back in the same format and dialect."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from bastion.core import Kind
from bastion.privacy.errors import AnonymizeError

if TYPE_CHECKING:
    pass

# Names that settle the format of a text file whose content alone does not (a one-column CSV has no delimiter).
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_FAMILY = {"csv": "csv", "tsv": "csv", "jsonl": "jsonl", "parquet": "parquet"}


@dataclass(frozen=True)
class TableFormat:
    """A dataset's format and, for CSV, its delimiter: the output is written the way the input was."""

    name: str
    """csv, tsv, parquet or jsonl."""
    delimiter: str = ","
    """The field delimiter of csv and tsv files."""

    def reader(self, path: Path) -> str:
        """A DuckDB table function reading ``path``.

        CSV columns are read as text: a kept column comes out exactly as it went in ("02134" stays
        "02134"), and a malformed row stops the run instead of being dropped from the output.
        """
        source = sql_literal(str(path))
        if self.name in ("csv", "tsv"):
            return f"read_csv({source}, header = true, all_varchar = true, delim = {sql_literal(self.delimiter)})"
        if self.name == "parquet":
            return f"read_parquet({source})"
        return f"read_json({source}, format = 'newline_delimited')"

    def copy_options(self) -> str:
        """The options of ``COPY ... TO`` that write this format."""
        if self.name in ("csv", "tsv"):
            return f"FORMAT csv, HEADER true, DELIMITER {sql_literal(self.delimiter)}"
        if self.name == "parquet":
            return "FORMAT parquet, COMPRESSION zstd"
        return "FORMAT json"

    def check_output_name(self, output: Path) -> None:
        """Refuse an output named for another format: the output always keeps the input's format."""
        named = _SUFFIXES.get(output.suffix.lower())
        if named is not None and _FAMILY[named] != _FAMILY[self.name]:
            raise AnonymizeError(
                f"{output}: the output is written as {self.name}, the input's format; give it a name that says so"
            )


def table_format(path: Path) -> TableFormat:
    """The format of the dataset at ``path``, decided from its content (and its name only for plain text)."""
    from bastion.scanners.detect import HEAD_SIZE, detect, table_delimiter

    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_SIZE)
        size = path.stat().st_size
    except FileNotFoundError:
        raise AnonymizeError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise AnonymizeError(f"{path}: is a directory; give one dataset file") from None
    except OSError as exc:
        raise AnonymizeError(f"{path}: cannot read: {exc.strerror or exc}") from None
    detection = detect(path, head, size)
    if detection.kind is Kind.DATASET and detection.format in ("csv", "tsv"):
        # The delimiter every sampled line agrees on. A file taken as a table by its name alone gets its
        # format's default, so a ragged file fails loudly instead of being read as one merged column
        # (DuckDB's sniffer picks "|" for such a file).
        delimiter = table_delimiter(head, size) or ("\t" if detection.format == "tsv" else ",")
        return TableFormat(detection.format, delimiter)
    name = detection.format if detection.kind is Kind.DATASET else None
    if name is None and detection.kind is Kind.CODE:
        name = _SUFFIXES.get(PurePath(path).suffix.lower())
    if name is None:
        what = "an empty file" if detection.format == "empty" else f"{detection.kind.value} ({detection.format})"
        raise AnonymizeError(f"{path}: not a dataset but {what}; anonymize reads CSV, TSV, Parquet and JSON Lines")
    return TableFormat(name, "\t" if name == "tsv" else ",")


def check_output(source: Path, output: Path, fmt: TableFormat) -> None:
    """Refuse an output that is a directory, in a missing directory, the input itself, or named for another format."""
    if output.is_dir():
        raise AnonymizeError(f"{output}: is a directory; give a file name for -o")
    if not output.parent.is_dir():
        raise AnonymizeError(f"{output.parent}: no such directory for the output; create it first")
    if output.resolve() == source.resolve() or (output.exists() and os.path.samefile(output, source)):
        raise AnonymizeError(f"{output}: is the input; write the anonymized data to another file")
    fmt.check_output_name(output)


def describe_error(error: object) -> str:
    """DuckDB's error in one line: its first line, plus the line that explains a CSV error.

    Never the "Original Line" DuckDB quotes: it is the very data being anonymized.
    """
    lines = [line.strip() for line in str(error).strip().splitlines()]
    if not lines or not lines[0]:
        return type(error).__name__
    text = lines[0].removeprefix("Invalid Input Error: ")
    detail = next((line for line in lines[1:4] if line.startswith(_EXPLAINING)), None)
    return f"{text.rstrip('.')}: {detail}" if detail else text


_EXPLAINING = ("Expected Number of Columns", "It was not possible", "Value with unterminated quote")


def sql_literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
