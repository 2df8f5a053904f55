"""AWS KMS: key-encryption keys that never leave KMS.

``BASTION_KMS_URL=kms://`` uses the region, credentials and endpoint of the standard AWS configuration
(``AWS_REGION``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL_KMS``, …); ``kms://eu-west-1`` names the region.
Bastion's key name ``NAME`` is the symmetric KMS key with alias ``alias/NAME`` (so KMS key names use
letters, digits, ``_`` and ``-``); ``derive`` uses the HMAC
key ``alias/NAME-hmac`` (KMS keys that encrypt cannot compute MACs; KMS never rotates HMAC keys, which
keeps derived secrets stable). Every call binds the encryption context ``{"bastion:key": NAME}``.

KMS does not number the versions of a key's material; Bastion counts them as one plus the number of
rotations ``ListKeyRotations`` reports, so ``key_version`` grows with every ``bastion keys rotate``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from bastion.store.keys.interface import DataKey, KeyProvider, KeyProviderError, WrappedKey
from bastion.store.keys.local import check_key_name

_T = TypeVar("_T")


class AwsKms(KeyProvider):
    """Keys held by AWS KMS, or a service that speaks its API."""

    name = "kms"

    def __init__(self, region: str | None = None) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise KeyProviderError("the AWS KMS key provider needs boto3: pip install 'bastion-mlsecops[kms]'") from None

        self.region = region
        self._client = boto3.client("kms", region_name=region, config=Config(connect_timeout=10, retries={"mode": "standard"}))
        self._versions: dict[str, int] = {}

    def wrap(self, key_name: str, data_key: bytes) -> WrappedKey:
        response = self._call(
            key_name, "encrypt", KeyId=_alias(key_name), Plaintext=data_key, EncryptionContext=_context(key_name)
        )
        return WrappedKey(self.name, key_name, self._version(key_name), response["CiphertextBlob"])

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        if wrapped.provider != self.name:
            raise KeyProviderError(
                f"this data key was wrapped by the {wrapped.provider!r} key provider, not AWS KMS; "
                "set BASTION_KMS_URL to that provider"
            )
        response = self._call(
            wrapped.key_name,
            "decrypt",
            KeyId=_alias(wrapped.key_name),
            CiphertextBlob=wrapped.ciphertext,
            EncryptionContext=_context(wrapped.key_name),
        )
        return bytes(response["Plaintext"])

    def derive(self, key_name: str, purpose: str) -> bytes:
        response = self._call(
            key_name,
            "generate_mac",
            KeyId=_alias(key_name) + "-hmac",
            Message=purpose.encode("utf-8"),
            MacAlgorithm="HMAC_SHA_256",
        )
        return bytes(response["Mac"])

    def generate_data_key(self, key_name: str) -> DataKey:
        response = self._call(
            key_name, "generate_data_key", KeyId=_alias(key_name), KeySpec="AES_256", EncryptionContext=_context(key_name)
        )
        wrapped = WrappedKey(self.name, key_name, self._version(key_name), response["CiphertextBlob"])
        return DataKey(bytes(response["Plaintext"]), wrapped)

    def rotate(self, key_name: str) -> int:
        self._call(key_name, "rotate_key_on_demand", KeyId=self._key_id(key_name))
        self._versions.pop(key_name, None)
        return self._version(key_name)

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        response = self._call(
            wrapped.key_name,
            "re_encrypt",
            CiphertextBlob=wrapped.ciphertext,
            SourceKeyId=_alias(wrapped.key_name),
            SourceEncryptionContext=_context(wrapped.key_name),
            DestinationKeyId=_alias(wrapped.key_name),
            DestinationEncryptionContext=_context(wrapped.key_name),
        )
        return WrappedKey(self.name, wrapped.key_name, self._version(wrapped.key_name), response["CiphertextBlob"])

    def _key_id(self, key_name: str) -> str:
        # RotateKeyOnDemand and ListKeyRotations take a key id, not an alias.
        return str(self._call(key_name, "describe_key", KeyId=_alias(key_name))["KeyMetadata"]["KeyId"])

    def _version(self, key_name: str) -> int:
        if key_name not in self._versions:
            key_id = self._key_id(key_name)
            pages = self._client.get_paginator("list_key_rotations").paginate(KeyId=key_id)
            rotations = self._guarded(key_name, lambda: sum(len(page["Rotations"]) for page in pages))
            self._versions[key_name] = 1 + rotations
        return self._versions[key_name]

    def _call(self, key_name: str, method: str, **arguments: Any) -> Any:
        return self._guarded(key_name, lambda: getattr(self._client, method)(**arguments))

    def _guarded(self, key_name: str, request: Callable[[], _T]) -> _T:
        """Run one KMS request, its failures turned into one line that says what to do."""
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

        check_key_name(key_name)
        where = f"AWS KMS key {_alias(key_name)}"
        try:
            return request()
        except EndpointConnectionError:
            raise KeyProviderError(
                f"cannot reach AWS KMS at {self._client.meta.endpoint_url}; check BASTION_KMS_URL and AWS_ENDPOINT_URL"
            ) from None
        except NoCredentialsError:
            raise KeyProviderError(
                "no AWS credentials for KMS: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "error"), error.get("Message", "")
            if code == "NotFoundException":
                raise KeyProviderError(f"{where}: no such key; create a symmetric key with that alias") from None
            if code == "InvalidCiphertextException":
                raise KeyProviderError(
                    f"{where} cannot unwrap this data key: it was wrapped by another key or has been altered"
                ) from None
            raise KeyProviderError(f"{where}: {code} {message}".rstrip()) from None
        except BotoCoreError as exc:
            raise KeyProviderError(f"{where}: {exc}") from None


def _alias(key_name: str) -> str:
    return f"alias/{key_name}"


def _context(key_name: str) -> dict[str, str]:
    return {"bastion:key": key_name}
