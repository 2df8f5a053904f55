"""sign: the package signed in the OpenSSF Model Signing (OMS) format with the instance's signing key (or the
project's ``steps.sign.key``), then verified against it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bastion.pipeline.interface import Step, StepContext, StepError, StepResult
from bastion.pipeline.spec import PipelineSpec


class SignStep(Step):
    """Outputs the ``signature`` and the ``public_key`` that verifies it; details ``signature`` and ``package``."""

    name = "sign"
    needs = ("package",)

    def params(self, spec: PipelineSpec) -> Mapping[str, Any]:
        return {"key": spec.steps.sign.key}

    def inputs(self, context: StepContext) -> Mapping[str, Path]:
        return {"key": self._private_key(context)}

    def run(self, context: StepContext) -> StepResult:
        from bastion.audit.signer import key_id, public_pem
        from bastion.core import atomic_write
        from bastion.signing import hash_file, load_private_key, passphrase_from_environment, sign_model, verify_model
        from bastion.signing.keys import PUBLIC_KEY_FILE

        package = context.output("package", "package")
        private_key = self._private_key(context)
        signed = sign_model(package, private_key, context.workdir / "package.sig", passphrase_from_environment())
        public = load_private_key(private_key, passphrase_from_environment()).public_key()
        public_key = context.workdir / "public.pem"
        atomic_write(public_key, public_pem(public))
        # The instance's own public key is the one the registry trusts: check against it, not just against the pair.
        trusted = context.home / "keys" / "signing" / PUBLIC_KEY_FILE if context.spec.steps.sign.key is None else public_key
        verification = verify_model(package, trusted, signed.signature)
        if not verification.valid:
            raise StepError(f"{package}: the signature just made does not verify: {verification.summary()}")
        signer = key_id(public)
        details = {
            "signature": {
                "path": str(signed.signature),
                "sha256": hash_file(signed.signature),
                "verified": True,
                "signer": signer,
            },
            "package": {"path": str(package), "digest": context.upstream["package"].details.get("package", {}).get("digest")},
        }
        return StepResult(
            status="passed",
            outputs={"signature": signed.signature, "public_key": public_key},
            details=details,
            message=f"signed {len(signed.manifest.resources)} file(s) with key {signer}; the signature verifies",
        )

    def _private_key(self, context: StepContext) -> Path:
        from bastion.signing.keys import PRIVATE_KEY_FILE

        given = context.spec.steps.sign.key
        path = context.project / given if given is not None else context.home / "keys" / "signing" / PRIVATE_KEY_FILE
        if not path.is_file():
            hint = "fix steps.sign.key" if given is not None else "run `bastion init` to create the instance's signing key"
            raise StepError(f"{path}: no signing key there; {hint}")
        return path
