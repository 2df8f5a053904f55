"""The ML-BOM of a package: a CycloneDX 1.6 BOM with the model, its files' SHA-256 and its model card, and the datasets.

cyclonedx-python-lib builds the BOM; it has the ``machine-learning-model`` and ``data`` component types but not yet
their ``modelCard`` and ``data`` fields, which are added to its JSON output (and the result is checked against the
CycloneDX 1.6 schema in the tests). The model's file digests are those of an OMS signature of the model
(``bastion.signing.hash_model``), so the BOM and a signature vouch for the same bytes. Nothing in it depends on when
or where the package was built: the serial number is derived from the content and there is no timestamp.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from bastion.core import BastionError, Kind
from bastion.signing.kitfile import DataSet, Kitfile, ModelCardFacts

MEDIA_TYPE = "application/vnd.cyclonedx+json"
"""The BOM layer's media type."""

MODEL_REF = "model"
"""The ``bom-ref`` of the machine-learning-model component."""


def build_mlbom(
    directory: Path, kitfile: Kitfile, ignored: Mapping[str, tuple[str, ...]], metrics: Mapping[str, float] | None = None
) -> bytes:
    """The ML-BOM (CycloneDX 1.6 JSON) of the package built from ``directory`` with ``kitfile``.

    ``ignored`` gives, for each entry path, the paths below it that its layer leaves out; ``metrics`` (name to value)
    become the model card's performance metrics.
    """
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    from bastion import __version__

    package = kitfile.package
    name = package.name or directory.resolve().name
    bom = Bom()
    root = Component(name=name, version=package.version, type=ComponentType.APPLICATION, bom_ref="package")
    bom.metadata.component = root
    bom.metadata.tools.components.add(Component(name="bastion", version=__version__, type=ComponentType.APPLICATION))
    datasets = {f"dataset:{d.path}": d for d in kitfile.datasets}
    model = kitfile.model
    if model is not None:
        paths = [model.path, *(part.path for part in model.parts)]
        files = {path: digest for entry in paths for path, digest in file_digests(directory, entry, ignored[entry]).items()}
        bom.components.add(
            _with_files(
                Component(
                    name=model.name or name,
                    version=model.version,
                    type=ComponentType.MACHINE_LEARNING_MODEL,
                    bom_ref=MODEL_REF,
                    description=model.description,
                ),
                files,
            )
        )
    for ref, dataset in datasets.items():
        files = file_digests(directory, dataset.path, ignored[dataset.path])
        component = Component(
            name=dataset.name or dataset.path, type=ComponentType.DATA, bom_ref=ref, description=dataset.description
        )
        bom.components.add(_with_files(component, files))
    bom.register_dependency(root, bom.components)
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    for component in document.get("components", []):
        if component["bom-ref"] == MODEL_REF:
            component["modelCard"] = _model_card(kitfile.model_card(), list(datasets), metrics or {})
        elif component["bom-ref"] in datasets:
            component["data"] = [_component_data(datasets[component["bom-ref"]])]
    libraries = _dependency_components(directory, kitfile, ignored)
    if libraries:
        document["components"].extend(libraries)
        root_dependencies = next(d for d in document["dependencies"] if d["ref"] == "package")
        root_dependencies["dependsOn"] = sorted([*root_dependencies.get("dependsOn", []), *(c["bom-ref"] for c in libraries)])
    document.pop("serialNumber", None)
    document["metadata"].pop("timestamp", None)
    content = json.dumps(document, sort_keys=True, ensure_ascii=False).encode("utf-8")
    document["serialNumber"] = f"urn:uuid:{uuid.UUID(bytes=hashlib.sha256(content).digest()[:16], version=5)}"
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def file_digests(directory: Path, entry: str, ignored: tuple[str, ...]) -> dict[str, str]:
    """SHA-256 of each file of entry ``entry``, keyed by its path below ``directory``: the OMS digests of the entry."""
    from bastion.signing.hashing import hash_model

    manifest = hash_model(directory / entry, ignore_paths=ignored)
    prefix = PurePosixPath(entry)
    return {(prefix if r.name == "." else prefix / r.name).as_posix(): r.digest for r in manifest.resources}


