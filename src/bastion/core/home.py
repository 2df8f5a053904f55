"""Where Bastion keeps its state (database, audit log, keys, local store)."""

from __future__ import annotations

import os
from pathlib import Path

HOME_VARIABLE = "BASTION_HOME"


def bastion_home() -> Path:
    """``$BASTION_HOME``, or ``.bastion/`` in the working directory."""
    return Path(os.environ.get(HOME_VARIABLE) or ".bastion")
