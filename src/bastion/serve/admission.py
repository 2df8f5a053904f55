"""Admission: a version is served only if the registry has it APPROVED (and in the stage asked for), its package still
is the one registered (manifest and signature digests), its signature verifies against a key the registry trusts,
its model files pass the model scanner, and its model loads from a safe format. Every check runs on a private copy
of the package, so nothing can change the files between the check and the load; every outcome is audited.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError
from bastion.registry import RegistryError, Stage, Status
from bastion.serve.config import ModelReference

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bastion.ml.schema import ModelSchema
    from bastion.registry import TrustedSigner
    from bastion.serve.validation import RequestValidator


class AdmissionRefused(BastionError):
    """A version the server will not load; the message says which check failed and what to do."""


@dataclass(frozen=True)
class VersionRecord:
    """What the registry says about one version."""

    name: str
    """The model."""
    version: int
    """The version number."""
    status: str
    """``pending``, ``approved`` or ``rejected``."""
    stage: str
    """``dev``, ``staging``, ``prod`` or ``archived``."""
    package_digest: str
    """The registered package's manifest digest."""
    signature_digest: str
    """The registered signature file's digest."""
    artifact_uri: str
    """Where the package is (``file://`` URI)."""


@dataclass(frozen=True)
class ServedVersion:
    """A version that passed admission, loaded and ready to answer."""

    name: str
    """The model."""
    version: int
    """The version number."""
    stage: str
    """Its stage when admitted."""
    package_digest: str
    """The package it was loaded from."""
    model: Any
    """The estimator, loaded by ``bastion.ml.persist.load_model``."""
    schema: ModelSchema
    """Its inputs, classes and positive label."""
    validator: RequestValidator
    """The schema's compiled checks."""

    @property
    def positive_column(self) -> int | None:
        """The column of ``predict_proba`` that is the score (the positive label's), None without probabilities."""
        if not hasattr(self.model, "predict_proba"):
            return None
        classes = [str(c) for c in getattr(self.model, "classes_", ())]
        label = self.schema.positive_label
        return classes.index(label) if label in classes else len(classes) - 1 if classes else None


def resolve(engine: Engine, reference: ModelReference) -> VersionRecord:
    """The version ``reference`` names now: an exact version, an alias's target, or the newest version in a stage."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from bastion.registry.schema import Alias, ModelVersion, RegisteredModel

    with Session(engine) as session, session.begin():
        model = session.scalars(select(RegisteredModel).where(RegisteredModel.name == reference.name)).one_or_none()
        if model is None:
            raise AdmissionRefused(f"{reference}: no model {reference.name!r} in the registry; 'bastion models list' shows them")
        if reference.alias is not None:
            alias = session.get(Alias, (model.id, reference.alias))
            if alias is None:
                raise AdmissionRefused(f"{reference}: model {reference.name} has no alias @{reference.alias}")
            row = alias.version
        else:
            query = select(ModelVersion).where(ModelVersion.model_id == model.id)
            if reference.version is not None:
                query = query.where(ModelVersion.version == reference.version)
            else:  # the newest approved version in the stage, else the newest (which admission then refuses, saying why)
                approved = ModelVersion.status == Status.APPROVED.value
                query = query.where(ModelVersion.stage == str(reference.stage)).order_by(
                    approved.desc(), ModelVersion.version.desc()
                )
            found = session.scalars(query.limit(1)).first()
            if found is None:
                wanted = f"version {reference.version}" if reference.version is not None else f"version in {reference.stage}"
                raise AdmissionRefused(f"{reference}: model {reference.name} has no {wanted}; promote one first")
            row = found
        return VersionRecord(
            reference.name, row.version, row.status, row.stage, row.package_digest, row.signature_digest, row.artifact_uri
        )


def version_record(engine: Engine, name: str, version: int) -> VersionRecord:
    """The registry's record of ``name:version``."""
    return resolve(engine, ModelReference(name, version=version))


