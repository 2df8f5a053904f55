"""Signing a model and checking it against its signature: the services behind ``bastion sign`` and ``bastion verify``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bastion.core import BastionError, atomic_write
from bastion.signing.hashing import hash_model, start_hashing
from bastion.signing.keys import load_private_key, load_public_key
from bastion.signing.manifest import Manifest, ManifestDiff, compare
from bastion.signing.oms import MalformedSignature, SignatureInvalid, decode_signature, encode_signature


def default_signature_path(model: Path) -> Path:
    """``PATH.sig`` beside the model file or directory."""
    resolved = model.resolve() if model.name in ("", "..") else model
    return resolved.with_name(resolved.name + ".sig")


@dataclass(frozen=True)
class Signed:
    """What ``sign_model`` signed."""

    signature: Path
    """The signature file written."""
    manifest: Manifest
    """The files it covers and their digests."""


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a model against its signature."""

    signature: Path
    """The signature file checked."""
    problem: str | None
    """Why the signature itself does not hold (another key, altered signature), or None."""
    diff: ManifestDiff
    """Files changed, added or missing since signing (empty when ``problem`` is set)."""
    manifest: Manifest | None
    """The manifest the signature vouches for, when it holds."""

    @property
    def valid(self) -> bool:
        """The signature holds and the model is exactly what was signed."""
        return self.problem is None and not self.diff

    def summary(self) -> str:
        """One line: what is wrong, naming the files."""
        if self.problem is not None:
            return self.problem
        parts = [
            _files(names, verb)
            for names, verb in ((self.diff.changed, "changed"), (self.diff.added, "added"), (self.diff.missing, "missing"))
            if names
        ]
        return "; ".join(parts) if parts else "valid"


def sign_model(
    model: Path, private_key: Path, signature: Path, passphrase: bytes | None = None, *, shard_size: int | None = None
) -> Signed:
    """Sign ``model`` with the PEM key ``private_key``; write the OMS signature to ``signature`` atomically.

    With ``shard_size``, files are hashed in slices of that many bytes (OMS ``shards`` method, see ``hash_model``).
    """
    if signature.exists() and model.exists() and signature.samefile(model):
        raise BastionError(f"{signature}: that is the model itself; give another --signature path")
    with start_hashing(model, exclude=signature, shard_size=shard_size) as hashing:
        key = load_private_key(private_key, passphrase)  # the cryptography library loads while the files hash
        manifest = hashing.manifest()
    if not manifest.resources:
        raise BastionError(f"{model}: no files to sign")
    data = encode_signature(manifest, key)
    try:
        atomic_write(signature, data)
    except OSError as exc:
        raise BastionError(f"{signature}: cannot write the signature: {exc.strerror or exc}") from None
    return Signed(signature, manifest)


def verify_model(model: Path, public_key: Path, signature: Path) -> Verification:
    """Check ``model`` against ``signature`` with the PEM key ``public_key``."""
    key = load_public_key(public_key)
    if not model.exists():
        raise BastionError(f"{model}: no such file or directory")
    try:
        data = signature.read_bytes()
    except FileNotFoundError:
        raise BastionError(f"{signature}: no signature there; sign the model first or give --signature") from None
    except OSError as exc:
        raise BastionError(f"{signature}: cannot read the signature: {exc.strerror or exc}") from None
    try:
        signed = decode_signature(data, key)
    except SignatureInvalid as exc:
        return Verification(signature, str(exc), ManifestDiff((), (), ()), None)
    except MalformedSignature as exc:
        raise BastionError(f"{signature}: {exc}") from None
    listing = signed.serialization
    actual = hash_model(model, ignore_paths=listing.ignore_paths, exclude=signature, shard_size=listing.shard_size)
    return Verification(signature, None, compare(signed, actual), signed)


def _files(names: tuple[str, ...], verb: str) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"{len(names)} file{'s' if len(names) > 1 else ''} {verb}: {shown}"
