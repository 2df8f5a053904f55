"""Model signatures in the OpenSSF Model Signing (OMS) v1.0 format, the keys that make them, and ModelKit packages
with their ML-BOM."""

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
