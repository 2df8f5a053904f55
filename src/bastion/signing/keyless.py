"""Sigstore keyless signing: an OMS signature tied to an OIDC identity instead of a key, through ``model_signing``.

Signing asks Fulcio (Sigstore's certificate authority) for a short-lived certificate for the identity in an OIDC
token, and records the signature in Rekor (its transparency log); verifying checks the certificate chain, the log
entry and that the signer is the identity and issuer expected. Both need Sigstore's public-good instance on the
network; offline they fail with one line and exit status 2, and nothing is written.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from bastion.core import BastionError, atomic_write
from bastion.signing.manifest import ManifestDiff
from bastion.signing.model_signature import Signed, Verification
from bastion.signing.oms import MalformedSignature, read_statement

if TYPE_CHECKING:
    from types import ModuleType

INSTALL_HINT = "pip install 'bastion-mlsecops[sigstore]'"
"""What to run when ``model_signing`` (and so Sigstore) is not installed."""


def sign_keyless(model: Path, signature: Path, *, identity_token: str | None = None, oauth: bool = False) -> Signed:
    """Sign ``model`` through Sigstore with the identity in ``identity_token``; write the bundle to ``signature``.

    Without a token, an ambient one is used (CI workload identity, e.g. GitHub Actions with ``id-token: write``);
    ``oauth`` allows the interactive browser sign-in when there is none.
    """
    model_signing, sigstore_errors, oidc = _libraries()
    if not model.exists():
        raise BastionError(f"{model}: no such file or directory")
    if signature.exists() and signature.samefile(model):
        raise BastionError(f"{signature}: that is the model itself; give another --signature path")
    token = identity_token or _ambient_token(oidc, sigstore_errors)
    if token is None and not oauth:
        raise BastionError(
            "keyless signing needs an OIDC identity: give --identity-token, run where ambient credentials exist "
            "(e.g. GitHub Actions with 'id-token: write'), or add --oauth to sign in with a browser"
        )
    if token is not None:
        try:
            oidc.IdentityToken(token)
        except sigstore_errors.Error as exc:
            raise BastionError(f"the identity token is not usable for Sigstore: {_reason(exc)}") from None
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=_inside(model, signature), ignore_git_paths=True)
    with tempfile.TemporaryDirectory(prefix="bastion-keyless-") as scratch:
        written = Path(scratch) / "signature"
        try:
            config = model_signing.signing.Config().use_sigstore_signer(identity_token=token)
            config.set_hashing_config(hashing).sign(model, written)
        except sigstore_errors.Error as exc:
            raise BastionError(f"keyless signing failed: {_reason(exc)}{_offline_hint(exc, sigstore_errors)}") from None
        except (OSError, ValueError) as exc:
            raise BastionError(f"{model}: cannot sign: {exc}") from None
        data = written.read_bytes()
    try:
        atomic_write(signature, data)
    except OSError as exc:
        raise BastionError(f"{signature}: cannot write the signature: {exc.strerror or exc}") from None
    return Signed(signature, read_statement(data))


def verify_keyless(model: Path, signature: Path, *, identity: str, issuer: str) -> Verification:
    """Check ``model`` against a Sigstore ``signature`` made by ``identity`` (email or URI) with tokens of ``issuer``."""
    model_signing, sigstore_errors, _ = _libraries()
    if not model.exists():
        raise BastionError(f"{model}: no such file or directory")
    try:
        data = signature.read_bytes()
    except FileNotFoundError:
        raise BastionError(f"{signature}: no signature there; sign the model first or give --signature") from None
    except OSError as exc:
        raise BastionError(f"{signature}: cannot read the signature: {exc.strerror or exc}") from None
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=_inside(model, signature), ignore_git_paths=True)
    no_diff = ManifestDiff((), (), ())
    try:
        config = model_signing.verifying.Config().use_sigstore_verifier(identity=identity, oidc_issuer=issuer)
        config.set_hashing_config(hashing).verify(model, signature)
    except sigstore_errors.VerificationError as exc:
        return Verification(signature, f"the signature does not hold: {_reason(exc)}", no_diff, None)
    except sigstore_errors.Error as exc:
        raise BastionError(f"{signature}: cannot verify: {_reason(exc)}{_offline_hint(exc, sigstore_errors)}") from None
    except ValueError as exc:  # model_signing's "Signature mismatch: …", once the signature itself held
        return Verification(signature, _reason(exc), no_diff, None)
    try:
        return Verification(signature, None, no_diff, read_statement(data))
    except MalformedSignature as exc:
        raise BastionError(f"{signature}: {exc}") from None


def _libraries() -> tuple[ModuleType, ModuleType, ModuleType]:
    """``model_signing``, ``sigstore.errors`` and ``sigstore.oidc``, imported only when keyless signing is asked for."""
    try:
        import model_signing
        import model_signing.hashing
        import model_signing.signing
        import model_signing.verifying
        from sigstore import errors, oidc
    except ImportError:
        raise BastionError(f"keyless signing needs Sigstore support: {INSTALL_HINT}") from None
    return model_signing, errors, oidc


def _ambient_token(oidc: ModuleType, sigstore_errors: ModuleType) -> str | None:
    try:
        token: str | None = oidc.detect_credential()
    except sigstore_errors.Error as exc:
        raise BastionError(f"ambient OIDC credentials found but unusable: {_reason(exc)}") from None
    return token


def _inside(model: Path, signature: Path) -> list[Path]:
    """The signature's path within a model directory (so it is not signed), as ``model_signing`` expects it."""
    try:
        return [signature.resolve().relative_to(model.resolve())] if model.is_dir() else []
    except ValueError:
        return []


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _offline_hint(exc: Exception, sigstore_errors: ModuleType) -> str:
    if isinstance(exc, sigstore_errors.TUFError | sigstore_errors.NetworkError):
        return " (Sigstore's public-good instance is unreachable; keyless signatures need the network, use --key offline)"
    return ""
