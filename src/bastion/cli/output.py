"""Writing a command's result to stdout or, atomically, to a file."""

from __future__ import annotations

import sys
from pathlib import Path

from bastion.core import BastionError, atomic_write


def emit(text: str, output: Path | None) -> None:
    """Print ``text``, or write it to ``output`` atomically (never half a file)."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    if output.is_dir():
        raise BastionError(f"{output}: is a directory; give a file name for -o")
    if not output.parent.exists():
        raise BastionError(f"{output.parent}: no such directory for -o; create it first")
    try:
        atomic_write(output, text.encode("utf-8"))
    except OSError as exc:
        raise BastionError(f"{output}: cannot write: {exc.strerror or exc}") from None
