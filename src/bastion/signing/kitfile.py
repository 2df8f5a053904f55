"""The Kitfile: KitOps' YAML manifest of a ModelKit (package, model, code, datasets, docs), read safely and validated.

```yaml
manifestVersion: 1.0.0
package: {name: churn, version: 1.2.0, authors: [ml-team]}
model:
  name: churn-classifier
  path: model                  # a file or directory below the package directory
  format: safetensors
  parameters:                  # free-form; Bastion reads modelCard for the ML-BOM
    modelCard:
      task: classification
      approach: supervised
      considerations: {useCases: [churn scoring], technicalLimitations: [tabular data only]}
datasets:
  - {name: train, path: data/train.csv}
code:
  - {path: src}
docs:
  - {path: README.md}
```

The fields are KitOps' own (``pkg/artifact/kitfile.go``), so ``kit`` reads what Bastion writes; unknown fields are refused,
as ``kit`` refuses them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from bastion.core import BastionError

if TYPE_CHECKING:
    from bastion.core.yaml_document import YamlDocument

MANIFEST_VERSION: Literal["1.0.0"] = "1.0.0"
"""The only Kitfile version KitOps defines."""

KITFILE_NAMES = ("Kitfile", "kitfile", ".kitfile")
"""File names ``kit`` (and Bastion) take for a directory's own Kitfile."""

_FORBID: dict[str, Any] = {"extra": "forbid"}


class KitfileError(BastionError):
    """The Kitfile is missing, not YAML, or not a valid Kitfile."""


def _package_path(value: str) -> str:
    """A path inside the package directory, normalised (``./model/`` → ``model``); refuses ways out of it."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("give a path relative to the package directory")
    if "://" in value:
        raise ValueError(f"{value!r} is a URL; Bastion packages local files only")
    path = PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{value!r} leaves the package directory; give a path below it")
    return path.as_posix()


class _PackagePathCheck:
    """Pydantic marker running ``_package_path``; pydantic is imported only when a Kitfile is validated."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(_package_path, handler(source))


PackagePath = Annotated[str, _PackagePathCheck]
"""A path below the package directory, normalised."""


@dataclass(frozen=True)
class Considerations:
    """CycloneDX model card ``considerations``: who the model is for and where it falls short."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID

    users: tuple[str, ...] = ()
    """Who is meant to use the model."""
    useCases: tuple[str, ...] = ()  # CycloneDX's key
    """What the model is meant for."""
    technicalLimitations: tuple[str, ...] = ()
    """Known technical limits (inputs it was not trained on, say)."""
    performanceTradeoffs: tuple[str, ...] = ()
    """Trade-offs made (accuracy against latency, say)."""
    ethicalConsiderations: tuple[str, ...] = ()
    """Ethical risks, each written as one sentence."""


@dataclass(frozen=True)
class ModelCardFacts:
    """What the ML-BOM's model card says that the files cannot: read from ``model.parameters.modelCard``."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID

    task: str | None = None
    """The task the model performs: ``classification``, ``regression``, ``text-generation``, …"""
    approach: Literal["supervised", "unsupervised", "reinforcement-learning", "semi-supervised", "self-supervised"] | None = None
    """The learning approach (CycloneDX's vocabulary)."""
    architectureFamily: str | None = None
    """The model family: ``gradient-boosted trees``, ``transformer``, …"""
    modelArchitecture: str | None = None
    """The specific architecture: ``XGBoost``, ``BERT-base``, …"""
    considerations: Considerations = field(default_factory=Considerations)
    """Intended users and uses, limitations, trade-offs, ethical risks."""


@dataclass(frozen=True)
class Package:
    """The ModelKit's own metadata."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID

    name: str | None = None
    version: str | None = None
    description: str | None = None
    license: str | None = None
    authors: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ModelPart:
    """A further part of the model (an adapter, a tokenizer), packed as its own layer."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID

    name: str | None = None
    path: PackagePath
    license: str | None = None
    type: str | None = None


@dataclass(frozen=True, kw_only=True)
class Model:
    """The model: one file or directory, plus optional parts."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID

    name: str | None = None
    path: PackagePath
    license: str | None = None
    framework: str | None = None
    format: str | None = None
    version: str | None = None
    description: str | None = None
    parts: tuple[ModelPart, ...] = ()
    parameters: Any = None
    """Free-form (KitOps keeps it as JSON); Bastion reads only ``modelCard`` from it."""


@dataclass(frozen=True)
class Code:
    """Code that goes with the model (training, serving, notebooks, requirements)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID

    path: PackagePath
    description: str | None = None
    license: str | None = None


@dataclass(frozen=True, kw_only=True)
class DataSet:
    """A dataset the model was trained or evaluated on."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID

    name: str | None = None
    path: PackagePath
    description: str | None = None
    license: str | None = None
    parameters: Any = None


@dataclass(frozen=True)
class Docs:
    """Documentation: a README, a model card, a licence."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID

    path: PackagePath
    description: str | None = None


