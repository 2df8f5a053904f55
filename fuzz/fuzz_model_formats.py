"""Coverage-guided fuzzing of every model-format handler (pickle, containers, Keras, ONNX, GGUF, ...).

    make fuzz                                   # each run bounded by FUZZ_SECONDS (default 60)
    .venv/bin/python fuzz/fuzz_model_formats.py -max_total_time=600 fuzz/corpus

Each input picks a handler by its first byte and feeds it the rest. A handler may only return
findings or raise ``ScanError``; any other exception, a hang (``-timeout``) or memory beyond
``-rss_limit_mb`` is a crash that libFuzzer reports with the input that caused it.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from bastion.scanners import ScanError
    from bastion.scanners.models import Budget, Limits, ModelContext, handler_for
    from bastion.scanners.models.scanner import _HANDLERS

FORMATS = sorted(_HANDLERS)
# Small limits keep each input cheap; the limits themselves are part of what is fuzzed.
LIMITS = Limits(max_depth=4, max_members=10_000, max_decompressed=64 * 1024 * 1024, max_pickle_opcodes=2_000_000)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    handler = handler_for(FORMATS[data[0] % len(FORMATS)])
    assert handler is not None
    with contextlib.suppress(ScanError):  # the one exception a handler may raise
        handler(data[1:], ModelContext("fuzz", budget=Budget(LIMITS)))


def main() -> None:
    atheris.Setup([*sys.argv, "-timeout=10", "-rss_limit_mb=3072"], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
