"""Presidio on the benchmark table, run inside the "pii" anchor venv (it imports nothing of Bastion).

    python _presidio_pii.py TABLE.parquet ROWS STRUCTURED_SAMPLE

Presidio's NLP engine is spaCy; with no model downloaded, it gets a blank English pipeline (tokenizer only),
so only the pattern recognizers (and the phone recognizer, on the phonenumbers library) find anything: the
configuration the issue's anchor measured. Prints one JSON object: timings, and per column the share of cells
in which each entity was found (with its best score), for the batch analyzer and presidio-structured's mapping.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

# Presidio's e-mail recognizer asks tldextract, which would fetch the public suffix list from the internet;
# an empty URL list makes it use the snapshot inside its wheel.
os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""


def engine() -> Any:
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankSpacyEngine(SpacyNlpEngine):  # type: ignore[misc]
        """spaCy without a trained model: tokenizer only, nothing downloaded."""

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    nlp = BlankSpacyEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    nlp.load()
    return AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])


def main() -> int:
    path, rows, structured_sample = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    import pyarrow.parquet as pq
    from presidio_analyzer import BatchAnalyzerEngine

    table = pq.read_table(path).slice(0, rows)
    columns = {name: [None if v is None else str(v) for v in table.column(name).to_pylist()] for name in table.column_names}
    started = time.perf_counter()
    analyzer = engine()
    setup_s = time.perf_counter() - started

    batch = BatchAnalyzerEngine(analyzer_engine=analyzer)
    started = time.perf_counter()
    per_column: dict[str, dict[str, list[float]]] = {}
    for result in batch.analyze_dict({k: [v or "" for v in vs] for k, vs in columns.items()}, language="en"):
        best: dict[str, list[float]] = {}
        for cell_results in result.recognizer_results:
            cell_best: dict[str, float] = {}
            for found in cell_results:
                cell_best[found.entity_type] = max(cell_best.get(found.entity_type, 0.0), found.score)
            for entity, score in cell_best.items():
                best.setdefault(entity, []).append(score)
        per_column[result.key] = best
    batch_s = time.perf_counter() - started

    structured: dict[str, Any] = {}
    try:
        import pandas as pd
        from presidio_structured import PandasAnalysisBuilder

        frame = pd.DataFrame(columns)
        started = time.perf_counter()
        analysis = PandasAnalysisBuilder(analyzer=analyzer).generate_analysis(frame, n=min(structured_sample, len(frame)))
        structured = {"mapping": analysis.entity_mapping, "seconds": time.perf_counter() - started}
    except Exception as exc:  # the anchor's failure is a result, not a crash of the benchmark
        structured = {"error": f"{type(exc).__name__}: {exc}"}

    print(
        json.dumps(
            {
                "rows": table.num_rows,
                "setup_s": setup_s,
                "batch_s": batch_s,
                "cells": {k: sum(v is not None and v != "" for v in vs) for k, vs in columns.items()},
                "scores": per_column,
                "structured": structured,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
