"""The anonymization policy (``anon.yaml``): what happens to each column, and the k-anonymity target.

```yaml
version: 1
key: default                  # keyring key behind pseudonyms and encryption (`bastion keys init`)
default: keep                 # columns the policy does not name: keep (the default) or drop
quasi_identifiers: [zip, birth_date, sex]   # k-anonymity is measured over these, before and after
k: 5                          # optional target: output is written only if every combination occurs >= k times
columns:
  ssn: drop
  patient_id: {action: pseudonymize, prefix: "pt_", length: 16}   # "pt_3f9c0a...": keyed HMAC-SHA256, hex
  card: {action: mask, keep_last: 4, char: "*"}                    # "************1234"
  age: {action: generalize, width: 10, top: 90}                    # "[30, 40)", "90+"
  income: {action: generalize, edges: [0, 30000, 60000]}           # "<0", "[0, 30000)", "60000+"
  birth_date: {action: generalize, date: year}                     # "1985" (or month: "1985-03")
  zip: {action: generalize, zip: 3}                                # "021**"
  diagnosis: encrypt                                               # AES-256-GCM, base64(nonce || ciphertext || tag)
  notes: {action: redact, entities: [PERSON, PHONE_NUMBER]}        # "<PERSON> called from <PHONE_NUMBER>"
  sex: keep
```

A bare action name (``ssn: drop``) stands for ``{action: drop}``. Every action maps null to null.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, PrivateAttr, model_validator

from bastion.core.yaml_document import YamlDocument, parse_yaml, read_yaml, validate
from bastion.privacy.errors import AnonymizeError


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def describe(self) -> str:
        """The settings in a few words, for the report."""
        return ""


class Drop(_Action):
    """Leave the column out of the output."""

    action: Literal["drop"] = "drop"


class Keep(_Action):
    """Copy the column unchanged."""

    action: Literal["keep"] = "keep"


class Mask(_Action):
    """Replace every character but the last ``keep_last`` with ``char``; values no longer than that are masked whole."""

    action: Literal["mask"] = "mask"
    keep_last: int = Field(default=4, ge=0)
    char: str = Field(default="*", min_length=1, max_length=1)

    def describe(self) -> str:
        return f"all but the last {self.keep_last} characters replaced by {self.char!r}"


class Pseudonymize(_Action):
    """A keyed HMAC-SHA256 of the value's text, in hex: the same value and key give the same token in every file."""

    action: Literal["pseudonymize"] = "pseudonymize"
    prefix: str = ""
    length: int = Field(default=16, ge=8, le=64)
    """Hex digits kept of the 64. 16 (64 bits) keep collisions unlikely up to ~100 million distinct values."""

    def describe(self) -> str:
        return f"HMAC-SHA256 token {self.prefix}<{self.length} hex>"


