"""What a package must pass before it becomes a version: a signature from a trusted key over exactly its files, and a
re-scan of its model files with nothing at or above high."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bastion.core import BastionError, Severity
from bastion.registry.errors import RegistryError

REFUSED_AT = Severity.HIGH
"""A model file with a finding at or above this severity is never registered."""


@dataclass(frozen=True)
class TrustedSigner:
    """A key the registry accepts package signatures from."""

    key_id: str
    """First 16 hex digits of the SHA-256 of the key's DER form."""
    public_pem: str
    """The PEM public key."""


@dataclass(frozen=True)
class AdmittedPackage:
    """A package that passed admission, with what the registry records of it."""

    digest: str
    """``sha256:<hex>`` of the package's OCI manifest."""
    signature_digest: str
    """``sha256:<hex>`` of the signature file that verified."""
    signer_key_id: str
    """The trusted key that signed it."""
    metrics: dict[str, float]
    """The ML-BOM's performance metrics."""
    model_card: dict[str, Any]
    """The ML-BOM's CycloneDX model card."""


def admit_package(package: Path, signature: Path, signers: Sequence[TrustedSigner]) -> AdmittedPackage:
    """Verify, read and re-scan ``package``; a ``RegistryError`` names the first reason to refuse it."""
    from bastion.signing import read_package

    signer = verify_package_signature(package, signature, signers)
    try:
        kit = read_package(package)
        scan_model_files(package)
    except RegistryError:
        raise
    except BastionError as exc:  # a damaged package: refused like any other
        raise RegistryError(str(exc)) from None
    card = _model_card(kit.bom(), package)
    return AdmittedPackage(
        digest=kit.digest,
        signature_digest=f"sha256:{hashlib.sha256(signature.read_bytes()).hexdigest()}",
        signer_key_id=signer,
        metrics=_metrics(card),
        model_card=card,
    )


def verify_package_signature(package: Path, signature: Path, signers: Sequence[TrustedSigner]) -> str:
    """The key id of the trusted signer whose OMS signature ``signature`` holds over exactly ``package``'s files."""
    from bastion.signing import verify_model

    if not signers:
        raise RegistryError("no trusted signing key; an admin adds one with 'bastion keys trust PUBLIC.pem'")
    if not signature.is_file():
        raise RegistryError(f"{signature}: no signature; sign the package with 'bastion sign {package} --key PRIVATE.pem'")
    with tempfile.TemporaryDirectory(prefix="bastion-trusted-") as directory:
        for signer in signers:
            key = Path(directory) / f"{signer.key_id}.pem"
            key.write_text(signer.public_pem)
            try:
                result = verify_model(package, key, signature)
            except BastionError as exc:
                raise RegistryError(str(exc)) from None
            if result.valid:
                return signer.key_id
            if result.problem is None:  # this signer's signature, over other files
                raise RegistryError(f"{package}: changed since it was signed ({result.summary()}); rebuild and sign it again")
    raise RegistryError(f"{signature}: not signed by a trusted key; an admin trusts the signer with 'bastion keys trust'")


def scan_model_files(package: Path) -> None:
    """Unpack the package's model and model parts and scan them with the model scanner; refuse any finding at or above
    ``REFUSED_AT`` and any file that could not be scanned completely."""
    from bastion.scanners import scan_paths
    from bastion.scanners.models import ModelScanner
    from bastion.signing import unpack_package

    with tempfile.TemporaryDirectory(prefix="bastion-admission-") as directory:
        target = Path(directory) / "package"
        kit = unpack_package(package, target)
        paths = [str(target / entry.path) for kind, entry in kit.kitfile.entries() if kind in ("model", "modelpart")]
        if not paths:
            raise RegistryError(f"{package}: the package holds no model; build it from a directory with a model file")
        report = scan_paths(paths, scanners=[ModelScanner()], jobs=1)
        for artifact in report.incomplete:
            where = Path(artifact.path).relative_to(target)
            raise RegistryError(f"{package}: model file {where} could not be scanned completely ({artifact.error}); refused")
        for finding in report.findings:
            if finding.severity.rank >= REFUSED_AT.rank:
                where = Path(finding.location.path).relative_to(target)
                raise RegistryError(
                    f"{package}: model file {where}: {finding.severity.value} finding {finding.rule_id} ({finding.message}); "
                    "refused"
                )


def _model_card(bom: bytes, package: Path) -> dict[str, Any]:
    try:
        document = json.loads(bom)
    except ValueError:
        raise RegistryError(f"{package}: the ML-BOM is not JSON; rebuild the package") from None
    components = document.get("components") if isinstance(document, dict) else None
    for component in components if isinstance(components, list) else []:
        if isinstance(component, dict) and component.get("type") == "machine-learning-model":
            card = component.get("modelCard")
            return card if isinstance(card, dict) else {}
    return {}


def _metrics(card: dict[str, Any]) -> dict[str, float]:
    analysis = card.get("quantitativeAnalysis")
    listed = analysis.get("performanceMetrics") if isinstance(analysis, dict) else None
    metrics = {}
    for metric in listed if isinstance(listed, list) else []:
        try:
            metrics[str(metric["type"])] = float(metric["value"])
        except (KeyError, TypeError, ValueError):
            continue
    return metrics
