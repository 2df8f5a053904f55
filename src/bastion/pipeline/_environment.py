"""Where a step ran: Python, platform and the versions of the libraries that decide its result."""

from __future__ import annotations

from typing import Any

RELEVANT_PACKAGES = (
    "bastion-mlsecops",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "duckdb",
    "scikit-learn",
    "skops",
    "xgboost",
    "lightgbm",
    "shap",
    "presidio-analyzer",
    "model-signing",
    "dask",
    "distributed",
)
"""Installed ones are recorded; the others are left out rather than recorded as missing."""


def capture_environment() -> dict[str, Any]:
    import platform
    import sys
    from importlib import metadata

    packages = {}
    for name in RELEVANT_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": packages}
