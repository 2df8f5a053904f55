"""Model-file scanners: pickles and their containers, Keras, SavedModel, ONNX, GGUF, safetensors."""

from bastion.scanners.models.context import Budget, LimitExceeded, Limits, ModelContext
from bastion.scanners.models.scanner import Handler, ModelBuffer, ModelScanner, handler_for, scan_member

__all__ = [
    "Budget",
    "Handler",
    "LimitExceeded",
    "Limits",
    "ModelBuffer",
    "ModelContext",
    "ModelScanner",
    "handler_for",
    "scan_member",
]
