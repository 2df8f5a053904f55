"""The scan JSON contract (``../shared/schemas/scan-result.schema.json``)."""

from __future__ import annotations

import json

from bastion.core.formats.interface import Formatter
from bastion.core.report import Report


class JsonFormatter(Formatter):
    name = "json"

    def format(self, report: Report) -> str:
        return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