def read_metrics(path: Path) -> dict[str, float]:
    """Performance metrics from a JSON file holding one object of metric names to numbers (``{"accuracy": 0.93}``)."""
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise BastionError(f"{path}: metrics file not found; check the path") from None
    except (OSError, ValueError) as exc:
        raise BastionError(f"{path}: cannot read the metrics as JSON: {exc}") from None
    if not isinstance(document, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in document.values()
    ):
        raise BastionError(f'{path}: metrics must be one JSON object of names to numbers, like {{"accuracy": 0.93}}')
    return {str(k): float(v) for k, v in document.items()}


def _dependency_components(directory: Path, kitfile: Kitfile, ignored: Mapping[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """The library components of the dependency manifests packed in the code entries, as ``bastion sbom`` writes them
    (without vulnerabilities: those change daily, the package does not), declared-in paths relative to the package."""
    from bastion.scanners.code.dependencies.sbom import build_sbom, collect
    from bastion.scanners.detect import HEAD_SIZE, detect
    from bastion.signing._layers import list_entry_files

    manifests: dict[str, str] = {}
    for code in kitfile.code:
        for file in list_entry_files(directory, code.path, ignored[code.path]).files:
            try:
                with file.path.open("rb") as handle:
                    head = handle.read(HEAD_SIZE)
            except OSError as exc:
                raise BastionError(f"{file.path}: cannot read: {exc.strerror or exc}") from None
            if detect(file.path, head, file.size).kind is Kind.DEPENDENCIES:
                manifests[str(file.path)] = file.path.relative_to(directory).as_posix()
    if not manifests:
        return []
    components: list[dict[str, Any]] = json.loads(build_sbom(collect(list(manifests)), None)).get("components", [])
    for component in components:
        for prop in component.get("properties", []):
            prop["value"] = manifests.get(prop["value"], prop["value"])
    return components


def _with_files(component: Any, files: Mapping[str, str]) -> Any:
    """``component`` with one ``file`` sub-component per file and its SHA-256; a single file's hash is also its own."""
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import Component, ComponentType

    def hashes(digest: str) -> list[HashType]:
        return [HashType(alg=HashAlgorithm.SHA_256, content=digest)]

    if len(files) == 1:
        component.hashes = hashes(next(iter(files.values())))
    component.components = [
        Component(name=path, type=ComponentType.FILE, bom_ref=f"file:{path}", hashes=hashes(digest))
        for path, digest in sorted(files.items())
    ]
    return component


def _model_card(facts: ModelCardFacts, dataset_refs: list[str], metrics: Mapping[str, float]) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "approach": {"type": facts.approach} if facts.approach else None,
        "task": facts.task,
        "architectureFamily": facts.architectureFamily,
        "modelArchitecture": facts.modelArchitecture,
        "datasets": [{"ref": ref} for ref in dataset_refs],
    }
    considered = facts.considerations
    considerations: dict[str, Any] = {
        "users": list(considered.users),
        "useCases": list(considered.useCases),
        "technicalLimitations": list(considered.technicalLimitations),
        "performanceTradeoffs": list(considered.performanceTradeoffs),
        "ethicalConsiderations": [{"name": risk} for risk in considered.ethicalConsiderations],
    }
    card: dict[str, Any] = {
        "bom-ref": "model-card",
        "modelParameters": _present(parameters),
        "quantitativeAnalysis": (
            {"performanceMetrics": [{"type": k, "value": f"{v:g}"} for k, v in sorted(metrics.items())]} if metrics else None
        ),
        "considerations": _present(considerations),
    }
    return _present(card)


def _component_data(dataset: DataSet) -> dict[str, Any]:
    return _present({"type": "dataset", "name": dataset.name or dataset.path, "description": dataset.description})


def _present(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without the empty ones (CycloneDX leaves absent what is unknown)."""
    return {k: v for k, v in values.items() if v not in (None, [], {})}
