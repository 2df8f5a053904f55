"""The OpenSSF Model Signing (OMS) v1.0 signature format, for signatures made with a key.

A signature file is a Sigstore bundle (JSON, media type v0.3) holding a DSSE envelope whose payload is an in-toto
v1 statement: the subject is the model's name and root digest, the predicate lists every file's SHA-256 and the
serialization that listed them. The envelope is signed (ECDSA) over its DSSE pre-authentication encoding. This is
what the ``model_signing`` reference writes with ``sign key``; tests check both tools read each other's files.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError
from bastion.signing.manifest import HASH_TYPE, Manifest, Resource, Serialization

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"


class SignatureInvalid(BastionError):
    """The signature is well formed but does not hold: another key made it, or it was altered after signing."""

    exit_code = 1


class MalformedSignature(BastionError):
    """The file is not an OMS signature Bastion can read (truncated, not JSON, another format)."""


def encode_signature(manifest: Manifest, private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The signature file (a Sigstore bundle, JSON) for ``manifest``, signed with ``private_key``."""
    from cryptography.hazmat.primitives.asymmetric import ec

    payload = json.dumps(_statement(manifest), separators=(",", ":")).encode("utf-8")
    signature = private_key.sign(_pae(payload), ec.ECDSA(_hash_for(private_key.curve)))
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": public_key_hint(private_key.public_key())}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode("ascii"), "keyid": ""}],
        },
    }
    return (json.dumps(bundle, indent=2) + "\n").encode("utf-8")


def decode_signature(data: bytes, public_key: ec.EllipticCurvePublicKey) -> Manifest:
    """The manifest a signature file vouches for, once its signature is checked against ``public_key``.

    Raises ``MalformedSignature`` when ``data`` is not an OMS bundle and ``SignatureInvalid`` when it does not hold.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    bundle = _object(_json(data, "the signature"), "the signature")
    if bundle.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise MalformedSignature(f"not an OMS signature made with a key (media type {bundle.get('mediaType')!r})")
    material = _object(bundle.get("verificationMaterial"), "verificationMaterial")
    hint = _object(material.get("publicKey", {}), "verificationMaterial.publicKey").get("hint")
    envelope = _object(bundle.get("dsseEnvelope"), "dsseEnvelope")
    payload = _base64(envelope.get("payload"), "dsseEnvelope.payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise MalformedSignature("the DSSE envelope holds no signature")
    signature = _base64(_object(signatures[0], "dsseEnvelope.signatures[0]").get("sig"), "dsseEnvelope.signatures[0].sig")
    if hint and hint != public_key_hint(public_key):
        raise SignatureInvalid("signed with a different key than the one given")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise MalformedSignature(f"payload type {envelope.get('payloadType')!r}, expected {PAYLOAD_TYPE}")
    try:
        public_key.verify(signature, _pae(payload), ec.ECDSA(_hash_for(public_key.curve)))
    except InvalidSignature:
        raise SignatureInvalid(
            "the signature does not match its contents: altered after signing, or made with another key"
        ) from None
    return _manifest(_object(_json(payload, "the signed statement"), "the signed statement"))


def read_statement(data: bytes) -> Manifest:
    """The manifest an OMS bundle's statement lists, its signature unchecked: for bundles Sigstore has just made."""
    envelope = _object(_object(_json(data, "the signature"), "the signature").get("dsseEnvelope"), "dsseEnvelope")
    payload = _base64(envelope.get("payload"), "dsseEnvelope.payload")
    return _manifest(_object(_json(payload, "the signed statement"), "the signed statement"))


def public_key_hint(public_key: ec.EllipticCurvePublicKey) -> str:
    """Hex SHA-256 of the key's PEM: the bundle's key hint, as ``model_signing`` computes it."""
    from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def _statement(manifest: Manifest) -> dict[str, Any]:
    serialization: dict[str, Any] = {"method": manifest.serialization.method, "hash_type": HASH_TYPE}
    if manifest.serialization.shard_size is not None:
        serialization["shard_size"] = manifest.serialization.shard_size  # an integer: a reader slices files by it
    serialization["allow_symlinks"] = manifest.serialization.allow_symlinks
    serialization["ignore_paths"] = list(manifest.serialization.ignore_paths)
    algorithm = _resource_algorithm(manifest.serialization)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": manifest.model_name, "digest": {HASH_TYPE: manifest.root_digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": serialization,
            "resources": [{"name": r.name, "algorithm": algorithm, "digest": r.digest} for r in manifest.resources],
        },
    }


