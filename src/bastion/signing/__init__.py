"""Model signatures in the OpenSSF Model Signing (OMS) v1.0 format, the keys that make them, and ModelKit packages
with their ML-BOM."""

# The public names load on first use: signing a model should not load the package builder, the Kitfile
# schema or the ML-BOM writer, which cost `bastion sign` a tenth of a second of start-up.

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from bastion.signing.hashing import hash_file, hash_model
    from bastion.signing.keys import (
        PASSPHRASE_VARIABLE,
        KeyPair,
        generate_key_pair,
        load_private_key,
        load_public_key,
        passphrase_from_environment,
    )
    from bastion.signing.kitfile import Kitfile, KitfileError, kitfile_yaml, parse_kitfile, read_kitfile
    from bastion.signing.kitfile_generation import generate_kitfile
    from bastion.signing.manifest import Manifest, ManifestDiff, Resource, Serialization, compare
    from bastion.signing.mlbom import build_mlbom, read_metrics
    from bastion.signing.model_signature import Signed, Verification, default_signature_path, sign_model, verify_model
    from bastion.signing.oms import MalformedSignature, SignatureInvalid, decode_signature, encode_signature
    from bastion.signing.package import Built, Layer, ModelKit, build_package, read_package, unpack_package
    from bastion.signing.push import push_package

_PUBLIC = {
    "Built": "bastion.signing.package",
    "KeyPair": "bastion.signing.keys",
    "Kitfile": "bastion.signing.kitfile",
    "KitfileError": "bastion.signing.kitfile",
    "Layer": "bastion.signing.package",
    "MalformedSignature": "bastion.signing.oms",
    "Manifest": "bastion.signing.manifest",
    "ManifestDiff": "bastion.signing.manifest",
    "ModelKit": "bastion.signing.package",
    "PASSPHRASE_VARIABLE": "bastion.signing.keys",
    "Resource": "bastion.signing.manifest",
    "Serialization": "bastion.signing.manifest",
    "SignatureInvalid": "bastion.signing.oms",
    "Signed": "bastion.signing.model_signature",
    "Verification": "bastion.signing.model_signature",
    "build_mlbom": "bastion.signing.mlbom",
    "build_package": "bastion.signing.package",
    "compare": "bastion.signing.manifest",
    "decode_signature": "bastion.signing.oms",
    "default_signature_path": "bastion.signing.model_signature",
    "encode_signature": "bastion.signing.oms",
    "generate_key_pair": "bastion.signing.keys",
    "generate_kitfile": "bastion.signing.kitfile_generation",
    "hash_file": "bastion.signing.hashing",
    "hash_model": "bastion.signing.hashing",
    "kitfile_yaml": "bastion.signing.kitfile",
    "load_private_key": "bastion.signing.keys",
    "load_public_key": "bastion.signing.keys",
    "parse_kitfile": "bastion.signing.kitfile",
    "passphrase_from_environment": "bastion.signing.keys",
    "push_package": "bastion.signing.push",
    "read_kitfile": "bastion.signing.kitfile",
    "read_metrics": "bastion.signing.mlbom",
    "read_package": "bastion.signing.package",
    "sign_model": "bastion.signing.model_signature",
    "unpack_package": "bastion.signing.package",
    "verify_model": "bastion.signing.model_signature",
}


__getattr__ = lazy_attributes(__name__, _PUBLIC)


__all__ = [
    "PASSPHRASE_VARIABLE",
    "Built",
    "KeyPair",
    "Kitfile",
    "KitfileError",
    "Layer",
    "MalformedSignature",
    "Manifest",
    "ManifestDiff",
    "ModelKit",
    "Resource",
    "Serialization",
    "SignatureInvalid",
    "Signed",
    "Verification",
    "build_mlbom",
    "build_package",
    "compare",
    "decode_signature",
    "default_signature_path",
    "encode_signature",
    "generate_key_pair",
    "generate_kitfile",
    "hash_file",
    "hash_model",
    "kitfile_yaml",
    "load_private_key",
    "load_public_key",
    "parse_kitfile",
    "passphrase_from_environment",
    "push_package",
    "read_kitfile",
    "read_metrics",
    "read_package",
    "sign_model",
    "unpack_package",
    "verify_model",
]