def admit(engine: Engine, record: VersionRecord, *, tolerance: float, max_batch: int, checked: bool = True) -> ServedVersion:
    """Run every check on ``record``'s package and load it; ``AdmissionRefused`` names the first check that failed."""
    from bastion.audit import record as audit
    from bastion.serve.validation import RequestValidator

    target = f"{record.name}:{record.version}"
    try:
        loaded = _admit(engine, record)
    except AdmissionRefused as exc:
        audit("serve.admit", target=target, outcome="refused", details={"reason": str(exc)}, actor="bastion-serve")
        raise
    audit("serve.admit", target=target, details={"package_digest": record.package_digest}, actor="bastion-serve")
    validator = RequestValidator(loaded.schema, tolerance=tolerance, max_batch=max_batch, checked=checked)
    return ServedVersion(record.name, record.version, record.stage, record.package_digest, loaded.model, loaded.schema, validator)


@dataclass(frozen=True)
class _Loaded:
    model: Any
    schema: ModelSchema


def _admit(engine: Engine, record: VersionRecord) -> _Loaded:
    from bastion.ml.persist import load_model
    from bastion.ml.schema import FILE_NAME, ModelSchema
    from bastion.registry import approval_problem
    from bastion.registry.admission import scan_model_files, verify_package_signature
    from bastion.signing import default_signature_path, read_package, unpack_package

    target = f"{record.name}:{record.version}"
    if record.status != Status.APPROVED.value:
        raise AdmissionRefused(
            f"{target} is not approved (status {record.status}); an approver runs "
            f"'bastion models approve {record.name} {record.version}'"
        )
    if record.stage == Stage.ARCHIVED.value:
        raise AdmissionRefused(f"{target} is archived; serve a live version")
    problem = approval_problem(engine, record.name, record.version, Stage(record.stage))
    if problem is not None:
        raise AdmissionRefused(problem)
    package = _package_path(record)
    signers = _trusted_signers(engine)
    source_signature = default_signature_path(package)
    if not source_signature.is_file():
        raise AdmissionRefused(f"{target}: no signature at {source_signature}; a served package must stay signed")
    with tempfile.TemporaryDirectory(prefix="bastion-serve-") as private:
        copy = Path(private) / "package"
        signature = default_signature_path(copy)
        try:
            shutil.copytree(package, copy, symlinks=True)
            shutil.copyfile(source_signature, signature)
        except OSError as exc:
            raise AdmissionRefused(
                f"{target}: cannot read the package {package} or its signature ({exc.strerror or exc})"
            ) from None
        try:
            verify_package_signature(copy, signature, signers)
            if _digest(signature) != record.signature_digest:
                raise AdmissionRefused(f"{target}: the signature differs from the one registered; the package was replaced")
            kit = read_package(copy)
            if kit.digest != record.package_digest:
                raise AdmissionRefused(
                    f"{target}: the package ({kit.digest}) is not the one approved ({record.package_digest}); it was "
                    "replaced after approval"
                )
            scan_model_files(copy)
            unpacked = Path(private) / "model"
            unpack_package(copy, unpacked)
            if kit.kitfile.model is None:
                raise AdmissionRefused(f"{target}: the package holds no model")
            model = load_model(unpacked / kit.kitfile.model.path)
            schema = ModelSchema.read(unpacked / FILE_NAME)
        except RegistryError as exc:
            raise AdmissionRefused(f"{target}: {exc}") from None
        except AdmissionRefused:
            raise
        except BastionError as exc:
            raise AdmissionRefused(f"{target}: {exc}") from None
    return _Loaded(model, schema)


def _package_path(record: VersionRecord) -> Path:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(record.artifact_uri)
    if parsed.scheme != "file":
        raise AdmissionRefused(
            f"{record.name}:{record.version}: package at {record.artifact_uri}; only local packages are served"
        )
    return Path(unquote(parsed.path))


def _trusted_signers(engine: Engine) -> list[TrustedSigner]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from bastion.registry import TrustedSigner
    from bastion.registry.schema import TrustedKey

    with Session(engine) as session, session.begin():
        return [TrustedSigner(key.key_id, key.public_pem) for key in session.scalars(select(TrustedKey))]


def _digest(path: Path) -> str:
    return f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"
