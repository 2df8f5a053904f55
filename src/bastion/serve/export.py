"""ONNX export of an admitted version for edge devices (``bastion models export NAME VERSION --format onnx``).

The version passes the server's admission first; skl2onnx converts the loaded scikit-learn model (one float32 input
``input`` of shape [N, features], outputs ``label`` and ``probabilities``), and ONNX Runtime then scores the schema's
example row and rows drawn inside the training ranges: the file is written only when its probabilities match the
skops model's within ``TOLERANCE`` and its classes match wherever the decision is not that close to a tie.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError

if TYPE_CHECKING:
    import numpy as np

    from bastion.ml.schema import ModelSchema
    from bastion.serve.admission import ServedVersion

TOLERANCE = 1e-4
"""Largest difference allowed between a probability from ONNX Runtime (float32) and from scikit-learn (float64)."""
CHECK_ROWS = 256
"""Rows drawn inside the training ranges for the parity check, besides the schema's example row."""
INPUT_NAME = "input"


@dataclass(frozen=True)
class ExportReport:
    """An exported version and its parity check."""

    model: str
    """The model's name."""
    version: int
    """The version exported."""
    output: str
    """The ONNX file written."""
    opset: int
    """The ONNX default-domain opset of the file."""
    inputs: tuple[str, ...]
    """The feature order of the ``input`` tensor's columns."""
    rows_checked: int
    """Rows scored by both models."""
    max_probability_difference: float | None
    """Largest difference between their probabilities (None for models without probabilities)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def export_onnx(served: ServedVersion, output: Path, *, seed: int = 0) -> ExportReport:
    """Convert ``served`` to ONNX, check it against the loaded model, and write it to ``output`` atomically."""
    import numpy as np

    from bastion.core import atomic_write

    target = f"{served.name}:{served.version}"
    if any(field.type == "string" for field in served.schema.inputs):
        raise BastionError(f"{target}: text inputs are not exported to ONNX yet; only models with numeric inputs are")
    onnx_model = _converted(served, target)
    rows = _check_rows(served.schema, seed)
    difference = _parity(served, onnx_model.SerializeToString(), rows, target)
    try:
        atomic_write(output, onnx_model.SerializeToString())
    except OSError as exc:
        raise BastionError(f"{output}: cannot write the ONNX file ({exc.strerror or exc}); give a writable path") from None
    opset = next((o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return ExportReport(
        served.name,
        served.version,
        str(output),
        int(opset),
        tuple(field.name for field in served.schema.inputs),
        int(rows.shape[0]),
        None if difference is None else float(np.round(difference, 9)),
    )


def _converted(served: ServedVersion, target: str) -> Any:
    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError:
        raise BastionError("ONNX export needs skl2onnx and onnxruntime: pip install 'bastion-mlsecops[export]'") from None
    features = len(served.schema.inputs)
    try:
        return to_onnx(served.model, initial_types=[(INPUT_NAME, FloatTensorType([None, features]))], options={"zipmap": False})
    except (RuntimeError, NotImplementedError, ValueError, TypeError) as exc:  # skl2onnx's ways of saying "no converter"
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BastionError(f"{target}: skl2onnx cannot convert {type(served.model).__name__} ({message})") from None


def _check_rows(schema: ModelSchema, seed: int) -> np.ndarray:
    """The example row, then ``CHECK_ROWS`` rows uniform inside each input's training range (integers rounded)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    columns = []
    for field in schema.inputs:
        example = float(field.example) if field.example is not None else 0.0
        low = field.minimum if field.minimum is not None else example - 1.0
        high = field.maximum if field.maximum is not None else example + 1.0
        drawn = rng.uniform(low, high, CHECK_ROWS)
        if field.type in ("integer", "boolean"):
            drawn = np.round(drawn)
        columns.append(np.concatenate([[example], drawn]))
    return np.column_stack(columns).astype(np.float64)


def _parity(served: ServedVersion, onnx_bytes: bytes, rows: np.ndarray, target: str) -> float | None:
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {INPUT_NAME: rows.astype(np.float32)})
    labels = np.asarray(outputs[0]).astype(str)
    model = served.model
    expected = np.asarray(model.predict(rows)).astype(str)
    if not hasattr(model, "predict_proba"):
        if not np.array_equal(labels, expected):
            raise BastionError(f"{target}: the ONNX model's classes differ from the model's; not exported")
        return None
    probabilities = np.asarray(outputs[1], dtype=np.float64)
    reference = model.predict_proba(rows)
    difference = float(np.max(np.abs(probabilities - reference)))
    if difference > TOLERANCE:
        raise BastionError(f"{target}: ONNX probabilities differ from the model's by up to {difference:.2g}; not exported")
    ordered = np.sort(reference, axis=1)
    decided = ordered[:, -1] - ordered[:, -2] > 2 * TOLERANCE if reference.shape[1] > 1 else np.ones(len(rows), bool)
    if not np.array_equal(labels[decided], expected[decided]):
        raise BastionError(f"{target}: the ONNX model's classes differ from the model's; not exported")
    return difference
