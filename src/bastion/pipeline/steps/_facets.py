"""The project's sensitive facets as ``bastion.ml.bias`` takes them, and bias measures as gate metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from bastion.pipeline.interface import StepError

if TYPE_CHECKING:
    from bastion.ml.bias import BiasReport, Facet
    from bastion.pipeline.spec import FacetSpec


def facet(spec: FacetSpec, columns: Sequence[str], where: str) -> Facet:
    """The facet of ``spec``, after checking that its column is in the table."""
    from bastion.ml.bias import Facet

    if spec.column not in columns:
        raise StepError(
            f"{where}: no facet column {spec.column!r}; its columns are {', '.join(columns)} "
            "(fix inputs.facets, or keep the column in the anonymization policy)"
        )
    return Facet(column=spec.column, sensitive=tuple(spec.sensitive), threshold=spec.threshold)


def bias_metrics(reports: Sequence[BiasReport], *, post: bool) -> Mapping[str, float | None]:
    """Each measure as ``CODE[facet]`` (``DPL[sex]``), the names a policy's thresholds use."""
    return {
        f"{code}[{report.facet}]": value
        for report in reports
        for code, value in report.to_dict()["post" if post else "pre"].items()  # as JSON numbers: NaN is None
    }
