"""Pushing a package to an OCI registry with oras (the ``oras`` package, an optional dependency: ``bastion-mlsecops[oci]``).

The blobs and the manifest go up byte for byte as they are in the layout, so the registry names the package by the
same digest ``bastion package build`` printed (oras' own ``push`` would build a new manifest). Credentials come from
the Docker configuration, as for ``oras`` and ``docker``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bastion.core import BastionError
from bastion.signing.package import CONFIG_MEDIA_TYPE, OCI_MANIFEST, read_package


def push_package(path: Path, reference: str, *, plain_http: bool = False) -> str:
    """Push the package at ``path`` to ``reference`` (``registry/repository:tag``); returns the manifest digest."""
    try:
        import oras.container
        import oras.provider
        import requests
    except ImportError:
        raise BastionError("pushing needs the oras package: pip install 'bastion-mlsecops[oci]'") from None
    package = read_package(path)
    try:
        container = oras.container.Container(reference)
    except ValueError as exc:
        raise BastionError(f"{reference}: not a registry reference ({exc}); write it as REGISTRY/REPOSITORY:TAG") from None
    registry = oras.provider.Registry(hostname=container.registry, insecure=plain_http)
    registry.auth.load_configs(container)
    config = package.manifest["config"]
    descriptors: list[dict[str, Any]] = [
        {"mediaType": CONFIG_MEDIA_TYPE, "digest": config["digest"], "size": config["size"]},
        *package.manifest["layers"],
    ]
    manifest = package.blob(package.digest).read_bytes()
    try:
        for descriptor in descriptors:
            _check(registry.upload_blob(str(package.blob(descriptor["digest"])), container, descriptor), reference)
        response = registry.do_request(
            f"{registry.prefix}://{container.manifest_url()}", "PUT", headers={"Content-Type": OCI_MANIFEST}, data=manifest
        )
    except requests.RequestException as exc:
        raise BastionError(f"{reference}: cannot reach the registry: {exc}") from None
    _check(response, reference)
    return package.digest


def _check(response: Any, reference: str) -> None:
    if response.status_code not in (200, 201, 202):
        raise BastionError(f"{reference}: the registry refused the push (HTTP {response.status_code}: {response.text[:200]})")