class Generalize(_Action):
    """Coarser values: numbers to bins (``width`` or ``edges``), dates to ``year`` or ``month``, ZIP codes to a prefix.

    Values that cannot be read as a number or an ISO date become null rather than pass through.
    """

    action: Literal["generalize"] = "generalize"
    width: FiniteFloat | None = Field(default=None, gt=0)
    top: FiniteFloat | None = None
    """With ``width``: values at or above it share one bin, ``"90+"`` (ages over 89 under HIPAA Safe Harbor)."""
    edges: tuple[FiniteFloat, ...] | None = Field(default=None, min_length=1)
    date: Literal["year", "month"] | None = None
    zip: int | None = Field(default=None, ge=1, le=9)
    """Leading characters kept; the rest become ``*``."""

    @model_validator(mode="after")
    def _one_kind(self) -> Generalize:
        chosen = [name for name in ("width", "edges", "date", "zip") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError("give exactly one of width, edges, date (year or month) or zip (digits kept)")
        if self.top is not None and self.width is None:
            raise ValueError("top goes with width")
        if self.edges is not None and any(b <= a for a, b in itertools.pairwise(self.edges)):
            raise ValueError("edges must increase")
        return self

    def describe(self) -> str:
        if self.width is not None:
            top = f", {number_label(self.top)}+ together" if self.top is not None else ""
            return f"bins of width {number_label(self.width)}{top}"
        if self.edges is not None:
            return "bins at " + ", ".join(number_label(edge) for edge in self.edges)
        if self.date is not None:
            return f"date to {self.date}"
        return f"first {self.zip} characters of the ZIP code"


class Encrypt(_Action):
    """AES-256-GCM under a fresh data key wrapped by the key provider (written beside the output)."""

    action: Literal["encrypt"] = "encrypt"

    def describe(self) -> str:
        return "AES-256-GCM, base64(nonce || ciphertext || tag)"


class Redact(_Action):
    """Entities found inside free text replaced by ``<ENTITY>`` tags."""

    action: Literal["redact"] = "redact"
    entities: tuple[str, ...] = ()
    """Entity types to redact, in Presidio's vocabulary; all that are found when empty."""
    min_score: float = Field(default=0.0, ge=0, le=1)
    """Spans found with a lower confidence are left alone."""

    def describe(self) -> str:
        which = ", ".join(self.entities) if self.entities else "all entities"
        return f"{which} replaced by <ENTITY> tags" + (f" (score >= {self.min_score:g})" if self.min_score else "")


Action = Annotated[Drop | Keep | Mask | Pseudonymize | Generalize | Encrypt | Redact, Field(discriminator="action")]
ACTIONS = ("drop", "keep", "mask", "pseudonymize", "generalize", "encrypt", "redact")


class AnonPolicy(BaseModel):
    """What to do with each column of a dataset, and the k-anonymity to reach."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    key: str = Field(default="default", min_length=1)
    """The key provider's key behind pseudonyms and encryption."""
    default: Literal["keep", "drop"] = "keep"
    """What happens to columns ``columns`` does not name; ``drop`` makes the policy an allow-list."""
    quasi_identifiers: tuple[str, ...] = ()
    k: int | None = Field(default=None, ge=2)
    columns: dict[str, Action] = Field(default_factory=dict)

    _document: YamlDocument | None = PrivateAttr(None)

    def action_for(self, column: str) -> Action:
        return self.columns.get(column) or (Drop() if self.default == "drop" else Keep())

    def uses(self, action: str) -> bool:
        return any(spec.action == action for spec in self.columns.values())

    def check_columns(self, available: Sequence[str], dataset: str) -> None:
        """Every column the policy names must be in the dataset; errors point at the policy's line."""
        present = set(available)
        listing = ", ".join(available)
        for name in self.columns:
            if name not in present:
                raise AnonymizeError(self._message(("columns", name), f"no such column in {dataset} (its columns: {listing})"))
        for i, name in enumerate(self.quasi_identifiers):
            if name not in present:
                raise AnonymizeError(
                    self._message(("quasi_identifiers", i), f"no column {name!r} in {dataset} (its columns: {listing})")
                )

    def _message(self, loc: tuple[Any, ...], text: str) -> str:
        if self._document is None:
            return f"policy: {'.'.join(str(part) for part in loc)}: {text}"
        return self._document.message(loc, text)


def load_anon_policy(path: str | Path) -> AnonPolicy:
    """Read and validate an anonymization policy file; errors name the file and line."""
    return _validate(read_yaml(Path(path), what="anonymization policy", error=AnonymizeError))


def parse_anon_policy(text: str, source: str = "<policy>") -> AnonPolicy:
    """Validate anonymization policy YAML; ``source`` names it in errors."""
    return _validate(parse_yaml(text, source, error=AnonymizeError))


def _validate(document: YamlDocument) -> AnonPolicy:
    data = {} if document.data is None else document.data
    if not isinstance(data, dict):
        raise AnonymizeError(f"{document.source}:1: a policy is a mapping of settings (columns, quasi_identifiers, k, key)")
    columns = data.get("columns")
    if isinstance(columns, dict):
        data = {**data, "columns": {name: _spelled_out(document, name, spec) for name, spec in columns.items()}}
    policy = validate(document, AnonPolicy, data, error=AnonymizeError, adjust_loc=_without_action_tag)
    policy._document = document
    return policy


def _spelled_out(document: YamlDocument, column: Any, spec: Any) -> Any:
    """``drop`` as ``{action: drop}``; a mapping without an action is an error here, where its line is known."""
    if isinstance(spec, str):
        spec = {"action": spec}
    if isinstance(spec, dict) and "action" not in spec:
        raise AnonymizeError(document.message(("columns", column), f"give an action: one of {', '.join(ACTIONS)}"))
    if isinstance(spec, dict) and spec["action"] not in ACTIONS:
        raise AnonymizeError(
            document.message(("columns", column, "action"), f"unknown action {spec['action']!r}; use one of {', '.join(ACTIONS)}")
        )
    return spec


def _without_action_tag(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic puts the union's tag in the location (columns.age.generalize.width): not a key of the file.
    if len(loc) > 2 and loc[0] == "columns" and loc[2] in ACTIONS:
        return loc[:2] + loc[3:]
    return loc


def number_label(value: float) -> str:
    """``30`` rather than ``30.0``; ``2.5`` as it is."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
