"""ModelKit packages: a directory's model, datasets, code and docs as one OCI image layout that ``kit`` can read.

Layout (OCI image layout 1.0)::

    OUT/oci-layout                      {"imageLayoutVersion": "1.0.0"}
    OUT/index.json                      one manifest, tagged with the package version (or ``latest``)
    OUT/blobs/sha256/<hex>              the manifest, the config and the layers

The manifest (artifact type ``application/vnd.kitops.modelkit.manifest.v1+json``) has the Kitfile as JSON for config
(``application/vnd.kitops.modelkit.config.v1+json``, each entry with its layer digest, as ``kit pack`` writes it), one
reproducible tar layer per Kitfile entry (``application/vnd.kitops.modelkit.<model|modelpart|code|dataset|docs>.v1.tar``,
annotated with the entry's path), and last one more layer, ``application/vnd.cyclonedx+json``: the ML-BOM. A layer
rather than an annotation-referenced blob, so that registries keep it and ``oras``/``kit`` copy it with the package;
``kit unpack`` skips it with a warning about an unknown media type.

Building and unpacking write into a temporary directory beside the target and rename it at the end: an error leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bastion.core import BastionError
from bastion.signing._layers import Blob, entry_ignores, extract_layer, list_entry_files, write_layer
from bastion.signing.kitfile import KITFILE_NAMES, Kitfile, KitfileError, kitfile_json, kitfile_yaml, read_kitfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ARTIFACT_TYPE = "application/vnd.kitops.modelkit.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.kitops.modelkit.config.v1+json"
FILEPATH_ANNOTATION = "org.cncf.model.filepath"
TITLE_ANNOTATION = "org.opencontainers.image.title"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
BOM_TITLE = "bom.cdx.json"

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_LAYER_MEDIA_TYPE = re.compile(r"^application/vnd\.kitops\.modelkit\.(model|modelpart|code|dataset|docs)\.v1\.tar$")

KitfileSource = Literal["option", "directory", "generated"]


def layer_media_type(kind: str) -> str:
    """The KitOps media type of an uncompressed tar layer of ``kind`` (model, modelpart, code, dataset, docs)."""
    return f"application/vnd.kitops.modelkit.{kind}.v1.tar"


@dataclass(frozen=True)
class Layer:
    """One layer of a package."""

    media_type: str
    """Its OCI media type."""
    digest: str
    """``sha256:<hex>`` of the blob."""
    size: int
    """Bytes."""
    path: str
    """The Kitfile entry's path (``bom.cdx.json`` for the ML-BOM)."""


@dataclass(frozen=True)
class Built:
    """A package written by ``build_package``."""

    path: Path
    """The OCI layout directory."""
    digest: str
    """``sha256:<hex>`` of the manifest: the package's one name (the same inputs always give the same one)."""
    layers: tuple[Layer, ...]
    """Every layer, the ML-BOM last."""
    kitfile: Kitfile
    """The Kitfile packed (given, found in the directory, or generated)."""
    kitfile_source: KitfileSource
    """Where the Kitfile came from: ``--kitfile``, the directory's own ``Kitfile``, or generated from its contents."""


@dataclass(frozen=True)
class ModelKit:
    """A package read back from its OCI layout, every blob it names checked against its digest."""

    path: Path
    """The layout directory."""
    digest: str
    """The manifest's digest."""
    manifest: dict[str, Any]
    """The OCI manifest."""
    kitfile: Kitfile
    """The Kitfile from the config."""
    entry_digests: tuple[str | None, ...]
    """The layer digest the config records for each entry, in ``Kitfile.entries()`` order (None: not recorded)."""
    layers: tuple[Layer, ...]
    """The manifest's layers."""

    def blob(self, digest: str) -> Path:
        """Where the blob ``digest`` is stored."""
        return self.path / "blobs" / "sha256" / digest.removeprefix("sha256:")

    def bom(self) -> bytes:
        """The ML-BOM's JSON, checked against its digest."""
        layer = next((layer for layer in self.layers if layer.media_type == "application/vnd.cyclonedx+json"), None)
        if layer is None:
            raise BastionError(f"{self.path}: the package has no ML-BOM layer; it was not built by Bastion")
        return _read_blob(self.path, layer.digest, layer.size)


