"""register: the signed package kept in the instance (``BASTION_HOME/packages/DIGEST/``: the run's work area is
temporary) and registered as the next version of the model, PENDING approval by another role. It runs on every run
(not cached); registration is skipped, not failed, without a token or when disabled."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError, atomic_write
from bastion.pipeline.interface import Step, StepContext, StepError, StepResult
from bastion.pipeline.spec import PipelineSpec

if TYPE_CHECKING:
    from bastion.registry import Principal, Registry, VersionView

TOKEN_VARIABLE = "BASTION_TOKEN"


class RegisterStep(Step):
    """Details ``registry`` (``name``, ``version``, ``status``; None when skipped), and ``package`` and ``signature``
    at their kept paths."""

    name = "register"
    needs = ("sign", "package")
    cacheable = False

    def params(self, spec: PipelineSpec) -> Mapping[str, Any]:
        return {"name": _model_name(spec), "enabled": spec.steps.register.enabled, "registry": spec.registry}

    def run(self, context: StepContext) -> StepResult:
        from bastion.registry import Registry

        package, signature = self._keep(context)
        kept = {
            "package": {**context.upstream["package"].details.get("package", {}), "path": str(package)},
            "signature": {**context.upstream["sign"].details.get("signature", {}), "path": str(signature)},
        }
        if not context.spec.steps.register.enabled:
            return _skipped("registration is off (steps.register.enabled: false)", kept)
        token = os.environ.get(TOKEN_VARIABLE)
        if not token:
            return _skipped(f"no {TOKEN_VARIABLE} in the environment: the signed package was not registered", kept)
        name = _model_name(context.spec)
        try:
            registry = Registry.open(context.spec.registry)
            try:
                principal = registry.authenticate(token)
                version = _existing(registry, principal, name, package) or registry.register(
                    principal, package, name, signature=signature, source_run=context.run_id
                )
            finally:
                registry.close()
        except BastionError as exc:
            raise StepError(f"registering {name}: {exc}") from None
        status = version.status.upper()
        return StepResult(
            status="passed",
            details={**kept, "registry": {"name": version.name, "version": version.version, "status": status}},
            message=f"registered {version.name}:{version.version} ({version.package_digest}), {status}",
        )

    def _keep(self, context: StepContext) -> tuple[Path, Path]:
        """The package and its signature copied to ``BASTION_HOME/packages/DIGEST/`` (once: the same digest is the
        same package); the registry records that location."""
        from bastion.signing import read_package

        package = context.output("package", "package")
        digest = read_package(package).digest.removeprefix("sha256:")
        kept = context.home / "packages" / digest
        if not kept.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=kept.parent))
            try:
                shutil.copytree(package, staging / "package")
                staging.rename(kept)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        signature = context.output("sign", "signature").read_bytes()
        kept_signature = kept / "package.sig"
        if not kept_signature.exists() or kept_signature.read_bytes() != signature:  # another key signed it since
            atomic_write(kept_signature, signature)
        return kept / "package", kept_signature


def _existing(registry: Registry, principal: Principal, name: str, package: Path) -> VersionView | None:
    """The version of ``name`` that already holds this exact package (a rerun of an unchanged pipeline)."""
    from bastion.registry import RegistryError
    from bastion.signing import read_package

    digest = read_package(package).digest
    try:
        model = registry.show_model(principal, name)
    except RegistryError:
        return None
    return next((v for v in model.versions if v.package_digest == digest), None)


def _model_name(spec: PipelineSpec) -> str:
    return spec.steps.register.name or spec.name


def _skipped(reason: str, kept: Mapping[str, Any]) -> StepResult:
    where = kept["package"]["path"]
    return StepResult(
        status="passed", details={**kept, "registry": None}, message=f"skipped: {reason}; the signed package is in {where}"
    )
