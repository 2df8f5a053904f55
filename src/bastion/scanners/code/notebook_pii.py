"""Personal data in Jupyter notebooks: in the code and text of cells, and in what they printed (NB Defense's job).

The entities are the dataset scanner's, found in free text by ``find_entities``. One finding per cell part
and entity, at its first occurrence, with the count; the values themselves are never shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core import Category, Finding, Kind, Location
from bastion.scanners.interface import ScanError, Scanner, ScanTarget

if TYPE_CHECKING:
    from bastion.scanners.code.notebook import NotebookSegment
    from bastion.scanners.data.entities import EntitySpan

_SOURCE_ENTITIES = frozenset(
    {
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "US_SSN",
        "US_ITIN",
        "CREDIT_CARD",
        "IBAN_CODE",
        "UK_NINO",
        "UK_NHS",
        "ES_NIF",
        "IT_FISCAL_CODE",
        "PL_PESEL",
        "SG_NRIC_FIN",
        "IN_PAN",
        "IN_AADHAAR",
        "FI_PERSONAL_IDENTITY_CODE",
        "FR_NIR",
        "BR_CPF",
        "CN_RESIDENT_ID",
        "SE_PERSONNUMMER",
        "MEDICAL_LICENSE",
    }
)
"""Entities whose shape (and mostly a checksum) says enough on its own, even in code. Dates, URLs, places and
the special-category vocabularies are left out: a notebook about diabetes names diabetes everywhere."""
_OUTPUT_ENTITIES = _SOURCE_ENTITIES | {"PERSON"}
"""In outputs, names too: a printed data frame of customers is what this scan is for."""
_DOCUMENTATION_DOMAINS = ("@example.com", "@example.org", "@example.net", "@localhost")
_OUTPUT_REMEDIATION = "Clear the outputs before committing (bastion notebooks strip NOTEBOOK) and print only aggregates."


class NotebookPIIScanner(Scanner):
    """Personal data in notebooks' cells and outputs (secrets there are the secret scanner's)."""

    name = "notebook-pii"
    kinds = frozenset({Kind.NOTEBOOK})

    def scan(self, target: ScanTarget) -> list[Finding]:
        from bastion.scanners.code.notebook import NotebookError, notebook_segments

        try:
            segments = list(notebook_segments(target.read_bytes()))
        except NotebookError as exc:
            raise ScanError(f"malformed notebook ({exc}); personal data not searched") from None
        return [finding for segment in segments for finding in segment_findings(segment, target.display_path)]


def segment_findings(segment: NotebookSegment, path: str) -> list[Finding]:
    """One finding per entity found in one cell's source or outputs."""
    from bastion.scanners.data.entities import ENTITIES, find_entities

    outputs = segment.member.endswith(".outputs")
    spans = [
        span
        for span in find_entities(segment.text, entities=_OUTPUT_ENTITIES if outputs else _SOURCE_ENTITIES)
        if not (span.entity == "EMAIL_ADDRESS" and segment.text[span.start : span.end].lower().endswith(_DOCUMENTATION_DOMAINS))
    ]
    findings = []
    for entity in sorted({span.entity for span in spans}):
        mine = [span for span in spans if span.entity == entity]
        first = mine[0]
        line_start = segment.text.rfind("\n", 0, first.start) + 1
        info = ENTITIES[entity]
        where = "outputs" if outputs else "source"
        findings.append(
            Finding(
                rule_id="notebook.pii." + entity.lower().replace("_", "-"),
                category=Category.PII,
                severity=info.severity,
                message=f"{len(mine)} {info.description} in the {where} of {segment.member.split('.', 1)[0]}",
                location=Location(
                    path=path,
                    member=segment.member,
                    line=segment.text.count("\n", 0, first.start) + 1,
                    column=first.start - line_start + 1,
                ),
                entity=entity,
                count=len(mine),
                confidence=round(max(span.score for span in mine), 2),
                evidence=_masked_line(segment.text, line_start, spans),
                remediation=_OUTPUT_REMEDIATION if outputs else info.remediation,
            )
        )
    return findings


def _masked_line(text: str, line_start: int, spans: list[EntitySpan]) -> str:
    """The first occurrence's line with every entity on it replaced by its name."""
    line_end = text.find("\n", line_start)
    line_end = len(text) if line_end < 0 else line_end
    pieces: list[str] = []
    cursor = line_start
    for span in spans:
        if span.start < line_start or span.end > line_end:
            continue
        pieces.append(text[cursor : span.start])
        pieces.append(f"<{span.entity}>")
        cursor = span.end
    pieces.append(text[cursor:line_end])
    return "".join(pieces).strip()[:160]