def build_package(directory: Path, output: Path, kitfile_path: Path | None = None, metrics_path: Path | None = None) -> Built:
    """Pack ``directory`` into an OCI layout at ``output`` (which must not exist, or be an empty directory).

    Without ``kitfile_path`` the directory's own Kitfile is used, or one is generated from its contents.
    ``metrics_path`` names a JSON object of performance metrics for the ML-BOM's model card.
    """
    from bastion.signing.mlbom import MEDIA_TYPE, build_mlbom, read_metrics

    if not directory.is_dir():
        raise BastionError(f"{directory}: not a directory; give the directory holding the model and its files")
    _check_target(output, directory)
    kitfile, source = _kitfile_for(directory, kitfile_path)
    metrics = read_metrics(metrics_path) if metrics_path is not None else None
    entries = list(kitfile.entries())
    paths = [entry.path for _, entry in entries]
    ignored = {path: entry_ignores(path, paths) for path in paths}
    with _staging(output) as staging:
        blobs = staging / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        layers = []
        for kind, entry in entries:
            tree = list_entry_files(directory, entry.path, ignored[entry.path])
            blob = write_layer(blobs, entry.path, tree)
            layers.append(Layer(layer_media_type(kind), blob.digest, blob.size, entry.path))
        bom = _write_blob(blobs, build_mlbom(directory, kitfile, ignored, metrics))
        layers.append(Layer(MEDIA_TYPE, bom.digest, bom.size, BOM_TITLE))
        config = _write_blob(blobs, kitfile_json(kitfile, {i: layer.digest for i, layer in enumerate(layers[:-1])}))
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config.digest, "size": config.size},
            "layers": [_descriptor(layer) for layer in layers],
        }
        manifest_blob = _write_blob(blobs, _json(manifest))
        tag = kitfile.package.version or "latest"
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "artifactType": ARTIFACT_TYPE,
                    "digest": manifest_blob.digest,
                    "size": manifest_blob.size,
                    "annotations": {REF_NAME_ANNOTATION: tag},
                }
            ],
        }
        _write_file(staging / "index.json", _json(index))
        _write_file(staging / "oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
    return Built(output, manifest_blob.digest, tuple(layers), kitfile, source)


def read_package(path: Path) -> ModelKit:
    """Read the package at ``path``: its index, manifest and Kitfile config, each checked against its digest."""
    layout = path / "oci-layout"
    if not layout.is_file():
        raise BastionError(f"{path}: not a package (no oci-layout file); give the directory 'bastion package build' wrote")
    index = _load_json(path / "index.json", path)
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or len(manifests) != 1:
        raise BastionError(f"{path}/index.json: expected exactly one manifest; the package is damaged or not a ModelKit")
    descriptor = _checked_descriptor(manifests[0], f"{path}/index.json")
    manifest = _parse_json(_read_blob(path, descriptor["digest"], descriptor["size"]), f"{path}: manifest")
    if not isinstance(manifest, dict) or manifest.get("config", {}).get("mediaType") != CONFIG_MEDIA_TYPE:
        raise BastionError(f"{path}: the manifest's config is not a Kitfile ({CONFIG_MEDIA_TYPE}); not a ModelKit")
    config = _checked_descriptor(manifest["config"], f"{path}: manifest config")
    kitfile, entry_digests = _config_kitfile(_read_blob(path, config["digest"], config["size"]), path)
    layers = []
    for raw in manifest.get("layers") or []:
        layer = _checked_descriptor(raw, f"{path}: manifest layer")
        annotations = raw.get("annotations") or {}
        title = annotations.get(FILEPATH_ANNOTATION) or annotations.get(TITLE_ANNOTATION) or ""
        layers.append(Layer(str(raw.get("mediaType", "")), layer["digest"], layer["size"], str(title)))
    return ModelKit(path, descriptor["digest"], manifest, kitfile, entry_digests, tuple(layers))


def unpack_package(path: Path, target: Path) -> ModelKit:
    """Extract the package at ``path`` into ``target`` (which must not exist, or be an empty directory), writing its
    Kitfile there too; every blob is checked against its digest and no member may leave its entry's path."""
    package = read_package(path)
    _check_target(target, None)
    pending: dict[str, list[tuple[str, str | None]]] = {}
    for (kind, entry), recorded in zip(package.kitfile.entries(), package.entry_digests, strict=True):
        pending.setdefault(kind, []).append((entry.path, recorded))
    with _staging(target) as staging:
        for layer in package.layers:
            match = _LAYER_MEDIA_TYPE.match(layer.media_type)
            if match is None:
                _read_blob(path, layer.digest, layer.size)  # not extracted (the ML-BOM), but still checked
                continue
            layer_kind = match.group(1)
            if not pending.get(layer_kind):
                raise BastionError(f"{path}: a {layer_kind} layer the Kitfile does not list; the package is damaged")
            entry_path, recorded = pending[layer_kind].pop(0)
            if recorded is not None and recorded != layer.digest:
                raise BastionError(f"{path}: the Kitfile's {entry_path} and the manifest name different layers; it was altered")
            extract_layer(package.blob(layer.digest), Blob(layer.digest, layer.size), entry_path, staging)
        missing = [entry_path for entries in pending.values() for entry_path, _ in entries]
        if missing:
            raise BastionError(f"{path}: no layer for {', '.join(missing)}, which the Kitfile lists; the package is incomplete")
        kitfile_file = staging / KITFILE_NAMES[0]
        if not kitfile_file.exists():
            _write_file(kitfile_file, kitfile_yaml(package.kitfile).encode("utf-8"))
    return package


def _kitfile_for(directory: Path, kitfile_path: Path | None) -> tuple[Kitfile, KitfileSource]:
    from bastion.signing.kitfile_generation import generate_kitfile

    if kitfile_path is not None:
        return read_kitfile(kitfile_path), "option"
    for name in KITFILE_NAMES:
        if (directory / name).is_file():
            return read_kitfile(directory / name), "directory"
    return generate_kitfile(directory), "generated"


def _check_target(target: Path, source: Path | None) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BastionError(f"{target}: already exists; remove it or choose another path")
    if not target.parent.is_dir():
        raise BastionError(f"{target.parent}: no such directory; create it first")
    if source is not None:
        real_source, real_target = source.resolve(), target.resolve()
        if real_target == real_source or real_source in real_target.parents:
            raise BastionError(f"{target}: inside {source}, which is being packed; write the package elsewhere")


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A temporary directory beside ``target``, renamed to it on success and removed on any error."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield staging
        _fsync(staging)
        os.replace(staging, target)
        _fsync(target.parent)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BastionError(f"{target}: cannot write: {exc.strerror or exc}; nothing was written") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _descriptor(layer: Layer) -> dict[str, Any]:
    annotations = {TITLE_ANNOTATION: layer.path}
    if layer.path != BOM_TITLE:
        annotations[FILEPATH_ANNOTATION] = layer.path
    return {"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size, "annotations": annotations}


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _write_blob(blobs: Path, data: bytes) -> Blob:
    blob = Blob(f"sha256:{hashlib.sha256(data).hexdigest()}", len(data))
    _write_file(blobs / blob.digest.removeprefix("sha256:"), data)
    return blob


def _write_file(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _checked_descriptor(raw: Any, where: str) -> dict[str, Any]:
    """A descriptor whose digest is a SHA-256 (never a path: it names a file below blobs/) and whose size is a count."""
    if not isinstance(raw, dict) or not isinstance(raw.get("digest"), str) or not _DIGEST.match(raw["digest"]):
        raise BastionError(f"{where}: a descriptor without a sha256 digest; the package is damaged or not a ModelKit")
    if not isinstance(raw.get("size"), int) or raw["size"] < 0:
        raise BastionError(f"{where}: a descriptor without a valid size; the package is damaged")
    return raw


def _read_blob(layout: Path, digest: str, size: int) -> bytes:
    """The blob ``digest`` of the layout at ``layout``, checked against its digest and size."""
    path = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BastionError(f"{path}: blob missing; the package is incomplete") from None
    except OSError as exc:
        raise BastionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    actual = f"sha256:{hashlib.sha256(data).hexdigest()}"
    if actual != digest or len(data) != size:
        raise BastionError(f"{path}: digest {actual} differs from the expected {digest}; the package was altered")
    return data


def _load_json(path: Path, package: Path) -> Any:
    try:
        return _parse_json(path.read_bytes(), str(path))
    except FileNotFoundError:
        raise BastionError(f"{path}: missing; {package} is not a complete package") from None
    except OSError as exc:
        raise BastionError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _parse_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise BastionError(f"{where}: not valid JSON ({exc}); the package is damaged") from None


def _config_kitfile(data: bytes, path: Path) -> tuple[Kitfile, tuple[str | None, ...]]:
    """The Kitfile of a config, and the layer digests ``kit`` records in it."""
    from pydantic import TypeAdapter, ValidationError

    document = _parse_json(data, f"{path}: config")
    if not isinstance(document, dict):
        raise BastionError(f"{path}: the config is not a Kitfile; not a ModelKit")
    model = document.get("model")
    sections = [model, *(model.get("parts") or [])] if isinstance(model, dict) else []
    sections += [item for key in ("code", "datasets", "docs") for item in (document.get(key) or [])]
    digests = []
    for section in sections:
        if isinstance(section, dict):
            section.pop("diffId", None)
            digest = section.pop("digest", None)
            digests.append(digest if isinstance(digest, str) else None)
    try:
        kitfile = TypeAdapter(Kitfile).validate_python(document)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise KitfileError(f"{path}: the package's Kitfile is not valid: {where}: {problem['msg']}") from None
    return kitfile, tuple(digests)
