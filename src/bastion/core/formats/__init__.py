"""Report formats behind one ``Formatter`` interface: json, sarif, table."""

from __future__ import annotations

from bastion.core.formats.interface import Formatter
from bastion.core.formats.json import JsonFormatter
from bastion.core.formats.sarif import SarifFormatter
from bastion.core.formats.table import TableFormatter

FORMATS: dict[str, type[Formatter]] = {
    JsonFormatter.name: JsonFormatter,
    SarifFormatter.name: SarifFormatter,
    TableFormatter.name: TableFormatter,
}

__all__ = ["FORMATS", "Formatter", "JsonFormatter", "SarifFormatter", "TableFormatter"]