def _manifest(statement: dict[str, Any]) -> Manifest:
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != PREDICATE_TYPE:
        raise MalformedSignature(
            f"the signed statement is {statement.get('predicateType')!r}, not an OMS v1.0 model signature ({PREDICATE_TYPE})"
        )
    predicate = _object(statement.get("predicate"), "predicate")
    serialization = _object(predicate.get("serialization"), "predicate.serialization")
    method = serialization.get("method")
    if method not in ("files", "shards") or serialization.get("hash_type") != HASH_TYPE:
        raise MalformedSignature(
            f"the model was signed with the {method!r} method and {serialization.get('hash_type')!r} digests; "
            f"Bastion verifies the 'files' and 'shards' methods with {HASH_TYPE} (sign again with 'bastion sign')"
        )
    shard_size = _shard_size(serialization.get("shard_size")) if method == "shards" else None
    ignore_paths = serialization.get("ignore_paths", [])
    resources = predicate.get("resources")
    subjects = statement.get("subject")
    if not isinstance(ignore_paths, list) or not all(isinstance(p, str) for p in ignore_paths):
        raise MalformedSignature("predicate.serialization.ignore_paths is not a list of paths")
    if not isinstance(resources, list) or not isinstance(subjects, list) or len(subjects) != 1:
        raise MalformedSignature("the signed statement needs one subject and a list of resources")
    subject = _object(subjects[0], "subject[0]")
    listing = Serialization(
        ignore_paths=tuple(ignore_paths), allow_symlinks=serialization.get("allow_symlinks") is True, shard_size=shard_size
    )
    manifest = Manifest(
        model_name=str(subject.get("name", "")),
        resources=tuple(_resource(_object(item, "resource"), listing) for item in resources),
        serialization=listing,
    )
    if _object(subject.get("digest"), "subject[0].digest").get(HASH_TYPE) != manifest.root_digest:
        raise SignatureInvalid("the signed statement is inconsistent: its root digest does not match its files")
    return manifest


def _resource(item: dict[str, Any], listing: Serialization) -> Resource:
    name, algorithm, digest = item.get("name"), item.get("algorithm"), item.get("digest")
    expected = _resource_algorithm(listing)
    if not isinstance(name, str) or algorithm != expected or not isinstance(digest, str):
        raise MalformedSignature(f"resource {name!r}: expected a name and a {expected} digest, got {algorithm!r}")
    try:
        listing.order(name)
        if len(bytes.fromhex(digest)) != hashlib.sha256().digest_size:
            raise ValueError
    except ValueError:
        raise MalformedSignature(f"resource {name!r}: not a {listing.method} resource with a SHA-256 digest") from None
    return Resource(name, digest.lower())


def _resource_algorithm(listing: Serialization) -> str:
    """A resource's ``algorithm``: ``sha256``, or ``sha256-sharded-SIZE`` for shards, as ``model_signing`` names them."""
    return HASH_TYPE if listing.shard_size is None else f"{HASH_TYPE}-sharded-{listing.shard_size}"


def _shard_size(value: Any) -> int:
    # model_signing 1.1.1 writes the shard size through a protobuf Struct, which turns it into a float (1000.0).
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise MalformedSignature(f"predicate.serialization.shard_size {value!r} is not a positive integer")
    return value


def _pae(payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature covers (the type is bound to the payload)."""
    return b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode("ascii"), len(payload), payload)


def _hash_for(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    """The digest ECDSA uses with a curve, as the Sigstore key formats pair them."""
    from cryptography.hazmat.primitives import hashes

    return {256: hashes.SHA256(), 384: hashes.SHA384()}.get(curve.key_size, hashes.SHA512())


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise MalformedSignature(f"{what} is not JSON (truncated or damaged?)") from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedSignature(f"{what} is missing or not a JSON object (truncated or damaged?)")
    return value


def _base64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedSignature(f"{what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedSignature(f"{what} is not base64 (truncated or damaged?)") from None
