"""The interface every report format implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from bastion.core.report import Report


class Formatter(ABC):
    """Turns a report into text for a person or a tool."""

    name: ClassVar[str]
    """The ``--format`` value that selects this formatter."""

    @abstractmethod
    def format(self, report: Report) -> str:
        """The whole report as text, ending with a newline."""