LayerKind = Literal["model", "modelpart", "code", "dataset", "docs"]
"""The KitOps name of a layer's contents; its media type is ``application/vnd.kitops.modelkit.<kind>.v1.tar``."""

Entry = Model | ModelPart | Code | DataSet | Docs


@dataclass(frozen=True)
class Kitfile:
    """A whole Kitfile."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID

    manifestVersion: Literal["1.0.0"] = MANIFEST_VERSION  # the Kitfile's key
    package: Package = field(default_factory=Package)
    model: Model | None = None
    code: tuple[Code, ...] = ()
    datasets: tuple[DataSet, ...] = ()
    docs: tuple[Docs, ...] = ()

    def entries(self) -> Iterator[tuple[LayerKind, Entry]]:
        """Every entry that becomes a layer, in the order ``kit pack`` writes them: model, parts, code, datasets, docs."""
        if self.model is not None:
            yield "model", self.model
            for part in self.model.parts:
                yield "modelpart", part
        for code in self.code:
            yield "code", code
        for dataset in self.datasets:
            yield "dataset", dataset
        for docs in self.docs:
            yield "docs", docs

    def model_card(self) -> ModelCardFacts:
        """The model card facts under ``model.parameters.modelCard`` (already validated when the Kitfile was read)."""
        parameters = self.model.parameters if self.model is not None else None
        card = parameters.get("modelCard") if isinstance(parameters, dict) else None
        if card is None:
            return ModelCardFacts()
        from pydantic import TypeAdapter

        return TypeAdapter(ModelCardFacts).validate_python(card)

    def as_dict(self) -> dict[str, Any]:
        """The Kitfile as KitOps writes it: empty fields left out, keys in KitOps' order."""
        document: dict[str, Any] = _without_empty(asdict(self))
        return document


def read_kitfile(path: Path) -> Kitfile:
    """Read and validate the Kitfile at ``path``; errors name the file and line."""
    from bastion.core.yaml_document import read_yaml

    return _validate(read_yaml(path, what="Kitfile", error=KitfileError))


def parse_kitfile(text: str, source: str = "<Kitfile>") -> Kitfile:
    """Validate Kitfile YAML text; ``source`` names it in errors."""
    from bastion.core.yaml_document import parse_yaml

    return _validate(parse_yaml(text, source, error=KitfileError))


def kitfile_yaml(kitfile: Kitfile) -> str:
    """The Kitfile as YAML text, the form ``kit unpack`` writes."""
    import yaml

    return str(yaml.safe_dump(kitfile.as_dict(), sort_keys=False, allow_unicode=True))


def kitfile_json(kitfile: Kitfile, layer_digests: dict[int, str]) -> bytes:
    """The ModelKit config: the Kitfile as compact JSON, each entry with its layer's ``digest`` and ``diffId`` (equal:
    layers are uncompressed), keyed by the entry's index in ``Kitfile.entries()``, as ``kit pack`` records them."""
    document = kitfile.as_dict()
    entries = [entry for section in _sections(document) for entry in section]
    for index, entry in enumerate(entries):
        entry["digest"] = entry["diffId"] = layer_digests[index]
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def _sections(document: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """The entry dicts of ``document`` in ``Kitfile.entries()`` order."""
    model = document.get("model")
    if model is not None:
        yield [model]
        yield model.get("parts", [])
    for key in ("code", "datasets", "docs"):
        yield document.get(key, [])


def _without_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_empty(v) for k, v in value.items() if v not in (None, (), [], {})}
    if isinstance(value, list | tuple):
        return [_without_empty(item) for item in value]
    return value


def _validate(document: YamlDocument) -> Kitfile:
    data = document.data
    if not isinstance(data, dict):
        raise KitfileError(f"{document.source}:1: a Kitfile is a mapping (manifestVersion, package, model, datasets, code, docs)")
    from bastion.core.yaml_document import validate

    kitfile = validate(document, Kitfile, data, error=KitfileError)
    model_card = data.get("model", {}).get("parameters") if isinstance(data.get("model"), dict) else None
    if isinstance(model_card, dict) and "modelCard" in model_card:
        validate(
            document,
            ModelCardFacts,
            model_card["modelCard"],
            error=KitfileError,
            adjust_loc=lambda loc: ("model", "parameters", "modelCard", *loc),
        )
    seen: dict[str, str] = {}
    for kind, entry in kitfile.entries():
        if entry.path in seen:
            raise KitfileError(
                f"{document.source}: {kind} path {entry.path!r} is also the {seen[entry.path]} path; give each entry its own path"
            )
        seen[entry.path] = kind
    if not seen:
        raise KitfileError(f"{document.source}: nothing to package; add a model, datasets, code or docs")
    return kitfile
